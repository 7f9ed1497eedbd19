using System.Runtime.CompilerServices;

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
