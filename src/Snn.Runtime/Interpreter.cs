using System.Numerics.Tensors;
using LanguageExt;
using LanguageExt.Common;
using Tensor = Snn.Tensor;
using Snn.Ops;

namespace Snn.Runtime;

/// <summary>How a probe's time series becomes the output.</summary>
public enum Readout
{
    /// <summary>The probe value at the final step, as Nengo's simulator reports it.</summary>
    Last,
    /// <summary>The mean of the probe over all steps.</summary>
    Mean,
    /// <summary>The mean over the last <see cref="SimOptions.Window"/> steps.</summary>
    MeanLast,
    /// <summary>The sum of the probe over the steps times dt: for spiking outputs, spike count × amplitude.</summary>
    Count,
}

/// <summary>How inputs enter the network each step.</summary>
public enum Encoding
{
    /// <summary>The input value as a constant current every step.</summary>
    Constant,
    /// <summary>
    /// Stochastic spikes with the input as their mean: each step emits floor(|x|) + Bernoulli(frac(|x|)) with the
    /// sign of x, from a generator seeded per sample (so results do not depend on batching or threads).
    /// </summary>
    Poisson,
}

/// <summary>
/// Simulation settings: steps, readout, samples per batch and worker threads (0 = all cores).
/// <see cref="Temporal"/>: inputs are (N, T, ...) and step t is fed time slice t (NengoDL's temporal_model);
/// the run lasts T steps and every step's output is kept, giving (N, T, ...) outputs.
/// </summary>
public sealed record SimOptions(int Steps = 1, Readout Readout = Readout.Last, int BatchSize = 100, int Threads = 0, bool Temporal = false)
{
    /// <summary>Steps averaged by <see cref="Readout.MeanLast"/>.</summary>
    public int Window { get; init; } = 1;
    public Encoding Encoding { get; init; } = Encoding.Constant;
    public int Seed { get; init; }

    /// <summary>Worker threads a run uses: <see cref="Threads"/>, or every core when it is 0.</summary>
    public int Workers => Threads > 0 ? Threads : Environment.ProcessorCount;

    /// <summary>
    /// Arena bytes a worker's plan may hold before the batch is split into smaller plans (0: no limit): a step streams the
    /// whole arena (every layer's state and signals), so a plan that fits in the cache runs much faster (the Fashion CNN
    /// at 32 steps: 45K image-steps/s with batches of 10, 8 MB, against 30K with batches of 100, 66 MB). Results do
    /// not depend on the batch size. <see cref="BatchSize"/> stays the most samples a plan takes.
    /// </summary>
    public long CacheBytesPerWorker { get; init; } = 8L << 20;

    /// <summary>
    /// The memory a run may take, in bytes (<see cref="MemoryBudget"/>, <c>--max-memory</c>): the outputs, and per worker its
    /// plan and batch buffers. A run that does not fit uses fewer workers or smaller batches; one that does not fit with one
    /// worker and one sample is refused (see <see cref="Interpreter.Fit"/>).
    /// </summary>
    public long MaxMemory { get; init; } = MemoryBudget.DefaultBytes;

    /// <summary>Which kernel spike-input connections use (see <see cref="Plan.PathChoice"/>); results are the same either way.</summary>
    public ConnectionPath ConnectionPath { get; init; } = ConnectionPath.Adaptive;

    public static readonly SimOptions Default = new();
}

