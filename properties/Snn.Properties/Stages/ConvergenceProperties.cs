using FsCheck.Xunit;
using LanguageExt;
using MathNet.Numerics.LinearAlgebra;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Snn.Runtime;
using Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;
using static LanguageExt.Prelude;

namespace Snn.Properties.Stages;

/// <summary>
/// Spiking → rate convergence for SpikingRectifiedLinear with no synapse, on Input → Dense(relu) → Dense(linear).
/// </summary>
/// <remarks>
/// <para><b>Derivation of the bound.</b> With firing-rate scale s the hidden ensemble has gain s, bias s·b1 and
/// amplitude A = 1/s (nengo-semantics.md §1.1, §2.3), so its input current is J_i = s·a_i with
/// a = W1ᵀx + b1, constant over time because the input is held constant and there is no synapse.
/// The neuron step (§2.1) is v += max(J,0)·dt; n = floor(v); out = (A/dt)·n; v -= n. Write J⁺ = max(J,0).
/// By induction v_t + (spikes so far) = v0 + t·J⁺·dt, and v_t ∈ [0, 1), so after N steps the spike count is
/// c_i(N) = floor(v0_i + N·J⁺_i·dt) with v0 ∈ [0, 1). Hence c_i − N·J⁺_i·dt = floor(v0 + y) − y ∈ (v0 − 1, v0] ⊂ (−1, 1)
/// where y = N·J⁺_i·dt.
/// The mean hidden output over N steps is (A/dt)·c_i/N and its rate output is A·J⁺_i = relu(a_i), so
///   |mean_i(N) − rate_i| = A/(N·dt) · |c_i − N·J⁺_i·dt| &lt; A/(N·dt) = 1/(s·N·dt).
/// The readout is linear and unfiltered, so its mean is W2ᵀ·mean(N) + b2 and
///   |mean_k(N) − rate_k| ≤ Σ_i |W2[i,k]| · 1/(s·N·dt)            (the column ℓ1 norm of W2).
/// </para>
/// <para><b>Float slack.</b> The simulator runs in float32: each of the N voltage updates rounds by at most
/// one ulp of v (&lt; 2^-22 for v &lt; 2), and J itself carries a relative rounding error (≲ 1e-6 for these sizes),
/// so the spike count can be off from the exact value by ε_i = N·2^-22 + N·J⁺_i·dt·1e-5 more; and the output
/// dense layer and the float amplitude/dt add a relative rounding error we cover with the brief's
/// 1e-4·max(1, |rate_k|). The checked bound is
///   bound_k(N) = Σ_i |W2[i,k]| · (1 + ε_i) / (s·N·dt) + 1e-4·max(1, |rate_k|).
/// The rate is computed in double with MathNet.Numerics (an oracle independent of the compiler).</para>
/// <para>Since the initial voltages are known (<c>Ensemble.InitialVoltage</c>), the property also checks the exact
/// prediction W2ᵀ·(c/(s·N·dt)) + b2 with c_i = floor(v0_i + N·J⁺_i·dt) to 1e-4·max(1, |prediction|), skipping the
/// rare samples where some v0_i + N·J⁺_i·dt is within the float slack ε_i of an integer.</para>
/// <para>The error must also shrink with N: summed over a sample of 150 models the per-model maximum errors decrease
/// strictly 10 → 100 → 1000 (a second property, whose one case is the whole sample). Per model only the bound
/// shrinks, not the error: a model can be exact by chance at N = 10 (one drawn with FSCHECK_SEED=7397206700220285491
/// by the earlier Fact-based runner had error 4.2e-4 at N = 10 and 1.6e-3 at N = 1000, both inside their bounds), so
/// a per-model decrease is not part of the claim.</para>
/// </remarks>
[Properties(Arbitrary = new[] { typeof(DenseNets) })]
public sealed class ConvergenceProperties(ITestOutputHelper output) : PropertyTests(output)
{
    static readonly int[] Ns = { 10, 100, 1000 };
    const double Dt = 0.001;

    [Property(MaxTest = 150)]
    public void Spiking_relu_mean_converges_to_rate_within_derived_bound(DenseNet net) => Errors(net);

    /// <summary>Summed over the sample, the per-model maximum error decreases strictly with N (each model also within its bound).</summary>
    [Property(MaxTest = 1)]
    public void Summed_error_decreases_with_steps(DenseNetSample sample)
    {
        var errors = sample.Nets.Select(Errors).ToList();
        var sums = Enumerable.Range(0, Ns.Length).Select(q => errors.Sum(e => e.MaxErr[q])).ToArray();
        Output.WriteLine($"mean max-error at N = {string.Join(", ", Ns)}: {string.Join(", ", sums.Select(s => (s / errors.Count).ToString("E3")))}; " +
                         $"largest err/bound {errors.Max(e => e.Tightness):F3}");
        Assert.True(sums[0] > sums[1] && sums[1] > sums[2], $"summed errors do not decrease: {string.Join(" > ", sums)}");
    }

