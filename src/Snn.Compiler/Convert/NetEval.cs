using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Convert;

/// <summary>
/// The meaning of the network IR in rate mode: the steady state, with every neuron replaced by its
/// rate function and synapses at equilibrium (a lowpass passes a constant unchanged). Function nodes run the code
/// <c>functions</c> gives by name; when one fails (or has no code there) the evaluation returns the failure of the first
/// sample that failed.
/// </summary>
public static class NetEval
{
    public static Fin<Seq<Tensor>> Run(NodeFunctions functions, Network net, Seq<Tensor> inputs)
    {
        var batch = inputs.Head.Shape[0];
        var outputs = net.Probes.Map(p => new float[batch * Shapes.Product(p.Shape)]).ToArray();
        return ForEachSample(functions, net, inputs, (b, values) =>
        {
            for (var p = 0; p < outputs.Length; p++)
            {
                var probe = net.Probes[p];
                var v = (float[])values[probe.Target].Clone();
                if (probe.Softmax) Activations.Apply("softmax", v, probe.Shape[probe.Shape.Count - 1]);
                v.CopyTo(outputs[p], b * v.Length);
            }
        }).Map(_ => net.Probes.Zip(outputs).Map(p => Tensor.Own(new[] { batch }.Concat(p.Item1.Shape).ToArray(), p.Item2)).ToSeq().Strict());
    }

    /// <summary>
    /// Every object's steady-state output, passed to <paramref name="visit"/> with the sample index (not for a sample
    /// where a function node failed: the evaluation then returns the failure of the first such sample).
    /// </summary>
    public static Fin<Unit> ForEachSample(NodeFunctions functions, Network net, Seq<Tensor> inputs, Action<int, IReadOnlyDictionary<string, float[]>> visit)
    {
        return Prepare(net).Bind(plan =>
        {
            var failures = new Option<Error>[inputs.Head.Shape[0]];
            Parallel.For(0, failures.Length, b =>
                failures[b] = Sample(functions, net, plan, inputs, b).Match(values => { visit(b, values); return Option<Error>.None; }, e => e));
            return failures.Somes().HeadOrNone().Match(e => Fin<Unit>.Fail(e), () => Fin<Unit>.Succ(unit));
        });
    }

    sealed record EvalPlan(Seq<NetNode> Order, Dictionary<string, List<Connection>> Incoming);

    static Fin<EvalPlan> Prepare(Network net) =>
        net.TopologicalOrder().Match(
            order => Fin<EvalPlan>.Succ(new EvalPlan(order, net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => g.ToList()))),
            () => Fin<EvalPlan>.Fail(Errors.Invariant("network", "the network has a cycle")));

    static Fin<Dictionary<string, float[]>> Sample(NodeFunctions functions, Network net, EvalPlan plan, Seq<Tensor> inputs, int b)
    {
        var values = new Dictionary<string, float[]>();
        foreach (var node in plan.Order)
        {
            Fin<float[]> value = node switch
            {
                InputNode input => inputs[input.Index].Span.Slice(b * node.Size, node.Size).ToArray(),
                _ => Output(functions, node, Input(node, plan.Incoming.GetValueOrDefault(node.Id), values)),
            };
            if (value.Case is not float[] output) return (Error)value.Case!;
            values[node.Id] = output;
        }
        return values;
    }

    /// <summary>
    /// The summed input of <paramref name="node"/>: each incoming connection's transform applied to its source's value in
    /// <paramref name="values"/>, scattered through its post index when it has one.
    /// </summary>
    public static float[] Input(NetNode node, IEnumerable<Connection>? incoming, IReadOnlyDictionary<string, float[]> values)
    {
        var sum = new float[node.SizeIn];
        foreach (var c in incoming ?? Enumerable.Empty<Connection>())
        {
            var t = Apply(c.Transform, values[c.Pre]);
            if (c.PostIndex.TryGet(out var index))
                for (var i = 0; i < t.Length; i++) sum[index[i]] += t[i];
            else
                for (var i = 0; i < t.Length; i++) sum[i] += t[i];
        }
        return sum;
    }

    /// <summary>
    /// A non-input object's steady-state output for the summed input <paramref name="sum"/> (rate semantics): a function
    /// node's is its code in <paramref name="functions"/> applied (or why that failed).
    /// </summary>
    public static Fin<float[]> Output(NodeFunctions functions, NetNode node, float[] sum) => node switch
    {
        ConstNode k => k.Value.ToArray(),
        PassNode or FilterNode => sum,   // a filter's steady state is its input
        Ensemble e => Rate(e, sum),
        MaxPoolNode m => Pool(m.Spec with { Kind = PoolKind.Max }, sum),
        FunctionNode f => Function(functions, f, sum),
        _ => Errors.Invariant("network evaluator", $"no rate meaning for network object {node.GetType().Name} ('{node.Id}')"),
    };

    /// <summary>An ensemble's steady-state output (its neurons' rates) for the summed input <paramref name="sum"/>.</summary>
    public static float[] Rate(Ensemble e, float[] sum) => e.NeuronScale.Match(
        r => sum.Select((x, i) => e.Neuron.RateVersion.Rate(e.Bias[i] + e.Gain * r[i] * x, i) / r[i]).ToArray(),
        () => sum.Select((x, i) => e.Neuron.RateVersion.Rate(e.Bias[i] + e.Gain * x, i)).ToArray());

    static float[] Pool(PoolSpec spec, float[] x)
    {
        var y = new float[Shapes.Product(spec.OutputShape)];
        RefKernels.Pool(spec, x, y);
        return y;
    }

    /// <summary>A function node's output for the summed input <paramref name="x"/>: its code in <paramref name="functions"/> applied.</summary>
    public static Fin<float[]> Function(NodeFunctions functions, FunctionNode f, float[] x) =>
        from fn in functions.Find(f.Function)
        let y = new float[f.Size]
        from _ in fn.Apply(x, y)
        select y;

    /// <summary>Applies a transform to one sample (reference semantics).</summary>
    public static float[] Apply(Transform t, float[] x)
    {
        var y = new float[t.OutSize];
        t.Match(
            identity: _ => { x.CopyTo(y, 0); return unit; },
            scale: s =>
            {
                for (var i = 0; i < y.Length; i++) y[i] = x[i] * s.Scale[s.Scale.Length == 1 ? 0 : i];
                return unit;
            },
            dense: d => { RefKernels.Dense(x, d.Kernel.Span, ReadOnlySpan<float>.Empty, d.Kernel.Shape[0], d.Kernel.Shape[1], y); return unit; },
            conv: c => { RefKernels.Conv(c.Spec, c.Kernel.Span, ReadOnlySpan<float>.Empty, x, y); return unit; },
            pool: p => { RefKernels.Pool(p.Spec, x, y); return unit; },
            gather: g =>
            {
                for (var i = 0; i < y.Length; i++) y[i] = g.Index[i] < 0 ? 0f : x[g.Index[i]];
                return unit;
            });
        return y;
    }
}

