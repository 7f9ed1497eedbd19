using System.Numerics.Tensors;

namespace Snn;

/// <summary>
/// Plain, readable reference kernels for one sample, shared by the evaluators that give each
/// compiler stage its meaning (Keras, legal, network). The runtime has its own optimized kernels,
/// which its tests check against these semantics.
/// </summary>
public static class RefKernels
{
    /// <summary>y = x·W (+ b) along the last axis: x is [rows, in], W is [in, out], y is [rows, out].</summary>
    public static void Dense(ReadOnlySpan<float> x, ReadOnlySpan<float> w, ReadOnlySpan<float> bias, int inSize, int outSize, Span<float> y)
    {
        var rows = x.Length / inSize;
        for (var r = 0; r < rows; r++)
        {
            var yr = y.Slice(r * outSize, outSize);
            if (bias.IsEmpty) yr.Clear(); else bias.CopyTo(yr);
            for (var i = 0; i < inSize; i++)
            {
                var xi = x[r * inSize + i];
                if (xi != 0f) TensorPrimitives.MultiplyAdd(w.Slice(i * outSize, outSize), xi, yr, yr);
            }
        }
    }

    /// <summary>y = conv(x, kernel) (+ bias per filter). Sets y.</summary>
    public static void Conv(ConvSpec s, ReadOnlySpan<float> kernel, ReadOnlySpan<float> bias, ReadOnlySpan<float> x, Span<float> y)
    {
        if (!s.ChannelsLast)
        {
            // Compute in channels-last layout and transpose back.
            var lastSpec = s with { ChannelsLast = true, InputShape = ToLast(s.InputShape.ToArray()).ToArr() };
            var xl = Transpose(x, s.InputShape.ToArray(), FirstToLast(s.InputShape.Count));
            var yl = new float[y.Length];
            Conv(lastSpec, kernel, bias, xl, yl);
            Transpose(yl, lastSpec.OutputShape.ToArray(), LastToFirst(s.InputShape.Count)).CopyTo(y);
            return;
        }
        var rank = s.SpatialRank;
        var inSp = s.InSpatial.ToArray();
        var outSp = s.OutSpatial.ToArray();
        var pad = s.PadBefore.ToArray();
        var k = s.Kernel.ToArray();
        var cin = s.InChannels;
        var cinG = cin / s.Groups;
        var coutG = s.Filters / s.Groups;
        var kCount = Shapes.Product(k);
        var outCount = Shapes.Product(outSp);
        var inStrides = Shapes.Strides(inSp);
        var outCoord = new int[rank];
        var kCoord = new int[rank];
        for (var o = 0; o < outCount; o++)
        {
            Unravel(o, outSp, outCoord);
            var yo = y.Slice(o * s.Filters, s.Filters);
            if (bias.IsEmpty) yo.Clear(); else bias.CopyTo(yo);
            for (var kk = 0; kk < kCount; kk++)
            {
                Unravel(kk, k, kCoord);
                var inIndex = 0;
                var inside = true;
                for (var d = 0; d < rank; d++)
                {
                    var p = outCoord[d] * s.Strides[d] + kCoord[d] * s.Dilation[d] - pad[d];
                    if (p < 0 || p >= inSp[d]) { inside = false; break; }
                    inIndex += p * inStrides[d];
                }
                if (!inside) continue;
                var xs = x.Slice(inIndex * cin, cin);
                for (var g = 0; g < s.Groups; g++)
                {
                    var yg = yo.Slice(g * coutG, coutG);
                    for (var ci = 0; ci < cinG; ci++)
                    {
                        var xv = xs[g * cinG + ci];
                        if (xv == 0f) continue;
                        var row = kernel.Slice((kk * cinG + ci) * s.Filters + g * coutG, coutG);
                        TensorPrimitives.MultiplyAdd(row, xv, yg, yg);
                    }
                }
            }
        }
    }

    /// <summary>Average (over real cells) or max pooling. Sets y.</summary>
    public static void Pool(PoolSpec s, ReadOnlySpan<float> x, Span<float> y)
    {
        if (!s.ChannelsLast)
        {
            var lastSpec = s with { ChannelsLast = true, InputShape = ToLast(s.InputShape.ToArray()).ToArr() };
            var xl = Transpose(x, s.InputShape.ToArray(), FirstToLast(s.InputShape.Count));
            var yl = new float[y.Length];
            Pool(lastSpec, xl, yl);
            Transpose(yl, lastSpec.OutputShape.ToArray(), LastToFirst(s.InputShape.Count)).CopyTo(y);
            return;
        }
        var rank = s.SpatialRank;
        var inSp = s.InSpatial.ToArray();
        var outSp = s.OutSpatial.ToArray();
        var pad = s.PadBefore.ToArray();
        var pool = s.Pool.ToArray();
        var c = s.Channels;
        var inStrides = Shapes.Strides(inSp);
        var outCoord = new int[rank];
        var kCoord = new int[rank];
        var kCount = Shapes.Product(pool);
        var outCount = Shapes.Product(outSp);
        for (var o = 0; o < outCount; o++)
        {
            Unravel(o, outSp, outCoord);
            var yo = y.Slice(o * c, c);
            yo.Fill(s.Kind == PoolKind.Max ? float.NegativeInfinity : 0f);
            var cells = 0;
            for (var kk = 0; kk < kCount; kk++)
            {
                Unravel(kk, pool, kCoord);
                var inIndex = 0;
                var inside = true;
                for (var d = 0; d < rank; d++)
                {
                    var p = outCoord[d] * s.Strides[d] + kCoord[d] - pad[d];
                    if (p < 0 || p >= inSp[d]) { inside = false; break; }
                    inIndex += p * inStrides[d];
                }
                if (!inside) continue;
                cells++;
                var xs = x.Slice(inIndex * c, c);
                if (s.Kind == PoolKind.Max) TensorPrimitives.Max(xs, yo, yo);
                else TensorPrimitives.Add(xs, yo, yo);
            }
            if (s.Kind == PoolKind.Average && cells > 0) TensorPrimitives.Multiply(yo, 1f / cells, yo);
        }
    }

