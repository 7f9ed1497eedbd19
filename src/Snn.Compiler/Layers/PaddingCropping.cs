using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>ZeroPadding1D/2D/3D and Cropping1D/2D/3D: gathers that add zeros around, or cut cells off, the spatial axes.</summary>
internal static class PaddingCroppingLayers
{
    public static readonly LayerRule ZeroPadding = Rule(false, Arr.create("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"), "a zero-padding gather");
    public static readonly LayerRule Cropping = Rule(true, Arr.create("Cropping1D", "Cropping2D", "Cropping3D"), "a cropping gather");

    static LayerRule Rule(bool crop, Arr<string> classes, string note) => new(
        classes, LayerSupport.Native, note,
        Legal(i =>
            from x in i.Single
            from g in Legalize(i.Node, x.Id, x.Shape, crop)
            select Lowered.Native(g)),
        Eval((n, ins) => Single(n, ins).Bind(x => Evaluate(n, x, crop))))
    {
        Checks = n => ConfigChecks.NotNegative(n, crop ? "cropping" : "padding"),
    };

    /// <summary>(before, after) per spatial axis and the output shape, or why there are none.</summary>
    static Either<Error, ((int Before, int After)[] Pairs, int[] OutShape)> Geometry(KerasNode n, int[] x, bool crop, int offset)
    {
        var rank = x.Length - 1;
        var key = crop ? "cropping" : "padding";
        return n.Config.Pairs(key, rank).ToEither(() => Refuse(n, $"cannot read {key}")).Bind(pairs =>
        {
            var wide = x.Select(d => (long)d).ToArray();
            for (var d = 0; d < rank; d++)
                wide[d + offset] += crop ? -((long)pairs[d].Before + pairs[d].After) : (long)pairs[d].Before + pairs[d].After;
            return wide.Any(d => d <= 0)
                ? Left<Error, ((int, int)[], int[])>(ShapeError(n, $"cropping {Shapes.Show(x)} leaves nothing"))
                : OutputShape(n, wide, $"{key} {Shapes.Show(pairs.SelectMany(p => new[] { p.Before, p.After }))}").Map(outShape => (pairs, outShape));
        });
    }

    static Either<Error, LGather> Legalize(KerasNode n, string input, Arr<int> x, bool crop)
    {
        var rank = x.Count - 1;
        var offset = ChannelsLastLayout(n) ? 0 : 1;
        return Geometry(n, x.ToArray(), crop, offset).Map(g => IndexMap(n.Id, n, input, x, g.OutShape, coord =>
        {
            var src = (int[])coord.Clone();
            for (var d = 0; d < rank; d++)
            {
                src[d + offset] += crop ? g.Pairs[d].Before : -g.Pairs[d].Before;
                if (src[d + offset] < 0 || src[d + offset] >= x[d + offset]) return null;
            }
            return src;
        }, crop ? "crop" : "zero-pad"));
    }

    static Either<Error, Value> Evaluate(KerasNode n, Value x, bool crop)
    {
        var rank = x.Rank - 1;
        var spatialOffset = ChannelsLastLayout(n) ? 0 : 1;
        return Geometry(n, x.Shape, crop, spatialOffset).Map(g =>
        {
            var (pairs, outShape) = g;
            var y = new float[Shapes.Product(outShape)];
            var coord = new int[x.Rank];
            var outStrides = Shapes.Strides(outShape);
            for (var i = 0; i < x.Data.Length; i++)
            {
                RefKernels.Unravel(i, x.Shape, coord);
                var o = 0;
                var inside = true;
                for (var d = 0; d < x.Rank; d++)
                {
                    var sd = d - spatialOffset;
                    var p = coord[d];
                    if (sd >= 0 && sd < rank) p += crop ? -pairs[sd].Before : pairs[sd].Before;
                    if (p < 0 || p >= outShape[d]) { inside = false; break; }
                    o += p * outStrides[d];
                }
                if (inside) y[o] = x.Data[i];
            }
            return new Value(outShape, y);
        });
    }
}