/// <summary>Invariants of the network IR.</summary>
public static class NetVerify
{
    public static Either<Error, Network> Run(Network net)
    {
        Error Bad(string m) => Errors.Invariant("network", m);
        var nodes = new Dictionary<string, NetNode>();
        foreach (var n in net.Nodes)
        {
            if (!nodes.TryAdd(n.Id, n)) return Bad($"object '{n.Id}' is defined twice");
            if (n is Ensemble e && (e.Bias.Length != e.Size || e.InitialVoltage.Exists(v => v.Length != e.Size) || e.Neuron.Spiking != e.InitialVoltage.IsSome))
                return Bad($"ensemble '{e.Id}' has inconsistent bias or initial voltage");
            if (n is Ensemble { NeuronScale.IsSome: true } scaled && scaled.NeuronScale.Exists(r => r.Length != scaled.Size || r.Span.ToArray().Any(v => !(v > 0) || float.IsInfinity(v))))
                return Bad($"ensemble '{scaled.Id}' has a per-neuron scale that is not one positive value per neuron");
            if (n is FilterNode f && ((f.Tau.Length != 1 && f.Tau.Length != f.Size) || f.InitialLevel.Length != f.Size || f.Tau.Span.ToArray().Any(t => !(t > 0))))
                return Bad($"filter '{f.Id}' has inconsistent time constants or initial level");
        }
        if (net.TopologicalOrder().IsNone) return Bad("the network has a cycle or a connection to an unknown object (it must be feed-forward)");
        foreach (var c in net.Connections)
        {
            if (!nodes.TryGetValue(c.Pre, out var pre) || !nodes.TryGetValue(c.Post, out var post)) return Bad($"connection '{c.Id}' joins unknown objects");
            if (c.Transform.InSize != pre.Size) return Bad($"connection '{c.Id}' expects {c.Transform.InSize} inputs, '{pre.Id}' gives {pre.Size}");
            var outSize = c.Transform.OutSize;
            if (c.PostIndex.TryGet(out var idx))
            {
                if (idx.Count != outSize || idx.Exists(i => i < 0 || i >= post.SizeIn)) return Bad($"connection '{c.Id}' scatters outside '{post.Id}'");
            }
            else if (outSize != post.SizeIn) return Bad($"connection '{c.Id}' gives {outSize} values, '{post.Id}' takes {post.SizeIn}");
            if (post is InputNode or ConstNode) return Bad($"connection '{c.Id}' feeds an input or constant node");
        }
        foreach (var p in net.Probes)
            if (!nodes.TryGetValue(p.Target, out var t) || t.Size != Shapes.Product(p.Shape)) return Bad($"probe '{p.Id}' does not fit its target");
        return net;
    }
}
