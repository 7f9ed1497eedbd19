using FsCheck.Xunit;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Snn.Runtime;
using Snn.Training;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;
using Tensor = Snn.Tensor;

namespace Snn.Properties.Stages;

/// <summary>
/// The quantized network (<see cref="TrainingMethod.Quantized"/>) against its oracle, the interpreter's step-by-step
/// simulation of the same network: generated models converted with the calibrated defaults (<see cref="Presets.Calibrated"/>:
/// integrate-and-fire with negative spikes starting at 0.5, per-channel calibration, count max pooling), and for every T in
/// 1..8 the quantized forward's probe outputs must be the interpreter's mean readout after T steps (and, before any
/// softmax, its count readout over T·dt), and the argmax predictions the same.
/// </summary>
/// <remarks>
/// Both sides compute the same integer spike counts in different float orders (the simulator accumulates the voltage
/// step by step, the quantizer forms v0 + T·dt·J̄ from means), so a neuron whose exact v0 + T·dt·J̄ lies within float
/// rounding of a whole number may count one spike apart. A sample whose outputs differ is accepted only when some neuron
/// of it has v0 + T·dt·J̄ within 1e-4·max(1, |·|) of a whole number (computed in double from the quantizer's kept
/// dt·J̄ and the ensemble's initial voltages, not from the quantizer's output); any other difference fails. Models with
/// what the quantized network refuses (sigmoid and tanh layers after spiking ones, function nodes) must be refused with
/// <see cref="Errors.Untrainable"/>.
/// </remarks>
[Properties(Arbitrary = new[] { typeof(MaxPoolModels) })]
public sealed class QuantizedProperties(ITestOutputHelper output) : PropertyTests(output)
{
    const int MaxSteps = 8;

    [Property(MaxTest = 100)]
    public void Quantized_forward_is_the_spiking_networks_readout_after_T_steps(GeneratedModel m)
    {
        var x = m.Inputs(batch: 4);
        Check(Presets.Calibrated(x), m, x);
    }

    /// <summary>The same with NengoDL's initial voltages, Uniform(0, 1) per neuron: the quantizer's offsets differ from neuron to neuron.</summary>
    [Property(MaxTest = 50)]
    public void Quantized_forward_with_uniform_initial_voltages_is_the_spiking_networks_readout(GeneratedModel m)
    {
        var x = m.Inputs(batch: 4);
        var options = Presets.Calibrated(x);
        Check(options with { Convert = options.Convert with { InitialVoltage = InitialVoltage.Uniform, Seed = m.Seed } }, m, x);
    }

    void Check(CompileOptions options, GeneratedModel m, LanguageExt.Seq<Tensor> x)
    {
        var c = Compile.Run(options, m.Model, verify: true).Get("compile");
        var net = c.Network;
        var checkpoints = Enumerable.Range(1, MaxSteps).ToArray();
        var probe = NetworkGradient.ForwardPass(GradientOptions.Default with { Method = TrainingMethod.Quantized, Steps = 1 }, net, x);
        if (probe.IsFail)
        {
            var error = (LanguageExt.Common.Error)probe;
            Assert.True(error.Code == Errors.UntrainableCode, $"refused with code {error.Code}, not Untrainable: {error.Message}");
            Output.WriteLine($"refused: {error.Message}");
            return;
        }
        var mean = Interpreter.Run(c.Program, c.Functions, x, new SimOptions(MaxSteps, Readout.Mean), checkpoints).Ok();
        var count = Interpreter.Run(c.Program, c.Functions, x, new SimOptions(MaxSteps, Readout.Count), checkpoints).Ok();
        var batch = x.Head.Shape[0];
        var (compared, boundary) = (0, 0);
        foreach (var steps in checkpoints)
        {
            var pass = NetworkGradient.ForwardPass(GradientOptions.Default with { Method = TrainingMethod.Quantized, Steps = steps }, net, x).Ok();
            for (var b = 0; b < batch; b++)
            {
                var mismatch = Mismatch(net, pass.Outputs, mean[steps - 1], count[steps - 1], steps * net.Dt, b, batch);
                if (mismatch is null)
                {
                    compared++;
                    continue;
                }
                var near = NearWhole(net, pass, steps, b);
                if (near is null)
                    throw new XunitException($"T = {steps}, sample {b}: {mismatch}, and no neuron's v0 + T·dt·J̄ is within rounding of a whole number");
                boundary++;
                Output.WriteLine($"T = {steps}, sample {b}: {mismatch}; explained by {near}");
            }
        }
        Output.WriteLine($"{compared} sample-steps equal, {boundary} at a rounding boundary");
        Assert.True(boundary * 10 <= compared + boundary, $"{boundary} of {compared + boundary} sample-steps differ at rounding boundaries: too many to be rounding");
    }

