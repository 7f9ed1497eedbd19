using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Semantics;

/// <summary>
/// Step-by-step identity with Nengo's reference simulator, checked against Nengo's published step math
/// (nengo-semantics.md §2-3) re-derived here in double precision: neuron steps, ZOH lowpass, and the one-step
/// delay a synapse adds because filters run in the update phase; and the same networks exported and run in the real
/// <c>nengo.Simulator</c> (../shared/vendor/nengo; skipped, saying why, when absent), every output at every step.
/// </summary>
public sealed class NengoSemanticsTests(RealNengoFixture nengo) : IClassFixture<RealNengoFixture>, IDisposable
{
    readonly string dir = Path.Combine(Path.GetTempPath(), "snn-tests", "nengo-sem-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>The compiled network exported and run in the real Nengo equals the interpreter at every step.</summary>
    void SameAsRealNengo(string name, Compiled compiled, Tensor x, int steps, Readout readout = Readout.Last) =>
        Assert.True(NengoCompare.Check(nengo.Worker, name, compiled, Seq1(x), steps, Path.Combine(dir, name), readout) > 0,
            $"{name}: every output is zero, the comparison would prove little");

    [Fact]
    public void UniformInitialVoltagesMatchNumpyRandomState()
    {
        // np.random.RandomState(0).uniform(0, 1, 3) and RandomState(12345).uniform(0, 1, 2)
        var r = new NumpyRandom(0).Uniform(0, 1, 3);
        Assert.Equal(0.5488135039273248, r[0], 12);
        Assert.Equal(0.7151893663724195, r[1], 12);
        Assert.Equal(0.6027633760716439, r[2], 12);
        var s = new NumpyRandom(12345).Uniform(0, 1, 2);
        Assert.Equal(0.92961609, s[0], 7);
        Assert.Equal(0.31637555, s[1], 7);
    }

    static readonly Tensor W1 = Random(new[] { 3, 4 }, 1, -40f, 80f);
    static readonly Tensor B1 = Random(new[] { 4 }, 2, 0f, 30f);
    static readonly Tensor W2 = Random(new[] { 4, 2 }, 3, -1f, 1f);
    static readonly Tensor B2 = Random(new[] { 2 }, 4, -0.5f, 0.5f);

    static Snn.Compiler.Keras.KerasModel TwoLayer() => Sequential(new[] { 3 },
        new L("Dense", "hidden", new { units = 4, activation = "relu" }, ("kernel", W1), ("bias", B1)),
        new L("Dense", "out", new { units = 2, activation = "linear" }, ("kernel", W2), ("bias", B2)));

    static Compiled TwoLayerSpiking(float tau, string init) => Compile.Run(CompileOptions.Default with
    {
        Convert = new ConvertOptions(
            Swap: Map(("relu", "SpikingRectifiedLinear")),
            Synapse: tau > 0 ? Some(new Lowpass(tau)) : None,
            Seed: 7,
            InitialVoltage: init switch { "zero" => InitialVoltage.Zero, "half" => InitialVoltage.Half, _ => InitialVoltage.Uniform }),
    }, TwoLayer(), verify: true).Ok();

    [Theory]
    [InlineData(0.0f, "zero")]
    [InlineData(0.005f, "half")]
    [InlineData(0.02f, "uniform")]
    public void SpikingNetworkMatchesNengoStepByStep(float tau, string init)
    {
        const int steps = 40;
        const double dt = 0.001;
        var x = Random(new[] { 2, 3 }, 5, 0f, 1f);
        var compiled = TwoLayerSpiking(tau, init);
        var checkpoints = Enumerable.Range(1, steps).ToArray();
        var got = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Steps: steps), checkpoints).Ok();

