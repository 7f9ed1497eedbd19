using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

// Over 800 lines on purpose: this is one kernel (per-sample event lists in three input layouts, term streams, the
// register tiles that sum them, and their scalar fallback), and its bit-exactness argument (see AccumulateEvents) spans
// all of it; the row-strip variant, which needs none of the streams, is in ConvRowStrips.cs.
namespace Snn.Runtime.Kernels;

/// <summary>The event-driven convolution: per sample, lists of nonzero inputs summed as term streams (see <see cref="AccumulateEvents"/>).</summary>
public static partial class Conv
{
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
