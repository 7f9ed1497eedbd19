using LanguageExt;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Layers;

/// <summary>
/// Checks of a layer's config against itself and against its weights, which every reader runs on every layer call
/// (<see cref="Run"/>): sizes, strides and dilations positive, crops and pads not negative, and units, filters, kernel
/// size and bias presence agreeing with the weights. A disagreement is an error naming the layer and both values;
/// nothing downstream picks one of the two silently.
/// </summary>
public static class ConfigChecks
{
    /// <summary>Every problem of every layer call, as one model error.</summary>
    public static Either<LanguageExt.Common.Error, Unit> Run(Seq<KerasNode> nodes, string source)
    {
        var problems = nodes
            .Bind(n => LayerRegistry.Find(n.ClassName).Map(r => r.Checks(n)).IfNone(Seq<string>())
                .Map(p => Errors.ModelJson(source, $"layer '{Names.Printable(n.Layer)}' ({Names.Printable(n.ClassName)}): {p}")))
            .Strict();
        return problems.IsEmpty ? EitherExtensions.Ok : Errors.Many(problems);
    }

    /// <summary>The spatial rank a class name states (Conv2D → 2), or None.</summary>
    public static Option<int> RankOf(KerasNode n) =>
        n.ClassName.Length > 2 && n.ClassName.EndsWith("D") && n.ClassName[^2] is >= '1' and <= '3' ? Some(n.ClassName[^2] - '0')
        : n.ClassName.EndsWith("DTranspose") && n.ClassName[^11] is >= '1' and <= '3' ? Some(n.ClassName[^11] - '0')
        : None;

    /// <summary>Each listed setting, when given as integers, is at least 1.</summary>
    public static Seq<string> Positive(KerasNode n, params string[] keys) =>
        keys.ToSeq().Bind(k => n.Config.Ints(k).Filter(v => v.Exists(x => x < 1)).Map(v => $"{k} {Shapes.Show(v)} must be positive").ToSeq()).Strict();

    /// <summary>Padding or cropping amounts (one int, one per axis, or pairs) are not negative.</summary>
    public static Seq<string> NotNegative(KerasNode n, string key) =>
        RankOf(n).Bind(rank => n.Config.Pairs(key, rank))
            .Filter(pairs => pairs.Any(p => p.Before < 0 || p.After < 0))
            .Map(pairs => $"{key} ({string.Join(", ", pairs.Select(p => $"{p.Before}, {p.After}"))}) must not be negative").ToSeq();

    /// <summary>A count in the config (units, filters, depth_multiplier) agrees with the weights' size.</summary>
    public static Seq<string> Agrees(KerasNode n, string key, Option<int> fromWeights, string what) =>
        (from configured in n.Config.Ints(key).Filter(v => v.Count == 1).Map(v => v[0])
         from actual in fromWeights
         where configured != actual
         select $"{key} is {configured} but the {what} is {actual}").ToSeq();

    /// <summary>kernel_size agrees with the kernel's spatial shape (its first <paramref name="rank"/> axes).</summary>
    public static Seq<string> KernelSize(KerasNode n, string weight, int rank) =>
        (from size in n.Config.Ints("kernel_size")
         from k in n.Weight(weight)
         where k.Rank >= rank
         let expected = LayerHelpers.PerAxis(size, rank)
         let actual = k.Shape.Take(rank).ToArr()
         where expected != actual
         select $"kernel_size is {Shapes.Show(expected)} but the {weight} is {Shapes.Show(k.Shape)}").ToSeq();

    /// <summary>
    /// use_bias, where the config states it (Keras and TF.js always do), agrees with whether a bias is stored; a stored
    /// bias has <paramref name="size"/> values.
    /// </summary>
    public static Seq<string> Bias(KerasNode n, Option<int> size)
    {
        var bias = n.Weight("bias");
        var stated = n.Config.Bool("use_bias");
        if (stated == Some(true) && bias.IsNone) return Seq1("use_bias is true but the weights have no bias");
        if (stated == Some(false) && bias.IsSome) return Seq1("use_bias is false but the weights hold a bias");
        return (from b in bias
                from s in size
                where b.Length != s
                select $"the bias has {b.Length} values for {s} outputs").ToSeq();
    }

    /// <summary>A dilated kernel's extent, (k − 1)·d + 1 per axis, fits in a shape (no overflow further on).</summary>
    public static Seq<string> DilatedExtent(KerasNode n, string weight, int rank) =>
        (from d in n.Config.Ints("dilation_rate")
         from k in n.Weight(weight)
         where k.Rank >= rank
         let dil = LayerHelpers.PerAxis(d, rank)
         where dil.Count == rank && Enumerable.Range(0, rank).Any(a => ((long)k.Shape[a] - 1) * dil[a] + 1 > int.MaxValue)
         select $"dilation_rate {Shapes.Show(dil)} makes the kernel {Shapes.Show(k.Shape)} wider than any input can be").ToSeq();

    public static Option<int> Axis(KerasNode n, string weight, int fromEnd) =>
        n.Weight(weight).Filter(k => k.Rank >= fromEnd).Map(k => k.Shape[k.Rank - fromEnd]);
}
