using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Runtime;
using Snn.Ops;

namespace Snn;

/// <summary>
/// How far one spiking ensemble's output, averaged over the steps, is from what the ANN computes there, as relative
/// RMS errors over every sample and neuron of the layer (both normalized by the ANN activation's RMS):
/// <see cref="Error"/> against the ANN's own activation (the error that has reached this layer), and
/// <see cref="LocalError"/> against the ANN's activation function applied to the spiking network's own (averaged)
/// input, i.e. the error this layer adds. For integrate-and-fire neurons with negative spikes the local error is the
/// rounding of the integrated input to whole spikes, at most half a spike per neuron over the run.
/// <see cref="AnnRms"/>: the RMS of the ANN's activation in this layer (what the errors are relative to).
/// </summary>
public sealed record LayerError(string Layer, string Ensemble, int Neurons, double Error, double LocalError, double AnnRms);

/// <summary>Where a spiking network's error against its rate semantics (the ANN) enters, layer by layer.</summary>
public static class Fidelity
{
    /// <summary>Probed values held per chunk of samples stay under this many bytes.</summary>
    const long ChunkBytes = 256L << 20;

    /// <summary>
    /// Simulates <paramref name="net"/> (spiking) for <see cref="SimOptions.Steps"/> steps on <paramref name="inputs"/>, reads
    /// every object's output averaged over the steps, and compares each spiking ensemble with the rate semantics of the
    /// same network (<see cref="NetEval"/>, what the ANN computes there) on the same inputs. Memory is bounded: the
    /// samples go through in chunks.
    /// </summary>
    public static Either<Error, Seq<LayerError>> PerLayer(NodeFunctions functions, Network net, Seq<Tensor> inputs, SimOptions sim, LowerOptions lower, OptimizeOptions optimize,
        Action<int, int>? progress = null)
    {
        if (sim.Temporal) return Errors.Usage("the per-layer error compares steady states; it does not apply to temporal models");
        var observed = net.Nodes.Filter(n => n is not (InputNode or ConstNode)).ToSeq();
        var probed = net with
        {
            Probes = observed.Map(n => new Probe("fidelity:" + n.Id, n.Id, None, false, Arr.create(n.Size), 0)).ToSeq(),
        };
        return Compile.Back(lower, optimize, probed).Bind(p => Measure(functions, net, observed, p.Program, inputs, sim with { Readout = Readout.Mean }, progress));
    }

    sealed class Sums
    {
        public double Error, Local, Ann;
    }

    static Either<Error, Seq<LayerError>> Measure(NodeFunctions functions, Network net, Seq<NetNode> observed, OpProgram program, Seq<Tensor> inputs, SimOptions sim, Action<int, int>? progress)
    {
        var n = inputs.Head.Shape[0];
        var perSample = observed.Sum(o => (long)o.Size) * sizeof(float);
        var chunk = (int)Math.Clamp(ChunkBytes / Math.Max(1, perSample), 1, n);
        var targets = net.Nodes.OfType<Ensemble>().Where(e => e.Neuron.Spiking).ToList();
        var incoming = net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => (IEnumerable<Connection>)g.ToList());
        var sums = targets.ToDictionary(e => e.Id, _ => new Sums());
        var simulator = new Simulator(program, functions);
        for (var start = 0; start < n; start += chunk)
        {
            var count = Math.Min(chunk, n - start);
            var part = inputs.Map(t => t.Rows(start, count)).ToSeq();
            var run = simulator.Run(part, sim);
            if (run.Case is not Seq<Tensor> spiking) return (Error)run.Case!;
            var column = observed.Zip(spiking).ToDictionary(x => x.Item1.Id, x => x.Item2);
            var bySample = new double[count, targets.Count, 3];
            var evaluated = NetEval.ForEachSample(functions, net, part, (b, ann) =>
            {
                // The spiking network's averaged value of every object for this sample; inputs and constants as given.
                var snn = new Dictionary<string, float[]>();
                foreach (var node in net.Nodes)
                    snn[node.Id] = node switch
                    {
                        InputNode or ConstNode => ann[node.Id],
                        _ => column[node.Id].Span.Slice(b * node.Size, node.Size).ToArray(),
                    };
                var local = targets.Select(e => NetEval.Rate(e, NetEval.Input(e, incoming.GetValueOrDefault(e.Id), snn))).ToList();
                for (var k = 0; k < targets.Count; k++)
                {
                    var e = targets[k];
                    var mine = snn[e.Id];
                    var reference = ann[e.Id];
                    double error = 0, added = 0, norm = 0;
                    for (var i = 0; i < e.Size; i++)
                    {
                        double d = mine[i] - reference[i], l = mine[i] - local[k][i];
                        error += d * d;
                        added += l * l;
                        norm += (double)reference[i] * reference[i];
                    }
                    bySample[b, k, 0] = error;
                    bySample[b, k, 1] = added;
                    bySample[b, k, 2] = norm;
                }
            });
            if (evaluated.Case is Error failed) return failed;
            // Summed in sample order, whatever order the samples were evaluated in (the same bits on any thread count).
            for (var b = 0; b < count; b++)
                for (var k = 0; k < targets.Count; k++)
                {
                    var sum = sums[targets[k].Id];
                    sum.Error += bySample[b, k, 0];
                    sum.Local += bySample[b, k, 1];
                    sum.Ann += bySample[b, k, 2];
                }
            progress?.Invoke(start + count, n);
        }
        return targets.Select(e =>
        {
            var s = sums[e.Id];
            var norm = Math.Sqrt(s.Ann);
            return new LayerError(e.Layer, e.Id, e.Size, Ratio(Math.Sqrt(s.Error), norm), Ratio(Math.Sqrt(s.Local), norm), Math.Sqrt(s.Ann / ((double)n * e.Size)));
        }).ToSeq().Strict();
    }

    static double Ratio(double a, double b) => b > 0 ? a / b : a > 0 ? double.PositiveInfinity : 0;


    /// <summary>The share of rows (samples) whose largest output is at the same index in both tensors (top-1 agreement).</summary>
    public static double Agreement(Tensor outputs, Tensor reference)
    {
        var n = reference.Shape[0];
        return n == 0 ? 1 : (double)Matches(outputs, reference) / n;
    }

    /// <summary>How many rows (samples) have their largest output at the same index in both tensors.</summary>
    public static int Matches(Tensor outputs, Tensor reference)
    {
        var n = reference.Shape[0];
        if (n == 0) return 0;
        var c = reference.Length / n;
        var same = 0;
        for (var i = 0; i < n; i++)
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(outputs.Span.Slice(i * c, c)) ==
                System.Numerics.Tensors.TensorPrimitives.IndexOfMax(reference.Span.Slice(i * c, c))) same++;
        return same;
    }

    /// <summary>‖outputs − reference‖₂ / ‖reference‖₂ over every value.</summary>
    // Kept over two MathNet norm calls: one pass over both tensors, float32 values differenced and squared in double.
    public static double RelativeError(Tensor outputs, Tensor reference)
    {
        double d = 0, r = 0;
        var o = outputs.Span;
        var f = reference.Span;
        for (var i = 0; i < f.Length; i++)
        {
            d += ((double)o[i] - f[i]) * ((double)o[i] - f[i]);
            r += (double)f[i] * f[i];
        }
        return Ratio(Math.Sqrt(d), Math.Sqrt(r));
    }
}
