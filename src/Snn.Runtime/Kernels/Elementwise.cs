using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Snn.Runtime.Kernels;

/// <summary>Elementwise, gather/scatter and broadcast kernels over batched [batch, n] data.</summary>
public static class Elementwise
{
    /// <summary>
    /// <c>y[b*n + i] += a[i % a.Length] * x[b*n + i]</c> where a has length 1 or n and x, y have
    /// length batch*n. Product and sum are separate float operations (numpy's <c>Y += A * X</c>). With
    /// <paramref name="set"/>, <c>y = a * x + 0</c>: what zeroing y first gives, in one pass when a has length n.
    /// </summary>
    public static void MultiplyAccumulate(ReadOnlySpan<float> a, ReadOnlySpan<float> x, Span<float> y, bool set = false)
    {
        KernelMath.CheckLength(y.Length, x.Length, nameof(y));
        if (a.Length == 0)
        {
            throw new ArgumentException("a must have length 1 or n.", nameof(a));
        }

        if (a.Length == 1)
        {
            if (set) y.Clear();
            TensorPrimitives.MultiplyAdd(x, a[0], y, y);
            return;
        }

        int n = a.Length;
        if (x.Length % n != 0)
        {
            throw new ArgumentException($"Length {x.Length} is not a multiple of a.Length {n}.", nameof(x));
        }

        for (int off = 0; off < x.Length; off += n)
        {
            Span<float> yb = y.Slice(off, n);
            if (set) TensorPrimitives.MultiplyAdd(x.Slice(off, n), a, 0f, yb);
            else TensorPrimitives.MultiplyAdd(x.Slice(off, n), a, yb, yb);
        }
    }

    /// <summary>
    /// <c>y[b*n + i] = x[b*n + i] * a[i % a.Length] + bias[i]</c> where bias has length n, a has length 1 or n, and x, y
    /// have length batch*n; with an empty <paramref name="a"/>, <c>y = x + bias</c>. Product and sum are separate float
    /// operations, so this is exactly <c>y = bias</c> followed by <see cref="MultiplyAccumulate"/> (or an add).
    /// </summary>
    public static void AffineSet(ReadOnlySpan<float> x, ReadOnlySpan<float> a, ReadOnlySpan<float> bias, Span<float> y)
    {
        KernelMath.CheckLength(y.Length, x.Length, nameof(y));
        int n = bias.Length;
        if (n == 0 ? x.Length != 0 : x.Length % n != 0)
        {
            throw new ArgumentException($"Length {x.Length} is not a multiple of bias.Length {n}.", nameof(x));
        }

        if (a.Length != 0 && a.Length != 1 && a.Length != n)
        {
            throw new ArgumentException("a must have length 0, 1 or n.", nameof(a));
        }

        for (int off = 0; off < x.Length; off += n)
        {
            ReadOnlySpan<float> xb = x.Slice(off, n);
            Span<float> yb = y.Slice(off, n);
            if (a.Length == 0)
            {
                TensorPrimitives.Add(xb, bias, yb);
            }
            else if (a.Length == 1)
            {
                TensorPrimitives.MultiplyAdd(xb, a[0], bias, yb);
            }
            else
            {
                TensorPrimitives.MultiplyAdd(xb, a, bias, yb);
            }
        }
    }

    /// <summary>
    /// <c>totals[i] += round(|x[i]| × perUnit[i])</c>: whole counts from values that are a whole number of units each
    /// (a scaled spike output), exact despite the float rounding of the scale; zeros add nothing.
    /// </summary>
    /// <remarks>
    /// Vectorized eight at a time: blocks of eight zeros are skipped, and in the others the zeros are masked out, so a
    /// non-finite unit meets only the values it belongs to. The product is taken in double from exact widenings and
    /// rounded half to even, as <see cref="Math.Round(double)"/> does, so both paths give the same totals.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AccumulateCounts(ReadOnlySpan<float> x, ReadOnlySpan<float> perUnit, Span<double> totals)
    {
        if (totals.Length < x.Length || perUnit.Length < x.Length)
        {
            throw new ArgumentException($"totals ({totals.Length}) and perUnit ({perUnit.Length}) must cover x ({x.Length}).", nameof(totals));
        }

        var i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref float ru = ref MemoryMarshal.GetReference(perUnit);
            ref double rt = ref MemoryMarshal.GetReference(totals);
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref rx, (nuint)i);
                var silent = Vector256.Equals(v, Vector256<float>.Zero);
                if (Vector256.ExtractMostSignificantBits(silent) == 0xFF)
                {
                    continue;
                }

