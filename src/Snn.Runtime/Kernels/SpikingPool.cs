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
    /// <see cref="Count"/> for channels-last data, vectorized over channels: pixel window o covers input pixels
    /// pixelIndices[pixelOffsets[o] .. pixelOffsets[o+1]); <paramref name="scratch"/> holds at least one channel row.
    /// </summary>
    public static void CountChannelsLast(ReadOnlySpan<float> x, int batch, int channels, ReadOnlySpan<int> pixelOffsets, ReadOnlySpan<int> pixelIndices,
        Span<float> counts, Span<float> max, Span<float> y, Span<float> scratch)
    {
        var inSize = x.Length / Math.Max(1, batch);
        var outPixels = pixelOffsets.Length - 1;
        var outSize = outPixels * channels;
        KernelMath.CheckLength(counts.Length, x.Length, nameof(counts));
        KernelMath.CheckLength(y.Length, (long)batch * outSize, nameof(y));
        System.Numerics.Tensors.TensorPrimitives.Add(counts, x, counts);
        var m = scratch.Slice(0, channels);
        for (var b = 0; b < batch; b++)
        {
            var c = counts.Slice(b * inSize, inSize);
            for (var o = 0; o < outPixels; o++)
            {
                var start = pixelOffsets[o];
                c.Slice(pixelIndices[start] * channels, channels).CopyTo(m);
                for (var k = start + 1; k < pixelOffsets[o + 1]; k++)
                    System.Numerics.Tensors.TensorPrimitives.Max(m, c.Slice(pixelIndices[k] * channels, channels), m);
                var at = b * outSize + o * channels;
                System.Numerics.Tensors.TensorPrimitives.Subtract(m, max.Slice(at, channels), y.Slice(at, channels));
                m.CopyTo(max.Slice(at, channels));
            }
        }
    }
}
