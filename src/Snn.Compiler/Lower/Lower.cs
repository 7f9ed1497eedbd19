using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;
using Snn.Ops;

namespace Snn.Compiler.Lower;

/// <summary>Which value of its filter a probe with a synapse records each step.</summary>
public enum ProbeTiming
{
    /// <summary>
    /// Nengo's: the probe copies its filter's value before the filter updates in the step (nengo/builder/probe.py
    /// <c>signal_probe</c>: <c>Copy(filtered → probe.in)</c> reads a signal its <c>SimProcess</c> updates, and reads
    /// come before updates), so step t records the filter of the neuron output up to step t-1.
    /// </summary>
    Nengo,
    /// <summary>The filter's value after this step's update (step t records the filter up to step t): one step ahead of Nengo.</summary>
    AfterUpdate,
}

public sealed record LowerOptions
{
    public static readonly LowerOptions Default = new();

    /// <summary>When a filtered probe is read; <see cref="ProbeTiming.Nengo"/> unless asked otherwise.</summary>
    public ProbeTiming ProbeTiming { get; init; } = ProbeTiming.Nengo;
}

/// <summary>
/// Pass 4: network → signals and operators, the way Nengo's builder does it (nengo-semantics.md §2.3, §3.3):
/// passthrough nodes are Reset each step and summed into; ensembles Copy their bias into J, connections
/// into neurons ElementwiseInc by the gain, SimNeurons maps J to output; a transform is Reset + DotInc /
/// ConvInc / PoolInc / ElementwiseInc / indexed Copy into a new signal; a synapse is a Lowpass in update
/// mode (one step of delay); probes read a signal, through their own Lowpass when they have a synapse (the
/// filter's value before its update, copied into the probe's signal as Nengo does, unless
/// <see cref="LowerOptions.ProbeTiming"/> asks for the value after it).
/// The result is scheduled by <see cref="Scheduler"/>.
/// </summary>
public static class Lower
{
    public const string Name = "lower";

    sealed class Builder
    {
        public readonly List<Signal> Signals = new();
        public readonly List<Op> Ops = new();

        public int Batched(string name, int size, Option<Tensor> initial = default)
        {
            Signals.Add(new Signal(Signals.Count, name, size, SignalKind.Batched, initial));
            return Signals.Count - 1;
        }

        public int Constant(string name, Tensor value)
        {
            Signals.Add(new Signal(Signals.Count, name, value.Length, SignalKind.Constant, Some(value)));
            return Signals.Count - 1;
        }

        public int Global(string name)
        {
            Signals.Add(new Signal(Signals.Count, name, 1, SignalKind.Global, None));
            return Signals.Count - 1;
        }
    }

