using LanguageExt;
using LanguageExt.Common;
using MathNet.Numerics.Statistics;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Calibrate;

/// <summary>
/// Data-based normalization options (Rueckauer et al. 2017): the <see cref="Percentile"/>-th percentile of each
/// layer's non-zero activations over at most <see cref="Samples"/> calibration samples sets that layer's
/// firing-rate scale. <see cref="BiasShiftSteps"/> &gt; 0 adds Deng &amp; Gu's (2021) bias shift θ/(2T) for T steps.
/// <see cref="PerChannel"/> (the default) sets one scale per output channel of each Dense/Conv layer (channel-wise
/// normalization, Kim et al. 2020), so channels with small activations fire as often as the busiest ones; false
/// keeps one scale per layer.
/// <see cref="Resolution"/> K (default 2) makes an activation of λ fire K spikes per step: with signed integrate-and-fire
/// neurons T steps then round every activation like K·T steps at one spike per step would, with fewer events (a neuron
/// takes back fewer spikes over fewer steps; ResNet-8: K = 2 for 16 steps 71M accumulates, K = 1 for 32 steps 111M,
/// the same outputs).
/// <see cref="BiasCorrectionSteps"/> &gt; 0 then corrects each spiking layer's bias, layer by layer, by the mean
/// difference between the ANN's activations and the spiking network's mean output over that many steps on the
/// calibration data (Li et al. 2021, "A free lunch from ANN"); it needs a simulator, so the Snn library's
/// <c>Build.Run</c> runs it (<c>BiasCorrection</c>).
/// </summary>
public sealed record CalibrateOptions(double Percentile = 99.9, int Samples = 1000, int BiasShiftSteps = 0, bool PerChannel = true, int BiasCorrectionSteps = 0)
{
    /// <summary>Spikes per step at the calibrated activation λ (default 2; 1 was the default before, and is what files that do not say mean).</summary>
    public float Resolution { get; init; } = 2f;

    /// <summary>Per-layer spikes per step (Keras layer name → K), overriding <see cref="Resolution"/> for those layers.</summary>
    public Map<string, float> LayerResolutions { get; init; }

    /// <summary>
    /// Agreement targets: when any is given, the resolution of each layer is searched (by simulating the network on the
    /// calibration data, the Snn library's <c>ResolutionSearch</c>) for the fewest spikes whose top-1 agreement with the ANN
    /// reaches every target; the choice is then what <see cref="LayerResolutions"/> says.
    /// </summary>
    public Seq<AgreementTarget> Targets { get; init; }

    /// <summary>The resolution a layer is calibrated to.</summary>
    public float ResolutionOf(string layer) => LayerResolutions.Find(layer).IfNone(Resolution);

    public static readonly CalibrateOptions Default = new();
}

/// <summary>Top-1 agreement with the ANN that a spiking network should reach at a number of steps.</summary>
public sealed record AgreementTarget(double Agreement, int Steps)
{
    public override string ToString() => $"{Agreement.ToString(System.Globalization.CultureInfo.InvariantCulture)} at {Steps} steps";
}

/// <summary>What calibration chose for one layer: its calibrated activation λ, the firing-rate scale, and the spikes per step at λ.</summary>
public sealed record LayerScale(string Layer, float Activation, float Scale, float Resolution);

/// <summary>
/// What calibration measured on the data, before any scale is chosen: each calibrated ensemble's activation λ (the
/// percentile of its non-zero activations) and, per channel, λ_layer / λ_channel for each neuron.
/// </summary>
public sealed record Measured(Map<string, float> Activation, Map<string, Tensor> ChannelFactor);

