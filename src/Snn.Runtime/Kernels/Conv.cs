using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Snn.Runtime.Kernels;

/// <summary>Convolution kernels: the dense indirect GEMM and the depthwise and channels-first direct paths (the event-driven
/// kernels are in ConvEvents.cs and ConvRowStrips.cs).</summary>
public static partial class Conv
{
    /// <summary>
    /// <c>y += conv(x, kernel)</c>. x is [batch, InputSize], y is [batch, OutputSize], each sample laid
    /// out channels-last ([spatial..., C]) or channels-first ([C, spatial...]) per the geometry.
    /// kernel is in Keras layout [k0,(k1,(k2)), inChannels/groups, outChannels]; output channel oc
    /// belongs to group oc / (outChannels/groups) and reads input channels of that group.
    /// </summary>
    /// <remarks>
    /// Implementation: an indirect GEMM. Output pixels (over the whole batch) are rows of C, output
    /// channels are columns, and the kernel reshaped to [taps * Cin/groups, Cout] is B. The A row of
    /// an output pixel for tap t is the input pixel's channel vector (or zeros for padding), found via
    /// the geometry's indirection table, so no im2col copy is made. Per output element the sum runs
    /// over taps in row-major kernel order, then input channels, with FMA, and is added to y once.
    /// Depthwise convolutions (one input and one output channel per group) use a channel-vectorized
    /// loop instead. Channels-first data is transposed through the workspace.
    /// </remarks>
    public static void Accumulate(ConvGeometry g, ReadOnlySpan<float> kernel, ReadOnlySpan<float> x, int batch, Span<float> workspace, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(kernel.Length, g.KernelSize, nameof(kernel));
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(y.Length, (long)batch * g.OutputSize, nameof(y));
        int need = g.WorkspaceSize(batch);
        if (workspace.Length < need)
        {
            throw new ArgumentException($"Workspace has {workspace.Length} floats, {need} needed.", nameof(workspace));
        }

        if (batch == 0)
        {
            return;
        }

        unsafe
        {
            fixed (float* pk = kernel, px = x, pws = workspace, py = y, zeros = g.Zeros)
            fixed (int* table = g.Table)
            {
                if (g.ChannelsLast)
                {
                    ChannelsLast(g, pk, px, batch, py, table, zeros);
                    return;
                }

                if (g.DirectChannelsFirst)
                {
                    if (KernelMath.Path == SimdPath.Avx512) DirectChannelsFirst<Vector512<float>, V512>(g, pk, px, batch, py);
                    else DirectChannelsFirst<Vector256<float>, V256>(g, pk, px, batch, py);
                    return;
                }

                float* xt = pws;
                float* yt = pws + g.InputSize;
                int c = g.InChannels, s = g.InPixels, oc = g.OutChannels, op = g.OutPixels;
                for (int b = 0; b < batch; b++)
                {
                    Transpose(px + ((nint)b * g.InputSize), c, s, xt);
                    new Span<float>(yt, g.OutputSize).Clear();
                    ChannelsLast(g, pk, xt, 1, yt, table, zeros);
                    AddTransposed(yt, op, oc, py + ((nint)b * g.OutputSize));
                }
            }
        }
    }
    /// <summary>dst[j, i] = src[i, j] for src [rows, cols].</summary>
    internal static unsafe void Transpose(float* src, int rows, int cols, float* dst)
    {
        const int Blk = 32;
        for (int i0 = 0; i0 < rows; i0 += Blk)
        {
            int i1 = Math.Min(rows, i0 + Blk);
            for (int j0 = 0; j0 < cols; j0 += Blk)
            {
                int j1 = Math.Min(cols, j0 + Blk);
                for (int i = i0; i < i1; i++)
                {
                    float* s = src + ((nint)i * cols);
                    for (int j = j0; j < j1; j++)
                    {
                        dst[((nint)j * rows) + i] = s[j];
                    }
                }
            }
        }
    }
    /// <summary>dst[j, i] += src[i, j] for src [rows, cols].</summary>
    internal static unsafe void AddTransposed(float* src, int rows, int cols, float* dst)
    {
        const int Blk = 32;
        for (int j0 = 0; j0 < cols; j0 += Blk)
        {
            int j1 = Math.Min(cols, j0 + Blk);
            for (int i0 = 0; i0 < rows; i0 += Blk)
            {
                int i1 = Math.Min(rows, i0 + Blk);
                for (int j = j0; j < j1; j++)
                {
                    float* d = dst + ((nint)j * rows);
                    for (int i = i0; i < i1; i++)
                    {
                        d[i] += src[((nint)i * cols) + j];
                    }
                }
            }
        }
    }
    private static unsafe void ChannelsLast(ConvGeometry g, float* w, float* x, int batch, float* y, int* table, float* zeros)
    {
        int cg = g.GroupInChannels;
        int ng = g.GroupOutChannels;
        if (cg == 1 && ng == 1)
        {
            switch (KernelMath.Path)
            {
                // Eight channels fill a 256-bit vector exactly; on 512 bits half of every lane would be masked off.
                case SimdPath.Avx512 when g.OutChannels % 16 != 0 && g.OutChannels % 8 == 0 && g.OutChannels < 64:
                case SimdPath.Avx256:
                    Depthwise<Vector256<float>, V256>(g, w, x, batch, y, table, zeros);
                    return;
                case SimdPath.Avx512:
                    Depthwise<Vector512<float>, V512>(g, w, x, batch, y, table, zeros);
                    return;
            }
        }

        int taps = g.Taps;
        int cout = g.OutChannels;
        int outPix = g.OutPixels;
        int inSize = g.InputSize;
        long m = (long)batch * outPix;
        int mt = Gemm.RowTile;
        for (int grp = 0; grp < g.Groups; grp++)
        {
            var src = new ConvRows(taps, cg, w + (grp * ng), cout, zeros);
            int b = 0, p = 0;
            for (long i0 = 0; i0 < m; i0 += mt)
            {
                int rows = (int)Math.Min(mt, m - i0);
                for (int r = 0; r < mt; r++)
                {
                    if (r < rows)
                    {
                        src.X[r] = (nint)(x + ((nint)b * inSize) + (grp * cg));
                        src.Ind[r] = (nint)(table + ((nint)p * taps));
                        if (++p == outPix)
                        {
                            p = 0;
                            b++;
                        }
                    }
                    else
                    {
                        src.X[r] = src.X[0];
                        src.Ind[r] = src.Ind[0];
                    }
                }

                Gemm.Tile(ref src, rows, ng, y + (i0 * cout) + (grp * ng), cout);
            }
        }
    }
    /// <summary>
    /// Channels-first convolution without padding, one group and few output channels (see
    /// <see cref="ConvGeometry.DirectChannelsFirst"/>), straight from the channels-first planes: per output row and
    /// filter, two vectors of output pixels accumulate over the taps in row-major kernel order, then the input
    /// channels, with the same multiply-add as the GEMM, and are added to y once; so every output element gets exactly
    /// the indirect GEMM's bits (the event kernel's too). Four filters at a time share each input load.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectChannelsFirst<TV, TOps>(ConvGeometry g, float* w, float* x, int batch, float* y)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        int cout = g.OutChannels;
        int f = 0;
        for (; f + 4 <= cout; f += 4) DirectFilters<TV, TOps, R4>(g, w, x, batch, y, f);
        for (; f < cout; f++) DirectFilters<TV, TOps, R1>(g, w, x, batch, y, f);
    }
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DirectFilters<TV, TOps, TF>(ConvGeometry g, float* w, float* x, int batch, float* y, int f0)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TF : struct, IRowCount
    {
        int vw = TOps.Width;
        int cin = g.InChannels, cout = g.OutChannels;
        int inY = g.In3[1], inX = g.In3[2];
        int outZ = g.Out3[0], outY = g.Out3[1], outX = g.Out3[2];
        int kZ = g.Kernel3[0], kY = g.Kernel3[1], kX = g.Kernel3[2];
        int sZ = g.Stride3[0], sY = g.Stride3[1];
        int dZ = g.Dilation3[0], dY = g.Dilation3[1], dX = g.Dilation3[2];
        int inPlane = g.InPixels, outPlane = g.OutPixels;
        for (int b = 0; b < batch; b++)
        {
            float* xb = x + ((nint)b * g.InputSize);
            float* yb = y + ((nint)b * g.OutputSize) + ((nint)f0 * outPlane);
            for (int oz = 0; oz < outZ; oz++)
            for (int oy = 0; oy < outY; oy++)
            {
                float* yr = yb + (((nint)oz * outY) + oy) * outX;
                for (int ox0 = 0; ox0 < outX; ox0 += 2 * vw)
                {
                    int n0 = Math.Min(vw, outX - ox0), n1 = Math.Min(vw, outX - ox0 - vw);
                    // Masks only for partial vectors (whole ones load and store unmasked).
                    TV m0 = n0 < vw ? TOps.Mask(n0) : TOps.Zero, m1 = n1 > 0 && n1 < vw ? TOps.Mask(n1) : TOps.Zero;
                    bool two = n1 > 0;
                    TV a00 = TOps.Zero, a01 = TOps.Zero, a10 = TOps.Zero, a11 = TOps.Zero;
                    TV a20 = TOps.Zero, a21 = TOps.Zero, a30 = TOps.Zero, a31 = TOps.Zero;
                    float* wt = w + f0;
                    for (int kz = 0; kz < kZ; kz++)
                    for (int ky = 0; ky < kY; ky++)
                    {
                        float* row = xb + ((((nint)(oz * sZ) + (kz * dZ)) * inY) + (oy * sY) + (ky * dY)) * inX + ox0;
                        for (int kx = 0; kx < kX; kx++)
                        {
                            float* xc = row + (kx * dX);
                            for (int c = 0; c < cin; c++, xc += inPlane, wt += cout)
                            {
                                TV x0 = n0 < vw ? TOps.LoadMasked(xc, m0) : TOps.Load(xc);
                                TV x1 = !two ? TOps.Zero : n1 < vw ? TOps.LoadMasked(xc + vw, m1) : TOps.Load(xc + vw);
                                TV w0 = TOps.Broadcast(wt);
                                a00 = TOps.Madd(x0, w0, a00);
                                if (two) a01 = TOps.Madd(x1, w0, a01);
                                if (TF.Value > 1)
                                {
                                    TV w1 = TOps.Broadcast(wt + 1), w2 = TOps.Broadcast(wt + 2), w3 = TOps.Broadcast(wt + 3);
                                    a10 = TOps.Madd(x0, w1, a10);
                                    a20 = TOps.Madd(x0, w2, a20);
                                    a30 = TOps.Madd(x0, w3, a30);
                                    if (two)
                                    {
                                        a11 = TOps.Madd(x1, w1, a11);
                                        a21 = TOps.Madd(x1, w2, a21);
                                        a31 = TOps.Madd(x1, w3, a31);
                                    }
                                }
                            }
                        }
                    }

                    DirectStore<TV, TOps>(yr + ox0, n0, n1, m0, m1, a00, a01);
                    if (TF.Value > 1)
                    {
                        DirectStore<TV, TOps>(yr + outPlane + ox0, n0, n1, m0, m1, a10, a11);
                        DirectStore<TV, TOps>(yr + (2 * (nint)outPlane) + ox0, n0, n1, m0, m1, a20, a21);
                        DirectStore<TV, TOps>(yr + (3 * (nint)outPlane) + ox0, n0, n1, m0, m1, a30, a31);
                    }
                }
            }
        }
    }
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void DirectStore<TV, TOps>(float* y, int n0, int n1, TV m0, TV m1, TV v0, TV v1)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        int vw = TOps.Width;
        if (n0 < vw) TOps.AddStoreMasked(y, m0, v0);
        else TOps.AddStore(y, v0);
        if (n1 <= 0) return;
        if (n1 < vw) TOps.AddStoreMasked(y + vw, m1, v1);
        else TOps.AddStore(y + vw, v1);
    }
    /// <summary>
    /// Depthwise (one input and one output channel per group): <c>y[p, c] += sum_t x[in(p, t), c] * w[t, c]</c>,
    /// vectorized over channels, eight output pixels at a time: eight independent FMA chains hide the FMA latency and
    /// each weight vector is loaded once per eight FMAs. Padding taps read the zero row. Every output is the same chain
    /// (taps in order, fused multiply-adds) on every path and for any block, so the bits do not depend on either.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Depthwise<TV, TOps>(ConvGeometry g, float* w, float* x, int batch, float* y, int* table, float* zeros)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        const int Block = 8;
        int taps = g.Taps;
        int ch = g.OutChannels;
        int outPix = g.OutPixels;
        int vw = TOps.Width;
        for (int b = 0; b < batch; b++)
        {
            float* xb = x + ((nint)b * g.InputSize);
            float* yb = y + ((nint)b * g.OutputSize);
            long z = zeros - xb;   // padding taps read the zero row: xc + z = zeros + c0
            for (int p = 0; p < outPix; p += Block)
            {
                int rows = Math.Min(Block, outPix - p);
                int* i0 = table + ((nint)p * taps);
                // Rows past the end repeat the block's first pixel; their sums are not stored.
                int* i1 = rows > 1 ? i0 + taps : i0, i2 = rows > 2 ? i0 + (2 * taps) : i0, i3 = rows > 3 ? i0 + (3 * taps) : i0;
                int* i4 = rows > 4 ? i0 + (4 * taps) : i0, i5 = rows > 5 ? i0 + (5 * taps) : i0, i6 = rows > 6 ? i0 + (6 * taps) : i0;
                int* i7 = rows > 7 ? i0 + (7 * taps) : i0;
                float* yp = yb + ((nint)p * ch);
                for (int c0 = 0; c0 < ch; c0 += vw)
                {
                    bool full = c0 + vw <= ch;
                    TV mask = full ? TOps.Zero : TOps.Mask(ch - c0);
                    TV a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero, a4 = TOps.Zero, a5 = TOps.Zero, a6 = TOps.Zero, a7 = TOps.Zero;
                    float* wp = w + c0;
                    float* xc = xb + c0;
                    if (full)
                    {
                        for (int t = 0; t < taps; t++, wp += ch)
                        {
                            TV wv = TOps.Load(wp);
                            a0 = TOps.Madd(TOps.Load(xc + Tap(i0[t], z)), wv, a0);
                            a1 = TOps.Madd(TOps.Load(xc + Tap(i1[t], z)), wv, a1);
                            a2 = TOps.Madd(TOps.Load(xc + Tap(i2[t], z)), wv, a2);
                            a3 = TOps.Madd(TOps.Load(xc + Tap(i3[t], z)), wv, a3);
                            a4 = TOps.Madd(TOps.Load(xc + Tap(i4[t], z)), wv, a4);
                            a5 = TOps.Madd(TOps.Load(xc + Tap(i5[t], z)), wv, a5);
                            a6 = TOps.Madd(TOps.Load(xc + Tap(i6[t], z)), wv, a6);
                            a7 = TOps.Madd(TOps.Load(xc + Tap(i7[t], z)), wv, a7);
                        }
                    }
                    else
                    {
                        for (int t = 0; t < taps; t++, wp += ch)
                        {
                            TV wv = TOps.LoadMasked(wp, mask);
                            a0 = TOps.Madd(TOps.LoadMasked(xc + Tap(i0[t], z), mask), wv, a0);
                            a1 = TOps.Madd(TOps.LoadMasked(xc + Tap(i1[t], z), mask), wv, a1);
                            a2 = TOps.Madd(TOps.LoadMasked(xc + Tap(i2[t], z), mask), wv, a2);
                            a3 = TOps.Madd(TOps.LoadMasked(xc + Tap(i3[t], z), mask), wv, a3);
                            a4 = TOps.Madd(TOps.LoadMasked(xc + Tap(i4[t], z), mask), wv, a4);
                            a5 = TOps.Madd(TOps.LoadMasked(xc + Tap(i5[t], z), mask), wv, a5);
                            a6 = TOps.Madd(TOps.LoadMasked(xc + Tap(i6[t], z), mask), wv, a6);
                            a7 = TOps.Madd(TOps.LoadMasked(xc + Tap(i7[t], z), mask), wv, a7);
                        }
                    }

                    Chunk.AddStore<TV, TOps>(yp + c0, full, mask, a0);
                    if (rows > 1) Chunk.AddStore<TV, TOps>(yp + ch + c0, full, mask, a1);
                    if (rows > 2) Chunk.AddStore<TV, TOps>(yp + (2 * ch) + c0, full, mask, a2);
                    if (rows > 3) Chunk.AddStore<TV, TOps>(yp + (3 * ch) + c0, full, mask, a3);
                    if (rows > 4) Chunk.AddStore<TV, TOps>(yp + (4 * ch) + c0, full, mask, a4);
                    if (rows > 5) Chunk.AddStore<TV, TOps>(yp + (5 * ch) + c0, full, mask, a5);
                    if (rows > 6) Chunk.AddStore<TV, TOps>(yp + (6 * ch) + c0, full, mask, a6);
                    if (rows > 7) Chunk.AddStore<TV, TOps>(yp + (7 * ch) + c0, full, mask, a7);
                }
            }
        }
    }
    /// <summary>
    /// The offset a table entry reads from: the entry, or <paramref name="zero"/> (the zero row) for a padding tap
    /// (a negative entry), without a branch: the JIT turns a select of pointers into two taken jumps per tap.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint Tap(int entry, long zero)
    {
        long v = entry;
        return (nint)(v + ((v >> 63) & (zero - v)));
    }
}

/// <summary>A operand for the indirect convolution GEMM: one segment per kernel tap.</summary>
internal unsafe struct ConvRows : IRowSource
{
    public const int MaxRows = 12;

    /// <summary>Per tile row: input sample base pointer plus the group's first channel.</summary>
    public fixed long X[MaxRows];

    /// <summary>Per tile row: pointer to that output pixel's row of the indirection table.</summary>
    public fixed long Ind[MaxRows];

    private readonly int _taps;
    private readonly int _cg;
    private readonly float* _w;
    private readonly int _ldb;
    private readonly float* _zeros;

    public ConvRows(int taps, int cg, float* w, int ldb, float* zeros)
    {
        _taps = taps;
        _cg = cg;
        _w = w;
        _ldb = ldb;
        _zeros = zeros;
    }

    public readonly int Ldb => _ldb;

    public readonly int Segments => _taps;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly int Length(int s) => _cg;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float* B(int s) => _w + ((nint)s * _cg * _ldb);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public readonly float* Row(int s, int r)
    {
        int off = ((int*)Ind[r])[s];
        return off >= 0 ? (float*)X[r] + off : _zeros;
    }
}
