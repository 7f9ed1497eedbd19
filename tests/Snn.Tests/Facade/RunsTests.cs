using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Compiler.Saved;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Facade;

/// <summary>The Snn library's run requests: what a mode's defaults fill in, and how calibration takes the run's steps.</summary>
public class RunsTests
{
    [Fact]
    public void AModeFillsInWhatTheSimulationRequestLeavesOpen()
    {
        var none = SimRequest.Default;
        Assert.Equal(32, none.StepsFor(Mode.Spiking));
        Assert.Equal(1, none.StepsFor(Mode.Rate));
        Assert.Equal(new ReadoutChoice(Readout.Mean), none.ReadoutFor(Mode.Spiking));
        Assert.Equal(new ReadoutChoice(Readout.Last), none.ReadoutFor(Mode.Rate));
        var given = new SimRequest(Some(8), Some(new ReadoutChoice(Readout.MeanLast, 3)), Encoding.Poisson, Some(7), Some(2));
        Assert.Equal(8, given.StepsFor(Mode.Rate));
        var options = CompileOptions.Default with
        {
            Legalize = LegalizeOptions.Default with { Temporal = true }, Convert = ConvertOptions.Default with { Seed = 5 },
        };
        var sim = given.For(options, Mode.Spiking, 8);
        Assert.Equal(new SimOptions(8, Readout.MeanLast, 7, 2, Temporal: true) { Window = 3, Encoding = Encoding.Poisson, Seed = 5 }, sim);
        Assert.Equal(new SimOptions(4, Readout.Last, 100, 0), none.For(CompileOptions.Default, Mode.Rate, 4));
    }

    [Theory]
    [InlineData(Readout.Last, 1, "last")]
    [InlineData(Readout.Mean, 1, "mean")]
    [InlineData(Readout.Count, 1, "count")]
    [InlineData(Readout.MeanLast, 4, "mean:4")]
    public void AReadoutIsNamedAsTheCommandLineNamesIt(Readout readout, int window, string name) =>
        Assert.Equal(name, new ReadoutChoice(readout, window).ToString());

    [Fact]
    public void CalibrationTakesTheRunsStepsForBiasShiftAndTargetsWithoutSteps()
    {
        var request = new CalibrationRequest("c.npy", None, CalibrateOptions.Default, BiasShift: true,
            Seq(new TargetRequest(0.9, None, "0.9"), new TargetRequest(0.95, Some(4), "0.95@4")));
        var o = request.OptionsFor(16).Ok();
        Assert.Equal(16, o.BiasShiftSteps);
        Assert.Equal(Seq(new AgreementTarget(0.9, 16), new AgreementTarget(0.95, 4)), o.Targets);
        Assert.Equal(0, (request with { BiasShift = false }).OptionsFor(16).Ok().BiasShiftSteps);
        // A run without steps (inspect's rate form) cannot place a target that names none.
        var e = request.OptionsFor(0).Err();
        Assert.Contains("got '0.9'", e.Message);
        Assert.Equal(Errors.UsageCode, e.Code);
        Assert.Single((request with { Targets = Seq1(new TargetRequest(0.95, Some(4))) }).OptionsFor(0).Ok().Targets);
    }

    static KerasModel Dense() =>
        TestModels.Sequential(new[] { 3 }, new TestModels.L("Dense", "d", new { units = 2, activation = "relu", use_bias = true },
            ("kernel", TestModels.Random(new[] { 3, 2 }, 1)), ("bias", Tensor.Filled(new[] { 2 }, 0.1f))));

