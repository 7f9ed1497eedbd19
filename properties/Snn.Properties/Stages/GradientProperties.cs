using FsCheck.Xunit;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Snn.Training;
using Xunit;
using Xunit.Abstractions;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;

namespace Snn.Properties.Stages;

/// <summary>
/// Rate-mode network gradients (<see cref="NetworkGradient"/>) against their oracles on generated networks: the forward
/// pass against <see cref="NetEval"/> (the IR's rate meaning), every parameter's gradient against central differences of
/// the loss, the loss formed in double from NetEval's outputs with the published formulas (mean of −Σ t·log p for softmax
/// cross-entropy, mean of (y − t)² for MSE), and the bytes against the thread count.
/// </summary>
[Properties(Arbitrary = new[] { typeof(KerasModels) })]
public sealed class GradientProperties(ITestOutputHelper output) : PropertyTests(output)
{
    [Property(MaxTest = 60)]
    public void Gradients_of_converted_models_match_central_differences(GeneratedModel m)
    {
        var c = Compile.Run(Modes.Rate, m.Model, verify: true).Get("compile");
        GradientCheck.Run(c.Network, c.Functions, m.Inputs(), m.Seed, Output);
    }

    [Property(MaxTest = 60, Arbitrary = new[] { typeof(MaxPoolModels) })]
    public void Gradients_of_max_pooling_models_match_central_differences(GeneratedModel m)
    {
        var c = Compile.Run(Modes.Rate, m.Model, verify: true).Get("compile");
        GradientCheck.Run(c.Network, c.Functions, m.Inputs(), m.Seed, Output);
    }

    /// <summary>
    /// Models with max pooling converted for spiking (max-pool objects, spiking ReLUs or signed integrate-and-fire
    /// neurons, firing-rate scales), differentiated in their rate meaning.
    /// </summary>
    [Property(MaxTest = 60, Arbitrary = new[] { typeof(MaxPoolModels) })]
    public void Gradients_of_spiking_conversions_match_central_differences_of_their_rate_meaning(GeneratedModel m)
    {
        var options = m.Seed % 2 == 0 ? Modes.Spiking(Modes.ScaleFor(m.Seed), None) : Modes.SpikingSigned(Modes.ScaleFor(m.Seed));
        var c = Compile.Run(options, m.Model, verify: true).Get("compile");
        // Firing-rate scales of 50..300 put many downstream ReLU and max-pool switches within any step that float32
        // differences can resolve, so central differences of a convolution weight are off by a few percent: 5% here.
        GradientCheck.Run(c.Network, c.Functions, m.Inputs(), m.Seed, Output, relative: 5e-2);
    }

    /// <summary>
    /// Dense networks converted with a firing-rate scale s (NengoDL's scale_firing_rates: gain and bias × s, amplitude ÷
    /// s) and evaluated in rate mode: the gradient must carry the gain into the input and the amplitude into the output.
    /// </summary>
    [Property(MaxTest = 60, Arbitrary = new[] { typeof(DenseNets) })]
    public void Gradients_of_scaled_dense_networks_match_central_differences(DenseNet n)
    {
        var c = Compile.Run(Modes.Spiking(Some(n.Scale), None), n.Model, verify: true).Get("compile");
        GradientCheck.Run(c.Network, c.Functions, Seq1(n.X), n.Seed, Output);
    }

    /// <summary>
    /// Spiking conversions (firing-rate scales none, 50 or 300) with NengoDL-style firing-rate regularization (every
    /// spiking ensemble pulled toward a target rate in Hz): the loss must include the penalty by the published formula
    /// and the gradient of the sum must match central differences.
    /// </summary>
    [Property(MaxTest = 60, Arbitrary = new[] { typeof(MaxPoolModels) })]
    public void Gradients_with_firing_rate_regularization_match_central_differences(GeneratedModel m)
    {
        var options = m.Seed % 2 == 0 ? Modes.Spiking(Modes.ScaleFor(m.Seed), None) : Modes.SpikingSigned(Modes.ScaleFor(m.Seed));
        var c = Compile.Run(options, m.Model, verify: true).Get("compile");
        if (!c.Network.Nodes.Exists(n => n is Ensemble { Neuron.Spiking: true })) return;
        // Rates of tens to hundreds of Hz: a target of 100 Hz and a weight that puts the penalty near the loss.
        var reg = new RateRegularization(100f, m.Seed % 3 == 0 ? 1e-2f : 1e-4f);
        GradientCheck.Run(c.Network, c.Functions, m.Inputs(), m.Seed, Output, relative: 5e-2, regularization: reg);
    }

    [Property(MaxTest = 40)]
    public void Gradients_are_the_same_bytes_for_any_thread_count(GeneratedModel m)
    {
        var c = Compile.Run(Modes.Rate, m.Model, verify: true).Get("compile");
        var x = m.Inputs(batch: 37);   // more than two reduction chunks of 16
        if (!GradientCheck.Supported(c.Network)) return;
        var (options, targets) = GradientCheck.LossFor(c.Network, x.Head.Shape[0], m.Seed);
        SameBytes(options, c.Network, x, targets);
    }

