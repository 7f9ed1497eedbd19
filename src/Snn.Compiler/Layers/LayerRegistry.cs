using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>
/// Every Keras layer class the compiler knows, one rule per line. Legalize and the reference evaluator dispatch here;
/// a class without a rule is refused (and, by legalize, offered to a fallback only if the evaluator knew it, which it
/// does not). Adding a layer: a file in this folder defining its <see cref="LayerRule"/>, and one line in <see cref="All"/>.
/// </summary>
public static class LayerRegistry
{
    public static readonly Arr<LayerRule> All = Arr.create(
        InputLayerRule.Rule,
        DenseLayer.Rule,
        ConvLayers.Rule,
        DepthwiseConvLayers.Depthwise,
        DepthwiseConvLayers.Separable,
        ConvTransposeLayers.Rule,
        PoolingLayers.Average,
        PoolingLayers.Max,
        GlobalPoolingLayers.Average,
        GlobalPoolingLayers.Max,
        ReshapeLayers.Flatten,
        ReshapeLayers.Reshape,
        PermuteLayer.Rule,
        ActivationLayers.Activation,
        ActivationLayers.Softmax,
        ReluLayers.Relu,
        ReluLayers.Leaky,
        ReluLayers.Parametric,
        MergeLayers.Add,
        MergeLayers.Average,
        MergeLayers.Subtract,
        MergeLayers.Concatenate,
        NormalizationLayers.BatchNormalization,
        NormalizationLayers.Rescaling,
        NormalizationLayers.Normalization,
        PaddingCroppingLayers.ZeroPadding,
        PaddingCroppingLayers.Cropping,
        UpSamplingLayers.Rule,
        IdentityLayers.Rule,
        TimeDistributedLayer.Rule,
        KerasSpikingLayers.SpikingActivationRule,
        KerasSpikingLayers.LowpassRule,
        KerasSpikingLayers.AlphaRule,
        EvaluateOnlyLayers.Elu,
        EvaluateOnlyLayers.ThresholdedRelu,
        EvaluateOnlyLayers.Multiply,
        EvaluateOnlyLayers.Maximum,
        EvaluateOnlyLayers.Minimum);

    /// <summary>Rule by class name (the first rule naming a class wins; a test checks no class is named twice).</summary>
    static readonly Map<string, LayerRule> ByClass =
        All.Fold(Map<string, LayerRule>(), (map, rule) => rule.Classes.Fold(map, (m, cls) => m.TryAdd(cls, rule)));

    /// <summary>The rule for a Keras class; keras_spiking classes also under their registered names (<c>keras_spiking&gt;Lowpass</c>).</summary>
    public static Option<LayerRule> Find(string className) =>
        ByClass.Find(className) || KerasSpiking.ClassOf(className).Bind(ByClass.Find);

    /// <summary>
    /// Classes whose computation the file does not hold as data, refused everywhere (conversion with or without fallback,
    /// the reference evaluator, inspect) with this one explanation.
    /// </summary>
    public static Option<string> Refused(string className) => className switch
    {
        "Lambda" => "a Lambda layer holds Python code, which is never executed, so it is refused with or without --no-fallback; " +
                    "rebuild the model without it (e.g. as built-in Keras layers), or register a custom converter for it in code",
        "TFSMLayer" => "a TFSMLayer wraps a TensorFlow SavedModel (a TensorFlow graph, not Keras layers), which snn cannot read, convert or " +
                       "evaluate; save the original Keras model (.keras or .h5) instead",
        _ => None,
    };

    /// <summary>Why legalize cannot convert a class that has no native rule.</summary>
    public static string NotConvertible(string className) => Refused(className).IfNone(() => (className.Contains('>')
        ? $"custom class '{className}' has no registered converter"
        : $"Layer type {className} does not have a registered converter") +
        " (nothing evaluates it, so it is refused with or without --no-fallback; register a custom converter for this layer type in code)");

    /// <summary>Why the reference evaluator cannot evaluate a class it has no rule for.</summary>
    public static string NotEvaluable(string className) =>
        Refused(className).IfNone("layer type is not supported by the reference evaluator");

    /// <summary>One layer call on one sample by its rule (no boundary: <see cref="KerasEval.EvaluateLayer"/> is the boundary).</summary>
    internal static Either<Error, Value> Evaluate(KerasNode n, Value[] ins) =>
        Find(n.ClassName).Bind(r => r.Evaluate).Match(
            evaluate => evaluate(n, ins),
            () => Left<Error, Value>(LayerHelpers.Refuse(n, NotEvaluable(n.ClassName))));
}
