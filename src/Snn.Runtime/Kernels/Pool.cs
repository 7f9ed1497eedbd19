using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Snn.Runtime.Kernels;

/// <summary>Geometry of an N-d (1D, 2D, 3D) pooling window; immutable and thread-safe.</summary>
public sealed class PoolGeometry
{
    internal readonly int[] In3;
    internal readonly int[] Pool3;
    internal readonly int[] Stride3;
    internal readonly int[] Pad3;
    internal readonly int[] Out3;

    private PoolGeometry(int rank, int[] in3, int channels, int[] pool3, int[] stride3, int[] pad3, int[] out3, bool channelsLast)
    {
        Rank = rank;
        In3 = in3;
        Pool3 = pool3;
        Stride3 = stride3;
        Pad3 = pad3;
        Out3 = out3;
        Channels = channels;
        ChannelsLast = channelsLast;
        InPixels = in3[0] * in3[1] * in3[2];
        OutPixels = out3[0] * out3[1] * out3[2];
        InputSize = checked(InPixels * channels);
        OutputSize = checked(OutPixels * channels);
    }

    public int Rank { get; }

    public int Channels { get; }

    public bool ChannelsLast { get; }

    public int InPixels { get; }

    public int OutPixels { get; }

    /// <summary>Elements per input sample.</summary>
    public int InputSize { get; }

    /// <summary>Elements per output sample.</summary>
    public int OutputSize { get; }

    /// <summary>The geometry of a pooling spec (the IRs' shared description; the kind is the caller's choice of kernel).</summary>
    public static PoolGeometry Of(PoolSpec s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Create(s.InSpatial.ToArray(), s.Channels, s.Pool.ToArray(), s.Strides.ToArray(), s.PadBefore.ToArray(), s.OutSpatial.ToArray(), s.ChannelsLast);
    }

    /// <summary>
    /// Creates a pooling geometry. Window of output position o in a dimension covers input cells
    /// <c>o*stride - padBefore + [0, pool)</c>; cells outside the input are padding.
    /// </summary>
    public static PoolGeometry Create(int[] inSpatial, int channels, int[] pool, int[] strides, int[] padBefore, int[] outSpatial, bool channelsLast)
    {
        ArgumentNullException.ThrowIfNull(inSpatial);
        ArgumentNullException.ThrowIfNull(pool);
        ArgumentNullException.ThrowIfNull(strides);
        ArgumentNullException.ThrowIfNull(padBefore);
        ArgumentNullException.ThrowIfNull(outSpatial);
        int rank = inSpatial.Length;
        if (rank is < 1 or > 3)
        {
            throw new ArgumentException($"Pooling rank must be 1, 2 or 3, got {rank}.", nameof(inSpatial));
        }

        ConvGeometry.CheckDims(inSpatial, rank, 1, nameof(inSpatial));
        ConvGeometry.CheckDims(pool, rank, 1, nameof(pool));
        ConvGeometry.CheckDims(strides, rank, 1, nameof(strides));
        ConvGeometry.CheckDims(padBefore, rank, 0, nameof(padBefore));
        ConvGeometry.CheckDims(outSpatial, rank, 1, nameof(outSpatial));
        if (channels < 1)
        {
            throw new ArgumentException($"channels must be >= 1, got {channels}.", nameof(channels));
        }

        return new PoolGeometry(
            rank,
            ConvGeometry.To3(inSpatial, 1),
            channels,
            ConvGeometry.To3(pool, 1),
            ConvGeometry.To3(strides, 1),
            ConvGeometry.To3(padBefore, 0),
            ConvGeometry.To3(outSpatial, 1),
            channelsLast);
    }

    /// <summary>Clipped window [lo, hi) of output index o in dimension d (may be empty).</summary>
    internal void Window(int d, int o, out int lo, out int hi)
    {
        int start = (o * Stride3[d]) - Pad3[d];
        lo = Math.Max(start, 0);
        hi = Math.Min(start + Pool3[d], In3[d]);
    }
}

/// <summary>Pooling kernels (TensorFlow semantics for padded windows).</summary>
public static class Pool
{
    /// <summary>
    /// <c>y += mean of x over the real (non-padded) cells of each window</c>. The sum runs over the
    /// window in row-major order and is divided by the number of real cells (TF 'same' semantics);
    /// a window with no real cell contributes 0.
    /// </summary>
    public static void AverageAccumulate(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> y)
        => Average(g, x, batch, y);