    public static void Unravel(int index, int[] shape, int[] coord)
    {
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            coord[d] = index % shape[d];
            index /= shape[d];
        }
    }

    /// <summary>numpy transpose of one sample.</summary>
    public static float[] Transpose(ReadOnlySpan<float> x, int[] shape, int[] perm)
    {
        var index = Shapes.TransposeIndex(shape, perm);
        var y = new float[index.Length];
        for (var i = 0; i < y.Length; i++) y[i] = x[index[i]];
        return y;
    }

    /// <summary>Permutation moving axis 0 (channels) last: (1, 2, ..., 0).</summary>
    public static int[] FirstToLast(int rank) => Enumerable.Range(1, rank - 1).Append(0).ToArray();

    /// <summary>Permutation moving the last axis (channels) first: (r-1, 0, 1, ...).</summary>
    public static int[] LastToFirst(int rank) => new[] { rank - 1 }.Concat(Enumerable.Range(0, rank - 1)).ToArray();

    static int[] ToLast(int[] shape) => shape.Skip(1).Append(shape[0]).ToArray();
}

/// <summary>Keras activation functions by name, elementwise over one sample.</summary>
public static class Activations
{
    public static readonly System.Collections.Frozen.FrozenSet<string> Elementwise = System.Collections.Frozen.FrozenSet.ToFrozenSet(
    [
        "linear", "relu", "sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "swish", "silu",
        "hard_sigmoid", "exponential", "relu6", "leaky_relu", "gelu", "hard_swish", "hard_silu", "mish",
    ]);

    /// <summary>Applies activation <paramref name="name"/> in place; softmax over the last axis of size <paramref name="lastAxis"/>.</summary>
    public static bool Apply(string name, Span<float> x, int lastAxis)
    {
        switch (name)
        {
            case "linear": return true;
            case "softmax":
                for (var r = 0; r < x.Length / lastAxis; r++) Softmax(x.Slice(r * lastAxis, lastAxis));
                return true;
            case "sigmoid": TensorPrimitives.Sigmoid(x, x); return true;
            case "tanh": TensorPrimitives.Tanh(x, x); return true;
        }
        if (!Elementwise.Contains(name)) return false;
        for (var i = 0; i < x.Length; i++) x[i] = Scalar(name, x[i]);
        return true;
    }

    public static void Softmax(Span<float> x)
    {
        var max = TensorPrimitives.Max(x);
        var sum = 0.0;
        for (var i = 0; i < x.Length; i++) { x[i] = MathF.Exp(x[i] - max); sum += x[i]; }
        var inv = (float)(1.0 / sum);
        TensorPrimitives.Multiply(x, inv, x);
    }

    public static float Scalar(string name, float v) => name switch
    {
        "linear" => v,
        "relu" => MathF.Max(v, 0f),
        "relu6" => MathF.Min(MathF.Max(v, 0f), 6f),
        "leaky_relu" => v < 0 ? 0.2f * v : v,
        "sigmoid" => 1f / (1f + MathF.Exp(-v)),
        "tanh" => MathF.Tanh(v),
        "elu" => v > 0 ? v : MathF.Exp(v) - 1f,
        "selu" => 1.0507009873554805f * (v > 0 ? v : 1.6732632423543772f * (MathF.Exp(v) - 1f)),
        "softplus" => MathF.Log(1f + MathF.Exp(v)),
        "softsign" => v / (1f + MathF.Abs(v)),
        "swish" or "silu" => v / (1f + MathF.Exp(-v)),
        "hard_sigmoid" => MathF.Max(0f, MathF.Min(1f, v / 6f + 0.5f)),
        "hard_swish" or "hard_silu" => v * MathF.Max(0f, MathF.Min(1f, v / 6f + 0.5f)),
        "exponential" => MathF.Exp(v),
        "gelu" => 0.5f * v * (1f + (float)Erf(v / Math.Sqrt(2.0))),
        "mish" => v * MathF.Tanh(MathF.Log(1f + MathF.Exp(v))),
        _ => throw new ArgumentException($"unknown activation {name}"),
    };

    /// <summary>Keras ReLU layer: max_value clip, negative_slope below threshold.</summary>
    public static float Relu(float v, float negativeSlope, float threshold, float maxValue)
    {
        var y = v >= threshold ? v : negativeSlope * (v - threshold);
        return MathF.Min(y, maxValue);
    }

    static double Erf(double x)
    {
        // Abramowitz-Stegun 7.1.26 is too coarse for a reference; use a series/continued-fraction pair.
        var t = 1.0 / (1.0 + 0.5 * Math.Abs(x));
        var y = 1 - t * Math.Exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
                t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? y : -y;
    }
}
