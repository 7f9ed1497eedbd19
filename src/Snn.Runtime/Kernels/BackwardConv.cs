using System.Numerics.Tensors;

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
    /// Per sample and group, <c>Z[p, t·cg + c] = Σ_n dy[p, grp·ng + n] · kernel[t, c, grp·ng + n]</c> runs on the GEMM
    /// micro-kernel (A = dy's group columns, B = the group's kernel transposed once to [ng, taps·cg]); Z is then added into
    /// dx through the indirection table, pixels ascending, taps ascending. Depthwise layers (cg = ng = 1) multiply
    /// channel vectors and add them in the same order. Channels-first samples go through a channels-last copy. Samples are
    /// independent, so <paramref name="threads"/> does not change the bits.
    /// </remarks>
    public static void ConvInputGradient(ConvGeometry g, ReadOnlySpan<float> kernel, ReadOnlySpan<float> dy, int batch, Span<float> dx, int threads = 1)
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

        int z = depthwise ? 0 : outPix * zCols;
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

                var d = new Span<float>(dx + off, cg);
                TensorPrimitives.Add(d, new ReadOnlySpan<float>(zp + ((nint)t * cg), cg), d);
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
            var dyp = new ReadOnlySpan<float>(dy + ((nint)p * ch), ch);
            for (int t = 0; t < taps; t++)
            {
                int off = row[t];
                if (off < 0)
                {
                    continue;
                }

                var d = new Span<float>(dx + off, ch);
                TensorPrimitives.MultiplyAdd(dyp, new ReadOnlySpan<float>(w + ((nint)t * ch), ch), d, d);
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
                            var pb = new Span<float>(partial + kSize, cout);
                            for (int p = 0; p < outPix; p++)
                            {
                                TensorPrimitives.Add(pb, new ReadOnlySpan<float>(dyl + ((nint)p * cout), cout), pb);
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
            var dyp = new ReadOnlySpan<float>(dy + ((nint)p * ch), ch);
            for (int t = 0; t < taps; t++)
            {
                int off = row[t];
                if (off < 0)
                {
                    continue;
                }

                var d = new Span<float>(dw + ((nint)t * ch), ch);
                TensorPrimitives.MultiplyAdd(dyp, new ReadOnlySpan<float>(x + off, ch), d, d);
            }
        }
    }
}
