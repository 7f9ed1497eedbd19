using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>
/// BatchNormalization (on one non-batch axis), Rescaling and Normalization (on the last axis): a per-channel affine,
/// which legalize folds into a preceding Dense or Conv that feeds nothing else.
/// </summary>
internal static class NormalizationLayers
{
    public static readonly LayerRule BatchNormalization = new(
        Arr.create("BatchNormalization"), LayerSupport.Native, "an affine, folded into the preceding Dense/Conv",
        Legal(i =>
            from x in i.Single
            let axes = i.Node.Config.Ints("axis").IfNone(Arr.create(-1))
            from _1 in Check(axes.Count == 1, () => BadArg(i.Node, "axis", Shapes.Show(axes), "a single axis"))
            let axis = Shapes.Axis(axes[0], x.Shape.Count + 1) - 1
            from _2 in Check(axis >= 0 && axis < x.Shape.Count, () => BadArg(i.Node, "axis", axes[0].ToString(), "a non-batch axis"))
            from affine in BatchNormAffine(i.Node)
            from _3 in Check(affine.Scale.Length == x.Shape[axis], () => ShapeError(i.Node, $"{affine.Scale.Length} parameters for axis {axes[0]} of size {x.Shape[axis]}"))
            select Lowered.Native(new LAffine(i.Node.Id, i.Node.Layer, x.Id, x.Shape, axis,
                Tensor.Own(new[] { affine.Scale.Length }, affine.Scale), Tensor.Own(new[] { affine.Shift.Length }, affine.Shift)))),
        Eval((n, ins) =>
            from x in Single(n, ins)
            let axes = n.Config.Ints("axis").IfNone(Arr.create(-1))
            from _1 in Check(axes.Count == 1, () => Refuse(n, $"axis {Shapes.Show(axes)} must be a single axis"))
            let axis = Shapes.Axis(axes[0], x.Rank + 1) - 1
            from _2 in Check(axis >= 0 && axis < x.Rank, () => Refuse(n, $"axis {axes[0]} is not a feature axis of input {Shapes.Show(x.Shape)}"))
            from affine in BatchNormAffine(n)
            from y in Affine(x, axis, affine.Scale, affine.Shift)
            select y));

    public static readonly LayerRule Rescaling = new(
        Arr.create("Rescaling"), LayerSupport.Native, "an affine (scalar scale and offset)",
        Legal(i => i.Single.Bind(x => LegalizeRescaling(i.Node, x.Id, x.Shape))),
        Eval((n, ins) =>
        {
            var scale = (float)n.Config.Number("scale").IfNone(1.0);
            var offset = (float)n.Config.Number("offset").IfNone(0.0);
            return Single(n, ins).Map(x => Map(x, v => v * scale + offset));
        }));

    public static readonly LayerRule Normalization = new(
        Arr.create("Normalization"), LayerSupport.Native, "an affine (mean and variance on the last axis)",
        Legal(i =>
            from x in i.Single
            from _ in Check(!i.Node.Config.Bool("invert").IfNone(false), () => BadArg(i.Node, "invert", "True", "False"))
            from mean in Weight(i.Node, "mean")
            from variance in Weight(i.Node, "variance")
            from r in LegalizeNormalization(i.Node, x.Id, x.Shape, mean, variance)
            select r),
        Eval((n, ins) =>
            from x in Single(n, ins)
            from _ in Check(!n.Config.Bool("invert").IfNone(false), () => Refuse(n, "invert=True is not supported"))
            from mean in Weight(n, "mean")
            from variance in Weight(n, "variance")
            select Normalize(x, mean, variance)));

    /// <summary>BatchNormalization's inference affine: scale = γ/√(σ²+ε), shift = β − scale·μ.</summary>
    internal static Either<Error, (float[] Scale, float[] Shift)> BatchNormAffine(KerasNode n)
    {
        var c = n.Config;
        var eps = (float)c.Number("epsilon").IfNone(1e-3);
        return from mean in Weight(n, "moving_mean")
               from variance in Weight(n, "moving_variance")
               from gamma in c.Bool("scale").IfNone(true) ? Weight(n, "gamma").Map(g => g.ToArray()) : Enumerable.Repeat(1f, mean.Length).ToArray()
               from beta in c.Bool("center").IfNone(true) ? Weight(n, "beta").Map(b => b.ToArray()) : new float[mean.Length]
               select Affine(mean, variance, gamma, beta, eps);
    }

    static (float[] Scale, float[] Shift) Affine(Tensor mean, Tensor variance, float[] gamma, float[] beta, float eps)
    {
        var size = mean.Length;
        var scale = new float[size];
        var shift = new float[size];
        for (var i = 0; i < size; i++)
        {
            scale[i] = gamma[i] / MathF.Sqrt(variance[i] + eps);
            shift[i] = beta[i] - scale[i] * mean[i];
        }
        return (scale, shift);
    }

    static Either<Error, Value> Affine(Value x, int axis, float[] scale, float[] shift)
    {
        var inner = x.Shape.Skip(axis + 1).Aggregate(1, (p, d) => p * d);
        var size = x.Shape[axis];
        if (size != scale.Length) return Errors.Shape("BatchNormalization", $"{scale.Length} parameters for axis of size {size}");
        var y = new float[x.Data.Length];
        for (var i = 0; i < y.Length; i++)
        {
            var ch = i / inner % size;
            y[i] = x.Data[i] * scale[ch] + shift[ch];
        }
        return x with { Data = y };
    }

    static Either<Error, Lowered> LegalizeRescaling(KerasNode n, string input, Arr<int> x)
    {
        var c = n.Config;
        var scale = (float)c.Number("scale").IfNone(1.0);
        var offset = (float)c.Number("offset").IfNone(0.0);
        if (c.Get("scale").Exists(v => v.ValueKind != System.Text.Json.JsonValueKind.Number) || c.Get("offset").Exists(v => v.ValueKind != System.Text.Json.JsonValueKind.Number))
            return BadArg(n, "scale/offset", "a per-channel list", "a number");
        var last = x[x.Count - 1];
        return Lowered.Native(new LAffine(n.Id, n.Layer, input, x, x.Count - 1, Tensor.Filled(new[] { last }, scale), Tensor.Filled(new[] { last }, offset)));
    }

    static Either<Error, Lowered> LegalizeNormalization(KerasNode n, string input, Arr<int> x, Tensor mean, Tensor variance)
    {
        var last = x[x.Count - 1];
        if (mean.Length != 1 && mean.Length != last) return BadArg(n, "axis", "not the last axis", "-1");
        var scale = new float[last];
        var shift = new float[last];
        for (var i = 0; i < last; i++)
        {
            var k = mean.Length == 1 ? 0 : i;
            scale[i] = 1f / MathF.Max(MathF.Sqrt(variance[k]), 1e-7f);
            shift[i] = -mean[k] * scale[i];
        }
        return Lowered.Native(new LAffine(n.Id, n.Layer, input, x, x.Count - 1, Tensor.Own(new[] { last }, scale), Tensor.Own(new[] { last }, shift)));
    }

    static Value Normalize(Value x, Tensor mean, Tensor variance)
    {
        var last = x.Shape[^1];
        var y = new float[x.Data.Length];
        for (var i = 0; i < y.Length; i++)
        {
            var k = mean.Length == 1 ? 0 : i % last;
            y[i] = (x.Data[i] - mean[k]) / MathF.Max(MathF.Sqrt(variance[k]), 1e-7f);
        }
        return x with { Data = y };
    }
}
