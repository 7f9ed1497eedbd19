using FsCheck.Xunit;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Snn.Runtime;
using Xunit.Abstractions;
using Xunit.Sdk;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;

namespace Snn.Properties.Stages;

/// <summary>
/// Synapse timing and coefficients (nengo-semantics.md §2.4, §3.2), which the steady-state evaluators cannot see:
/// in rate mode with a Lowpass(tau) synapse on every connection and probe leaving neurons, the interpreter's
/// transient must match a direct step-by-step simulation of the network IR written here from the semantics doc:
/// a filtered connection delivers at step t the filter state of step t−1 (update mode: the filter is
/// advanced after every read in the step), the state advances as X ← a·X + b·u with a = exp(−dt/tau), b = 1 − a
/// (ZOH), starting from 0; a filtered probe reads the state before this step's update (nengo/builder/probe.py
/// <c>signal_probe</c>: a Copy reads the filter that its update-mode SimProcess writes after every read). The simulation is in
/// double; transforms use the reference <see cref="NetEval.Apply"/>. Tolerance 1e-4·max(1, max|reference|).
/// It also checks that after many steps the output settles to the reference evaluator's (the synapse passes
/// a constant unchanged).
/// </summary>
[Properties(Arbitrary = new[] { typeof(KerasModels) })]
public sealed class SynapseProperties(ITestOutputHelper output) : PropertyTests(output)
{
    const float Tau = 0.005f;
    static readonly int[] Checkpoints = { 1, 2, 3, 5, 10, 200 };

    [Property(MaxTest = 150)]
    public void Rate_mode_lowpass_transient_matches_step_by_step_network_simulation(GeneratedModel m)
    {
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default with { Synapse = Some(new Lowpass(Tau)) } };
        var c = Compile.Run(options, m.Model, verify: true).Get("compile (rate, lowpass)");
        var x = m.Inputs();
        var sim = Interpreter.Run(c.Program, c.Functions, x, new SimOptions(Steps: Checkpoints.Max()), Checkpoints).Ok();
        var reference = Simulate(c.Network, x, Checkpoints);
        for (var k = 0; k < Checkpoints.Length; k++)
            Close.Assert(reference[k], sim[k], $"network simulation vs Interpreter after {Checkpoints[k]} steps");
        Close.Assert(KerasEval.Run(m.Model, x).Get("KerasEval"), sim[^1], $"KerasEval vs Interpreter after {Checkpoints[^1]} steps (settled)");
    }

    /// <summary>Rate-mode step-by-step simulation of the network IR in double; outputs at each checkpoint.</summary>
    static Seq<Tensor>[] Simulate(Network net, Seq<Tensor> inputs, int[] checkpoints)
    {
        var batch = inputs.Head.Shape[0];
        var dt = (double)net.Dt;
        var outputs = checkpoints.Select(_ => net.Probes.Map(p => new float[batch * Shapes.Product(p.Shape)]).ToArray()).ToArray();
        var incoming = net.Connections.GroupBy(cn => cn.Post).ToDictionary(g => g.Key, g => g.ToList());
        for (var b = 0; b < batch; b++)
        {
            var filter = net.Connections.Filter(cn => cn.Synapse.IsSome).ToDictionary(cn => cn.Id, cn => new double[cn.Transform.OutSize]);
            var probeFilter = net.Probes.Filter(p => p.Synapse.IsSome).ToDictionary(p => p.Id, p => new double[Shapes.Product(p.Shape)]);
            for (var t = 1; t <= checkpoints.Max(); t++)
            {
                var values = new Dictionary<string, double[]>();
                var pending = new Dictionary<string, double[]>();
                foreach (var node in net.Nodes)
                {
                    var sum = new double[node.Size];
                    foreach (var cn in incoming.GetValueOrDefault(node.Id) ?? new())
                    {
                        var weighted = NetEval.Apply(cn.Transform, values[cn.Pre].Select(v => (float)v).ToArray()).Select(v => (double)v).ToArray();
                        double[] delivered;
                        if (cn.Synapse.IsSome)
                        {
                            delivered = (double[])filter[cn.Id].Clone();   // last step's state
                            pending[cn.Id] = weighted;
                        }
                        else delivered = weighted;
                        for (var i = 0; i < delivered.Length; i++)
                            sum[cn.PostIndex.Map(ix => ix[i]).IfNone(i)] += delivered[i];
                    }
                    values[node.Id] = node switch
                    {
                        InputNode input => Enumerable.Range(0, node.Size).Select(i => (double)inputs[input.Index][b * node.Size + i]).ToArray(),
                        ConstNode k => k.Value.ToArray().Select(v => (double)v).ToArray(),
                        PassNode => sum,
                        Ensemble e when !e.Neuron.Spiking => sum.Select((s, i) => (double)e.Neuron.Rate((float)(e.Bias[i] + e.Gain * s))).ToArray(),
                        _ => throw new XunitException($"unexpected node {node}"),
                    };
                }
                // Update mode: every filter advances after all reads of this step.
                foreach (var cn in net.Connections.Filter(cn => cn.Synapse.IsSome))
                    Advance(filter[cn.Id], pending[cn.Id], cn.Synapse.IfNone(() => throw new InvalidOperationException()).Tau, dt);
                for (var p = 0; p < net.Probes.Count; p++)
                {
                    var probe = net.Probes[p];
                    var v = values[probe.Target];
                    if (probe.Synapse.TryGet(out var syn))
                    {
                        // Nengo's Copy(filtered → probe.in) reads the filter before its update in this step.
                        var before = (double[])probeFilter[probe.Id].Clone();
                        Advance(probeFilter[probe.Id], v, syn.Tau, dt);
                        v = before;
                    }
                    var k = System.Array.IndexOf(checkpoints, t);
                    if (k < 0) continue;
                    var f = v.Select(d => (float)d).ToArray();
                    if (probe.Softmax) Softmax(f, probe.Shape[probe.Shape.Count - 1]);
                    f.CopyTo(outputs[k][p], b * f.Length);
                }
            }
        }
        return outputs.Select(o => net.Probes.Zip(o).Map(p => Tensor.Own(new[] { batch }.Concat(p.Item1.Shape).ToArray(), p.Item2)).ToSeq()).ToArray();
    }

    static void Advance(double[] state, double[] input, double tau, double dt)
    {
        var a = Math.Exp(-dt / tau);
        for (var i = 0; i < state.Length; i++) state[i] = a * state[i] + (1 - a) * input[i];
    }

    static void Softmax(float[] x, int last)
    {
        for (var r = 0; r < x.Length / last; r++)
        {
            var row = x.AsSpan(r * last, last);
            var max = double.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v);
            var sum = 0.0;
            for (var i = 0; i < last; i++) sum += Math.Exp(row[i] - max);
            for (var i = 0; i < last; i++) row[i] = (float)(Math.Exp(row[i] - max) / sum);
        }
    }
}
