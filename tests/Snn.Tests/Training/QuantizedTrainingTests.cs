using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Runtime;
using Snn.Tests.Support;
using Snn.Training;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Training;

/// <summary>
/// The quantized method of <see cref="NetworkGradient"/> on a small hand-built network: its straight-through gradients
/// against the formulas worked out in double here (the floor read as the identity where v0 + T·dt·J̄ &gt; 0), its outputs
/// and its firing-rate penalty against the interpreter's simulation of the same network (per-neuron initial voltages and
/// scales), and what it refuses. The comparison with the simulator on generated models is in the properties project
/// (QuantizedProperties), the real models in RealModels/QuantizedForwardTests.
/// </summary>
public class QuantizedTrainingTests
{
    const int In = 6, Hidden = 5, Out = 3, Batch = 4;
    const float Gain = 400f, Amplitude = 0.02f;

    static float[] Uniform(System.Random r, int n, double lo, double hi) => Enumerable.Range(0, n).Select(_ => (float)(lo + r.NextDouble() * (hi - lo))).ToArray();

    sealed record Chain(Network Net, float[] W1, float[] Bias, float[] V0, float[] Scale, float[] W2, float[] K, Tensor X, Tensor Targets);

    /// <summary>x(6) → dense → e(5, neuron, gain 400, per-neuron scale and initial voltage) → dense (+ constant) → out(3), probe out.</summary>
    static Chain Make(int seed, NeuronType? neuron = null, Lowpass? synapse = null)
    {
        var r = new System.Random(seed);
        var (w1, bias, v0, scale) = (Uniform(r, In * Hidden, -1, 1), Uniform(r, Hidden, -100, 600), Uniform(r, Hidden, 0, 1), Uniform(r, Hidden, 0.5, 2));
        var (w2, k) = (Uniform(r, Hidden * Out, -1, 1), Uniform(r, Out, -0.5, 0.5));
        var b = new NetworkBuilder();
        var x = b.Input("x", In);
        var e = b.Ensemble("e", Hidden, neuron ?? new IntegrateAndFire(Amplitude) { NegativeSpikes = true }, Gain, Tensor.Vector(bias), Tensor.Vector(v0));
        var o = b.Node("out", Out);
        var c = b.Constant("out.bias", Tensor.Vector(k));
        b.Connect(x, e, new DenseT(Tensor.Own(new[] { In, Hidden }, w1), 1), synapse);
        b.Connect(e, o, new DenseT(Tensor.Own(new[] { Hidden, Out }, w2), 1));
        b.Connect(c, o);
        b.Probe(o);
        var net = b.Build().Ok();
        net = net with { Nodes = net.Nodes.Map(n => n is Ensemble en ? en with { NeuronScale = Some(Tensor.Vector(scale)) } : n) };
        return new Chain(net, w1, bias, v0, scale, w2, k, Tensor.Own(new[] { Batch, In }, Uniform(r, Batch * In, 0, 1)),
            Tensor.Own(new[] { Batch, Out }, Uniform(r, Batch * Out, -1, 1)));
    }

    static GradientOptions Quantized(int steps) => new(Loss.MeanSquaredError) { Method = TrainingMethod.Quantized, Steps = steps };

