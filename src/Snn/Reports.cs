using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// One curve a report asks for: its label, whether it is the run with the given options (<see cref="Main"/>) or the
/// NengoDL-equivalent <see cref="Baseline"/>, the max-pool method it stands for (when the report compares them), and
/// the request it runs.
/// </summary>
public sealed record ReportVariant(string Label, bool Main, bool Baseline, Option<MaxPoolMethod> MaxPool, RunRequest Request);

/// <summary>One spiking evaluation: accuracy at each checkpoint, firing statistics, op counts and the compilation.</summary>
public sealed record CurveRun((int Steps, double Accuracy)[] Points, Seq<LayerActivity> Layers, OperationCounts Operations, Converted Converted);

/// <summary>A curve of a report: its variant and settings in words, and the run, or why it could not be made.</summary>
public sealed record ReportCurve(ReportVariant Variant, string Settings, Option<CurveRun> Run, Option<string> Failure)
{
    public string Label => Variant.Label;
    public bool Main => Variant.Main;
    public bool Baseline => Variant.Baseline;
}

/// <summary>The steps a report's runs last and the step counts their accuracy is read at.</summary>
public sealed record ReportOptions(int Steps, int[] Checkpoints);

/// <summary>
/// What <c>snn report</c> shows: the spiking evaluation with the given options, once per max-pooling method when a Keras
/// model max-pools, and a NengoDL-equivalent baseline.
/// </summary>
public static class Reports
{
    /// <summary>The max-pooling methods a report compares, in its order.</summary>
    public static readonly System.Collections.Immutable.ImmutableArray<MaxPoolMethod> Methods =
        [MaxPoolMethod.Count, MaxPoolMethod.Gate, MaxPoolMethod.Pre, MaxPoolMethod.Avg];

    /// <summary>The ANN's outputs (the Keras reference evaluator's) for the first model output.</summary>
    public static Either<Error, Tensor> Ann(Loaded model, Seq<Tensor> inputs) =>
        model.Reference(inputs).Map(o => o.Head);

    /// <summary>
    /// The request NengoDL's converter defaults make of <paramref name="request"/>: no calibration, firing-rate scale 1,
    /// no synapse, average pooling for max pooling, Nengo's SpikingRectifiedLinear from Uniform(0, 1) voltages, reset by
    /// subtraction, last-step readout and constant input. What NengoDL has as well (swaps, dt, seed, the legalizer's
    /// options) and the steps, batch and threads stay.
    /// </summary>
    public static RunRequest NengoBaseline(RunRequest request) => request with
    {
        Options = request.Options with
        {
            Convert = Presets.WithNeuron(request.Options.Convert with
            {
                MaxPool = MaxPoolMethod.Avg, ScaleFiringRates = None, LayerScales = Map<string, float>(), Synapse = None,
                InitialVoltage = Presets.DefaultInitialVoltage(calibrated: false), ResetToZero = false,
            }, NeuronChoice.Nengo),
        },
        Calibration = None,
        Sim = request.Sim with { Readout = Some(new ReadoutChoice(Readout.Last)), Encoding = Encoding.Constant },
    };

    /// <summary>
    /// The curves of a report: a saved network's conversion is fixed, so it gets its own curve only; a Keras model gets
    /// the run with the request, as one curve per max-pool method when it max-pools (<paramref name="maxPools"/>; the
    /// request's method is the main one), and the NengoDL baseline (<see cref="NengoBaseline"/>).
    /// </summary>
    public static Seq<ReportVariant> Variants(RunRequest request, Loaded model, bool maxPools)
    {
        if (model.Saved.IsSome) return Seq1(new ReportVariant("saved network", true, false, None, request));
        var main = request.Options.Convert.MaxPool;
        var runs = maxPools
            ? Methods.Select(m => (Method: m, Name: m.ToString().ToLowerInvariant())).Select(m => m.Method == main
                ? new ReportVariant($"max-pool {m.Name} (your options)", true, false, Some(m.Method), request)
                : new ReportVariant($"max-pool {m.Name}", false, false, Some(m.Method),
                    request with { Options = request.Options with { Convert = request.Options.Convert with { MaxPool = m.Method } } })).ToSeq()
            : Seq1(new ReportVariant("spiking (your options)", true, false, None, request));
        return runs.Add(new ReportVariant("NengoDL baseline", false, true, None, NengoBaseline(request))).Strict();
    }

