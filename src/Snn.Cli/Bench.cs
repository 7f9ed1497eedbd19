using System.Diagnostics;
using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn bench</c>: simulation throughput of a converted model on this machine: image-steps per second, time per
/// step, a per-operator breakdown, effective GFLOP/s of the dense-equivalent work against the measured FP32 FMA
/// peak, spike density per layer and peak memory.
/// </summary>
public static class Bench
{
    public static Either<Error, int> Run(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Commands.Set(new[] { "--data", "--input-scale", "--batch", "--steps", "--threads", "--mode", "--samples", "--readout", "--connection-path" }, Args.ConverterValueOptions),
            Commands.Set(Args.ConverterFlags, new[] { "--json" }))
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
        from inputs in Data(a, model, samples)
        from run in Commands.Prepare(a, model, mode.Head, steps, stderr)
        from code in Measure(a.Flag("--json"), stdout, stderr, Progress.Of(a), run.Net, run.Sim with { BatchSize = batch.IfNone(100), Threads = threads, ConnectionPath = path }, inputs, mode.Head)
        select code;

    static long PeakWorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.PeakWorkingSet64;
    }

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

    static Either<Error, Seq<Tensor>> Data(Args a, Loaded model, int samples) =>
        a.One("--data").IsSome
            ? Commands.Inputs(a, model, "--data", requireAll: true).Map(ts => ts.Map(t => Take(t, samples)).ToSeq())
            : Right<Error, Seq<Tensor>>(model.InputShapes.Map(s => RandomInput(samples, s)).ToSeq());

    static Tensor Take(Tensor t, int n)
    {
        var rows = Math.Min(n, t.Shape[0]);
        var size = t.Length / t.Shape[0];
        var data = new float[n * size];
        for (var r = 0; r < n; r++) t.Span.Slice(r % rows * size, size).CopyTo(data.AsSpan(r * size, size));
        return Tensor.Own(new[] { n }.Concat(t.Shape.Skip(1)).ToArray(), data);
    }

    static Tensor RandomInput(int n, Arr<int> shape)
    {
        var r = new Random(0);
        var data = new float[n * Shapes.Product(shape)];
        for (var i = 0; i < data.Length; i++) data[i] = (float)r.NextDouble();
        return Tensor.Own(new[] { n }.Concat(shape).ToArray(), data);
    }

    static Either<Error, int> Measure(bool json, TextWriter stdout, TextWriter stderr, Progress progress, Converted compiled, SimOptions sim, Seq<Tensor> inputs, Mode mode)
    {
        var program = compiled.Program;
        var samples = inputs.Head.Shape[0];
        // Plans take --batch samples at most, fewer when their arena would not fit the cache (SimOptions.CacheBytesPerWorker).
        var requested = sim.BatchSize;
        sim = sim with { BatchSize = Interpreter.PlanBatch(program, sim, samples) };
        // Warm up the JIT and the caches, one batch per worker: the workers' plans are made here, and the timed run
        // takes them from the simulator (plan once, step many), as PyTorch's peer builds its model before timing.
        var simulator = new Simulator(program, compiled.Functions);
        if (simulator.Run(inputs.Map(t => Take(t, Math.Min(sim.BatchSize * sim.Workers, samples))).ToSeq(), sim with { Steps = 2 }).Case is Error failed)
            return failed;

        // The timed run simulates only; spike counts per layer (for the density table) come from a second, untimed run.
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        var timed = simulator.Run(inputs, sim, new[] { sim.Steps }, progress.For(stderr, $"bench {sim.Steps} steps"));
        var seconds = clock.Elapsed.TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        // The process's peak so far: loading, conversion (and calibration), planning and the run itself, what a predict
        // or evaluate run of this network needs. The breakdowns below make plans of their own and come after.
        var peakOfRun = PeakWorkingSet();
        var activity = new Snn.Runtime.Activity();
        if (timed.Case is Error timedFailed) return timedFailed;
        if (simulator.Run(inputs, sim, new[] { sim.Steps }, null, activity).Case is Error counted) return counted;
        var imageSteps = (double)samples * sim.Steps;

        // Per-operator breakdown: one batch on one thread, every operator timed, operators that only depend on the
        // held inputs run once (as in the run above). Then the same with spike-input connections forced to their dense
        // and to their event-driven kernel (both give the same values, so the network runs identically).
        var runs = Breakdowns(program, compiled.Functions, sim, inputs, samples, ConnectionPath.Adaptive, ConnectionPath.Dense, ConnectionPath.EventDriven);
        var (plan, ticks, calls) = runs[0];
        var paths = plan.Paths;
        var (denseTicks, eventTicks) = (runs[1].Ticks, runs[2].Ticks);
        var totalTicks = Math.Max(1, ticks.Sum());
        var breakdown = program.Ops.Zip(ticks).GroupBy(p => OpLabel(p.Item1, program))
            .Select(g => (Op: g.Key, Ms: g.Sum(p => p.Item2) * 1000.0 / Stopwatch.Frequency / sim.Steps, Share: g.Sum(p => p.Item2) / (double)totalTicks))
            .OrderByDescending(x => x.Ms).ToList();

        var layers = Evaluation.Layers(compiled.Network, activity);
        var annMacs = Evaluation.Operations(compiled.Network, layers, sim.Steps).AnnMacs;
        var gflops = 2 * annMacs * imageSteps / seconds / 1e9;
        var peak = Peak.MeasureGflops(sim.Threads);
        var peakOne = sim.Threads == 1 ? peak : Peak.MeasureGflops(1);
        var msPerStep = (long[] t, int i) => t[i] * 1000.0 / Stopwatch.Frequency / sim.Steps;
        var connections = program.Ops.Select((op, i) => (op, i)).Where(p => p.op is Snn.Ops.ConvInc or Snn.Ops.DotInc).Select(p =>
        {
            var seconds1 = ticks[p.i] / (double)Stopwatch.Frequency;
            var flops = 2.0 * Macs(p.op, plan.Batch) * calls[p.i];
            var gf = seconds1 > 0 ? flops / seconds1 / 1e9 : 0;
            var counts = paths[p.i];
            return new
            {
                op = OpLabel(p.op, program), index = p.i, ms_per_step = msPerStep(ticks, p.i), calls = calls[p.i], gflops = gf,
                percent_of_peak_one_thread = 100 * gf / peakOne, spike_input = counts is not null,
                input_density = counts?.Density, event_samples = counts?.EventSamples, dense_samples = counts?.DenseSamples,
                dense_ms_per_step = counts is null ? (double?)null : msPerStep(denseTicks, p.i),
                event_ms_per_step = counts is null ? (double?)null : msPerStep(eventTicks, p.i),
            };
        }).ToArray();
        var result = new
        {
            mode = mode.ToString().ToLowerInvariant(), samples, steps = sim.Steps, batch = sim.BatchSize, batch_requested = requested, threads = sim.Threads,
            connection_path = sim.ConnectionPath switch { ConnectionPath.Dense => "dense", ConnectionPath.EventDriven => "event", _ => "adaptive" },
            seconds, image_steps_per_second = imageSteps / seconds, ms_per_step = seconds * 1000 / sim.Steps * sim.BatchSize / samples * sim.Threads,
            dense_equivalent_gflops = gflops, peak_fma_gflops = peak, percent_of_peak = 100 * gflops / peak,
            peak_source = $"measured: {sim.Threads} thread(s) × 12 independent FMA chains at the widest vector width, 2 flops per lane",
            peak_fma_gflops_one_thread = peakOne,
            operators = breakdown.Select(b => new { op = b.Op, ms_per_step = b.Ms, share = b.Share }).ToArray(),
            spike_density = layers.Map(l => new { layer = l.Layer, spikes_per_neuron_per_step = l.MeanSpikesPerStep }).ToArray(),
            connections,
            peak_working_set_bytes = peakOfRun, managed_heap_bytes = GC.GetGCMemoryInfo().HeapSizeBytes,
            arena_bytes = plan.ArenaBytes, allocated_bytes_during_run = allocated,
        };
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(result));
            return 0;
        }
        stdout.WriteLine($"{result.mode}: {samples} samples x {sim.Steps} steps, batch {sim.BatchSize}{(sim.BatchSize < requested ? $" (--batch {requested}; plans of {sim.BatchSize} fit the cache)" : "")}, {sim.Threads} thread(s): {seconds:0.000} s");
        stdout.WriteLine($"  {result.image_steps_per_second:N0} image-steps/s; {result.ms_per_step:0.000} ms per step of one batch");
        stdout.WriteLine($"  dense-equivalent work {gflops:0.0} GFLOP/s = {result.percent_of_peak:0.0}% of the measured FP32 FMA peak {peak:0} GFLOP/s ({result.peak_source})");
        stdout.WriteLine($"  memory: peak working set {result.peak_working_set_bytes / 1e6:0.0} MB (load, convert, plan and run), arena {result.arena_bytes / 1e6:0.00} MB per worker, {allocated / 1e6:0.0} MB allocated during the run");
        stdout.WriteLine();
        stdout.WriteLine(Table.Render(new[] { "operator", "ms/step", "share" }, breakdown.Select(b => new[] { b.Op, $"{b.Ms:0.000}", $"{b.Share:P1}" })));
        if (connections.Length > 0)
        {
            stdout.WriteLine();
            stdout.WriteLine($"connections (one batch of {plan.Batch} on one thread; dense-equivalent GFLOP/s against the one-thread peak {peakOne:0} GFLOP/s;");
            stdout.WriteLine($"  spike inputs: measured density, sample-steps per kernel, and ms/step with every sample forced to one kernel;");
            stdout.WriteLine($"  every plan runs alone, each operator's fastest of {Rounds} rounds):");
            stdout.WriteLine(Table.Render(new[] { "connection", "ms/step", "GFLOP/s", "% peak", "density", "event/dense", "dense ms", "event ms", "speedup" },
                connections.Select(c => new[]
                {
                    $"#{c.index} {c.op}", $"{c.ms_per_step:0.000}", $"{c.gflops:0.0}", $"{c.percent_of_peak_one_thread:0.0}",
                    c.spike_input ? $"{c.input_density:0.0000}" : "-", c.spike_input ? $"{c.event_samples}/{c.dense_samples}" : "-",
                    c.spike_input ? $"{c.dense_ms_per_step:0.000}" : "-", c.spike_input ? $"{c.event_ms_per_step:0.000}" : "-",
                    c.spike_input && c.event_ms_per_step > 0 ? $"{c.dense_ms_per_step / c.event_ms_per_step:0.00}x" : "-",
                })));
        }
        if (!layers.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine(Table.Render(new[] { "layer", "spikes/neuron/step" }, layers.Map(l => new[] { l.Layer, $"{l.MeanSpikesPerStep:0.0000}" })));
        }
        return 0;
    }

    /// <summary>Rounds of the per-operator timing: each operator keeps its fastest round.</summary>
    const int Rounds = 5;

    /// <summary>
    /// One batch stepped sim.Steps times on this thread by one plan per path choice, in <see cref="Rounds"/> rounds: in
    /// each round every plan runs all the steps from step 0, one plan after the other (so each runs alone in the caches,
    /// as a real run does), and each operator keeps its fastest round (the machine's other jobs slow some rounds, and
    /// the plans taking turns round by round meet them alike). Per plan: per-operator ticks and calls of one round.
    /// </summary>
    static (Plan Plan, long[] Ticks, long[] Calls)[] Breakdowns(Snn.Ops.OpProgram program, NodeFunctions functions, SimOptions sim,
        Seq<Tensor> inputs, int samples, params ConnectionPath[] choices)
    {
        var runs = choices.Select(path =>
        {
            var plan = Plan.Create(program, functions, Math.Min(sim.BatchSize, samples));
            plan.HoistInvariants = !sim.Temporal && sim.Encoding == Snn.Runtime.Encoding.Constant;
            plan.PathChoice = path;
            for (var i = 0; i < inputs.Count; i++)
                plan.SetInput(i, inputs[i].Span.Slice(0, inputs[i].Length / samples * plan.Batch));
            var best = new long[program.Ops.Count];
            System.Array.Fill(best, long.MaxValue);
            return (Plan: plan, Ticks: best, Calls: new long[program.Ops.Count]);
        }).ToArray();
        var round = new long[program.Ops.Count];
        // Two warm-up steps compile what each path choice runs; every round then starts from step 0.
        foreach (var (plan, _, calls) in runs)
            for (var t = 0; t < 2; t++) plan.Step(round, calls);
        for (var r = 0; r < Rounds; r++)
        {
            foreach (var (plan, best, calls) in runs)
            {
                plan.Reset();
                System.Array.Clear(round);
                System.Array.Clear(calls);
                for (var t = 0; t < sim.Steps; t++) plan.Step(round, calls);
                for (var i = 0; i < best.Length; i++) best[i] = Math.Min(best[i], round[i]);
            }
        }
        return runs;
    }

    /// <summary>Multiply-adds of one call of a connection over a batch (dense-equivalent: zeros count).</summary>
    static double Macs(Snn.Ops.Op op, int batch) => op switch
    {
        Snn.Ops.ConvInc c => (double)batch * Shapes.Product(c.Spec.OutputShape) * Shapes.Product(c.Spec.Kernel) * (c.Spec.InChannels / c.Spec.Groups),
        Snn.Ops.DotInc d => (double)batch * d.Rows * d.In * d.Out,
        _ => 0,
    };

    static string OpLabel(Snn.Ops.Op op, Snn.Ops.OpProgram p) => op switch
    {
        Snn.Ops.ConvInc c => $"ConvInc {Shapes.Show(c.Spec.InputShape)}->{Shapes.Show(c.Spec.OutputShape)}",
        Snn.Ops.DotInc d => $"DotInc {d.In}x{d.Out}",
        Snn.Ops.SimNeurons n => $"SimNeurons {n.Neuron.Name}",
        Snn.Ops.SimNeuronsAffine n => $"SimNeuronsAffine {n.Neuron.Name}",
        Snn.Ops.PoolInc pl => $"PoolInc {pl.Spec.Kind.ToString().ToLowerInvariant()} {Shapes.Show(pl.Spec.InputShape)}",
        Snn.Ops.MaxPoolOp m => $"MaxPoolOp {m.Method.ToString().ToLowerInvariant()} {Shapes.Show(m.Spec.InputShape)}",
        _ => op.GetType().Name,
    };
}
