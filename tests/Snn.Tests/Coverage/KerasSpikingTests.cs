using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Runtime;
using Snn.Tests.KerasFiles;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Coverage;

/// <summary>
/// keras_spiking's SpikingActivation, Lowpass and Alpha layers (NengoDL test_spiking_activation and
/// test_lowpass_alpha, nengo-semantics.md §5 items 34-36), on the ks_* legacy .h5 fixtures of tests/fixtures/keras.
/// The oracle is keras_spiking's published inference math in float32 numpy (generate.py). Unlike NengoDL, whose
/// converted filters run one step late (its test compares model_out[:, :-1] with nengo_out[:, 1:]), the converted
/// network matches the Keras output step for step: filters are objects applied in the same step, not synapses.
/// </summary>
public class KerasSpikingTests
{
    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var c in KerasFileFixtures.All.Where(c => c.Positive && c.File.StartsWith("ks_", StringComparison.Ordinal))) data.Add(c.File);
        return data;
    }

    static CompileOptions OptionsFor(string file, bool spiking)
    {
        var options = KerasFileFixtures.Get(file).Options;
        var dt = options.Contains("--dt") ? float.Parse(options[System.Array.IndexOf(options, "--dt") + 1], System.Globalization.CultureInfo.InvariantCulture) : 0.001f;
        var convert = ConvertOptions.Default with { Dt = dt };
        return CompileOptions.Default with
        {
            Legalize = LegalizeOptions.Default with { Temporal = true },
            Convert = spiking ? convert.AsSpiking() : convert,
        };
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TheConvertedNetworkReproducesKerasSpikingStepByStep(string file)
    {
        var model = ModelFile.Import(KerasFileFixtures.PathOf(file)).Ok();
        var x = Npy.Read(KerasFileFixtures.Input(file)).Ok();
        var expected = Npy.Read(KerasFileFixtures.Expected(file)).Ok();
        foreach (var spiking in new[] { false, true })
        {
            var compiled = Compile.Run(OptionsFor(file, spiking), model, verify: true).Ok();
            Assert.DoesNotContain(compiled.Legal.Layers, l => l.Conversion is Snn.Compiler.Legalize.Conversion.Fallback);
            var y = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Temporal: true)).Ok().Head;
            Assert.Equal(expected.Shape, y.Shape);
            // Float32 noise only: spike trains must agree spike for spike (a flip would be an error of 1/dt).
            for (var i = 0; i < y.Length; i++)
                Assert.True(Math.Abs(y[i] - expected[i]) <= 1e-4f * Math.Max(1f, Math.Abs(expected[i])),
                    $"{file} (spiking mode {spiking}) element {i}: {y[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void SpikingActivationBecomesRegularSpikingWithTheLayersOwnVoltages()
    {
        var model = ModelFile.Import(KerasFileFixtures.PathOf("ks_spiking_relu.h5")).Ok();
        var net = Compile.Run(OptionsFor("ks_spiking_relu.h5", spiking: false), model).Ok().Network;
        var ens = Assert.Single(net.Nodes.OfType<Ensemble>());
        Assert.Equal(new RegularSpiking(new RectifiedLinear()), ens.Neuron);
        // Uniform[0,1) from numpy's RandomState(7) (the layer's seed): its first draws, as numpy prints them.
        var v0 = ens.InitialVoltage.Map(t => t.ToArray()).IfNone(System.Array.Empty<float>());
        Assert.Equal(0.07630829f, v0[0], 6);
        Assert.Equal(0.77991879f, v0[1], 6);
    }

    [Fact]
    public void SwapsAndSpikingModeLeaveSpikingActivationAlone()
    {
        var model = ModelFile.Import(KerasFileFixtures.PathOf("ks_spiking_relu.h5")).Ok();
        var options = OptionsFor("ks_spiking_relu.h5", spiking: true);
        options = options with { Convert = options.Convert with { Swap = Map(("relu", "LIF")) } };
        var net = Compile.Run(options, model).Ok().Network;
        Assert.IsType<RegularSpiking>(Assert.Single(net.Nodes.OfType<Ensemble>()).Neuron);
    }

    [Fact]
    public void TestSpikingActivationNeedsTemporalModel()
    {
        var (code, _, err) = CliRunner.Run("inspect", KerasFileFixtures.PathOf("ks_spiking_relu.h5"));
        Assert.Equal(3, code);
        Assert.Contains("set temporal_model (--temporal-model)", err);
        Assert.DoesNotContain("registered converter", err);
        // A fixed time axis without --temporal-model: the layer itself says why (never a per-step fallback).
        var fixedTime = TestModels.Sequential(new[] { 5, 3 }, new TestModels.L("SpikingActivation", "s", new { activation = "relu", dt = 0.001 }));
        var error = Compile.Run(CompileOptions.Default, fixedTime).Err();
        Assert.Contains("can only be converted when temporal_model=True", error.Message);
        Assert.DoesNotContain("Falling back", error.Message);
    }

    [Fact]
    public void TestSpikingActivationDtIsControlledByTheSimulator()
    {
        // NengoDL: "Ignoring ...dt=... parameter; dt will be controlled by Simulator.dt"; with --dt 1 it matches.
        var file = KerasFileFixtures.PathOf("ks_spiking_tanh_dt1.h5");
        var (code, output, err) = CliRunner.Run("inspect", file, "--temporal-model");
        Assert.True(code == 0, err);
        Assert.Contains("Ignoring dt=1", output + err);
        Assert.Contains("controlled by the simulator", output + err);
        var (ok, verified, _) = CliRunner.Run("verify", file, "--temporal-model", "--dt", "1", "--input", KerasFileFixtures.Input("ks_spiking_tanh_dt1.h5"));
        Assert.True(ok == 0, verified);
    }

    [Fact]
    public void KerasSpikingLayersNeverFallBack()
    {
        var (code, _, err) = CliRunner.Run("inspect", KerasFileFixtures.PathOf("ks_spiking_elu.h5"), "--temporal-model");
        Assert.Equal(3, code);
        Assert.Contains("does not have a native equivalent", err);
        Assert.DoesNotContain("Falling back", err);
    }

    [Fact]
    public void InspectReportsNativeConversion()
    {
        var (code, output, err) = CliRunner.Run("inspect", KerasFileFixtures.PathOf("ks_pipeline.h5"), "--temporal-model", "--json");
        Assert.True(code == 0, err);
        Assert.Contains("\"fallback_layers\":0", output);
    }
}
