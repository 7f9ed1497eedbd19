using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Saved;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>One layer of a conversion: how it was converted, its output shape, its neurons and their firing-rate scale (gain).</summary>
public sealed record LayerRow(string Layer, string ClassName, string Conversion, Arr<int> Shape, int Neurons, float? Scale, string Note);

/// <summary>What a conversion made of a model: every layer, the calibration, the network's size and its warnings.</summary>
public sealed record Inspection(Seq<LayerRow> Layers, Seq<Compiler.Calibrate.LayerScale> Calibration, int Connections, int LoweredOps, int Ops, Seq<string> Warnings)
{
    public int Neurons => Layers.Sum(r => r.Neurons);
    public int FallbackLayers => Layers.Count(r => r.Conversion == "fallback");

    /// <summary>The conversion of every layer of <paramref name="net"/>.</summary>
    public static Inspection Of(Converted net)
    {
        var neurons = net.Network.Nodes.OfType<Ensemble>().GroupBy(e => e.Layer).ToDictionary(g => g.Key, g => g.Sum(e => e.Size));
        var scales = net.Network.Nodes.OfType<Ensemble>().GroupBy(e => e.Layer).ToDictionary(g => g.Key, g => g.First().Gain);
        var rows = net.Network.Layers.Map(l => new LayerRow(l.Layer, l.ClassName, l.Conversion.ToString().ToLowerInvariant(),
            l.OutputShape, neurons.GetValueOrDefault(l.Layer), scales.TryGetValue(l.Layer, out var g) ? g : (float?)null, l.Note)).Strict();
        return new Inspection(rows, net.Scales, net.Network.Connections.Count, net.Lowered.Ops.Count, net.Program.Ops.Count, net.Network.Warnings);
    }

    /// <summary>The options that shape a conversion, in words (for saved networks and reports).</summary>
    public static string Settings(ConvertOptions c, Option<SavedCalibration> calibration)
    {
        var parts = new List<string>
        {
            "max-pool " + c.MaxPool.ToString().ToLowerInvariant(),
            "neuron " + (!c.IntegrateAndFire ? "nengo" : c.NegativeSpikes ? "signed" : "if"),
            calibration.IsSome ? (calibration.Exists(cal => cal.Options.PerChannel) ? "scale per channel from calibration" : "scale per layer from calibration")
                : "scale " + c.ScaleFiringRates.Match(s => F(s), () => "1") + (c.LayerScales.IsEmpty ? "" : " (per-layer overrides)"),
            "synapse " + c.Synapse.Match(s => F(s.Tau) + " s", () => "none"),
            "initial voltage " + c.InitialVoltage.ToString().ToLowerInvariant(),
        };
        if (c.ResetToZero) parts.Add("reset to zero");
        if (!c.Swap.IsEmpty) parts.Add("swap " + string.Join(", ", c.Swap.Map(kv => $"{kv.Key}={kv.Value}")));
        calibration.IfSome(cal => parts.Add(
            $"calibrated on {cal.Data} (p{F(cal.Options.Percentile)}, {Resolutions(cal)}{(cal.Options.BiasShiftSteps > 0 ? $", bias shift for {cal.Options.BiasShiftSteps} steps" : "")}" +
            $"{(cal.Options.BiasCorrectionSteps > 0 ? $", bias correction for {cal.Options.BiasCorrectionSteps} steps" : "")})"));
        return string.Join(" · ", parts);
    }

    static string F(double v) => v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The spikes per step at the calibrated activation: one number, or each layer's, and the targets that chose them.</summary>
    static string Resolutions(SavedCalibration cal)
    {
        var byLayer = cal.Scales.GroupBy(l => l.Layer).Select(g => (Layer: g.Key, g.First().Resolution)).ToList();
        var one = byLayer.Select(l => l.Resolution).Distinct().ToList() is { Count: 1 } single ? single[0] : byLayer.Count == 0 ? cal.Options.Resolution : (float?)null;
        var text = one is { } k
            ? $"{F(k)} spike{(k == 1f ? "" : "s")} per step at it"
            : "spikes per step at it by layer: " + string.Join(", ", byLayer.Select(l => $"{l.Layer} {F(l.Resolution)}"));
        return cal.Options.Targets.IsEmpty ? text : $"{text}, chosen for agreement {string.Join(" and ", cal.Options.Targets)} on the calibration data";
    }
}

/// <summary>The Keras model's outputs against the rate-mode network's: the largest difference, and whether every output is within tolerance.</summary>
public sealed record Verified(double MaxDiff, bool Matches, Seq<string> Warnings);

