using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Legalize;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Passes;

/// <summary>Before/Expected tests of the legalize pass.</summary>
public class LegalizeTests
{
    static LegalGraph Run(Snn.Compiler.Keras.KerasModel m, bool split = false) =>
        LegalVerify.Run(Legalize.Run(new LegalizeOptions(split), m).Ok()).Ok();

    static readonly Tensor K = T(new[] { 2, 2 }, 1f, 2f, 3f, 4f);
    static readonly Tensor B = T(new[] { 2 }, 0.5f, -1f);

    [Fact]
    public void SplitsFusedActivationAndDropsDropout()
    {
        var g = Run(Sequential(new[] { 2 },
            new L("Dense", "d", new { units = 2, activation = "relu" }, ("kernel", K), ("bias", B)),
            new L("Dropout", "drop", new { rate = 0.5 })));
        var expected = Seq<LegalOp>(
            new LInput("input", "input", Arr.create(2), 0),
            new LDense("d:pre", "d", "input", Arr.create(2), K, Some(B)),
            new LActivation("d", "d", "d:pre", Arr.create(2), new Relu()));
        Assert.Equal(expected, g.Ops);
        Assert.Equal(Seq1("d"), g.Outputs);
        Assert.Equal(Conversion.Removed, g.Layers.Find(l => l.Layer == "drop").Map(l => l.Conversion).IfNone(Conversion.Native));
    }

    [Fact]
    public void FoldsBatchNormalizationIntoDense()
    {
        // scale = gamma / sqrt(var + eps), shift = beta - scale * mean (NengoDL ConvertBatchNormalization)
        var g = Run(Sequential(new[] { 2 },
            new L("Dense", "d", new { units = 2 }, ("kernel", K), ("bias", B)),
            new L("BatchNormalization", "bn", new { epsilon = 0.0 },
                ("gamma", T(new[] { 2 }, 2f, 3f)), ("beta", T(new[] { 2 }, 1f, 0f)),
                ("moving_mean", T(new[] { 2 }, 0.5f, 1f)), ("moving_variance", T(new[] { 2 }, 4f, 9f)))));
        // scale = (1, 1), shift = (1 - 0.5, 0 - 1) = (0.5, -1); kernel columns x scale; bias = b*scale + shift
        var expected = Seq<LegalOp>(
            new LInput("input", "input", Arr.create(2), 0),
            new LDense("bn", "d", "input", Arr.create(2), K, Some(T(new[] { 2 }, 1f, -2f)))
            {
                // The fold is recorded, so it can be inverted (writing trained weights back into the Keras model).
                Folded = Seq1(new FoldedAffine("bn", "bn", T(new[] { 2 }, 1f, 1f), T(new[] { 2 }, 0.5f, -1f))),
            });
        Assert.Equal(expected, g.Ops);
        Assert.Equal(Conversion.Folded, g.Layers.Find(l => l.Layer == "bn").Map(l => l.Conversion).IfNone(Conversion.Native));
    }

    [Fact]
    public void KeepsBatchNormalizationAfterAddAsAffine()
    {
        var g = Run(Functional(new[] { "a", "b" }, new[] { new[] { 2 }, new[] { 2 } }, new[] { "bn" },
            (new L("Add", "add", new { }), new[] { "a", "b" }),
            (new L("BatchNormalization", "bn", new { epsilon = 0.0 },
                ("gamma", T(new[] { 2 }, 2f, 3f)), ("beta", T(new[] { 2 }, 1f, 0f)),
                ("moving_mean", T(new[] { 2 }, 0.5f, 1f)), ("moving_variance", T(new[] { 2 }, 4f, 9f))), new[] { "add" })));
        var affine = Assert.IsType<LAffine>(g.Ops.Last);
        Assert.Equal(T(new[] { 2 }, 1f, 1f), affine.Scale);
        Assert.Equal(T(new[] { 2 }, 0.5f, -1f), affine.Shift);
    }

    [Fact]
    public void FlattenAfterChannelsFirstTransposesToChannelsLast()
    {
        var g = Run(Sequential(new[] { 2, 1, 2 }, new L("Flatten", "f", new { data_format = "channels_first" })));
        // (C=2, H=1, W=2) -> (H, W, C): element (h, w, c) comes from c*2 + w
        var gather = Assert.IsType<LGather>(g.Ops[1]);
        Assert.Equal(Arr.create(0, 2, 1, 3), gather.Index);
        Assert.Equal(Arr.create(1, 2, 2), gather.Shape);
        Assert.Equal(new LReshape("f", "f", "f:pre", Arr.create(4)), g.Ops[2]);
    }

    [Fact]
    public void ReportsEveryUnsupportedLayerAtOnce()
    {
        var result = Legalize.Run(LegalizeOptions.Default, Sequential(new[] { 2 },
            new L("Lambda", "lam", new { function = "lambda x: x" }),
            new L("Dense", "d", new { units = 2 }, ("kernel", K)),
            new L("Frobnicate", "frob", new { })));
        var errors = result.Match(_ => Seq<LanguageExt.Common.Error>(), e => e);
        Assert.Equal(2, errors.Count);
        Assert.Contains(errors, e => e.Message.Contains("'lam'") && e.Message.Contains("never executed"));
        Assert.Contains(errors, e => e.Message.Contains("Frobnicate does not have a registered converter"));
    }

    [Fact]
    public void SharedWeightsNeedSplitSharedWeights()
    {
        var dense = new L("Dense", "d", new { units = 2 }, ("kernel", K));
        var m = Functional(new[] { "x" }, new[] { new[] { 2 } }, new[] { "d" }, (dense, new[] { "x" }));
        // Apply the same layer twice by adding a second inbound node.
        var twice = m with { Nodes = m.Nodes.Add(m.Nodes.Last with { Id = "d#1", Inputs = Seq1(new Snn.Compiler.Keras.KerasValue("d")) }), Outputs = Seq1(new Snn.Compiler.Keras.KerasValue("d#1")) };
        var error = Legalize.Run(LegalizeOptions.Default, twice).Match(_ => "", e => e.Head.Message);
        Assert.Contains("not supported unless split_shared_weights", error);
        Assert.Equal(2, Run(twice, split: true).Ops.Count(o => o is LDense));
    }

    [Fact]
    public void SoftmaxIsLegalOnlyAsTheFinalOutput()
    {
        var ok = Run(Sequential(new[] { 2 }, new L("Dense", "d", new { units = 2, activation = "softmax" }, ("kernel", K))));
        Assert.IsType<SoftmaxAct>(((LActivation)ok.Ops.Last).Act);
        var bad = Legalize.Run(LegalizeOptions.Default, Sequential(new[] { 2 },
            new L("Dense", "d", new { units = 2, activation = "softmax" }, ("kernel", K)),
            new L("Dense", "e", new { units = 2 }, ("kernel", K))));
        Assert.Contains("softmax is supported only as the final output", bad.Match(_ => "", e => e.Head.Message));
    }
}
