using Snn.Compiler;
using Snn.Runtime.Kernels;
using Xunit;

namespace Snn.Tests.Kernels;

/// <summary>The kernels behind the optimizer's fusions, against naive loops written here.</summary>
public class FusionKernelTests
{
    static int[] Bits(float[] a) => a.Select(BitConverter.SingleToInt32Bits).ToArray();

    [Theory]
    [InlineData(1, 3)]
    [InlineData(3, 37)]     // vector blocks plus a tail in every row
    [InlineData(4, 64)]
    public void AffineSetIsTheProductThenTheSum(int batch, int n)
    {
        var x = KernelAssert.Random(batch * n, 1, -10f, 10f);
        var bias = KernelAssert.Random(n, 2);
        var perNeuron = KernelAssert.Random(n, 3, 0.1f, 3f);
        foreach (var a in new[] { Array.Empty<float>(), new[] { 2.7f }, perNeuron })
        {
            var expected = new float[batch * n];
            for (int b = 0; b < batch; b++)
            {
                for (int i = 0; i < n; i++)
                {
                    float xi = x[(b * n) + i];
                    expected[(b * n) + i] = a.Length == 0 ? xi + bias[i] : (xi * a[a.Length == 1 ? 0 : i]) + bias[i];
                }
            }

            var y = new float[batch * n];
            Elementwise.AffineSet(x, a, bias, y);
            Assert.Equal(Bits(expected), Bits(y));

            // The same as the two ops it replaces: J = bias (broadcast), then J += a·x.
            var twoOps = new float[batch * n];
            Elementwise.Broadcast(bias, batch, twoOps, accumulate: false);
            if (a.Length == 0)
            {
                System.Numerics.Tensors.TensorPrimitives.Add(x, twoOps, twoOps);
            }
            else
            {
                Elementwise.MultiplyAccumulate(a, x, twoOps);
            }

            Assert.Equal(Bits(twoOps), Bits(y));
        }
    }

    [Fact]
    public void AffineSetRejectsBadLengths()
    {
        Assert.Throws<ArgumentException>(() => Elementwise.AffineSet(new float[6], new float[2], new float[3], new float[6]));
        Assert.Throws<ArgumentException>(() => Elementwise.AffineSet(new float[7], new float[1], new float[3], new float[7]));
        Assert.Throws<ArgumentException>(() => Elementwise.AffineSet(new float[6], new float[1], new float[3], new float[3]));
    }

    [Fact]
    public void AccumulateScaledMagnitudesAddsFloatProductsInDouble()
    {
        var x = KernelAssert.Spikes(203, 4, 0.1);
        x[5] = -0f;
        x[17] = -1000f;
        x[200] = 0.37f;
        var totals = KernelAssert.Random(203, 5, 0f, 3f).Select(v => (double)v).ToArray();
        var expected = (double[])totals.Clone();
        const float scale = 0.001f;
        for (int i = 0; i < x.Length; i++)
        {
            float term = MathF.Abs(x[i]) * scale;
            expected[i] += term;
        }

        Elementwise.AccumulateScaledMagnitudes(x, scale, totals);
        Assert.Equal(expected, totals);
    }

    [Fact]
    public void AccumulateScaledMagnitudesDoesNotSkipZerosUnderAnInfiniteScale()
    {
        // 0 × ∞ is NaN: with a non-finite scale every term is added, as the plain loop does.
        var totals = new double[16];
        Elementwise.AccumulateScaledMagnitudes(new float[16], float.PositiveInfinity, totals);
        Assert.All(totals, t => Assert.True(double.IsNaN(t)));
    }

    public static TheoryData<int[], int, int[], int[], Padding, bool> CountCases() => new()
    {
        // inSpatial, channels, pool, strides, padding, channelsLast
        { [26, 26], 32, [2, 2], [2, 2], Padding.Valid, true },
        { [6, 6], 12, [3, 3], [2, 2], Padding.Same, true },
        { [11, 11], 64, [2, 2], [2, 2], Padding.Valid, true },
        { [5, 5], 2, [3, 3], [2, 2], Padding.Same, true },
        { [24, 24], 6, [2, 2], [2, 2], Padding.Valid, false },
        { [8, 8], 16, [2, 2], [2, 2], Padding.Valid, false },
        { [7, 19], 3, [2, 2], [2, 2], Padding.Same, false },
        { [9], 5, [3], [2], Padding.Same, false },
    };

