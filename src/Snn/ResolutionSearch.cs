using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Runtime;
using Snn.Compiler.Saved;

namespace Snn;

/// <summary>
/// Chooses each layer's resolution (spikes per step at its calibrated activation, <see cref="CalibrateOptions.Resolution"/>)
/// so that the spiking network's top-1 agreement with the ANN on the calibration data reaches every
/// <see cref="CalibrateOptions.Targets"/>, with few spikes. With negative spikes a layer at resolution K rounds its
/// activation to steps of λ/(K·T), so the layers differ in how much their rounding moves the output; a uniform
/// resolution pays for the most sensitive layer everywhere (mixed-precision quantization, here in spikes).
/// <para>
/// Two phases, each a simulation of the calibration data per trial: (1) every layer's resolution doubles from
/// --resolution (and its per-layer values) until the targets are met; (2) layer by layer, the layers with the most
/// synaptic events first, each is halved back towards its starting value while the targets stay met. The search only
/// raises resolutions above the starting ones. A trial meets a target when its agreement passes it by one standard error
/// (<see cref="Required"/>). Deterministic: the same data and options give the same choice.
/// </para>
/// </summary>
public static class ResolutionSearch
{
    public const string Name = "resolution-search";

    /// <summary>The largest factor phase 1 raises the starting resolutions by before it reports the targets out of reach.</summary>
    public const int MaxFactor = 64;

    /// <summary>Samples a trial simulates between checks of whether a target is still within reach.</summary>
    public const int ChunkSamples = 100;