    /// <summary>The same for the quantized method (T = 3) with firing-rate regularization, on signed integrate-and-fire conversions.</summary>
    [Property(MaxTest = 40, Arbitrary = new[] { typeof(MaxPoolModels) })]
    public void Quantized_gradients_are_the_same_bytes_for_any_thread_count(GeneratedModel m)
    {
        var c = Compile.Run(Modes.SpikingSigned(Modes.ScaleFor(m.Seed)), m.Model, verify: true).Get("compile");
        var x = m.Inputs(batch: 37);
        if (!GradientCheck.Supported(c.Network) || !c.Network.Nodes.Exists(n => n is Ensemble { Neuron.Spiking: true })) return;
        var (options, targets) = GradientCheck.LossFor(c.Network, x.Head.Shape[0], m.Seed);
        options = options with { Method = TrainingMethod.Quantized, Steps = 3, RateRegularization = new RateRegularization(100f, 1e-3f) };
        if (NetworkGradient.Run(options, c.Network, x, targets).IsFail) return;   // refused: a tanh or sigmoid after spiking neurons
        SameBytes(options, c.Network, x, targets);
    }

    static void SameBytes(GradientOptions options, Network net, Seq<Tensor> x, Tensor targets)
    {
        var one = NetworkGradient.Run(options with { Threads = 1 }, net, x, targets).Ok();
        foreach (var threads in new[] { 2, 3, 8 })
        {
            var many = NetworkGradient.Run(options with { Threads = threads }, net, x, targets).Ok();
            Assert.Equal(BitConverter.DoubleToInt64Bits(one.Loss), BitConverter.DoubleToInt64Bits(many.Loss));
            Close.Identical(one.Outputs, many.Outputs, $"outputs, 1 vs {threads} threads");
            foreach (var (name, g) in one.Gradients)
                Assert.True(g.Span.SequenceEqual(many.Gradients[name].Span), $"gradient of '{name}' differs between 1 and {threads} threads");
        }
    }
}

/// <summary>The central-difference check shared by the gradient properties.</summary>
public static class GradientCheck
{
    /// <summary>Networks the gradient handles: no function nodes (their code has no derivative).</summary>
    public static bool Supported(Network net) => !net.Nodes.Exists(n => n is FunctionNode);

    /// <summary>
    /// The loss for probe 0: softmax cross-entropy against random probability rows when the probe is a softmax,
    /// else MSE against random targets.
    /// </summary>
    public static (GradientOptions Options, Tensor Targets) LossFor(Network net, int batch, int seed)
    {
        var probe = net.Probes[0];
        var size = Shapes.Product(probe.Shape);
        var r = new System.Random(seed ^ 0x7A46);
        var t = new float[batch * size];
        if (probe.Softmax)
        {
            var classes = probe.Shape[probe.Shape.Count - 1];
            for (var row = 0; row < t.Length / classes; row++)
            {
                double total = 0;
                for (var k = 0; k < classes; k++) total += t[row * classes + k] = (float)r.NextDouble() + 0.05f;
                for (var k = 0; k < classes; k++) t[row * classes + k] = (float)(t[row * classes + k] / total);
            }
            return (new GradientOptions(Snn.Training.Loss.SoftmaxCrossEntropy), Tensor.Own(new[] { batch, size }, t));
        }
        for (var i = 0; i < t.Length; i++) t[i] = (float)(r.NextDouble() * 2 - 1);
        return (new GradientOptions(Snn.Training.Loss.MeanSquaredError), Tensor.Own(new[] { batch, size }, t));
    }

    /// <summary>The loss of NetEval's outputs, in double, by the published formula.</summary>
    public static double Loss(GradientOptions options, Network net, Seq<Tensor> outputs, Tensor targets)
    {
        var probe = net.Probes[options.Probe];
        var y = outputs[options.Probe].Span;
        var t = targets.Span;
        double sum = 0;
        if (options.Loss == Training.Loss.MeanSquaredError)
        {
            for (var i = 0; i < y.Length; i++) sum += ((double)y[i] - t[i]) * ((double)y[i] - t[i]);
            return sum / y.Length;
        }
        // Softmax cross-entropy: the probe is a softmax, so NetEval's outputs are the probabilities.
        var classes = probe.Shape[probe.Shape.Count - 1];
        for (var i = 0; i < y.Length; i++)
            if (t[i] != 0) sum -= t[i] * Math.Log(y[i]);
        return sum / (y.Length / classes);
    }