/// <summary>
/// Pass between convert and lower, in two parts. <see cref="Measure"/>: for every ReLU-family ensemble, λ = the chosen
/// percentile of its rate-mode activations on calibration data. <see cref="Apply"/>: each ensemble is rescaled so an
/// activation of λ fires K spikes per step (K = its layer's resolution): gain and bias × c and amplitude ÷ c with
/// c = K·amplitude/(λ·dt), through <see cref="NeuronType.ForFiringRateScale"/>, so rate-mode outputs are unchanged
/// (exactly, for the ReLU family). Other neuron types are left alone (scaling would change their output).
/// </summary>
public static class Calibrate
{
    public const string Name = "calibrate";

    /// <summary>Measures and applies; <paramref name="functions"/> gives the code of the network's function nodes.</summary>
    public static Either<Error, (Network Network, Seq<LayerScale> Scales)> Run(CalibrateOptions o, NodeFunctions functions, Network net, Seq<Tensor> data) =>
        Measure(o, functions, net, data).Map(m => Apply(o, m, net));

    /// <summary>The ensembles calibration scales: the ReLU family.</summary>
    public static List<Ensemble> Targets(Network net) => net.Nodes.OfType<Ensemble>().Where(e => e.Neuron.Calibrated).ToList();

    public static Either<Error, Measured> Measure(CalibrateOptions o, NodeFunctions functions, Network net, Seq<Tensor> data,
        Action<int, int>? progress = null)
    {
        if (o.Percentile <= 0 || o.Percentile > 100) return Errors.Usage($"--percentile must be in (0, 100], got {o.Percentile}");
        var invalid = o.LayerResolutions.Values.Prepend(o.Resolution).Where(k => !(k > 0) || float.IsInfinity(k)).ToList();
        if (invalid.Count > 0) return Errors.Usage($"--resolution must be a positive number, got {invalid[0]}");
        if (o.Targets.Exists(t => !(t.Agreement > 0 && t.Agreement <= 1) || t.Steps <= 0))
            return Errors.Usage("--target-agreement expects a share in (0, 1] and a positive step count, e.g. 0.98 or 0.98@16");
        if (data.IsEmpty || data.Count != net.InputCount) return Errors.Data("calibration data", $"the network has {net.InputCount} inputs, got {data.Count} calibration arrays");
        var n = Math.Min(o.Samples, data.Head.Shape[0]);
        if (n <= 0) return Errors.Data("calibration data", "no calibration samples");

        var targets = Targets(net);
        var layerNames = targets.Select(e => e.Layer).Distinct().ToList();
        var unknown = o.LayerResolutions.Keys.Where(k => !layerNames.Contains(k)).ToList();
        if (unknown.Count > 0)
            return Errors.Usage($"--resolution names {string.Join(", ", unknown.Select(u => $"'{u}'"))}, which {(unknown.Count == 1 ? "is not a calibrated layer" : "are not calibrated layers")}; the calibrated layers are {string.Join(", ", layerNames)}");

        var subset = Subset(data, n);
        var channels = o.PerChannel
            ? targets.Where(e => e.Neuron.AmplitudeOnlyScaling).Choose(e => ChannelsOf(net, e).Map(c => (e.Id, c))).ToDictionary(p => p.Id, p => p.c)
            : new Dictionary<string, int[]>();
        // Only the top tail of each layer's (and channel's) non-zero activations decides its percentile: keep at most
        // the largest (1 − p/100)·(values it could see) + 2, so memory does not grow with the data set for high percentiles.
        var layers = targets.ToDictionary(e => e.Id, e => new Tail(TailSize(o.Percentile, (long)n * e.Size)));
        var perChannel = channels.ToDictionary(kv => kv.Key, kv =>
        {
            var counts = kv.Value.GroupBy(c => c).ToDictionary(g => g.Key, g => g.Count());
            return Enumerable.Range(0, counts.Count == 0 ? 0 : counts.Keys.Max() + 1)
                .Select(c => new Tail(TailSize(o.Percentile, (long)n * counts.GetValueOrDefault(c)))).ToArray();
        });
        var seen = 0;
        var evaluated = NetEval.ForEachSample(functions, net, subset, (_, values) =>
        {
            if (progress is not null) progress(Interlocked.Increment(ref seen), n);
            foreach (var e in targets)
            {
                var v = values[e.Id];
                var of = channels.GetValueOrDefault(e.Id);
                var layer = layers[e.Id];
                lock (layer)
                    for (var i = 0; i < v.Length; i++)
                    {
                        if (!(v[i] > 0)) continue;
                        layer.Add(v[i]);
                        if (of is not null) perChannel[e.Id][of[i]].Add(v[i]);
                    }
            }
        });
        if (evaluated.Case is Error failed) return failed;

        var activation = Map<string, float>();
        var factor = Map<string, Tensor>();
        foreach (var e in targets)
        {
            var layer = layers[e.Id];
            if (layer.Count == 0) continue;     // never active on the calibration data: left alone
            var lambda = layer.Percentile(o.Percentile);
            activation = activation.Add(e.Id, lambda);
            if (channels.TryGetValue(e.Id, out var of)) factor = factor.Add(e.Id, ChannelScales(perChannel[e.Id], of, lambda, o.Percentile));
        }
        return new Measured(activation, factor);
    }