    /// <summary>
    /// <c>y = max of x over the real cells of each window</c> (padding acts as -inf; a window with
    /// no real cell gives -inf). Sets y. NaN inputs propagate.
    /// </summary>
    public static void Max(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> y)
        => MaxRun(g, x, batch, default, y, MaxStore.Set);

    /// <summary>
    /// <c>y = max + 0</c> for each window: <see cref="Max"/>, with a max of −0 stored as +0 (as if added to a zeroed
    /// output). Sets y.
    /// </summary>
    public static void MaxSet(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> y)
        => MaxRun(g, x, batch, default, y, MaxStore.SetPlusZero);

    /// <summary><c>y += max + 0</c> for each window (see <see cref="MaxSet"/>).</summary>
    public static void MaxAccumulate(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> y)
        => MaxRun(g, x, batch, default, y, MaxStore.Accumulate);

    /// <summary>
    /// The increase of each window's running max: <c>m = max of x over the window; y = m − previous; previous = m</c>
    /// (the count method of spiking max pooling, with x the spike counts). <paramref name="previous"/> and y are
    /// [batch, output size].
    /// </summary>
    public static void MaxIncrease(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> previous, Span<float> y)
    {
        KernelMath.CheckLength(previous.Length, y.Length, nameof(previous));
        MaxRun(g, x, batch, previous, y, MaxStore.Increase);
    }

    /// <summary>
    /// <see cref="MaxIncrease"/> of <c>counts += x</c>, the sum done as the windows read the counts (one pass instead
    /// of two): only for windows that tile the input exactly (stride = pool, no padding, input = output × pool), so
    /// every count is read, and added to, once. See <see cref="Tiles"/>.
    /// </summary>
    internal static void AddMaxIncrease(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> counts, Span<float> previous, Span<float> y)
    {
        if (!Tiles(g))
        {
            throw new ArgumentException("The windows do not tile the input.", nameof(g));
        }

        KernelMath.CheckLength(x.Length, counts.Length, nameof(x));
        KernelMath.CheckLength(previous.Length, y.Length, nameof(previous));
        MaxRun(g, counts, batch, previous, y, MaxStore.Increase, x);
    }