public static class Verification
{
    /// <summary>
    /// Runs the Keras reference evaluator and the rate-mode network (one step) on <paramref name="inputs"/> and compares
    /// them: |keras − rate| ≤ atol + rtol·|rate| everywhere (equal infinities agree, as numpy.isclose reads them). The network is compiled first, so that a model whose shapes
    /// go past the memory budget is refused before either runs.
    /// </summary>
    public static Either<Error, Verified> Run(RunRequest request, Loaded model, Seq<Tensor> inputs, float atol, float rtol,
        Action<string>? log = null, Func<string, Action<int, int>?>? progress = null) =>
        from run in Runs.Prepare(request, model, Mode.Rate, 1, log, progress)
        from keras in model.Reference(inputs)
        from rate in Interpreter.Run(run.Net.Program, run.Net.Functions, inputs, run.Sim).ToEither()
        select Compare(keras, rate, atol, rtol) with { Warnings = run.Net.Network.Warnings };

    public static Verified Compare(Seq<Tensor> keras, Seq<Tensor> rate, float atol, float rtol)
    {
        var maxDiff = 0.0;
        var ok = true;
        for (var o = 0; o < keras.Count; o++)
            for (var i = 0; i < keras[o].Length; i++)
            {
                var k = keras[o][i];
                var n = rate[o][i];
                // numpy.isclose's reading: equal infinities agree (inf − inf would be NaN), an infinity against
                // anything else does not (atol + rtol·|inf| would excuse it), NaN never does.
                var d = k == n ? 0.0 : Math.Abs((double)k - n);
                maxDiff = Math.Max(maxDiff, d);
                if (!(k == n || (float.IsFinite(k) && float.IsFinite(n) && d <= atol + rtol * Math.Abs(n)))) ok = false;
            }
        return new Verified(maxDiff, ok, Seq<string>());
    }
}

/// <summary>What <c>snn demo</c> measures on the bundled model: the ANN, the rate-mode network and NengoDL-style spiking settings.</summary>
public sealed record DemoResult(int Samples, Converted Rate, double Keras, double RateAccuracy, int[] Checkpoints,
    Seq<(float Scale, float Synapse, double[] Accuracy)> Spiking);

public static class Demo
{
    /// <summary>
    /// The demo's uncalibrated NengoDL default (firing-rate scale 1) is at chance by design; this says what calibration gives
    /// and how to ask for it.
    /// </summary>
    public static Option<string> ChanceHint(DemoResult r) =>
        r.Spiking.HeadOrNone().Bind(first =>
            from classes in Metrics.Classes(r.Rate.Network)
            from hint in Evaluation.ChanceHint(first.Accuracy.Max(), classes, calibrated: false, Some(r.Keras), "accuracy at scale " + first.Scale.ToString("0"),
                "Calibration sets every layer's rate from its activations on sample inputs (README, \"Spiking accuracy at low latency\"): " +
                "snn evaluate MODEL --data X.npy --labels Y.npy --calibrate CALIB.npy --input-scale 1/255 (CALIB.npy: samples like X.npy, e.g. part of the training set).")
            select hint);

    /// <summary>
    /// The bundled CNN on its 1000 test images: the Keras reference evaluator, the rate-mode network (one step), and spiking
    /// networks (ReLU → SpikingRectifiedLinear, mean readout) at scales 1, 100, 1000 and 1000 with a 5 ms synapse, read
    /// after 8, 16, 32 and 64 steps of one run each.
    /// </summary>
    public static Either<Error, DemoResult> Run(Func<string, Action<int, int>?> progress) =>
        from model in DemoAssets.Model()
        from data in DemoAssets.Data()
        from result in Run(model, data.X, data.Y, progress)
        select result;

    static Either<Error, DemoResult> Run(KerasModel model, Tensor x, int[] y, Func<string, Action<int, int>?> progress)
    {
        var inputs = Seq1(x);
        var checkpoints = new[] { 8, 16, 32, 64 };
        var settings = Seq((1f, 0f), (100f, 0f), (1000f, 0f), (1000f, 0.005f));
        Either<Error, double[]> Spiking(float scale, float synapse)
        {
            var convert = ConvertOptions.Default.AsSpiking() with
            {
                ScaleFiringRates = Some(scale),
                Synapse = synapse > 0 ? Some(new Lowpass(synapse)) : None,
            };
            return Compile.Run(CompileOptions.Default with { Convert = convert }, model).Bind(c =>
                Interpreter.Run(c.Program, c.Functions, inputs, new SimOptions(Steps: 64, Readout: Readout.Mean), checkpoints, progress($"spiking, scale {scale}, 64 steps"))
                    .ToEither().Map(outs => outs.Select(o => Metrics.Accuracy(o.Head, y)).ToArray()));
        }
        return from compiled in Compile.Run(CompileOptions.Default, model)
               from keras in KerasEval.Run(model, inputs).Map(o => Metrics.Accuracy(o.Head, y))
               from rate in Interpreter.Run(compiled.Program, compiled.Functions, inputs, new SimOptions(Steps: 1)).ToEither().Map(o => Metrics.Accuracy(o.Head, y))
               from spiking in settings.Map(s => Spiking(s.Item1, s.Item2).Map(acc => (s.Item1, s.Item2, acc))).Strict().Sequence()
               select new DemoResult(y.Length, Converted.Of(compiled), keras, rate, checkpoints, spiking.Strict());
    }
}
