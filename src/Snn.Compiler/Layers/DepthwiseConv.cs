using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>
/// DepthwiseConv1D/2D and SeparableConv1D/2D as grouped convolutions: the depthwise kernel [k..., C, M] is a
/// grouped-convolution kernel [k..., 1, C*M] with C groups; a separable convolution adds the pointwise one.
/// </summary>
internal static class DepthwiseConvLayers
{
    public static readonly LayerRule Depthwise = new(
        Arr.create("DepthwiseConv1D", "DepthwiseConv2D"), LayerSupport.Native, "grouped convolution, one group per input channel",
        Legal(LegalizeDepthwise), Eval(EvaluateDepthwise)) { Checks = n => DepthwiseChecks(n) + ConfigChecks.Bias(n, DepthwiseOutputs(n)) };

    public static readonly LayerRule Separable = new(
        Arr.create("SeparableConv1D", "SeparableConv2D"), LayerSupport.Native, "depthwise grouped convolution, then a pointwise one",
        Legal(LegalizeSeparable), Eval(EvaluateSeparable))
    {
        Checks = n => DepthwiseChecks(n) + ConfigChecks.Positive(n, "filters")
            + ConfigChecks.Agrees(n, "filters", ConfigChecks.Axis(n, "pointwise_kernel", 1), "pointwise kernel's last axis")
            + ConfigChecks.Bias(n, ConfigChecks.Axis(n, "pointwise_kernel", 1)),
    };

    /// <summary>The depthwise kernel [k..., C, M]: C·M outputs.</summary>
    static Option<int> DepthwiseOutputs(KerasNode n) =>
        from c in ConfigChecks.Axis(n, "depthwise_kernel", 2)
        from m in ConfigChecks.Axis(n, "depthwise_kernel", 1)
        select c * m;

    /// <summary>The depthwise stage's settings against the depthwise kernel (the bias is checked by each layer).</summary>
    static Seq<string> DepthwiseChecks(KerasNode n) => ConfigChecks.RankOf(n).Match(rank =>
        ConfigChecks.Positive(n, "kernel_size", "strides", "dilation_rate", "depth_multiplier")
        + ConfigChecks.Agrees(n, "depth_multiplier", ConfigChecks.Axis(n, "depthwise_kernel", 1), "depthwise kernel's last axis")
        + ConfigChecks.KernelSize(n, "depthwise_kernel", rank)
        + ConfigChecks.DilatedExtent(n, "depthwise_kernel", rank), () => Seq<string>());

    /// <summary>A depthwise kernel [k..., C, M] as a grouped-convolution kernel [k..., 1, C*M] (same memory order).</summary>
    static Tensor Grouped(Tensor dk) =>
        dk.Reshape(dk.Shape.Take(dk.Rank - 2).Append(1).Append(dk.Shape[^2] * dk.Shape[^1]).ToArr());

    /// <summary>The depthwise stage over the call's only input: its input id, grouped kernel and geometry.</summary>
    static Either<Error, (string Input, Tensor Kernel, ConvSpec Spec)> DepthwiseStage(LegalizeInput i) =>
        from dk in Weight(i.Node, "depthwise_kernel")
        let grouped = Grouped(dk)
        from x in i.Single
        from spec in ConvLayers.LegalSpec(i.Node, x.Shape, grouped.Shape, dk.Shape[^2])
        select (x.Id, grouped, spec);

    static Either<Error, Lowered> LegalizeDepthwise(LegalizeInput i) =>
        DepthwiseStage(i).Bind(d => WithActivation(i.Node, new LConv(i.Node.Id + ":pre", i.Node.Layer, d.Input, d.Spec, d.Kernel, Bias(i.Node))));

    static Either<Error, Lowered> LegalizeSeparable(LegalizeInput i)
    {
        var n = i.Node;
        return from d in DepthwiseStage(i)
               let depth = new LConv(n.Id + ":depthwise", n.Layer, d.Input, d.Spec, d.Kernel, None)
               from pk in Weight(n, "pointwise_kernel")
               let ones = Enumerable.Repeat(1, pk.Rank - 2).ToArr()
               let pointSpec = new ConvSpec(d.Spec.OutputShape, pk.Shape[^1], ones, ones, ones, Padding.Valid, d.Spec.ChannelsLast, 1)
               from act in WithActivation(n, new LConv(n.Id + ":pre", n.Layer, depth.Id, pointSpec, pk, Bias(n)))
               select act with { Ops = Seq1<LegalOp>(depth).Concat(act.Ops).ToSeq().Strict() };
    }

    static Either<Error, Value> EvaluateDepthwise(KerasNode n, Value[] ins) =>
        from x in Single(n, ins)
        from k in Weight(n, "depthwise_kernel")
        let grouped = Grouped(k)
        from y in ConvLayers.Conv(n, x, grouped, BiasData(n), k.Shape[^2])
        from r in Activate(n, y)
        select r;

    static Either<Error, Value> EvaluateSeparable(KerasNode n, Value[] ins) =>
        from x in Single(n, ins)
        from dk in Weight(n, "depthwise_kernel")
        let grouped = Grouped(dk)
        from mid in ConvLayers.Conv(n, x, grouped, System.Array.Empty<float>(), dk.Shape[^2])
        from pk in Weight(n, "pointwise_kernel")
        let filters = pk.Shape[^1]
        let ones = Enumerable.Repeat(1, pk.Rank - 2).ToArr()
        let pointwise = new ConvSpec(mid.Shape.ToArr(), filters, ones, ones, ones, Padding.Valid, !ChannelsFirst(n), 1)
        from r in Activate(n, ConvLayers.Run(pointwise, pk, BiasData(n), mid.Data))
        select r;
}