/// <summary>
/// Simulates one lowered program over data sets, step by step, as often as its owner asks. Samples are split into
/// batches; each worker thread owns one <see cref="Plan"/> and runs whole batches, so results do not depend on the
/// thread count. Plans (an arena and every operator compiled) are made once and kept here, idle between runs, per batch
/// size: repeated runs (step-count sweeps, chunks of a data set, a benchmark after its warm-up) do not plan again.
/// Every batch starts with <see cref="Plan.Reset"/>, so a reused plan computes exactly what a new one does. Runs may
/// overlap (each takes its own plans). Inputs are held constant over the steps unless the options say otherwise.
/// </summary>
/// <remarks>
/// The program's function nodes run the code <paramref name="functions"/> gives by name (the compile result's
/// <c>Functions</c>). Misuse (inputs that do not match the program, no checkpoints) throws, as a wrong argument does;
/// a run whose function node fails (its function returns an error, or <paramref name="functions"/> has none of its name)
/// returns that error instead of outputs: the failure in the first batch of samples that fails (at its first failing
/// step, its first failing sample), whatever the thread count.
/// </remarks>
public sealed class Simulator(OpProgram program, NodeFunctions functions)
{
    /// <summary>A simulator of a program without function nodes (one with them fails every run: it has no code for them).</summary>
    public Simulator(OpProgram program) : this(program, NodeFunctions.Empty)
    {
    }

    readonly System.Collections.Concurrent.ConcurrentDictionary<int, System.Collections.Concurrent.ConcurrentBag<Plan>> idle = new();

    /// <summary>The program this simulator runs.</summary>
    public OpProgram Program => program;

    int plans;

    System.Collections.Concurrent.ConcurrentBag<Plan> Pool(int batch) => idle.GetOrAdd(batch, _ => new());

    /// <summary>Plans this simulator has made so far (each worker of a run takes an idle one or makes one).</summary>
    public int Plans => Volatile.Read(ref plans);

    /// <summary>The code of the program's function nodes, by name.</summary>
    public NodeFunctions Functions => functions;

    /// <summary>Runs <see cref="SimOptions.Steps"/> steps; returns one tensor per probe, (N, ...shape).</summary>
    public Fin<Seq<Tensor>> Run(Seq<Tensor> inputs, SimOptions options, Action<int, int>? progress = null)
    {
        if (!options.Temporal) return Run(inputs, options, new[] { options.Steps }, progress).Map(r => r[0]);
        // Temporal: T = the inputs' time axis; read every step out and stack along axis 1.
        var steps = inputs.Head.Shape[1];
        return Run(inputs, options with { Steps = steps, Readout = Readout.Last }, Enumerable.Range(1, steps).ToArray(), progress)
            .Map(perStep => Stack(perStep, inputs.Head.Shape[0], steps));
    }

    /// <summary>Per-step outputs (one run per step) stacked along a new axis 1: (N, T, ...shape) per probe.</summary>
    Seq<Tensor> Stack(Seq<Tensor>[] perStep, int n, int steps) =>
        Enumerable.Range(0, program.Probes.Count).Select(p =>
        {
            var size = perStep[0][p].Length / n;
            var data = new float[n * steps * size];
            for (var t = 0; t < steps; t++)
                for (var b = 0; b < n; b++)
                    perStep[t][p].Span.Slice(b * size, size).CopyTo(data.AsSpan((b * steps + t) * size, size));
            return Tensor.Own(new[] { n, steps }.Concat(program.Probes[p].Shape).ToArray(), data);
        }).ToSeq().Strict();