    /// <summary>
    /// Every curve of the report (<see cref="Variants"/>), measured on <paramref name="inputs"/> against
    /// <paramref name="labels"/>. The main run comes first, and its failure fails the report; a further curve's failure (a
    /// method that does not apply, say) goes into the report instead. <paramref name="warn"/> hears the main run's
    /// conversion warnings.
    /// </summary>
    public static Either<Error, Seq<ReportCurve>> Curves(ReportOptions o, RunRequest request, Loaded model, Seq<Tensor> inputs, int[] labels,
        Action<string> warn, Action<string>? log, Func<string, Action<int, int>?> progress) =>
        from _ in Metrics.LabelsFit(model, inputs, labels)
        from run in Measure(o, request, model, inputs, labels, net => Counted(1, Variants(request, model, MaxPools(net)).Count, "spiking"), warn, log, progress)
        let variants = Variants(request, model, MaxPools(run.Converted))
        let others = variants.Filter(v => !v.Main).ToList()
        select variants
            .Map(v => v.Main ? new ReportCurve(v, Settings(v.Request, model, o.Steps), Some(run), None)
                : Other(o, v, model, inputs, labels, log, progress, Counted(others.IndexOf(v) + 2, variants.Count, v.Label)))
            .Strict();

    static bool MaxPools(Converted net) => net.Network.Layers.Exists(l => l.ClassName.Contains("MaxPool", StringComparison.Ordinal));

    /// <summary>"curve k of n (label)": the progress name of the k-th curve measured.</summary>
    static string Counted(int k, int n, string label) => $"curve {k} of {n} ({label})";

    /// <summary>Progress names of a curve's runs (its calibration, its simulation) prefixed with the curve.</summary>
    static Func<string, Action<int, int>?> Numbered(Func<string, Action<int, int>?> progress, string curve) =>
        what => progress(what.StartsWith(curve, StringComparison.Ordinal) ? what : $"{curve}: {what}");

    /// <summary>A further curve; its failure goes into the report instead of failing it.</summary>
    static ReportCurve Other(ReportOptions o, ReportVariant v, Loaded model, Seq<Tensor> inputs, int[] labels, Action<string>? log,
        Func<string, Action<int, int>?> progress, string curve)
    {
        try
        {
            return Measure(o, v.Request, model, inputs, labels, _ => curve, _ => { }, log, Numbered(progress, curve)).Match(
                r => new ReportCurve(v, Settings(v.Request, model, o.Steps), Some(r), None),
                e => new ReportCurve(v, "", None, Some(e.Message)));
        }
        catch (Exception e) when (e is not (OutOfMemoryException or InsufficientExecutionStackException))
        {
            return new ReportCurve(v, "", None, Some($"{e.GetType().Name}: {e.Message}"));
        }
    }

    static Either<Error, CurveRun> Measure(ReportOptions o, RunRequest request, Loaded model, Seq<Tensor> inputs, int[] labels, Func<Converted, string> what,
        Action<string> warn, Action<string>? log, Func<string, Action<int, int>?> progress) =>
        from p in Runs.Prepare(request, model, Mode.Spiking, o.Steps, log, progress)
        let _ = Warned(p.Net.Network.Warnings, warn)
        let activity = new Activity()
        from outs in Interpreter.Run(p.Net.Program, p.Net.Functions, inputs, p.Sim, o.Checkpoints, progress($"{what(p.Net)}, {o.Steps} steps"), activity).ToEither()
        let layers = Evaluation.Layers(p.Net.Network, activity)
        select new CurveRun(o.Checkpoints.Select((c, k) => (c, Metrics.Accuracy(outs[k].Head, labels))).ToArray(), layers,
            Evaluation.Operations(p.Net.Network, layers, o.Steps, p.Sim.Encoding == Encoding.Constant && !p.Sim.Temporal), p.Net);

    /// <summary>
    /// <see cref="Evaluation.ChanceHint(double, int, bool, Option{double}, string, string)"/> for the report's main curve
    /// (<paramref name="ann"/>: the ANN's accuracy; <paramref name="data"/>: the --data files).
    /// </summary>
    public static Option<string> ChanceHint(Seq<ReportCurve> curves, double ann, Loaded model, Seq<string> data, Option<float> inputScale, bool labelled) =>
        curves.Find(c => c.Main).Bind(c => c.Run).Bind(run =>
            from classes in Metrics.Classes(run.Converted.Network)
            from hint in Evaluation.ChanceHint(run.Points.Max(p => p.Accuracy), classes, !run.Converted.Scales.IsEmpty, Some(ann),
                labelled ? "accuracy" : "agreement with the ANN", Evaluation.HowToCalibrate(model, data, inputScale))
            select hint);

    static Unit Warned(Seq<string> warnings, Action<string> warn)
    {
        warnings.Iter(warn);
        return unit;
    }

    /// <summary>The settings that shape a spiking run, in words: the conversion's (the request's or the saved network's), readout and encoding.</summary>
    public static string Settings(RunRequest request, Loaded model, int steps)
    {
        var conversion = Runs.CalibrationOf(request, model, steps, Seq<Compiler.Calibrate.LayerScale>())
            .Map(cal => Inspection.Settings(Runs.OptionsOf(request, model).Convert, cal));
        var parts = conversion.Match(s => new List<string> { s }, _ => new List<string>());
        parts.Add("readout " + request.Sim.Readout.Map(r => r.ToString()).IfNone("mean"));
        parts.Add("encoding " + request.Sim.Encoding.ToString().ToLowerInvariant());
        return string.Join(" · ", parts);
    }
}
