using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Snn.Runtime.Kernels;

/// <summary>Convolution gradients (see the design note on <see cref="Backward"/>).</summary>
public static partial class Backward
{
    /// <summary>
    /// The input gradient of <see cref="Conv.Accumulate"/> (a transposed convolution): <c>dx += convᵀ(dy, kernel)</c>,
    /// i.e. <c>dx[b, in(p, t), grp·cg + c] += Σ_n dy[b, p, grp·ng + n] · kernel[t, c, grp·ng + n]</c> over every output
    /// pixel p and tap t whose input cell is real (padding taps have no input). dy is [batch, OutputSize], dx
    /// [batch, InputSize], both in the geometry's layout.
    /// </summary>
    /// <remarks>
    /// With stride 1 on every axis this is a forward convolution of dy with the flipped, transposed kernel (see
    /// <see cref="Transposed"/>), run by <see cref="Conv.Accumulate"/>. Otherwise, per sample and group, <c>Z[p, t·cg + c] = Σ_n dy[p, grp·ng + n] · kernel[t, c, grp·ng + n]</c> runs on the GEMM
    /// micro-kernel (A = dy's group columns, B = the group's kernel transposed once to [ng, taps·cg]); Z is then added into
    /// dx through the indirection table, pixels ascending, taps ascending. Depthwise layers (cg = ng = 1) multiply
    /// channel vectors and add them in the same order. Channels-first samples go through a channels-last copy. Samples are
    /// independent, so <paramref name="threads"/> does not change the bits.
    /// </remarks>
    public static void ConvInputGradient(ConvGeometry g, ReadOnlySpan<float> kernel, ReadOnlySpan<float> dy, int batch, Span<float> dx, int threads = 1)
        => ConvInputGradientOn(g, kernel, dy, batch, dx, threads, InputGradientPath.Auto);

    /// <summary>How <see cref="ConvInputGradient"/> runs (tests pin each one).</summary>
    internal enum InputGradientPath
    {
        /// <summary>The transposed forward where it applies and fills vectors (depthwise, or at least 16 input channels per group), else the scatter.</summary>
        Auto,

        /// <summary>GEMM into [pixels, taps·cg] and the col2im scatter.</summary>
        Scatter,

        /// <summary>The forward convolution on <see cref="Transposed"/> geometry (stride 1 only).</summary>
        TransposedForward,
    }

    internal static void ConvInputGradientOn(ConvGeometry g, ReadOnlySpan<float> kernel, ReadOnlySpan<float> dy, int batch, Span<float> dx, int threads, InputGradientPath path)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(kernel.Length, g.KernelSize, nameof(kernel));
        KernelMath.CheckLength(dy.Length, (long)batch * g.OutputSize, nameof(dy));
        KernelMath.CheckLength(dx.Length, (long)batch * g.InputSize, nameof(dx));
        CheckThreads(threads);
        if (batch == 0)
        {
            return;
        }

        // The transposed forward's GEMM has the group's input channels as its columns: few of them leave most of every
        // vector empty, while the scatter's GEMM has taps·cg columns; depthwise runs on the forward's channel-vector loop.
        bool wide = (g.GroupInChannels == 1 && g.GroupOutChannels == 1) || g.GroupInChannels >= 16;
        if (path != InputGradientPath.Scatter && (path == InputGradientPath.TransposedForward || wide) && Transposed(g) is { } gt)
        {
            StrideOneInputGradient(g, gt, kernel, dy, batch, dx, threads);
            return;
        }

        int taps = g.Taps, cg = g.GroupInChannels, ng = g.GroupOutChannels, cout = g.OutChannels, cin = g.InChannels;
        int outPix = g.OutPixels;
        bool depthwise = cg == 1 && ng == 1;
        int zCols = taps * cg;

        // [groups][ng][taps·cg]: each group's kernel transposed, the GEMM's B.
        var wr = depthwise ? Array.Empty<float>() : new float[g.KernelSize];
        for (int grp = 0; grp < g.Groups && !depthwise; grp++)
        {
            for (int tc = 0; tc < zCols; tc++)
            {
                for (int n = 0; n < ng; n++)
                {
                    wr[(((long)grp * ng) + n) * zCols + tc] = kernel[(tc * cout) + (grp * ng) + n];
                }
            }
        }