    /// <summary>
    /// Runs max(checkpoints) steps once and reads the outputs out at every checkpoint (step counts),
    /// without re-simulating. Result[k] holds the outputs after checkpoints[k] steps. When <paramref name="activity"/>
    /// is given it receives every spiking neuron's spike count.
    /// </summary>
    public Fin<Seq<Tensor>[]> Run(Seq<Tensor> inputs, SimOptions options, int[] checkpoints, Action<int, int>? progress = null, Activity? activity = null)
    {
        if (inputs.Count != program.InputCount)
            throw new ArgumentException($"the program has {program.InputCount} inputs, got {inputs.Count}");
        if (checkpoints.Length == 0 || checkpoints.Any(c => c < 1)) throw new ArgumentException("checkpoints must be positive step counts");
        var n = inputs.Head.Shape[0];
        var steps = checkpoints.Max();
        var inputBytes = inputs.Fold(0L, (acc, t) => acc + (long)t.Length * sizeof(float));
        var fit = Interpreter.Fit(program, options, n, checkpoints.Length, inputBytes);
        if (fit.IsLeft) return fit.Match(_ => default!, e => Fin<Seq<Tensor>[]>.Fail(e));
        var (batch, fitWorkers) = fit.IfLeft(default((int, int)));
        var chunks = (n + batch - 1) / batch;
        var probes = program.Probes;
        var sizes = probes.Map(p => Shapes.Product(p.Shape)).ToArray();
        var results = checkpoints.Select(_ => sizes.Select(s => new float[(long)n * s]).ToArray()).ToArray();
        var inputSizes = inputs.Map(t => t.Length / Math.Max(1, n)).ToArray();
        var timeSteps = options.Temporal ? inputs.Head.Shape[1] : 1;
        var stepSizes = inputSizes.Select(s => s / timeSteps).ToArray();
        var done = 0;
        var threads = Math.Min(options.Workers, fitWorkers);

        // Exactly one plan per worker (planning allocates the arena and compiles every operator: plan once, step
        // many), taken from this simulator's idle plans when a run before left one there; workers take whole
        // batches from a shared counter, so results do not depend on the thread count.
        // A function node's failure ends the run: chunks after the first failed one are not started, and every chunk
        // before it runs, so the failure reported is that of the first chunk that fails, whatever the thread count.
        var nextChunk = -1;
        var failedChunk = int.MaxValue;
        var failure = Option<Error>.None;
        var failureGate = new object();
        var workers = Math.Min(threads, chunks);
        Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, _ =>
        {
            var pool = Pool(batch);
            var plan = pool.TryTake(out var idle) ? idle : Planned(Plan.Create(program, functions, batch));
            plan.HoistInvariants = !options.Temporal && options.Encoding == Encoding.Constant;
            plan.PathChoice = options.ConnectionPath;
            try
            {
                for (var chunk = Interlocked.Increment(ref nextChunk); chunk < chunks && chunk < Volatile.Read(ref failedChunk); chunk = Interlocked.Increment(ref nextChunk))
                    if (RunChunk(plan, chunk).TryGet(out var error))
                        lock (failureGate)
                            if (chunk < failedChunk)
                                (failedChunk, failure) = (chunk, error);
            }
            finally
            {
                pool.Add(plan);
            }
        });

        Plan Planned(Plan plan)
        {
            Interlocked.Increment(ref plans);
            return plan;
        }

