using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn.Cli;

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
    Seq<LayerActivity> Layers, Option<OperationCounts> Operations, Seq<Compiler.Calibrate.LayerScale> Scales);

public static class Evaluation
{
    /// <summary>Multiply-accumulates a transform performs per step (the dense-equivalent work).</summary>
    public static double Macs(Transform t) => t switch
    {
        DenseT d => (double)d.Kernel.Length * d.Rows,
        ConvT c => c.Spec.Macs,
        PoolT p => Shapes.Product(p.Spec.InputShape),
        _ => t.OutSize,
    };


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
    /// input element); any other connection costs its MACs every step. The ANN does every connection's MACs once.
    /// Constant (bias) inputs are not counted.
    /// </summary>
    public static OperationCounts Operations(Network net, Seq<LayerActivity> layers, int steps, double addPj = 0.9, double macPj = 4.6)
    {
        var events = layers.ToDictionary(l => l.Ensemble, l => l.Spikes);
        var incoming = net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => g.ToList());
        foreach (var node in net.TopologicalOrder().IfNone(net.Nodes))
        {
            if (events.ContainsKey(node.Id) || node is Ensemble or InputNode or ConstNode) continue;
            var ins = incoming.GetValueOrDefault(node.Id) ?? new List<Connection>();
            if (ins.Count > 0 && ins.All(c => events.ContainsKey(c.Pre) && c.Transform is IdentityT or GatherT or PoolT { Spec.Kind: PoolKind.Max }))
                events[node.Id] = ins.Sum(c => events[c.Pre]) * node.Size / Math.Max(1, node.SizeIn);
        }
        double accumulates = 0, analog = 0, ann = 0;
        foreach (var c in net.Connections)
        {
            var pre = net.Node(c.Pre);
            if (pre is ConstNode) continue;
            var macs = Macs(c.Transform);
            ann += macs;
            if (events.TryGetValue(c.Pre, out var count)) accumulates += count * macs / pre.Size;
            else analog += macs * steps;
        }
        return new OperationCounts(accumulates, analog, ann, addPj, macPj);
    }

    public static int Print(bool json, TextWriter stdout, EvaluationResult r)
    {
        if (json)
        {
            var obj = new Dictionary<string, object> { ["steps"] = r.Steps, ["n"] = r.Samples };
            r.Keras.IfSome(k => obj["keras_accuracy"] = Math.Round(k, 6));
            r.Rate.IfSome(k => obj["rate_accuracy"] = Math.Round(k, 6));
            if (!r.Spiking.IsEmpty)
            {
                obj["spiking_accuracy"] = Math.Round(r.Spiking.Last.Accuracy, 6);
                obj["spiking_by_steps"] = r.Spiking.Map(s => new { steps = s.Steps, accuracy = Math.Round(s.Accuracy, 6) }).ToArray();
            }
            if (!r.Layers.IsEmpty)
                obj["layers"] = r.Layers.Map(l => new
                {
                    layer = l.Layer, neurons = l.Neurons, mean_spikes_per_step = l.MeanSpikesPerStep, p99_spikes_per_step = l.P99SpikesPerStep,
                    fraction_silent = l.FractionSilent, fraction_saturated = l.FractionSaturated,
                }).ToArray();
            r.Operations.IfSome(o => obj["operations"] = new
            {
                synaptic_accumulates = o.SynapticAccumulates, analog_macs = o.AnalogMacs, ann_macs = o.AnnMacs,
                snn_energy_uj = o.SnnEnergyPj * 1e-6, ann_energy_uj = o.AnnEnergyPj * 1e-6, energy_source = OperationCounts.Source,
            });
            if (!r.Scales.IsEmpty)
                obj["calibration"] = r.Scales.Map(s => new { layer = s.Layer, activation = s.Activation, scale = s.Scale }).ToArray();
            stdout.WriteLine(JsonSerializer.Serialize(obj));
            return 0;
        }
        var rows = new List<string[]>();
        r.Keras.IfSome(k => rows.Add(new[] { "keras", "-", $"{k:0.0000}" }));
        r.Rate.IfSome(k => rows.Add(new[] { "rate", "1", $"{k:0.0000}" }));
        rows.AddRange(r.Spiking.Map(s => new[] { "spiking", s.Steps.ToString(), $"{s.Accuracy:0.0000}" }));
        stdout.WriteLine(Table.Render(new[] { "mode", "steps", "accuracy" }, rows));
        stdout.WriteLine($"({r.Samples} samples)");
        if (!r.Layers.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine("Firing (spikes per neuron per step, over all samples and steps):");
            stdout.WriteLine(Table.Render(new[] { "layer", "neurons", "mean", "p99", "silent", "saturated" },
                r.Layers.Map(l => new[] { l.Layer, l.Neurons.ToString(), $"{l.MeanSpikesPerStep:0.000}", $"{l.P99SpikesPerStep:0.000}", $"{l.FractionSilent:P1}", $"{l.FractionSaturated:P1}" })));
        }
        r.Operations.IfSome(o =>
        {
            stdout.WriteLine();
            stdout.WriteLine($"Per inference ({r.Steps} steps): {o.SynapticAccumulates:N0} synaptic accumulates (spikes), {o.AnalogMacs:N0} MACs on analog input; the ANN needs {o.AnnMacs:N0} MACs.");
            stdout.WriteLine($"Energy estimate: SNN {o.SnnEnergyPj * 1e-6:0.000} uJ vs ANN {o.AnnEnergyPj * 1e-6:0.000} uJ ({o.AddPj} pJ/add, {o.MacPj} pJ/MAC; {OperationCounts.Source}).");
        });
        if (!r.Scales.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine(Table.Render(new[] { "layer", "calibrated activation", "firing-rate scale" },
                r.Scales.Map(s => new[] { s.Layer, $"{s.Activation:G4}", $"{s.Scale:G4}" })));
        }
        return 0;
    }
}
