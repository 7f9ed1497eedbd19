using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>
/// Activation (relu, sigmoid, tanh natively; linear removed; softmax only as the final output) and the Softmax layer
/// (last axis only). Other activation names fall back.
/// </summary>
internal static class ActivationLayers
{
    public static readonly LayerRule Activation = new(
        Arr.create("Activation"), LayerSupport.Native, "relu, sigmoid, tanh, softmax (output only); linear is removed",
        Legal(i => i.Single.Bind(x => LegalizeActivation(i.Node, x.Id, x.Shape))),
        Eval((n, ins) => Single(n, ins).Bind(x => Activate(n, x))));

    public static readonly LayerRule Softmax = new(
        Arr.create("Softmax"), LayerSupport.Native, "softmax on the last axis, applied in the readout",
        Legal(i =>
        {
            var axis = i.Node.Config.Int("axis", -1);
            return from x in i.Single
                   from _ in Check(axis == -1 || axis == x.Shape.Count, () => BadArg(i.Node, "axis", axis.ToString(), "-1 (the last axis)"))
                   select Lowered.Native(new LActivation(i.Node.Id, i.Node.Layer, x.Id, x.Shape, new SoftmaxAct()));
        }),
        Eval((n, ins) =>
            from x in Single(n, ins)
            from _ in Check(Shapes.Axis(n.Config.Int("axis", -1), x.Rank + 1) - 1 == x.Rank - 1, () => Refuse(n, "softmax is supported on the last axis only"))
            select Softmaxed(x)));

    static Either<Error, Lowered> LegalizeActivation(KerasNode n, string input, Arr<int> shape)
    {
        var name = n.Config.Activation().IfNone("linear");
        if (name == "linear") return new Lowered(Seq<LegalOp>(), input, Conversion.Removed, "linear activation is the identity");
        return ActOf(n, name).Map(act => Lowered.Native(new LActivation(n.Id, n.Layer, input, shape, act)));
    }

    static Value Softmaxed(Value x)
    {
        var y = (float[])x.Data.Clone();
        Activations.Apply("softmax", y, x.Shape[^1]);
        return x with { Data = y };
    }
}
