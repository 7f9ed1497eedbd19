using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>Activation, quantizer, affine and loss gradients (see the design note on <see cref="Backward"/>).</summary>
public static partial class Backward
{
    /// <summary>
    /// The input gradient of Keras' ReLU layer (<see cref="Activations.Relu"/>: <c>y = min(x ≥ threshold ? x :
    /// negativeSlope·(x − threshold), maxValue)</c>; relu (0, 0, +∞), leaky relu (α, 0, +∞), relu6 (0, 0, 6)):
    /// <c>dx += dy · r'(x)</c> with <c>r'(x) = 1</c> above the threshold while below the cap, <c>negativeSlope</c> at and
    /// below the threshold while below the cap, 0 where the cap holds. At the kinks TensorFlow's choice: relu's gradient
    /// at 0 is 0 (ReluGrad passes where x &gt; 0), leaky relu's at 0 is α (x &gt; 0 ? 1 : α), relu6's is 0 at both 0 and 6
    /// (0 &lt; x &lt; 6).
    /// </summary>
    public static void ReluGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, float negativeSlope = 0f, float threshold = 0f, float maxValue = float.PositiveInfinity)
    {
        KernelMath.CheckLength(dy.Length, x.Length, nameof(dy));
        KernelMath.CheckLength(dx.Length, x.Length, nameof(dx));
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // The scalar loop's comparisons and its product and sum per lane (the same bits), eight elements at a time.
            var (thr, cap, alpha) = (Vector256.Create(threshold), Vector256.Create(maxValue), Vector256.Create(negativeSlope));
            for (; i + Vector256<float>.Count <= x.Length; i += Vector256<float>.Count)
            {
                var v = Vector256.Create(x.Slice(i, Vector256<float>.Count));
                var above = Vector256.GreaterThan(v, thr);
                var slope = Vector256.ConditionalSelect(above,
                    Vector256.ConditionalSelect(Vector256.LessThan(v, cap), Vector256<float>.One, Vector256<float>.Zero),
                    Vector256.ConditionalSelect(Vector256.LessThan(alpha * (v - thr), cap), alpha, Vector256<float>.Zero));
                var d = Vector256.Create(dx.Slice(i, Vector256<float>.Count));
                (d + (Vector256.Create(dy.Slice(i, Vector256<float>.Count)) * slope)).CopyTo(dx.Slice(i, Vector256<float>.Count));
            }
        }

        for (; i < x.Length; i++)
        {
            float v = x[i];
            float slope = v > threshold ? (v < maxValue ? 1f : 0f) : (negativeSlope * (v - threshold) < maxValue ? negativeSlope : 0f);
            dx[i] += dy[i] * slope;
        }
    }

    /// <summary>
    /// The spike-count quantizer: <c>y = min(max(0, floor(offset + steps · x)), steps · maxRate) / steps</c>, the rate a
    /// neuron shows over <paramref name="steps"/> steps (offset: its initial voltage in units of the threshold, e.g. 0 or
    /// 0.5; <paramref name="maxRate"/>: the most spikes per step, +∞ for no cap). Sets y.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<float> y, int steps, float offset = 0f, float maxRate = float.PositiveInfinity) =>
        Quantize(x, y, steps, new ReadOnlySpan<float>(in offset), maxRate);

    /// <summary>
    /// <see cref="Quantize(ReadOnlySpan{float}, Span{float}, int, float, float)"/> with one offset per neuron: x and y are
    /// rows of <c>offsets.Length</c> neurons (a batch), element k takes <c>offsets[k mod offsets.Length]</c>.
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> x, Span<float> y, int steps, ReadOnlySpan<float> offsets, float maxRate = float.PositiveInfinity)
    {
        KernelMath.CheckLength(y.Length, x.Length, nameof(y));
        CheckSteps(steps);
        CheckOffsets(offsets, x.Length);
        float cap = steps * maxRate;
        for (int i = 0, k = 0; i < x.Length; i++, k = k + 1 == offsets.Length ? 0 : k + 1)
        {
            float count = MathF.Floor(offsets[k] + (steps * x[i]));
            y[i] = MathF.Min(MathF.Max(0f, count), cap) / steps;
        }
    }

    /// <summary>
    /// Straight-through gradient of <see cref="Quantize(ReadOnlySpan{float}, Span{float}, int, float, float)"/>: the floor
    /// is read as the identity, so <c>dx += dy</c> exactly where the clips do not hold, <c>0 &lt; offset + steps · x &lt;
    /// steps · maxRate</c> (the unclipped, differentiable line <c>(offset + steps·x)/steps</c> has slope 1 in x), and
    /// nothing elsewhere; at both ends the gradient is 0, as relu's at 0.
    /// </summary>
    public static void QuantizeGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, int steps, float offset = 0f, float maxRate = float.PositiveInfinity) =>
        QuantizeGradient(x, dy, dx, steps, new ReadOnlySpan<float>(in offset), maxRate);

    /// <summary>The straight-through gradient with one offset per neuron (see <see cref="Quantize(ReadOnlySpan{float}, Span{float}, int, ReadOnlySpan{float}, float)"/>).</summary>
    public static void QuantizeGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, int steps, ReadOnlySpan<float> offsets, float maxRate = float.PositiveInfinity)
    {
        KernelMath.CheckLength(dy.Length, x.Length, nameof(dy));
        KernelMath.CheckLength(dx.Length, x.Length, nameof(dx));
        CheckSteps(steps);
        CheckOffsets(offsets, x.Length);
        float cap = steps * maxRate;
        for (int i = 0, k = 0; i < x.Length; i++, k = k + 1 == offsets.Length ? 0 : k + 1)
        {
            float v = offsets[k] + (steps * x[i]);
            if (v > 0f && v < cap)
            {
                dx[i] += dy[i];
            }
        }
    }

    private static void CheckOffsets(ReadOnlySpan<float> offsets, int length)
    {
        if (offsets.Length == 0 || length % offsets.Length != 0)
        {
            throw new ArgumentException($"Length {length} is not a multiple of {offsets.Length} offsets.", nameof(offsets));
        }
    }

    private static void CheckSteps(int steps)
    {
        if (steps < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(steps), steps, "steps must be at least 1.");
        }
    }

    /// <summary>
    /// Gradients of the per-channel affine <c>y[r, i] = x[r, i] · a[i] + bias[i]</c> (an unfolded batch normalization;
    /// <see cref="Elementwise.AffineSet"/> with a of length n), x and dy [rows, n] (rows: batch × pixels, channels-last):
    /// <c>dx += dy · a</c> (skipped when dx is empty), <c>da[i] += Σ_r dy[r, i] · x[r, i]</c>, <c>dbias[i] += Σ_r dy[r,
    /// i]</c> (each skipped when empty). Rows are summed in ascending order into a zeroed sum that is then added: the bits
    /// depend on nothing but the inputs.
    /// </summary>
    public static void AffineGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int rows, ReadOnlySpan<float> a, Span<float> dx, Span<float> da, Span<float> dbias)
    {
        KernelMath.CheckNonNegative(rows, nameof(rows));
        int n = a.Length;
        KernelMath.CheckLength(x.Length, (long)rows * n, nameof(x));
        KernelMath.CheckLength(dy.Length, (long)rows * n, nameof(dy));
        if (!dx.IsEmpty) KernelMath.CheckLength(dx.Length, (long)rows * n, nameof(dx));
        if (!da.IsEmpty) KernelMath.CheckLength(da.Length, n, nameof(da));
        if (!dbias.IsEmpty) KernelMath.CheckLength(dbias.Length, n, nameof(dbias));
        var sa = new float[n];
        var sb = new float[n];
        for (int r = 0; r < rows; r++)
        {
            var xr = x.Slice(r * n, n);
            var dyr = dy.Slice(r * n, n);
            if (!dx.IsEmpty)
            {
                var d = dx.Slice(r * n, n);
                TensorPrimitives.MultiplyAdd(dyr, a, d, d);
            }

            TensorPrimitives.MultiplyAdd(dyr, xr, sa, sa);
            TensorPrimitives.Add(dyr, sb, sb);
        }

        if (!da.IsEmpty) TensorPrimitives.Add(da, sa, da);
        if (!dbias.IsEmpty) TensorPrimitives.Add(dbias, sb, dbias);
    }

    /// <summary>
    /// Softmax cross-entropy averaged over the batch, Keras' <c>categorical_crossentropy(from_logits=True)</c>:
    /// <c>L = (1/batch) Σ_b Σ_k −target[b, k] · log softmax(logits[b])_k</c>, returned (in double). Unless
    /// <paramref name="dLogits"/> is empty, <c>dLogits[b, k] += (softmax(logits[b])_k · Σ_k target[b, k] − target[b, k]) /
    /// batch</c> (softmax − onehot for one-hot or probability targets). Softmax is taken in double from the max-shifted
    /// logits.
    /// </summary>
    public static double SoftmaxCrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<float> target, int batch, int classes, Span<float> dLogits)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckNonNegative(classes, nameof(classes));
        KernelMath.CheckLength(logits.Length, (long)batch * classes, nameof(logits));
        KernelMath.CheckLength(target.Length, (long)batch * classes, nameof(target));
        if (!dLogits.IsEmpty) KernelMath.CheckLength(dLogits.Length, (long)batch * classes, nameof(dLogits));
        if (batch == 0 || classes == 0)
        {
            return 0;
        }

        double loss = 0;
        var p = new double[classes];
        for (int b = 0; b < batch; b++)
        {
            var z = logits.Slice(b * classes, classes);
            var t = target.Slice(b * classes, classes);
            double max = double.NegativeInfinity;
            for (int k = 0; k < classes; k++) max = Math.Max(max, z[k]);
            double sum = 0;
            for (int k = 0; k < classes; k++)
            {
                p[k] = Math.Exp(z[k] - max);
                sum += p[k];
            }

            double logSum = Math.Log(sum);
            double mass = 0;
            for (int k = 0; k < classes; k++)
            {
                mass += t[k];
                if (t[k] != 0f)
                {
                    loss -= t[k] * (z[k] - max - logSum);
                }
            }

            if (!dLogits.IsEmpty)
            {
                var d = dLogits.Slice(b * classes, classes);
                for (int k = 0; k < classes; k++)
                {
                    d[k] += (float)(((p[k] / sum * mass) - t[k]) / batch);
                }
            }
        }

        return loss / batch;
    }

    /// <summary>
    /// Softmax cross-entropy with class labels (Keras' <c>sparse_categorical_crossentropy(from_logits=True)</c>): as
    /// <see cref="SoftmaxCrossEntropy(ReadOnlySpan{float}, ReadOnlySpan{float}, int, int, Span{float})"/> with the one-hot
    /// target of each label.
    /// </summary>
    public static double SoftmaxCrossEntropy(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, int classes, Span<float> dLogits)
    {
        KernelMath.CheckNonNegative(classes, nameof(classes));
        int batch = labels.Length;
        var onehot = new float[(long)batch * classes];
        for (int b = 0; b < batch; b++)
        {
            if ((uint)labels[b] >= (uint)classes)
            {
                throw new ArgumentOutOfRangeException(nameof(labels), labels[b], $"Label {b} is outside 0..{classes - 1}.");
            }

            onehot[((long)b * classes) + labels[b]] = 1f;
        }

        return SoftmaxCrossEntropy(logits, onehot, batch, classes, dLogits);
    }

    /// <summary>
    /// Mean squared error over all elements (Keras' <c>mean_squared_error</c>, averaged over the batch):
    /// <c>L = mean((y − target)²)</c>, returned (in double); unless <paramref name="dy"/> is empty, <c>dy += 2 (y − target)
    /// / count</c>.
    /// </summary>
    public static double MeanSquaredError(ReadOnlySpan<float> y, ReadOnlySpan<float> target, Span<float> dy)
    {
        KernelMath.CheckLength(target.Length, y.Length, nameof(target));
        if (!dy.IsEmpty) KernelMath.CheckLength(dy.Length, y.Length, nameof(dy));
        if (y.IsEmpty)
        {
            return 0;
        }

        double loss = 0;
        int count = y.Length;
        for (int i = 0; i < count; i++)
        {
            double e = (double)y[i] - target[i];
            loss += e * e;
            if (!dy.IsEmpty)
            {
                dy[i] += (float)(2 * e / count);
            }
        }

        return loss / count;
    }
}
