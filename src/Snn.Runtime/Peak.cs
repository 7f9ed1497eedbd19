using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Snn.Runtime;

/// <summary>
/// This machine's FP32 FMA peak, measured rather than looked up: each thread runs 12 independent chains of
/// vector fused multiply-adds (enough to cover FMA latency × throughput on current x86 cores) at the widest
/// vector width the kernels use, and the best rate over a few repetitions counts 2 flops per lane per FMA.
/// </summary>
public static class Peak
{
    public static double MeasureGflops(int threads, double seconds = 0.2)
    {
        var rates = new double[threads];
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t => rates[t] = SingleThread(seconds));
        return rates.Sum();
    }

    static double SingleThread(double seconds)
    {
        var best = 0.0;
        for (var rep = 0; rep < 3; rep++)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            long iterations = 0;
            var sink = 0f;
            while (sw.Elapsed.TotalSeconds < seconds / 3)
            {
                sink += Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? Run512(100_000) : Run256(100_000);
                iterations += 100_000;
            }
            var lanes = Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 16 : 8;
            best = Math.Max(best, iterations * 12.0 * lanes * 2 / sw.Elapsed.TotalSeconds / 1e9);
            if (sink == 42f) Console.Write("");
        }
        return best;
    }

    static float Run512(int n)
    {
        var a = Vector512.Create(1.0000001f);
        var b = Vector512.Create(0.9999999f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default,
            c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        for (var i = 0; i < n; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(a, b, c0); c1 = Avx512F.FusedMultiplyAdd(a, b, c1); c2 = Avx512F.FusedMultiplyAdd(a, b, c2);
            c3 = Avx512F.FusedMultiplyAdd(a, b, c3); c4 = Avx512F.FusedMultiplyAdd(a, b, c4); c5 = Avx512F.FusedMultiplyAdd(a, b, c5);
            c6 = Avx512F.FusedMultiplyAdd(a, b, c6); c7 = Avx512F.FusedMultiplyAdd(a, b, c7); c8 = Avx512F.FusedMultiplyAdd(a, b, c8);
            c9 = Avx512F.FusedMultiplyAdd(a, b, c9); c10 = Avx512F.FusedMultiplyAdd(a, b, c10); c11 = Avx512F.FusedMultiplyAdd(a, b, c11);
        }
        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).ToScalar();
    }

    static float Run256(int n)
    {
        var a = Vector256.Create(1.0000001f);
        var b = Vector256.Create(0.9999999f);
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default,
            c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        for (var i = 0; i < n; i++)
        {
            if (Fma.IsSupported)
            {
                c0 = Fma.MultiplyAdd(a, b, c0); c1 = Fma.MultiplyAdd(a, b, c1); c2 = Fma.MultiplyAdd(a, b, c2);
                c3 = Fma.MultiplyAdd(a, b, c3); c4 = Fma.MultiplyAdd(a, b, c4); c5 = Fma.MultiplyAdd(a, b, c5);
                c6 = Fma.MultiplyAdd(a, b, c6); c7 = Fma.MultiplyAdd(a, b, c7); c8 = Fma.MultiplyAdd(a, b, c8);
                c9 = Fma.MultiplyAdd(a, b, c9); c10 = Fma.MultiplyAdd(a, b, c10); c11 = Fma.MultiplyAdd(a, b, c11);
            }
            else
            {
                c0 = a * b + c0; c1 = a * b + c1; c2 = a * b + c2; c3 = a * b + c3; c4 = a * b + c4; c5 = a * b + c5;
                c6 = a * b + c6; c7 = a * b + c7; c8 = a * b + c8; c9 = a * b + c9; c10 = a * b + c10; c11 = a * b + c11;
            }
        }
        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).ToScalar();
    }
}
