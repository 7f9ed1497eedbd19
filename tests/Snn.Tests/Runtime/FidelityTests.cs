using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;
using Snn.Ops;

namespace Snn.Tests.Runtime;

/// <summary>
/// The per-layer error against the closed form of integrate-and-fire with negative spikes (README, "Negative spikes";
/// Wang et al. 2022): after T steps a neuron's net spike count is max(0, floor(v0 + Σ J·dt)), whatever order its input
/// came in, so a two-layer network's averaged outputs, and hence both error measures, follow by hand.
/// </summary>
public class FidelityTests
{
    const float Dt = 0.001f;

    static (Network Net, float[,] W1, float[] B1, float[] W2, float B2, float G2) TwoLayers()
    {
        var w1 = new float[,] { { 310f, -120f }, { 95f, 230f }, { -40f, 180f } };
        var b1 = new[] { 37f, -21f };
        var w2 = new[] { 0.55f, 0.8f };
        const float b2 = -13f, g2 = 1.3f;
        var nb = new NetworkBuilder(Dt);
        var x = nb.Input("x", 3);
        var signed = new IntegrateAndFire { NegativeSpikes = true };
        var a = nb.Ensemble("a", 2, signed, 1f, Tensor.Own(new[] { 2 }, b1), Tensor.Filled(new[] { 2 }, 0.5f));
        var b = nb.Ensemble("b", 1, signed, g2, Tensor.Own(new[] { 1 }, new[] { b2 }), Tensor.Filled(new[] { 1 }, 0.5f));
        var k1 = new float[6];
        for (var i = 0; i < 3; i++)
            for (var j = 0; j < 2; j++) k1[i * 2 + j] = w1[i, j];
        nb.Connect(x, a, new DenseT(Tensor.Own(new[] { 3, 2 }, k1), 1));
        nb.Connect(a, b, new DenseT(Tensor.Own(new[] { 2, 1 }, w2), 1));
        nb.Probe(b);
        return (nb.Build().Ok(), w1, b1, w2, b2, g2);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(9)]
    [InlineData(32)]
    public void PerLayerErrorsFollowTheSignedNeuronsClosedForm(int steps)
    {
        var (net, w1, b1, w2, b2, g2) = TwoLayers();
        var input = TestModels.Random(new[] { 7, 3 }, 5, 0.05f, 1f);
        var result = Fidelity.PerLayer(NodeFunctions.Empty, net, Seq1(input), new SimOptions(steps, Readout.Mean, BatchSize: 3, Threads: 2),
            LowerOptions.Default, OptimizeOptions.Default).Ok();

        double Count(double current) => Math.Max(0, Math.Floor(0.5 + steps * Dt * current));
        double aErr = 0, aAnn = 0, bErr = 0, bLocal = 0, bAnn = 0;
        for (var s = 0; s < 7; s++)
        {
            var meanA = new double[2];
            var annA = new double[2];
            for (var j = 0; j < 2; j++)
            {
                var j0 = b1[j] + Enumerable.Range(0, 3).Sum(i => (double)w1[i, j] * input[s * 3 + i]);
                annA[j] = Math.Max(0, j0);
                meanA[j] = Count(j0) / (steps * Dt);     // amplitude 1: each spike is 1/dt for one step
                aErr += Math.Pow(meanA[j] - annA[j], 2);
                aAnn += annA[j] * annA[j];
            }
            // Layer b integrates b2 + g2·(w2·spikes) every step: Σ J·dt = T·dt·b2 + g2·(w2·counts of a).
            var countB = Math.Max(0, Math.Floor(0.5 + steps * Dt * b2 + g2 * (w2[0] * meanA[0] + w2[1] * meanA[1]) * steps * Dt));
            var meanB = countB / (steps * Dt);
            var annB = Math.Max(0, b2 + g2 * (w2[0] * annA[0] + w2[1] * annA[1]));
            var localB = Math.Max(0, b2 + g2 * (w2[0] * meanA[0] + w2[1] * meanA[1]));
            bErr += Math.Pow(meanB - annB, 2);
            bLocal += Math.Pow(meanB - localB, 2);
            bAnn += annB * annB;
        }
        Assert.Equal(new[] { "a", "b" }, result.Map(r => r.Ensemble));
        Assert.Equal(Math.Sqrt(aErr / aAnn), result[0].Error, 4);
        Assert.Equal(result[0].Error, result[0].LocalError, 12);   // the first layer's input is the exact input
        Assert.Equal(Math.Sqrt(bErr / bAnn), result[1].Error, 4);
        Assert.Equal(Math.Sqrt(bLocal / bAnn), result[1].LocalError, 4);
        Assert.Equal(Math.Sqrt(bAnn / 7), result[1].AnnRms, 3);
        Assert.True(result[1].Error > 0);
    }

    /// <summary>The per-layer errors are sums over samples in sample order: the same bits whatever the threads and runs.</summary>
    [Fact]
    public void PerLayerErrorsAreTheSameBitsOnAnyThreadCount()
    {
        var (net, _, _, _, _, _) = TwoLayers();
        var input = TestModels.Random(new[] { 301, 3 }, 6, 0.05f, 1f);
        Seq<double> Run(int threads) => Fidelity.PerLayer(NodeFunctions.Empty, net, Seq1(input), new SimOptions(9, Readout.Mean, BatchSize: 7, Threads: threads),
            LowerOptions.Default, OptimizeOptions.Default).Ok().Bind(r => Seq(r.Error, r.LocalError, r.AnnRms)).Strict();
        var one = Run(1);
        for (var i = 0; i < 4; i++) Assert.Equal(one.Map(BitConverter.DoubleToInt64Bits), Run(4).Map(BitConverter.DoubleToInt64Bits));
    }

    [Fact]
    public void AgreementAndRelativeErrorAreTopOneMatchesAndTheNormRatio()
    {
        var reference = Tensor.Own(new[] { 3, 2 }, new[] { 1f, 2f, 3f, 0f, -1f, -2f });
        var outputs = Tensor.Own(new[] { 3, 2 }, new[] { 1f, 3f, 0f, 4f, -1f, -2f });
        Assert.Equal(2.0 / 3, Fidelity.Agreement(outputs, reference), 12);
        Assert.Equal(Math.Sqrt(1 + 9 + 16) / Math.Sqrt(1 + 4 + 9 + 1 + 4), Fidelity.RelativeError(outputs, reference), 12);
    }
}