    public static Either<Error, OpProgram> Run(LowerOptions options, Network net)
    {
        var b = new Builder();
        b.Ops.Add(new TimeUpdate(b.Global("step"), b.Global("time")));
        var inputOf = new Dictionary<string, int>();   // node -> signal that connections add into
        var outputOf = new Dictionary<string, int>();  // node -> signal it outputs
        var gains = new Dictionary<string, int>();

        // Objects first, then connections, then probes (Nengo's build order).
        foreach (var node in net.Nodes)
        {
            switch (node)
            {
                case InputNode input:
                {
                    var s = b.Batched(node.Id, node.Size);
                    b.Ops.Add(new InputFeed(s, input.Index));
                    outputOf[node.Id] = s;
                    break;
                }
                case PassNode:
                {
                    var s = b.Batched(node.Id + ".in", node.Size);
                    b.Ops.Add(new Reset(s));
                    inputOf[node.Id] = outputOf[node.Id] = s;
                    break;
                }
                case ConstNode k:
                    outputOf[node.Id] = b.Constant(node.Id, k.Value);
                    break;
                case Ensemble e:
                {
                    var j = b.Batched(e.Id + ".J", e.Size);
                    var bias = b.Constant(e.Id + ".bias", e.Bias);
                    b.Ops.Add(new Copy(bias, j, None, None, Inc: false));
                    var output = b.Batched(e.Id + ".out", e.Size);
                    var state = e.Neuron.State.Map(s => b.Batched(e.Id + "." + s.Name, e.Size, s.StartsAtInitialVoltage ? e.InitialVoltage : None)).Strict();
                    // Per-neuron scale: what leaves the ensemble is its output divided by the neuron's scale, as it is written.
                    b.Ops.Add(new SimNeurons(e.Neuron, j, output, state)
                    {
                        OutputScale = e.OutputScale.Map(unscale => b.Constant(e.Id + ".unscale", unscale)),
                    });
                    inputOf[node.Id] = j;
                    outputOf[node.Id] = output;
                    gains[node.Id] = b.Constant(e.Id + ".gain", e.NeuronGains.IfNone(() => Tensor.Vector(e.Gain)));
                    break;
                }
                case MaxPoolNode m:
                {
                    var input = b.Batched(m.Id + ".in", m.SizeIn);
                    b.Ops.Add(new Reset(input));
                    var output = b.Batched(m.Id + ".out", m.Size);
                    b.Ops.Add(new MaxPoolOp(input, output, m.Spec, m.Method, b.Batched(m.Id + ".counts", m.SizeIn), b.Batched(m.Id + ".max", m.Size)));
                    inputOf[node.Id] = input;
                    outputOf[node.Id] = output;
                    break;
                }
                case FilterNode f:
                {
                    var input = b.Batched(f.Id + ".in", f.Size);
                    b.Ops.Add(new Reset(input));
                    var output = b.Batched(f.Id + ".out", f.Size, Some(f.InitialLevel));
                    var derivative = f.Kind == FilterKind.Alpha ? b.Batched(f.Id + ".derivative", f.Size) : output;
                    b.Ops.Add(new FilterOp(input, output, derivative, f.Kind, FilterCoefficients(f, net.Dt)));
                    inputOf[node.Id] = input;
                    outputOf[node.Id] = output;
                    break;
                }
                case FunctionNode f:
                {
                    var input = b.Batched(f.Id + ".in", f.SizeIn);
                    b.Ops.Add(new Reset(input));
                    var output = b.Batched(f.Id + ".out", f.Size);
                    b.Ops.Add(new FunctionOp(input, output, f.Function));
                    inputOf[node.Id] = input;
                    outputOf[node.Id] = output;
                    break;
                }
                default:
                    return Errors.Invariant(Name, $"unknown network object {node.GetType().Name}");
            }
        }

        var nodes = new Dictionary<string, NetNode>();
        foreach (var node in net.Nodes) nodes.TryAdd(node.Id, node);
        foreach (var c in net.Connections)
        {
            var input = outputOf[c.Pre];
            var weighted = Transform(b, c, input);
            if (c.Synapse.TryGet(out var syn))
            {
                var filtered = b.Batched(c.Id + ".filtered", c.Transform.OutSize);
                var (a, bb) = syn.Discretize(net.Dt);
                b.Ops.Add(new LowpassOp(weighted, filtered, a, bb));
                weighted = filtered;
            }
            var post = nodes[c.Post];
            if (post is Ensemble)
            {
                if (c.PostIndex.IsSome) return Errors.Invariant(Name, $"connection '{c.Id}' scatters into neurons");
                b.Ops.Add(new ElementwiseInc(gains[post.Id], weighted, inputOf[post.Id]));
            }
            else b.Ops.Add(new Copy(weighted, inputOf[post.Id], None, c.PostIndex, Inc: true));
        }

        var probes = new List<ProbeDecl>();
        foreach (var p in net.Probes)
        {
            var signal = outputOf[p.Target];
            if (p.Synapse.TryGet(out var syn))
            {
                var filtered = b.Batched(p.Id + ".filtered", b.Signals[signal].Size);
                var (a, bb) = syn.Discretize(net.Dt);
                b.Ops.Add(new LowpassOp(signal, filtered, a, bb));
                signal = filtered;
                if (options.ProbeTiming == ProbeTiming.Nengo)
                {
                    // Nengo's Copy(filtered → probe.in): it reads the filter before the update of this step.
                    var read = b.Batched(p.Id + ".in", b.Signals[filtered].Size);
                    b.Ops.Add(new Copy(filtered, read, None, None, Inc: false));
                    signal = read;
                }
            }
            probes.Add(new ProbeDecl(p.Id, signal, p.Softmax, p.Shape, p.Output));
        }

        var inputShapes = net.Nodes.OfType<InputNode>().OrderBy(i => i.Index).Select(i => i.Shape).ToSeq();
        var program = new OpProgram(b.Signals.ToSeq(), b.Ops.ToSeq(), probes.ToSeq(), net.Dt, net.InputCount, inputShapes);
        return Scheduler.Run(program);
    }

