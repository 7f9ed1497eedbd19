using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>Pooling gradients (see the design note on <see cref="Backward"/>).</summary>
public static partial class Backward
{
    /// <summary>
    /// The input gradient of <see cref="Pool.AverageAccumulate"/>: every real cell of a window gets
    /// <c>dy / count</c>, count being the window's real (non-padded) cells as the forward divides by (TF 'same'); a window
    /// without real cells passes nothing. dy is [batch, OutputSize], dx += into [batch, InputSize]; windows in output
    /// order, cells row-major. Global average pooling is the geometry with one window over all cells.
    /// </summary>
    public static void AveragePoolGradient(PoolGeometry g, ReadOnlySpan<float> dy, int batch, Span<float> dx)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(dy.Length, (long)batch * g.OutputSize, nameof(dy));
        KernelMath.CheckLength(dx.Length, (long)batch * g.InputSize, nameof(dx));
        int ch = g.Channels;
        for (int b = 0; b < batch; b++)
        {
            var dyb = dy.Slice(b * g.OutputSize, g.OutputSize);
            var dxb = dx.Slice(b * g.InputSize, g.InputSize);
            int op = 0;
            foreach (var (d0, d1, h0, h1, w0, w1) in Windows(g))
            {
                int count = Math.Max(d1 - d0, 0) * Math.Max(h1 - h0, 0) * Math.Max(w1 - w0, 0);
                if (count > 0)
                {
                    for (int c = 0; c < ch; c++)
                    {
                        float v = dyb[OutIndex(g, op, c)] / count;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                for (int iw = w0; iw < w1; iw++)
                                {
                                    dxb[InIndex(g, id, ih, iw, c)] += v;
                                }
                            }
                        }
                    }
                }