    public static Either<Error, CalibrateOptions> Run(CompileOptions compile, SimOptions sim, Action<string>? log, Func<string, Action<int, int>?>? progress,
        CalibrateOptions o, Measured measured, NodeFunctions functions, Network net, Seq<Tensor> data)
    {
        if (o.Targets.IsEmpty) return o;
        var ensembles = Calibrate.Targets(net).Where(e => e.Neuron.Spiking && measured.Activation.ContainsKey(e.Id)).ToList();
        var layers = ensembles.Select(e => e.Layer).Distinct().ToList();
        if (layers.Count == 0) return o;   // a rate network: resolution does not change it
        var subset = Calibrate.Subset(data, Math.Min(o.Samples, data.Head.Shape[0]));
        var checkpoints = o.Targets.Map(t => t.Steps).Distinct().OrderBy(s => s).ToArray();
        var spikingSim = sim with { Steps = checkpoints[^1] };

        var reference = Compile.Back(compile.Lower, compile.Optimize, NetworkFile.RateMode(net, Set<string>()))
            .Bind(p => Interpreter.Run(p.Program, functions, subset, new SimOptions(1, Readout.Last, sim.BatchSize, sim.Threads)).ToEither())
            .Map(outputs => outputs.Head);
        if (reference.IsLeft) return reference.Map(_ => o);
        var ann = reference.Match(r => r, _ => default!);

        var n = subset.Head.Shape[0];
        // A trial stops as soon as its disagreements exceed what a target allows on the n samples: it cannot meet it.
        var allowed = o.Targets.Map(t => n * (1 - Required(t.Agreement, n)) + 1e-9).ToArray();
        var chunks = Enumerable.Range(0, (n + ChunkSamples - 1) / ChunkSamples).Select(c => (From: c * ChunkSamples, Count: Math.Min(ChunkSamples, n - c * ChunkSamples)))
            .Select(c => (c.From, Inputs: subset.Map(t => t.Rows(c.From, c.Count)), Ann: ann.Rows(c.From, c.Count))).ToList();
        var targetCheckpoint = o.Targets.Map(t => System.Array.IndexOf(checkpoints, t.Steps)).ToArray();
        var trials = 0;
        Either<Error, (bool Met, Activity Activity)> Trial(Map<string, float> resolutions, string what)
        {
            var options = o with { LayerResolutions = resolutions };
            var (network, _) = Calibrate.Apply(options, measured, net);
            return Compile.Back(compile.Lower, compile.Optimize, network).Bind<(bool Met, Activity Activity)>(p =>
            {
                var simulator = new Simulator(p.Program, functions);
                var activity = new Activity();
                trials++;
                var report = progress?.Invoke($"resolution search, trial {trials} ({what})");
                var disagree = new int[o.Targets.Count];
                var done = 0;
                foreach (var chunk in chunks.TakeWhile(_ => !disagree.Where((d, k) => d > allowed[k]).Any()))
                {
                    var count = chunk.Ann.Shape[0];
                    var run = simulator.Run(chunk.Inputs, spikingSim, checkpoints, report is null ? null : (d, _) => report(chunk.From + d, n), activity);
                    if (run.Case is not Seq<Tensor>[] outs) return (Error)run.Case!;
                    for (var k = 0; k < disagree.Length; k++)
                        disagree[k] += count - Fidelity.Matches(outs[targetCheckpoint[k]].Head, chunk.Ann);
                    done += count;
                }
                var met = done == n && disagree.Select((d, k) => d <= allowed[k]).All(x => x);
                log?.Invoke($"resolution search, trial {trials} ({what}): agreement " +
                            string.Join(", ", o.Targets.Select((t, k) => $"{1 - (double)disagree[k] / done:0.000} at {t.Steps} steps")) +
                            (met ? " (met)" : done < n ? $" on the first {done} samples (stopped: a target is out of reach)" : ""));
                return (met, activity);
            });
        }

        var start = toMap(layers.Select(l => (l, o.ResolutionOf(l))));
        Map<string, float> Scaled(int f) => start.Map(k => k * f);

        // Phase 1: raise every layer together until the targets hold.
        var factor = 1;
        var current = Trial(start, "the starting resolutions");
        while (current.Match(r => !r.Met, _ => false) && factor < MaxFactor)
        {
            factor *= 2;
            current = Trial(Scaled(factor), $"{factor}x everywhere");
        }
        if (current.IsLeft) return current.Map(_ => o);
        var (met, activity) = current.Match(r => r, _ => default);
        if (!met)
            return Errors.Usage($"--target-agreement: {string.Join(", ", o.Targets)} is out of reach on the calibration data with up to {MaxFactor} times the resolution " +
                                "(spikes per step at each layer's calibrated activation); give more steps or a lower target");
        var chosen = Scaled(factor);

        // Phase 2: give back resolution where the targets do not need it, the layers with the most synaptic events first.
        foreach (var layer in layers.OrderByDescending(l => Events(net, ensembles.Where(e => e.Layer == l), activity)).ThenBy(l => l, StringComparer.Ordinal))
            while (chosen[layer] > start[layer])
            {
                var lower = chosen.SetItem(layer, Math.Max(start[layer], chosen[layer] / 2));
                var trial = Trial(lower, $"{layer} at {lower[layer]:0.##}");
                if (trial.IsLeft) return trial.Map(_ => o);
                if (!trial.Match(r => r.Met, _ => false)) break;
                chosen = lower;
            }
        return o with { LayerResolutions = chosen };
    }

    /// <summary>
    /// The agreement a trial must show on <paramref name="n"/> calibration samples to count as meeting a target: the
    /// target plus 1.645 standard errors of a share measured on n samples, 1.645·√(A(1 − A)/n) (a one-sided 95% bound).
    /// The search tries many settings near the target and keeps those that pass, so without the margin it would keep
    /// the ones that passed by chance (ResNet-8 on natural crops: 0.982 on the calibration crops, 0.977 on others).
    /// </summary>
    // Kept: 1.645 is the one-sided 95% z README states; MathNet's Normal.InvCDF(0, 1, 0.95) = 1.64485… would be another margin.
    public static double Required(double target, int n) => Math.Min(1, target + 1.645 * Math.Sqrt(target * (1 - target) / Math.Max(1, n)));

    /// <summary>Synaptic events a layer's spikes caused: each ensemble's spikes times the accumulates one spike costs downstream.</summary>
    static double Events(Network net, IEnumerable<Ensemble> ensembles, Activity activity) =>
        ensembles.Sum(e => activity.Spikes.TryGetValue(e.Id, out var s)
            ? s.Sum() * net.Connections.Filter(c => c.Pre == e.Id).Sum(c => Transform.Macs(c.Transform)) / Math.Max(1, e.Size)
            : 0);
}