        Option<Error> RunChunk(Plan plan, int chunk)
            {
                var start = chunk * batch;
                var count = Math.Min(batch, n - start);
                plan.Reset();
                if (!options.Temporal)
                    for (var i = 0; i < inputs.Count; i++)
                    {
                        var buffer = new float[batch * inputSizes[i]];
                        inputs[i].Span.Slice(start * inputSizes[i], count * inputSizes[i]).CopyTo(buffer);
                        plan.SetInput(i, buffer);
                    }
                var sums = sizes.Select(s => new float[batch * s]).ToArray();
                var window = Math.Max(1, options.Window);
                var history = options.Readout == Readout.MeanLast ? sizes.Select(s => new float[window, batch * s]).ToArray() : null;
                var rngs = options.Encoding == Encoding.Poisson ? Enumerable.Range(0, count).Select(b => new Random(unchecked(options.Seed * 1_000_003 + start + b))).ToArray() : null;
                var constant = rngs is null ? null : Enumerable.Range(0, inputs.Count).Select(i => inputs[i].Span.Slice(start * inputSizes[i], count * inputSizes[i]).ToArray()).ToArray();
                var next = 0;
                var order = checkpoints.Select((c, k) => (c, k)).OrderBy(x => x.c).ToArray();
                var spiking = activity is null ? null : plan.SpikingOutputs;
                var totals = spiking?.Select(o => new double[o.Neurons]).ToArray();
                var atCheckpoints = totals is null ? null : checkpoints.Select(_ => new double[totals.Length]).ToArray();
                for (var t = 1; t <= steps; t++)
                {
                    if (options.Temporal)
                        for (var i = 0; i < inputs.Count; i++)
                        {
                            var buffer = plan.InputBuffer(i);
                            var step = Math.Min(t, timeSteps) - 1;
                            for (var b = 0; b < count; b++)
                                inputs[i].Span.Slice((start + b) * inputSizes[i] + step * stepSizes[i], stepSizes[i]).CopyTo(buffer.Slice(b * stepSizes[i], stepSizes[i]));
                        }
                    if (rngs is not null && !options.Temporal)
                        for (var i = 0; i < inputs.Count; i++)
                            Interpreter.PoissonEncode(constant![i], inputSizes[i], rngs, plan.InputBuffer(i));
                    plan.Step();
                    if (plan.Fault.IsSome) return plan.Fault;
                    if (totals is not null) plan.AccumulateSpikes(spiking!, totals, count);
                    for (var p = 0; p < probes.Count; p++)
                    {
                        if (options.Readout is Readout.Mean or Readout.Count) TensorPrimitives.Add(plan.Probe(p), sums[p], sums[p]);
                        if (history is not null)
                        {
                            var row = (t - 1) % window;
                            var probe = plan.Probe(p);
                            for (var k = 0; k < probe.Length; k++)
                            {
                                sums[p][k] += probe[k] - (t > window ? history[p][row, k] : 0f);
                                history[p][row, k] = probe[k];
                            }
                        }
                    }
                    while (next < order.Length && order[next].c == t)
                    {
                        var k = order[next++].k;
                        if (atCheckpoints is not null)
                            for (var e = 0; e < totals!.Length; e++) atCheckpoints[k][e] = totals[e].Sum();
                        for (var p = 0; p < probes.Count; p++)
                        {
                            var dst = results[k][p].AsSpan(start * sizes[p], count * sizes[p]);
                            var src = sums[p].AsSpan(0, count * sizes[p]);
                            switch (options.Readout)
                            {
                                case Readout.Mean: TensorPrimitives.Multiply(src, 1f / t, dst); break;
                                case Readout.MeanLast: TensorPrimitives.Multiply(src, 1f / Math.Min(t, window), dst); break;
                                case Readout.Count: TensorPrimitives.Multiply(src, program.Dt, dst); break;
                                default: plan.Probe(p).Slice(0, count * sizes[p]).CopyTo(dst); break;
                            }
                            if (probes[p].Softmax)
                                for (var r = 0; r < count * sizes[p] / probes[p].Shape[^1]; r++)
                                    Activations.Softmax(dst.Slice(r * probes[p].Shape[^1], probes[p].Shape[^1]));
                        }
                    }
                }
                if (totals is not null) activity!.Add(spiking!.Select(o => o.Ensemble).ToArray(), totals, count, steps, atCheckpoints);
                progress?.Invoke(Interlocked.Add(ref done, count), n);
                return Option<Error>.None;
            }

        if (failure.TryGet(out var failed)) return failed;
        return results.Select(r => Enumerable.Range(0, probes.Count)
            .Select(p => Tensor.Own(new[] { n }.Concat(probes[p].Shape).ToArray(), r[p])).ToSeq()).ToArray();
    }
}

/// <summary>
/// One run of a lowered program over a data set (a fresh <see cref="Simulator"/> each call: nothing is kept between
/// calls). Callers that run one program many times (sweeps, benchmarks, chunked evaluation) keep a
/// <see cref="Simulator"/> instead, which plans once.
/// </summary>
public static class Interpreter
{
    /// <summary>Runs <see cref="SimOptions.Steps"/> steps of a program without function nodes; returns one tensor per probe, (N, ...shape).</summary>
    public static Fin<Seq<Tensor>> Run(OpProgram program, Seq<Tensor> inputs, SimOptions options, Action<int, int>? progress = null) =>
        Run(program, NodeFunctions.Empty, inputs, options, progress);

