using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Calibrate;

/// <summary>
/// Data-based normalization options (Rueckauer et al. 2017): the <see cref="Percentile"/>-th percentile of each
/// layer's non-zero activations over at most <see cref="Samples"/> calibration samples sets that layer's
/// firing-rate scale. <see cref="BiasShiftSteps"/> &gt; 0 adds Deng &amp; Gu's (2021) bias shift θ/(2T) for T steps.
/// </summary>
public sealed record CalibrateOptions(double Percentile = 99.9, int Samples = 1000, int BiasShiftSteps = 0)
{
    public static readonly CalibrateOptions Default = new();
}

/// <summary>What calibration chose for one layer.</summary>
public sealed record LayerScale(string Layer, float Activation, float Scale);

/// <summary>
/// Pass between convert and lower: for every ReLU-family ensemble, λ = the chosen percentile of its rate-mode
/// activations on calibration data; the ensemble is rescaled so an activation of λ fires one spike per step:
/// gain and bias × c and amplitude ÷ c with c = amplitude/(λ·dt), through <see cref="NeuronType.ForFiringRateScale"/>,
/// so rate-mode outputs are unchanged (exactly, for the ReLU family).
/// Other neuron types are left alone (scaling would change their output).
/// </summary>
public static class Calibrate
{
    public const string Name = "calibrate";

    public static Either<Error, (Network Network, Seq<LayerScale> Scales)> Run(CalibrateOptions o, Network net, Seq<Tensor> data)
    {
        if (o.Percentile <= 0 || o.Percentile > 100) return Errors.Usage($"--percentile must be in (0, 100], got {o.Percentile}");
        if (data.IsEmpty || data.Count != net.InputCount) return Errors.Data("calibration data", $"the network has {net.InputCount} inputs, got {data.Count} calibration arrays");
        var n = Math.Min(o.Samples, data.Head.Shape[0]);
        if (n <= 0) return Errors.Data("calibration data", "no calibration samples");
        var subset = data.Map(t => Tensor.Own(new[] { n }.Concat(t.Shape.Skip(1)).ToArray(), t.Span.Slice(0, t.Length / t.Shape[0] * n).ToArray())).ToSeq();

        var targets = net.Nodes.OfType<Ensemble>().Where(e => IsReluFamily(e.Neuron)).ToList();
        var collected = targets.ToDictionary(e => e.Id, _ => new List<float>[n]);
        NetEval.ForEachSample(net, subset, (b, values) =>
        {
            foreach (var e in targets)
            {
                var positive = new List<float>();
                foreach (var v in values[e.Id]) if (v > 0) positive.Add(v);
                collected[e.Id][b] = positive;
            }
        });

        var scales = new List<LayerScale>();
        var nodes = net.Nodes.Map(node =>
        {
            if (node is not Ensemble e || !collected.TryGetValue(e.Id, out var perSample)) return node;
            var all = perSample.SelectMany(x => x).ToArray();
            if (all.Length == 0) return node;     // never active on the calibration data: leave it
            var lambda = Percentile(all, o.Percentile);
            var amplitude = e.Neuron.OutputAmplitude;
            // Current rate at activation λ is λ/amplitude (per gain-scaled unit); make it 1/dt.
            var c = amplitude / (lambda * net.Dt);
            var bias = e.Bias.Map(v => v * c);
            if (o.BiasShiftSteps > 0) bias = bias.Map(v => v + 1f / (2f * o.BiasShiftSteps * net.Dt));
            scales.Add(new LayerScale(e.Layer, lambda, e.Gain * c));
            return e with { Gain = e.Gain * c, Bias = bias, Neuron = e.Neuron.ForFiringRateScale(c) };
        }).ToSeq();
        return (net with { Nodes = nodes }, scales.ToSeq());
    }

    static bool IsReluFamily(NeuronType n) => n is RectifiedLinear or SpikingRectifiedLinear or IntegrateAndFire
        or LeakyRectifiedLinear or SpikingLeakyRectifiedLinear;

    /// <summary>Linear-interpolated percentile (numpy's default).</summary>
    public static float Percentile(float[] values, double p)
    {
        System.Array.Sort(values);
        var rank = p / 100.0 * (values.Length - 1);
        var lo = (int)Math.Floor(rank);
        var hi = Math.Min(lo + 1, values.Length - 1);
        return (float)(values[lo] + (values[hi] - values[lo]) * (rank - lo));
    }
}
