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
    public static void MaxPoolGradient(PoolGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int batch, Span<float> dx)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(dy.Length, (long)batch * g.OutputSize, nameof(dy));
        KernelMath.CheckLength(dx.Length, (long)batch * g.InputSize, nameof(dx));
        int ch = g.Channels;
        for (int b = 0; b < batch; b++)
        {
            var xb = x.Slice(b * g.InputSize, g.InputSize);
            var dyb = dy.Slice(b * g.OutputSize, g.OutputSize);
            var dxb = dx.Slice(b * g.InputSize, g.InputSize);
            int op = 0;
            foreach (var (d0, d1, h0, h1, w0, w1) in Windows(g))
            {
                for (int c = 0; c < ch; c++)
                {
                    int best = -1;
                    float max = float.NegativeInfinity;
                    for (int id = d0; id < d1; id++)
                    {
                        for (int ih = h0; ih < h1; ih++)
                        {
                            for (int iw = w0; iw < w1; iw++)
                            {
                                int i = InIndex(g, id, ih, iw, c);
                                float v = xb[i];
                                if (v > max || (best < 0 && v == max))
                                {
                                    max = v;
                                    best = i;
                                }
                            }
                        }
                    }

                    if (best >= 0)
                    {
                        dxb[best] += dyb[OutIndex(g, op, c)];
                    }
                }

                op++;
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