    [Fact]
    public void TheCalibrationOnRecordIsTheRequestsForAKerasModelAndTheFilesForASavedNetwork()
    {
        var calibration = new CalibrationRequest("/data/calib.npy", Some(0.5f), CalibrateOptions.Default with { Percentile = 99 });
        var request = new RunRequest(CompileOptions.Default, Some(calibration), SimRequest.Default);
        var keras = Loaded.Of("m.keras", Dense());
        var scales = Seq1(new LayerScale("d", 2f, 0.5f, 2f));
        var record = Runs.CalibrationOf(request, keras, 8, scales).Ok().IfNone(() => throw new InvalidOperationException("no calibration"));
        Assert.Equal(new SavedCalibration(calibration.Options, "calib.npy", Some(0.5f), scales), record);
        Assert.True(Runs.CalibrationOf(RunRequest.Of(CompileOptions.Default), keras, 8, scales).Ok().IsNone);
        Assert.Same(request.Options, Runs.OptionsOf(request, keras));

        var options = CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { Seed = 3 } };
        var saved = SavedNetwork.Of(Compile.Run(options, Dense()).Ok(), options, None, "", None).Ok();
        var file = Loaded.Of("n.snnz", saved);
        Assert.True(Runs.CalibrationOf(request, file, 8, scales).Ok().IsNone);   // the file's: none
        Assert.Equal(3, Runs.OptionsOf(request, file).Convert.Seed);
    }

    [Fact]
    public void PrepareCompilesAKerasModelWithSpikingNeuronsInSpikingModeOnly()
    {
        var request = RunRequest.Of(CompileOptions.Default) with { Sim = new SimRequest(Readout: Some(new ReadoutChoice(Readout.Count))) };
        var model = Loaded.Of("m.keras", Dense());
        var spiking = Runs.Prepare(request, model, Mode.Spiking, 5).Ok();
        var rate = Runs.Prepare(request, model, Mode.Rate, 1).Ok();
        Assert.True(spiking.Net.Network.Nodes.OfType<Ensemble>().All(e => e.Neuron.Spiking));
        Assert.DoesNotContain(rate.Net.Network.Nodes.OfType<Ensemble>(), e => e.Neuron.Spiking);
        Assert.Equal((5, Readout.Count), (spiking.Sim.Steps, spiking.Sim.Readout));
        // The network per mode takes the mode's steps.
        Assert.Equal(32, Runs.Network(request, model)(Mode.Spiking).Ok().Sim.Steps);
    }

    [Fact]
    public void ASavedNetworkImportsItsKerasModelOnceAndSaysWhenItHoldsNone()
    {
        var (model, source) = ModelFile.ImportWithSource(Path.Combine(TestModels.Fixture("tfjs", "dense_mlp"), "model.json")).Ok();
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() };
        var compiled = Compile.Run(options, model).Ok();
        var with = Loaded.Of("a.snnz", SavedNetwork.Of(compiled, options, Some(source), "", None).Ok());
        Assert.Same(with.Keras().Ok(), with.Keras().Ok());
        Assert.Equal(model.Name, with.Keras().Ok().Name);
        var without = Loaded.Of("b.snnz", SavedNetwork.Of(compiled, options, None, "", None).Ok());
        Assert.Contains("holds no Keras model", without.Keras().Err().Message);
        Assert.Equal(Errors.UsageCode, without.Keras().Err().Code);
    }

    [Fact]
    public void SaveRecordsTheCalibrationAndTheModelFiles()
    {
        var dir = TestModels.Fixture("tfjs", "dense_mlp");
        var calibration = new CalibrationRequest(Path.Combine(dir, "input_0.npy"), Some(0.5f), CalibrateOptions.Default with { Percentile = 99 });
        var saved = Runs.Save(new RunRequest(CompileOptions.Default, Some(calibration), SimRequest.Default), Path.Combine(dir, "model.json"), 8).Ok();
        var record = saved.Calibration.IfNone(() => throw new InvalidOperationException("not calibrated"));
        Assert.Equal(("input_0.npy", Some(0.5f), 99.0), (record.Data, record.InputScale, record.Options.Percentile));
        Assert.NotEmpty(record.Scales);
        Assert.True(saved.Source.IsSome);
        Assert.True(saved.Network.Nodes.OfType<Ensemble>().All(e => e.Neuron.Spiking));
        Assert.True(Runs.Save(RunRequest.Of(CompileOptions.Default), Path.Combine(dir, "model.json"), 8).Ok().Calibration.IsNone);
        Assert.Equal(Errors.ModelFileCode / 1000, Runs.Save(RunRequest.Of(CompileOptions.Default), Path.Combine(dir, "missing.json"), 8).Err().Code / 1000);
    }
}
