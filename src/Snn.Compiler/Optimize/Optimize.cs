using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Lower;
using static LanguageExt.Prelude;
using Snn.Ops;

namespace Snn.Compiler.Optimize;

/// <summary>A named rewrite of the operator program that keeps its meaning.</summary>
public sealed record OptPass(string Name, Func<OpProgram, OpProgram> Run);

public sealed record OptimizeOptions(Seq<OptPass> Passes)
{
    public static OptimizeOptions Default => new(Optimize.DefaultPasses);
    public static OptimizeOptions None => new(Seq<OptPass>());
}

/// <summary>
/// Pass 5: semantics-preserving rewrites of the operator program, run in order, then rescheduled. Every rewrite
/// keeps the float operations of the program (the same products and sums in the same order), so the optimized
/// program gives bit-identical results, spikes included:
/// <list type="number">
/// <item>remove-identity-muls: an ElementwiseInc by a constant of ones becomes an incrementing Copy
/// (the neuron gain when no firing-rate scale is set);</item>
/// <item>fuse-chains: Reset(w) + one op that increments w + Copy(w → y, inc) becomes that op
/// incrementing y directly, so transforms write straight into neuron currents or node sums;</item>
/// <item>set-single-increments: Reset(y) + the one max pooling or elementwise product that increments y becomes that
/// op setting y (the per-channel unscaling of calibrated ensembles);</item>
/// <item>forward-copies: a signal that is only zeroed and given one whole copy of x is read as x by readers
/// that cannot tell the two apart (dot products, convolutions and count pooling, which see −0 as +0);</item>
/// <item>pool-before-relu: in rate mode, max pooling of a ReLU's output becomes the ReLU of the max-pooled currents
/// (ReLU is monotone, so the max commutes with it exactly) and runs the neurons on the pooled cells only;</item>
/// <item>fuse-bias-gain: Copy(bias → J) + the first input ElementwiseInc(gain, x, J) become one AffineSet;</item>
/// <item>fuse-neuron-input: an AffineSet read only by the ensemble's SimNeurons moves into it (SimNeuronsAffine),
/// so J is never stored;</item>
/// <item>drop-dead: removes operators whose results never reach a probe, and unused signals.</item>
/// </list>
/// </summary>
public static class Optimize
{
    public const string Name = "optimize";

    public static readonly Seq<OptPass> DefaultPasses = Seq(
        new OptPass("remove-identity-muls", RemoveIdentityMuls),
        new OptPass("fuse-chains", FuseChains),
        new OptPass("set-single-increments", SetSingleIncrements),
        new OptPass("forward-copies", ForwardCopies),
        new OptPass("pool-before-relu", PoolBeforeRelu),
        new OptPass("fuse-bias-gain", FuseBiasGain),
        new OptPass("fuse-neuron-input", FuseNeuronInput),
        new OptPass("drop-dead", DropDead));

    public static Either<Error, OpProgram> Run(OptimizeOptions options, OpProgram program) =>
        Scheduler.Run(options.Passes.Fold(program, (p, pass) => pass.Run(p)));

    /// <summary>ElementwiseInc(A=ones, X, Y) → Copy(X → Y, inc).</summary>
    public static OpProgram RemoveIdentityMuls(OpProgram p) =>
        p with
        {
            Ops = p.Ops.Map(op => op is ElementwiseInc { Set: false } e && IsOnes(p.Signal(e.A))
                ? (Op)new Copy(e.X, e.Y, None, None, Inc: true)
                : op).ToSeq(),
        };

    /// <summary>The first of <paramref name="slots"/> that satisfies <paramref name="test"/>, or −1.</summary>
    static int FirstSlot(int[] slots, Func<int, bool> test) => slots.Where(test).DefaultIfEmpty(-1).First();

    static bool IsOnes(Signal s) =>
        s.Kind == SignalKind.Constant && s.Initial.Exists(t => t.Span.IndexOfAnyExcept(1f) < 0);

