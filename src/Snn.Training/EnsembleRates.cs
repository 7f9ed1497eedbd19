using System.Numerics.Tensors;
using Snn.Compiler.Convert;

namespace Snn.Training;

/// <summary>
/// An ensemble's rate-mode forward pass over a batch, <c>J = bias + gain·s·Σin</c> and <c>out = rate(J)/s</c> (s its
/// per-neuron scale, 1 without), with <see cref="NetEval.Rate"/>'s expressions so the values are the same bits: samples
/// split over the work's threads, and rectified-linear neurons without per-neuron scales (the converter's default)
/// vectorized with the same roundings (a product, then a sum; <c>amplitude · max(0, J)</c>).
/// </summary>
internal static class EnsembleRates
{
    public static void Forward(Ensemble e, float[] sum, int batch, float[] j, float[] y, TransformWork work)
    {
        var rate = e.Neuron.RateVersion;
        var scale = e.NeuronScale.Map(r => r.ToArray()).IfNoneUnsafe((float[]?)null);
        var bias = e.Bias.ToArray();
        var n = e.Size;
        work.Samples(batch, (b0, b1) =>
        {
            for (var b = b0; b < b1; b++)
            {
                var s = sum.AsSpan(b * n, n);
                var jb = j.AsSpan(b * n, n);
                var yb = y.AsSpan(b * n, n);
                if (scale is null && rate is RectifiedLinear relu)
                {
                    TensorPrimitives.Multiply(s, e.Gain, jb);
                    TensorPrimitives.Add(bias, jb, jb);
                    TensorPrimitives.Max(jb, 0f, yb);
                    TensorPrimitives.Multiply(yb, relu.Amplitude, yb);
                    continue;
                }
                for (var i = 0; i < n; i++)
                {
                    if (scale is null)
                    {
                        jb[i] = bias[i] + e.Gain * s[i];
                        yb[i] = rate.Rate(jb[i], i);
                    }
                    else
                    {
                        jb[i] = bias[i] + e.Gain * scale[i] * s[i];
                        yb[i] = rate.Rate(jb[i], i) / scale[i];
                    }
                }
            }
        });
    }

    /// <summary><c>dSum = dJ · gain · s</c> (s the per-neuron scale, 1 without), elementwise as the scalar expression.</summary>
    public static float[] InputGradient(Ensemble e, float[] dj, float[]? scale)
    {
        var dSum = new float[dj.Length];
        if (scale is null)
        {
            TensorPrimitives.Multiply(dj, e.Gain, dSum);
            return dSum;
        }
        for (var q = 0; q < dj.Length; q++) dSum[q] = dj[q] * (e.Gain * scale[q % e.Size]);
        return dSum;
    }
}
