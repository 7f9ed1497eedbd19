using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>Permute: the non-batch axes reordered (Keras counts them from 1), as a transposing gather.</summary>
internal static class PermuteLayer
{
    public static readonly LayerRule Rule = new(
        Arr.create("Permute"), LayerSupport.Native, "a transposing gather",
        Legal(i =>
            from dims in Dims(i.Node)
            from x in i.Single
            select Lowered.Native(Transpose(i.Node.Id, i.Node, x.Id, x.Shape, dims))),
        Eval((n, ins) =>
            from x in Single(n, ins)
            from dims in Dims(n)
            let y = RefKernels.Transpose(x.Data, x.Shape, dims)
            select new Value(dims.Select(d => x.Shape[d]).ToArray(), y)));

    static Either<Error, int[]> Dims(KerasNode n) => n.Config.Ints("dims").ToEither(() => Refuse(n, "missing dims")).Map(d => d.Map(v => v - 1).ToArray());
}