    /// <summary>
    /// For a signal w written only by Reset(w, 0) and a single increment, and read only by one whole,
    /// incrementing Copy(w → y): the increment writes y instead, in the Copy's place among y's increments, and the
    /// Reset and Copy go away.
    /// </summary>
    public static OpProgram FuseChains(OpProgram p)
    {
        var t = new OpTable(p);
        var probed = p.Probes.Map(x => x.Signal).ToHashSet();
        bool Candidate(int s) => p.Signal(s).Kind == SignalKind.Batched && !probed.Contains(s);
        // Signals in id order; a fusion queues again the signals whose writers or readers it changed, until none changes.
        var queue = new PriorityQueue<int, int>();
        var queued = new bool[p.Signals.Count];
        void Queue(int s)
        {
            if (queued[s] || !Candidate(s)) return;
            queued[s] = true;
            queue.Enqueue(s, s);
        }
        foreach (var s in p.Signals) Queue(s.Id);
        while (queue.TryDequeue(out var s, out _))
        {
            queued[s] = false;
            if (t.Writers(s).Count != 2 || t.Readers(s).Count != 1) continue;
            var writers = t.Writers(s).Order().ToArray();
            var resetSlot = FirstSlot(writers, k => t[k] is Reset { Value: 0f });
            if (resetSlot < 0) continue;
            var incSlot = FirstSlot(writers, k => k != resetSlot && t[k]!.Incs == Seq1(s) && t[k]!.Sets.IsEmpty && t[k]!.Updates.IsEmpty);
            var copySlot = t.Readers(s).First();
            if (incSlot < 0 || t[copySlot] is not Copy { Inc: true, SrcIndex.IsNone: true, DstIndex.IsNone: true } copy || copy.Src != s) continue;
            var inc = t[incSlot]!;
            if (p.Signal(copy.Dst).Size != p.Signal(s).Size || inc.Reads.Contains(copy.Dst)) continue;
            var retargeted = Retarget(inc, s, copy.Dst);
            if (retargeted is null) continue;
            // Where the Copy was: y's increments keep their order (float sums depend on it).
            t.Replace(copySlot, retargeted);
            t.Remove(resetSlot);
            t.Remove(incSlot);
            foreach (var changed in retargeted.Reads.Concat(retargeted.Writes)) Queue(changed);
        }
        return p with { Ops = t.Ops };
    }

    /// <summary>
    /// The same incrementing op writing <paramref name="to"/> instead of <paramref name="from"/>, when it adds each result
    /// into its target once and that result is never −0 (so y + (0 + r) = y + r): sums that start from +0 (a dot
    /// product of at most <see cref="DotInc.SumBlock"/> inputs, a convolution, an average), a max pooling (which adds
    /// max + 0), an elementwise product or copy (a single add).
    /// </summary>
    static Op? Retarget(Op op, int from, int to) => op switch
    {
        DotInc d when d.Y == from && d.In <= DotInc.SumBlock => d with { Y = to },
        ConvInc c when c.Y == from => c with { Y = to },
        PoolInc { Set: false } pl when pl.Y == from => pl with { Y = to },
        ElementwiseInc { Set: false } e when e.Y == from => e with { Y = to },
        Copy { Inc: true, DstIndex.IsNone: true } c when c.Dst == from => c with { Dst = to },
        _ => null,
    };

    /// <summary>
    /// For a signal y written only by Reset(y, 0) and one max pooling PoolInc(x → y): the pooling sets y
    /// (0 + (max + 0) = max + 0) and the Reset goes away; likewise one ElementwiseInc(a, x → y), which then sets
    /// y = a·x + 0 (the same sum as 0 + a·x).
    /// </summary>
    public static OpProgram SetSingleIncrements(OpProgram p)
    {
        var t = new OpTable(p);
        foreach (var s in p.Signals.Filter(s => s.Kind == SignalKind.Batched))
        {
            if (t.Writers(s.Id).Count != 2) continue;
            var writers = t.Writers(s.Id).Order().ToArray();
            var resetSlot = FirstSlot(writers, k => t[k] is Reset { Value: 0f });
            if (resetSlot < 0) continue;
            var incSlot = FirstSlot(writers, k => k != resetSlot);
            Op? set = t[incSlot] switch
            {
                PoolInc { Set: false, Spec.Kind: PoolKind.Max } pl when pl.Y == s.Id && pl.X != s.Id => pl with { Set = true },
                ElementwiseInc { Set: false } e when e.Y == s.Id && e.X != s.Id && e.A != s.Id => e with { Set = true },
                _ => null,
            };
            if (set is null) continue;
            t.Replace(incSlot, set);
            t.Remove(resetSlot);
        }
        return p with { Ops = t.Ops };
    }

