using Snn.Runtime.Kernels;
using Xunit;

namespace Snn.Tests.Kernels;

public class PoolTests
{
    public static TheoryData<int[], int, int[], int[], bool, bool> Cases() => new()
    {
        // inSpatial, channels, pool, strides, same, channelsLast
        { [10], 3, [3], [2], true, true },
        { [10], 3, [2], [2], false, false },
        { [5, 7], 9, [2, 2], [2, 2], true, true },
        { [5, 7], 17, [3, 3], [1, 1], true, true },
        { [6, 6], 4, [2, 2], [2, 2], false, true },
        { [5, 7], 5, [3, 2], [2, 3], true, false },
        { [4, 5, 3], 10, [2, 2, 2], [2, 2, 1], true, true },
        { [4, 5, 3], 2, [3, 2, 2], [1, 2, 2], true, false },
        { [3, 3], 8, [3, 3], [1, 1], false, true },
    };

    private static (int[] Out, int[] Pad) Sizes(int[] inS, int[] k, int[] s, bool same)
    {
        var o = new int[inS.Length];
        var p = new int[inS.Length];
        for (int i = 0; i < inS.Length; i++)
        {
            o[i] = same ? (inS[i] + s[i] - 1) / s[i] : ((inS[i] - k[i]) / s[i]) + 1;
            p[i] = same ? Math.Max(((o[i] - 1) * s[i]) + k[i] - inS[i], 0) / 2 : 0;
        }

        return (o, p);
    }

