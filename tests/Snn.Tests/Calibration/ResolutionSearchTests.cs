using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;
using Snn.Compiler.Saved;

namespace Snn.Tests.Calibration;

/// <summary>
/// Per-layer resolution (--resolution LAYER=K) and the search that chooses it for an agreement target
/// (--target-agreement A@T, <see cref="ResolutionSearch"/>).
/// </summary>
public class ResolutionSearchTests
{
    /// <summary>Three hidden ReLU layers and ten outputs, random weights: deep enough that rounding to spikes moves some top-1 classes.</summary>
    static KerasModel Deep() => Sequential(new[] { 8 },
        new L("Dense", "h1", new { units = 24, activation = "relu" }, ("kernel", Random(new[] { 8, 24 }, 11)), ("bias", Random(new[] { 24 }, 12, 0f, 0.2f))),
        new L("Dense", "h2", new { units = 24, activation = "relu" }, ("kernel", Random(new[] { 24, 24 }, 13)), ("bias", Random(new[] { 24 }, 14, 0f, 0.2f))),
        new L("Dense", "h3", new { units = 16, activation = "relu" }, ("kernel", Random(new[] { 24, 16 }, 15)), ("bias", Random(new[] { 16 }, 16, 0f, 0.2f))),
        new L("Dense", "o", new { units = 10 }, ("kernel", Random(new[] { 16, 10 }, 17)), ("bias", Random(new[] { 10 }, 18))));

    static CompileOptions Spiking(CalibrateOptions calibration, Tensor data) => CompileOptions.Default with
    {
        Convert = ConvertOptions.Default.AsSpiking() with { IntegrateAndFire = true, NegativeSpikes = true, InitialVoltage = InitialVoltage.Half },
        Calibration = Some((calibration, Seq1(data))),
    };

    static readonly SimOptions Sim = new(4, Readout.Mean, BatchSize: 50, Threads: 2);

    /// <summary>
    /// A layer's resolution K sets c = K·amplitude/(λ·dt) for that layer alone: with h2 at 8 and the rest at 2, h2's
    /// firing-rate scale is 4 times the uniform one, the others' are unchanged, and the scales say which K they used.
    /// </summary>
    [Fact]
    public void ALayersResolutionScalesThatLayerOnly()
    {
        var data = Random(new[] { 200, 8 }, 5, 0f, 1f);
        var uniform = Compile.Run(Spiking(new CalibrateOptions(Percentile: 99), data), Deep(), verify: true).Ok();
        var mixed = Compile.Run(Spiking(new CalibrateOptions(Percentile: 99) { LayerResolutions = Map(("h2", 8f)) }, data), Deep(), verify: true).Ok();
        Assert.Equal(new[] { "h1", "h2", "h3" }, mixed.Scales.Map(s => s.Layer));
        Assert.Equal(new[] { 2f, 8f, 2f }, mixed.Scales.Map(s => s.Resolution));
        foreach (var (u, m) in uniform.Scales.Zip(mixed.Scales))
        {
            Assert.Equal(u.Activation, m.Activation);
            Assert.Equal(u.Scale * m.Resolution / 2, m.Scale, u.Scale * 1e-6);
        }
        var error = Compile.Run(Spiking(new CalibrateOptions { LayerResolutions = Map(("nope", 4f)) }, data), Deep()).Err();
        Assert.Contains("'nope'", error.Message);
        Assert.Contains("h1, h2, h3", error.Message);
    }

    /// <summary>
    /// The search's choice meets its targets on the calibration data, measured independently here: the spiking
    /// program at the chosen resolutions against the Keras reference evaluator's outputs (not the network the search
    /// used). It starts from a setting that misses the target, only raises resolutions, and gives some back.
    /// </summary>
    [Fact]
    public void TheChosenResolutionsMeetTheTargetOnTheCalibrationData()
    {
        var data = Random(new[] { 300, 8 }, 21, 0f, 1f);
        var reference = KerasEval.Run(Deep(), Seq1(data)).Ok().Head;
        double Agreement(Compiled c) => Fidelity.Agreement(Interpreter.Run(c.Program, c.Functions, Seq1(data), Sim).Ok().Head, reference);

        var start = Compile.Run(Spiking(new CalibrateOptions { Resolution = 1 }, data), Deep(), verify: true).Ok();
        var target = new AgreementTarget(0.95, 4);
        Assert.True(Agreement(start) < target.Agreement, $"the starting setting already agrees {Agreement(start)}");

        var log = new List<string>();
        var options = Spiking(new CalibrateOptions { Resolution = 1, Targets = Seq1(target) }, data);
        var chosen = Build.Run(options, Deep(), verify: true, search: Sim, log: log.Add).Ok();
        Assert.True(Agreement(chosen) >= ResolutionSearch.Required(target.Agreement, 300), $"agreement {Agreement(chosen)} at {string.Join(", ", chosen.Scales)}");
        Assert.All(chosen.Scales, s => Assert.True(s.Resolution >= 1 && Math.Log2(s.Resolution) % 1 == 0, s.ToString()));
        Assert.Contains(log, l => l.Contains("(met)"));
        // Phase 2 halved at least one layer below the uniform setting that first met the target.
        var uniformMet = log.Last(l => l.Contains("everywhere") && l.Contains("(met)"));
        var factor = int.Parse(uniformMet[(uniformMet.IndexOf('(') + 1)..uniformMet.IndexOf('x')]);
        Assert.Contains(chosen.Scales, s => s.Resolution < factor);

        // Deterministic: the same options choose the same resolutions.
        Assert.Equal(chosen.Scales, Build.Run(options, Deep(), search: Sim).Ok().Scales);
    }

