using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>Flatten (channels_first data is transposed to channels_last first, as Keras does) and Reshape.</summary>
internal static class ReshapeLayers
{
    public static readonly LayerRule Flatten = new(
        Arr.create("Flatten"), LayerSupport.Native, "a reshape (channels_first: transposed first)",
        Legal(i => i.Single.Map(x => LegalizeFlatten(i.Node, x.Id, x.Shape))),
        Eval((n, ins) => Single(n, ins).Map(x =>
        {
            var data = ChannelsFirst(n) && x.Rank > 1 ? RefKernels.Transpose(x.Data, x.Shape, RefKernels.FirstToLast(x.Rank)) : x.Data;
            return new Value(new[] { data.Length }, data);
        })));

    public static readonly LayerRule Reshape = new(
        Arr.create("Reshape"), LayerSupport.Native, "a reshape",
        Legal(i =>
            from x in i.Single
            from target in Target(i.Node)
            from shape in Resolve(i.Node, target, Shapes.Product(x.Shape))
            select Lowered.Native(new LReshape(i.Node.Id, i.Node.Layer, x.Id, shape.ToArr()))),
        Eval((n, ins) =>
            from x in Single(n, ins)
            from target in Target(n)
            from shape in Resolve(n, target, x.Data.Length)
            select new Value(shape, x.Data)))
    {
        // A temporal model's Reshape targets lose their time dimension.
        PerStep = Some<Func<KerasNode, KerasNode>>(n => n.Config.Dims("target_shape").TryGet(out var target) && target.Count > 1
            ? n with { Config = LayerConfig.Parse(System.Text.Json.JsonSerializer.Serialize(new { name = n.Layer, target_shape = target.Skip(1).Map(d => d < 0 ? (int?)null : d) })) }
            : n),
    };

    static Lowered LegalizeFlatten(KerasNode n, string input, Arr<int> x)
    {
        var flat = Arr.create(Shapes.Product(x));
        if (ChannelsFirst(n) && x.Count > 1)
        {
            var t = Transpose(n.Id + ":pre", n, input, x, RefKernels.FirstToLast(x.Count));
            return new Lowered(Seq<LegalOp>(t, new LReshape(n.Id, n.Layer, t.Id, flat)), n.Id, Conversion.Native, "channels_first: transposed to channels_last");
        }
        return Lowered.Native(new LReshape(n.Id, n.Layer, input, flat));
    }

    static Either<Error, Arr<int>> Target(KerasNode n) => n.Config.Dims("target_shape").ToEither(() => Refuse(n, "missing target_shape"));

    static Either<Error, int[]> Resolve(KerasNode n, Arr<int> target, int size) =>
        Shapes.ResolveReshape(target, size).ToEither(() => ShapeError(n, $"cannot reshape {size} values to {Shapes.Show(target)}"));
}
