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
