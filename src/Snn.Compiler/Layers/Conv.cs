using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>Conv1D/2D/3D (valid or same, strides, dilation, channels_first, groups): a native convolution and its fused activation.</summary>
internal static class ConvLayers
{
    public static readonly LayerRule Rule = new(
        Arr.create("Conv1D", "Conv2D", "Conv3D"), LayerSupport.Native, "convolution; padding='causal' falls back",
        Legal(Legalize), Eval(Evaluate))
    {
        Checks = n => ConfigChecks.RankOf(n).Match(rank =>
            ConfigChecks.Positive(n, "filters", "kernel_size", "strides", "dilation_rate", "groups")
            + ConfigChecks.Agrees(n, "filters", ConfigChecks.Axis(n, "kernel", 1), "kernel's last axis")
            + ConfigChecks.KernelSize(n, "kernel", rank)
            + ConfigChecks.DilatedExtent(n, "kernel", rank)
            + ConfigChecks.Bias(n, ConfigChecks.Axis(n, "kernel", 1)), () => Seq<string>()),
    };

    static Either<Error, Lowered> Legalize(LegalizeInput i)
    {
        var n = i.Node;
        return from _ in Check(n.Config.String("padding").IfNone("valid") != "causal", () => BadArg(n, "padding", "'causal'", "'valid' or 'same'"))
               from k in Weight(n, "kernel")
               from x in i.Single
               from spec in LegalSpec(n, x.Shape, k.Shape, n.Config.Ints("groups").Map(g => g[0]).IfNone(1))
               from r in WithActivation(n, new LConv(n.Id + ":pre", n.Layer, x.Id, spec, k, Bias(n)))
               select r;
    }

    static Either<Error, Value> Evaluate(KerasNode n, Value[] ins) =>
        from x in Single(n, ins)
        from _ in Check(n.Config.String("padding").IfNone("valid") != "causal", () => Refuse(n, "padding='causal' is not supported"))
        from k in Weight(n, "kernel")
        from y in Conv(n, x, k, BiasData(n), n.Config.Int("groups", 1))
        from r in Activate(n, y)
        select r;

    /// <summary>The convolution geometry of a layer call; a layer setting that does not fit is an error.</summary>
    public static Either<Error, ConvSpec> SpecOf(KerasNode n, Arr<int> inputShape, Arr<int> kernelShape, int groups)
    {
        var rank = inputShape.Count - 1;
        if (rank < 0) return NegativeRank;
        var ones = Enumerable.Repeat(1, rank).ToArr();
        var padding = n.Config.String("padding").IfNone("valid") == "same" ? Padding.Same : Padding.Valid;
        return from strides in Tuple(n, "strides", rank, ones)
               from dilation in Tuple(n, "dilation_rate", rank, ones)
               let spec = new ConvSpec(inputShape, kernelShape[^1], kernelShape.Take(rank).ToArr(), strides, dilation, padding, !ChannelsFirst(n), groups)
               from _1 in Check(spec.InChannels == kernelShape[rank] * groups, () =>
                   Errors.Shape(n.Id, $"kernel {Shapes.Show(kernelShape)} expects {kernelShape[rank] * groups} input channels, input is {Shapes.Show(inputShape)}"))
               from _2 in Check(!strides.Exists(s => s == 0), () => ZeroStride)
               from _3 in Check(!spec.OutSpatial.Exists(d => d <= 0), () =>
                   Errors.Shape(n.Id, $"input {Shapes.Show(inputShape)} is smaller than the kernel {Shapes.Show(spec.Kernel)}"))
               select spec;
    }

    /// <summary>Legalize's convolution geometry: whatever does not fit is a shape error at the layer.</summary>
    public static Either<Error, ConvSpec> LegalSpec(KerasNode n, Arr<int> input, Arr<int> kernelShape, int groups) =>
        input.Count != kernelShape.Count - 1
            ? ShapeError(n, $"a {kernelShape.Count - 2}-d convolution got input {Shapes.Show(input)}")
            : SpecOf(n, input, kernelShape, groups).MapLeft(e => ShapeError(n, e.Message));

    /// <summary>The evaluator's convolution (Keras kernel layout).</summary>
    public static Either<Error, Value> Conv(KerasNode n, Value x, Tensor kernel, float[] bias, int groups) =>
        from _ in Check(x.Rank == kernel.Rank - 1, () => ShapeError(n, $"a {kernel.Rank - 2}-d convolution got input {Shapes.Show(x.Shape)}"))
        from spec in SpecOf(n, x.Shape.ToArr(), kernel.Shape, groups)
        select Run(spec, kernel, bias, x.Data);

    /// <summary>Runs the reference convolution.</summary>
    public static Value Run(ConvSpec spec, Tensor kernel, float[] bias, float[] x)
    {
        var y = new float[Shapes.Product(spec.OutputShape)];
        RefKernels.Conv(spec, kernel.Span, bias, x, y);
        return new Value(spec.OutputShape.ToArray(), y);
    }
}
