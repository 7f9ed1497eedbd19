using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using MathNet.Numerics.Statistics;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Runtime;
using static LanguageExt.Prelude;

using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn;

/// <summary>Firing statistics of one layer's spiking neurons, over all samples and steps.</summary>
public sealed record LayerActivity(string Layer, string Ensemble, int Neurons, double MeanSpikesPerStep, double P99SpikesPerStep,
    double FractionSilent, double FractionSaturated, double Spikes)
{
    /// <summary>Each neuron's spikes per step (for histograms), ascending.</summary>
    public double[] Rates { get; init; } = System.Array.Empty<double>();
}

/// <summary>Operations per inference and the energy they cost under a pJ-per-op table.</summary>
public sealed record OperationCounts(double SynapticAccumulates, double AnalogMacs, double AnnMacs, double AddPj, double MacPj)
{
    public double SnnEnergyPj => SynapticAccumulates * AddPj + AnalogMacs * MacPj;
    public double AnnEnergyPj => AnnMacs * MacPj;
    public const string Source = "Horowitz, \"Computing's energy problem\", ISSCC 2014: 45 nm, 0.9 pJ per 32-bit float add, 3.7 pJ per multiply (4.6 pJ per multiply-accumulate)";
}

/// <summary>Everything one <c>snn evaluate</c> run measures.</summary>
public sealed record EvaluationResult(
    int Samples, int Steps, Option<double> Keras, Option<double> Rate, Seq<(int Steps, double Accuracy)> Spiking,
    Seq<LayerActivity> Layers, Option<OperationCounts> Operations, Seq<LayerScale> Scales)
{
    /// <summary>False when no labels were given: the ANN's top-1 classes stand in for them (accuracy is then agreement).</summary>
    public bool Labelled { get; init; } = true;

    /// <summary>The rate-mode network against the ANN: top-1 agreement and relative error of the outputs.</summary>
    public Option<(double Agreement, double Error)> RateAgreement { get; init; }

    /// <summary>The spiking network against the ANN at every checkpoint.</summary>
    public Seq<(int Steps, double Agreement, double Error)> SpikingAgreement { get; init; }

    /// <summary>Each spiking layer's error against the ANN after <see cref="Steps"/> steps (--per-layer-error).</summary>
    public Seq<LayerError> LayerErrors { get; init; }

    /// <summary>The classes the model's first output distinguishes per sample (0 when no output was measured).</summary>
    public int Classes { get; init; }
}

/// <summary>What a spiking run measures beyond accuracy: firing statistics per layer and operation counts with their energy.</summary>
public static partial class Evaluation
{
    public static Seq<LayerActivity> Layers(Network net, Activity activity) =>
        Layers(net.Nodes.OfType<Ensemble>().Select(e => (e.Layer, e.Id)), activity.Spikes, activity.Samples, activity.Steps);

    /// <summary>
    /// Firing statistics of the ensembles (layer and id, in network order) from each neuron's spikes summed over
    /// <paramref name="samples"/> samples of <paramref name="steps"/> steps; ensembles without counts are left out.
    /// </summary>
    public static Seq<LayerActivity> Layers(IEnumerable<(string Layer, string Id)> ensembles, IReadOnlyDictionary<string, double[]> spikesOf, long samples, int steps)
    {
        var result = new List<LayerActivity>();
        foreach (var (layer, id) in ensembles)
        {
            if (!spikesOf.TryGetValue(id, out var spikes)) continue;
            var perStep = spikes.Select(s => s / Math.Max(1, samples) / Math.Max(1, steps)).OrderBy(x => x).ToArray();
            // The 99th percentile as numpy's np.percentile(rates, 99) (linear, R7), the definition calibration uses too.
            result.Add(new LayerActivity(layer, id, spikes.Length, perStep.Average(), SortedArrayStatistics.QuantileCustom(perStep, 0.99, QuantileDefinition.R7),
                perStep.Count(x => x == 0) / (double)perStep.Length, perStep.Count(x => x >= 1) / (double)perStep.Length,
                spikes.Sum() / Math.Max(1, samples)) { Rates = perStep });
        }
        return result.ToSeq();
    }