    /// <summary>The ZOH coefficients of a filter node, one block per coefficient, one value per element (see <see cref="FilterOp"/>).</summary>
    public static Tensor FilterCoefficients(FilterNode f, float dt)
    {
        var k = FilterOp.PerElement(f.Kind);
        var c = new float[k * f.Size];
        for (var i = 0; i < f.Size; i++)
        {
            var tau = f.Tau[f.Tau.Length == 1 ? 0 : i];
            float[] values;
            if (f.Kind == FilterKind.Lowpass)
            {
                var (a, bb) = new Lowpass(tau).Discretize(dt);
                values = new[] { a, bb };
            }
            else
            {
                var (a00, a01, a10, a11, b0, b1) = new Alpha(tau).Discretize(dt);
                values = new[] { a00, a01, a10, a11, b0, b1 };
            }
            for (var j = 0; j < k; j++) c[j * f.Size + i] = values[j];
        }
        return Tensor.Own(new[] { c.Length }, c);
    }

    /// <summary>The signal holding the transformed values (the input itself for an identity).</summary>
    static int Transform(Builder b, Connection c, int input)
    {
        if (c.Transform is Convert.IdentityT) return input;
        var weighted = b.Batched(c.Id + ".weighted", c.Transform.OutSize);
        b.Ops.Add(new Reset(weighted));
        b.Ops.Add(c.Transform.Match<Op>(
            identity: _ => new Copy(input, weighted, None, None, Inc: true),
            scale: s => new ElementwiseInc(b.Constant(c.Id + ".scale", s.Scale), input, weighted),
            dense: d => new DotInc(b.Constant(c.Id + ".W", d.Kernel), input, weighted, d.Rows, d.Kernel.Shape[0], d.Kernel.Shape[1]),
            conv: cv => new ConvInc(b.Constant(c.Id + ".W", cv.Kernel), input, weighted, cv.Spec),
            pool: p => new PoolInc(input, weighted, p.Spec),
            gather: g => new Copy(input, weighted, Some(g.Index), None, Inc: true)));
        return weighted;
    }
}

/// <summary>
/// Orders operators by Nengo's rules (nengo-semantics.md §3.2): for every signal, its setters run
/// before its incrementers, which run before its readers, which run before its updaters. Ties keep
/// build order, so the schedule is deterministic.
/// </summary>
public static class Scheduler
{
    public static Either<Error, OpProgram> Run(OpProgram p)
    {
        var ops = p.Ops.ToArray();
        var n = ops.Length;
        var succ = new List<int>[n];
        var indegree = new int[n];
        for (var i = 0; i < n; i++) succ[i] = new List<int>();
        var bySignal = new Dictionary<int, (List<int> Sets, List<int> Incs, List<int> Reads, List<int> Updates)>();
        (List<int>, List<int>, List<int>, List<int>) Slot(int s) =>
            bySignal.TryGetValue(s, out var v) ? v : bySignal[s] = (new(), new(), new(), new());
        for (var i = 0; i < n; i++)
        {
            foreach (var s in ops[i].Sets) Slot(s).Item1.Add(i);
            foreach (var s in ops[i].Incs) Slot(s).Item2.Add(i);
            foreach (var s in ops[i].Reads) Slot(s).Item3.Add(i);
            foreach (var s in ops[i].Updates) Slot(s).Item4.Add(i);
        }
        void Edge(int a, int c)
        {
            if (a == c) return;
            succ[a].Add(c);
            indegree[c]++;
        }
        foreach (var (sets, incs, reads, updates) in bySignal.Values)
        {
            foreach (var a in sets) { foreach (var c in incs) Edge(a, c); foreach (var c in reads) Edge(a, c); foreach (var c in updates) Edge(a, c); }
            foreach (var a in incs) { foreach (var c in reads) Edge(a, c); foreach (var c in updates) Edge(a, c); }
            foreach (var a in reads) foreach (var c in updates) Edge(a, c);
        }
        var ready = new SortedSet<int>(Enumerable.Range(0, n).Where(i => indegree[i] == 0));
        var order = new List<Op>(n);
        while (ready.Count > 0)
        {
            var i = ready.Min;
            ready.Remove(i);
            order.Add(ops[i]);
            foreach (var c in succ[i])
                if (--indegree[c] == 0) ready.Add(c);
        }
        if (order.Count != n)
            return Errors.Invariant(Lower.Name, "the operator dependency graph has a cycle (an algebraic loop)");
        return p with { Ops = order.ToSeq() };
    }
}
