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
/// <see cref="NeuronType.RateVersion"/>), which rate-mode training differentiates. At a kink the ReLU family takes
/// <see cref="Backward.ReluGradient"/>'s (TensorFlow's) choice; LIFRate's slope at its threshold (J = 1, where the rate
/// leaves 0 with infinite slope) is taken as 0, as the rate itself is 0 there.
/// </summary>
public static class RateSlopes
{
    /// <summary>The slope of <paramref name="rate"/>'s rate function, or why there is none here.</summary>
    public static Fin<RateSlope> Of(NeuronType rate) => rate switch
    {
        RectifiedLinear r => Relu(r.Amplitude, Tensor.Scalar(0f), 0f, float.PositiveInfinity),
        LeakyRectifiedLinear l => Relu(l.Amplitude, l.Slope, l.Threshold, l.MaxValue),
        LifRate l => Pointwise(j => LifSlope(j, l.TauRc, l.TauRef, l.Amplitude)),
        Sigmoid s => Pointwise(j =>
        {
            var e = 1.0 / (1.0 + Math.Exp(-(double)j));
            return e * (1.0 - e) / s.TauRef;
        }),
        Tanh t => Pointwise(j =>
        {
            var h = Math.Tanh(j);
            return (1.0 - h * h) / t.TauRef;
        }),
        RegularSpiking s => Of(s.Base).Map(inner => Scaled(inner, s.Amplitude)),
        _ => Fin<RateSlope>.Fail(Errors.Untrainable($"neurons of type {rate.Name}", "no differentiable rate function is known for them (supported: RectifiedLinear, LeakyReLU, LIFRate, Sigmoid, Tanh, RegularSpiking of those)")),
    };

    /// <summary>d/dJ of amplitude / (τref + τrc·log(1 + 1/(J − 1))) for J &gt; 1 (0 at and below the threshold).</summary>
    public static double LifSlope(float j, float tauRc, float tauRef, float amplitude)
    {
        double x = (double)j - 1.0;
        if (!(x > 0)) return 0;
        double d = tauRef + tauRc * Math.Log(1.0 + 1.0 / x);
        return amplitude * tauRc / (x * (x + 1.0) * d * d);
    }

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

    static RateSlope Pointwise(Func<float, double> slope) => (j, dy, dj, _) =>
    {
        for (var k = 0; k < j.Length; k++) dj[k] += (float)(dy[k] * slope(j[k]));
    };

    static RateSlope Scaled(RateSlope inner, float amplitude) => (j, dy, dj, neurons) =>
    {
        var scaled = new float[dy.Length];
        for (var k = 0; k < dy.Length; k++) scaled[k] = dy[k] * amplitude;
        inner(j, scaled, dj, neurons);
    };
}
