using System.Runtime.Intrinsics;

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
        => Run(g, x, batch, y, max: false);

    /// <summary>
    /// <c>y = max of x over the real cells of each window</c> (padding acts as -inf; a window with
    /// no real cell gives -inf). Sets y. NaN inputs propagate.
    /// </summary>
    public static void Max(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> y)
        => Run(g, x, batch, y, max: true);

    private static void Run(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> y, bool max)
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
                        ChannelsLast(g, xb, yb, max);
                    }
                    else
                    {
                        ChannelsFirst(g, xb, yb, max);
                    }
                }
            }
        }
    }

    private static unsafe void ChannelsLast(PoolGeometry g, float* x, float* y, bool max)
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
                            Vector256<float> acc = max ? Vector256.Create(float.NegativeInfinity) : Vector256<float>.Zero;
                            for (int id = d0; id < d1; id++)
                            {
                                for (int ih = h0; ih < h1; ih++)
                                {
                                    float* row = x + ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                    for (int iw = w0; iw < w1; iw++, row += c)
                                    {
                                        Vector256<float> v = Vector256.Load(row);
                                        acc = max ? Vector256.Max(acc, v) : acc + v;
                                    }
                                }
                            }

                            if (max)
                            {
                                Vector256.Store(acc, yp + c0);
                            }
                            else if (count > 0)
                            {
                                Vector256.Store(Vector256.Load(yp + c0) + (acc / count), yp + c0);
                            }
                        }
                    }

                    for (; c0 < c; c0++)
                    {
                        float acc = max ? float.NegativeInfinity : 0f;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                float* row = x + ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                for (int iw = w0; iw < w1; iw++, row += c)
                                {
                                    acc = max ? MathF.Max(acc, *row) : acc + *row;
                                }
                            }
                        }

                        if (max)
                        {
                            yp[c0] = acc;
                        }
                        else if (count > 0)
                        {
                            yp[c0] += acc / count;
                        }
                    }
                }
            }
        }
    }

    private static unsafe void ChannelsFirst(PoolGeometry g, float* x, float* y, bool max)
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
                        float acc = max ? float.NegativeInfinity : 0f;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                float* row = xc + (((nint)((id * i3[1]) + ih)) * i3[2]);
                                for (int iw = w0; iw < w1; iw++)
                                {
                                    acc = max ? MathF.Max(acc, row[iw]) : acc + row[iw];
                                }
                            }
                        }

                        if (max)
                        {
                            yc[op] = acc;
                        }
                        else if (count > 0)
                        {
                            yc[op] += acc / count;
                        }
                    }
                }
            }
        }
    }
}
