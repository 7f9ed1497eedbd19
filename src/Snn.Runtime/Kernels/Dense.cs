using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>Fully connected layer kernel (batched matrix product).</summary>
public static class Dense
{
    /// <summary>K block: the inner-product length accumulated in registers before touching y (the IR's summation contract).</summary>
    internal const int KBlock = Snn.Compiler.Lower.DotInc.SumBlock;

    /// <summary>Column block (keeps the KBlock x NBlock slice of w in L2).</summary>
    internal const int NBlock = 512;

    /// <summary>
    /// <c>y[b,o] += sum_i x[b,i] * w[i,o]</c>; x is [batch, inSize], w is [inSize, outSize] (Keras
    /// layout), y is [batch, outSize], all row-major. y must not overlap x or w.
    /// </summary>
    /// <remarks>
    /// <para>Accumulation order, shared by the dense and the event-driven path: the inputs are split
    /// into blocks of <see cref="KBlock"/> (256) consecutive i. For each block and each output element
    /// the kernel forms <c>s = +0; for i ascending in the block: s = fma(x[b,i], w[i,o], s)</c>
    /// (fused when the CPU has FMA, <c>x*w + s</c> otherwise), then does <c>y[b,o] += s</c>. Blocks are
    /// applied in ascending order.</para>
    /// <para>With <paramref name="skipZeros"/> the terms whose <c>x[b,i]</c> is exactly 0 (either sign)
    /// are skipped. For finite weights a skipped term would have added <c>±0</c>, so both paths give
    /// bit-identical results (at most the sign of an exact-zero result can differ). Non-finite
    /// weights in rows whose input is 0 are ignored by the event-driven path (dense gives NaN).</para>
    /// </remarks>
    public static void Accumulate(ReadOnlySpan<float> x, int batch, int inSize, ReadOnlySpan<float> w, int outSize, Span<float> y, bool skipZeros = false)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckNonNegative(inSize, nameof(inSize));
        KernelMath.CheckNonNegative(outSize, nameof(outSize));
        KernelMath.CheckLength(x.Length, (long)batch * inSize, nameof(x));
        KernelMath.CheckLength(w.Length, (long)inSize * outSize, nameof(w));
        KernelMath.CheckLength(y.Length, (long)batch * outSize, nameof(y));
        if (batch == 0 || inSize == 0 || outSize == 0)
        {
            return;
        }