    /// <summary>
    /// Per inference (all steps). An object carries events if it is a spiking ensemble, or a node fed only by
    /// event carriers through index maps or max pooling (its event count is its inputs' count, scaled by size).
    /// A connection from an event carrier costs one accumulate per event per target it reaches (its MACs per
    /// input element); any other connection costs its MACs every step, except one whose source depends on nothing but
    /// the inputs and constants when the input is a constant current (<paramref name="constantInput"/>): its value is
    /// the same every step, so it is computed once (as the simulator does). The ANN does every connection's MACs once.
    /// Constant (bias) inputs are not counted.
    /// </summary>
    public static OperationCounts Operations(Network net, Seq<LayerActivity> layers, int steps, bool constantInput = true, double addPj = 0.9, double macPj = 4.6)
    {
        var events = layers.ToDictionary(l => l.Ensemble, l => l.Spikes);
        var incoming = net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => g.ToList());
        var fixedValue = new System.Collections.Generic.HashSet<string>();
        foreach (var node in net.TopologicalOrder().IfNone(net.Nodes))
        {
            var ins = incoming.GetValueOrDefault(node.Id) ?? new List<Connection>();
            if (node is ConstNode || (node is InputNode && constantInput) ||
                (node is PassNode && ins.Count > 0 && ins.All(c => fixedValue.Contains(c.Pre))))
                fixedValue.Add(node.Id);
            if (events.ContainsKey(node.Id) || node is Ensemble or InputNode or ConstNode) continue;
            if (ins.Count > 0 && ins.All(c => events.ContainsKey(c.Pre) && c.Transform is IdentityT or GatherT or PoolT { Spec.Kind: PoolKind.Max }))
                events[node.Id] = ins.Sum(c => events[c.Pre]) * node.Size / Math.Max(1, node.SizeIn);
        }
        double accumulates = 0, analog = 0, ann = 0;
        foreach (var c in net.Connections)
        {
            var pre = net.Node(c.Pre);
            if (pre is ConstNode) continue;
            var macs = Transform.Macs(c.Transform);
            ann += macs;
            if (events.TryGetValue(c.Pre, out var count)) accumulates += count * macs / pre.Size;
            else analog += fixedValue.Contains(c.Pre) ? macs : macs * steps;
        }
        return new OperationCounts(accumulates, analog, ann, addPj, macPj);
    }
}

/// <summary>What <see cref="Evaluation.Run"/> measures: the modes, the steps and the checkpoints read from the spiking run,
/// whether to compare with the ANN even with labels (<see cref="Agreement"/>), and the per-layer error.</summary>
public sealed record EvaluationOptions(Seq<Mode> Modes, int Steps, int[] Checkpoints, bool Agreement = false, bool PerLayerError = false);

public static partial class Evaluation
{
    /// <summary>
    /// Accuracy per mode; for spiking, accuracy at every checkpoint from one run, firing statistics and op counts.
    /// Without labels, or with <see cref="EvaluationOptions.Agreement"/>, the rate and spiking outputs are also compared
    /// with the ANN's (the Keras reference evaluator's): top-1 agreement and the relative error of the outputs; without
    /// labels the ANN's top-1 classes stand in for them. <see cref="EvaluationOptions.PerLayerError"/> adds each spiking
    /// layer's error against the ANN (<see cref="Fidelity.PerLayer"/>). <paramref name="network"/> gives the network
    /// and simulation options (steps included) for the rate and spiking modes; <paramref name="progress"/> a progress callback per run.
    /// </summary>
    /// <summary>
    /// One mode's outputs on <paramref name="inputs"/>: the Keras reference evaluator's, or the network
    /// <paramref name="network"/> gives for the mode, simulated with its options.
    /// </summary>
    public static Either<Error, Seq<Tensor>> Simulate(Mode mode, Loaded model, Seq<Tensor> inputs,
        Func<Mode, Either<Error, (SimOptions Sim, Converted Net)>> network, Func<string, Action<int, int>?> progress) =>
        mode == Mode.Keras
            ? model.Reference(inputs)
            : network(mode).Bind(r => Interpreter.Run(r.Net.Program, r.Net.Functions, inputs, r.Sim, progress($"{mode.ToString().ToLowerInvariant()} {r.Sim.Steps} steps")).ToEither());

