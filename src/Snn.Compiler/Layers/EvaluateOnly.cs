using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>
/// Layers with no native rule that the reference evaluator knows: ELU, ThresholdedReLU, Multiply, Maximum and
/// Minimum. Legalize refuses them as types without a converter, and they run in a fallback function node.
/// </summary>
internal static class EvaluateOnlyLayers
{
    public static readonly LayerRule Elu = Rule("ELU", (n, ins) =>
    {
        var alpha = (float)n.Config.Number("alpha").IfNone(1.0);
        return Single(n, ins).Map(x => Map(x, v => v > 0 ? v : alpha * (MathF.Exp(v) - 1f)));
    });

    public static readonly LayerRule ThresholdedRelu = Rule("ThresholdedReLU", (n, ins) =>
    {
        var theta = (float)n.Config.Number("theta").IfNone(1.0);
        return Single(n, ins).Map(x => Map(x, v => v > theta ? v : 0f));
    });

    public static readonly LayerRule Multiply = Rule("Multiply", (n, ins) => MergeLayers.Combine(n, ins, (a, b) => a * b));
    public static readonly LayerRule Maximum = Rule("Maximum", (n, ins) => MergeLayers.Combine(n, ins, MathF.Max));
    public static readonly LayerRule Minimum = Rule("Minimum", (n, ins) => MergeLayers.Combine(n, ins, MathF.Min));

    static LayerRule Rule(string cls, Func<KerasNode, Value[], Either<Error, Value>> evaluate) =>
        new(Arr.create(cls), LayerSupport.FallbackOnly, "reference evaluator only (fallback)", None, Some(evaluate));
}
