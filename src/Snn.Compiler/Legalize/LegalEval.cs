using LanguageExt;
using LanguageExt.Common;

namespace Snn.Compiler.Legalize;

/// <summary>The meaning of the legal IR: evaluates the canonical ops on a batch, one sample at a time.</summary>
public static class LegalEval
{
    /// <summary>The graph's outputs on the batch, or the failure of the first sample where a fallback layer failed.</summary>
    public static Fin<Seq<Tensor>> Run(LegalGraph g, Seq<Tensor> inputs)
    {
        var batch = inputs.Head.Shape[0];
        var outputs = g.Outputs.Map(id => new float[batch * g.Op(id).Size]).ToArray();
        var failures = new Option<Error>[batch];
        Parallel.For(0, batch, b =>
        {
            var values = new Dictionary<string, float[]>();
            foreach (var op in g.Ops)
            {
                var value = Eval(op, values, inputs, b);
                if (value.IsFail)
                {
                    failures[b] = value.Match(_ => Option<Error>.None, e => e);
                    return;
                }
                values[op.Id] = (float[])value;
            }
            for (var o = 0; o < outputs.Length; o++)
            {
                var v = values[g.Outputs[o]];
                v.CopyTo(outputs[o], b * v.Length);
            }
        });
        return failures.Somes().HeadOrNone().Match(
            e => Fin<Seq<Tensor>>.Fail(e),
            () => Fin<Seq<Tensor>>.Succ(g.Outputs.Map(id => g.Op(id)).Zip(outputs)
                .Map(p => Tensor.Own(new[] { batch }.Concat(p.Item1.Shape).ToArray(), p.Item2)).ToSeq().Strict()));
    }

    static Fin<float[]> Eval(LegalOp op, Dictionary<string, float[]> values, Seq<Tensor> inputs, int b)
    {
        float[] In(int i = 0) => values[op.Inputs[i]];
        var y = new float[op.Size];
        switch (op)
        {
            case LInput input:
                inputs[input.Index].Span.Slice(b * op.Size, op.Size).CopyTo(y);
                break;
            case LDense d:
                RefKernels.Dense(In(), d.Kernel.Span, d.Bias.Map(t => t.ToArray()).IfNone(System.Array.Empty<float>()), d.Kernel.Shape[0], d.Kernel.Shape[1], y);
                break;
            case LConv c:
                RefKernels.Conv(c.Spec, c.Kernel.Span, c.Bias.Map(t => t.ToArray()).IfNone(System.Array.Empty<float>()), In(), y);
                break;
            case LPool p:
                RefKernels.Pool(p.Spec, In(), y);
                break;
            case LActivation { Act: SoftmaxAct } a:
                In().CopyTo(y, 0);
                Activations.Apply("softmax", y, a.Shape[a.Shape.Count - 1]);
                break;
            case LActivation { Act: ElementwiseAct act }:
            {
                var x = In();
                for (var i = 0; i < y.Length; i++) y[i] = act.Apply(x[i], i);
                break;
            }
            case LAffine a:
            {
                var x = In();
                var inner = a.Shape.Skip(a.Axis + 1).Aggregate(1, (p, d) => p * d);
                var size = a.Shape[a.Axis];
                for (var i = 0; i < y.Length; i++)
                {
                    var ch = i / inner % size;
                    y[i] = x[i] * a.Scale[ch] + a.Shift[ch];
                }
                break;
            }
            case LSum s:
                for (var k = 0; k < s.Inputs.Count; k++)
                {
                    var x = In(k);
                    var w = s.Weights[k];
                    for (var i = 0; i < y.Length; i++) y[i] += w * x[i];
                }
                break;
            case LConcat c:
            {
                var outer = c.Shape.Take(c.Axis).Aggregate(1, (p, d) => p * d);
                var pos = 0;
                for (var o = 0; o < outer; o++)
                    for (var k = 0; k < c.Inputs.Count; k++)
                    {
                        var x = In(k);
                        var block = x.Length / outer;
                        System.Array.Copy(x, o * block, y, pos, block);
                        pos += block;
                    }
                break;
            }
            case LReshape or LFilter:
                // A filter's steady state passes its input unchanged (unit DC gain).
                In().CopyTo(y, 0);
                break;
            case LGather g:
            {
                var x = In();
                for (var i = 0; i < y.Length; i++) y[i] = g.Index[i] < 0 ? 0f : x[g.Index[i]];
                break;
            }
            case LFallback f:
                return Layer(f.Node, f.InputShapes);
            case LCustom c:
                return Layer(c.Node, c.InputShapes);
            default:
                return Errors.Invariant("legal", $"no meaning for legal op {op.GetType().Name} ('{op.Id}')");
        }
        return y;

        Fin<float[]> Layer(Keras.KerasNode node, Seq<Arr<int>> shapes) =>
            Keras.KerasEval.EvaluateLayer(node, op.Inputs.Zip(shapes).Map(p => new Keras.KerasEval.Value(p.Item2.ToArray(), values[p.Item1])).ToArray())
                .Match(v => Fin<float[]>.Succ(v.Data), Fin<float[]>.Fail);
    }
}