    [Theory]
    [InlineData(1, 1)]
    [InlineData(2, 2)]
    [InlineData(3, 3)]
    [InlineData(4, 7)]
    public void Straight_through_gradients_are_the_formulas(int seed, int steps)
    {
        var c = Make(seed);
        var dt = (double)c.Net.Dt;
        var result = NetworkGradient.Run(Quantized(steps), c.Net, Seq1(c.X), c.Targets).Ok();

        // Forward in double: c = max(0, floor(v0 + T·dt·J̄)), y = amplitude·c/(T·dt·s), out = W2ᵀy + k; MSE.
        var (u, y, o) = (new double[Batch, Hidden], new double[Batch, Hidden], new double[Batch, Out]);
        double loss = 0;
        var dOut = new double[Batch, Out];
        var spiking = 0;
        for (var b = 0; b < Batch; b++)
        {
            for (var i = 0; i < Hidden; i++)
            {
                double s = 0;
                for (var k = 0; k < In; k++) s += c.X[b * In + k] * (double)c.W1[k * Hidden + i];
                u[b, i] = c.V0[i] + steps * dt * (c.Bias[i] + Gain * c.Scale[i] * s);
                var count = Math.Max(0, Math.Floor(u[b, i]));
                if (count > 0) spiking++;
                y[b, i] = Amplitude * count / (steps * dt * c.Scale[i]);
            }
            for (var j = 0; j < Out; j++)
            {
                o[b, j] = c.K[j];
                for (var i = 0; i < Hidden; i++) o[b, j] += y[b, i] * c.W2[i * Out + j];
                var d = o[b, j] - c.Targets[b * Out + j];
                loss += d * d / (Batch * Out);
                dOut[b, j] = 2 * d / (Batch * Out);
                Assert.True(Math.Abs(result.Outputs.Head[b * Out + j] - o[b, j]) <= 1e-4 * Math.Max(1, Math.Abs(o[b, j])), $"output [{b}, {j}]: {result.Outputs.Head[b * Out + j]} vs {o[b, j]}");
            }
        }
        Assert.True(spiking >= Batch, $"only {spiking} neurons count a spike: the case checks little");
        Assert.True(Math.Abs(result.Loss - loss) <= 1e-5 * Math.Max(1, loss), $"loss {result.Loss} vs {loss}");

        // Backward: dy = W2·dOut; dJ̄ = dy·amplitude/s where u > 0; d bias = Σ_b dJ̄; dW1 = xᵀ(dJ̄·gain·s); dW2 = yᵀdOut; dk = Σ_b dOut.
        var (dW1, dBias, dW2, dK) = (new double[In * Hidden], new double[Hidden], new double[Hidden * Out], new double[Out]);
        for (var b = 0; b < Batch; b++)
        {
            for (var j = 0; j < Out; j++)
            {
                dK[j] += dOut[b, j];
                for (var i = 0; i < Hidden; i++) dW2[i * Out + j] += y[b, i] * dOut[b, j];
            }
            for (var i = 0; i < Hidden; i++)
            {
                double dy = 0;
                for (var j = 0; j < Out; j++) dy += c.W2[i * Out + j] * dOut[b, j];
                var dj = u[b, i] > 0 ? dy * Amplitude / c.Scale[i] : 0;
                dBias[i] += dj;
                for (var k = 0; k < In; k++) dW1[k * Hidden + i] += c.X[b * In + k] * dj * Gain * c.Scale[i];
            }
        }
        var ids = c.Net.Connections.ToDictionary(x => (x.Pre, x.Post), x => x.Id);
        Near(dW1, result.Gradients[ids[("x", "e")]], "dW1");
        Near(dBias, result.Gradients["e"], "d bias");
        Near(dW2, result.Gradients[ids[("e", "out")]], "dW2");
        Near(dK, result.Gradients["out.bias"], "d out.bias");
    }