        var v0 = init switch
        {
            "zero" => new double[4],
            "half" => Enumerable.Repeat(0.5, 4).ToArray(),
            _ => new NumpyRandom(7).Uniform(0, 1, 4).Select(v => (double)(float)v).ToArray(),
        };
        var a = tau > 0 ? Math.Exp(-dt / tau) : 0;
        for (var b = 0; b < 2; b++)
        {
            var v = (double[])v0.Clone();
            var filtered = new double[2];
            var j = new double[4];
            for (var h = 0; h < 4; h++)
            {
                j[h] = B1[h];
                for (var i = 0; i < 3; i++) j[h] += x[b * 3 + i] * W1[i * 4 + h];
            }
            for (var t = 1; t <= steps; t++)
            {
                // SimNeurons (SpikingRectifiedLinear): v += max(J,0)*dt; n = floor(v); out = n/dt; v -= n
                var spikes = new double[4];
                for (var h = 0; h < 4; h++)
                {
                    v[h] += Math.Max(j[h], 0) * dt;
                    var n = Math.Floor(v[h]);
                    spikes[h] = n / dt;
                    v[h] -= n;
                }
                var weighted = new double[2];
                for (var o = 0; o < 2; o++)
                    for (var h = 0; h < 4; h++) weighted[o] += spikes[h] * W2[h * 2 + o];
                for (var o = 0; o < 2; o++)
                {
                    // With a synapse the output node reads the filter state from the previous step (update phase).
                    var expected = B2[o] + (tau > 0 ? filtered[o] : weighted[o]);
                    var actual = got[t - 1].Head[b * 2 + o];
                    Assert.True(Math.Abs(expected - actual) <= 1e-3 * Math.Max(1, Math.Abs(expected)),
                        $"sample {b}, step {t}, output {o}: Nengo math gives {expected}, interpreter {actual}");
                }
                if (tau > 0)
                    for (var o = 0; o < 2; o++) filtered[o] = a * filtered[o] + (1 - a) * weighted[o];
            }
        }
    }

    /// <summary>The same two-layer spiking network, exported and run in the real Nengo.</summary>
    [RealNengoTheory]
    [InlineData(0.0f, "zero")]
    [InlineData(0.005f, "half")]
    [InlineData(0.02f, "uniform")]
    public void SpikingNetwork_MatchesRealNengoStepByStep(float tau, string init) =>
        SameAsRealNengo($"two_layer_{init}", TwoLayerSpiking(tau, init), Random(new[] { 2, 3 }, 5, 0f, 1f), 40, Readout.Mean);

    static Compiled ReluProbedThroughLowpass() => Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default with { Synapse = Some(new Lowpass(0.01f)) } },
        Sequential(new[] { 1 }, new L("ReLU", "relu", new { })), verify: true).Ok();

    [Fact]
    public void ProbeSynapseFollowsZohStepResponse()
    {
        // Input -> ReLU ensemble (rate) probed through Lowpass(tau). Nengo builds the probe as SimProcess(update)
        // plus Copy(filtered -> probe.in) (nengo/builder/probe.py signal_probe); the Copy reads the filter before
        // its update in the step, so the probe shows y[t] = rate * (1 - exp(-(t - 1) dt / tau)): 0 at step 1.
        var compiled = ReluProbedThroughLowpass();
        var got = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(Tensor.Own(new[] { 1, 1 }, new[] { 2f })), new SimOptions(Steps: 5), new[] { 1, 2, 3, 4, 5 }).Ok();
        for (var t = 1; t <= 5; t++)
            Assert.Equal(2 * (1 - Math.Exp(-(t - 1) * 0.001 / 0.01)), got[t - 1].Head[0], 5);
    }

    /// <summary>The filtered probe of a rate ReLU, exported and run in the real Nengo (0 at step 1, as the math above).</summary>
    [RealNengoFact]
    public void ProbeSynapse_MatchesRealNengoStepByStep() =>
        SameAsRealNengo("probe_lowpass", ReluProbedThroughLowpass(), Tensor.Own(new[] { 2, 1 }, new[] { 2f, 0.5f }), 5);

    static Compiled ScaleFiringRatesNetwork(float global, float relu, float dense)
    {
        // NengoDL test_scale_firing_rates_cases: outputs x0 = ReLU(inp), x1 = Dense(1, relu, kernel 1, bias 50)(inp),
        // relu swapped to spiking, 100 steps with input 100: max output is 1/dt/rate and the spike count is
        // within ±1 of (100 [+50]) * rate * 100 * dt.
        var model = Functional(new[] { "inp" }, new[] { new[] { 1 } }, new[] { "x0", "x1" },
            (new L("ReLU", "x0", new { }), new[] { "inp" }),
            (new L("Dense", "x1", new { units = 1, activation = "relu" }, ("kernel", T(new[] { 1, 1 }, 1f)), ("bias", T(new[] { 1 }, 50f))), new[] { "inp" }));
        var layerScales = Map<string, float>();
        if (global == 0f)
        {
            if (relu != 1f) layerScales = layerScales.Add("x0", relu);
            layerScales = layerScales.Add("x1", dense);
        }
        var options = CompileOptions.Default with
        {
            Convert = new ConvertOptions(Swap: Map(("relu", "SpikingRectifiedLinear")),
                ScaleFiringRates: global > 0 ? Some(global) : None, LayerScales: layerScales, InitialVoltage: InitialVoltage.Zero),
        };
        return Compile.Run(options, model, verify: true).Ok();
    }

    [Theory]
    [InlineData(5f, 5f, 5f)]
    [InlineData(0f, 3f, 4f)]
    [InlineData(0f, 1f, 3f)]
    public void ScaleFiringRatesCases(float global, float relu, float dense)
    {
        var compiled = ScaleFiringRatesNetwork(global, relu, dense);
        var checkpoints = Enumerable.Range(1, 100).ToArray();
        var outs = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(Tensor.Own(new[] { 1, 1 }, new[] { 100f })), new SimOptions(Steps: 100), checkpoints).Ok();
        var rates = new[] { relu, dense };
        var drive = new[] { 100f, 150f };
        for (var o = 0; o < 2; o++)
        {
            var series = outs.Select(s => s[o][0]).ToArray();
            Assert.Equal(1 / 0.001 / rates[o], series.Max(), 2);
            var spikes = series.Count(v => v > 0);
            Assert.InRange(spikes, drive[o] * rates[o] * 100 * 0.001 - 1, drive[o] * rates[o] * 100 * 0.001 + 1);
        }
    }

    /// <summary>The firing-rate scaling networks (two outputs on neurons, per-layer scales), in the real Nengo.</summary>
    [RealNengoTheory]
    [InlineData(5f, 5f, 5f)]
    [InlineData(0f, 3f, 4f)]
    public void ScaleFiringRates_MatchesRealNengoStepByStep(float global, float relu, float dense) =>
        SameAsRealNengo($"scale_{global}_{relu}_{dense}", ScaleFiringRatesNetwork(global, relu, dense), Tensor.Own(new[] { 1, 1 }, new[] { 100f }), 100, Readout.Count);
}