    /// <summary>
    /// For a signal y written only by Reset(y, 0) and one whole Copy(x → y, inc), not probed, where x is never updated:
    /// y = 0 + x, which differs from x only where x is −0. When every reader of y ignores the sign of a zero input,
    /// they read x instead and the Reset and Copy go away. Such readers: DotInc and ConvInc (their sums start from +0
    /// and never become −0, so a ±0 term changes nothing; the event-driven paths skip zeros of either sign) and
    /// count max pooling (its counts start at +0 and never become −0, and it adds its input into them).
    /// </summary>
    public static OpProgram ForwardCopies(OpProgram p)
    {
        var t = new OpTable(p);
        var probed = p.Probes.Map(x => x.Signal).ToHashSet();
        foreach (var s in p.Signals.Filter(s => s.Kind == SignalKind.Batched && !probed.Contains(s.Id)))
        {
            if (t.Writers(s.Id).Count != 2) continue;
            var writers = t.Writers(s.Id).Order().ToArray();
            var resetSlot = FirstSlot(writers, k => t[k] is Reset { Value: 0f });
            var copySlot = FirstSlot(writers, k => t[k] is Copy { Inc: true, SrcIndex.IsNone: true, DstIndex.IsNone: true } c && c.Dst == s.Id);
            if (resetSlot < 0 || copySlot < 0 || t[copySlot] is not Copy copy || copy.Src == s.Id) continue;
            var source = p.Signal(copy.Src);
            if (source.Kind != SignalKind.Batched || source.Size != s.Size || t.Writers(source.Id).Any(k => t[k]!.Updates.Contains(source.Id))) continue;
            var readers = t.Readers(s.Id).Order().ToArray();
            if (readers.Length == 0 || !readers.All(k => IgnoresZeroSign(t[k]!, s.Id) && !t[k]!.Writes.Contains(source.Id))) continue;
            foreach (var k in readers) t.Replace(k, t[k]!.MapSignals(id => id == s.Id ? copy.Src : id));
            t.Remove(resetSlot);
            t.Remove(copySlot);
        }
        return p with { Ops = t.Ops };
    }

    /// <summary>Whether <paramref name="op"/> gives the same results when its input <paramref name="x"/> holds −0 for +0.</summary>
    static bool IgnoresZeroSign(Op op, int x) => op switch
    {
        DotInc d => d.X == x && d.W != x && d.Y != x,
        ConvInc c => c.X == x && c.W != x && c.Y != x,
        MaxPoolOp { Method: MaxPoolMethod.Count } m => m.X == x && m.Y != x && m.Counts != x && m.Max != x,
        _ => false,
    };


    /// <summary>
    /// SimNeurons(ReLU with amplitude &gt; 0, J → out) whose output is read only by PoolInc(max, out → y, set), with
    /// every pooling window holding a real cell: the pooling reads J into a new signal of the pooled size and the
    /// neurons run on that, writing y. Exact: max over a window of a·max(v, 0) equals a·max(max over the window, 0)
    /// because each rounding step is monotone; and the ReLU never gives −0, so max + 0 is the max.
    /// </summary>
    public static OpProgram PoolBeforeRelu(OpProgram p)
    {
        var t = new OpTable(p);
        var signals = p.Signals.ToList();
        var probed = p.Probes.Map(x => x.Signal).ToHashSet();
        var candidates = Enumerable.Range(0, t.Count)
            .Where(k => t[k] is SimNeurons { Neuron: RectifiedLinear { Amplitude: > 0f }, State.IsEmpty: true, OutputScale.IsNone: true }).ToList();
        foreach (var neuronSlot in candidates)
        {
            if (t[neuronSlot] is not SimNeurons neurons) continue;
            if (probed.Contains(neurons.Output) || t.Writers(neurons.Output).Count != 1 || t.Readers(neurons.Output).Count != 1) continue;
            var poolSlot = t.Readers(neurons.Output).First();
            if (t[poolSlot] is not PoolInc { Set: true, Spec.Kind: PoolKind.Max } pool || pool.Y == neurons.J || !EveryWindowReal(pool.Spec)) continue;
            var pooled = new Signal(signals.Count, signals[neurons.J].Name + ".pooled", signals[pool.Y].Size, SignalKind.Batched, None);
            signals.Add(pooled);
            t.Grow(signals.Count);
            t.Replace(neuronSlot, pool with { X = neurons.J, Y = pooled.Id });
            t.Replace(poolSlot, neurons with { J = pooled.Id, Output = pool.Y });
        }
        return p with { Signals = signals.ToSeq(), Ops = t.Ops };
    }

    /// <summary>Whether every output cell's window covers at least one input cell (no window lies wholly in the padding).</summary>
    static bool EveryWindowReal(PoolSpec spec)
    {
        var (offsets, _) = spec.PixelWindows();
        for (var o = 0; o + 1 < offsets.Length; o++)
            if (offsets[o + 1] == offsets[o]) return false;
        return true;
    }