    /// <summary>Kernel of spiking max pooling with window tables: (x, batch, offsets, indices, counts, max, y).</summary>
    delegate void TableKernel(ReadOnlySpan<float> x, int batch, ReadOnlySpan<int> offsets, ReadOnlySpan<int> indices, Span<float> counts, Span<float> max, Span<float> y);

    /// <summary>The same kernel over a pooling geometry: (geometry, x, batch, counts, max, y).</summary>
    delegate void PooledKernel(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> counts, Span<float> max, Span<float> y);

    /// <summary>
    /// Runs a window-table kernel and its geometry twin side by side for 12 steps of random spikes and requires the
    /// same bits in outputs, maxima and counts; returns how many outputs were non-zero.
    /// </summary>
    static int PooledMatchesTable(int[] inSpatial, int channels, int[] pool, int[] strides, Padding padding, bool channelsLast,
        int seed, double density, TableKernel table, PooledKernel pooled)
    {
        var shape = channelsLast ? inSpatial.Append(channels) : inSpatial.Prepend(channels);
        var spec = new PoolSpec(PoolKind.Max, LanguageExt.Arr.create(shape.ToArray()), LanguageExt.Arr.create(pool), LanguageExt.Arr.create(strides), padding, channelsLast);
        var g = PoolGeometry.Create(spec.InSpatial.ToArray(), spec.Channels, pool, strides, spec.PadBefore.ToArray(), spec.OutSpatial.ToArray(), channelsLast);
        var (offsets, indices) = spec.Windows();
        const int batch = 3;
        var (inSize, outSize) = (g.InputSize, g.OutputSize);
        Assert.Equal(outSize, offsets.Length - 1);
        var (countsA, maxA, yA) = (new float[batch * inSize], new float[batch * outSize], new float[batch * outSize]);
        var (countsB, maxB, yB) = (new float[batch * inSize], new float[batch * outSize], new float[batch * outSize]);
        var nonZero = 0;
        for (int t = 0; t < 12; t++)
        {
            var x = KernelAssert.Spikes(batch * inSize, seed + t, density);
            table(x, batch, offsets, indices, countsA, maxA, yA);
            pooled(g, x, batch, countsB, maxB, yB);
            Assert.Equal(Bits(yA), Bits(yB));
            Assert.Equal(Bits(maxA), Bits(maxB));
            Assert.Equal(Bits(countsA), Bits(countsB));
            nonZero += yA.Count(v => v != 0);
        }

        return nonZero;
    }

    [Theory]
    [MemberData(nameof(CountCases))]
    public void CountPooledMatchesTheWindowTableKernel(int[] inSpatial, int channels, int[] pool, int[] strides, Padding padding, bool channelsLast) =>
        PooledMatchesTable(inSpatial, channels, pool, strides, padding, channelsLast, 10, 0.2, SpikingPool.Count, SpikingPool.CountPooled);

    [Theory]
    [MemberData(nameof(CountCases))]
    public void GatePooledMatchesTheWindowTableKernel(int[] inSpatial, int channels, int[] pool, int[] strides, Padding padding, bool channelsLast)
    {
        // Spikes of one amplitude make counts tie often, so the first-element rule is exercised in every window.
        var passed = PooledMatchesTable(inSpatial, channels, pool, strides, padding, channelsLast, 30, 0.3, SpikingPool.Gate, SpikingPool.GatePooled);
        Assert.True(passed > 0, "no window passed a spike");
    }

    [Fact]
    public void WindowsTileOnlyWhenEveryCellIsInExactlyOneWindow()
    {
        Assert.True(Pool.Tiles(PoolGeometry.Create([26, 26], 32, [2, 2], [2, 2], [0, 0], [13, 13], true)));
        Assert.True(Pool.Tiles(PoolGeometry.Create([24, 24], 6, [2, 2], [2, 2], [0, 0], [12, 12], false)));
        Assert.False(Pool.Tiles(PoolGeometry.Create([11, 11], 64, [2, 2], [2, 2], [0, 0], [5, 5], true)));   // last row and column left out
        Assert.False(Pool.Tiles(PoolGeometry.Create([5, 5], 2, [3, 3], [2, 2], [1, 1], [3, 3], true)));      // overlapping, padded
        Assert.False(Pool.Tiles(PoolGeometry.Create([7], 2, [2], [2], [0], [4], true)));                     // 'same': a half window
    }
}
