using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
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
}

/// <summary>What a spiking run measures beyond accuracy: firing statistics per layer and operation counts with their energy.</summary>
public static class Evaluation
{
    public static Seq<LayerActivity> Layers(Network net, Activity activity)
    {
        var result = new List<LayerActivity>();
        foreach (var e in net.Nodes.OfType<Ensemble>())
        {
            if (!activity.Spikes.TryGetValue(e.Id, out var spikes)) continue;
            var perStep = spikes.Select(s => s / Math.Max(1, activity.Samples) / Math.Max(1, activity.Steps)).OrderBy(x => x).ToArray();
            result.Add(new LayerActivity(e.Layer, e.Id, e.Size, perStep.Average(), perStep[(int)Math.Min(perStep.Length - 1, Math.Floor(0.99 * perStep.Length))],
                perStep.Count(x => x == 0) / (double)perStep.Length, perStep.Count(x => x >= 1) / (double)perStep.Length,
                spikes.Sum() / Math.Max(1, activity.Samples)) { Rates = perStep });
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