    /// <summary>The calibrated network: every measured ensemble scaled so λ fires its layer's resolution in spikes per step.</summary>
    public static (Network Network, Seq<LayerScale> Scales) Apply(CalibrateOptions o, Measured m, Network net)
    {
        var scaled = net.Nodes.Map(node => node is Ensemble e && m.Activation.ContainsKey(e.Id) ? Scale(o, m, net.Dt, e) : (node, None)).Strict();
        return (net with { Nodes = scaled.Map(x => x.Item1).Strict() }, scaled.Choose(x => x.Item2).Strict());
    }

    /// <summary>One calibrated ensemble scaled to its resolution, and what was chosen for it.</summary>
    static (NetNode, Option<LayerScale>) Scale(CalibrateOptions o, Measured m, float dt, Ensemble e)
    {
        var lambda = m.Activation[e.Id];
        var amplitude = e.Neuron.OutputAmplitude;
        var resolution = o.ResolutionOf(e.Layer);
        // Current rate at activation λ is λ/amplitude (per gain-scaled unit); make it Resolution/dt.
        var c = amplitude * resolution / (lambda * dt);
        var perNeuron = m.ChannelFactor.Find(e.Id);
        var bias = perNeuron.Match(r => Tensor.Own(new[] { e.Size }, e.Bias.Span.ToArray().Select((v, i) => v * c * r[i]).ToArray()), () => e.Bias.Map(v => v * c));
        if (o.BiasShiftSteps > 0) bias = bias.Map(v => v + 1f / (2f * o.BiasShiftSteps * dt));
        return (e with { Gain = e.Gain * c, Bias = bias, Neuron = e.Neuron.ForFiringRateScale(c), NeuronScale = perNeuron },
            new LayerScale(e.Layer, lambda, e.Gain * c, resolution));
    }

    /// <summary>The first <paramref name="n"/> samples of each input.</summary>
    public static Seq<Tensor> Subset(Seq<Tensor> data, int n) =>
        data.Map(t => n >= t.Shape[0] ? t : t.Rows(0, n)).ToSeq();

    /// <summary>How many of the largest of at most <paramref name="values"/> values decide the <paramref name="percentile"/>-th percentile.</summary>
    internal static long TailSize(double percentile, long values) => (long)Math.Ceiling((1 - percentile / 100) * values) + 2;

    /// <summary>
    /// Per neuron, λ_layer / λ_channel: the factor that makes an activation of its channel's percentile λ_channel
    /// fire one spike per step (a channel never active on the data keeps the layer's scale).
    /// </summary>
    static Tensor ChannelScales(Tail[] byChannel, int[] channelOf, float lambda, double percentile)
    {
        var factor = byChannel.Select(t => t.Count == 0 ? 1f : lambda / t.Percentile(percentile)).ToArray();
        return Tensor.Own(new[] { channelOf.Length }, channelOf.Select(ch => factor[ch]).ToArray());
    }

