using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>Dense: a matrix product over the last axis, then its fused activation.</summary>
internal static class DenseLayer
{
    public static readonly LayerRule Rule = new(
        Arr.create("Dense"), LayerSupport.Native, "dense product and its activation",
        Legal(Legalize), Eval(Evaluate))
    {
        Checks = n => ConfigChecks.Positive(n, "units")
            + ConfigChecks.Agrees(n, "units", ConfigChecks.Axis(n, "kernel", 1), "kernel's last axis")
            + ConfigChecks.Bias(n, ConfigChecks.Axis(n, "kernel", 1)),
    };

    static Either<Error, Lowered> Legalize(LegalizeInput i)
    {
        var n = i.Node;
        return from x in i.Single
               from k in Weight(n, "kernel")
               from _ in Check(!(k.Rank != 2 || x.Shape[x.Shape.Count - 1] != k.Shape[0]), () =>
                   ShapeError(n, $"kernel {Shapes.Show(k.Shape)} does not fit input {Shapes.Show(x.Shape)}"))
               let shape = x.Shape.Take(x.Shape.Count - 1).Append(k.Shape[1]).ToArr()
               from r in WithActivation(n, new LDense(n.Id + ":pre", n.Layer, x.Id, shape, k, Bias(n)))
               select r;
    }

    static Either<Error, Value> Evaluate(KerasNode n, Value[] ins) =>
        from x in Single(n, ins)
        from k in Weight(n, "kernel")
        let inSize = k.Shape[0]
        let outSize = k.Shape[1]
        from _ in Check(x.Shape[^1] == inSize, () => ShapeError(n, $"kernel expects last dimension {inSize}, input is {Shapes.Show(x.Shape)}"))
        from r in Activate(n, Product(n, x, k, inSize, outSize))
        select r;

    static Value Product(KerasNode n, Value x, Tensor k, int inSize, int outSize)
    {
        var y = new float[x.Data.Length / inSize * outSize];
        RefKernels.Dense(x.Data, k.Span, BiasData(n), inSize, outSize, y);
        return new Value(x.Shape[..^1].Append(outSize).ToArray(), y);
    }
}
