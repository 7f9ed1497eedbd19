using Snn.Kernels;
using Snn.Runtime.Kernels;
using Xunit;

namespace Snn.Tests.Kernels;

public class NeuronTests
{
    private const float Dt = 0.001f;
    private const float TauRc = 0.02f;
    private const float TauRef = 0.002f;

    public static IEnumerable<object[]> Lengths() => Enumerable.Range(0, 68).Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Lengths))]
    public void RectifiedLinearExact(int n)
    {
        var j = KernelAssert.Random(n, n, -2f, 2f);
        var o = new float[n];
        NeuronKernels.RectifiedLinear(j, 0.25f, o);
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(0.25f * MathF.Max(0f, j[i]), o[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void SpikingRectifiedLinearMatchesFloatFormulaExactly(int n)
    {
        var j = KernelAssert.Random(n, n, -50f, 900f);
        var v = KernelAssert.Random(n, n + 1, 0f, 1f);
        var ev = (float[])v.Clone();
        var o = new float[n];
        for (int step = 0; step < 5; step++)
        {
            NeuronKernels.SpikingRectifiedLinear(j, Dt, 2f, v, o);
            for (int i = 0; i < n; i++)
            {
                ev[i] += MathF.Max(j[i], 0f) * Dt;
                float spikes = MathF.Floor(ev[i]);
                Assert.Equal((2f / Dt) * spikes, o[i]);
                ev[i] -= spikes;
                Assert.Equal(ev[i], v[i]);
            }
        }
    }

    /// <summary>
    /// The one-pass kernel equals the three it replaces (the currents x·gain + bias, the signed step, the output scale),
    /// bit for bit, for every gain form, with and without a scale, over several samples with vector tails.
    /// </summary>
    [Theory]
    [InlineData(37, 3, 0, false)]
    [InlineData(37, 3, 1, true)]
    [InlineData(48, 2, 48, true)]
    [InlineData(5, 4, 5, false)]
    public void SignedAffineStepEqualsTheCurrentsThenTheStepThenTheScale(int size, int rows, int gains, bool scaled)
    {
        var rng = new Random(size * 31 + gains);
        float R(double lo, double hi) => (float)(lo + rng.NextDouble() * (hi - lo));
        var n = size * rows;
        var x = Enumerable.Range(0, n).Select(i => i % 7 == 0 ? 0f : R(-3, 5)).ToArray();
        var gain = Enumerable.Range(0, gains).Select(_ => R(50, 400)).ToArray();
        var bias = Enumerable.Range(0, size).Select(_ => R(-200, 300)).ToArray();
        var scale = scaled ? Enumerable.Range(0, size).Select(_ => R(0.1, 9)).ToArray() : System.Array.Empty<float>();
        var v = Enumerable.Range(0, n).Select(_ => R(-1, 1)).ToArray();
        var c = Enumerable.Range(0, n).Select(_ => MathF.Floor(R(0, 4))).ToArray();
        var (v2, c2, o, o2, j) = (v.ToArray(), c.ToArray(), new float[n], new float[n], new float[n]);
        const float dt = 0.001f, amplitude = 0.023f;
        NeuronKernels.SignedAffine(x, gain, bias, scale, dt, amplitude, v, c, o);
        Elementwise.AffineSet(x, gain, bias, j);
        NeuronKernels.SignedIntegrateAndFire(j, dt, amplitude, v2, c2, o2);
        if (scaled)
            for (var r = 0; r < rows; r++) System.Numerics.Tensors.TensorPrimitives.Multiply(o2.AsSpan(r * size, size), scale, o2.AsSpan(r * size, size));
        Assert.Equal(o2.Select(BitConverter.SingleToInt32Bits), o.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(v2.Select(BitConverter.SingleToInt32Bits), v.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(c2.Select(BitConverter.SingleToInt32Bits), c.Select(BitConverter.SingleToInt32Bits));
    }

    /// <summary>The vector loops compute lane by lane what the formula does, bit for bit, signed zeros and tails included.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(15)]
    [InlineData(1003)]
    public void SignedStepVectorsEqualTheFormula(int n)
    {
        var rng = new Random(n);
        float R(double lo, double hi) => (float)(lo + rng.NextDouble() * (hi - lo));
        var j = Enumerable.Range(0, n).Select(i => i % 11 == 0 ? -0f : R(-900, 1500)).ToArray();
        var v = Enumerable.Range(0, n).Select(_ => R(-1.5, 1)).ToArray();
        var c = Enumerable.Range(0, n).Select(i => i % 3 == 0 ? 0f : MathF.Floor(R(0, 5))).ToArray();
        var (v2, c2, o2) = (v.ToArray(), c.ToArray(), new float[n]);
        const float dt = 0.001f, amplitude = 0.37f;
        var o = new float[n];
        NeuronKernels.SignedIntegrateAndFire(j, dt, amplitude, v, c, o);
        for (var i = 0; i < n; i++)
        {
            var x = v2[i] + j[i] * dt;
            var spikes = MathF.Max(MathF.Floor(x), -c2[i]);
            o2[i] = amplitude / dt * spikes;
            v2[i] = x - spikes;
            c2[i] += spikes;
        }
        Assert.Equal(o2.Select(BitConverter.SingleToInt32Bits), o.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(v2.Select(BitConverter.SingleToInt32Bits), v.Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(c2.Select(BitConverter.SingleToInt32Bits), c.Select(BitConverter.SingleToInt32Bits));
    }

    /// <summary>
    /// Integrate-and-fire with negative spikes: after every step the net spike count is max(0, floor(v0 + Σ J·dt)),
    /// the ReLU of the integrated input quantized to whole spikes (the formula, computed in double from inputs that are
    /// exact in float32: dt = 1, currents in quarters, v0 = 0.5), whatever order the input comes in; the voltage is the
    /// rest, v0 + Σ J·dt − count.
    /// </summary>
    [Theory]
    [MemberData(nameof(Lengths))]
    public void SignedIntegrateAndFireCountIsTheQuantizedReluOfTheIntegratedInput(int n)
    {
        var rng = new Random(1000 + n);
        var v = Enumerable.Repeat(0.5f, n).ToArray();
        var count = new float[n];
        var o = new float[n];
        var integral = Enumerable.Repeat(0.5, n).ToArray();
        var net = new double[n];
        var sawNegative = false;
        for (var step = 0; step < 40; step++)
        {
            var j = Enumerable.Range(0, n).Select(_ => rng.Next(-12, 13) / 4f).ToArray();
            NeuronKernels.SignedIntegrateAndFire(j, 1f, 3f, v, count, o);
            for (var i = 0; i < n; i++)
            {
                integral[i] += j[i];
                net[i] += o[i] / 3f;
                sawNegative |= o[i] < 0;
                var expected = Math.Max(0, Math.Floor(integral[i]));
                Assert.Equal(expected, net[i]);
                Assert.Equal(expected, count[i]);
                Assert.Equal(integral[i] - expected, v[i]);
            }
        }
        Assert.True(n < 2 || sawNegative, "the inputs made some neuron take back spikes");
    }

    /// <summary>
    /// Where the integrated input never falls (J ≥ 0), negative spikes never happen and the signed neuron gives plain
    /// IF's outputs and voltages bit for bit; where it falls, plain IF keeps spikes that the signed one takes back.
    /// </summary>
    [Theory]
    [MemberData(nameof(Lengths))]
    public void SignedIntegrateAndFireEqualsPlainIfOnRisingInput(int n)
    {
        var j = KernelAssert.Random(n, 7 * n, 0f, 900f);
        var v1 = KernelAssert.Random(n, n + 3, 0f, 1f);
        var v2 = (float[])v1.Clone();
        var count = new float[n];
        var o1 = new float[n];
        var o2 = new float[n];
        for (var step = 0; step < 20; step++)
        {
            NeuronKernels.IntegrateAndFire(j, Dt, 0.5f, false, false, v1, o1);
            NeuronKernels.SignedIntegrateAndFire(j, Dt, 0.5f, v2, count, o2);
            Assert.Equal(o1, o2);
            Assert.Equal(v1, v2);
        }

        // One neuron: +1.5 then −1.5 per unit dt. Plain IF fires once and keeps it; the signed neuron takes it back.
        float[] vp = { 0f }, vs = { 0f }, c = { 0f }, op = { 0f }, os = { 0f };
        NeuronKernels.IntegrateAndFire(new[] { 1.5f }, 1f, 1f, false, false, vp, op);
        NeuronKernels.SignedIntegrateAndFire(new[] { 1.5f }, 1f, 1f, vs, c, os);
        Assert.Equal((1f, 1f), (op[0], os[0]));
        NeuronKernels.IntegrateAndFire(new[] { -1.5f }, 1f, 1f, false, false, vp, op);
        NeuronKernels.SignedIntegrateAndFire(new[] { -1.5f }, 1f, 1f, vs, c, os);
        Assert.Equal((0f, -1f), (op[0], os[0]));
        Assert.Equal((-1f, 0f, 0f), (vp[0], vs[0], c[0]));
    }

    [Theory]
    [InlineData(1.5f, 1)]
    [InlineData(150.5f, 150)]
    [InlineData(2500f, 2500)] // more than one spike per step: n = floor(v) counts them all
    [InlineData(-3f, 0)]
    public void SpikingRectifiedLinearCountsOverOneSecond(float current, int expectedSpikes)
    {
        var j = new[] { current };
        var v = new float[1];
        var o = new float[1];
        double spikes = 0;
        for (int step = 0; step < 1000; step++)
        {
            NeuronKernels.SpikingRectifiedLinear(j, Dt, 1f, v, o);
            spikes += o[0] * Dt;
            Assert.Equal(0f, (o[0] * Dt) - MathF.Round(o[0] * Dt), 3);
        }

        Assert.Equal(expectedSpikes, (int)Math.Round(spikes));
        Assert.InRange(v[0], 0f, 1f);
    }

    [Fact]
    public void SpikingRectifiedLinearFirstSpikeStep()
    {
        // J = 1.5, dt = 1 ms: v reaches 1 after ceil(1 / 0.0015) = 667 steps, amplitude / dt per spike.
        var v = new float[1];
        var o = new float[1];
        int first = -1;
        for (int step = 1; step <= 1000 && first < 0; step++)
        {
            NeuronKernels.SpikingRectifiedLinear([1.5f], Dt, 1f, v, o);
            if (o[0] != 0)
            {
                first = step;
                Assert.Equal(1f / Dt, o[0]);
            }
        }

        Assert.Equal(667, first);
    }

    private static double LifRateRef(double j, double tauRc, double tauRef, double amplitude)
        => j - 1 > 0 ? amplitude / (tauRef + (tauRc * Math.Log(1 + (1 / (j - 1))))) : 0;

    [Theory]
    [MemberData(nameof(Lengths))]
    public void LifRateMatchesAnalyticFormula(int n)
    {
        var j = KernelAssert.Random(n, n, -1f, 20f);
        if (n > 3)
        {
            j[0] = 1f;
            j[1] = 1.0000001f;
            j[2] = 1e6f;
        }

        var o = new float[n];
        NeuronKernels.LifRate(j, TauRc, TauRef, 0.7f, o);
        KernelAssert.Close(j.Select(v => LifRateRef(v, TauRc, TauRef, 0.7)).ToArray(), o);
    }

    /// <summary>Nengo LIF.step for one element in float, with double expm1/log1p.</summary>
    private static void LifRef(float j, float dt, float tauRc, float tauRef, float minV, float amp, ref float v, ref float r, out float o)
    {
        r -= dt;
        float deltaT = Math.Clamp(dt - r, 0f, dt);
        float e = (float)ExpM1(-deltaT / tauRc);
        v -= (j - v) * e;
        bool spiked = v > 1f;
        o = spiked ? amp / dt : 0f;
        float tSpike = spiked ? dt + (tauRc * (float)Math.Log(1 + (double)(-(v - 1f) / (j - 1f)))) : 0f;
        if (v < minV)
        {
            v = minV;
        }

        if (spiked)
        {
            v = 0f;
            r = tauRef + tSpike;
        }
    }

    private static double ExpM1(double x) => Math.Abs(x) < 1e-5 ? x + (x * x / 2) + (x * x * x / 6) : Math.Exp(x) - 1;

    [Theory]
    [MemberData(nameof(Lengths))]
    public void LifStepMatchesNengoFormulas(int n)
    {
        var j = KernelAssert.Random(n, n, -2f, 40f);
        var v = KernelAssert.Random(n, n + 1, 0f, 1f);
        var r = KernelAssert.Random(n, n + 2, -Dt, 3 * Dt); // includes partially refractory neurons
        var o = new float[n];
        for (int step = 0; step < 4; step++)
        {
            var ev = new double[n];
            var er = new double[n];
            var eo = new double[n];
            for (int i = 0; i < n; i++)
            {
                float vi = v[i], ri = r[i];
                LifRef(j[i], Dt, TauRc, TauRef, -0.25f, 1.5f, ref vi, ref ri, out float oi);
                (ev[i], er[i], eo[i]) = (vi, ri, oi);
            }

            NeuronKernels.Lif(j, Dt, TauRc, TauRef, -0.25f, 1.5f, v, r, o);
            KernelAssert.Close(ev, v, rel: 1e-6);
            KernelAssert.Close(er, r, rel: 1e-6);
            KernelAssert.Close(eo, o, rel: 1e-6);
        }
    }

    [Fact]
    public void LifElementsAreIndependentOfPositionInTheSpan()
    {
        const int N = 67;
        var j = KernelAssert.Random(N, 1, 0f, 30f);
        var v = KernelAssert.Random(N, 2, 0f, 1f);
        var r = KernelAssert.Random(N, 3, -Dt, 3 * Dt);
        var (v1, r1, o1) = ((float[])v.Clone(), (float[])r.Clone(), new float[N]);
        for (int step = 0; step < 20; step++)
        {
            NeuronKernels.Lif(j, Dt, TauRc, TauRef, 0f, 1f, v, r, o1);
            for (int i = 0; i < N; i++)
            {
                var o = new float[1];
                NeuronKernels.Lif(j.AsSpan(i, 1), Dt, TauRc, TauRef, 0f, 1f, v1.AsSpan(i, 1), r1.AsSpan(i, 1), o);
                Assert.Equal(o1[i], o[0]);
            }

            Assert.Equal(v, v1);
            Assert.Equal(r, r1);
        }
    }

    [Fact]
    public void LifSpikeRateApproachesLifRate()
    {
        float[] j = [1.2f, 1.5f, 2f, 3f, 5f, 10f, 30f, 0.8f];
        int n = j.Length;
        var v = new float[n];
        var r = new float[n];
        var o = new float[n];
        var counts = new int[n];
        const int Steps = 4000; // 4 s
        for (int step = 0; step < Steps; step++)
        {
            NeuronKernels.Lif(j, Dt, TauRc, TauRef, 0f, 1f, v, r, o);
            for (int i = 0; i < n; i++)
            {
                if (o[i] != 0)
                {
                    Assert.Equal(1f / Dt, o[i]);
                    counts[i]++;
                }
            }
        }

        var rates = new float[n];
        NeuronKernels.LifRate(j, TauRc, TauRef, 1f, rates);
        for (int i = 0; i < n; i++)
        {
            double expected = LifRateRef(j[i], TauRc, TauRef, 1);
            Assert.Equal(expected, rates[i], 3);

            // Nengo's LIF interpolates the spike time inside a step, so the spike count is within
            // one or two spikes of rate * T (one for the first interval from v = 0).
            Assert.InRange(counts[i], (expected * Steps * Dt) - 2, (expected * Steps * Dt) + 1);
        }

        Assert.Equal(0, counts[^1]);
        Assert.InRange(v[^1], 0.79f, 0.8f); // subthreshold: v -> J
    }

    [Fact]
    public void LifClampsToMinVoltage()
    {
        var v = new float[] { 0.5f, 0.5f };
        var r = new float[2];
        var o = new float[2];
        for (int step = 0; step < 200; step++)
        {
            NeuronKernels.Lif([-1f], Dt, TauRc, TauRef, -0.3f, 1f, v.AsSpan(0, 1), r.AsSpan(0, 1), o.AsSpan(0, 1));
            NeuronKernels.Lif([-1f], Dt, TauRc, TauRef, 0f, 1f, v.AsSpan(1, 1), r.AsSpan(1, 1), o.AsSpan(1, 1));
        }

        Assert.Equal(-0.3f, v[0]);
        Assert.Equal(0f, v[1]);
    }

    [Fact]
    public void LifRefractoryPeriodHoldsVoltageAtZero()
    {
        // A large current spikes on the first step; for tau_ref = 2 ms, the voltage stays 0 for the
        // next full step and rises again after that.
        var v = new float[1];
        var r = new float[1];
        var o = new float[1];
        var j = new[] { 2000f };
        NeuronKernels.Lif(j, Dt, TauRc, TauRef, 0f, 1f, v, r, o);
        Assert.NotEqual(0f, o[0]);
        Assert.Equal(0f, v[0]);
        Assert.InRange(r[0], TauRef, TauRef + Dt);
        NeuronKernels.Lif(j, Dt, TauRc, TauRef, 0f, 1f, v, r, o);
        Assert.Equal(0f, o[0]);
        Assert.Equal(0f, v[0]);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void SigmoidAndTanhMatchFormulas(int n)
    {
        var j = KernelAssert.Random(n, n, -12f, 12f);
        var o = new float[n];
        NeuronKernels.Sigmoid(j, 0.0025f, o);
        KernelAssert.Close(j.Select(x => 1 / 0.0025 / (1 + Math.Exp(-x))).ToArray(), o);
        NeuronKernels.Tanh(j, 1f, o);
        KernelAssert.Close(j.Select(x => Math.Tanh(x)).ToArray(), o);
        NeuronKernels.Tanh(j, 0.0025f, o);
        KernelAssert.Close(j.Select(x => Math.Tanh(x) / 0.0025).ToArray(), o);
    }

    [Fact]
    public void OutputMayAliasInput()
    {
        float[] j = [-1f, 0.5f, 2f];
        NeuronKernels.RectifiedLinear(j, 2f, j);
        Assert.Equal([0f, 1f, 4f], j);
        float[] s = [0f, 100f];
        NeuronKernels.Sigmoid(s, 1f, s);
        Assert.Equal(0.5f, s[0]);
        Assert.Equal(1f, s[1]);
    }

    [Fact]
    public void BadLengthsThrow()
    {
        var a3 = new float[3];
        var a4 = new float[4];
        Assert.Throws<ArgumentException>(() => NeuronKernels.RectifiedLinear(a3, 1f, a4));
        Assert.Throws<ArgumentException>(() => NeuronKernels.SpikingRectifiedLinear(a3, Dt, 1f, a4, a3));
        Assert.Throws<ArgumentException>(() => NeuronKernels.SpikingRectifiedLinear(a3, Dt, 1f, a3, a4));
        Assert.Throws<ArgumentException>(() => NeuronKernels.LifRate(a3, TauRc, TauRef, 1f, a4));
        Assert.Throws<ArgumentException>(() => NeuronKernels.Lif(a3, Dt, TauRc, TauRef, 0f, 1f, a4, new float[3], new float[3]));
        Assert.Throws<ArgumentException>(() => NeuronKernels.Lif(a3, Dt, TauRc, TauRef, 0f, 1f, new float[3], a4, new float[3]));
        Assert.Throws<ArgumentException>(() => NeuronKernels.Lif(a3, Dt, TauRc, TauRef, 0f, 1f, new float[3], new float[3], a4));
        Assert.Throws<ArgumentException>(() => NeuronKernels.Sigmoid(a3, 1f, a4));
        Assert.Throws<ArgumentException>(() => NeuronKernels.Tanh(a3, 1f, a4));
    }
}