    /// <summary>
    /// The largest values of a stream (at most <c>size</c> of them are needed) and how many values it had: enough for
    /// every percentile whose rank falls within the kept tail. Values go into a buffer of twice that size; when it
    /// fills, the smaller half is dropped, so the buffer never holds more than 2·size values.
    /// </summary>
    // Kept: a bounded-memory stream of the largest values; MathNet's quantiles need every value in memory.
    internal sealed class Tail(long size)
    {
        readonly int keep = (int)Math.Max(1, Math.Min(size, System.Array.MaxLength / 2));
        float[] buffer = System.Array.Empty<float>();
        int used;
        float floor = float.NegativeInfinity;   // values below it can no longer be among the largest `keep`

        public long Count { get; private set; }

        public void Add(float v)
        {
            Count++;
            if (v < floor) return;
            if (used == buffer.Length)
            {
                if (used >= 2 * keep) Shrink();
                else System.Array.Resize(ref buffer, (int)Math.Min(2L * keep, Math.Max(16L, 2L * buffer.Length)));
                if (v < floor) return;
            }
            buffer[used++] = v;
        }

        void Shrink()
        {
            System.Array.Sort(buffer, 0, used);
            System.Array.Copy(buffer, used - keep, buffer, 0, keep);   // the largest `keep`, ascending
            used = keep;
            floor = buffer[0];
        }

        /// <summary>numpy's linear-interpolated percentile of every value added (its rank lies within the kept tail).</summary>
        // Hand-written on purpose: the rank counts every value added, not only the kept tail MathNet's quantiles would see.
        public float Percentile(double p)
        {
            var top = buffer.AsSpan(0, used).ToArray();
            System.Array.Sort(top);                  // ascending; top[^1] is the largest value added
            var rank = p / 100.0 * (Count - 1);
            var lo = (long)Math.Floor(rank);
            var hi = Math.Min(lo + 1, Count - 1);
            float At(long ascending) => top[checked((int)(top.Length - Count + ascending))];
            return (float)(At(lo) + (At(hi) - At(lo)) * (rank - lo));
        }
    }

    /// <summary>
    /// The output channel of each neuron (or element) of a Dense or Conv layer, from the one connection that feeds the
    /// object: channels-last data (and Dense) cycle through the channels, channels-first data hold one channel per
    /// block. None for objects fed otherwise (ensembles so fed keep one scale).
    /// </summary>
    public static Option<int[]> ChannelsOf(Network net, NetNode e)
    {
        var feeds = net.Connections.Filter(c => c.Post == e.Id).ToList();
        if (feeds.Count(c => c.Transform is ConvT or DenseT) != 1) return None;
        return feeds.Single(c => c.Transform is ConvT or DenseT).Transform switch
        {
            ConvT conv when conv.OutSize == e.Size => Some(Enumerable.Range(0, e.Size)
                .Select(i => conv.Spec.ChannelsLast ? i % conv.Spec.Filters : i / (e.Size / conv.Spec.Filters)).ToArray()),
            DenseT dense when dense.OutSize == e.Size => Some(Enumerable.Range(0, e.Size).Select(i => i % dense.Kernel.Shape[1]).ToArray()),
            _ => None,
        };
    }

    /// <summary>
    /// Linear-interpolated percentile of all <paramref name="values"/> (numpy's default method, 'linear', is Hyndman and
    /// Fan's definition 7: MathNet's <see cref="QuantileDefinition.R7"/>); reorders <paramref name="values"/>.
    /// </summary>
    public static float Percentile(float[] values, double p) =>
        ArrayStatistics.QuantileCustomInplace(values, p / 100, QuantileDefinition.R7);
}