        unsafe
        {
            fixed (float* px = x, pw = w, py = y)
            {
                if (skipZeros)
                {
                    EventDriven(px, batch, inSize, pw, outSize, py);
                }
                else
                {
                    Blocked(px, batch, inSize, pw, outSize, py);
                }
            }
        }
    }

    private static unsafe void Blocked(float* x, int m, int k, float* w, int n, float* y)
    {
        int mt = Gemm.RowTile;
        for (int j0 = 0; j0 < n; j0 += NBlock)
        {
            int nc = Math.Min(NBlock, n - j0);
            for (int k0 = 0; k0 < k; k0 += KBlock)
            {
                int kc = Math.Min(KBlock, k - k0);
                for (int i0 = 0; i0 < m; i0 += mt)
                {
                    int rows = Math.Min(mt, m - i0);
                    var src = new DenseRows(x + ((nint)i0 * k) + k0, k, rows, kc, w + ((nint)k0 * n) + j0, n);
                    Gemm.Tile(ref src, rows, nc, y + ((nint)i0 * n) + j0, n);
                }
            }
        }
    }

    private static unsafe void EventDriven(float* x, int m, int k, float* w, int n, float* y)
    {
        int* nz = stackalloc int[KBlock];
        for (int b = 0; b < m; b++)
        {
            float* xr = x + ((nint)b * k);
            float* yr = y + ((nint)b * n);
            for (int k0 = 0; k0 < k; k0 += KBlock)
            {
                int kc = Math.Min(KBlock, k - k0);
                int count = NonZeros(xr, k0, k0 + kc, nz);

                if (count == 0)
                {
                    continue;
                }

                switch (KernelMath.Path)
                {
                    case SimdPath.Avx512:
                        EventRow<Vector512<float>, V512>(xr, nz, count, w, n, yr);
                        break;
                    case SimdPath.Avx256:
                        EventRow<Vector256<float>, V256>(xr, nz, count, w, n, yr);
                        break;
                    default:
                        EventRowScalar(xr, nz, count, w, n, 0, yr);
                        break;
                }
            }
        }
    }

    /// <summary>Writes the indices i in [start, end) with x[i] != 0 (NaN included) to nz; returns the count.</summary>
    private static unsafe int NonZeros(float* x, int start, int end, int* nz)
    {
        int count = 0;
        int i = start;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i + 8 <= end; i += 8)
            {
                uint bits = ~Vector256.Equals(Vector256.Load(x + i), Vector256<float>.Zero).ExtractMostSignificantBits() & 0xFFu;
                while (bits != 0)
                {
                    nz[count++] = i + System.Numerics.BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                }
            }
        }

        for (; i < end; i++)
        {
            if (x[i] != 0f)
            {
                nz[count++] = i;
            }
        }

        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void EventRow<TV, TOps>(float* xr, int* nz, int count, float* w, int n, float* yr)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        int vw = TOps.Width;
        int j = 0;
        for (; j + (8 * vw) <= n; j += 8 * vw)
        {
            TV a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
            TV a4 = TOps.Zero, a5 = TOps.Zero, a6 = TOps.Zero, a7 = TOps.Zero;
            for (int q = 0; q < count; q++)
            {
                int i = nz[q];
                TV xv = TOps.Broadcast(xr + i);
                float* wr = w + ((nint)i * n) + j;
                a0 = TOps.Madd(xv, TOps.Load(wr), a0);
                a1 = TOps.Madd(xv, TOps.Load(wr + vw), a1);
                a2 = TOps.Madd(xv, TOps.Load(wr + (2 * vw)), a2);
                a3 = TOps.Madd(xv, TOps.Load(wr + (3 * vw)), a3);
                a4 = TOps.Madd(xv, TOps.Load(wr + (4 * vw)), a4);
                a5 = TOps.Madd(xv, TOps.Load(wr + (5 * vw)), a5);
                a6 = TOps.Madd(xv, TOps.Load(wr + (6 * vw)), a6);
                a7 = TOps.Madd(xv, TOps.Load(wr + (7 * vw)), a7);
            }

            TOps.AddStore(yr + j, a0);
            TOps.AddStore(yr + j + vw, a1);
            TOps.AddStore(yr + j + (2 * vw), a2);
            TOps.AddStore(yr + j + (3 * vw), a3);
            TOps.AddStore(yr + j + (4 * vw), a4);
            TOps.AddStore(yr + j + (5 * vw), a5);
            TOps.AddStore(yr + j + (6 * vw), a6);
            TOps.AddStore(yr + j + (7 * vw), a7);
        }

        for (; j + (4 * vw) <= n; j += 4 * vw)
        {
            TV a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
            for (int q = 0; q < count; q++)
            {
                int i = nz[q];
                TV xv = TOps.Broadcast(xr + i);
                float* wr = w + ((nint)i * n) + j;
                a0 = TOps.Madd(xv, TOps.Load(wr), a0);
                a1 = TOps.Madd(xv, TOps.Load(wr + vw), a1);
                a2 = TOps.Madd(xv, TOps.Load(wr + (2 * vw)), a2);
                a3 = TOps.Madd(xv, TOps.Load(wr + (3 * vw)), a3);
            }

            TOps.AddStore(yr + j, a0);
            TOps.AddStore(yr + j + vw, a1);
            TOps.AddStore(yr + j + (2 * vw), a2);
            TOps.AddStore(yr + j + (3 * vw), a3);
        }

        for (; j + vw <= n; j += vw)
        {
            TV a0 = TOps.Zero;
            for (int q = 0; q < count; q++)
            {
                int i = nz[q];
                a0 = TOps.Madd(TOps.Broadcast(xr + i), TOps.Load(w + ((nint)i * n) + j), a0);
            }

            TOps.AddStore(yr + j, a0);
        }

        if (j < n)
        {
            TV mask = TOps.Mask(n - j);
            TV a0 = TOps.Zero;
            for (int q = 0; q < count; q++)
            {
                int i = nz[q];
                a0 = TOps.Madd(TOps.Broadcast(xr + i), TOps.LoadMasked(w + ((nint)i * n) + j, mask), a0);
            }

            TOps.AddStoreMasked(yr + j, mask, a0);
        }
    }

    private static unsafe void EventRowScalar(float* xr, int* nz, int count, float* w, int n, int j0, float* yr)
    {
        for (int j = j0; j < n; j++)
        {
            float acc = 0f;
            for (int q = 0; q < count; q++)
            {
                int i = nz[q];
                acc = KernelMath.Madd(xr[i], w[((nint)i * n) + j], acc);
            }

            yr[j] += acc;
        }
    }
}