                var (xl, xh) = Vector256.Widen(Vector256.Abs(v));
                var (ul, uh) = Vector256.Widen(Vector256.LoadUnsafe(ref ru, (nuint)i));
                var (sl, sh) = Vector256.Widen(silent.AsInt32());
                var lo = Vector256.AndNot(Vector256.Round(xl * ul), sl.AsDouble());
                var hi = Vector256.AndNot(Vector256.Round(xh * uh), sh.AsDouble());
                (Vector256.LoadUnsafe(ref rt, (nuint)i) + lo).StoreUnsafe(ref rt, (nuint)i);
                (Vector256.LoadUnsafe(ref rt, (nuint)(i + 4)) + hi).StoreUnsafe(ref rt, (nuint)(i + 4));
            }
        }

        for (; i < x.Length; i++)
        {
            if (x[i] != 0f) totals[i] += Math.Round(Math.Abs((double)x[i]) * perUnit[i]);
        }
    }

    /// <summary>
    /// <c>totals[i] += (double)(|x[i]| * scale)</c> for every i: the product in float, the sum in double. Entries whose
    /// x is 0 add ±0 when the scale is finite, which changes no total that is not −0, so runs of zeros are then skipped
    /// (the totals must not hold −0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void AccumulateScaledMagnitudes(ReadOnlySpan<float> x, float scale, Span<double> totals)
    {
        if (totals.Length < x.Length)
        {
            throw new ArgumentException($"Length {totals.Length} is shorter than x ({x.Length}).", nameof(totals));
        }

        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float rx = ref MemoryMarshal.GetReference(x);
            ref double rt = ref MemoryMarshal.GetReference(totals);
            var s = Vector256.Create(scale);
            bool skip = float.IsFinite(scale);
            for (; i + 8 <= x.Length; i += 8)
            {
                var v = Vector256.LoadUnsafe(ref rx, (nuint)i);
                if (skip && Vector256.EqualsAll(v, Vector256<float>.Zero))
                {
                    continue;
                }

                var (lo, hi) = Vector256.Widen(Vector256.Abs(v) * s);
                (Vector256.LoadUnsafe(ref rt, (nuint)i) + lo).StoreUnsafe(ref rt, (nuint)i);
                (Vector256.LoadUnsafe(ref rt, (nuint)(i + 4)) + hi).StoreUnsafe(ref rt, (nuint)(i + 4));
            }
        }

        for (; i < x.Length; i++)
        {
            totals[i] += MathF.Abs(x[i]) * scale;
        }
    }

    /// <summary>
    /// <c>y[b, k] = x[b, index[k]]</c> (or <c>+=</c> when <paramref name="accumulate"/>). x is
    /// [batch, inSize], y is [batch, index.Length]. A negative index sets 0 (set) or adds nothing
    /// (accumulate); an index &gt;= inSize throws before anything is written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gather(ReadOnlySpan<float> x, int batch, int inSize, ReadOnlySpan<int> index, Span<float> y, bool accumulate)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckNonNegative(inSize, nameof(inSize));
        KernelMath.CheckLength(x.Length, (long)batch * inSize, nameof(x));
        KernelMath.CheckLength(y.Length, (long)batch * index.Length, nameof(y));
        CheckIndex(index, inSize);
        int k = index.Length;
        unsafe
        {
            fixed (float* px = x, py = y)
            fixed (int* pi = index)
            {
                for (int b = 0; b < batch; b++)
                {
                    float* xb = px + ((nint)b * inSize);
                    float* yb = py + ((nint)b * k);
                    int i = 0;
                    if (Avx2.IsSupported)
                    {
                        // Eight at a time: lanes with a negative index gather 0 (set) or leave y as it is (accumulate).
                        var none = Vector256.Create(-1);
                        for (; i + 8 <= k; i += 8)
                        {
                            var at = Avx.LoadVector256(pi + i);
                            var real = Avx2.CompareGreaterThan(at, none).AsSingle();
                            var g = Avx2.GatherMaskVector256(Vector256<float>.Zero, xb, at, real, 4);
                            if (accumulate)
                            {
                                var old = Avx.LoadVector256(yb + i);
                                Avx.Store(yb + i, Vector256.ConditionalSelect(real, old + g, old));
                            }
                            else
                            {
                                Avx.Store(yb + i, g);
                            }
                        }
                    }

                    for (; i < k; i++)
                    {
                        int s = pi[i];
                        if (accumulate)
                        {
                            if (s >= 0)
                            {
                                yb[i] += xb[s];
                            }
                        }
                        else
                        {
                            yb[i] = s >= 0 ? xb[s] : 0f;
                        }
                    }
                }
            }
        }
    }

    /// <summary>
    /// <c>y[b, index[k]] += x[b, k]</c> (scatter-add; duplicate indices add, in ascending k). x is
    /// [batch, index.Length], y is [batch, outSize]. Negative indices are skipped; an index
    /// &gt;= outSize throws before anything is written.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScatterAdd(ReadOnlySpan<float> x, int batch, ReadOnlySpan<int> index, int outSize, Span<float> y)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckNonNegative(outSize, nameof(outSize));
        KernelMath.CheckLength(x.Length, (long)batch * index.Length, nameof(x));
        KernelMath.CheckLength(y.Length, (long)batch * outSize, nameof(y));
        CheckIndex(index, outSize);
        int k = index.Length;
        for (int b = 0; b < batch; b++)
        {
            ReadOnlySpan<float> xb = x.Slice(b * k, k);
            Span<float> yb = y.Slice(b * outSize, outSize);
            for (int i = 0; i < k; i++)
            {
                int d = index[i];
                if (d >= 0)
                {
                    yb[d] += xb[i];
                }
            }
        }
    }

    /// <summary><c>y[b*n + i] = c[i]</c> (or <c>+=</c>) for every sample b; y has length batch*n.</summary>
    public static void Broadcast(ReadOnlySpan<float> c, int batch, Span<float> y, bool accumulate)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(y.Length, (long)batch * c.Length, nameof(y));
        int n = c.Length;
        for (int b = 0; b < batch; b++)
        {
            Span<float> yb = y.Slice(b * n, n);
            if (accumulate)
            {
                TensorPrimitives.Add(yb, c, yb);
            }
            else
            {
                c.CopyTo(yb);
            }
        }
    }

    private static void CheckIndex(ReadOnlySpan<int> index, int size)
    {
        foreach (int i in index)
        {
            if (i >= size)
            {
                throw new ArgumentException($"Index {i} is out of range for size {size}.", nameof(index));
            }
        }
    }
}
