using System.Diagnostics;
using LanguageExt;
using LanguageExt.Common;
using Snn.Runtime;

namespace Snn;

/// <summary>The time one operator (or all operators with one label) takes per step, and its share of the step.</summary>
public sealed record BenchOperator(string Op, double MsPerStep, double Share);

/// <summary>
/// One connection's kernel timed alone: ms per step, calls, dense-equivalent GFLOP/s and its share of the one-thread
/// peak; for spike inputs the measured density, the sample-steps each kernel ran, and ms per step with every sample
/// forced to the dense and to the event-driven kernel.
/// </summary>
public sealed record BenchConnection(string Op, int Index, double MsPerStep, long Calls, double Gflops, double PercentOfPeakOneThread, bool SpikeInput,
    double? InputDensity, long? EventSamples, long? DenseSamples, double? DenseMsPerStep, double? EventMsPerStep);

/// <summary>What <see cref="Benchmark.Run"/> measured (times are this machine's).</summary>
public sealed record BenchResult(
    Mode Mode, int Samples, int Steps, int Batch, int BatchRequested, int Threads, ConnectionPath ConnectionPath,
    double Seconds, double ImageStepsPerSecond, double MsPerStep, double DenseEquivalentGflops, double PeakFmaGflops, double PercentOfPeak,
    string PeakSource, double PeakFmaGflopsOneThread, Seq<BenchOperator> Operators, Seq<LayerActivity> Layers, Seq<BenchConnection> Connections,
    int BreakdownBatch, long PeakWorkingSetBytes, long ManagedHeapBytes, long ArenaBytes, long AllocatedBytesDuringRun);

/// <summary>
/// Simulation throughput of a converted network on this machine (<c>snn bench</c>): image-steps per second, time per
/// step, a per-operator breakdown, effective GFLOP/s of the dense-equivalent work against the measured FP32 FMA peak,
/// spike density per layer and peak memory.
/// </summary>
public static class Benchmark
{
    static long PeakWorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        return process.PeakWorkingSet64;
    }

    /// <summary>
    /// <paramref name="samples"/> samples per model input: the given data's rows, repeated when there are fewer, or
    /// uniform random values in [0, 1) (seed 0) when none is given.
    /// </summary>
    public static Seq<Tensor> Inputs(Option<Seq<Tensor>> data, Seq<Arr<int>> shapes, int samples) =>
        data.Match(ts => ts.Map(t => Take(t, samples)).Strict(), () => shapes.Map(s => RandomInput(samples, s)).Strict());

    /// <summary>
    /// <see cref="Inputs(Option{Seq{Tensor}}, Seq{Arr{int}}, int)"/> when <paramref name="samples"/> samples of the model's
    /// input shapes fit <paramref name="maxMemory"/> bytes; a model error naming the sizes otherwise.
    /// </summary>
    public static Either<Error, Seq<Tensor>> Inputs(Option<Seq<Tensor>> data, Seq<Arr<int>> shapes, int samples, long maxMemory)
    {
        var bytes = shapes.Fold(0L, (acc, s) => MemoryBudget.Add(acc, MemoryBudget.Bytes(s.Prepend(samples), sizeof(float)).IfNone(long.MaxValue)));
        return bytes <= maxMemory
            ? Inputs(data, shapes, samples)
            : Errors.Memory($"The benchmark's inputs ({samples} samples of {string.Join(", ", shapes.Map(Shapes.Show))})", bytes, maxMemory);
    }

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

    /// <summary>
    /// Measures <paramref name="compiled"/> on <paramref name="inputs"/>: a warm-up, the timed run, an untimed run for the
    /// spike counts, the per-operator breakdowns (<see cref="Breakdowns"/>) and the machine's FMA peak.
    /// </summary>
    public static Either<Error, BenchResult> Run(Converted compiled, SimOptions sim, Seq<Tensor> inputs, Mode mode, Action<int, int>? progress = null)
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
        var timed = simulator.Run(inputs, sim, new[] { sim.Steps }, progress);
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
            .Select(g => new BenchOperator(g.Key, g.Sum(p => p.Item2) * 1000.0 / Stopwatch.Frequency / sim.Steps, g.Sum(p => p.Item2) / (double)totalTicks))
            .OrderByDescending(x => x.MsPerStep).ToSeq().Strict();

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
            return new BenchConnection(OpLabel(p.op, program), p.i, msPerStep(ticks, p.i), calls[p.i], gf, 100 * gf / peakOne, counts is not null,
                counts?.Density, counts?.EventSamples, counts?.DenseSamples,
                counts is null ? (double?)null : msPerStep(denseTicks, p.i), counts is null ? (double?)null : msPerStep(eventTicks, p.i));
        }).ToSeq().Strict();
        return new BenchResult(mode, samples, sim.Steps, sim.BatchSize, requested, sim.Threads, sim.ConnectionPath,
            seconds, imageSteps / seconds, seconds * 1000 / sim.Steps * sim.BatchSize / samples * sim.Threads,
            gflops, peak, 100 * gflops / peak,
            $"measured: {sim.Threads} thread(s) × 12 independent FMA chains at the widest vector width, 2 flops per lane",
            peakOne, breakdown, layers, connections, plan.Batch,
            peakOfRun, GC.GetGCMemoryInfo().HeapSizeBytes, plan.ArenaBytes, allocated);
    }

    /// <summary>Rounds of the per-operator timing: each operator keeps its fastest round.</summary>
    public const int Rounds = 5;

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