    /// <summary>Whether the windows cover every input cell exactly once (stride = pool, no padding, input = output × pool).</summary>
    internal static bool Tiles(PoolGeometry g)
    {
        for (int d = 0; d < 3; d++)
        {
            if (g.Pad3[d] != 0 || g.Stride3[d] != g.Pool3[d] || g.In3[d] != g.Out3[d] * g.Pool3[d])
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>How the pooling loops read an input cell: as it is, or after adding the addend into it in place.</summary>
    private unsafe interface ICellLoad
    {
        static abstract Vector256<float> Load256(float* p, nint addend);
        static abstract Vector128<float> Load128(float* p, nint addend);
        static abstract float Load(float* p, nint addend);
    }

    private unsafe struct PlainLoad : ICellLoad
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load256(float* p, nint addend) => Vector256.Load(p);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load128(float* p, nint addend) => Vector128.Load(p);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(float* p, nint addend) => *p;
    }

    /// <summary><c>*p += p[addend]</c>, then the new value (addend: the distance to the addend array, in floats).</summary>
    private unsafe struct AddingLoad : ICellLoad
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load256(float* p, nint addend)
        {
            var v = Vector256.Load(p) + Vector256.Load(p + addend);
            Vector256.Store(v, p);
            return v;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector128<float> Load128(float* p, nint addend)
        {
            var v = Vector128.Load(p) + Vector128.Load(p + addend);
            Vector128.Store(v, p);
            return v;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(float* p, nint addend) => *p += p[addend];
    }

    /// <summary>How a window's max m reaches y.</summary>
    private enum MaxStore
    {
        /// <summary>y = m.</summary>
        Set,
        /// <summary>y = m + 0.</summary>
        SetPlusZero,
        /// <summary>y = y + (m + 0).</summary>
        Accumulate,
        /// <summary>y = m − previous; previous = m.</summary>
        Increase,
    }

    /// <remarks>
    /// The max is exact and order-free (Vector256.Max and MathF.Max both return NaN if either input is NaN and
    /// order −0 below +0), so the vector and scalar paths give the same bits. Channels-last data is vectorized over
    /// channels, four vectors at a time; channels-first data over output columns when the window is 2 wide with
    /// stride 2 and no padding along the last dimension (adjacent pairs are split with a shuffle); anything else
    /// runs a scalar loop over the window.
    /// </remarks>
    private static void MaxRun(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> previous, Span<float> y, MaxStore store, ReadOnlySpan<float> addend = default)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(y.Length, (long)batch * g.OutputSize, nameof(y));
        unsafe
        {
            fixed (float* px = x, py = y, pp = previous, pa = addend)
            {
                bool adding = !addend.IsEmpty;
                nint delta = adding ? (nint)(pa - px) : 0;
                for (int b = 0; b < batch; b++)
                {
                    float* xb = px + ((nint)b * g.InputSize);
                    float* yb = py + ((nint)b * g.OutputSize);
                    float* pb = store == MaxStore.Increase ? pp + ((nint)b * g.OutputSize) : null;
                    if (g.ChannelsLast)
                    {
                        if (adding)
                        {
                            MaxChannelsLast<AddingLoad>(g, xb, delta, pb, yb, store);
                        }
                        else
                        {
                            MaxChannelsLast<PlainLoad>(g, xb, 0, pb, yb, store);
                        }
                    }
                    else if (adding)
                    {
                        MaxChannelsFirst<AddingLoad>(g, xb, delta, pb, yb, store);
                    }
                    else
                    {
                        MaxChannelsFirst<PlainLoad>(g, xb, 0, pb, yb, store);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Put(float* previous, float* y, Vector256<float> m, MaxStore store)
    {
        switch (store)
        {
            case MaxStore.Increase:
                Vector256.Store(m - Vector256.Load(previous), y);
                Vector256.Store(m, previous);
                break;
            case MaxStore.Set:
                Vector256.Store(m, y);
                break;
            case MaxStore.SetPlusZero:
                Vector256.Store(m + Vector256<float>.Zero, y);
                break;
            default:
                Vector256.Store(Vector256.Load(y) + (m + Vector256<float>.Zero), y);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Put(float* previous, float* y, Vector128<float> m, MaxStore store)
    {
        switch (store)
        {
            case MaxStore.Increase:
                Vector128.Store(m - Vector128.Load(previous), y);
                Vector128.Store(m, previous);
                break;
            case MaxStore.Set:
                Vector128.Store(m, y);
                break;
            case MaxStore.SetPlusZero:
                Vector128.Store(m + Vector128<float>.Zero, y);
                break;
            default:
                Vector128.Store(Vector128.Load(y) + (m + Vector128<float>.Zero), y);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Put(float* previous, float* y, float m, MaxStore store)
    {
        switch (store)
        {
            case MaxStore.Increase:
                *y = m - *previous;
                *previous = m;
                break;
            case MaxStore.Set:
                *y = m;
                break;
            case MaxStore.SetPlusZero:
                *y = m + 0f;
                break;
            default:
                *y += m + 0f;
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaxChannelsLast<TLoad>(PoolGeometry g, float* x, nint addend, float* previous, float* y, MaxStore store)
        where TLoad : struct, ICellLoad
    {
        int c = g.Channels;
        int[] i3 = g.In3, o3 = g.Out3;
        int op = 0;
        var lowest = Vector256.Create(float.NegativeInfinity);
        for (int od = 0; od < o3[0]; od++)
        {
            g.Window(0, od, out int d0, out int d1);
            for (int oh = 0; oh < o3[1]; oh++)
            {
                g.Window(1, oh, out int h0, out int h1);
                for (int ow = 0; ow < o3[2]; ow++, op++)
                {
                    g.Window(2, ow, out int w0, out int w1);
                    float* yp = y + ((nint)op * c);
                    float* pp = previous + ((nint)op * c);
                    int c0 = 0;
                    if (Vector256.IsHardwareAccelerated)
                    {
                        for (; c0 + 32 <= c; c0 += 32)
                        {
                            Vector256<float> m0 = lowest, m1 = lowest, m2 = lowest, m3 = lowest;
                            for (int id = d0; id < d1; id++)
                            {
                                for (int ih = h0; ih < h1; ih++)
                                {
                                    float* p = x + ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                    for (int iw = w0; iw < w1; iw++, p += c)
                                    {
                                        m0 = Vector256.Max(m0, TLoad.Load256(p, addend));
                                        m1 = Vector256.Max(m1, TLoad.Load256(p + 8, addend));
                                        m2 = Vector256.Max(m2, TLoad.Load256(p + 16, addend));
                                        m3 = Vector256.Max(m3, TLoad.Load256(p + 24, addend));
                                    }
                                }
                            }

                            Put(pp + c0, yp + c0, m0, store);
                            Put(pp + c0 + 8, yp + c0 + 8, m1, store);
                            Put(pp + c0 + 16, yp + c0 + 16, m2, store);
                            Put(pp + c0 + 24, yp + c0 + 24, m3, store);
                        }

                        for (; c0 + 8 <= c; c0 += 8)
                        {
                            Vector256<float> m = lowest;
                            for (int id = d0; id < d1; id++)
                            {
                                for (int ih = h0; ih < h1; ih++)
                                {
                                    float* p = x + ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                    for (int iw = w0; iw < w1; iw++, p += c)
                                    {
                                        m = Vector256.Max(m, TLoad.Load256(p, addend));
                                    }
                                }
                            }

                            Put(pp + c0, yp + c0, m, store);
                        }
                    }

                    for (; c0 < c; c0++)
                    {
                        float m = float.NegativeInfinity;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                float* p = x + ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                for (int iw = w0; iw < w1; iw++, p += c)
                                {
                                    m = MathF.Max(m, TLoad.Load(p, addend));
                                }
                            }
                        }

                        Put(pp + c0, yp + c0, m, store);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaxChannelsFirst<TLoad>(PoolGeometry g, float* x, nint addend, float* previous, float* y, MaxStore store)
        where TLoad : struct, ICellLoad
    {
        int[] i3 = g.In3, o3 = g.Out3;
        int inW = i3[2], outW = o3[2];
        // Output columns [0, pairs) read the input pairs (2·ow, 2·ow + 1): window 2, stride 2, no padding.
        int pairs = g.Pool3[2] == 2 && g.Stride3[2] == 2 && g.Pad3[2] == 0 ? Math.Min(outW, inW / 2) : 0;
        bool avx2 = Avx2.IsSupported && pairs >= 8;
        bool sse = Sse.IsSupported && pairs >= 4;
        for (int ch = 0; ch < g.Channels; ch++)
        {
            float* xc = x + ((nint)ch * g.InPixels);
            float* yc = y + ((nint)ch * g.OutPixels);
            float* pc = previous + ((nint)ch * g.OutPixels);
            for (int od = 0; od < o3[0]; od++)
            {
                g.Window(0, od, out int d0, out int d1);
                for (int oh = 0; oh < o3[1]; oh++)
                {
                    g.Window(1, oh, out int h0, out int h1);
                    float* yr = yc + ((nint)((od * o3[1]) + oh) * outW);
                    float* pr = pc + ((nint)((od * o3[1]) + oh) * outW);
                    int ow = 0;
                    if (avx2)
                    {
                        for (; ow + 8 <= pairs; ow += 8)
                        {
                            var lo = Vector256.Create(float.NegativeInfinity);
                            var hi = lo;
                            for (int id = d0; id < d1; id++)
                            {
                                for (int ih = h0; ih < h1; ih++)
                                {
                                    float* p = xc + ((nint)((id * i3[1]) + ih) * inW) + (2 * ow);
                                    lo = Vector256.Max(lo, TLoad.Load256(p, addend));
                                    hi = Vector256.Max(hi, TLoad.Load256(p + 8, addend));
                                }
                            }

                            // Even columns (0 2 8 10 | 4 6 12 14) against odd ones (1 3 9 11 | 5 7 13 15) give the outputs in
                            // the order 0 1 4 5 2 3 6 7; swapping the middle 64-bit quarters puts them in order.
                            var m = Vector256.Max(Avx.Shuffle(lo, hi, 0b10_00_10_00), Avx.Shuffle(lo, hi, 0b11_01_11_01));
                            Put(pr + ow, yr + ow, Avx2.Permute4x64(m.AsDouble(), 0b11_01_10_00).AsSingle(), store);
                        }
                    }

                    if (sse)
                    {
                        for (; ow + 4 <= pairs; ow += 4)
                        {
                            var lo = Vector128.Create(float.NegativeInfinity);
                            var hi = lo;
                            for (int id = d0; id < d1; id++)
                            {
                                for (int ih = h0; ih < h1; ih++)
                                {
                                    float* p = xc + ((nint)((id * i3[1]) + ih) * inW) + (2 * ow);
                                    lo = Vector128.Max(lo, TLoad.Load128(p, addend));
                                    hi = Vector128.Max(hi, TLoad.Load128(p + 4, addend));
                                }
                            }

                            Put(pr + ow, yr + ow, Vector128.Max(Sse.Shuffle(lo, hi, 0b10_00_10_00), Sse.Shuffle(lo, hi, 0b11_01_11_01)), store);
                        }
                    }

                    for (; ow < outW; ow++)
                    {
                        g.Window(2, ow, out int w0, out int w1);
                        float m = float.NegativeInfinity;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                float* p = xc + ((nint)((id * i3[1]) + ih) * inW);
                                for (int iw = w0; iw < w1; iw++)
                                {
                                    m = MathF.Max(m, TLoad.Load(p + iw, addend));
                                }
                            }
                        }

                        Put(pr + ow, yr + ow, m, store);
                    }
                }
            }
        }
    }

    private static void Average(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(y.Length, (long)batch * g.OutputSize, nameof(y));
        if (batch == 0)
        {
            return;
        }

        unsafe
        {
            fixed (float* px = x, py = y)
            {
                for (int b = 0; b < batch; b++)
                {
                    float* xb = px + ((nint)b * g.InputSize);
                    float* yb = py + ((nint)b * g.OutputSize);
                    if (g.ChannelsLast)
                    {
                        AverageChannelsLast(g, xb, yb);
                    }
                    else
                    {
                        AverageChannelsFirst(g, xb, yb);
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AverageChannelsLast(PoolGeometry g, float* x, float* y)
    {
        int c = g.Channels;
        int[] i3 = g.In3, o3 = g.Out3;
        int op = 0;
        for (int od = 0; od < o3[0]; od++)
        {
            g.Window(0, od, out int d0, out int d1);
            for (int oh = 0; oh < o3[1]; oh++)
            {
                g.Window(1, oh, out int h0, out int h1);
                for (int ow = 0; ow < o3[2]; ow++, op++)
                {
                    g.Window(2, ow, out int w0, out int w1);
                    int count = Math.Max(d1 - d0, 0) * Math.Max(h1 - h0, 0) * Math.Max(w1 - w0, 0);
                    float* yp = y + ((nint)op * c);
                    int c0 = 0;
                    if (Vector256.IsHardwareAccelerated)
                    {
                        for (; c0 + 8 <= c; c0 += 8)
                        {
                            Vector256<float> acc = Vector256<float>.Zero;
                            for (int id = d0; id < d1; id++)
                            {
                                for (int ih = h0; ih < h1; ih++)
                                {
                                    float* row = x + ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                    for (int iw = w0; iw < w1; iw++, row += c)
                                    {
                                        Vector256<float> v = Vector256.Load(row);
                                        acc += v;
                                    }
                                }
                            }

                            if (count > 0)
                            {
                                Vector256.Store(Vector256.Load(yp + c0) + (acc / count), yp + c0);
                            }
                        }
                    }

                    for (; c0 < c; c0++)
                    {
                        float acc = 0f;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                float* row = x + ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                for (int iw = w0; iw < w1; iw++, row += c)
                                {
                                    acc += *row;
                                }
                            }
                        }

                        if (count > 0)
                        {
                            yp[c0] += acc / count;
                        }
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void AverageChannelsFirst(PoolGeometry g, float* x, float* y)
    {
        int[] i3 = g.In3, o3 = g.Out3;
        int inPix = g.InPixels, outPix = g.OutPixels;
        for (int ch = 0; ch < g.Channels; ch++)
        {
            float* xc = x + ((nint)ch * inPix);
            float* yc = y + ((nint)ch * outPix);
            int op = 0;
            for (int od = 0; od < o3[0]; od++)
            {
                g.Window(0, od, out int d0, out int d1);
                for (int oh = 0; oh < o3[1]; oh++)
                {
                    g.Window(1, oh, out int h0, out int h1);
                    for (int ow = 0; ow < o3[2]; ow++, op++)
                    {
                        g.Window(2, ow, out int w0, out int w1);
                        int count = Math.Max(d1 - d0, 0) * Math.Max(h1 - h0, 0) * Math.Max(w1 - w0, 0);
                        float acc = 0f;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                float* row = xc + (((nint)((id * i3[1]) + ih)) * i3[2]);
                                for (int iw = w0; iw < w1; iw++)
                                {
                                    acc += row[iw];
                                }
                            }
                        }

                        if (count > 0)
                        {
                            yc[op] += acc / count;
                        }
                    }
                }
            }
        }
    }
}
