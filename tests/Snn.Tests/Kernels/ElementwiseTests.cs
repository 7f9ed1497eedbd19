using Snn.Runtime.Kernels;
using Xunit;

namespace Snn.Tests.Kernels;

public class ElementwiseTests
{
    /// <summary>
    /// A scaled spike output holds n · (amplitude/dt) · f per neuron (n whole spikes, f the neuron's factor): the counts
    /// come back whole, however the float products round.
    /// </summary>
    [Fact]
    public void AccumulateCountsRecoversWholeSpikesFromScaledOutputs()
    {
        var rng = new System.Random(3);
        const float alpha = 1f / 0.001f * 0.0173f;
        var factors = Enumerable.Range(0, 300).Select(_ => (float)(0.05 + rng.NextDouble() * 20)).ToArray();
        var spikes = Enumerable.Range(0, 300).Select(i => (float)(rng.Next(-3, 5))).ToArray();
        var outputs = spikes.Select((n, i) => alpha * n * factors[i]).ToArray();
        var perUnit = factors.Select(f => 1f / alpha / f).ToArray();
        var totals = Enumerable.Repeat(10.0, 300).ToArray();
        Elementwise.AccumulateCounts(outputs, perUnit, totals);
        Assert.Equal(spikes.Select(n => 10.0 + System.Math.Abs(n)), totals);
    }

    /// <summary>
    /// The definition, element by element: round(|x|·unit) half to even in double, zeros adding nothing even where the
    /// unit is infinite; blocks of eight silent neurons, partial blocks and the scalar tail all meet it.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(29)]
    [InlineData(64)]
    public void AccumulateCountsMatchesItsDefinitionOnEveryPath(int n)
    {
        var rng = new System.Random(n + 11);
        var x = Enumerable.Range(0, n).Select(i => i / 8 % 2 == 1 ? 0f : rng.Next(3) == 0 ? 0f : (float)(rng.Next(-4, 5) + 0.5 * rng.Next(2))).ToArray();
        var unit = x.Select(v => v == 0f && rng.Next(2) == 0 ? float.PositiveInfinity : rng.Next(2) == 0 ? 1f : (float)(0.5 + rng.NextDouble())).ToArray();   // unit 1 on k + 0.5: ties
        var totals = Enumerable.Range(0, n).Select(i => (double)i).ToArray();
        var expected = totals.Select((t, i) => x[i] == 0f ? t : t + System.Math.Round(System.Math.Abs((double)x[i]) * unit[i], System.MidpointRounding.ToEven)).ToArray();
        Elementwise.AccumulateCounts(x, unit, totals);
        Assert.Equal(expected, totals);
    }