    /// <summary>Why sample <paramref name="b"/>'s outputs differ from the interpreter's, or null when they agree.</summary>
    static string? Mismatch(Network net, Seq<Tensor> quantized, Seq<Tensor> mean, Seq<Tensor> count, float window, int b, int batch)
    {
        for (var p = 0; p < net.Probes.Count; p++)
        {
            var size = (int)(quantized[p].Length / batch);
            var q = quantized[p].Span.Slice(b * size, size);
            var s = mean[p].Span.Slice(b * size, size);
            var scale = 1.0;
            foreach (var v in s) scale = Math.Max(scale, Math.Abs(v));
            var tol = Close.Rel * scale;
            for (var k = 0; k < size; k++)
                if (!(Math.Abs(q[k] - s[k]) <= tol)) return $"probe {p} element {k}: quantized {q[k]:R}, spiking mean {s[k]:R}";
            if (!net.Probes[p].Softmax)
            {
                // Count readout: Σ_t out_t·dt = T·dt × the mean.
                var n = count[p].Span.Slice(b * size, size);
                for (var k = 0; k < size; k++)
                    if (!(Math.Abs((double)window * q[k] - n[k]) <= window * tol)) return $"probe {p} element {k}: T·dt·quantized {window * q[k]:R}, spiking count {n[k]:R}";
            }
            var classes = net.Probes[p].Shape.Count == 0 ? 1 : net.Probes[p].Shape[^1];
            if (classes < 2) continue;
            for (var row = 0; row < size / classes; row++)
            {
                var (qa, sa) = (ArgMax(q.Slice(row * classes, classes)), ArgMax(s.Slice(row * classes, classes)));
                // A tie within the tolerance in the simulator's own outputs may break either way.
                if (qa != sa && Math.Abs(s[row * classes + qa] - s[row * classes + sa]) > tol)
                    return $"probe {p} row {row}: quantized predicts {qa}, spiking {sa}";
            }
        }
        return null;
    }

    /// <summary>A counting neuron of sample <paramref name="b"/> whose v0 + T·dt·J̄ is within 1e-4·max(1, |·|) of a whole number, or null.</summary>
    static string? NearWhole(Network net, NetworkGradient.Pass pass, int steps, int b)
    {
        foreach (var e in net.Nodes.OfType<Ensemble>().Where(e => e.Neuron is IntegrateAndFire { NegativeSpikes: true }))
        {
            var x = pass.Kept[e.Id];
            var v0 = e.InitialVoltage.Map(v => v.ToArray()).IfNone(() => new float[e.Size]);
            for (var i = 0; i < e.Size; i++)
            {
                var u = v0[i] + steps * (double)x[b * e.Size + i];
                if (Math.Abs(u - Math.Round(u)) <= 1e-4 * Math.Max(1, Math.Abs(u))) return $"{e.Id}[{i}] with v0 + T·dt·J̄ = {u:R}";
            }
        }
        return null;
    }

    static int ArgMax(ReadOnlySpan<float> v)
    {
        var best = 0;
        for (var k = 1; k < v.Length; k++) if (v[k] > v[best]) best = k;
        return best;
    }
}
