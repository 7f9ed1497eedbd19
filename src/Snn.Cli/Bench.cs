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
        from a in Args.Parse(argv, Commands.Set(new[] { "--data", "--input-scale", "--batch", "--steps", "--threads", "--mode", "--samples", "--readout" }, Args.ConverterValueOptions),
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
        from inputs in Data(a, model, samples)
        from run in Commands.Prepare(a, model, mode.Head, steps, stderr)
        select Measure(a.Flag("--json"), stdout, stderr, run.Net, run.Sim with { BatchSize = batch.IfNone(100), Threads = threads }, inputs, mode.Head);

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

    static int Measure(bool json, TextWriter stdout, TextWriter stderr, Converted compiled, SimOptions sim, Seq<Tensor> inputs, Mode mode)
    {
        var program = compiled.Program;
        var samples = inputs.Head.Shape[0];
        // Warm up the JIT and the caches on one batch.
        Interpreter.Run(program, inputs.Map(t => Take(t, Math.Min(sim.BatchSize, samples))).ToSeq(), sim with { Steps = 2 });

        var activity = new Snn.Runtime.Activity();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var clock = Stopwatch.StartNew();
        Interpreter.Run(program, inputs, sim, new[] { sim.Steps }, Progress.For(stderr, $"bench {sim.Steps} steps"), activity);
        var seconds = clock.Elapsed.TotalSeconds;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        var imageSteps = (double)samples * sim.Steps;

        // Per-operator breakdown: one batch on one thread, every operator timed.
        var plan = Plan.Create(program, Math.Min(sim.BatchSize, samples));
        for (var i = 0; i < inputs.Count; i++)
            plan.SetInput(i, inputs[i].Span.Slice(0, inputs[i].Length / samples * plan.Batch));
        var ticks = new long[program.Ops.Count];
        for (var t = 0; t < sim.Steps; t++) plan.Step(ticks);
        var totalTicks = Math.Max(1, ticks.Sum());
        var breakdown = program.Ops.Zip(ticks).GroupBy(p => OpLabel(p.Item1, program))
            .Select(g => (Op: g.Key, Ms: g.Sum(p => p.Item2) * 1000.0 / Stopwatch.Frequency / sim.Steps, Share: g.Sum(p => p.Item2) / (double)totalTicks))
            .OrderByDescending(x => x.Ms).ToList();

        var layers = Evaluation.Layers(compiled.Network, activity);
        var annMacs = Evaluation.Operations(compiled.Network, layers, sim.Steps).AnnMacs;
        var gflops = 2 * annMacs * imageSteps / seconds / 1e9;
        var peak = Peak.MeasureGflops(sim.Threads);
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var result = new
        {
            mode = mode.ToString().ToLowerInvariant(), samples, steps = sim.Steps, batch = sim.BatchSize, threads = sim.Threads,
            seconds, image_steps_per_second = imageSteps / seconds, ms_per_step = seconds * 1000 / sim.Steps * sim.BatchSize / samples * sim.Threads,
            dense_equivalent_gflops = gflops, peak_fma_gflops = peak, percent_of_peak = 100 * gflops / peak,
            peak_source = $"measured: {sim.Threads} thread(s) × 12 independent FMA chains at the widest vector width, 2 flops per lane",
            operators = breakdown.Select(b => new { op = b.Op, ms_per_step = b.Ms, share = b.Share }).ToArray(),
            spike_density = layers.Map(l => new { layer = l.Layer, spikes_per_neuron_per_step = l.MeanSpikesPerStep }).ToArray(),
            peak_working_set_bytes = process.PeakWorkingSet64, managed_heap_bytes = GC.GetGCMemoryInfo().HeapSizeBytes,
            arena_bytes = plan.ArenaBytes, allocated_bytes_during_run = allocated,
        };
        if (json)
        {
            stdout.WriteLine(JsonSerializer.Serialize(result));
            return 0;
        }
        stdout.WriteLine($"{result.mode}: {samples} samples x {sim.Steps} steps, batch {sim.BatchSize}, {sim.Threads} thread(s): {seconds:0.000} s");
        stdout.WriteLine($"  {result.image_steps_per_second:N0} image-steps/s; {result.ms_per_step:0.000} ms per step of one batch");
        stdout.WriteLine($"  dense-equivalent work {gflops:0.0} GFLOP/s = {result.percent_of_peak:0.0}% of the measured FP32 FMA peak {peak:0} GFLOP/s ({result.peak_source})");
        stdout.WriteLine($"  memory: peak working set {result.peak_working_set_bytes / 1e6:0.0} MB, arena {result.arena_bytes / 1e6:0.00} MB per worker, {allocated / 1e6:0.0} MB allocated during the run");
        stdout.WriteLine();
        stdout.WriteLine(Table.Render(new[] { "operator", "ms/step", "share" }, breakdown.Select(b => new[] { b.Op, $"{b.Ms:0.000}", $"{b.Share:P1}" })));
        if (!layers.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine(Table.Render(new[] { "layer", "spikes/neuron/step" }, layers.Map(l => new[] { l.Layer, $"{l.MeanSpikesPerStep:0.0000}" })));
        }
        return 0;
    }

    static string OpLabel(Snn.Compiler.Lower.Op op, Snn.Compiler.Lower.OpProgram p) => op switch
    {
        Snn.Compiler.Lower.ConvInc c => $"ConvInc {Shapes.Show(c.Spec.InputShape)}->{Shapes.Show(c.Spec.OutputShape)}",
        Snn.Compiler.Lower.DotInc d => $"DotInc {d.In}x{d.Out}",
        Snn.Compiler.Lower.SimNeurons n => $"SimNeurons {n.Neuron.Name}",
        Snn.Compiler.Lower.SimNeuronsAffine n => $"SimNeuronsAffine {n.Neuron.Name}",
        Snn.Compiler.Lower.PoolInc pl => $"PoolInc {pl.Spec.Kind.ToString().ToLowerInvariant()} {Shapes.Show(pl.Spec.InputShape)}",
        Snn.Compiler.Lower.MaxPoolOp m => $"MaxPoolOp {m.Method.ToString().ToLowerInvariant()} {Shapes.Show(m.Spec.InputShape)}",
        _ => op.GetType().Name,
    };
}