/// <summary>Invariants of the legal IR, checked after every pass in tests.</summary>
public static class LegalVerify
{
    public static Either<Error, LegalGraph> Run(LegalGraph g)
    {
        var seen = new Dictionary<string, LegalOp>();
        Error Bad(string m) => Errors.Invariant("legal", m);
        foreach (var op in g.Ops)
        {
            if (seen.ContainsKey(op.Id)) return Bad($"value '{op.Id}' is defined twice");
            foreach (var i in op.Inputs)
                if (!seen.ContainsKey(i)) return Bad($"'{op.Id}' reads '{i}' before it is defined");
            if (op.Shape.Exists(d => d <= 0)) return Bad($"'{op.Id}' has shape {Shapes.Show(op.Shape)}");
            var inSize = op.Inputs.IsEmpty ? 0 : seen[op.Inputs.Head].Size;
            var problem = op switch
            {
                LDense d when d.Kernel.Rank != 2 || inSize / d.Kernel.Shape[0] * d.Kernel.Shape[1] != op.Size => "kernel does not fit",
                LDense d when d.Bias.Exists(b => b.Length != d.Kernel.Shape[1]) => "bias does not fit",
                LConv c when c.Kernel.Shape != c.Spec.KernelShape || seen[c.Inputs.Head].Shape != c.Spec.InputShape => "convolution geometry does not fit",
                LConv c when c.Bias.Exists(b => b.Length != c.Spec.Filters) => "bias does not fit",
                LPool p when seen[p.Inputs.Head].Shape != p.Spec.InputShape => "pool geometry does not fit",
                LActivation or LAffine or LFilter when inSize != op.Size => "elementwise op changes size",
                LActivation { Spiking.IsSome: true } a when a.Spiking.Exists(st => st.InitialVoltage.Length != op.Size || !(st.Dt > 0)) => "spiking state does not fit",
                LFilter f when (f.Tau.Length != 1 && f.Tau.Length != op.Size) || f.InitialLevel.Length != op.Size => "filter parameters do not fit",
                LFilter f when f.Tau.Span.ToArray().Any(t => !(t > 0) || float.IsInfinity(t)) || !(f.Dt > 0) => "filter time constants must be positive",
                LReshape when inSize != op.Size => "reshape changes size",
                LGather gth when gth.Index.Count != op.Size || gth.Index.Exists(i => i >= inSize) => "gather index out of range",
                LSum s when s.Weights.Count != s.Inputs.Count || s.Inputs.Exists(i => seen[i].Size != op.Size) => "sum inputs do not match",
                LConcat c when c.Inputs.Sum(i => seen[i].Size) != op.Size => "concatenation sizes do not add up",
                _ => null,
            };
            if (problem is not null) return Bad($"'{op.Id}' ({op.GetType().Name}): {problem}");
            seen[op.Id] = op;
        }
        foreach (var o in g.Outputs.Concat(g.Inputs))
            if (!seen.ContainsKey(o)) return Bad($"model value '{o}' is not defined");
        return g;
    }
}