    /// <summary>As above, for a program whose function nodes run the code <paramref name="functions"/> gives (see <see cref="Simulator"/>).</summary>
    public static Fin<Seq<Tensor>> Run(OpProgram program, NodeFunctions functions, Seq<Tensor> inputs, SimOptions options, Action<int, int>? progress = null) =>
        new Simulator(program, functions).Run(inputs, options, progress);

    /// <summary>
    /// Runs max(checkpoints) steps of a program without function nodes once and reads the outputs out at every
    /// checkpoint (step counts), without re-simulating. Result[k] holds the outputs after checkpoints[k] steps. When
    /// <paramref name="activity"/> is given it receives every spiking neuron's spike count.
    /// </summary>
    public static Fin<Seq<Tensor>[]> Run(OpProgram program, Seq<Tensor> inputs, SimOptions options, int[] checkpoints, Action<int, int>? progress = null, Activity? activity = null) =>
        Run(program, NodeFunctions.Empty, inputs, options, checkpoints, progress, activity);

    /// <summary>As above, for a program whose function nodes run the code <paramref name="functions"/> gives (see <see cref="Simulator"/>).</summary>
    public static Fin<Seq<Tensor>[]> Run(OpProgram program, NodeFunctions functions, Seq<Tensor> inputs, SimOptions options, int[] checkpoints,
        Action<int, int>? progress = null, Activity? activity = null) =>
        new Simulator(program, functions).Run(inputs, options, checkpoints, progress, activity);

    /// <summary>
    /// Samples per plan: <see cref="SimOptions.BatchSize"/> (at most the data's), fewer when that many samples' arena
    /// would exceed <see cref="SimOptions.CacheBytesPerWorker"/>, but at least one.
    /// </summary>
    public static int PlanBatch(OpProgram program, SimOptions options, int samples)
    {
        var batch = Math.Max(1, Math.Min(options.BatchSize, samples));
        if (options.CacheBytesPerWorker <= 0) return batch;
        var perSample = Math.Max(1, Plan.BytesPerSample(program));
        return (int)Math.Clamp(options.CacheBytesPerWorker / perSample, 1, batch);
    }

    /// <summary>
    /// Samples per plan and workers for a run of <paramref name="samples"/> samples read out at
    /// <paramref name="checkpoints"/> checkpoints, within <see cref="SimOptions.MaxMemory"/>: the inputs
    /// (<paramref name="inputBytes"/>, already held) and the outputs once, and per worker a plan (the program's
    /// constants, each sample's state and signals) with its batch buffers. <see cref="PlanBatch"/> and
    /// <see cref="SimOptions.Workers"/> when they fit; fewer samples per plan, then fewer workers, when they do not; an
    /// error naming the sizes and the largest signal when one sample on one worker does not fit. All sizes are estimated
    /// from the program's shapes before anything is allocated.
    /// </summary>
    public static Either<Error, (int Batch, int Workers)> Fit(OpProgram program, SimOptions options, int samples, int checkpoints, long inputBytes = 0)
    {
        var budget = options.MaxMemory;
        long Floats(long count) => MemoryBudget.Times(count, sizeof(float));
        var probeFloats = program.Probes.Fold(0L, (acc, p) => MemoryBudget.Add(acc, MemoryBudget.Bytes(p.Shape, 1).IfNone(long.MaxValue)));
        var inputFloats = program.InputShapes.Fold(0L, (acc, sh) => MemoryBudget.Add(acc, MemoryBudget.Bytes(sh, 1).IfNone(long.MaxValue)));
        var outputs = Floats(MemoryBudget.Times(MemoryBudget.Times(samples, checkpoints), probeFloats));
        var constants = Floats(program.Signals.Filter(s => s.Kind != SignalKind.Batched).Fold(0L, (acc, s) => acc + s.Size));
        var perSample = MemoryBudget.Add(Plan.BytesPerSample(program),
            // the plan's input buffers, the batch's input copies, and the readout's sums (and history for mean:K)
            Floats(MemoryBudget.Add(MemoryBudget.Times(2, inputFloats), MemoryBudget.Times(options.Readout == Readout.MeanLast ? 1 + Math.Max(1, options.Window) : 1, probeFloats))));
        long Worker(int batch) => MemoryBudget.Add(constants, MemoryBudget.Times(batch, perSample));
        var shared = MemoryBudget.Add(inputBytes, outputs);
        var left = budget - shared;
        var batch = PlanBatch(program, options, samples);
        if (left < Worker(1))
        {
            var largest = program.Signals.OrderByDescending(s => s.Size).FirstOrDefault();
            return Errors.Memory(
                $"Simulating {samples} sample(s) (inputs {MemoryBudget.Show(inputBytes)}, outputs at {checkpoints} checkpoint(s) {MemoryBudget.Show(outputs)}, " +
                $"one sample's state and signals {MemoryBudget.Show(perSample)}, constants {MemoryBudget.Show(constants)}" +
                (largest is null ? "" : $"; the largest signal is '{largest.Name}' with {largest.Size} values") + ")",
                MemoryBudget.Add(shared, Worker(1)), budget);
        }
        batch = (int)Math.Clamp((left - constants) / Math.Max(1, perSample), 1, batch);
        var workers = (int)Math.Clamp(left / Math.Max(1, Worker(batch)), 1, Math.Max(1, options.Workers));
        return (batch, workers);
    }

