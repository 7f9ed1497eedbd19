using LanguageExt;
using LanguageExt.Common;
using Snn.Ops;

namespace Snn.Compiler.Lower;

/// <summary>Invariants of the operator IR, checked after lower and after every optimization.</summary>
public static class OpVerify
{
    public static Either<Error, OpProgram> Run(OpProgram p)
    {
        Error Bad(string m) => Errors.Invariant("operators", m);
        for (var i = 0; i < p.Signals.Count; i++)
        {
            var s = p.Signals[i];
            if (s.Id != i) return Bad($"signal '{s.Name}' has id {s.Id} at position {i}");
            if (s.Kind == SignalKind.Constant && s.Initial.IsNone) return Bad($"constant '{s.Name}' has no value");
            if (s.Initial.Exists(t => t.Length != s.Size)) return Bad($"signal '{s.Name}' has an initial value of the wrong size");
        }
        var setBy = new Dictionary<int, Op>();
        var updatedBy = new Dictionary<int, Op>();
        var position = 0;
        var positions = new Dictionary<Op, int>(ReferenceEqualityComparer.Instance);
        foreach (var op in p.Ops)
        {
            positions[op] = position++;
            foreach (var s in op.Sets.Concat(op.Incs).Concat(op.Reads).Concat(op.Updates))
                if (s < 0 || s >= p.Signals.Count) return Bad($"{op.GetType().Name} refers to signal {s}, which does not exist");
            foreach (var s in op.Writes)
                if (p.Signals[s].Kind == SignalKind.Constant) return Bad($"{op.GetType().Name} writes constant '{p.Signals[s].Name}'");
            foreach (var s in op.Sets)
                if (!setBy.TryAdd(s, op)) return Bad($"signal '{p.Signals[s].Name}' is set by two operators");
            foreach (var s in op.Updates)
                if (!updatedBy.TryAdd(s, op)) return Bad($"signal '{p.Signals[s].Name}' is updated by two operators");
            foreach (var s in op.Overwrites)
                if (!op.Sets.Contains(s)) return Bad($"{op.GetType().Name} overwrites '{p.Signals[s].Name}', which it does not set");
            var sizeProblem = op switch
            {
                ElementwiseInc e when p.Signals[e.X].Size != p.Signals[e.Y].Size || (p.Signals[e.A].Size != 1 && p.Signals[e.A].Size != p.Signals[e.Y].Size) => "sizes differ",
                DotInc d when p.Signals[d.W].Size != d.In * d.Out || p.Signals[d.X].Size != d.Rows * d.In || p.Signals[d.Y].Size != d.Rows * d.Out => "sizes differ",
                ConvInc c when p.Signals[c.X].Size != Shapes.Product(c.Spec.InputShape) || p.Signals[c.Y].Size != Shapes.Product(c.Spec.OutputShape) || p.Signals[c.W].Size != Shapes.Product(c.Spec.KernelShape) => "sizes differ",
                PoolInc pl when p.Signals[pl.X].Size != Shapes.Product(pl.Spec.InputShape) || p.Signals[pl.Y].Size != Shapes.Product(pl.Spec.OutputShape) => "sizes differ",
                PoolInc { Set: true, Spec.Kind: not PoolKind.Max } => "only max pooling overwrites its output",
                AffineSet af when !AffineFits(p, af.Bias, af.Gain, af.X, af.Y) => "sizes differ",
                SimNeuronsAffine sa when !AffineFits(p, sa.Bias, sa.Gain, sa.X, sa.Output) || sa.State.Exists(s => p.Signals[s].Size != p.Signals[sa.X].Size) => "sizes differ",
                Copy c when !CopyFits(p, c) => "indices do not fit",
                SimNeurons sn when p.Signals[sn.J].Size != p.Signals[sn.Output].Size || sn.State.Exists(s => p.Signals[s].Size != p.Signals[sn.J].Size) => "sizes differ",
                INeuronOp n when n.OutputScale.Exists(s => p.Signals[s].Kind != SignalKind.Constant || p.Signals[s].Size != p.Signals[n.Output].Size) => "the output scale is not a constant of one factor per neuron",
                LowpassOp l when p.Signals[l.In].Size != p.Signals[l.Out].Size => "sizes differ",
                FilterOp f when p.Signals[f.X].Size != p.Signals[f.Y].Size || p.Signals[f.D].Size != p.Signals[f.Y].Size
                                || f.Coefficients.Length != FilterOp.PerElement(f.Kind) * p.Signals[f.Y].Size => "sizes differ",
                MaxPoolOp m when p.Signals[m.X].Size != Shapes.Product(m.Spec.InputShape) || p.Signals[m.Counts].Size != p.Signals[m.X].Size
                                 || p.Signals[m.Y].Size != Shapes.Product(m.Spec.OutputShape) || p.Signals[m.Max].Size != p.Signals[m.Y].Size => "sizes differ",
                _ => null,
            };
            if (sizeProblem is not null) return Bad($"{op.GetType().Name} on '{string.Join("', '", op.Reads.Concat(op.Writes).Map(s => p.Signals[s].Name))}': {sizeProblem}");
        }
        // Schedule: a reader comes after every setter and incrementer of what it reads; an updater after every reader.
        foreach (var op in p.Ops)
            foreach (var s in op.Reads)
                foreach (var w in p.Ops.Filter(o => o.Sets.Contains(s) || o.Incs.Contains(s)))
                    if (positions[w] > positions[op]) return Bad($"'{p.Signals[s].Name}' is read before it is written");
        foreach (var probe in p.Probes)
            if (probe.Signal < 0 || probe.Signal >= p.Signals.Count || p.Signals[probe.Signal].Size != Shapes.Product(probe.Shape))
                return Bad($"probe '{probe.Name}' does not fit its signal");
        return p;
    }

    /// <summary>Y = X·A + B: B a constant of |Y|, A a constant of 1 or |Y|, X as long as Y.</summary>
    static bool AffineFits(OpProgram p, int bias, Option<int> gain, int x, int y)
    {
        var size = p.Signals[y].Size;
        return p.Signals[bias].Kind == SignalKind.Constant && p.Signals[bias].Size == size && p.Signals[x].Size == size
               && gain.ForAll(a => p.Signals[a].Kind == SignalKind.Constant && (p.Signals[a].Size == 1 || p.Signals[a].Size == size));
    }

    static bool CopyFits(OpProgram p, Copy c)
    {
        var src = p.Signals[c.Src].Size;
        var dst = p.Signals[c.Dst].Size;
        var n = c.SrcIndex.Map(i => i.Count).IfNone(src);
        if (c.SrcIndex.Exists(i => i.Exists(k => k >= src))) return false;
        if (c.DstIndex.TryGet(out var di)) return di.Count == n && di.ForAll(k => k >= 0 && k < dst);
        return n == dst;
    }
}