    /// <summary>A target the network cannot reach (Poisson input at one step never agrees everywhere) ends the search with an error naming it.</summary>
    [Fact]
    public void AnUnreachableTargetIsAnErrorNotAHang()
    {
        var data = Random(new[] { 100, 8 }, 22, 0f, 1f);
        var sim = Sim with { Encoding = Encoding.Poisson, Seed = 3 };
        var data300 = Random(new[] { 300, 8 }, 22, 0f, 1f);
        var log = new List<string>();
        var options = Spiking(new CalibrateOptions { Targets = Seq1(new AgreementTarget(1, 1)) }, data300);
        var error = Build.Run(options, Deep(), search: sim, log: log.Add).Err();
        Assert.Contains("out of reach", error.Message);
        Assert.Contains("1 at 1 steps", error.Message);
        // Every trial (1x .. 64x) stops after its first chunk of samples: one disagreement already misses 100%.
        Assert.Equal(7, log.Count);
        Assert.All(log, l => Assert.Contains($"on the first {ResolutionSearch.ChunkSamples} samples (stopped", l));
        // The compiler alone cannot simulate: it says what runs the search.
        Assert.Contains("Build.Run", Compile.Run(Spiking(new CalibrateOptions { Targets = Seq1(new AgreementTarget(0.9, 4)) }, data), Deep()).Err().Message);
    }

    /// <summary>Saved networks keep the per-layer resolutions, the targets and each layer's chosen K.</summary>
    [Fact]
    public void SavedNetworksKeepTheResolutionsAndTargets()
    {
        var data = Random(new[] { 200, 8 }, 23, 0f, 1f);
        var calibration = new CalibrateOptions { LayerResolutions = Map(("h1", 4f)), Targets = Seq1(new AgreementTarget(0.9, 4)) };
        var options = Spiking(calibration, data);
        var compiled = Build.Run(options, Deep(), verify: true, search: Sim).Ok();
        var saved = SavedNetwork.Of(compiled, options, None, "calib.npy").Ok();
        var back = NetworkFile.Load(NetworkFile.Save(saved).Ok(), "net.snnz").Ok();
        Assert.True(saved == back);
        var cal = back.Calibration.IfNone(() => throw new Xunit.Sdk.XunitException("no calibration"));
        Assert.Equal(Map(("h1", 4f)), cal.Options.LayerResolutions);
        Assert.Equal(Seq1(new AgreementTarget(0.9, 4)), cal.Options.Targets);
        Assert.Equal(compiled.Scales.Map(s => s.Resolution), cal.Scales.Map(s => s.Resolution));
        Assert.True(cal.Scales.Find(s => s.Layer == "h1").Exists(s => s.Resolution >= 4));
    }

    [Theory]
    [InlineData("--target-agreement", "1.5")]
    [InlineData("--target-agreement", "0.9@x")]
    [InlineData("--target-agreement", "0.9@0")]
    [InlineData("--resolution", "dense=0")]
    [InlineData("--resolution", "=4")]
    public void BadResolutionOptionsAreUsageErrors(string option, string value)
    {
        var fixture = Fixture("tfjs", "dense_mlp");
        var (code, _, err) = CliRunner.Run("evaluate", Path.Combine(fixture, "model.json"), "--data", Path.Combine(fixture, "input_0.npy"),
            "--calibrate", Path.Combine(fixture, "input_0.npy"), option, value);
        Assert.True(code == 2, err);
        Assert.Contains(option, err);
    }

    [Fact]
    public void ATargetNeedsCalibrationData()
    {
        var fixture = Fixture("tfjs", "dense_mlp");
        var (code, _, err) = CliRunner.Run("evaluate", Path.Combine(fixture, "model.json"), "--data", Path.Combine(fixture, "input_0.npy"), "--target-agreement", "0.9");
        Assert.Equal(2, code);
        Assert.Contains("--calibrate", err);
    }
}
