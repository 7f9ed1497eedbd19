using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>
/// Max pooling of spike trains with per-window state. Windows are given as a table: window o covers the
/// sample's input elements indices[offsets[o] .. offsets[o+1]). All spans are [batch, size] row-major.
/// </summary>
public static class SpikingPool
{
    /// <summary>
    /// Lateral-inhibition (count) pooling: counts += x; m = max of counts over the window; y = m − max; max = m.
    /// The cumulative output of a window equals the max of its inputs' cumulative values.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Count(ReadOnlySpan<float> x, int batch, ReadOnlySpan<int> offsets, ReadOnlySpan<int> indices,
        Span<float> counts, Span<float> max, Span<float> y)
    {
        var inSize = x.Length / Math.Max(1, batch);
        var outSize = offsets.Length - 1;
        KernelMath.CheckLength(counts.Length, x.Length, nameof(counts));
        KernelMath.CheckLength(y.Length, (long)batch * outSize, nameof(y));
        KernelMath.CheckLength(max.Length, y.Length, nameof(max));
        System.Numerics.Tensors.TensorPrimitives.Add(counts, x, counts);
        for (var b = 0; b < batch; b++)
        {
            var c = counts.Slice(b * inSize, inSize);
            for (var o = 0; o < outSize; o++)
            {
                var m = float.NegativeInfinity;
                for (var k = offsets[o]; k < offsets[o + 1]; k++) m = MathF.Max(m, c[indices[k]]);
                var at = b * outSize + o;
                y[at] = m - max[at];
                max[at] = m;
            }
        }
    }

    /// <summary>
    /// Gated pooling (SNN Toolbox): counts += x; y = the current input of the window's element with the largest
    /// count (its online rate estimate); ties go to the first element. <paramref name="max"/> keeps the chosen count.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Gate(ReadOnlySpan<float> x, int batch, ReadOnlySpan<int> offsets, ReadOnlySpan<int> indices,
        Span<float> counts, Span<float> max, Span<float> y)
    {
        var inSize = x.Length / Math.Max(1, batch);
        var outSize = offsets.Length - 1;
        KernelMath.CheckLength(counts.Length, x.Length, nameof(counts));
        KernelMath.CheckLength(y.Length, (long)batch * outSize, nameof(y));
        System.Numerics.Tensors.TensorPrimitives.Add(counts, x, counts);
        for (var b = 0; b < batch; b++)
        {
            var c = counts.Slice(b * inSize, inSize);
            var xs = x.Slice(b * inSize, inSize);
            for (var o = 0; o < outSize; o++)
            {
                var best = -1;
                var m = float.NegativeInfinity;
                for (var k = offsets[o]; k < offsets[o + 1]; k++)
                    if (c[indices[k]] > m) { m = c[indices[k]]; best = indices[k]; }
                var at = b * outSize + o;
                y[at] = best < 0 ? 0f : xs[best];
                max[at] = m;
            }
        }
    }

    /// <summary>
    /// <see cref="Gate"/> over a pooling geometry (either layout) instead of window tables: counts += x, then each
    /// window passes the input of its element with the largest count, the elements taken in row-major order so that
    /// ties go to the first, as in the table kernel. Channels-last data is vectorized over channels (a compare and two
    /// selects per element give the table kernel's bits); channels-first data runs a scalar loop over each window.
    /// </summary>
    public static void GatePooled(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> counts, Span<float> max, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(counts.Length, x.Length, nameof(counts));
        KernelMath.CheckLength(y.Length, (long)batch * g.OutputSize, nameof(y));
        KernelMath.CheckLength(max.Length, y.Length, nameof(max));
        System.Numerics.Tensors.TensorPrimitives.Add(counts, x, counts);
        unsafe
        {
            fixed (float* px = x, pc = counts, pm = max, py = y)
            {
                for (var b = 0; b < batch; b++)
                {
                    nint i = (nint)b * g.InputSize, o = (nint)b * g.OutputSize;
                    if (g.ChannelsLast) GateChannelsLast(g, px + i, pc + i, pm + o, py + o);
                    else GateChannelsFirst(g, px + i, pc + i, pm + o, py + o);
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void GateChannelsLast(PoolGeometry g, float* x, float* counts, float* max, float* y)
    {
        int c = g.Channels;
        int[] i3 = g.In3, o3 = g.Out3;
        var lowest = Vector256.Create(float.NegativeInfinity);
        for (int od = 0, op = 0; od < o3[0]; od++)
        {
            g.Window(0, od, out var d0, out var d1);
            for (var oh = 0; oh < o3[1]; oh++)
            {
                g.Window(1, oh, out var h0, out var h1);
                for (var ow = 0; ow < o3[2]; ow++, op++)
                {
                    g.Window(2, ow, out var w0, out var w1);
                    float* ym = max + ((nint)op * c), yy = y + ((nint)op * c);
                    var c0 = 0;
                    if (Vector256.IsHardwareAccelerated)
                        for (; c0 + 8 <= c; c0 += 8)
                        {
                            var m = lowest;
                            var v = Vector256<float>.Zero;
                            for (var id = d0; id < d1; id++)
                                for (var ih = h0; ih < h1; ih++)
                                {
                                    nint at = ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                    for (var iw = w0; iw < w1; iw++, at += c)
                                    {
                                        var n = Vector256.Load(counts + at);
                                        var higher = Vector256.GreaterThan(n, m);
                                        m = Vector256.ConditionalSelect(higher, n, m);
                                        v = Vector256.ConditionalSelect(higher, Vector256.Load(x + at), v);
                                    }
                                }

                            Vector256.Store(m, ym + c0);
                            Vector256.Store(v, yy + c0);
                        }

                    for (; c0 < c; c0++)
                    {
                        var m = float.NegativeInfinity;
                        var v = 0f;
                        for (var id = d0; id < d1; id++)
                            for (var ih = h0; ih < h1; ih++)
                            {
                                nint at = ((((nint)((id * i3[1]) + ih) * i3[2]) + w0) * c) + c0;
                                for (var iw = w0; iw < w1; iw++, at += c)
                                    if (counts[at] > m) { m = counts[at]; v = x[at]; }
                            }

                        ym[c0] = m;
                        yy[c0] = v;
                    }
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe void GateChannelsFirst(PoolGeometry g, float* x, float* counts, float* max, float* y)
    {
        int[] i3 = g.In3, o3 = g.Out3;
        for (var ch = 0; ch < g.Channels; ch++)
        {
            float* xc = x + ((nint)ch * g.InPixels), cc = counts + ((nint)ch * g.InPixels);
            for (int od = 0, op = ch * g.OutPixels; od < o3[0]; od++)
            {
                g.Window(0, od, out var d0, out var d1);
                for (var oh = 0; oh < o3[1]; oh++)
                {
                    g.Window(1, oh, out var h0, out var h1);
                    for (var ow = 0; ow < o3[2]; ow++, op++)
                    {
                        g.Window(2, ow, out var w0, out var w1);
                        var m = float.NegativeInfinity;
                        var v = 0f;
                        for (var id = d0; id < d1; id++)
                            for (var ih = h0; ih < h1; ih++)
                            {
                                nint row = (nint)((id * i3[1]) + ih) * i3[2];
                                for (var iw = w0; iw < w1; iw++)
                                    if (cc[row + iw] > m) { m = cc[row + iw]; v = xc[row + iw]; }
                            }

                        max[op] = m;
                        y[op] = v;
                    }
                }
            }
        }
    }

    /// <summary>
    /// <see cref="Count"/> over a pooling geometry (either layout) instead of window tables: counts += x, then each
    /// window's max of the counts through <see cref="Pool.MaxIncrease"/>, vectorized; when the windows tile the input,
    /// in one pass (each count is added to as its window reads it).
    /// </summary>
    public static void CountPooled(PoolGeometry g, ReadOnlySpan<float> x, int batch, Span<float> counts, Span<float> max, Span<float> y)
    {
        ArgumentNullException.ThrowIfNull(g);
        KernelMath.CheckLength(x.Length, (long)batch * g.InputSize, nameof(x));
        KernelMath.CheckLength(counts.Length, x.Length, nameof(counts));
        if (Pool.Tiles(g))
        {
            Pool.AddMaxIncrease(g, x, batch, counts, max, y);
            return;
        }

        System.Numerics.Tensors.TensorPrimitives.Add(counts, x, counts);
        Pool.MaxIncrease(g, counts, batch, max, y);
    }
}