    /// <summary>One step of stochastic input spikes whose mean is the input value (see <see cref="Encoding.Poisson"/>).</summary>
    // Kept: Bernoulli(frac) is one comparison; MathNet's Bernoulli.Sample draws the same values at the same speed (20M draws
    // ~1.0 s both) but would add MathNet to the runtime assembly, and its Poisson.Sample would change the pinned encoding.
    internal static void PoissonEncode(float[] values, int size, Random[] rngs, Span<float> buffer)
    {
        for (var b = 0; b < rngs.Length; b++)
            for (var k = 0; k < size; k++)
            {
                var x = values[b * size + k];
                var m = MathF.Abs(x);
                var whole = MathF.Floor(m);
                var spikes = whole + (rngs[b].NextDouble() < m - whole ? 1f : 0f);
                buffer[b * size + k] = x < 0 ? -spikes : spikes;
            }
    }
}

/// <summary>
/// Spike counts gathered during a run: per ensemble, per neuron, summed over samples and steps (<see cref="Spikes"/>),
/// and per ensemble, summed over its neurons and the samples, after each checkpoint's steps (<see cref="SpikesAt"/>).
/// </summary>
public sealed class Activity
{
    readonly object gate = new();
    public Dictionary<string, double[]> Spikes { get; } = new();

    /// <summary>Per ensemble, its spikes (all neurons, all samples) up to each checkpoint, in the order the run was given them.</summary>
    public Dictionary<string, double[]> SpikesAt { get; } = new();
    public long Samples { get; private set; }
    public int Steps { get; private set; }

    internal void Add(string[] ensembles, double[][] totals, int samples, int steps, double[][]? atCheckpoints = null)
    {
        lock (gate)
        {
            for (var k = 0; k < ensembles.Length; k++)
            {
                if (!Spikes.TryGetValue(ensembles[k], out var acc)) Spikes[ensembles[k]] = acc = new double[totals[k].Length];
                for (var i = 0; i < acc.Length; i++) acc[i] += totals[k][i];
                if (atCheckpoints is null) continue;
                if (!SpikesAt.TryGetValue(ensembles[k], out var at)) SpikesAt[ensembles[k]] = at = new double[atCheckpoints.Length];
                for (var c = 0; c < at.Length; c++) at[c] += atCheckpoints[c][k];
            }
            Samples += samples;
            Steps = steps;
        }
    }
}
