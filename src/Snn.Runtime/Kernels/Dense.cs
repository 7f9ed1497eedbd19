using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>Fully connected layer kernel (batched matrix product).</summary>
public static class Dense
{
    /// <summary>K block: the inner-product length accumulated in registers before touching y (the IR's summation contract).</summary>
    internal const int KBlock = DotInc.SumBlock;

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
        // Block by block over the whole batch (as the dense path goes): the rows of w that a block's spikes pick stay
        // in cache from one sample to the next. The order of a sample's blocks, and so every sum, is unchanged.
        // While a block runs, the next block's rows of w are prefetched (to L2) a share per sample: the spikes pick rows
        // at random, which the hardware prefetcher cannot follow, and w is seldom all in cache.
        // (Only while a block's slice of w fits an L2: n at most NBlock columns, 512 KB.)
        int* nz = stackalloc int[KBlock + 16];
        bool prefetch = System.Runtime.Intrinsics.X86.Sse.IsSupported && n <= NBlock;
        if (prefetch)
        {
            for (long f = 0, end = (long)Math.Min(KBlock, k) * n; f < end; f += 16)
            {
                System.Runtime.Intrinsics.X86.Sse.Prefetch1(w + f);
            }
        }

        for (int k0 = 0; k0 < k; k0 += KBlock)
        {
            int kc = Math.Min(KBlock, k - k0);
            long nextFloats = (long)Math.Min(KBlock, Math.Max(0, k - k0 - KBlock)) * n;
            long share = ((nextFloats / 16) + m) / m * 16;
            float* next = w + ((nint)(k0 + KBlock) * n);
            for (int b = 0; b < m; b++)
            {
                float* xr = x + ((nint)b * k);
                float* yr = y + ((nint)b * n);
                if (prefetch)
                {
                    for (long f = b * share, end = Math.Min(nextFloats, f + share); f < end; f += 16)
                    {
                        System.Runtime.Intrinsics.X86.Sse.Prefetch1(next + f);
                    }
                }

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

    /// <summary>For each 8-bit mask, its set bits' positions in ascending order (8 bytes per mask, the rest 0).</summary>
    private static readonly byte[] SetLanes = BuildSetLanes();

    private static byte[] BuildSetLanes()
    {
        var t = new byte[256 * 8];
        for (int m = 0; m < 256; m++)
        {
            int k = 0;
            for (int b = 0; b < 8; b++)
            {
                if ((m & (1 << b)) != 0) t[(m * 8) + k++] = (byte)b;
            }
        }

        return t;
    }

    /// <summary>Writes the indices i in [start, end) with x[i] != 0 (NaN included) to nz (room for end - start + 16); returns the count.</summary>
    private static unsafe int NonZeros(float* x, int start, int end, int* nz)
    {
        int count = 0;
        int i = start;
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
        {
            // Branch-free: the lanes' indices compressed to the front (nz has room for whole vectors: KBlock + 16).
            var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            for (; i + 16 <= end; i += 16)
            {
                var keep = ~Vector512.Equals(Vector512.Load(x + i), Vector512<float>.Zero).AsInt32();
                Vector512.Store(System.Runtime.Intrinsics.X86.Avx512F.Compress(Vector512<int>.Zero, keep, lanes + Vector512.Create(i)), nz + count);
                count += System.Numerics.BitOperations.PopCount(keep.ExtractMostSignificantBits());
            }
        }
        else if (System.Runtime.Intrinsics.X86.Avx2.IsSupported)
        {
            // Branch-free: each 8-lane mask's set lanes from a table, widened and stored whole.
            fixed (byte* table = SetLanes)
            {
                for (; i + 8 <= end; i += 8)
                {
                    uint bits = ~Vector256.Equals(Vector256.Load(x + i), Vector256<float>.Zero).ExtractMostSignificantBits() & 0xFFu;
                    var lanes = System.Runtime.Intrinsics.X86.Avx2.ConvertToVector256Int32(table + (bits * 8));
                    Vector256.Store(lanes + Vector256.Create(i), nz + count);
                    count += System.Numerics.BitOperations.PopCount(bits);
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

    /// <summary>
    /// One sample's block of terms over all columns: passes of eight column vectors, then one pass over the rest (up to
    /// eight vectors, the last one masked), each pass summing every listed input's row in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void EventRow<TV, TOps>(float* xr, int* nz, int count, float* w, int n, float* yr)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        int vw = TOps.Width;
        int j = 0;
        for (; j + (8 * vw) <= n; j += 8 * vw)
        {
            EventColumns<TV, TOps, E8>(xr, nz, count, w + j, n, yr + j, TOps.Zero);
        }

        int rest = n - j;
        if (rest == 0)
        {
            return;
        }

        int vectors = (rest + vw - 1) / vw;
        TV mask = rest % vw == 0 ? TOps.Zero : TOps.Mask(rest % vw);
        switch (vectors, rest % vw != 0)
        {
            case (1, false): EventColumns<TV, TOps, E1>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (1, true): EventColumns<TV, TOps, E1M>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (2, false): EventColumns<TV, TOps, E2>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (2, true): EventColumns<TV, TOps, E2M>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (3, false): EventColumns<TV, TOps, E3>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (3, true): EventColumns<TV, TOps, E3M>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (4, false): EventColumns<TV, TOps, E4>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (4, true): EventColumns<TV, TOps, E4M>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (5, false): EventColumns<TV, TOps, E5>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (5, true): EventColumns<TV, TOps, E5M>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (6, false): EventColumns<TV, TOps, E6>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (6, true): EventColumns<TV, TOps, E6M>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (7, false): EventColumns<TV, TOps, E7>(xr, nz, count, w + j, n, yr + j, mask); break;
            case (7, true): EventColumns<TV, TOps, E7M>(xr, nz, count, w + j, n, yr + j, mask); break;
            default: EventColumns<TV, TOps, E8M>(xr, nz, count, w + j, n, yr + j, mask); break;
        }
    }

    /// <summary>
    /// <c>yr[0 .. V * Width) += sum over listed i of xr[i] * w[i, 0 .. V * Width)</c> (the last vector masked when
    /// TN is), each column's sum formed from +0 in list order.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void EventColumns<TV, TOps, TN>(float* xr, int* nz, int count, float* w, int n, float* yr, TV mask)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
    {
        int v = TN.Vectors;
        TV a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
        TV a4 = TOps.Zero, a5 = TOps.Zero, a6 = TOps.Zero, a7 = TOps.Zero;
        for (int q = 0; q < count; q++)
        {
            int i = nz[q];
            TV xv = TOps.Broadcast(xr + i);
            float* wr = w + ((nint)i * n);
            a0 = TOps.Madd(xv, Chunk.Load<TV, TOps, TN>(wr, 0, mask), a0);
            if (v > 1) a1 = TOps.Madd(xv, Chunk.Load<TV, TOps, TN>(wr, 1, mask), a1);
            if (v > 2) a2 = TOps.Madd(xv, Chunk.Load<TV, TOps, TN>(wr, 2, mask), a2);
            if (v > 3) a3 = TOps.Madd(xv, Chunk.Load<TV, TOps, TN>(wr, 3, mask), a3);
            if (v > 4) a4 = TOps.Madd(xv, Chunk.Load<TV, TOps, TN>(wr, 4, mask), a4);
            if (v > 5) a5 = TOps.Madd(xv, Chunk.Load<TV, TOps, TN>(wr, 5, mask), a5);
            if (v > 6) a6 = TOps.Madd(xv, Chunk.Load<TV, TOps, TN>(wr, 6, mask), a6);
            if (v > 7) a7 = TOps.Madd(xv, Chunk.Load<TV, TOps, TN>(wr, 7, mask), a7);
        }

        Chunk.AddStore<TV, TOps, TN>(yr, 0, mask, a0);
        if (v > 1) Chunk.AddStore<TV, TOps, TN>(yr, 1, mask, a1);
        if (v > 2) Chunk.AddStore<TV, TOps, TN>(yr, 2, mask, a2);
        if (v > 3) Chunk.AddStore<TV, TOps, TN>(yr, 3, mask, a3);
        if (v > 4) Chunk.AddStore<TV, TOps, TN>(yr, 4, mask, a4);
        if (v > 5) Chunk.AddStore<TV, TOps, TN>(yr, 5, mask, a5);
        if (v > 6) Chunk.AddStore<TV, TOps, TN>(yr, 6, mask, a6);
        if (v > 7) Chunk.AddStore<TV, TOps, TN>(yr, 7, mask, a7);
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
