using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Snn.Runtime.Kernels;

/// <summary>The event-driven convolution's row strips: a chunk of output pixels of one row summed in registers (see <see cref="ConvGeometry.RowStrips"/>).</summary>
public static partial class Conv
{
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
