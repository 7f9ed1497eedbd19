using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>Spike-density measurements that choose between a connection's dense and event-driven kernels.</summary>
public static class Sparsity
{
    /// <summary>The number of elements of <paramref name="x"/> that are not 0 (either sign); NaN counts as nonzero.</summary>
    public static int CountNonZero(ReadOnlySpan<float> x)
    {
        int n = 0;
        int i = 0;
        unsafe
        {
            fixed (float* p = x)
            {
                if (Vector512.IsHardwareAccelerated)
                {
                    for (; i + 16 <= x.Length; i += 16)
                    {
                        n += 16 - System.Numerics.BitOperations.PopCount(Vector512.Equals(Vector512.Load(p + i), Vector512<float>.Zero).ExtractMostSignificantBits());
                    }
                }
                else if (Vector256.IsHardwareAccelerated)
                {
                    for (; i + 8 <= x.Length; i += 8)
                    {
                        n += 8 - System.Numerics.BitOperations.PopCount(Vector256.Equals(Vector256.Load(p + i), Vector256<float>.Zero).ExtractMostSignificantBits());
                    }
                }
            }
        }

        for (; i < x.Length; i++)
        {
            if (x[i] != 0f)
            {
                n++;
            }
        }

        return n;
    }
}