    /// <summary>
    /// Checks forward outputs against NetEval and every parameter's gradient (up to 8 coordinates per parameter, drawn from
    /// the seed) against the central difference with step h = 1e-3·max(1, |w|), within 2e-4·max(1, |L|) + relative·|difference|. A coordinate whose two one-sided
    /// differences, or whose central differences with steps h and h/2, disagree by more than the tolerance has a kink
    /// within ±h (a ReLU threshold, a max-pool switch, here or downstream) and is skipped; the check fails if more than half the coordinates of the network (beyond 8) were skipped.
    /// </summary>
    public static void Run(Network net, NodeFunctions functions, Seq<Tensor> x, int seed, ITestOutputHelper output, double relative = 2e-2,
        RateRegularization? regularization = null)
    {
        if (!Supported(net)) return;
        var batch = x.Head.Shape[0];
        var (options, targets) = LossFor(net, batch, seed);
        options = options with { RateRegularization = Optional(regularization) };
        var result = NetworkGradient.Run(options, net, x, targets).Ok();
        // With a penalty, NetEval also reports every spiking ensemble's output (probes added after the model's own).
        var penalized = regularization is null ? Seq<Ensemble>() : net.Nodes.OfType<Ensemble>().Filter(e => e.Neuron.Spiking).ToSeq().Strict();
        Network Probed(Network n) => n with
        {
            Probes = n.Probes + penalized.Select((e, k) => new Probe($"rate{k}", e.Id, None, false, Arr.create(e.Size), n.Probes.Count + k)).ToSeq(),
        };
        double LossOf(Network n, Seq<Tensor> outputs)
        {
            var loss = Loss(options, n, outputs.Take(n.Probes.Count).ToSeq(), targets);
            if (regularization is null) return loss;
            // NengoDL's recipe: per layer, loss weight × mean over samples and neurons of (rate − target)², the rate in Hz
            // being the output × the per-neuron scale / the amplitude.
            foreach (var (e, k) in penalized.Select((e, k) => (e, k)))
            {
                var y = outputs[n.Probes.Count + k].Span;
                var s = e.NeuronScale.Map(t => t.ToArray()).IfNone(() => Enumerable.Repeat(1f, e.Size).ToArray());
                double sum = 0;
                for (var q = 0; q < y.Length; q++)
                {
                    var d = (double)y[q] * s[q % e.Size] / e.Neuron.OutputAmplitude - regularization.Target;
                    sum += d * d;
                }
                loss += regularization.Weight * sum / y.Length;
            }
            return loss;
        }
        var reference = NetEval.Run(functions, Probed(net), x).Ok();
        // Forward: within float32 rounding (the runtime's blocked FMA kernels sum in another order than RefKernels).
        Close.Assert(reference.Take(net.Probes.Count).ToSeq(), result.Outputs, "NetEval vs NetworkGradient forward");
        var l0 = LossOf(net, reference);
        Assert.True(Math.Abs(l0 - result.Loss) <= 1e-4 * Math.Max(1, Math.Abs(l0)), $"loss {result.Loss} vs NetEval's {l0}");
        if (regularization is null) Assert.Equal(0.0, result.Penalty);
        else Assert.True(result.Penalty > 0 && result.Penalty <= result.Loss, $"penalty {result.Penalty} of loss {result.Loss}");

        var r = new System.Random(seed ^ 0x61AD);
        var (checkedCount, skipped) = (0, 0);
        foreach (var p in NetworkParameters.Read(net, false))
        {
            var g = result.Gradients[p.Name];
            var coords = Enumerable.Range(0, p.Value.Length).OrderBy(_ => r.Next()).Take(8);
            foreach (var k in coords)
            {
                var w = p.Value.Span[k];
                var h = 1e-3f * Math.Max(1f, Math.Abs(w));
                double At(float v)
                {
                    var changed = p.Value.ToArray();
                    changed[k] = v;
                    var n = NetworkParameters.Write(net, Map((p.Name, Tensor.Own(p.Value.Shape, changed)))).Ok();
                    return LossOf(n, NetEval.Run(functions, Probed(n), x).Ok());
                }
                var (up, down) = (At(w + h), At(w - h));
                var (hu, hd) = ((double)(w + h) - w, (double)w - (w - h));
                var central = (up - down) / (hu + hd);
                var (right, left) = ((up - l0) / hu, (l0 - down) / hd);
                var tol = 2e-4 * Math.Max(1, Math.Abs(l0)) + relative * Math.Abs(central);
                // Kinks are detected at the base tolerance whatever `relative` is: a looser assertion must not also
                // loosen the detector, or a kink whose one-sided slopes differ by less than `relative` passes as smooth
                // while the gradient (one of those slopes) sits half that difference from the central one.
                var kinkTol = 2e-4 * Math.Max(1, Math.Abs(l0)) + 2e-2 * Math.Abs(central);
                var half = h / 2;
                var halfCentral = (At(w + half) - At(w - half)) / (((double)(w + half) - w) + ((double)w - (w - half)));
                if (Math.Abs(right - left) > kinkTol || Math.Abs(central - halfCentral) > kinkTol)
                {
                    skipped++;
                    continue;
                }
                checkedCount++;
                Assert.True(Math.Abs(g.Span[k] - central) <= tol,
                    $"d loss / d {p.Kind} '{p.Name}'[{k}]: gradient {g.Span[k]:R}, central difference {central:R} (one-sided {left:R}, {right:R}; loss {l0:R})");
            }
        }
        Assert.True(skipped <= checkedCount + 8, $"{skipped} coordinates skipped as kinks, only {checkedCount} checked");
    }
}
