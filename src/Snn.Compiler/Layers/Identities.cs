using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>Layers that are the identity at inference (the Dropout family, noise, ActivityRegularization): removed.</summary>
internal static class IdentityLayers
{
    public static readonly LayerRule Rule = new(
        Arr.create("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
            "AlphaDropout", "ActivityRegularization"),
        LayerSupport.Identity, "identity at inference",
        Legal(i =>
            i.Single.Map(x => new Lowered(Seq<LegalOp>(), x.Id, Conversion.Removed, "identity at inference"))),
        Eval(Single));
}
