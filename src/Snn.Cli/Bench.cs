using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn bench</c>: simulation throughput of a converted model on this machine (<see cref="Benchmark"/>), printed for
/// people or as JSON.
/// </summary>
public static class Bench
{
    public static Either<Error, int> Run(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Commands.Model(a)
        from mode in a.One("--mode").IsSome ? Commands.ModeOf(a, allowAll: false) : Right<Error, Seq<Mode>>(Seq1(Mode.Spiking))
        from _ in mode.Head == Mode.Keras ? Left<Error, Unit>(Errors.Usage("snn bench measures --mode rate or spiking")) : Right<Error, Unit>(unit)
        from _0 in Commands.ValidateSim(a, mode.Head)
        from batch in a.Int("--batch", min: 1)
        from threadsOpt in a.Int("--threads", min: 1)
        from samplesOpt in a.Int("--samples", min: 1)
        from model in Commands.Load(a, modelPath)
        from steps in Commands.Steps(a, mode.Head)
        let threads = threadsOpt.IfNone(Environment.ProcessorCount)
        let samples = samplesOpt.IfNone(batch.IfNone(100) * threads)
        from path in PathOf(a)
        from data in a.One("--data").IsSome ? Commands.Inputs(a, model, "--data", stderr).Map(Some) : Right<Error, Option<Seq<Tensor>>>(None)
        from request in Commands.Request(a)
        from run in Commands.Prepare(a, request, model, mode.Head, steps, stderr)
        from inputs in Benchmark.Inputs(data, model.InputShapes, samples, model.MaxMemory)
        from result in Benchmark.Run(run.Net, run.Sim with { BatchSize = batch.IfNone(100), Threads = threads, ConnectionPath = path }, inputs, mode.Head,
            a.Progress.For($"bench {steps} steps"))
        select Print(a.Flag("--json"), stdout, result);

    /// <summary>--connection-path adaptive|dense|event: the kernel of spike-input connections in the timed run (default adaptive).</summary>
    static Either<Error, ConnectionPath> PathOf(Args a) => a.One("--connection-path").Match(
        v => v switch
        {
            "adaptive" => Right<Error, ConnectionPath>(ConnectionPath.Adaptive),
            "dense" => Right<Error, ConnectionPath>(ConnectionPath.Dense),
            "event" => Right<Error, ConnectionPath>(ConnectionPath.EventDriven),
            _ => Left<Error, ConnectionPath>(Errors.Usage($"--connection-path takes adaptive, dense or event, got '{v}'")),
        },
        () => Right<Error, ConnectionPath>(ConnectionPath.Adaptive));

    static int Print(bool json, TextWriter stdout, BenchResult r)
    {
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(new
            {
                mode = r.Mode.ToString().ToLowerInvariant(), samples = r.Samples, steps = r.Steps, batch = r.Batch, batch_requested = r.BatchRequested, threads = r.Threads,
                connection_path = r.ConnectionPath switch { ConnectionPath.Dense => "dense", ConnectionPath.EventDriven => "event", _ => "adaptive" },
                seconds = r.Seconds, image_steps_per_second = r.ImageStepsPerSecond, ms_per_step = r.MsPerStep,
                dense_equivalent_gflops = r.DenseEquivalentGflops, peak_fma_gflops = r.PeakFmaGflops, percent_of_peak = r.PercentOfPeak,
                peak_source = r.PeakSource,
                peak_fma_gflops_one_thread = r.PeakFmaGflopsOneThread,
                operators = r.Operators.Map(b => new { op = b.Op, ms_per_step = b.MsPerStep, share = b.Share }).ToArray(),
                spike_density = r.Layers.Map(l => new { layer = l.Layer, spikes_per_neuron_per_step = l.MeanSpikesPerStep }).ToArray(),
                connections = r.Connections.Map(c => new
                {
                    op = c.Op, index = c.Index, ms_per_step = c.MsPerStep, calls = c.Calls, gflops = c.Gflops,
                    percent_of_peak_one_thread = c.PercentOfPeakOneThread, spike_input = c.SpikeInput,
                    input_density = c.InputDensity, event_samples = c.EventSamples, dense_samples = c.DenseSamples,
                    dense_ms_per_step = c.DenseMsPerStep, event_ms_per_step = c.EventMsPerStep,
                }).ToArray(),
                peak_working_set_bytes = r.PeakWorkingSetBytes, managed_heap_bytes = r.ManagedHeapBytes,
                arena_bytes = r.ArenaBytes, allocated_bytes_during_run = r.AllocatedBytesDuringRun,
            }));
            return 0;
        }
        stdout.WriteLine($"{r.Mode.ToString().ToLowerInvariant()}: {r.Samples} samples x {r.Steps} steps, batch {r.Batch}{(r.Batch < r.BatchRequested ? $" (--batch {r.BatchRequested}; plans of {r.Batch} fit the cache)" : "")}, {r.Threads} thread(s): {r.Seconds:0.000} s");
        stdout.WriteLine($"  {r.ImageStepsPerSecond:N0} image-steps/s; {r.MsPerStep:0.000} ms per step of one batch");
        stdout.WriteLine($"  dense-equivalent work {r.DenseEquivalentGflops:0.0} GFLOP/s = {r.PercentOfPeak:0.0}% of the measured FP32 FMA peak {r.PeakFmaGflops:0} GFLOP/s ({r.PeakSource})");
        stdout.WriteLine($"  memory: peak working set {r.PeakWorkingSetBytes / 1e6:0.0} MB (load, convert, plan and run), arena {r.ArenaBytes / 1e6:0.00} MB per worker, {r.AllocatedBytesDuringRun / 1e6:0.0} MB allocated during the run");
        stdout.WriteLine();
        stdout.WriteLine(Table.Render(new[] { "operator", "ms/step", "share" }, r.Operators.Map(b => new[] { b.Op, $"{b.MsPerStep:0.000}", $"{b.Share:P1}" })));
        if (!r.Connections.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine($"connections (one batch of {r.BreakdownBatch} on one thread; dense-equivalent GFLOP/s against the one-thread peak {r.PeakFmaGflopsOneThread:0} GFLOP/s;");
            stdout.WriteLine($"  spike inputs: measured density, sample-steps per kernel, and ms/step with every sample forced to one kernel;");
            stdout.WriteLine($"  every plan runs alone, each operator's fastest of {Benchmark.Rounds} rounds):");
            stdout.WriteLine(Table.Render(new[] { "connection", "ms/step", "GFLOP/s", "% peak", "density", "event/dense", "dense ms", "event ms", "speedup" },
                r.Connections.Map(c => new[]
                {
                    $"#{c.Index} {c.Op}", $"{c.MsPerStep:0.000}", $"{c.Gflops:0.0}", $"{c.PercentOfPeakOneThread:0.0}",
                    c.SpikeInput ? $"{c.InputDensity:0.0000}" : "-", c.SpikeInput ? $"{c.EventSamples}/{c.DenseSamples}" : "-",
                    c.SpikeInput ? $"{c.DenseMsPerStep:0.000}" : "-", c.SpikeInput ? $"{c.EventMsPerStep:0.000}" : "-",
                    c.SpikeInput && c.EventMsPerStep > 0 ? $"{c.DenseMsPerStep / c.EventMsPerStep:0.00}x" : "-",
                })));
        }
        if (!r.Layers.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine(Table.Render(new[] { "layer", "spikes/neuron/step" }, r.Layers.Map(l => new[] { l.Layer, $"{l.MeanSpikesPerStep:0.0000}" })));
        }
        return 0;
    }
}
