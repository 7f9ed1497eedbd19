using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>UpSampling1D/2D/3D with nearest interpolation: a gather repeating every cell along the spatial axes.</summary>
internal static class UpSamplingLayers
{
    public static readonly LayerRule Rule = new(
        Arr.create("UpSampling1D", "UpSampling2D", "UpSampling3D"), LayerSupport.Native, "a repeating gather (nearest)",
        Legal(i =>
            from x in i.Single
            from g in Legalize(i.Node, x.Id, x.Shape)
            select Lowered.Native(g)),
        Eval((n, ins) => Single(n, ins).Bind(x => Evaluate(n, x))))
    {
        Checks = n => ConfigChecks.Positive(n, "size"),
    };

    static Either<Error, LGather> Legalize(KerasNode n, string input, Arr<int> x)
    {
        if (n.Config.String("interpolation").IfNone("nearest") != "nearest") return BadArg(n, "interpolation", n.Config.String("interpolation").IfNone(""), "'nearest'");
        var rank = x.Count - 1;
        var raw = n.Config.Ints("size").IfNone(Arr.create(2));
        var size = raw.Count == rank ? raw.ToArray() : Enumerable.Repeat(raw[0], rank).ToArray();
        var offset = ChannelsLastLayout(n) ? 0 : 1;
        return Scaled(n, x.ToArray(), size, offset).Map(outShape => IndexMap(n.Id, n, input, x, outShape, coord =>
        {
            var src = (int[])coord.Clone();
            for (var d = 0; d < rank; d++) src[d + offset] /= size[d];
            return src;
        }, "upsample"));
    }

    /// <summary>The per-sample shape <paramref name="x"/> with each spatial axis (from <paramref name="offset"/>) multiplied by its size.</summary>
    static Either<Error, int[]> Scaled(KerasNode n, int[] x, IReadOnlyList<int> size, int offset)
    {
        var wide = x.Select(d => (long)d).ToArray();
        for (var d = 0; d < size.Count; d++) wide[d + offset] *= size[d];
        return OutputShape(n, wide, $"size {Shapes.Show(size)}");
    }

    static Either<Error, Value> Evaluate(KerasNode n, Value x)
    {
        if (n.Config.String("interpolation").IfNone("nearest") != "nearest") return Refuse(n, "only nearest interpolation is supported");
        var channelsLast = !ChannelsFirst(n) || n.ClassName == "UpSampling1D";
        var rank = x.Rank - 1;
        var size = n.ClassName == "UpSampling1D" ? Tuple(n, "size", 1, Arr.create(2)) : Tuple(n, "size", rank, Enumerable.Repeat(2, rank).ToArr());
        return from s in size
               from outShape in Scaled(n, x.Shape, s.ToArray(), channelsLast ? 0 : 1)
               select Repeat(x, s, outShape, channelsLast ? 0 : 1);
    }

    static Value Repeat(Value x, Arr<int> size, int[] outShape, int offset)
    {
        var rank = x.Rank - 1;
        var y = new float[Shapes.Product(outShape)];
        var coord = new int[x.Rank];
        var inStrides = Shapes.Strides(x.Shape);
        for (var o = 0; o < y.Length; o++)
        {
            RefKernels.Unravel(o, outShape, coord);
            var i = 0;
            for (var d = 0; d < x.Rank; d++)
            {
                var sd = d - offset;
                var p = sd >= 0 && sd < rank ? coord[d] / size[sd] : coord[d];
                i += p * inStrides[d];
            }
            y[o] = x.Data[i];
        }
        return new Value(outShape, y);
    }
}
