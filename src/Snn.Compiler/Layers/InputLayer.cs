using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;

namespace Snn.Compiler.Layers;

/// <summary>InputLayer: the model input (without its time axis in a temporal model). The evaluator reads inputs directly.</summary>
internal static class InputLayerRule
{
    public static readonly LayerRule Rule = new(
        Arr.create("InputLayer"), LayerSupport.Native, "a model input",
        Legal(Legalize), None);

    static Either<Error, Lowered> Legalize(LegalizeInput i)
    {
        var n = i.Node;
        var full = i.Model.InputShapes[i.InputIndex];
        var shape = i.Options.Temporal ? full.Skip(1).ToArr() : full;
        var max = global::Snn.Compiler.Legalize.Legalize.MaxElements;
        if (shape.Fold(1L, (p, d) => Math.Min(p * Math.Max(d, 1), long.MaxValue / 4)) > max)
            return ShapeError(n, $"input shape {Shapes.Show(shape)} has more than {max} elements per sample");
        if (shape.Exists(d => d < 0))
            return ShapeError(n, $"Input shapes must be fully specified; got {Shapes.Show(full.Map(d => d < 0 ? "None" : d.ToString()))}" +
                                 (i.Options.Temporal ? "" : ". If inputs contain None in the first axis to indicate a variable number of timesteps, set temporal_model (--temporal-model)"));
        return Lowered.Native(new LInput(n.Id, n.Layer, shape, i.InputIndex));
    }
}