    private static double[] Reference(int[] inS, int ch, int[] pool, int[] st, int[] pad, int[] outS, bool last, float[] x, int batch, bool max, float[]? y0)
    {
        int rank = inS.Length;
        int inPix = inS.Aggregate(1, (a, v) => a * v), outPix = outS.Aggregate(1, (a, v) => a * v);
        var e = new double[batch * outPix * ch];
        for (int b = 0; b < batch; b++)
        {
            for (int op = 0; op < outPix; op++)
            {
                var o = new int[rank];
                for (int i = rank - 1, r = op; i >= 0; i--)
                {
                    o[i] = r % outS[i];
                    r /= outS[i];
                }

                for (int c = 0; c < ch; c++)
                {
                    double acc = max ? double.NegativeInfinity : 0;
                    int count = 0;
                    int wins = pool.Aggregate(1, (a, v) => a * v);
                    for (int t = 0; t < wins; t++)
                    {
                        int pix = 0;
                        bool inside = true;
                        for (int i = 0, r = t, div = wins; i < rank; i++)
                        {
                            div /= pool[i];
                            int ki = r / div;
                            r %= div;
                            int ii = (o[i] * st[i]) - pad[i] + ki;
                            inside &= ii >= 0 && ii < inS[i];
                            pix = (pix * inS[i]) + ii;
                        }

                        if (!inside)
                        {
                            continue;
                        }

                        double v = x[(b * inPix * ch) + (last ? (pix * ch) + c : (c * inPix) + pix)];
                        acc = max ? Math.Max(acc, v) : acc + v;
                        count++;
                    }

                    int yi = (b * outPix * ch) + (last ? (op * ch) + c : (c * outPix) + op);
                    e[yi] = max ? acc : y0![yi] + (acc / count);
                }
            }
        }

        return e;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AverageMatchesReference(int[] inS, int ch, int[] pool, int[] st, bool same, bool last)
    {
        var (outS, pad) = Sizes(inS, pool, st, same);
        var g = PoolGeometry.Create(inS, ch, pool, st, pad, outS, last);
        int batch = 3;
        var x = KernelAssert.Random(batch * g.InputSize, 1);
        var y = KernelAssert.Random(batch * g.OutputSize, 2);
        var e = Reference(inS, ch, pool, st, pad, outS, last, x, batch, false, y);
        Pool.AverageAccumulate(g, x, batch, y);
        KernelAssert.Close(e, y);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MaxMatchesReference(int[] inS, int ch, int[] pool, int[] st, bool same, bool last)
    {
        var (outS, pad) = Sizes(inS, pool, st, same);
        var g = PoolGeometry.Create(inS, ch, pool, st, pad, outS, last);
        int batch = 2;
        var x = KernelAssert.Random(batch * g.InputSize, 3, -5f, -1f); // all negative: padding must not act as 0
        var y = KernelAssert.Random(batch * g.OutputSize, 4);
        var e = Reference(inS, ch, pool, st, pad, outS, last, x, batch, true, null);
        Pool.Max(g, x, batch, y);
        KernelAssert.Close(e, y, rel: 0);
    }

    /// <summary>Channels-first shapes that take the paired-column paths (16+ and 8+ outputs per row) and their tails.</summary>
    public static TheoryData<int[], int, int[], int[], bool, bool> PairedColumnCases() => new()
    {
        { [5, 37], 3, [2, 2], [2, 2], false, false },   // 18 outputs per row: 16 (AVX2) + 2 scalar
        { [4, 23], 2, [3, 2], [1, 2], true, false },    // 12 per row: 8 + 4 (SSE); 'same' leaves a last half window
        { [6, 24], 2, [2, 2], [2, 2], false, false },   // LeNet's 24 → 12
        { [8, 8], 16, [2, 2], [2, 2], false, false },   // 4 per row: SSE only
        { [2, 3, 20], 2, [2, 2, 2], [1, 1, 2], true, false },
        { [26, 26], 32, [2, 2], [2, 2], false, true },  // the Fashion CNN's pool: 4 vectors of channels
        { [11, 11], 40, [2, 2], [2, 2], false, true },  // 32 + 8 channels
    };

    [Theory]
    [MemberData(nameof(Cases))]
    [MemberData(nameof(PairedColumnCases))]
    public void MaxModesMatchReference(int[] inS, int ch, int[] pool, int[] st, bool same, bool last)
    {
        var (outS, pad) = Sizes(inS, pool, st, same);
        var g = PoolGeometry.Create(inS, ch, pool, st, pad, outS, last);
        int batch = 2;
        var x = KernelAssert.Random(batch * g.InputSize, 5, -3f, 3f);
        var e = Reference(inS, ch, pool, st, pad, outS, last, x, batch, true, null);
        var y0 = KernelAssert.Random(batch * g.OutputSize, 6);

        var set = KernelAssert.Random(batch * g.OutputSize, 7);
        Pool.MaxSet(g, x, batch, set);
        KernelAssert.Close(e, set, rel: 0);

        var acc = (float[])y0.Clone();
        Pool.MaxAccumulate(g, x, batch, acc);
        Assert.Equal(e.Select((v, i) => y0[i] + ((float)v + 0f)).ToArray(), acc);

        var previous = (float[])y0.Clone();
        var increase = new float[y0.Length];
        Pool.MaxIncrease(g, x, batch, previous, increase);
        Assert.Equal(e.Select((v, i) => (float)v - y0[i]).ToArray(), increase);
        Assert.Equal(e.Select(v => (float)v).ToArray(), previous);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MaxSetStoresNegativeZeroAsPlusZeroAndPropagatesNaN(bool channelsLast)
    {
        // 1 x 16 pixels of 8 channels, 1x2 windows along the last spatial axis: windows of −0s give +0 from MaxSet
        // and −0 from Max; a NaN anywhere in a window gives NaN.
        var g = PoolGeometry.Create([1, 16], 8, [1, 2], [1, 2], [0, 0], [1, 8], channelsLast);
        var x = Enumerable.Repeat(-0f, g.InputSize).ToArray();
        x[3] = float.NaN;
        var set = new float[g.OutputSize];
        var raw = new float[g.OutputSize];
        Pool.MaxSet(g, x, 1, set);
        Pool.Max(g, x, 1, raw);
        int nanOut = channelsLast ? 3 : 1;   // element 3: channel 3 of pixel 0, or pixel 3 (window 1) of channel 0
        for (int i = 0; i < set.Length; i++)
        {
            if (i == nanOut)
            {
                Assert.True(float.IsNaN(set[i]) && float.IsNaN(raw[i]));
                continue;
            }

            Assert.Equal(0, BitConverter.SingleToInt32Bits(set[i]));
            Assert.Equal(BitConverter.SingleToInt32Bits(-0f), BitConverter.SingleToInt32Bits(raw[i]));
        }
    }

    [Fact]
    public void SamePaddingAveragesOnlyRealCells()
    {
        // 1x3 input [1, 2, 3], pool 2 stride 2 'same' -> windows {1,2} and {3}: 1.5 and 3 (not 1.5).
        var g = PoolGeometry.Create([3], 1, [2], [2], [0], [2], true);
        var y = new float[2];
        Pool.AverageAccumulate(g, [1f, 2f, 3f], 1, y);
        Assert.Equal([1.5f, 3f], y);
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        Assert.Throws<ArgumentException>(() => PoolGeometry.Create([4, 4], 2, [2], [2, 2], [0, 0], [2, 2], true));
        Assert.Throws<ArgumentException>(() => PoolGeometry.Create([4, 4], 0, [2, 2], [2, 2], [0, 0], [2, 2], true));
        var g = PoolGeometry.Create([4, 4], 2, [2, 2], [2, 2], [0, 0], [2, 2], true);
        Assert.Throws<ArgumentException>(() => Pool.Max(g, new float[31], 1, new float[8]));
        Assert.Throws<ArgumentException>(() => Pool.AverageAccumulate(g, new float[32], 1, new float[7]));
    }
}