    /// <summary>
    /// For an ensemble current J set by Copy(bias → J) (a constant of J's size) whose first increment is
    /// ElementwiseInc(gain, x, J) or a whole Copy(x → J, inc): one AffineSet(bias, gain, x → J) where the increment
    /// was. J = bias, then J = x·gain + J, is exactly J = x·gain + bias; later increments still follow.
    /// </summary>
    public static OpProgram FuseBiasGain(OpProgram p)
    {
        var t = new OpTable(p);
        var candidates = Enumerable.Range(0, t.Count).Where(k => t[k] is Copy { Inc: false, SrcIndex.IsNone: true, DstIndex.IsNone: true }).ToList();
        foreach (var biasSlot in candidates)
        {
            var bias = (Copy)t[biasSlot]!;
            var j = bias.Dst;
            if (p.Signal(bias.Src).Kind != SignalKind.Constant || p.Signal(bias.Src).Size != p.Signal(j).Size || p.Signal(j).Kind != SignalKind.Batched) continue;
            // The first op after the bias that increments or reads J.
            var incSlot = t.Writers(j).Where(k => t[k]!.Incs.Contains(j)).Concat(t.Readers(j)).Where(k => k > biasSlot).DefaultIfEmpty(-1).Min();
            var fused = incSlot < 0 ? null : t[incSlot] switch
            {
                ElementwiseInc { Set: false } e when e.Y == j && e.X != j && p.Signal(e.X).Kind == SignalKind.Batched && p.Signal(e.A).Kind == SignalKind.Constant
                    => new AffineSet(bias.Src, Some(e.A), e.X, j),
                Copy { Inc: true, SrcIndex.IsNone: true, DstIndex.IsNone: true } c when c.Dst == j && c.Src != j && p.Signal(c.Src).Kind == SignalKind.Batched
                    => new AffineSet(bias.Src, None, c.Src, j),
                _ => null,
            };
            if (fused is null) continue;
            t.Replace(incSlot, fused);
            t.Remove(biasSlot);
        }
        return p with { Ops = t.Ops };
    }

    /// <summary>
    /// An AffineSet(bias, gain, x → J) where J is written by nothing else, not probed, and read only by one SimNeurons:
    /// a SimNeuronsAffine that forms J as it runs, where the SimNeurons was.
    /// </summary>
    public static OpProgram FuseNeuronInput(OpProgram p)
    {
        var t = new OpTable(p);
        var probed = p.Probes.Map(x => x.Signal).ToHashSet();
        foreach (var affineSlot in Enumerable.Range(0, t.Count).Where(k => t[k] is AffineSet).ToList())
        {
            var affine = (AffineSet)t[affineSlot]!;
            if (probed.Contains(affine.Y) || t.Writers(affine.Y).Count != 1 || t.Readers(affine.Y).Count != 1) continue;
            var neuronSlot = t.Readers(affine.Y).First();
            if (t[neuronSlot] is not SimNeurons neurons || neurons.Output == affine.X || neurons.State.Contains(affine.X)) continue;
            t.Replace(neuronSlot, new SimNeuronsAffine(neurons.Neuron, affine.Bias, affine.Gain, affine.X, neurons.Output, neurons.State)
            {
                OutputScale = neurons.OutputScale,
            });
            t.Remove(affineSlot);
        }
        return p with { Ops = t.Ops };
    }

    /// <summary>Keeps only operators that contribute to a probe (and the time update), then renumbers signals.</summary>
    public static OpProgram DropDead(OpProgram p)
    {
        // Backwards from the probes: an op is kept when it writes a live signal; what it reads and writes becomes live.
        var t = new OpTable(p);
        var live = new bool[p.Signals.Count];
        var kept = new bool[t.Count];
        var work = new Stack<int>();
        void Keep(int k)
        {
            if (kept[k]) return;
            kept[k] = true;
            foreach (var s in t[k]!.Reads.Concat(t[k]!.Writes)) Live(s);
        }
        void Live(int s)
        {
            if (live[s]) return;
            live[s] = true;
            work.Push(s);
        }
        foreach (var probe in p.Probes) Live(probe.Signal);
        for (var k = 0; k < t.Count; k++)
            if (t[k] is TimeUpdate) Keep(k);
        while (work.TryPop(out var s))
            foreach (var k in t.Writers(s)) Keep(k);
        var keptOps = p.Ops.Where((_, k) => kept[k]).ToSeq().Strict();
        var used = keptOps.Bind(o => o.Reads.Concat(o.Writes)).Concat(p.Probes.Map(x => x.Signal)).ToHashSet();
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
            Ops = keptOps.Map(o => o.MapSignals(x => map[x])).ToSeq(),
            Probes = p.Probes.Map(x => x with { Signal = map[x.Signal] }).ToSeq(),
        };
    }
}
