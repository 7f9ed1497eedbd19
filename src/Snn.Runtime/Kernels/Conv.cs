using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>
/// Geometry of an N-d (1D, 2D, 3D) convolution with TensorFlow semantics: correlation (no kernel
/// flip), dilation, groups and explicit zero padding before each spatial dimension (cells past the
/// end of the input are zero as well). Immutable and thread-safe; build it once per layer: it owns a
/// precomputed indirection table (output pixel x kernel tap -> input offset).
/// </summary>
public sealed class ConvGeometry
{
    // Spatial dimensions are normalised to 3 (leading 1s).
    internal readonly int[] In3;
    internal readonly int[] Kernel3;
    internal readonly int[] Stride3;
    internal readonly int[] Dilation3;
    internal readonly int[] Pad3;
    internal readonly int[] Out3;

    /// <summary>[OutPixels * Taps]: channels-last offset of input pixel (times InChannels) or -1 for padding.</summary>
    internal readonly int[] Table;

    /// <summary>InChannels zeros: the A row used for padding taps. Never written.</summary>
    internal readonly float[] Zeros;

    private ConvGeometry(int rank, int[] in3, int inChannels, int[] k3, int[] s3, int[] d3, int[] p3, int[] o3, int outChannels, int groups, bool channelsLast)
    {
        Rank = rank;
        In3 = in3;
        Kernel3 = k3;
        Stride3 = s3;
        Dilation3 = d3;
        Pad3 = p3;
        Out3 = o3;
        InChannels = inChannels;
        OutChannels = outChannels;
        Groups = groups;
        ChannelsLast = channelsLast;
        InPixels = in3[0] * in3[1] * in3[2];
        OutPixels = o3[0] * o3[1] * o3[2];
        Taps = k3[0] * k3[1] * k3[2];
        InputSize = checked(InPixels * inChannels);
        OutputSize = checked(OutPixels * outChannels);
        Zeros = new float[inChannels];
        Table = new int[checked(OutPixels * Taps)];
        int t0 = 0;
        for (int od = 0; od < o3[0]; od++)
        {
            for (int oh = 0; oh < o3[1]; oh++)
            {
                for (int ow = 0; ow < o3[2]; ow++)
                {
                    for (int kd = 0; kd < k3[0]; kd++)
                    {
                        int id = (od * s3[0]) - p3[0] + (kd * d3[0]);
                        for (int kh = 0; kh < k3[1]; kh++)
                        {
                            int ih = (oh * s3[1]) - p3[1] + (kh * d3[1]);
                            for (int kw = 0; kw < k3[2]; kw++)
                            {
                                int iw = (ow * s3[2]) - p3[2] + (kw * d3[2]);
                                bool inside = (uint)id < (uint)in3[0] && (uint)ih < (uint)in3[1] && (uint)iw < (uint)in3[2];
                                Table[t0++] = inside ? ((((id * in3[1]) + ih) * in3[2]) + iw) * inChannels : -1;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Number of spatial dimensions (1, 2 or 3).</summary>
    public int Rank { get; }

    public int InChannels { get; }

    public int OutChannels { get; }

    public int Groups { get; }

    public bool ChannelsLast { get; }

    /// <summary>Product of the input spatial sizes.</summary>
    public int InPixels { get; }

    /// <summary>Product of the output spatial sizes.</summary>
    public int OutPixels { get; }

    /// <summary>Product of the kernel sizes.</summary>
    public int Taps { get; }

    /// <summary>Elements per input sample (InPixels * InChannels).</summary>
    public int InputSize { get; }

    /// <summary>Elements per output sample (OutPixels * OutChannels).</summary>
    public int OutputSize { get; }

    /// <summary>Input channels per group.</summary>
    public int GroupInChannels => InChannels / Groups;

    /// <summary>Output channels per group.</summary>
    public int GroupOutChannels => OutChannels / Groups;

    /// <summary>Elements of the kernel: Taps * InChannels/Groups * OutChannels.</summary>
    public int KernelSize => Taps * GroupInChannels * OutChannels;

    /// <summary>
    /// Creates a geometry. Arrays are per spatial dimension (all the same length 1..3). The output
    /// size is taken as given (e.g. TF 'valid': ceil((in - (k-1)*d) / s); 'same': ceil(in / s) with
    /// padBefore = floor(total / 2)); taps falling outside the input read zeros.
    /// </summary>
    public static ConvGeometry Create(int[] inSpatial, int inChannels, int[] kernel, int[] strides, int[] dilation, int[] padBefore, int[] outSpatial, int outChannels, int groups, bool channelsLast)
    {
        ArgumentNullException.ThrowIfNull(inSpatial);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(strides);
        ArgumentNullException.ThrowIfNull(dilation);
        ArgumentNullException.ThrowIfNull(padBefore);
        ArgumentNullException.ThrowIfNull(outSpatial);
        int rank = inSpatial.Length;
        if (rank is < 1 or > 3)
        {
            throw new ArgumentException($"Convolution rank must be 1, 2 or 3, got {rank}.", nameof(inSpatial));
        }

        CheckDims(kernel, rank, 1, nameof(kernel));
        CheckDims(strides, rank, 1, nameof(strides));
        CheckDims(dilation, rank, 1, nameof(dilation));
        CheckDims(padBefore, rank, 0, nameof(padBefore));
        CheckDims(outSpatial, rank, 1, nameof(outSpatial));
        CheckDims(inSpatial, rank, 1, nameof(inSpatial));
        if (groups < 1)
        {
            throw new ArgumentException($"groups must be >= 1, got {groups}.", nameof(groups));
        }

        if (inChannels < 1 || inChannels % groups != 0)
        {
            throw new ArgumentException($"inChannels ({inChannels}) must be a positive multiple of groups ({groups}).", nameof(inChannels));
        }

        if (outChannels < 1 || outChannels % groups != 0)
        {
            throw new ArgumentException($"outChannels ({outChannels}) must be a positive multiple of groups ({groups}).", nameof(outChannels));
        }

        return new ConvGeometry(
            rank, To3(inSpatial, 1), inChannels, To3(kernel, 1), To3(strides, 1), To3(dilation, 1), To3(padBefore, 0), To3(outSpatial, 1), outChannels, groups, channelsLast);
    }

    /// <summary>
    /// Floats of scratch needed by <see cref="Conv.Accumulate"/>: 0 for channels-last; one transposed
    /// input sample plus one output sample for channels-first (independent of batch).
    /// </summary>
    public int WorkspaceSize(int batch)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        return ChannelsLast || batch == 0 ? 0 : InputSize + OutputSize;
    }

    internal static void CheckDims(int[] a, int rank, int min, string name)
    {
        if (a.Length != rank)
        {
            throw new ArgumentException($"Expected {rank} entries, got {a.Length}.", name);
        }

        foreach (int v in a)
        {
            if (v < min)
            {
                throw new ArgumentException($"Entries must be >= {min}, got {v}.", name);
            }
        }
    }

    internal static int[] To3(int[] a, int fill)
    {
        var r = new[] { fill, fill, fill };
        Array.Copy(a, 0, r, 3 - a.Length, a.Length);
        return r;
    }
}

/// <summary>Convolution kernels.</summary>
public static class Conv
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
    private static unsafe void Transpose(float* src, int rows, int cols, float* dst)
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
    private static unsafe void AddTransposed(float* src, int rows, int cols, float* dst)
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
                case SimdPath.Avx512:
                    Depthwise<Vector512<float>, V512>(g, w, x, batch, y, table, zeros);
                    return;
                case SimdPath.Avx256:
                    Depthwise<Vector256<float>, V256>(g, w, x, batch, y, table, zeros);
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
    /// Depthwise (one input and one output channel per group): <c>y[p, c] += sum_t x[in(p, t), c] * w[t, c]</c>,
    /// vectorized over channels, four output pixels at a time so each weight vector is loaded once
    /// per four FMAs. Padding taps read the zero row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Depthwise<TV, TOps>(ConvGeometry g, float* w, float* x, int batch, float* y, int* table, float* zeros)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        int taps = g.Taps;
        int ch = g.OutChannels;
        int outPix = g.OutPixels;
        int vw = TOps.Width;
        for (int b = 0; b < batch; b++)
        {
            float* xb = x + ((nint)b * g.InputSize);
            float* yb = y + ((nint)b * g.OutputSize);
            for (int p = 0; p < outPix; p += 4)
            {
                int rows = Math.Min(4, outPix - p);
                int* i0 = table + ((nint)p * taps);
                int* i1 = rows > 1 ? i0 + taps : i0;
                int* i2 = rows > 2 ? i0 + (2 * taps) : i0;
                int* i3 = rows > 3 ? i0 + (3 * taps) : i0;
                float* yp = yb + ((nint)p * ch);
                for (int c0 = 0; c0 < ch; c0 += vw)
                {
                    bool full = c0 + vw <= ch;
                    TV mask = full ? TOps.Zero : TOps.Mask(ch - c0);
                    TV a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
                    float* wp = w + c0;
                    float* xc = xb + c0;
                    float* zc = zeros + c0;
                    if (full)
                    {
                        for (int t = 0; t < taps; t++, wp += ch)
                        {
                            TV wv = TOps.Load(wp);
                            int o0 = i0[t], o1 = i1[t], o2 = i2[t], o3 = i3[t];
                            a0 = TOps.Madd(TOps.Load(o0 >= 0 ? xc + o0 : zc), wv, a0);
                            a1 = TOps.Madd(TOps.Load(o1 >= 0 ? xc + o1 : zc), wv, a1);
                            a2 = TOps.Madd(TOps.Load(o2 >= 0 ? xc + o2 : zc), wv, a2);
                            a3 = TOps.Madd(TOps.Load(o3 >= 0 ? xc + o3 : zc), wv, a3);
                        }
                    }
                    else
                    {
                        for (int t = 0; t < taps; t++, wp += ch)
                        {
                            TV wv = TOps.LoadMasked(wp, mask);
                            int o0 = i0[t], o1 = i1[t], o2 = i2[t], o3 = i3[t];
                            a0 = TOps.Madd(TOps.LoadMasked(o0 >= 0 ? xc + o0 : zc, mask), wv, a0);
                            a1 = TOps.Madd(TOps.LoadMasked(o1 >= 0 ? xc + o1 : zc, mask), wv, a1);
                            a2 = TOps.Madd(TOps.LoadMasked(o2 >= 0 ? xc + o2 : zc, mask), wv, a2);
                            a3 = TOps.Madd(TOps.LoadMasked(o3 >= 0 ? xc + o3 : zc, mask), wv, a3);
                        }
                    }

                    Store<TV, TOps>(yp + c0, full, mask, a0);
                    if (rows > 1)
                    {
                        Store<TV, TOps>(yp + ch + c0, full, mask, a1);
                    }

                    if (rows > 2)
                    {
                        Store<TV, TOps>(yp + (2 * ch) + c0, full, mask, a2);
                    }

                    if (rows > 3)
                    {
                        Store<TV, TOps>(yp + (3 * ch) + c0, full, mask, a3);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store<TV, TOps>(float* p, bool full, TV mask, TV v)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        if (full)
        {
            TOps.AddStore(p, v);
        }
        else
        {
            TOps.AddStoreMasked(p, mask, v);
        }
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
