using Xunit;

namespace Snn.Tests.Kernels;

internal static class KernelAssert
{
    public static float[] Random(int n, int seed, float lo = -1f, float hi = 1f)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = lo + ((hi - lo) * (float)r.NextDouble());
        }

        return a;
    }

    /// <summary>Spike-like data: each entry is 0 with probability 1 - density, else a positive value.</summary>
    public static float[] Spikes(int n, int seed, double density)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++)
        {
            a[i] = r.NextDouble() < density ? (float)(1000.0 * (1 + r.Next(3))) * (r.Next(2) == 0 ? 1f : 0.37f) : 0f;
        }

        return a;
    }

    /// <summary>
    /// |actual - expected| &lt;= 1e-5 * max(1, |expected|) + 1e-6 * scale[i], where scale is the sum of
    /// the absolute values of the terms that formed expected (0 when not given): the rounding error of
    /// a float sum grows with that magnitude, not with the (possibly cancelling) result.
    /// </summary>
    public static void Close(double[] expected, ReadOnlySpan<float> actual, double[]? scale = null, double rel = 1e-5)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i];
            double a = actual[i];
            double tol = (rel * Math.Max(1.0, Math.Abs(e))) + (scale is null ? 0 : 1e-6 * scale[i]);
            if (double.IsNaN(e) ? !double.IsNaN(a) : !(Math.Abs(a - e) <= tol))
            {
                Assert.Fail($"Element {i}: expected {e:R}, got {a:R} (tol {tol:G3}).");
            }
        }
    }

    /// <summary>Bitwise equality, except that +0 and -0 are considered equal.</summary>
    public static void SameBits(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            bool same = e == a ? (e != 0 || a == 0) : (float.IsNaN(e) && float.IsNaN(a));
            if (!same || (e != 0 && BitConverter.SingleToInt32Bits(e) != BitConverter.SingleToInt32Bits(a)))
            {
                Assert.Fail($"Element {i}: expected {e:R}, got {a:R}.");
            }
        }
    }

    public static double[] ToDouble(float[] a) => Array.ConvertAll(a, v => (double)v);
}
