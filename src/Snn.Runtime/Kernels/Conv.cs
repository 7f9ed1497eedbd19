using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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

    /// <summary>
    /// Segments of the event kernel, [OutPixels * SegmentsPerPixel] each: the input pixels
    /// SegmentFirst .. SegmentEnd (exclusive) that consecutive taps of one kernel row read (one tap per segment
    /// when the last dimension is dilated; empty when the row lies in the padding), and SegmentShift, which
    /// turns an event's filter offset <c>(q * GroupInChannels + c) * OutChannels</c> into the offset
    /// <c>(t * GroupInChannels + c) * OutChannels</c> of the tap t that reads pixel q. Segments run in tap order.
    /// </summary>
    internal readonly int[] SegmentFirst;
    internal readonly int[] SegmentEnd;
    internal readonly int[] SegmentShift;

    /// <summary>Segments per output pixel.</summary>
    internal readonly int SegmentsPerPixel;

    /// <summary>The most events one segment can hold (pixels in it times GroupInChannels).</summary>
    internal readonly int SegmentCapacity;

    /// <summary>Output pixels per row chunk of the row-strip event kernel: eight vector sums of 16 channels, on AVX-512 eight pixels, on AVX2 four.</summary>
    internal static readonly int RowChunk = KernelMath.Path == SimdPath.Avx512 ? 8 : 4;

    /// <summary>
    /// Whether the event kernel runs row strips (see <see cref="Conv.AccumulateEvents"/>): a vector path, one group, at most 16
    /// output channels, the last axis with stride 1 and no dilation, no padding and every tap inside the input, and
    /// weight strips of at most 64 KB.
    /// </summary>
    internal readonly bool RowStrips;

    /// <summary>Floats of one kernel row's weight strip: [StripPositions][InChannels][16].</summary>
    internal readonly int StripRow;

    /// <summary>Positions of a strip: kernel width plus 2 * (RowChunk - 1), zero past the kernel's taps.</summary>
    internal readonly int StripPositions;

    /// <summary>[output rows * kernel rows]: the input row (flattened over the leading spatial axes) each kernel row reads.</summary>
    internal readonly int[]? RowInput;


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
        bool runs = d3[2] == 1;
        SegmentsPerPixel = runs ? k3[0] * k3[1] : Taps;
        SegmentCapacity = (runs ? k3[2] : 1) * GroupInChannels;
        SupportsEvents = (long)Math.Max(InPixels, Taps) * GroupInChannels * outChannels < int.MaxValue / 2;
        bool allInside = Enumerable.Range(0, 3).All(i => p3[i] == 0 && ((o3[i] - 1) * s3[i]) + ((k3[i] - 1) * d3[i]) < in3[i]);
        DirectChannelsFirst = !channelsLast && groups == 1 && outChannels < 16 && s3[2] == 1 && KernelMath.Path != SimdPath.Scalar && allInside;
        StripPositions = k3[2] + (2 * (RowChunk - 1));
        StripRow = StripPositions * inChannels * 16;
        RowStrips = groups == 1 && outChannels <= 16 && s3[2] == 1 && d3[2] == 1 && allInside && KernelMath.Path != SimdPath.Scalar
            && (long)k3[0] * k3[1] * StripRow <= 16384 && SupportsEvents && (long)InputSize * 16 < int.MaxValue / 2;
        if (RowStrips)
        {
            RowInput = new int[o3[0] * o3[1] * k3[0] * k3[1]];
            int ri = 0;
            for (int od = 0; od < o3[0]; od++)
            {
                for (int oh = 0; oh < o3[1]; oh++)
                {
                    for (int kd = 0; kd < k3[0]; kd++)
                    {
                        for (int kh = 0; kh < k3[1]; kh++)
                        {
                            RowInput[ri++] = (((od * s3[0]) + (kd * d3[0])) * in3[1]) + (oh * s3[1]) + (kh * d3[1]);
                        }
                    }
                }
            }
        }

        SegmentFirst = new int[checked(OutPixels * SegmentsPerPixel)];
        SegmentEnd = new int[SegmentFirst.Length];
        SegmentShift = new int[SegmentFirst.Length];
        int unit = SupportsEvents ? GroupInChannels * outChannels : 0;
        int seg = 0;

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
                                int q = inside ? (((id * in3[1]) + ih) * in3[2]) + iw : -1;
                                Table[t0++] = inside ? q * inChannels : -1;
                                if (!runs)
                                {
                                    int tap = (((kd * k3[1]) + kh) * k3[2]) + kw;
                                    SegmentFirst[seg] = inside ? q : 0;
                                    SegmentEnd[seg] = inside ? q + 1 : 0;
                                    SegmentShift[seg++] = inside ? (tap - q) * unit : 0;
                                }
                            }

                            if (runs)
                            {
                                // Taps kw = lo .. hi-1 read the consecutive pixels iw(lo) .. iw(hi-1) of one input row.
                                int iw0 = (ow * s3[2]) - p3[2];
                                int lo = Math.Max(0, -iw0), hi = Math.Min(k3[2], in3[2] - iw0);
                                bool rowInside = (uint)id < (uint)in3[0] && (uint)ih < (uint)in3[1] && lo < hi;
                                int rowBase = rowInside ? ((id * in3[1]) + ih) * in3[2] : 0;
                                SegmentFirst[seg] = rowInside ? rowBase + iw0 + lo : 0;
                                SegmentEnd[seg] = rowInside ? rowBase + iw0 + hi : 0;
                                SegmentShift[seg++] = rowInside ? ((((kd * k3[1]) + kh) * k3[2]) - rowBase - iw0) * unit : 0;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Number of spatial dimensions (1, 2 or 3).</summary>
    public int Rank { get; }

    /// <summary>
    /// Whether the dense kernel runs straight on channels-first planes: channels-first, one group, fewer output
    /// channels than a 16-lane vector (the indirect GEMM would leave most of its columns empty), no padding and every
    /// tap inside the input, the last spatial axis with stride 1, on a vector path. LeNet-5's first convolution
    /// (1 → 6 channels) is the case it is for.
    /// </summary>
    public bool DirectChannelsFirst { get; }

    /// <summary>Whether <see cref="Conv.AccumulateEvents"/> handles this geometry (its filter offsets fit in an int).</summary>
    public bool SupportsEvents { get; }

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

    /// <summary>
    /// Floats per output pixel of the event kernel's channels-first staging rows: every group's output channels
    /// rounded up to whole 16-lane vectors, so whole vectors can be stored.
    /// </summary>
    internal int EventStride => Groups * RoundUp(GroupOutChannels, 16);

    /// <summary>
    /// Floats of scratch needed by <see cref="Conv.AccumulateEvents"/> (independent of batch): one sample's
    /// nonzero inputs by pixel, four output pixels' term streams, for channels-first data staging rows and, for
    /// <see cref="RowStrips"/>, the weight strips.
    /// </summary>
    public int EventWorkspaceSize => EventSpace.Size(this);

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

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

    /// <summary>
    /// Event-driven <c>y += conv(x, kernel)</c> for spike inputs, with the same arguments and layouts as
    /// <see cref="Accumulate"/> (workspace: <see cref="ConvGeometry.EventWorkspaceSize"/> floats; the geometry must
    /// <see cref="ConvGeometry.SupportsEvents"/>). Only nonzero inputs do work: per sample the kernel lists every
    /// input pixel's nonzero channels; per output pixel it concatenates, kernel row by kernel row, the lists of the
    /// pixels under its taps into a stream of (filter row, value) terms and sums the stream in registers,
    /// vectorized over the output channels of the group, four output pixels at a time.
    /// </summary>
    /// <remarks>
    /// <para>Bit-identical to <see cref="Accumulate"/> (the dense path), which computes each output element as
    /// <c>acc = +0; for each tap t in row-major kernel order, for each input channel c of the group ascending:
    /// acc = Madd(x[in(p, t), c], kernel[t, c, oc], acc)</c>, then <c>y += acc</c> once. A stream holds exactly the
    /// nonzero terms of that chain in that order (taps ascending; within a tap, channels ascending) and is summed
    /// from +0 with the same Madd, then added to y once. The terms left out are those whose input is exactly 0 (and
    /// padding taps, which read zeros in the dense path): for finite weights such a term adds ±0, which leaves a
    /// nonzero sum unchanged and a +0 sum +0, so both kernels give the same bits, signed zeros included (a -0 partial
    /// sum, which only a product underflowing to -0 can make, may come out +0 in one path and -0 in the other).
    /// With one output-channel vector per term the shorter of four interleaved streams are padded with zero terms
    /// (value +0, the chunk's first filter row), which are terms of the dense chain too and change nothing for
    /// finite weights. Non-finite weights under zero inputs are ignored here, or reached only by such padding
    /// (dense gives NaN). Every output element gets its
    /// <c>y += acc</c>, even with no terms (acc = +0), as in the dense path. <see cref="IVecOps{TV}.Madd"/> and <see cref="KernelMath.Madd(float, float, float)"/>
    /// are fused exactly when the dense kernel's are, on every SIMD path.</para>
    /// <para>Cost per sample: a vectorized scan of the input, one short block copy per output pixel and kernel row,
    /// and one vector FMA per nonzero term and output-channel vector; the dense path spends an FMA on every input
    /// element, zero or not. The summing loops are small methods of their own (<see cref="Four{TV, TOps, TN}"/>,
    /// <see cref="Rest{TV, TOps, TN}"/>): inline, the JIT spilled the sixteen sums on every term of the tails
    /// (measured 1.5x slower on Fashion CNN's second convolution).</para>
    /// <para>Row strips (<see cref="ConvGeometry.RowStrips"/>: a vector path, one group, at most 16 filters, unpadded,
    /// the last axis with stride 1 and no dilation; LeNet-5's second convolution) skip the streams. The sums of a chunk
    /// of C output pixels of one output row stay in registers (C = 8 on AVX-512, 4 on AVX2); for each kernel row, every
    /// event of the input row it reads (pixels, then channels, ascending) adds <c>value * strip[x - ox + C - 1]</c> to
    /// each pixel ox's sum, where the strip holds the kernel row's filter rows at positions C - 1 .. C + kernel width - 2
    /// and zeros around them. So each
    /// pixel's chain is its dense chain's nonzero terms in order, with <c>value * 0</c> terms between them, which for a
    /// finite value add ±0 and change nothing (as above). A sample with a non-finite input takes the streams instead
    /// (<c>NaN * 0</c> would reach pixels the dense path leaves alone). On AVX-512 one event costs eight FMAs where about five
    /// reach a pixel (LeNet-5's conv2: 2.7x the dense kernel's speed on its own spikes, against 1.45x for the streams,
    /// whose per-pixel copies cost as much as the FMAs with six channels and sixteen filters).</para>
    /// </remarks>
    public static void AccumulateEvents(ConvGeometry g, ReadOnlySpan<float> kernel, ReadOnlySpan<float> x, int batch, Span<float> workspace, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (!g.SupportsEvents)
        {
            throw new ArgumentException("This geometry is too large for the event-driven kernel (see SupportsEvents).", nameof(g));
        }

        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(kernel.Length, g.KernelSize, nameof(kernel));
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(y.Length, (long)batch * g.OutputSize, nameof(y));
        int need = g.EventWorkspaceSize;
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
            fixed (float* pk = kernel, px = x, pws = workspace, py = y)
            fixed (int* first = g.SegmentFirst, end = g.SegmentEnd, shift = g.SegmentShift)
            {
                var e = EventSpace.Of(g, pws);
                if (g.RowStrips)
                {
                    BuildStrips(g, pk, e.Strip);
                }

                bool planes = AddsToPlanes(g);
                var segments = new Segments(first, end, shift, g.SegmentsPerPixel, g.SegmentCapacity > 16);
                for (int b = 0; b < batch; b++)
                {
                    float* xb = px + ((nint)b * g.InputSize);
                    float* yb = py + ((nint)b * g.OutputSize);
                    if (b + 1 < batch && g.InputSize + g.OutputSize <= PrefetchLimit)
                    {
                        // The next sample's input and output, while this one runs: the kernel reads them piecemeal
                        // (the output a few values per channel plane at a time), so they would come in late.
                        Prefetch(xb + g.InputSize, g.InputSize);
                        Prefetch(yb + g.OutputSize, g.OutputSize);
                    }

                    bool rowPath = g.RowStrips && AllFinite(xb, g.InputSize);
                    int ldw = rowPath ? 16 : g.OutChannels;
                    int n = g.ChannelsLast ? ListChannelsLast(g, xb, e, ldw) : ListChannelsFirst(g, xb, e, ldw);
                    if (n == 0)
                    {
                        // Every sum is +0; adding it still turns -0 into +0, as the dense path does.
                        var ys = new Span<float>(yb, g.OutputSize);
                        System.Numerics.Tensors.TensorPrimitives.Add(ys, 0f, ys);
                        continue;
                    }

                    if (rowPath)
                    {
                        RowGroups(g, e, yb);
                        continue;
                    }

                    float* dst = g.ChannelsLast || planes ? yb : e.Stage;
                    switch (KernelMath.Path)
                    {
                        case SimdPath.Avx512:
                            EventGroups<Vector512<float>, V512>(g, pk, segments, e, dst);
                            break;
                        case SimdPath.Avx256:
                            EventGroups<Vector256<float>, V256>(g, pk, segments, e, dst);
                            break;
                        default:
                            EventScalar(g, pk, segments, e, dst);
                            break;
                    }

                    if (!g.ChannelsLast && !planes)
                    {
                        AddStaged(g, e.Stage, yb);
                    }
                }
            }
        }
    }

    /// <summary>Whether every value is finite (the row-strip kernel multiplies inputs by zero weights).</summary>
    private static unsafe bool AllFinite(float* x, int n)
    {
        var bad = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var v = Vector256.Load(x + i);
            bad |= Vector256.IsNaN(v - v).AsSingle();
        }

        bool ok = bad == Vector256<float>.Zero;
        for (; i < n; i++)
        {
            ok &= float.IsFinite(x[i]);
        }

        return ok;
    }

    /// <summary>
    /// The row strips of the kernel: strip[kr][m][c][0..16) = kernel[kr][m - (RowChunk - 1)][c][0..OutChannels) for
    /// taps inside the kernel row, zero elsewhere (other positions and lanes past OutChannels).
    /// </summary>
    private static unsafe void BuildStrips(ConvGeometry g, float* w, float* strip)
    {
        int kw = g.Kernel3[2];
        int cin = g.InChannels;
        int oc = g.OutChannels;
        int rowsK = g.Kernel3[0] * g.Kernel3[1];
        new Span<float>(strip, rowsK * g.StripRow).Clear();
        for (int kr = 0; kr < rowsK; kr++)
        {
            for (int t = 0; t < kw; t++)
            {
                for (int c = 0; c < cin; c++)
                {
                    float* src = w + ((((nint)kr * kw) + t) * cin * oc) + (c * oc);
                    float* d = strip + ((nint)kr * g.StripRow) + ((((t + ConvGeometry.RowChunk - 1) * cin) + c) * 16);
                    for (int j = 0; j < oc; j++)
                    {
                        d[j] = src[j];
                    }
                }
            }
        }
    }

    /// <summary>
    /// Row strips for one sample (lists with filter offsets <c>(q * InChannels + c) * 16</c>): per output row and chunk
    /// of <see cref="ConvGeometry.RowChunk"/> pixels, the chunk's sums in registers (<see cref="RowSums"/>), then added to y.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowGroups(ConvGeometry g, EventSpace e, float* y)
    {
        int oc = g.OutChannels;
        int outPix = g.OutPixels;
        fixed (int* rin = g.RowInput)
        {
            var r = new RowSpan(e.Start, e.Row, e.Val, e.Strip, rin, g.Kernel3[0] * g.Kernel3[1], g.StripRow, g.In3[2], g.InChannels,
                g.Out3[0] * g.Out3[1], g.Out3[2], g.Kernel3[2]);
            if (KernelMath.Path == SimdPath.Avx512)
            {
                RowSums<Vector512<float>, V512>(r, e.Stage);
            }
            else
            {
                RowSums<Vector256<float>, V256>(r, e.Stage);
            }
        }

        if (g.ChannelsLast)
        {
            for (int p = 0; p < outPix; p++)
            {
                float* d = y + ((nint)p * oc);
                float* a = e.Stage + ((nint)p * 16);
                for (int j = 0; j < oc; j += 8)
                {
                    var v = Vector256.Load(a + j);
                    if (j + 8 <= oc)
                    {
                        Vector256.Store(Vector256.Load(d + j) + v, d + j);
                    }
                    else
                    {
                        V256.AddStoreMasked(d + j, V256.Mask(oc - j), v);
                    }
                }
            }
        }
        else if (KernelMath.Path == SimdPath.Avx512)
        {
            AddRowsToPlanes(e.Stage, outPix, oc, y);
        }
        else
        {
            AddStaged(g, e.Stage, y);
        }
    }

    /// <summary>
    /// Channels-first output of the row strips: <c>y[c * pixels + p] += rows[p * 16 + c]</c> for the first
    /// <paramref name="channels"/> channels, sixteen pixels at a time through a 16x16 transpose in registers (the
    /// rest four at a time).
    /// </summary>
    private static unsafe void AddRowsToPlanes(float* rows, int pixels, int channels, float* y)
    {
        int p0 = 0;
        for (; p0 + 16 <= pixels; p0 += 16)
        {
            float* r = rows + ((nint)p0 * 16);
            var r0 = Vector512.Load(r); var r1 = Vector512.Load(r + 16); var r2 = Vector512.Load(r + 32); var r3 = Vector512.Load(r + 48);
            var r4 = Vector512.Load(r + 64); var r5 = Vector512.Load(r + 80); var r6 = Vector512.Load(r + 96); var r7 = Vector512.Load(r + 112);
            var r8 = Vector512.Load(r + 128); var r9 = Vector512.Load(r + 144); var r10 = Vector512.Load(r + 160); var r11 = Vector512.Load(r + 176);
            var r12 = Vector512.Load(r + 192); var r13 = Vector512.Load(r + 208); var r14 = Vector512.Load(r + 224); var r15 = Vector512.Load(r + 240);

            // Pairs of rows interleaved, then pairs of pairs (as doubles), then 128-bit lanes twice.
            var t0 = Avx512F.UnpackLow(r0, r1); var t1 = Avx512F.UnpackHigh(r0, r1); var t2 = Avx512F.UnpackLow(r2, r3); var t3 = Avx512F.UnpackHigh(r2, r3);
            var t4 = Avx512F.UnpackLow(r4, r5); var t5 = Avx512F.UnpackHigh(r4, r5); var t6 = Avx512F.UnpackLow(r6, r7); var t7 = Avx512F.UnpackHigh(r6, r7);
            var t8 = Avx512F.UnpackLow(r8, r9); var t9 = Avx512F.UnpackHigh(r8, r9); var t10 = Avx512F.UnpackLow(r10, r11); var t11 = Avx512F.UnpackHigh(r10, r11);
            var t12 = Avx512F.UnpackLow(r12, r13); var t13 = Avx512F.UnpackHigh(r12, r13); var t14 = Avx512F.UnpackLow(r14, r15); var t15 = Avx512F.UnpackHigh(r14, r15);
            r0 = Lo(t0, t2); r1 = Hi(t0, t2); r2 = Lo(t1, t3); r3 = Hi(t1, t3);
            r4 = Lo(t4, t6); r5 = Hi(t4, t6); r6 = Lo(t5, t7); r7 = Hi(t5, t7);
            r8 = Lo(t8, t10); r9 = Hi(t8, t10); r10 = Lo(t9, t11); r11 = Hi(t9, t11);
            r12 = Lo(t12, t14); r13 = Hi(t12, t14); r14 = Lo(t13, t15); r15 = Hi(t13, t15);
            t0 = Avx512F.Shuffle4x128(r0, r4, 0x88); t1 = Avx512F.Shuffle4x128(r1, r5, 0x88); t2 = Avx512F.Shuffle4x128(r2, r6, 0x88); t3 = Avx512F.Shuffle4x128(r3, r7, 0x88);
            t4 = Avx512F.Shuffle4x128(r0, r4, 0xDD); t5 = Avx512F.Shuffle4x128(r1, r5, 0xDD); t6 = Avx512F.Shuffle4x128(r2, r6, 0xDD); t7 = Avx512F.Shuffle4x128(r3, r7, 0xDD);
            t8 = Avx512F.Shuffle4x128(r8, r12, 0x88); t9 = Avx512F.Shuffle4x128(r9, r13, 0x88); t10 = Avx512F.Shuffle4x128(r10, r14, 0x88); t11 = Avx512F.Shuffle4x128(r11, r15, 0x88);
            t12 = Avx512F.Shuffle4x128(r8, r12, 0xDD); t13 = Avx512F.Shuffle4x128(r9, r13, 0xDD); t14 = Avx512F.Shuffle4x128(r10, r14, 0xDD); t15 = Avx512F.Shuffle4x128(r11, r15, 0xDD);
            float* d = y + p0;
            AddPlane(d, pixels, 0, channels, Avx512F.Shuffle4x128(t0, t8, 0x88));
            AddPlane(d, pixels, 1, channels, Avx512F.Shuffle4x128(t1, t9, 0x88));
            AddPlane(d, pixels, 2, channels, Avx512F.Shuffle4x128(t2, t10, 0x88));
            AddPlane(d, pixels, 3, channels, Avx512F.Shuffle4x128(t3, t11, 0x88));
            AddPlane(d, pixels, 4, channels, Avx512F.Shuffle4x128(t4, t12, 0x88));
            AddPlane(d, pixels, 5, channels, Avx512F.Shuffle4x128(t5, t13, 0x88));
            AddPlane(d, pixels, 6, channels, Avx512F.Shuffle4x128(t6, t14, 0x88));
            AddPlane(d, pixels, 7, channels, Avx512F.Shuffle4x128(t7, t15, 0x88));
            AddPlane(d, pixels, 8, channels, Avx512F.Shuffle4x128(t0, t8, 0xDD));
            AddPlane(d, pixels, 9, channels, Avx512F.Shuffle4x128(t1, t9, 0xDD));
            AddPlane(d, pixels, 10, channels, Avx512F.Shuffle4x128(t2, t10, 0xDD));
            AddPlane(d, pixels, 11, channels, Avx512F.Shuffle4x128(t3, t11, 0xDD));
            AddPlane(d, pixels, 12, channels, Avx512F.Shuffle4x128(t4, t12, 0xDD));
            AddPlane(d, pixels, 13, channels, Avx512F.Shuffle4x128(t5, t13, 0xDD));
            AddPlane(d, pixels, 14, channels, Avx512F.Shuffle4x128(t6, t14, 0xDD));
            AddPlane(d, pixels, 15, channels, Avx512F.Shuffle4x128(t7, t15, 0xDD));
        }

        for (; p0 < pixels; p0 += 4)
        {
            float* a = rows + ((nint)p0 * 16);
            AddToPlanes(y + p0, pixels, Math.Min(4, pixels - p0), channels, Vector512.Load(a), Vector512.Load(a + 16), Vector512.Load(a + 32), Vector512.Load(a + 48));
        }

        static Vector512<float> Lo(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackLow(a.AsDouble(), b.AsDouble()).AsSingle();
        static Vector512<float> Hi(Vector512<float> a, Vector512<float> b) => Avx512F.UnpackHigh(a.AsDouble(), b.AsDouble()).AsSingle();
    }

    /// <summary>Channel c's sixteen pixels (one transposed vector) added to its plane, for channels below the count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddPlane(float* d, int plane, int c, int channels, Vector512<float> v)
    {
        if (c < channels)
        {
            float* p = d + ((nint)c * plane);
            Vector512.Store(Vector512.Load(p) + v, p);
        }
    }

    /// <summary>
    /// Every output row chunk of one sample: for each kernel row, each event of the input row it reads (within the
    /// chunk's reach, in list order: pixels, then channels, ascending) adds value * strip weight to all the chunk's
    /// pixels' sums; pixel j takes the strip position of tap x - (ox0 + j), so taps outside the kernel row add value * 0.
    /// Eight vector sums: with 16 lanes, eight pixels of one vector; with 8 lanes, four pixels of two. The sums go to
    /// rows[p * 16 ..] (a chunk past its row's end writes into the next row's pixels, which come later, or into the
    /// rows' slack).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void RowSums<TV, TOps>(RowSpan r, float* rows)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        int vw = TOps.Width;
        int cw = vw / 2;
        nint cs = r.Cin * 16;
        for (int orow = 0; orow < r.OutRows; orow++)
        {
            int* inputRow = r.InputRow + (orow * r.KernelRows);
            for (int ox0 = 0; ox0 < r.OutWidth; ox0 += cw)
            {
                int xHi = Math.Min(r.InWidth, ox0 + cw + r.KernelWidth - 1);
                TV a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero;
                TV a4 = TOps.Zero, a5 = TOps.Zero, a6 = TOps.Zero, a7 = TOps.Zero;
                for (int kr = 0; kr < r.KernelRows; kr++)
                {
                    int q0 = inputRow[kr] * r.InWidth;
                    int i0 = r.Start[q0 + ox0], i1 = r.Start[q0 + xHi];
                    float* b = r.Strip + ((nint)kr * r.StripRow) + ((nint)(cw - 1 - ox0) * cs) - ((nint)q0 * cs);
                    for (int i = i0; i < i1; i++)
                    {
                        TV v = TOps.Broadcast(r.Val + i);
                        float* wb = b + r.Row[i];
                        a0 = TOps.Madd(v, TOps.Load(wb + StripOffset<TV, TOps>(0, cs)), a0);
                        a1 = TOps.Madd(v, TOps.Load(wb + StripOffset<TV, TOps>(1, cs)), a1);
                        a2 = TOps.Madd(v, TOps.Load(wb + StripOffset<TV, TOps>(2, cs)), a2);
                        a3 = TOps.Madd(v, TOps.Load(wb + StripOffset<TV, TOps>(3, cs)), a3);
                        a4 = TOps.Madd(v, TOps.Load(wb + StripOffset<TV, TOps>(4, cs)), a4);
                        a5 = TOps.Madd(v, TOps.Load(wb + StripOffset<TV, TOps>(5, cs)), a5);
                        a6 = TOps.Madd(v, TOps.Load(wb + StripOffset<TV, TOps>(6, cs)), a6);
                        a7 = TOps.Madd(v, TOps.Load(wb + StripOffset<TV, TOps>(7, cs)), a7);
                    }
                }

                // Sum k is pixel k / (16 / vw), lanes (k % (16 / vw)) * vw: the eight sit at consecutive vectors.
                float* d = rows + ((nint)((orow * r.OutWidth) + ox0) * 16);
                TOps.Store(d, a0);
                TOps.Store(d + vw, a1);
                TOps.Store(d + (2 * vw), a2);
                TOps.Store(d + (3 * vw), a3);
                TOps.Store(d + (4 * vw), a4);
                TOps.Store(d + (5 * vw), a5);
                TOps.Store(d + (6 * vw), a6);
                TOps.Store(d + (7 * vw), a7);
            }
        }
    }

    /// <summary>Where sum k reads the strip, from pixel 0's weight row: pixel k / (16 / Width) back, lanes (k % (16 / Width)) * Width on.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static nint StripOffset<TV, TOps>(int k, nint cs)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        int perPixel = 16 / TOps.Width;
        return ((k % perPixel) * TOps.Width) - ((k / perPixel) * cs);
    }

    /// <summary>Floats of one sample's input and output up to which the event kernel prefetches the next sample (256 KB, well inside an L2).</summary>
    private const int PrefetchLimit = 64 * 1024;

    /// <summary>Prefetches the cache lines of <paramref name="floats"/> floats from p (no-op without SSE).</summary>
    private static unsafe void Prefetch(float* p, int floats)
    {
        if (Sse.IsSupported)
        {
            for (int i = 0; i < floats; i += 16)
            {
                Sse.Prefetch1(p + i);
            }
        }
    }

    /// <summary>
    /// Channels-first output on the AVX-512 path: the sums of four output pixels are transposed in registers and
    /// added to the channel planes of y directly (no staging rows).
    /// </summary>
    private static bool AddsToPlanes(ConvGeometry g) => !g.ChannelsLast && KernelMath.Path == SimdPath.Avx512;

    /// <summary>
    /// Lists one channels-last sample's nonzero elements (NaN counts as nonzero): for key = group * InPixels + q,
    /// entries Start[key] .. Start[key + 1] hold pixel q's nonzero inputs of that group, channels ascending: the
    /// filter offset <c>(q * GroupInChannels + c) * OutChannels</c> (c within the group) and the value. Returns the count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int ListChannelsLast(ConvGeometry g, float* x, EventSpace e, int ldw)
    {
        int* row = e.Row;
        float* val = e.Val;
        int* start = e.Start;
        int pixels = g.InPixels;
        int channels = g.InChannels;
        int cg = g.GroupInChannels;
        int unit = cg * ldw;
        int n = 0;
        if (Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
        {
            var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            var lanesLdw = lanes * ldw;
            for (int grp = 0; grp < g.Groups; grp++)
            {
                for (int q = 0; q < pixels; q++)
                {
                    start[(grp * pixels) + q] = n;
                    float* xq = x + ((nint)q * channels) + (grp * cg);
                    for (int c0 = 0; c0 < cg; c0 += 16)
                    {
                        var live = Vector512.LessThan(lanes, Vector512.Create(cg - c0));
                        var v = c0 + 16 <= cg ? Vector512.Load(xq + c0) : Avx512F.MaskLoad(xq + c0, live.AsSingle(), Vector512<float>.Zero);
                        var keep = ~Vector512.Equals(v, Vector512<float>.Zero).AsInt32() & live;
                        var offsets = lanesLdw + Vector512.Create((q * unit) + (c0 * ldw));
                        Vector512.Store(Avx512F.Compress(Vector512<int>.Zero, keep, offsets), row + n);
                        Vector512.Store(Avx512F.Compress(Vector512<float>.Zero, keep.AsSingle(), v), val + n);
                        n += System.Numerics.BitOperations.PopCount(keep.ExtractMostSignificantBits());
                    }
                }
            }
        }
        else
        {
            for (int grp = 0; grp < g.Groups; grp++)
            {
                for (int q = 0; q < pixels; q++)
                {
                    start[(grp * pixels) + q] = n;
                    float* xq = x + ((nint)q * channels) + (grp * cg);
                    for (int c = 0; c < cg; c++)
                    {
                        if (xq[c] != 0f)
                        {
                            row[n] = (q * unit) + (c * ldw);
                            val[n++] = xq[c];
                        }
                    }
                }
            }
        }

        start[g.Groups * pixels] = n;
        return n;
    }

    /// <summary>
    /// The same lists for a channels-first sample: nonzeros by channel, then a stable counting sort by (group, pixel);
    /// with one group of at most 32 channels, a bit mask of nonzero channels per pixel instead.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int ListChannelsFirst(ConvGeometry g, float* x, EventSpace e, int ldw)
    {
        if (g.Groups == 1 && g.InChannels <= 32)
        {
            return ListChannelsFirstByMask(g, x, e, ldw);
        }

        int* pix = e.TmpPixel;
        float* tv = e.TmpValue;
        int* chStart = e.ChannelStart;
        int pixels = g.InPixels;
        int channels = g.InChannels;
        int cg = g.GroupInChannels;
        int unit = cg * ldw;
        int n = 0;
        for (int c = 0; c < channels; c++)
        {
            chStart[c] = n;
            float* xc = x + ((nint)c * pixels);
            int q0 = 0;
            if (Avx512F.IsSupported && Vector512.IsHardwareAccelerated)
            {
                var lanes = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                for (; q0 < pixels; q0 += 16)
                {
                    var live = Vector512.LessThan(lanes, Vector512.Create(pixels - q0));
                    var v = q0 + 16 <= pixels ? Vector512.Load(xc + q0) : Avx512F.MaskLoad(xc + q0, live.AsSingle(), Vector512<float>.Zero);
                    var keep = ~Vector512.Equals(v, Vector512<float>.Zero).AsInt32() & live;
                    Vector512.Store(Avx512F.Compress(Vector512<int>.Zero, keep, lanes + Vector512.Create(q0)), pix + n);
                    Vector512.Store(Avx512F.Compress(Vector512<float>.Zero, keep.AsSingle(), v), tv + n);
                    n += System.Numerics.BitOperations.PopCount(keep.ExtractMostSignificantBits());
                }
            }
            else
            {
                for (; q0 < pixels; q0++)
                {
                    if (xc[q0] != 0f)
                    {
                        pix[n] = q0;
                        tv[n++] = xc[q0];
                    }
                }
            }
        }

        chStart[channels] = n;
        int keys = g.Groups * pixels;
        int* start = e.Start;
        int* cursor = e.Cursor;
        new Span<int>(start, keys + 1).Clear();
        if (n == 0)
        {
            return 0;
        }

        for (int c = 0; c < channels; c++)
        {
            int* counts = start + ((c / cg) * pixels) + 1;
            for (int k = chStart[c]; k < chStart[c + 1]; k++)
            {
                counts[pix[k]]++;
            }
        }

        for (int key = 0; key < keys; key++)
        {
            cursor[key] = start[key];
            start[key + 1] += start[key];
        }

        int* row = e.Row;
        float* val = e.Val;
        for (int c = 0; c < channels; c++)
        {
            int grp = c / cg;
            int* cur = cursor + (grp * pixels);
            int lc = (c - (grp * cg)) * ldw;
            for (int k = chStart[c]; k < chStart[c + 1]; k++)
            {
                int q = pix[k];
                int at = cur[q]++;
                row[at] = (q * unit) + lc;
                val[at] = tv[k];
            }
        }

        return n;
    }

    /// <summary>
    /// <see cref="ListChannelsFirst"/> for one group of at most 32 channels: a vectorized scan of each channel plane
    /// sets bit c of its nonzero pixels' masks (no branches), then each pixel lists its set bits in ascending order.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe int ListChannelsFirstByMask(ConvGeometry g, float* x, EventSpace e, int ldw)
    {
        uint* mask = (uint*)e.TmpPixel;
        int pixels = g.InPixels;
        int channels = g.InChannels;
        int unit = channels * ldw;
        new Span<uint>(mask, pixels).Clear();
        for (int c = 0; c < channels; c++)
        {
            float* xc = x + ((nint)c * pixels);
            uint bit = 1u << c;
            int q0 = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var bits = Vector256.Create(bit);
                for (; q0 + 8 <= pixels; q0 += 8)
                {
                    var nonzero = ~Vector256.Equals(Vector256.Load(xc + q0), Vector256<float>.Zero).AsUInt32();
                    Vector256.Store(Vector256.Load(mask + q0) | (nonzero & bits), mask + q0);
                }
            }

            for (; q0 < pixels; q0++)
            {
                if (xc[q0] != 0f)
                {
                    mask[q0] |= bit;
                }
            }
        }

        int* row = e.Row;
        float* val = e.Val;
        int* start = e.Start;
        int n = 0;
        for (int q = 0; q < pixels; q++)
        {
            start[q] = n;
            uint m = mask[q];
            while (m != 0)
            {
                int c = System.Numerics.BitOperations.TrailingZeroCount(m);
                row[n] = (q * unit) + (c * ldw);
                val[n++] = x[((nint)c * pixels) + q];
                m &= m - 1;
            }
        }

        start[pixels] = n;
        return n;
    }

    /// <summary>
    /// Builds one output pixel's term stream for a group: per segment (kernel row) in tap order, the lists of the
    /// segment's pixels, which are consecutive in memory, copied with the segment's shift (filter offsets per tap).
    /// Copies are whole blocks of 16 (lists and streams have slack), so only long runs take a branch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe int Stream(int p, Segments s, int* start, int* row, float* val, int* rows, float* vals)
    {
        int count = s.PerPixel;
        int* first = s.First + ((nint)p * count);
        int* end = s.End + ((nint)p * count);
        int* shift = s.Shift + ((nint)p * count);
        int len = 0;
        for (int i = 0; i < count; i++)
        {
            int a = start[first[i]];
            int n = start[end[i]] - a;
            int sh = shift[i];
            CopyBlock(row + a, val + a, sh, rows + len, vals + len);
            if (s.Long && n > 16)
            {
                for (int k = 16; k < n; k += 16)
                {
                    CopyBlock(row + a + k, val + a + k, sh, rows + len + k, vals + len + k);
                }
            }

            len += n;
        }

        return len;
    }

    /// <summary>Sixteen list entries into a stream: filter offsets plus the segment's shift, and their values.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void CopyBlock(int* row, float* val, int shift, int* rows, float* vals)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            Vector512.Store(Vector512.Load(row) + Vector512.Create(shift), rows);
            Vector512.Store(Vector512.Load(val), vals);
        }
        else
        {
            var sh = Vector256.Create(shift);
            Vector256.Store(Vector256.Load(row) + sh, rows);
            Vector256.Store(Vector256.Load(row + 8) + sh, rows + 8);
            Vector256.Store(Vector256.Load(val), vals);
            Vector256.Store(Vector256.Load(val + 8), vals + 8);
        }
    }

    /// <summary>Channels-first output off the AVX-512 path: y[oc, p] += stage[p, column of oc] (the staged sums of one sample).</summary>
    private static unsafe void AddStaged(ConvGeometry g, float* stage, float* y)
    {
        int stride = g.EventStride;
        int ng = g.GroupOutChannels;
        int groupStride = stride / g.Groups;
        int outPix = g.OutPixels;
        for (int grp = 0; grp < g.Groups; grp++)
        {
            for (int j = 0; j < ng; j++)
            {
                float* d = y + ((nint)((grp * ng) + j) * outPix);
                float* s = stage + (grp * groupStride) + j;
                for (int p = 0; p < outPix; p++)
                {
                    d[p] += s[(nint)p * stride];
                }
            }
        }
    }

    /// <summary>
    /// Every group of one sample: output pixels in blocks of four, each with its term stream; every column chunk
    /// (up to four vectors of output channels) then sums the four streams.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void EventGroups<TV, TOps>(ConvGeometry g, float* w, Segments segments, EventSpace e, float* dst)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        int vw = TOps.Width;
        int ng = g.GroupOutChannels;
        int pixels = g.InPixels;
        int outPix = g.OutPixels;
        bool planes = AddsToPlanes(g);
        var mode = g.ChannelsLast ? Output.Rows : planes ? Output.Planes : Output.Stage;
        int ldd = mode switch { Output.Rows => g.OutChannels, Output.Planes => outPix, _ => g.EventStride };
        int dstGroup = mode switch { Output.Rows => ng, Output.Planes => ng * outPix, _ => g.EventStride / g.Groups };
        int cap = e.StreamCapacity;
        var s = new Streams(e.Rows, e.Vals, cap);
        float* acc = stackalloc float[16 * 16];
        for (int grp = 0; grp < g.Groups; grp++)
        {
            int* start = e.Start + (grp * pixels);
            for (int p = 0; p < outPix; p += 4)
            {
                int rows = Math.Min(4, outPix - p);
                Build(ref s, p, outPix, segments, start, e);

                for (int j0 = 0; j0 < ng; j0 += 4 * vw)
                {
                    int cols = Math.Min(4 * vw, ng - j0);
                    int vectors = (cols + vw - 1) / vw;
                    bool masked = cols % vw != 0;
                    TV mask = masked ? TOps.Mask(cols % vw) : TOps.Zero;
                    float* wg = w + (grp * ng) + j0;
                    float* d = dst + (grp * (nint)dstGroup) + (mode == Output.Planes ? p + ((nint)j0 * ldd) : ((nint)p * ldd) + j0);
                    switch (vectors, masked)
                    {
                        case (1, false): EventTile<TV, TOps, E1>(ref s, rows, wg, d, ldd, mode, cols, mask, acc); break;
                        case (1, true): EventTile<TV, TOps, E1M>(ref s, rows, wg, d, ldd, mode, cols, mask, acc); break;
                        case (2, false): EventTile<TV, TOps, E2>(ref s, rows, wg, d, ldd, mode, cols, mask, acc); break;
                        case (2, true): EventTile<TV, TOps, E2M>(ref s, rows, wg, d, ldd, mode, cols, mask, acc); break;
                        case (3, false): EventTile<TV, TOps, E3>(ref s, rows, wg, d, ldd, mode, cols, mask, acc); break;
                        case (3, true): EventTile<TV, TOps, E3M>(ref s, rows, wg, d, ldd, mode, cols, mask, acc); break;
                        case (4, false): EventTile<TV, TOps, E4>(ref s, rows, wg, d, ldd, mode, cols, mask, acc); break;
                        default: EventTile<TV, TOps, E4M>(ref s, rows, wg, d, ldd, mode, cols, mask, acc); break;
                    }
                }
            }
        }
    }

    /// <summary>The streams of output pixels p .. p + 3 (those below outPix; the others are empty).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Build(ref Streams s, int p, int outPix, Segments segments, int* start, EventSpace e)
    {
        int cap = s.Capacity;
        for (int r = 0; r < 4; r++)
        {
            s.Len[r] = p + r < outPix ? Stream(p + r, segments, start, e.Row, e.Val, s.Rows + (r * cap), s.Vals + (r * cap)) : 0;
        }
    }

    /// <summary>
    /// Sums up to four output pixels' streams for one column chunk: the four chains run interleaved while all
    /// streams last (<see cref="Four{TV, TOps, TN}"/>), then each stream's rest alone (<see cref="Rest{TV, TOps, TN}"/>).
    /// Every pixel's chain is <c>acc = +0; acc = Madd(v, w[row], acc)</c> in stream order; the sums wait in
    /// <paramref name="acc"/> (pixel r's vector k at <c>(4r + k) * Width</c>). Then each sum is added to y once
    /// (<see cref="Output.Rows"/>: at d + r * ldd; <see cref="Output.Planes"/>: channel j of pixel r at d + j * ldd + r)
    /// or stored to the staging row (<see cref="Output.Stage"/>). The chunk's last vector reads its filter lanes
    /// masked, so staged lanes past the group's channels hold 0 (or junk from non-finite inputs) and are never read.
    /// </summary>
    private static unsafe void EventTile<TV, TOps, TN>(ref Streams s, int rows, float* w, float* d, int ldd, Output mode, int cols, TV mask, float* acc)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
    {
        int cap = s.Capacity;
        int vw = TOps.Width;
        int* rs = s.Rows;
        float* vs = s.Vals;
        int n0 = s.Len[0], n1 = s.Len[1], n2 = s.Len[2], n3 = s.Len[3];
        int both = Math.Min(Math.Min(n0, n1), Math.Min(n2, n3));
        if (TN.Vectors == 1)
        {
            // One vector per term: a lone chain waits on its FMA latency, so the shorter streams are padded with
            // zero terms (the dense chain's own zero terms) and all four run interleaved to the end.
            int longest = Math.Max(Math.Max(n0, n1), Math.Max(n2, n3));
            for (int r = 0; r < 4; r++)
            {
                for (int k = s.Len[r]; k < longest; k += 16)
                {
                    Vector256.Store(Vector256<int>.Zero, rs + (r * cap) + k);
                    Vector256.Store(Vector256<int>.Zero, rs + (r * cap) + k + 8);
                    Vector256.Store(Vector256<float>.Zero, vs + (r * cap) + k);
                    Vector256.Store(Vector256<float>.Zero, vs + (r * cap) + k + 8);
                }
            }

            both = longest;
        }

        Four<TV, TOps, TN>(acc, w, rs, vs, cap, both, mask);
        if (TN.Vectors > 1)
        {
            Rest<TV, TOps, TN>(acc, w, rs, vs, both, n0, mask);
            Rest<TV, TOps, TN>(acc + (4 * vw), w, rs + cap, vs + cap, both, n1, mask);
            Rest<TV, TOps, TN>(acc + (8 * vw), w, rs + (2 * cap), vs + (2 * cap), both, n2, mask);
            Rest<TV, TOps, TN>(acc + (12 * vw), w, rs + (3 * cap), vs + (3 * cap), both, n3, mask);
        }
        if (mode == Output.Planes && typeof(TV) == typeof(Vector512<float>))
        {
            for (int k = 0; k < TN.Vectors; k++)
            {
                float* a = acc + (k * 16);
                AddToPlanes(d + (16 * k * (nint)ldd), ldd, rows, cols - (16 * k), Vector512.Load(a), Vector512.Load(a + 64), Vector512.Load(a + 128), Vector512.Load(a + 192));
            }

            return;
        }

        bool last = mode == Output.Rows;
        for (int r = 0; r < rows; r++)
        {
            LoadChunk<TV, TOps, TN>(acc + (4 * r * vw), vw, out var a0, out var a1, out var a2, out var a3);
            Emit<TV, TOps, TN>(d + (r * (nint)ldd), last, mask, a0, a1, a2, a3);
        }
    }

    /// <summary>The first <paramref name="count"/> terms of four streams (<paramref name="cap"/> apart), interleaved; the sums go to <paramref name="acc"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Four<TV, TOps, TN>(float* acc, float* w, int* rows, float* vals, int cap, int count, TV mask)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
    {
        int* r0 = rows, r1 = r0 + cap, r2 = r1 + cap, r3 = r2 + cap;
        float* v0 = vals, v1 = v0 + cap, v2 = v1 + cap, v3 = v2 + cap;
        TV a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero, a03 = TOps.Zero;
        TV a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero, a13 = TOps.Zero;
        TV a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero, a23 = TOps.Zero;
        TV a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero, a33 = TOps.Zero;
        for (int i = 0; i < count; i++)
        {
            Term<TV, TOps, TN>(w + r0[i], v0 + i, mask, ref a00, ref a01, ref a02, ref a03);
            Term<TV, TOps, TN>(w + r1[i], v1 + i, mask, ref a10, ref a11, ref a12, ref a13);
            Term<TV, TOps, TN>(w + r2[i], v2 + i, mask, ref a20, ref a21, ref a22, ref a23);
            Term<TV, TOps, TN>(w + r3[i], v3 + i, mask, ref a30, ref a31, ref a32, ref a33);
        }

        int vw = TOps.Width;
        StoreChunk<TV, TOps, TN>(acc, vw, a00, a01, a02, a03);
        StoreChunk<TV, TOps, TN>(acc + (4 * vw), vw, a10, a11, a12, a13);
        StoreChunk<TV, TOps, TN>(acc + (8 * vw), vw, a20, a21, a22, a23);
        StoreChunk<TV, TOps, TN>(acc + (12 * vw), vw, a30, a31, a32, a33);
    }

    /// <summary>Terms from .. to of one stream added to the chunk's sums held at <paramref name="acc"/> (whole vectors).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Rest<TV, TOps, TN>(float* acc, float* w, int* rows, float* vals, int from, int to, TV mask)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
    {
        if (from >= to)
        {
            return;
        }

        int vw = TOps.Width;
        LoadChunk<TV, TOps, TN>(acc, vw, out var a0, out var a1, out var a2, out var a3);
        for (int i = from; i < to; i++)
        {
            Term<TV, TOps, TN>(w + rows[i], vals + i, mask, ref a0, ref a1, ref a2, ref a3);
        }

        StoreChunk<TV, TOps, TN>(acc, vw, a0, a1, a2, a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void StoreChunk<TV, TOps, TN>(float* p, int vw, TV a0, TV a1, TV a2, TV a3)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
    {
        TOps.Store(p, a0);
        if (TN.Vectors > 1) TOps.Store(p + vw, a1);
        if (TN.Vectors > 2) TOps.Store(p + (2 * vw), a2);
        if (TN.Vectors > 3) TOps.Store(p + (3 * vw), a3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void LoadChunk<TV, TOps, TN>(float* p, int vw, out TV a0, out TV a1, out TV a2, out TV a3)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
    {
        a0 = TOps.Load(p);
        a1 = TN.Vectors > 1 ? TOps.Load(p + vw) : TOps.Zero;
        a2 = TN.Vectors > 2 ? TOps.Load(p + (2 * vw)) : TOps.Zero;
        a3 = TN.Vectors > 3 ? TOps.Load(p + (3 * vw)) : TOps.Zero;
    }

    /// <summary>
    /// <c>y[j * plane + r] += a_r[j]</c> for the first min(16, <paramref name="cols"/>) channels j and <paramref name="rows"/>
    /// pixels r: four pixels are transposed per 128-bit lane (lane k of t_m then holds channel 4k + m of pixels 0..3)
    /// and added four pixels at a time.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddToPlanes(float* d, int plane, int rows, int cols, Vector512<float> a0, Vector512<float> a1, Vector512<float> a2, Vector512<float> a3)
    {
        cols = Math.Min(16, cols);
        if (rows < 4)
        {
            float* tmp = stackalloc float[64];
            Vector512.Store(a0, tmp);
            Vector512.Store(a1, tmp + 16);
            Vector512.Store(a2, tmp + 32);
            Vector512.Store(a3, tmp + 48);
            for (int j = 0; j < cols; j++)
            {
                for (int r = 0; r < rows; r++)
                {
                    d[((nint)j * plane) + r] += tmp[(r * 16) + j];
                }
            }

            return;
        }

        var u0 = Avx512F.UnpackLow(a0, a1);
        var u1 = Avx512F.UnpackHigh(a0, a1);
        var u2 = Avx512F.UnpackLow(a2, a3);
        var u3 = Avx512F.UnpackHigh(a2, a3);
        var t0 = Avx512F.UnpackLow(u0.AsDouble(), u2.AsDouble()).AsSingle();
        var t1 = Avx512F.UnpackHigh(u0.AsDouble(), u2.AsDouble()).AsSingle();
        var t2 = Avx512F.UnpackLow(u1.AsDouble(), u3.AsDouble()).AsSingle();
        var t3 = Avx512F.UnpackHigh(u1.AsDouble(), u3.AsDouble()).AsSingle();
        AddPlaneLanes(d, plane, cols, 0, t0.GetLower().GetLower(), t1.GetLower().GetLower(), t2.GetLower().GetLower(), t3.GetLower().GetLower());
        if (cols > 4)
        {
            AddPlaneLanes(d, plane, cols, 4, t0.GetLower().GetUpper(), t1.GetLower().GetUpper(), t2.GetLower().GetUpper(), t3.GetLower().GetUpper());
        }

        if (cols > 8)
        {
            AddPlaneLanes(d, plane, cols, 8, t0.GetUpper().GetLower(), t1.GetUpper().GetLower(), t2.GetUpper().GetLower(), t3.GetUpper().GetLower());
        }

        if (cols > 12)
        {
            AddPlaneLanes(d, plane, cols, 12, t0.GetUpper().GetUpper(), t1.GetUpper().GetUpper(), t2.GetUpper().GetUpper(), t3.GetUpper().GetUpper());
        }
    }

    /// <summary>Channels c0 .. c0+3 (those below cols): y[c * plane .. +4] += the four pixels' sums of channel c.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void AddPlaneLanes(float* d, int plane, int cols, int c0, Vector128<float> m0, Vector128<float> m1, Vector128<float> m2, Vector128<float> m3)
    {
        float* p = d + ((nint)c0 * plane);
        Vector128.Store(Vector128.Load(p) + m0, p);
        if (cols > c0 + 1)
        {
            p += plane;
            Vector128.Store(Vector128.Load(p) + m1, p);
        }

        if (cols > c0 + 2)
        {
            p += plane;
            Vector128.Store(Vector128.Load(p) + m2, p);
        }

        if (cols > c0 + 3)
        {
            p += plane;
            Vector128.Store(Vector128.Load(p) + m3, p);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Term<TV, TOps, TN>(float* wr, float* v, TV mask, ref TV a0, ref TV a1, ref TV a2, ref TV a3)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
    {
        TV x = TOps.Broadcast(v);
        a0 = TOps.Madd(x, Chunk.Load<TV, TOps, TN>(wr, 0, mask), a0);
        if (TN.Vectors > 1) a1 = TOps.Madd(x, Chunk.Load<TV, TOps, TN>(wr, 1, mask), a1);
        if (TN.Vectors > 2) a2 = TOps.Madd(x, Chunk.Load<TV, TOps, TN>(wr, 2, mask), a2);
        if (TN.Vectors > 3) a3 = TOps.Madd(x, Chunk.Load<TV, TOps, TN>(wr, 3, mask), a3);
    }

    /// <summary>Channels-last: <c>y += acc</c>; channels-first: the staging row = acc (whole vectors).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Emit<TV, TOps, TN>(float* d, bool last, TV mask, TV a0, TV a1, TV a2, TV a3)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
    {
        int vw = TOps.Width;
        if (!last)
        {
            StoreChunk<TV, TOps, TN>(d, vw, a0, a1, a2, a3);
            return;
        }

        Chunk.AddStore<TV, TOps, TN>(d, 0, mask, a0);
        if (TN.Vectors > 1) Chunk.AddStore<TV, TOps, TN>(d, 1, mask, a1);
        if (TN.Vectors > 2) Chunk.AddStore<TV, TOps, TN>(d, 2, mask, a2);
        if (TN.Vectors > 3) Chunk.AddStore<TV, TOps, TN>(d, 3, mask, a3);
    }

    /// <summary>Portable event kernel: the same streams summed with the scalar Madd, in the same order.</summary>
    private static unsafe void EventScalar(ConvGeometry g, float* w, Segments segments, EventSpace e, float* dst)
    {
        int ng = g.GroupOutChannels;
        bool last = g.ChannelsLast;
        int ldd = last ? g.OutChannels : g.EventStride;
        int dstGroup = last ? ng : g.EventStride / g.Groups;
        int* rows = e.Rows;
        float* vals = e.Vals;
        for (int grp = 0; grp < g.Groups; grp++)
        {
            for (int p = 0; p < g.OutPixels; p++)
            {
                int len = Stream(p, segments, e.Start + (grp * g.InPixels), e.Row, e.Val, rows, vals);
                float* d = dst + ((nint)p * ldd) + (grp * dstGroup);
                for (int j = 0; j < ng; j++)
                {
                    float acc = 0f;
                    float* wj = w + (grp * ng) + j;
                    for (int i = 0; i < len; i++)
                    {
                        acc = KernelMath.Madd(vals[i], wj[rows[i]], acc);
                    }

                    if (last)
                    {
                        d[j] += acc;
                    }
                    else
                    {
                        d[j] = acc;
                    }
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

/// <summary>Where the event kernel puts a finished sum.</summary>
internal enum Output
{
    /// <summary>Channels-last y: added to the pixel's row of channels.</summary>
    Rows,

    /// <summary>Channels-first y (AVX-512): added to the channel planes, four pixels at a time.</summary>
    Planes,

    /// <summary>Channels-first staging rows, added to y's planes after the sample.</summary>
    Stage,
}

/// <summary>The event kernel's workspace, carved out of the float scratch (int arrays reinterpret floats).</summary>
internal readonly unsafe struct EventSpace
{
    /// <summary>Slack after lists and streams, for whole-block copies and compressed stores.</summary>
    public const int Slack = 16;

    /// <summary>Staging rows: channels-first [OutPixels, EventStride]; row strips [OutPixels + RowChunk, 16] (see StageFloats).</summary>
    public readonly float* Stage;

    /// <summary>Per nonzero input, by (group, pixel): filter offset and value.</summary>
    public readonly int* Row;
    public readonly float* Val;

    /// <summary>[Groups * InPixels + 1] list bounds per (group, pixel); Cursor is counting-sort scratch.</summary>
    public readonly int* Start;
    public readonly int* Cursor;

    /// <summary>Channels-first scratch: nonzeros by channel (pixel, value) and per-channel bounds.</summary>
    public readonly int* TmpPixel;
    public readonly float* TmpValue;
    public readonly int* ChannelStart;

    /// <summary>Four term streams (filter offsets and values) of StreamCapacity each.</summary>
    public readonly int* Rows;
    public readonly float* Vals;
    public readonly int StreamCapacity;

    /// <summary>The row strips (<see cref="ConvGeometry.RowStrips"/>), 64-byte aligned.</summary>
    public readonly float* Strip;

    private EventSpace(float* stage, int* row, float* val, int* start, int* cursor, int* tmpPixel, float* tmpValue, int* channelStart, int* rows, float* vals, int cap, float* strip)
    {
        Strip = strip;
        Stage = stage;
        Row = row;
        Val = val;
        Start = start;
        Cursor = cursor;
        TmpPixel = tmpPixel;
        TmpValue = tmpValue;
        ChannelStart = channelStart;
        Rows = rows;
        Vals = vals;
        StreamCapacity = cap;
    }

    /// <summary>Floats needed for a geometry (see <see cref="ConvGeometry.EventWorkspaceSize"/>).</summary>
    public static int Size(ConvGeometry g)
    {
        long keys = (long)g.InPixels * g.Groups;
        long list = g.InputSize + Slack;
        long first = StageFloats(g) + (g.ChannelsLast ? 0 : (2 * list) + g.InChannels + 1);
        return checked((int)(first + (2 * list) + (2 * keys) + 1 + (8L * Capacity(g)) + StripFloats(g)));
    }

    private static int Capacity(ConvGeometry g) => checked((g.Taps * g.GroupInChannels) + Slack);

    /// <summary>
    /// Floats of the staging rows: channels-first, [OutPixels, EventStride]; row strips (either layout), 16 per output
    /// pixel and one chunk of slack.
    /// </summary>
    private static int StageFloats(ConvGeometry g) => g.RowStrips ? (g.OutPixels + ConvGeometry.RowChunk) * 16 : g.ChannelsLast ? 0 : g.OutPixels * g.EventStride;

    /// <summary>Floats for the row strips plus 16 for alignment.</summary>
    private static int StripFloats(ConvGeometry g) => g.RowStrips ? (g.Kernel3[0] * g.Kernel3[1] * g.StripRow) + 16 : 0;

    public static EventSpace Of(ConvGeometry g, float* ws)
    {
        int keys = g.InPixels * g.Groups;
        int list = g.InputSize + Slack;
        int cap = Capacity(g);
        float* p = ws;
        float* stage = p;
        int* tmpPixel = null;
        float* tmpValue = null;
        int* channelStart = null;
        p += StageFloats(g);
        if (!g.ChannelsLast)
        {
            tmpPixel = (int*)p;
            tmpValue = p + list;
            channelStart = (int*)(p + (2 * list));
            p += (2 * list) + g.InChannels + 1;
        }

        int* row = (int*)p;
        float* val = p + list;
        int* start = (int*)(p + (2 * list));
        int* cursor = start + keys + 1;
        int* rows = cursor + keys;
        float* vals = (float*)(rows + (4 * cap));
        float* strip = (float*)(((nint)(vals + (4 * cap)) + 63) & ~(nint)63);
        return new EventSpace(stage, row, val, start, cursor, tmpPixel, tmpValue, channelStart, rows, vals, cap, strip);
    }
}

/// <summary>The geometry's segment tables (see <see cref="ConvGeometry.SegmentFirst"/>) as pointers.</summary>
internal readonly unsafe struct Segments
{
    public readonly int* First;
    public readonly int* End;
    public readonly int* Shift;
    public readonly int PerPixel;

    /// <summary>Whether a segment can hold more than 16 events (copies then loop past the first block).</summary>
    public readonly bool Long;

    public Segments(int* first, int* end, int* shift, int perPixel, bool isLong)
    {
        First = first;
        End = end;
        Shift = shift;
        PerPixel = perPixel;
        Long = isLong;
    }
}

/// <summary>One sample of the row-strip kernel: its lists, the strips and the geometry's row tables.</summary>
internal readonly unsafe struct RowSpan
{
    public readonly int* Start;
    public readonly int* Row;
    public readonly float* Val;
    public readonly float* Strip;
    public readonly int* InputRow;
    public readonly int KernelRows;
    public readonly int StripRow;
    public readonly int InWidth;
    public readonly int Cin;
    public readonly int OutRows;
    public readonly int OutWidth;
    public readonly int KernelWidth;

    public RowSpan(int* start, int* row, float* val, float* strip, int* inputRow, int kernelRows, int stripRow, int inWidth, int cin, int outRows, int outWidth, int kernelWidth)
    {
        Start = start;
        Row = row;
        Val = val;
        Strip = strip;
        InputRow = inputRow;
        KernelRows = kernelRows;
        StripRow = stripRow;
        InWidth = inWidth;
        Cin = cin;
        OutRows = outRows;
        OutWidth = outWidth;
        KernelWidth = kernelWidth;
    }
}

/// <summary>Four output pixels' term streams: filter row offsets, values and lengths.</summary>
internal unsafe struct Streams
{
    public fixed int Len[4];
    public readonly int* Rows;
    public readonly float* Vals;
    public readonly int Capacity;

    public Streams(int* rows, float* vals, int capacity)
    {
        Rows = rows;
        Vals = vals;
        Capacity = capacity;
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