    public static IEnumerable<object[]> Lengths() => Enumerable.Range(0, 68).Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Lengths))]
    public void MultiplyAccumulateVectorAndScalar(int n)
    {
        const int Batch = 3;
        var a = KernelAssert.Random(Math.Max(n, 1), n);
        var x = KernelAssert.Random(Batch * n, n + 1);
        var y = KernelAssert.Random(Batch * n, n + 2);
        var e = new double[Batch * n];
        var e1 = new double[Batch * n];
        for (int i = 0; i < Batch * n; i++)
        {
            e[i] = y[i] + ((double)a[i % n] * x[i]);
            e1[i] = y[i] + ((double)a[0] * x[i]);
        }

        var y1 = (float[])y.Clone();
        if (n > 0)
        {
            Elementwise.MultiplyAccumulate(a.AsSpan(0, n), x, y);
            KernelAssert.Close(e, y);
        }

        Elementwise.MultiplyAccumulate(a.AsSpan(0, 1), x, y1);
        KernelAssert.Close(e1, y1);
    }

    /// <summary>
    /// The setting form gives what zeroing y and accumulating gives, bit for bit: a product that is −0 (a −0 input,
    /// or a negative gain times +0) comes out +0, as 0 + (−0) does; junk in y does not matter.
    /// </summary>
    [Theory]
    [MemberData(nameof(Lengths))]
    public void MultiplySetEqualsZeroThenAccumulate(int n)
    {
        const int Batch = 3;
        var a = KernelAssert.Random(Math.Max(n, 1), n + 5);
        var x = KernelAssert.Random(Batch * n, n + 6);
        for (int i = 0; i < x.Length; i += 3) x[i] = i % 2 == 0 ? -0f : 0f;
        foreach (var gains in new[] { a.AsSpan(0, Math.Max(n, 1)).ToArray(), a.AsSpan(0, 1).ToArray() })
        {
            if (gains.Length != 1 && n == 0) continue;
            var expected = new float[Batch * n];
            Elementwise.MultiplyAccumulate(gains, x, expected);
            var set = KernelAssert.Random(Batch * n, n + 7);
            Elementwise.MultiplyAccumulate(gains, x, set, set: true);
            for (int i = 0; i < set.Length; i++)
            {
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(set[i]), $"element {i}: {expected[i]:R} vs {set[i]:R}");
                if (x[i] == 0f) Assert.Equal(0, BitConverter.SingleToInt32Bits(set[i]));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void BroadcastSetAndAccumulate(int n)
    {
        const int Batch = 4;
        var c = KernelAssert.Random(n, n);
        var y = KernelAssert.Random(Batch * n, n + 5);
        var e = new double[Batch * n];
        for (int i = 0; i < Batch * n; i++)
        {
            e[i] = (double)y[i] + c[i % n];
        }

        Elementwise.Broadcast(c, Batch, y, accumulate: true);
        KernelAssert.Close(e, y);
        Elementwise.Broadcast(c, Batch, y, accumulate: false);
        for (int i = 0; i < Batch * n; i++)
        {
            Assert.Equal(c[i % n], y[i]);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GatherWithNegativeIndices(bool accumulate)
    {
        float[] x = [1, 2, 3, 4, 10, 20, 30, 40];
        int[] index = [3, -1, 0, 3, 2];
        float[] y = [1, 1, 1, 1, 1, 2, 2, 2, 2, 2];
        Elementwise.Gather(x, 2, 4, index, y, accumulate);
        float[] expected = accumulate ? [5, 1, 2, 5, 4, 42, 2, 12, 42, 32] : [4, 0, 1, 4, 3, 40, 0, 10, 40, 30];
        Assert.Equal(expected, y);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GatherEightAtATimeMatchesTheLoop(bool accumulate)
    {
        // 21 indices (two vectors and a tail), some negative; y holds −0s, which a skipped lane must keep.
        const int InSize = 13, Batch = 3;
        var index = Enumerable.Range(0, 21).Select(i => i % 5 == 3 ? -1 : (i * 7) % InSize).ToArray();
        var x = KernelAssert.Random(Batch * InSize, 11);
        var y = KernelAssert.Random(Batch * index.Length, 12);
        for (int i = 0; i < y.Length; i += 4) y[i] = -0f;
        var expected = (float[])y.Clone();
        for (int b = 0; b < Batch; b++)
        {
            for (int i = 0; i < index.Length; i++)
            {
                int at = (b * index.Length) + i, s = index[i];
                if (accumulate)
                {
                    if (s >= 0) expected[at] += x[(b * InSize) + s];
                }
                else
                {
                    expected[at] = s >= 0 ? x[(b * InSize) + s] : 0f;
                }
            }
        }

        Elementwise.Gather(x, Batch, InSize, index, y, accumulate);
        Assert.Equal(expected.Select(BitConverter.SingleToInt32Bits), y.Select(BitConverter.SingleToInt32Bits));
    }

    [Fact]
    public void ScatterAddWithDuplicates()
    {
        float[] x = [1, 2, 3, 10, 20, 30];
        int[] index = [2, 0, 2];
        float[] y = [1, 1, 1, 0, 0, 0];
        Elementwise.ScatterAdd(x, 2, index, 3, y);
        Assert.Equal([3f, 1f, 5f, 20f, 0f, 40f], y);
    }

    [Fact]
    public void GatherThenScatterRoundTripsAPermutation()
    {
        const int N = 67, Batch = 3;
        var perm = Enumerable.Range(0, N).OrderBy(i => (i * 37) % N).ToArray();
        var x = KernelAssert.Random(Batch * N, 9);
        var g = new float[Batch * N];
        Elementwise.Gather(x, Batch, N, perm, g, accumulate: false);
        var back = new float[Batch * N];
        Elementwise.ScatterAdd(g, Batch, perm, N, back);
        Assert.Equal(x, back);
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        Assert.Throws<ArgumentException>(() => Elementwise.MultiplyAccumulate(new float[2], new float[5], new float[5]));
        Assert.Throws<ArgumentException>(() => Elementwise.MultiplyAccumulate(new float[2], new float[4], new float[5]));
        Assert.Throws<ArgumentException>(() => Elementwise.MultiplyAccumulate([], new float[4], new float[4]));
        Assert.Throws<ArgumentException>(() => Elementwise.Gather(new float[8], 2, 4, [0, 4], new float[4], false));
        Assert.Throws<ArgumentException>(() => Elementwise.Gather(new float[8], 2, 4, [0, 1], new float[5], false));
        Assert.Throws<ArgumentException>(() => Elementwise.Gather(new float[7], 2, 4, [0, 1], new float[4], false));
        Assert.Throws<ArgumentException>(() => Elementwise.ScatterAdd(new float[4], 2, [0, 3], 3, new float[6]));
        Assert.Throws<ArgumentException>(() => Elementwise.ScatterAdd(new float[4], 2, [0, 1], 3, new float[5]));
        Assert.Throws<ArgumentException>(() => Elementwise.Broadcast(new float[3], 2, new float[5], true));
        Assert.Throws<ArgumentException>(() => Synapses.Lowpass(new float[3], 0.5f, 0.5f, new float[4]));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void LowpassMatchesFloatFormulaExactly(int n)
    {
        float a = MathF.Exp(-0.001f / 0.005f);
        float b = 1f - a;
        var u = KernelAssert.Random(n, n);
        var s = KernelAssert.Random(n, n + 1);
        var e = (float[])s.Clone();
        for (int step = 0; step < 3; step++)
        {
            Synapses.Lowpass(u, a, b, s);
            for (int i = 0; i < n; i++)
            {
                e[i] = (a * e[i]) + (b * u[i]);
            }
        }

        Assert.Equal(e, s);
    }

    [Fact]
    public void LowpassConvergesToInput()
    {
        float a = MathF.Exp(-0.001f / 0.01f), b = 1f - a;
        var s = new float[5];
        float[] u = [1, -2, 0.5f, 3, 0];
        for (int i = 0; i < 200; i++)
        {
            Synapses.Lowpass(u, a, b, s);
        }

        // after 200 steps of tau=10 ms, the state is within exp(-20) of the input
        for (int i = 0; i < 5; i++)
        {
            Assert.InRange(s[i], u[i] - 1e-5f, u[i] + 1e-5f);
        }
    }
}