                op++;
            }
        }
    }

    /// <summary>
    /// The input gradient of <see cref="Pool.Max"/>: each window's dy goes to its first maximal real cell in row-major
    /// order (the first cell holding the window's max; later equal cells get nothing, as TensorFlow's MaxPoolGrad picks
    /// one cell); a window without real cells passes nothing. NaN cells are never picked. x is the forward input
    /// [batch, InputSize]; dy [batch, OutputSize]; dx += into [batch, InputSize]. Global max pooling is the geometry
    /// with one window over all cells.
    /// </summary>
    /// <remarks>
    /// Samples are independent (split over <paramref name="threads"/> in chunks, which cannot change a bit); within a
    /// sample the windows add to dx in output order. Channels-last data is searched eight channels at a time (the
    /// same comparisons per lane as the scalar search, so the same cell), channels-first plane by plane.
    /// </remarks>
    public static void MaxPoolGradient(PoolGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int batch, Span<float> dx, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(dy.Length, (long)batch * g.OutputSize, nameof(dy));
        KernelMath.CheckLength(dx.Length, (long)batch * g.InputSize, nameof(dx));
        CheckThreads(threads);
        if (batch == 0 || g.OutputSize == 0)
        {
            return;
        }

        unsafe
        {
            fixed (float* px = x, pdy = dy, pdx = dx)
            {
                nint xBase = (nint)px, dyBase = (nint)pdy, dxBase = (nint)pdx;
                ForEachChunk(batch, threads, 0, (b0, b1, _, _) =>
                {
                    for (int b = b0; b < b1; b++)
                    {
                        float* xb = (float*)xBase + ((nint)b * g.InputSize);
                        float* dyb = (float*)dyBase + ((nint)b * g.OutputSize);
                        float* dxb = (float*)dxBase + ((nint)b * g.InputSize);
                        if (g.ChannelsLast)
                        {
                            MaxPoolGradientChannelsLast(g, xb, dyb, dxb);
                        }
                        else
                        {
                            MaxPoolGradientChannelsFirst(g, xb, dyb, dxb);
                        }
                    }
                });
            }
        }
    }

    /// <summary>One channels-last sample of <see cref="MaxPoolGradient"/>.</summary>
    private static unsafe void MaxPoolGradientChannelsLast(PoolGeometry g, float* x, float* dy, float* dx)
    {
        int ch = g.Channels;
        int inH = g.In3[1], inW = g.In3[2];
        int* best = stackalloc int[Vector256<int>.Count];
        int op = 0;
        for (int od = 0; od < g.Out3[0]; od++)
        {
            g.Window(0, od, out int d0, out int d1);
            for (int oh = 0; oh < g.Out3[1]; oh++)
            {
                g.Window(1, oh, out int h0, out int h1);
                for (int ow = 0; ow < g.Out3[2]; ow++, op++)
                {
                    g.Window(2, ow, out int w0, out int w1);
                    if (d0 >= d1 || h0 >= h1 || w0 >= w1)
                    {
                        continue;
                    }

                    float* dyp = dy + ((nint)op * ch);
                    int c = 0;
                    if (Vector256.IsHardwareAccelerated)
                    {
                        for (; c + Vector256<float>.Count <= ch; c += Vector256<float>.Count)
                        {
                            var max = Vector256.Create(float.NegativeInfinity);
                            var at = Vector256.Create(-1);
                            for (int id = d0; id < d1; id++)
                            {
                                for (int ih = h0; ih < h1; ih++)
                                {
                                    int q = ((((id * inH) + ih) * inW) + w0) * ch;
                                    for (int iw = w0; iw < w1; iw++, q += ch)
                                    {
                                        var v = Vector256.Load(x + q + c);
                                        // v > max, or the first real cell equal to a max still at -inf (as the scalar search).
                                        var take = Vector256.GreaterThan(v, max) |
                                                   (Vector256.Equals(v, max) & Vector256.LessThan(at, Vector256<int>.Zero).AsSingle());
                                        max = Vector256.ConditionalSelect(take, v, max);
                                        at = Vector256.ConditionalSelect(take.AsInt32(), Vector256.Create(q), at);
                                    }
                                }
                            }

                            at.Store(best);
                            for (int l = 0; l < Vector256<int>.Count; l++)
                            {
                                if (best[l] >= 0)
                                {
                                    dx[best[l] + c + l] += dyp[c + l];
                                }
                            }
                        }
                    }

                    for (; c < ch; c++)
                    {
                        int at = -1;
                        float max = float.NegativeInfinity;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                int q = ((((id * inH) + ih) * inW) + w0) * ch;
                                for (int iw = w0; iw < w1; iw++, q += ch)
                                {
                                    float v = x[q + c];
                                    if (v > max || (at < 0 && v == max))
                                    {
                                        max = v;
                                        at = q;
                                    }
                                }
                            }
                        }

                        if (at >= 0)
                        {
                            dx[at + c] += dyp[c];
                        }
                    }
                }
            }
        }
    }

    /// <summary>One channels-first sample of <see cref="MaxPoolGradient"/>.</summary>
    private static unsafe void MaxPoolGradientChannelsFirst(PoolGeometry g, float* x, float* dy, float* dx)
    {
        int inH = g.In3[1], inW = g.In3[2];
        int op = 0;
        for (int od = 0; od < g.Out3[0]; od++)
        {
            g.Window(0, od, out int d0, out int d1);
            for (int oh = 0; oh < g.Out3[1]; oh++)
            {
                g.Window(1, oh, out int h0, out int h1);
                for (int ow = 0; ow < g.Out3[2]; ow++, op++)
                {
                    g.Window(2, ow, out int w0, out int w1);
                    for (int c = 0; c < g.Channels; c++)
                    {
                        float* plane = x + ((nint)c * g.InPixels);
                        int at = -1;
                        float max = float.NegativeInfinity;
                        for (int id = d0; id < d1; id++)
                        {
                            for (int ih = h0; ih < h1; ih++)
                            {
                                int q = (((id * inH) + ih) * inW) + w0;
                                for (int iw = w0; iw < w1; iw++, q++)
                                {
                                    float v = plane[q];
                                    if (v > max || (at < 0 && v == max))
                                    {
                                        max = v;
                                        at = q;
                                    }
                                }
                            }
                        }

                        if (at >= 0)
                        {
                            dx[((nint)c * g.InPixels) + at] += dy[((nint)c * g.OutPixels) + op];
                        }
                    }
                }
            }
        }
    }

    /// <summary>Each output pixel's clipped window, in output order.</summary>
    private static IEnumerable<(int D0, int D1, int H0, int H1, int W0, int W1)> Windows(PoolGeometry g)
    {
        for (int od = 0; od < g.Out3[0]; od++)
        {
            g.Window(0, od, out int d0, out int d1);
            for (int oh = 0; oh < g.Out3[1]; oh++)
            {
                g.Window(1, oh, out int h0, out int h1);
                for (int ow = 0; ow < g.Out3[2]; ow++)
                {
                    g.Window(2, ow, out int w0, out int w1);
                    yield return (d0, d1, h0, h1, w0, w1);
                }
            }
        }
    }

    private static int InIndex(PoolGeometry g, int id, int ih, int iw, int c)
    {
        int q = (((id * g.In3[1]) + ih) * g.In3[2]) + iw;
        return g.ChannelsLast ? (q * g.Channels) + c : (c * g.InPixels) + q;
    }

    private static int OutIndex(PoolGeometry g, int op, int c) => g.ChannelsLast ? (op * g.Channels) + c : (c * g.OutPixels) + op;
}
