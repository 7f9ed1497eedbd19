using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Runtime;
using Snn.Ops;

namespace Snn;

/// <summary>
/// Data-based bias correction after calibration (Li et al. 2021, "A free lunch from ANN: towards efficient, accurate
/// spiking neural networks calibration", light calibration): a spiking layer's mean output over T steps falls short of
/// (or overshoots) its ANN activation because of quantization and the first steps' transient, and the error grows
/// through the layers. Layer by layer in network order, this pass simulates the network for T steps on the calibration
/// data, takes each output channel's mean error Δ = E[ANN − SNN] (over samples, positions and steps) and adds the
/// current that moves the output by Δ to the channel's bias: ΔJ = Δ·r/amplitude (r the neuron's per-channel scale).
/// Later layers are corrected on the already corrected earlier ones. Rate-mode meaning changes by design (the biases
/// are tuned for spiking at T steps); everything else is untouched.
/// </summary>
public static class BiasCorrection
{
    public const string Name = "bias-correction";


    /// <summary>Corrects the biases; <paramref name="progress"/> hears each corrected layer (done of the layers to correct).</summary>
    public static Either<Error, Network> Run(CalibrateOptions o, NodeFunctions functions, Network net, Seq<Tensor> data, Action<int, int>? progress = null)
    {
        var steps = o.BiasCorrectionSteps;
        if (steps <= 0) return net;
        var n = Math.Min(o.Samples, data.Head.Shape[0]);
        if (n <= 0) return Errors.Data("calibration data", "no calibration samples");
        var subset = Calibrate.Subset(data, n);

        var targets = net.Nodes.OfType<Ensemble>().Where(e => e.Neuron.Spiking && e.Neuron.BiasCorrected).ToList();
        if (targets.Count == 0) return net;
        var activations = MeanActivations(functions, net, subset, targets);
        if (activations.Case is not Dictionary<string, double[]> ann) return (Error)activations.Case!;
        var order = net.TopologicalOrder().IfNone(() => net.Nodes).Map(x => x.Id).ToList();
        var corrected = 0;
        progress?.Invoke(0, targets.Count);
        foreach (var id in order.Where(id => targets.Exists(t => t.Id == id)))
        {
            var e = (Ensemble)net.Node(id);
            var snn = SpikingMean(functions, net, e, subset, steps);
            if (snn.IsLeft) return snn.Match(_ => default!, err => Left<Error, Network>(err));
            var mean = snn.Match(v => v, _ => System.Array.Empty<double>());
            var error = new double[e.Size];
            for (var i = 0; i < e.Size; i++) error[i] = ann[id][i] - mean[i];
            var channels = Calibrate.ChannelsOf(net, e);
            var delta = channels.Match(of => PerChannel(error, of), () => error);
            var amplitude = e.Neuron.OutputAmplitude;
            var bias = e.Bias.ToArray();
            for (var i = 0; i < bias.Length; i++)
            {
                var r = e.NeuronScale.Match(s => s[i], () => 1f);
                bias[i] += (float)(delta[i] * r / amplitude);
            }
            var layer = e with { Bias = Tensor.Own(new[] { e.Size }, bias) };
            net = net with { Nodes = net.Nodes.Map(x => x.Id == id ? layer : x) };
            progress?.Invoke(++corrected, targets.Count);
        }
        return net;
    }

    /// <summary>Activations held per chunk of samples stay under this many bytes.</summary>
    const long ChunkBytes = 64L << 20;

    /// <summary>
    /// Each target ensemble's mean rate-mode output per neuron over the samples (the ANN's activations). The samples are
    /// evaluated in parallel, a chunk at a time, and summed in sample order: the same bits on any thread count.
    /// </summary>
    static Fin<Dictionary<string, double[]>> MeanActivations(NodeFunctions functions, Network net, Seq<Tensor> data, List<Ensemble> targets)
    {
        var sums = targets.ToDictionary(e => e.Id, e => new double[e.Size]);
        var n = data.Head.Shape[0];
        var perSample = Math.Max(1L, targets.Sum(e => (long)e.Size) * sizeof(float));
        var chunk = (int)Math.Clamp(ChunkBytes / perSample, 1, Math.Max(1, n));
        for (var start = 0; start < n; start += chunk)
        {
            var count = Math.Min(chunk, n - start);
            var values = new float[count][][];
            var evaluated = NetEval.ForEachSample(functions, net, data.Map(t => t.Rows(start, count)).ToSeq().Strict(), (b, all) =>
                values[b] = targets.Select(e => all[e.Id]).ToArray());
            if (evaluated.Case is Error failed) return failed;
            for (var b = 0; b < count; b++)
                for (var k = 0; k < targets.Count; k++)
                {
                    var v = values[b][k];
                    var s = sums[targets[k].Id];
                    for (var i = 0; i < v.Length; i++) s[i] += v[i];
                }
        }
        foreach (var s in sums.Values)
            for (var i = 0; i < s.Length; i++) s[i] /= n;
        return sums;
    }

    /// <summary>One ensemble's mean output per neuron over the samples and <paramref name="steps"/> steps of the spiking network.</summary>
    static Either<Error, double[]> SpikingMean(NodeFunctions functions, Network net, Ensemble e, Seq<Tensor> data, int steps)
    {
        var probed = net with { Probes = Seq1(new Probe("bias-correction", e.Id, None, false, Arr.create(e.Size), 0)) };
        return Compile.Back(LowerOptions.Default, OptimizeOptions.Default, probed).Bind(p => Interpreter.Run(p.Program, functions, data, new SimOptions(steps, Readout.Mean)).ToEither()).Map(outputs =>
        {
            var output = outputs.Head;
            var mean = new double[e.Size];
            var count = output.Shape[0];
            var span = output.Span;
            for (var b = 0; b < count; b++)
                for (var i = 0; i < e.Size; i++) mean[i] += span[b * e.Size + i];
            for (var i = 0; i < e.Size; i++) mean[i] /= count;
            return mean;
        });
    }

    /// <summary>Each neuron's error replaced by its channel's mean error.</summary>
    static double[] PerChannel(double[] error, int[] channelOf)
    {
        var channels = channelOf.Max() + 1;
        var sum = new double[channels];
        var count = new int[channels];
        for (var i = 0; i < error.Length; i++) { sum[channelOf[i]] += error[i]; count[channelOf[i]]++; }
        return channelOf.Select(c => sum[c] / count[c]).ToArray();
    }
}
