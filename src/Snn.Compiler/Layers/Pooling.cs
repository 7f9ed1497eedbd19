using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>AveragePooling1D/2D/3D and MaxPooling1D/2D/3D (with their AvgPool/MaxPool aliases): native pooling windows.</summary>
internal static class PoolingLayers
{
    public static readonly LayerRule Average = Rule(PoolKind.Average,
        Arr.create("AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D"),
        "average pooling; 'same' counts real cells only");

    public static readonly LayerRule Max = Rule(PoolKind.Max,
        Arr.create("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D"),
        "max pooling (spiking: --max-pool)");

    static LayerRule Rule(PoolKind kind, Arr<string> classes, string note) => new(
        classes, LayerSupport.Native, note,
        Legal(i =>
            from x in i.Single
            from spec in SpecOf(i.Node, x.Shape, kind).MapLeft(e => ShapeError(i.Node, e.Message))
            select Lowered.Native(new LPool(i.Node.Id, i.Node.Layer, x.Id, spec))),
        Eval((n, ins) =>
            from x in Single(n, ins)
            from spec in SpecOf(n, x.Shape.ToArr(), kind)
            select Run(spec, x.Data)))
    {
        Checks = n => ConfigChecks.Positive(n, "pool_size", "strides"),
    };

    /// <summary>The pooling geometry of a layer call; a layer setting that does not fit is an error.</summary>
    public static Either<Error, PoolSpec> SpecOf(KerasNode n, Arr<int> inputShape, PoolKind kind)
    {
        var rank = inputShape.Count - 1;
        if (rank < 0) return NegativeRank;
        var padding = n.Config.String("padding").IfNone("valid") == "same" ? Padding.Same : Padding.Valid;
        return from pool in Tuple(n, "pool_size", rank, Enumerable.Repeat(2, rank).ToArr())
               from strides in n.Config.Has("strides") ? Tuple(n, "strides", rank, pool) : pool
               let spec = new PoolSpec(kind, inputShape, pool, strides, padding, !ChannelsFirst(n))
               from _1 in Check(!strides.Exists(s => s == 0), () => ZeroStride)
               from _2 in Check(!spec.OutSpatial.Exists(d => d <= 0), () =>
                   Errors.Shape(n.Id, $"input {Shapes.Show(inputShape)} is smaller than the pool {Shapes.Show(pool)}"))
               select spec;
    }

    public static Value Run(PoolSpec spec, float[] x)
    {
        var y = new float[Shapes.Product(spec.OutputShape)];
        RefKernels.Pool(spec, x, y);
        return new Value(spec.OutputShape.ToArray(), y);
    }
}

/// <summary>GlobalAveragePooling1D/2D/3D and GlobalMaxPooling1D/2D/3D (and aliases): one window over all spatial axes.</summary>
internal static class GlobalPoolingLayers
{
    public static readonly LayerRule Average = Rule(PoolKind.Average,
        Arr.create("GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D"));

    public static readonly LayerRule Max = Rule(PoolKind.Max,
        Arr.create("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D"));

    static LayerRule Rule(PoolKind kind, Arr<string> classes) => new(
        classes, LayerSupport.Native, "pooling over all spatial axes (keepdims too)",
        Legal(i => i.Single.Map(x => Legalize(i.Node, x.Id, x.Shape, kind))),
        Eval((n, ins) => Single(n, ins).Map(x => Evaluate(n, x, kind))));

    static Lowered Legalize(KerasNode n, string input, Arr<int> x, PoolKind kind)
    {
        var last = !ChannelsFirst(n);
        var spatial = last ? x.Take(x.Count - 1).ToArr() : x.Skip(1).ToArr();
        var pool = new LPool(n.Id + ":pre", n.Layer, input, new PoolSpec(kind, x, spatial, spatial.Map(_ => 1), Padding.Valid, last));
        if (n.Config.Bool("keepdims").IfNone(false)) return Lowered.Native(pool with { Id = n.Id });
        return new Lowered(Seq<LegalOp>(pool, new LReshape(n.Id, n.Layer, pool.Id, Arr.create(pool.Spec.Channels))), n.Id, Conversion.Native);
    }

    static Value Evaluate(KerasNode n, Value x, PoolKind kind)
    {
        var channelsLast = !ChannelsFirst(n);
        var spatial = channelsLast ? x.Shape[..^1] : x.Shape[1..];
        var spec = new PoolSpec(kind, x.Shape.ToArr(), spatial.ToArr(), spatial.Select(_ => 1).ToArr(), Padding.Valid, channelsLast);
        var y = new float[spec.Channels];
        RefKernels.Pool(spec, x.Data, y);
        var keep = n.Config.Bool("keepdims").IfNone(false);
        return new Value(keep ? spec.OutputShape.ToArray() : new[] { spec.Channels }, y);
    }
}
