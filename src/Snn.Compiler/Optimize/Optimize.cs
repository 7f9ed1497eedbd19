using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Lower;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Optimize;

/// <summary>A named rewrite of the operator program that keeps its meaning.</summary>
public sealed record OptPass(string Name, Func<OpProgram, OpProgram> Run);

public sealed record OptimizeOptions(Seq<OptPass> Passes)
{
    public static OptimizeOptions Default => new(Optimize.DefaultPasses);
    public static OptimizeOptions None => new(Seq<OptPass>());
}

/// <summary>
/// Pass 5: semantics-preserving rewrites of the operator program, run in order, then rescheduled:
/// <list type="number">
/// <item>remove-identity-muls: an ElementwiseInc by a constant of ones becomes an incrementing Copy
/// (the neuron gain when no firing-rate scale is set);</item>
/// <item>fuse-chains: Reset(w) + one op that increments w + Copy(w → y, inc) becomes that op
/// incrementing y directly, so transforms write straight into neuron currents or node sums;</item>
/// <item>drop-dead: removes operators whose results never reach a probe, and unused signals.</item>
/// </list>
/// </summary>
public static class Optimize
{
    public const string Name = "optimize";

    public static readonly Seq<OptPass> DefaultPasses = Seq(
        new OptPass("remove-identity-muls", RemoveIdentityMuls),
        new OptPass("fuse-chains", FuseChains),
        new OptPass("drop-dead", DropDead));

    public static Either<Error, OpProgram> Run(OptimizeOptions options, OpProgram program) =>
        Scheduler.Run(options.Passes.Fold(program, (p, pass) => pass.Run(p)));

    /// <summary>ElementwiseInc(A=ones, X, Y) → Copy(X → Y, inc).</summary>
    public static OpProgram RemoveIdentityMuls(OpProgram p) =>
        p with
        {
            Ops = p.Ops.Map(op => op is ElementwiseInc e && IsOnes(p.Signal(e.A))
                ? (Op)new Copy(e.X, e.Y, None, None, Inc: true)
                : op).ToSeq(),
        };

    static bool IsOnes(Signal s) =>
        s.Kind == SignalKind.Constant && s.Initial.Exists(t => t.Span.IndexOfAnyExcept(1f) < 0);

    /// <summary>
    /// For a signal w written only by Reset(w, 0) and a single increment, and read only by one whole,
    /// incrementing Copy(w → y): the increment writes y instead, and the Reset and Copy go away.
    /// </summary>
    public static OpProgram FuseChains(OpProgram p)
    {
        var ops = p.Ops.ToList();
        var probed = p.Probes.Map(x => x.Signal).ToHashSet();
        bool changed;
        do
        {
            changed = false;
            foreach (var s in p.Signals.Filter(s => s.Kind == SignalKind.Batched && !probed.Contains(s.Id)))
            {
                var writers = ops.Where(o => o.Writes.Contains(s.Id)).ToList();
                var readers = ops.Where(o => o.Reads.Contains(s.Id)).ToList();
                if (writers.Count != 2 || readers.Count != 1) continue;
                var reset = writers.OfType<Reset>().FirstOrDefault(r => r.Value == 0f);
                var inc = writers.FirstOrDefault(o => o != reset && o.Incs == Seq1(s.Id) && o.Sets.IsEmpty && o.Updates.IsEmpty);
                if (reset is null || inc is null || readers[0] is not Copy { Inc: true, SrcIndex.IsNone: true, DstIndex.IsNone: true } copy || copy.Src != s.Id)
                    continue;
                if (p.Signal(copy.Dst).Size != s.Size || inc.Reads.Contains(copy.Dst)) continue;
                var retargeted = Retarget(inc, s.Id, copy.Dst);
                if (retargeted is null) continue;
                ops[ops.IndexOf(inc)] = retargeted;
                ops.Remove(reset);
                ops.Remove(copy);
                changed = true;
            }
        } while (changed);
        return p with { Ops = ops.ToSeq() };
    }

    /// <summary>The same incrementing op writing <paramref name="to"/> instead of <paramref name="from"/>.</summary>
    static Op? Retarget(Op op, int from, int to) => op switch
    {
        DotInc d when d.Y == from => d with { Y = to },
        ConvInc c when c.Y == from => c with { Y = to },
        PoolInc { Spec.Kind: PoolKind.Average } pl when pl.Y == from => pl with { Y = to },
        ElementwiseInc e when e.Y == from => e with { Y = to },
        Copy { Inc: true, DstIndex.IsNone: true } c when c.Dst == from => c with { Dst = to },
        _ => null,
    };

    /// <summary>Keeps only operators that contribute to a probe (and the time update), then renumbers signals.</summary>
    public static OpProgram DropDead(OpProgram p)
    {
        var live = p.Probes.Map(x => x.Signal).ToHashSet();
        var keep = new System.Collections.Generic.HashSet<Op>(ReferenceEqualityComparer.Instance);
        bool changed;
        do
        {
            changed = false;
            foreach (var op in p.Ops)
            {
                if (keep.Contains(op)) continue;
                if (op is TimeUpdate || op.Writes.Exists(live.Contains))
                {
                    keep.Add(op);
                    foreach (var s in op.Reads.Concat(op.Writes)) live.Add(s);
                    changed = true;
                }
            }
        } while (changed);
        var kept = p.Ops.Filter(keep.Contains).ToSeq();
        var used = kept.Bind(o => o.Reads.Concat(o.Writes)).Concat(p.Probes.Map(x => x.Signal)).ToHashSet();
        var map = new Dictionary<int, int>();
        var signals = new List<Signal>();
        foreach (var s in p.Signals.Filter(s => used.Contains(s.Id)))
        {
            map[s.Id] = signals.Count;
            signals.Add(s with { Id = signals.Count });
        }
        return p with
        {
            Signals = signals.ToSeq(),
            Ops = kept.Map(o => Renumber(o, x => map[x])).ToSeq(),
            Probes = p.Probes.Map(x => x with { Signal = map[x.Signal] }).ToSeq(),
        };
    }

    static Op Renumber(Op op, Func<int, int> f) => op switch
    {
        TimeUpdate t => new TimeUpdate(f(t.Step), f(t.Time)),
        InputFeed i => i with { Dst = f(i.Dst) },
        Reset r => r with { Dst = f(r.Dst) },
        Copy c => c with { Src = f(c.Src), Dst = f(c.Dst) },
        ElementwiseInc e => new ElementwiseInc(f(e.A), f(e.X), f(e.Y)),
        DotInc d => d with { W = f(d.W), X = f(d.X), Y = f(d.Y) },
        ConvInc c => c with { W = f(c.W), X = f(c.X), Y = f(c.Y) },
        PoolInc pl => pl with { X = f(pl.X), Y = f(pl.Y) },
        SimNeurons sn => sn with { J = f(sn.J), Output = f(sn.Output), State = sn.State.Map(f).ToSeq() },
        LowpassOp l => l with { In = f(l.In), Out = f(l.Out) },
        MaxPoolOp m => m with { X = f(m.X), Y = f(m.Y), Counts = f(m.Counts), Max = f(m.Max) },
        FunctionOp fn => fn with { X = f(fn.X), Y = f(fn.Y) },
        FilterOp fl => fl with { X = f(fl.X), Y = f(fl.Y), D = f(fl.D) },
        _ => throw new InvalidOperationException($"unknown operator {op.GetType().Name}"),
    };
}