    static void Near(double[] expected, Tensor actual, string what)
    {
        var scale = Math.Max(1e-3, expected.Max(Math.Abs));
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-4 * scale, $"{what}[{i}]: {actual[i]} vs {expected[i]}");
    }

    /// <summary>
    /// The outputs are the interpreter's mean readout after T steps, and the firing-rate penalty is that of the simulated
    /// neurons' spike counts (a probe on the ensemble read out as counts: amplitude·c/s per neuron), by NengoDL's formula
    /// weight × mean over samples and neurons of (c/(T·dt) − target)².
    /// </summary>
    [Theory]
    [InlineData(5, 1)]
    [InlineData(6, 2)]
    [InlineData(7, 5)]
    public void Outputs_and_the_rate_penalty_are_the_simulated_networks(int seed, int steps)
    {
        var c = Make(seed);
        var reg = new RateRegularization(Target: 300f, Weight: 1e-4f);
        var result = NetworkGradient.Run(Quantized(steps) with { RateRegularization = reg }, c.Net, Seq1(c.X), c.Targets).Ok();
        var probed = c.Net with { Probes = c.Net.Probes.Add(new Probe("rates", "e", None, false, Arr.create(Hidden), 1)) };
        var program = Compile.Back(LowerOptions.Default, OptimizeOptions.Default, probed, verify: true).Ok().Program;
        var mean = Interpreter.Run(program, Seq1(c.X), new SimOptions(steps, Readout.Mean)).Ok();
        var counted = Interpreter.Run(program, Seq1(c.X), new SimOptions(steps, Readout.Count)).Ok();
        for (var q = 0; q < Batch * Out; q++)
            Assert.True(Math.Abs(result.Outputs.Head[q] - mean[0][q]) <= 1e-4 * Math.Max(1, Math.Abs(mean[0][q])), $"output {q}: {result.Outputs.Head[q]} vs spiking {mean[0][q]}");
        double sum = 0;
        for (var q = 0; q < Batch * Hidden; q++)
        {
            var spikes = Math.Round(counted[1][q] * c.Scale[q % Hidden] / Amplitude);
            var d = spikes / (steps * (double)c.Net.Dt) - reg.Target;
            sum += d * d;
        }
        var penalty = reg.Weight * sum / (Batch * Hidden);
        Assert.True(Math.Abs(result.Penalty - penalty) <= 1e-5 * penalty, $"penalty {result.Penalty} vs the simulated rates' {penalty}");
        var plain = NetworkGradient.Run(Quantized(steps), c.Net, Seq1(c.X), c.Targets).Ok();
        Assert.True(Math.Abs(result.Loss - (plain.Loss + penalty)) <= 1e-5 * result.Loss, $"loss {result.Loss} vs {plain.Loss} + {penalty}");
    }

    [Fact]
    public void Spiking_neurons_other_than_signed_integrate_and_fire_are_refused_naming_the_option()
    {
        foreach (var neuron in new NeuronType[] { new SpikingRectifiedLinear(Amplitude), new IntegrateAndFire(Amplitude) })
        {
            var c = Make(1, neuron);
            var error = NetworkGradient.Run(Quantized(2), c.Net, Seq1(c.X), c.Targets).Err();
            Assert.Equal(Errors.UntrainableCode, error.Code);
            Assert.Contains("--neuron signed", error.Message);
            Assert.Contains("'e'", error.Message);
            // Rate mode trains their rate meaning.
            NetworkGradient.Run(new GradientOptions(Loss.MeanSquaredError), c.Net, Seq1(c.X), c.Targets).Ok();
        }
    }

    [Fact]
    public void Synapses_and_nonlinear_rates_of_spikes_are_refused()
    {
        var filtered = Make(2, synapse: new Lowpass(0.005f));
        var error = NetworkGradient.Run(Quantized(2), filtered.Net, Seq1(filtered.X), filtered.Targets).Err();
        Assert.Equal(Errors.UntrainableCode, error.Code);
        Assert.Contains("synapse", error.Message);

        // A rate ReLU on the input is step-invariant: exact, and the same as rate mode.
        var steady = Make(3, new RectifiedLinear(Amplitude));
        var rate = NetworkGradient.Run(new GradientOptions(Loss.MeanSquaredError), steady.Net, Seq1(steady.X), steady.Targets).Ok();
        var quantized = NetworkGradient.Run(Quantized(2), steady.Net, Seq1(steady.X), steady.Targets).Ok();
        Assert.True(rate.Outputs.Head.Span.SequenceEqual(quantized.Outputs.Head.Span));

        // The same ReLU after spiking neurons is not: its input changes from step to step.
        var b = new NetworkBuilder();
        var x = b.Input("x", 2);
        var s = b.Ensemble("s", 2, new IntegrateAndFire(1f) { NegativeSpikes = true }, 100f, Tensor.Vector(0f, 0f), Tensor.Vector(0.5f, 0.5f));
        var r = b.Ensemble("r", 2, new RectifiedLinear(), 1f, Tensor.Vector(0f, 0f));
        b.Connect(x, s);
        b.Connect(s, r);
        b.Probe(r);
        var net = b.Build().Ok();
        var xs = Tensor.Own(new[] { 1, 2 }, new[] { 0.5f, 1f });
        error = NetworkGradient.Run(Quantized(2), net, Seq1(xs), Tensor.Own(new[] { 1, 2 }, new[] { 0f, 0f })).Err();
        Assert.Equal(Errors.UntrainableCode, error.Code);
        Assert.Contains("object 'r'", error.Message);
        Assert.Contains("changes from step to step", error.Message);
    }

    [Fact]
    public void Bad_steps_and_regularization_options_are_usage_errors()
    {
        var c = Make(4);
        var run = (GradientOptions o) => NetworkGradient.Run(o, c.Net, Seq1(c.X), c.Targets);
        Assert.Equal(Errors.UsageCode, run(Quantized(0)).Err().Code);
        Assert.Equal(Errors.UsageCode, run(Quantized(2) with { RateRegularization = new RateRegularization(-1f, 1f) }).Err().Code);
        Assert.Equal(Errors.UsageCode, run(Quantized(2) with { RateRegularization = new RateRegularization(100f, float.NaN) }).Err().Code);
        var unknown = run(Quantized(2) with { RateRegularization = new RateRegularization(100f, 1f) { Layers = Seq1("nope") } }).Err();
        Assert.Equal(Errors.UsageCode, unknown.Code);
        Assert.Contains("'nope'", unknown.Message);
        Assert.Contains("e", unknown.Message);
        // Named layers: the penalty of that ensemble only; the same as the default here (its only spiking ensemble).
        var named = run(Quantized(2) with { RateRegularization = new RateRegularization(100f, 1f) { Layers = Seq1("e") } }).Ok();
        var all = run(Quantized(2) with { RateRegularization = new RateRegularization(100f, 1f) }).Ok();
        Assert.Equal(all.Penalty, named.Penalty);
        // A rate network has no spiking ensembles to regularize by default.
        var rate = Make(4, new RectifiedLinear(Amplitude));
        var none = NetworkGradient.Run(new GradientOptions(Loss.MeanSquaredError) { RateRegularization = new RateRegularization(100f, 1f) }, rate.Net, Seq1(rate.X), rate.Targets).Err();
        Assert.Equal(Errors.UsageCode, none.Code);
    }
}