    /// <summary>
    /// Checks one network against the bound and the exact spike-count prediction; returns its maximum error at each
    /// N and its largest error/bound ratio.
    /// </summary>
    static (double[] MaxErr, double Tightness) Errors(DenseNet net)
    {
        var tightness = 0.0;
        var options = CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(net.Scale), Synapse = None, Dt = (float)Dt },
        };
        var c = Compile.Run(options, net.Model, verify: true).Get("compile");
        var ens = c.Network.Nodes.OfType<Ensemble>().ToList();
        if (ens.Count != 1 || ens[0].Neuron is not SpikingRectifiedLinear)
            throw new XunitException($"expected one SpikingRectifiedLinear ensemble, got {string.Join(", ", ens.Select(e => e.Neuron))}");

        var results = Interpreter.Run(c.Program, c.Functions, Seq1(net.X), new SimOptions(Steps: Ns.Max(), Readout: Readout.Mean), Ns).Ok();
        var v0 = ens[0].InitialVoltage.Map(t => t.ToArray()).IfNone(() => throw new XunitException("spiking ensemble without initial voltage"));

        // Double-precision oracle.
        var w1 = Matrix<double>.Build.Dense(net.In, net.Hidden, (i, j) => net.W1[i * net.Hidden + j]);
        var w2 = Matrix<double>.Build.Dense(net.Hidden, net.Out, (i, j) => net.W2[i * net.Out + j]);
        var b1 = Vector<double>.Build.Dense(net.Hidden, j => net.B1[j]);
        var b2 = Vector<double>.Build.Dense(net.Out, k => net.Bias2 ? net.B2[k] : 0.0);
        var absW2 = w2.PointwiseAbs();

        var maxErr = new double[Ns.Length];
        for (var b = 0; b < net.Batch; b++)
        {
            var x = Vector<double>.Build.Dense(net.In, i => net.X[b * net.In + i]);
            var a = w1.TransposeThisAndMultiply(x) + b1;
            var hidden = a.PointwiseMaximum(0.0);
            var rate = w2.TransposeThisAndMultiply(hidden) + b2;
            var current = hidden * net.Scale;   // J⁺ = s·relu(a)
            for (var q = 0; q < Ns.Length; q++)
            {
                var n = Ns[q];
                var slack = current.Map(j => 1.0 + n * Math.Pow(2, -22) + n * j * Dt * 1e-5);
                var spikeBound = absW2.TransposeThisAndMultiply(slack) / (net.Scale * n * Dt);
                var mean = results[q][0];
                // Exact prediction from the derivation: c_i = floor(v0_i + N·J⁺_i·dt), checked unless some
                // v0_i + N·J⁺_i·dt lies within the float slack of an integer (where float32 may round either way).
                var y = Enumerable.Range(0, net.Hidden).Select(i => v0[i] + n * current[i] * Dt).ToArray();
                if (y.Select((yi, i) => Math.Abs(yi - Math.Round(yi)) > slack[i] - 1.0).All(ok => ok))
                {
                    var counts = Vector<double>.Build.Dense(net.Hidden, i => Math.Floor(y[i]));
                    var predicted = w2.TransposeThisAndMultiply(counts / (net.Scale * n * Dt)) + b2;
                    for (var k = 0; k < net.Out; k++)
                    {
                        var got = mean[b * net.Out + k];
                        var tol = 1e-4 * Math.Max(1, Math.Abs(predicted[k]));
                        if (!(Math.Abs(got - predicted[k]) <= tol))
                            throw new XunitException(
                                $"N={n}, sample {b}, output {k}: mean {got:R} vs exact spike-count prediction {predicted[k]:R} (tolerance {tol:E3})");
                    }
                }
                for (var k = 0; k < net.Out; k++)
                {
                    var got = mean[b * net.Out + k];
                    var err = Math.Abs(got - rate[k]);
                    var bound = spikeBound[k] + 1e-4 * Math.Max(1, Math.Abs(rate[k]));
                    if (!(err <= bound))
                        throw new XunitException(
                            $"N={n}, sample {b}, output {k}: mean {got:R} vs rate {rate[k]:R}, |err| {err:E3} > bound {bound:E3}");
                    maxErr[q] = Math.Max(maxErr[q], err);
                    tightness = Math.Max(tightness, err / bound);
                }
            }
        }
        return (maxErr, tightness);
    }
}
