using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Saved;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Facade;

/// <summary>What inspect and verify compute in the Snn library: the conversion per layer, settings in words, the comparison with Keras.</summary>
public class InspectionTests
{
    static Compiler.Keras.KerasModel Model() => TestModels.Sequential(new[] { 3 },
        new TestModels.L("Dense", "h", new { units = 4, activation = "relu" }, ("kernel", TestModels.Random(new[] { 3, 4 }, 1)), ("bias", Tensor.Filled(new[] { 4 }, 0.1f))),
        new TestModels.L("Dense", "out", new { units = 2 }, ("kernel", TestModels.Random(new[] { 4, 2 }, 2)), ("bias", Tensor.Filled(new[] { 2 }, 0f))));

    [Fact]
    public void InspectionListsEveryLayerWithItsNeuronsAndScale()
    {
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default with { ScaleFiringRates = Some(5f) } };
        var i = Inspection.Of(Converted.Of(Compile.Run(options, Model()).Ok()));
        Assert.Equal(new[] { "input", "h", "out" }, i.Layers.Map(l => l.Layer).ToArray());
        Assert.Equal(4, i.Layers[1].Neurons);
        Assert.Equal(5f, i.Layers[1].Scale);
        Assert.Null(i.Layers[2].Scale);
        Assert.Equal(4, i.Neurons);
        Assert.Equal(0, i.FallbackLayers);
        Assert.True(i.Ops > 0 && i.LoweredOps >= i.Ops);
    }

    [Fact]
    public void SettingsInWords()
    {
        var c = ConvertOptions.Default with { MaxPool = MaxPoolMethod.Pre, ScaleFiringRates = Some(100f), Synapse = Some(new Lowpass(0.005f)) };
        Assert.Equal("max-pool pre · neuron nengo · scale 100 · synapse 0.005 s · initial voltage uniform", Inspection.Settings(c, None));
        var cal = new SavedCalibration(CalibrateOptions.Default, "x.npy", None, Seq(new LayerScale("a", 1, 1, 2), new LayerScale("b", 1, 1, 4)));
        Assert.Equal("max-pool count · neuron signed · scale per channel from calibration · synapse none · initial voltage half · " +
                     "calibrated on x.npy (p99.9, spikes per step at it by layer: a 2, b 4)",
            Inspection.Settings(Presets.WithNeuron(ConvertOptions.Default with { InitialVoltage = InitialVoltage.Half }, NeuronChoice.Signed), Some(cal)));
    }

    [Fact]
    public void VerificationComparesWithinTolerance()
    {
        var keras = Seq1(Tensor.Vector(new[] { 1f, 2f }));
        var close = Verification.Compare(keras, Seq1(Tensor.Vector(new[] { 1f, 2.00001f })), 1e-6f, 1e-5f);
        Assert.True(close.Matches);
        Assert.InRange(close.MaxDiff, 9e-6, 1.1e-5);
        Assert.False(Verification.Compare(keras, Seq1(Tensor.Vector(new[] { 1f, 2.1f })), 1e-6f, 1e-5f).Matches);
        Assert.False(Verification.Compare(keras, Seq1(Tensor.Vector(new[] { float.NaN, 2f })), 1e-6f, 1e-5f).Matches);
        // numpy.isclose([inf, -inf, inf], [inf, -inf, -inf]) is [True, True, False]: both sides overflowing the same way agree.
        var inf = Seq1(Tensor.Vector(new[] { float.PositiveInfinity, float.NegativeInfinity, 1f }));
        var same = Verification.Compare(inf, Seq1(Tensor.Vector(new[] { float.PositiveInfinity, float.NegativeInfinity, 1f })), 1e-6f, 1e-5f);
        Assert.True(same.Matches);
        Assert.Equal(0.0, same.MaxDiff);
        var opposite = Verification.Compare(inf, Seq1(Tensor.Vector(new[] { float.NegativeInfinity, float.NegativeInfinity, 1f })), 1e-6f, 1e-5f);
        Assert.False(opposite.Matches);
        Assert.Equal(double.PositiveInfinity, opposite.MaxDiff);
        // numpy.isclose(1e30, inf) is False: rtol·|inf| must not excuse a finite value against an infinite one.
        Assert.False(Verification.Compare(Seq1(Tensor.Vector(new[] { 1e30f })), Seq1(Tensor.Vector(new[] { float.PositiveInfinity })), 1e-6f, 1e-5f).Matches);

        var model = Loaded.Of("m.keras", Model());
        var inputs = DataFiles.Ones(model.InputShapes).Ok();
        var run = Verification.Run(RunRequest.Of(CompileOptions.Default), model, inputs, 1e-6f, 1e-5f).Ok();
        Assert.True(run.Matches, $"max diff {run.MaxDiff}");
    }
}