        int z = depthwise ? 0 : checked(outPix * zCols);
        int transposed = g.ChannelsLast ? 0 : g.InputSize + g.OutputSize;
        unsafe
        {
            fixed (float* pk = kernel, pwr = wr, pdy = dy, pdx = dx)
            fixed (int* table = g.Table)
            {
                nint kBase = (nint)pk, wrBase = (nint)pwr, dyBase = (nint)pdy, dxBase = (nint)pdx, tBase = (nint)table;
                ForEachChunk(batch, threads, z + transposed, (b0, b1, _, scratch) =>
                {
                    float* zs = scratch;
                    float* dxT = scratch + z;
                    float* dyT = dxT + g.InputSize;
                    for (int b = b0; b < b1; b++)
                    {
                        float* dyb = (float*)dyBase + ((nint)b * g.OutputSize);
                        float* dxb = (float*)dxBase + ((nint)b * g.InputSize);
                        float* dyl = dyb, dxl = dxb;
                        if (!g.ChannelsLast)
                        {
                            Conv.Transpose(dyb, cout, outPix, dyT);
                            new Span<float>(dxT, g.InputSize).Clear();
                            dyl = dyT;
                            dxl = dxT;
                        }

                        if (depthwise)
                        {
                            DepthwiseInputGradient(g, (float*)kBase, dyl, dxl, (int*)tBase);
                        }
                        else
                        {
                            for (int grp = 0; grp < g.Groups; grp++)
                            {
                                new Span<float>(zs, z).Clear();
                                float* wg = (float*)wrBase + ((nint)grp * ng * zCols);
                                int mt = Gemm.RowTile;
                                for (int i0 = 0; i0 < outPix; i0 += mt)
                                {
                                    int rows = Math.Min(mt, outPix - i0);
                                    var src = new DenseRows(dyl + ((nint)i0 * cout) + (grp * ng), cout, rows, ng, wg, zCols);
                                    Gemm.Tile(ref src, rows, zCols, zs + ((nint)i0 * zCols), zCols);
                                }

                                Col2Im(g, zs, dxl + (grp * cg), (int*)tBase);
                            }
                        }

                        if (!g.ChannelsLast)
                        {
                            Conv.AddTransposed(dxT, g.InPixels, cin, dxb);
                        }
                    }
                });
            }
        }
    }

    private static readonly ConditionalWeakTable<ConvGeometry, ConvGeometry> TransposedGeometries = new();

    /// <summary>
    /// For a geometry with stride 1 everywhere (and padding at most the dilated kernel's reach), the forward geometry of
    /// its transposed convolution: input = the output, output = the input, the same kernel sizes, dilation and groups,
    /// padding <c>(k − 1)·d − pad</c> before each axis. Input cell q of the original is then read by original output
    /// pixel <c>q − ((k − 1)·d − pad) + t'·d</c> through the flipped tap <c>t' = k − 1 − t</c>. Null otherwise (strides
    /// would need zeros between dy's pixels: those go through the scatter). Built once per geometry.
    /// </summary>
    internal static ConvGeometry? Transposed(ConvGeometry g)
    {
        for (int d = 0; d < 3; d++)
        {
            if (g.Stride3[d] != 1 || g.Pad3[d] > (g.Kernel3[d] - 1) * g.Dilation3[d])
            {
                return null;
            }
        }

        return TransposedGeometries.GetValue(g, static g =>
        {
            int r = g.Rank;
            int[] Own(int[] a) => a[(3 - r)..];
            var pad = Enumerable.Range(3 - r, r).Select(d => ((g.Kernel3[d] - 1) * g.Dilation3[d]) - g.Pad3[d]).ToArray();
            return ConvGeometry.Create(
                Own(g.Out3), g.OutChannels, Own(g.Kernel3), Own(g.Stride3), Own(g.Dilation3), pad, Own(g.In3), g.InChannels, g.Groups, g.ChannelsLast);
        });
    }

    /// <summary>
    /// Stride-1 input gradient as a forward convolution (<see cref="Conv.Accumulate"/>, all its paths) of dy with the
    /// flipped, transposed kernel <c>W'[t', n, grp·cg + c] = W[taps − 1 − t', c, grp·ng + n]</c> on <see cref="Transposed"/>
    /// geometry; samples split over threads (each sample's bits are the forward's, whatever the split).
    /// </summary>
    private static void StrideOneInputGradient(ConvGeometry g, ConvGeometry gt, ReadOnlySpan<float> kernel, ReadOnlySpan<float> dy, int batch, Span<float> dx, int threads)
    {
        int taps = g.Taps, cg = g.GroupInChannels, ng = g.GroupOutChannels, cout = g.OutChannels, cin = g.InChannels;
        var wt = new float[g.KernelSize];
        for (int t = 0; t < taps; t++)
        {
            for (int grp = 0; grp < g.Groups; grp++)
            {
                for (int c = 0; c < cg; c++)
                {
                    int src = ((((taps - 1 - t) * cg) + c) * cout) + (grp * ng);
                    int dst = (t * ng * cin) + (grp * cg) + c;
                    for (int n = 0; n < ng; n++)
                    {
                        wt[dst + (n * cin)] = kernel[src + n];
                    }
                }
            }
        }

        int ws = gt.WorkspaceSize(1);
        unsafe
        {
            fixed (float* pdy = dy, pdx = dx)
            {
                nint dyBase = (nint)pdy, dxBase = (nint)pdx;
                ForEachChunk(batch, threads, ws, (b0, b1, _, scratch) =>
                {
                    int rows = b1 - b0;
                    Conv.Accumulate(
                        gt,
                        wt,
                        new ReadOnlySpan<float>((float*)dyBase + ((nint)b0 * g.OutputSize), rows * g.OutputSize),
                        rows,
                        new Span<float>(scratch, ws),
                        new Span<float>((float*)dxBase + ((nint)b0 * g.InputSize), rows * g.InputSize));
                });
            }
        }
    }

    /// <summary><c>dx[off(p, t) + c] += z[p, t·cg + c]</c> for every real tap (dx offset to the group's first channel).</summary>
    private static unsafe void Col2Im(ConvGeometry g, float* z, float* dx, int* table)
    {
        int taps = g.Taps, cg = g.GroupInChannels, outPix = g.OutPixels;
        for (int p = 0; p < outPix; p++)
        {
            int* row = table + ((nint)p * taps);
            float* zp = z + ((nint)p * taps * cg);
            for (int t = 0; t < taps; t++)
            {
                int off = row[t];
                if (off < 0)
                {
                    continue;
                }

                AddTo(dx + off, zp + ((nint)t * cg), cg);
            }
        }
    }

    /// <summary>Depthwise <c>dx[off(p, t) + c] += dy[p, c] · w[t, c]</c>, pixels then taps ascending.</summary>
    private static unsafe void DepthwiseInputGradient(ConvGeometry g, float* w, float* dy, float* dx, int* table)
    {
        int taps = g.Taps, ch = g.OutChannels, outPix = g.OutPixels;
        for (int p = 0; p < outPix; p++)
        {
            int* row = table + ((nint)p * taps);
            float* dyp = dy + ((nint)p * ch);
            for (int t = 0; t < taps; t++)
            {
                int off = row[t];
                if (off >= 0)
                {
                    MaddTo(dx + off, dyp, w + ((nint)t * ch), ch);
                }
            }
        }
    }

    /// <summary>
    /// The kernel and bias gradients of <see cref="Conv.Accumulate"/> (a correlation of x with dy):
    /// <c>dKernel[t, c, grp·ng + n] += Σ_b Σ_p x[b, in(p, t), grp·cg + c] · dy[b, p, grp·ng + n]</c> (padding taps read 0)
    /// and, unless <paramref name="dBias"/> is empty, <c>dBias[o] += Σ_b Σ_p dy[b, p, o]</c>. x is [batch, InputSize], dy
    /// [batch, OutputSize] in the geometry's layout; dKernel in Keras layout [k..., Cin/groups, Cout].
    /// </summary>
    /// <remarks>
    /// Per sample and group the transposed im2col of x, <c>A[t·cg + c, p]</c>, is built in scratch and multiplied with dy's
    /// group columns on the GEMM micro-kernel (each element's terms over p summed in registers, then added once);
    /// depthwise layers multiply channel vectors, pixels then taps ascending. Samples are summed per chunk of
    /// <see cref="ReductionChunk"/> and the chunks added in order (see <see cref="Backward"/>): the bits do not depend on
    /// <paramref name="threads"/>.
    /// </remarks>
    public static void ConvKernelGradient(ConvGeometry g, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int batch, Span<float> dKernel, Span<float> dBias, int threads = 1)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(dy.Length, (long)batch * g.OutputSize, nameof(dy));
        KernelMath.CheckLength(dKernel.Length, g.KernelSize, nameof(dKernel));
        if (!dBias.IsEmpty)
        {
            KernelMath.CheckLength(dBias.Length, g.OutChannels, nameof(dBias));
        }

        CheckThreads(threads);
        if (batch == 0)
        {
            return;
        }

        int taps = g.Taps, cg = g.GroupInChannels, ng = g.GroupOutChannels, cout = g.OutChannels, cin = g.InChannels;
        int outPix = g.OutPixels;
        bool depthwise = cg == 1 && ng == 1;
        int aRows = taps * cg;
        int col = depthwise ? 0 : checked(aRows * outPix);
        int transposed = g.ChannelsLast ? 0 : g.InputSize + g.OutputSize;
        bool bias = !dBias.IsEmpty;
        int kSize = g.KernelSize;
        int size = kSize + (bias ? cout : 0);
        var sum = new float[size];
        unsafe
        {
            fixed (float* px = x, pdy = dy, psum = sum)
            fixed (int* table = g.Table)
            {
                nint xBase = (nint)px, dyBase = (nint)pdy, tBase = (nint)table;
                ReduceOverBatch(batch, threads, size, col + transposed, (b0, b1, partial, scratch) =>
                {
                    float* colT = scratch;
                    float* xT = scratch + col;
                    float* dyT = xT + g.InputSize;
                    for (int b = b0; b < b1; b++)
                    {
                        float* xl = (float*)xBase + ((nint)b * g.InputSize);
                        float* dyl = (float*)dyBase + ((nint)b * g.OutputSize);
                        if (!g.ChannelsLast)
                        {
                            Conv.Transpose(xl, cin, g.InPixels, xT);
                            Conv.Transpose(dyl, cout, outPix, dyT);
                            xl = xT;
                            dyl = dyT;
                        }

                        if (depthwise)
                        {
                            DepthwiseKernelGradient(g, xl, dyl, partial, (int*)tBase);
                        }
                        else
                        {
                            for (int grp = 0; grp < g.Groups; grp++)
                            {
                                Im2ColTransposed(g, xl + (grp * cg), colT, (int*)tBase);
                                int mt = Gemm.RowTile;
                                for (int r0 = 0; r0 < aRows; r0 += mt)
                                {
                                    int rows = Math.Min(mt, aRows - r0);
                                    var src = new DenseRows(colT + ((nint)r0 * outPix), outPix, rows, outPix, dyl + (grp * ng), cout);
                                    Gemm.Tile(ref src, rows, ng, partial + ((nint)r0 * cout) + (grp * ng), cout);
                                }
                            }
                        }

                        if (bias)
                        {
                            for (int p = 0; p < outPix; p++)
                            {
                                AddTo(partial + kSize, dyl + ((nint)p * cout), cout);
                            }
                        }
                    }
                }, psum);
            }
        }

        var s = sum.AsSpan();
        TensorPrimitives.Add(dKernel, s[..kSize], dKernel);
        if (bias)
        {
            TensorPrimitives.Add(dBias, s.Slice(kSize, cout), dBias);
        }
    }

    /// <summary><c>a[t·cg + c, p] = x[off(p, t) + c]</c>, 0 for padding taps (x offset to the group's first channel).</summary>
    private static unsafe void Im2ColTransposed(ConvGeometry g, float* x, float* a, int* table)
    {
        int taps = g.Taps, cg = g.GroupInChannels, outPix = g.OutPixels;
        for (int t = 0; t < taps; t++)
        {
            float* at = a + ((nint)t * cg * outPix);
            for (int p = 0; p < outPix; p++)
            {
                int off = table[((nint)p * taps) + t];
                if (off < 0)
                {
                    for (int c = 0; c < cg; c++)
                    {
                        at[((nint)c * outPix) + p] = 0f;
                    }
                }
                else
                {
                    float* xp = x + off;
                    for (int c = 0; c < cg; c++)
                    {
                        at[((nint)c * outPix) + p] = xp[c];
                    }
                }
            }
        }
    }

    /// <summary>Depthwise <c>dw[t, c] += x[off(p, t) + c] · dy[p, c]</c>, pixels then taps ascending.</summary>
    private static unsafe void DepthwiseKernelGradient(ConvGeometry g, float* x, float* dy, float* dw, int* table)
    {
        int taps = g.Taps, ch = g.OutChannels, outPix = g.OutPixels;
        for (int p = 0; p < outPix; p++)
        {
            int* row = table + ((nint)p * taps);
            float* dyp = dy + ((nint)p * ch);
            for (int t = 0; t < taps; t++)
            {
                int off = row[t];
                if (off >= 0)
                {
                    MaddTo(dw + ((nint)t * ch), dyp, x + off, ch);
                }
            }
        }
    }

    /// <summary><c>d[i] += s[i]</c>; short rows in a plain loop (a library call per few floats costs more than the adds).</summary>
    private static unsafe void AddTo(float* d, float* s, int n)
    {
        if (n >= 16)
        {
            var dd = new Span<float>(d, n);
            TensorPrimitives.Add(dd, new ReadOnlySpan<float>(s, n), dd);
            return;
        }

        for (int i = 0; i < n; i++)
        {
            d[i] += s[i];
        }
    }

    /// <summary><c>d[i] += a[i] · b[i]</c> (product rounded, then added, as TensorPrimitives.MultiplyAdd); short rows in a plain loop.</summary>
    private static unsafe void MaddTo(float* d, float* a, float* b, int n)
    {
        if (n >= 16)
        {
            var dd = new Span<float>(d, n);
            TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(a, n), new ReadOnlySpan<float>(b, n), dd, dd);
            return;
        }

        for (int i = 0; i < n; i++)
        {
            d[i] += a[i] * b[i];
        }
    }
}
