using LanguageExt;
using Snn.Cli;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Facade;

/// <summary>
/// A report's curves as typed variants of the run request: one per max-pool method when the model max-pools, and the
/// NengoDL baseline, which is what the command line's NengoDL options give.
/// </summary>
public class ReportsTests
{
    /// <summary>The request the command line makes of <paramref name="argv"/>.</summary>
    static RunRequest Cli(params string[] argv) =>
        Commands.Request(Args.Parse(argv, Commands.Set(Commands.SimValues, Args.ConverterValueOptions), Commands.Set(Args.ConverterFlags)).Ok()).Ok();

    static readonly string[] Given =
    [
        "--calibrate", "c.npy", "--percentile", "99", "--resolution", "3", "--target-agreement", "0.9@4", "--bias-shift", "--per-layer", "--bias-correction", "4",
        "--scale-firing-rates", "7", "--synapse", "0.005", "--max-pool", "gate", "--neuron", "if", "--initial-voltage", "zero", "--reset", "zero",
        "--readout", "mean:2", "--encoding", "poisson", "--swap", "sigmoid=LIF", "--dt", "0.002", "--seed", "9", "--no-fallback",
        "--steps", "12", "--batch", "7", "--threads", "2", "--input-scale", "0.5",
    ];

    /// <summary>Agreement targets go with the rest of calibration (the argv rewrite this replaced kept --target-agreement, and the baseline failed).</summary>
    [Fact]
    public void TheBaselineIsNengoDLsDefaultsWithWhatNengoDLHasAsWell()
    {
        var baseline = Reports.NengoBaseline(Cli(Given));
        // What the command line gives with only the options NengoDL has (swap, dt, seed, the legalizer's) and its own defaults.
        var nengo = Cli("--swap", "sigmoid=LIF", "--dt", "0.002", "--seed", "9", "--no-fallback", "--steps", "12", "--batch", "7", "--threads", "2",
            "--input-scale", "0.5", "--max-pool", "avg", "--readout", "last", "--neuron", "nengo");
        Assert.Equal(nengo.Options, baseline.Options);
        Assert.Equal(nengo.Sim, baseline.Sim);
        Assert.True(baseline.Calibration.IsNone);
        Assert.True(baseline.Options.Convert is { IntegrateAndFire: false, MaxPool: MaxPoolMethod.Avg, ResetToZero: false, InitialVoltage: InitialVoltage.Uniform });
        Assert.Equal(Presets.Nengo.Convert with { MaxPool = MaxPoolMethod.Avg, Swap = nengo.Options.Convert.Swap, Dt = 0.002f, Seed = 9 }, baseline.Options.Convert.AsSpiking());
    }

    static Loaded Model() => Loaded.Of("m.keras", TestModels.Sequential(new[] { 3 },
        new TestModels.L("Dense", "d", new { units = 2, activation = "relu" }, ("kernel", TestModels.Random(new[] { 3, 2 }, 1)), ("bias", Tensor.Filled(new[] { 2 }, 0.1f)))));

    [Fact]
    public void AMaxPoolingModelGetsACurvePerMethodWithTheRequestsAsTheMainOne()
    {
        var request = Cli(Given);
        var variants = Reports.Variants(request, Model(), maxPools: true);
        Assert.Equal(new[] { "max-pool count", "max-pool gate (your options)", "max-pool pre", "max-pool avg", "NengoDL baseline" }, variants.Map(v => v.Label).ToArray());
        Assert.Equal(new[] { false, true, false, false, false }, variants.Map(v => v.Main).ToArray());
        Assert.Equal(new[] { false, false, false, false, true }, variants.Map(v => v.Baseline).ToArray());
        Assert.Same(request, variants[1].Request);
        // Another method's curve is the request with that method: what --max-pool METHOD gives on the command line.
        var pre = Cli(Given.Select(s => s == "gate" ? "pre" : s).ToArray());
        Assert.Equal(pre, variants[2].Request);
        Assert.Equal(Some(MaxPoolMethod.Pre), variants[2].MaxPool);
        Assert.Equal(Reports.NengoBaseline(request), variants[4].Request);
    }

    [Fact]
    public void WithoutMaxPoolingOrForASavedNetworkTheCurvesAreFewer()
    {
        var request = Cli(Given);
        Assert.Equal(new[] { "spiking (your options)", "NengoDL baseline" }, Reports.Variants(request, Model(), maxPools: false).Map(v => v.Label).ToArray());
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() };
        var saved = Loaded.Of("n.snnz", Compiler.Saved.SavedNetwork.Of(Compile.Run(options, Model().Keras().Ok()).Ok(), options, None, "", None).Ok());
        var only = Reports.Variants(RunRequest.Of(CompileOptions.Default), saved, maxPools: true);
        Assert.Equal(new[] { "saved network" }, only.Map(v => v.Label).ToArray());
        Assert.True(only.Head.Main);
    }

    [Fact]
    public void SettingsSayTheConversionReadoutAndEncoding()
    {
        var request = Cli(Given);
        var words = Reports.Settings(request, Model(), 12);
        Assert.StartsWith("max-pool gate · neuron if · scale per layer from calibration · synapse 0.005 s · initial voltage zero · reset to zero", words);
        Assert.Contains("calibrated on c.npy (p99, 3 spikes per step at it, chosen for agreement 0.9 at 4 steps on the calibration data, " +
                        "bias shift for 12 steps, bias correction for 4 steps)", words);
        Assert.EndsWith("readout mean:2 · encoding poisson", words);
        Assert.EndsWith("readout mean · encoding constant", Reports.Settings(RunRequest.Of(CompileOptions.Default), Model(), 12));
    }

    [Fact]
    public void CurvesMeasureEveryVariantAndTheMainRunFirst()
    {
        var model = Model();
        var inputs = Seq1(TestModels.Random(new[] { 6, 3 }, 3, 0f, 1f));
        var labels = new[] { 0, 1, 0, 1, 0, 1 };
        var request = RunRequest.Of(CompileOptions.Default with { Convert = ConvertOptions.Default with { ScaleFiringRates = Some(100f) } });
        var runs = new List<string>();
        var warnings = new List<string>();
        var curves = Reports.Curves(new ReportOptions(4, [2, 4]), request, model, inputs, labels, warnings.Add, null,
            what => { runs.Add(what); return null; }).Ok();
        Assert.Equal(new[] { "spiking (your options)", "NengoDL baseline" }, curves.Map(c => c.Label).ToArray());
        // Each curve's run is named with its place among the curves (issue 16: "curve k of n").
        Assert.Equal(new[] { "curve 1 of 2 (spiking), 4 steps", "curve 2 of 2 (NengoDL baseline), 4 steps" }, runs);
        Assert.All(curves, c => Assert.Equal(new[] { 2, 4 }, c.Run.Map(r => r.Points.Select(p => p.Steps).ToArray()).IfNone(System.Array.Empty<int>())));
        Assert.True(curves.Head.Run.Exists(r => r.Operations.AnnMacs == 3 * 2));
    }
}
