using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>The ReLU family: ReLU (negative_slope, threshold, max_value), LeakyReLU and PReLU (a slope per element).</summary>
internal static class ReluLayers
{
    public static readonly LayerRule Relu = new(
        Arr.create("ReLU"), LayerSupport.Native, "ReLU-family activation (negative_slope, threshold, max_value)",
        Legal(i => i.Single.Map(x =>
            Lowered.Native(new LActivation(i.Node.Id, i.Node.Layer, x.Id, x.Shape, ReluOf(i.Node))))),
        Eval((n, ins) => Single(n, ins).Map(x =>
        {
            var r = ReluOf(n);
            return Map(x, v => Activations.Relu(v, r.NegativeSlope, r.Threshold, r.MaxValue));
        })));

    public static readonly LayerRule Leaky = new(
        Arr.create("LeakyReLU"), LayerSupport.Native, "ReLU with a negative slope",
        Legal(i => i.Single.Map(x =>
            Lowered.Native(new LActivation(i.Node.Id, i.Node.Layer, x.Id, x.Shape, new Relu(LeakySlope(i.Node)))))),
        Eval((n, ins) =>
        {
            var slope = LeakySlope(n);
            return Single(n, ins).Map(x => Map(x, v => v < 0 ? slope * v : v));
        }));

    public static readonly LayerRule Parametric = new(
        Arr.create("PReLU"), LayerSupport.Native, "per-element slopes (signed spiking)",
        Legal(i =>
            from x in i.Single
            from alpha in Weight(i.Node, "alpha")
            from slopes in Slopes(i.Node, x.Shape, alpha)
            select Lowered.Native(new LActivation(i.Node.Id, i.Node.Layer, x.Id, x.Shape, new PRelu(slopes)))),
        Eval((n, ins) =>
            from x in Single(n, ins)
            from alpha in Weight(n, "alpha")
            select EvaluatePRelu(x, alpha)));

    static Relu ReluOf(KerasNode n)
    {
        var c = n.Config;
        var slope = (float)c.Number("negative_slope").IfNone(0);
        var threshold = (float)c.Number("threshold").IfNone(0);
        var max = (float)c.Number("max_value").IfNone(double.PositiveInfinity);
        return new Relu(slope, threshold, max);
    }

    static float LeakySlope(KerasNode n) => (float)(n.Config.Number("negative_slope") || n.Config.Number("alpha")).IfNone(0.3);

    /// <summary>Alpha broadcast to one slope per element (alpha has the input's rank, 1 on shared axes).</summary>
    static Either<Error, Tensor> Slopes(KerasNode n, Arr<int> x, Tensor alpha)
    {
        var full = new float[Shapes.Product(x)];
        var ap = alpha.Shape.ToArray();
        if (ap.Length != x.Count) return ShapeError(n, $"alpha {Shapes.Show(alpha.Shape)} does not fit input {Shapes.Show(x)}");
        var coord = new int[x.Count];
        var aStrides = Shapes.Strides(ap);
        for (var i = 0; i < full.Length; i++)
        {
            RefKernels.Unravel(i, x.ToArray(), coord);
            var k = 0;
            for (var d = 0; d < coord.Length; d++) k += (ap[d] == 1 ? 0 : coord[d]) * aStrides[d];
            full[i] = alpha[k];
        }
        return Tensor.Own(new[] { full.Length }, full);
    }

    static Value EvaluatePRelu(Value x, Tensor alpha)
    {
        var y = new float[x.Data.Length];
        for (var i = 0; i < y.Length; i++)
        {
            var v = x.Data[i];
            y[i] = v >= 0 ? v : alpha[BroadcastIndex(i, x.Shape, alpha.Shape.ToArray())] * v;
        }
        return x with { Data = y };
    }

    static int BroadcastIndex(int flat, int[] shape, int[] paramShape)
    {
        // paramShape has the same rank as shape with 1s on shared axes.
        var idx = 0;
        var stride = 1;
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            var coord = flat % shape[d];
            flat /= shape[d];
            var pd = d - (shape.Length - paramShape.Length);
            if (pd < 0) continue;
            if (paramShape[pd] != 1) idx += coord * stride;
            stride *= paramShape[pd];
        }
        return idx;
    }
}
