using LanguageExt;
using LanguageExt.Common;
using Snn.Runtime.Kernels;

namespace Snn.Training;

/// <summary>
/// <c>dj[k] += dy[k] · r'(j[k])</c> over a batch of currents laid out [batch, neurons] (neuron = k mod neurons), r the
/// rate function of one neuron type.
/// </summary>
public delegate void RateSlope(ReadOnlySpan<float> j, ReadOnlySpan<float> dy, Span<float> dj, int neurons);

/// <summary>
/// The derivatives of the rate functions (<see cref="NeuronType.Rate(float, int)"/> of a type's
/// <see cref="NeuronType.RateVersion"/>), which rate-mode training differentiates. Each neuron type says what it knows
/// (<see cref="NeuronType.Differentiable"/>): the ReLU family its <see cref="NeuronType.PiecewiseLinear"/> shape, run by
/// <see cref="Backward.ReluGradient"/> (TensorFlow's choice at a kink), the others <see cref="NeuronType.RateSlope"/>
/// pointwise. A new neuron type brings its derivative in its own file; nothing here changes.
/// </summary>
public static class RateSlopes
{
    /// <summary>The slope of <paramref name="rate"/>'s rate function, or why there is none here.</summary>
    public static Fin<RateSlope> Of(NeuronType rate) =>
        rate.PiecewiseLinear.Case is PiecewiseLinearRate p ? Relu(p.Amplitude, p.Slope, p.Threshold, p.MaxValue)
        : rate.Differentiable ? Pointwise(rate)
        : Fin<RateSlope>.Fail(Errors.Untrainable($"neurons of type {rate.Name}", "no differentiable rate function is known for them (supported: RectifiedLinear, LeakyReLU, LIFRate, Sigmoid, Tanh, RegularSpiking of those)"));

    static RateSlope Relu(float amplitude, Tensor slope, float threshold, float maxValue) => (j, dy, dj, neurons) =>
    {
        var scaled = new float[dy.Length];
        for (var k = 0; k < dy.Length; k++) scaled[k] = dy[k] * amplitude;
        if (slope.Length == 1)
        {
            Backward.ReluGradient(j, scaled, dj, slope[0], threshold, maxValue);
            return;
        }
        // PReLU: one slope per neuron.
        for (var k = 0; k < j.Length; k++)
            Backward.ReluGradient(j.Slice(k, 1), scaled.AsSpan(k, 1), dj.Slice(k, 1), slope[k % neurons], threshold, maxValue);
    };

    static RateSlope Pointwise(NeuronType rate) => (j, dy, dj, neurons) =>
    {
        for (var k = 0; k < j.Length; k++) dj[k] += (float)(dy[k] * rate.RateSlope(j[k], k % neurons));
    };
}