    public static Either<Error, EvaluationResult> Run(EvaluationOptions o, Loaded model, Seq<Tensor> inputs, Option<int[]> labelled,
        Func<Mode, Either<Error, (SimOptions Sim, Converted Net)>> network, CompileOptions options, Func<string, Action<int, int>?> progress)
    {
        Either<Error, Seq<Tensor>> Simulate(Mode mode) => Evaluation.Simulate(mode, model, inputs, network, progress);

        if (labelled.Case is int[] given && Metrics.LabelsFit(model, inputs, given).Case is Error misfit) return misfit;

        var reference = Seq<Tensor>();
        if (labelled.IsNone || o.Agreement)
        {
            var ann = Simulate(Mode.Keras);
            if (ann.Case is not Seq<Tensor> annOut) return (Error)ann.Case!;
            reference = annOut;
        }
        var labels = labelled.IfNone(() => Metrics.Argmax(reference.Head));
        var truth = reference.HeadOrNone();
        Option<double> keras = None, rate = None;
        Option<(double, double)> rateAgreement = None;
        var spiking = Seq<(int, double)>();
        var spikingAgreement = Seq<(int, double, double)>();
        var layers = Seq<LayerActivity>();
        var layerErrors = Seq<LayerError>();
        Option<OperationCounts> ops = None;
        var scales = Seq<LayerScale>();
        var classes = truth.Match(t => t.Length / Math.Max(1, labels.Length), () => 0);
        foreach (var mode in o.Modes)
        {
            if (mode == Mode.Keras && labelled.IsNone) continue;   // the ANN is the reference itself
            if (mode == Mode.Spiking)
            {
                var run = network(mode);
                if (run.Case is not ValueTuple<SimOptions, Converted> prepared) return (Error)run.Case!;
                var (sim, net) = prepared;
                var activity = new Activity();
                var simulated = Interpreter.Run(net.Program, net.Functions, inputs, sim, o.Checkpoints, progress($"spiking {o.Steps} steps"), activity);
                if (simulated.Case is not Seq<Tensor>[] outs) return (Error)simulated.Case!;
                spiking = o.Checkpoints.Select((c, k) => (c, Metrics.Accuracy(outs[k].Head, labels))).ToSeq().Strict();
                if (outs.Length > 0) classes = outs[0].Head.Length / Math.Max(1, labels.Length);
                truth.IfSome(r => spikingAgreement = o.Checkpoints.Select((c, k) => (c, Fidelity.Agreement(outs[k].Head, r), Fidelity.RelativeError(outs[k].Head, r))).ToSeq().Strict());
                layers = Layers(net.Network, activity);
                ops = Some(Operations(net.Network, layers, o.Steps, sim.Encoding == Encoding.Constant && !sim.Temporal));
                scales = net.Scales;
                if (o.PerLayerError)
                {
                    var errors = Fidelity.PerLayer(net.Functions, net.Network, inputs, sim, options.Lower, options.Optimize, progress($"per-layer error, {o.Steps} steps"));
                    if (errors.Case is not Seq<LayerError> measured) return (Error)errors.Case!;
                    layerErrors = measured;
                }
            }
            else
            {
                var outs = Simulate(mode);
                if (outs.Case is not Seq<Tensor> result) return (Error)outs.Case!;
                var output = result.Head;
                var accuracy = Metrics.Accuracy(output, labels);
                classes = output.Length / Math.Max(1, labels.Length);
                if (mode == Mode.Keras) keras = accuracy;
                else
                {
                    rate = accuracy;
                    rateAgreement = truth.Map(r => (Fidelity.Agreement(output, r), Fidelity.RelativeError(output, r)));
                }
            }
        }
        return new EvaluationResult(labels.Length, o.Steps, keras, rate, spiking, layers, ops, scales)
        {
            Labelled = labelled.IsSome, RateAgreement = rateAgreement, SpikingAgreement = spikingAgreement, LayerErrors = layerErrors,
            Classes = classes,
        };
    }

    /// <summary>
    /// Spiking accuracy near chance (at most twice 1/<paramref name="classes"/>, and at most a tenth of the way from chance to
    /// 1) with no calibration, while the ANN (or rate network), when measured, is well above it (over halfway from there to 1): the firing rates are the likely cause, and calibration the remedy. Returns
    /// the hint to print, ending with <paramref name="howToCalibrate"/>.
    /// </summary>
    public static Option<string> ChanceHint(double spiking, int classes, bool calibrated, Option<double> ann, string metric, string howToCalibrate)
    {
        if (calibrated || classes < 2) return None;
        var chance = 1.0 / classes;
        var near = Math.Min(2 * chance, chance + 0.1 * (1 - chance));   // 2x chance, but not most of the range with few classes
        if (spiking > near || ann.Exists(a => a <= (near + 1) / 2)) return None;
        return $"spiking {metric} is {spiking:0.0000}, near chance ({chance:0.0000} for {classes} classes), and no calibration was used: " +
               "with uncalibrated firing rates (NengoDL's default scale) most neurons fire too rarely to carry their activations in few steps. " +
               howToCalibrate;
    }

    /// <summary>How to calibrate <paramref name="model"/> on <paramref name="data"/> (the --data files) with the input scale in effect.</summary>
    public static string HowToCalibrate(Loaded model, Seq<string> data, Option<float> inputScale)
    {
        var scale = model.InputScaleFor(inputScale).IfLeft(inputScale).Match(s => " --input-scale " + DataFiles.ScaleOption(s), () => "");
        var samples = data.HeadOrNone().IfNone("X.npy");
        return model.Saved.Match(
            _ => $"The saved network '{model.Path}' is not calibrated: convert the Keras model again with calibration, e.g. " +
                 $"snn convert {model.SourceName} --calibrate {samples}{scale} --out {System.IO.Path.GetFileName(model.Path)}, and run that.",
            () => $"Calibrate them on sample inputs: add --calibrate {samples}{scale} (samples like the --data; better ones the evaluation does not use, " +
                  "e.g. part of the training set).");
    }

    /// <summary><see cref="ChanceHint(double, int, bool, Option{double}, string, string)"/> for an evaluation of <paramref name="model"/> on <paramref name="data"/> (the --data files).</summary>
    public static Option<string> ChanceHint(EvaluationResult r, Loaded model, Seq<string> data, Option<float> inputScale) =>
        r.Spiking.IsEmpty ? None
            : ChanceHint(r.Spiking.Map(s => s.Accuracy).Max(), r.Classes, !r.Scales.IsEmpty, r.Keras || r.Rate,
                r.Labelled ? "accuracy" : "agreement with the ANN", HowToCalibrate(model, data, inputScale));
}
