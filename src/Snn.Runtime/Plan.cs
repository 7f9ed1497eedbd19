using System.Numerics.Tensors;
using LanguageExt;
using LanguageExt.Common;
using Snn.Runtime.Kernels;
using static LanguageExt.Prelude;
using Snn.Ops;

namespace Snn.Runtime;

/// <summary>How connections whose input is a spike train (DotInc, ConvInc) pick their kernel. Both kernels give the same bits.</summary>
public enum ConnectionPath
{
    /// <summary>From the measured input density, per step (DotInc: per batch; ConvInc: per sample).</summary>
    Adaptive,
    /// <summary>Always the dense kernel (for measurements and tests).</summary>
    Dense,
    /// <summary>Always the event-driven kernel (for measurements and tests).</summary>
    EventDriven,
}

/// <summary>
/// How one connection with spike input has run since its plan was created or last reset: sample-steps per kernel
/// and the nonzero fraction of its input. Updated by <see cref="Plan.Step()"/>; read between steps.
/// </summary>
public sealed class PathCounts
{
    /// <summary>Sample-steps computed by the dense kernel.</summary>
    public long DenseSamples { get; internal set; }

    /// <summary>Sample-steps computed by the event-driven kernel.</summary>
    public long EventSamples { get; internal set; }

    /// <summary>Nonzero input elements seen.</summary>
    public long NonZeros { get; internal set; }

    /// <summary>Input elements seen.</summary>
    public long Inputs { get; internal set; }

    /// <summary>The measured input density: the fraction of input elements that were nonzero.</summary>
    public double Density => Inputs == 0 ? 0 : (double)NonZeros / Inputs;

    internal void Clear() => (DenseSamples, EventSamples, NonZeros, Inputs) = (0, 0, 0, 0);
}

/// <summary>
/// A lowered program made executable for one batch size: every signal gets a fixed slice of one
/// float arena (batched signals hold batch × size values), and every operator becomes a step closure
/// over pre-resolved offsets. All allocation happens here; <see cref="Step()"/> allocates nothing.
/// </summary>
/// <remarks>
/// Arena layout: constants; then state (signals whose value carries from one step to the next: voltages,
/// filter states, counts, the step counter; <see cref="Reset"/> restores only these); then signals that an
/// operator overwrites every step but that must keep their value past their last use in the step (probed
/// signals, spiking outputs, whose spikes are counted after the step, and the results of operators that
/// <see cref="HoistInvariants"/> may skip); then shared buffers: every other signal is overwritten every step
/// before it is read (<see cref="Op.Overwrites"/>) and lives only from that write to its last use, so signals
/// whose lifetimes within a step do not overlap share one buffer.
/// </remarks>
public sealed class Plan
{
    readonly float[] arena;
    readonly int stateStart;
    readonly int stateLength;
    /// <summary>The state signals that do not start at 0: arena offset and the value of one sample.</summary>
    readonly (int Offset, int Length, float[] Row)[] initialState;
    readonly int[] offset;
    readonly int[] length;
    readonly Action[] steps;
    readonly bool[] invariant;
    bool primed;
    readonly float[][] inputs;
    /// <summary>Scratch for the input currents of one block of samples (<see cref="SimNeuronsAffine"/>).</summary>
    readonly float[] currents;
    readonly OpProgram program;
    readonly NodeFunctions functions;
    Option<Error> fault;

    public int Batch { get; }

    /// <summary>
    /// Why a function node failed since the plan was created or last reset (its function returned an error, or the
    /// program's <see cref="NodeFunctions"/> had none of its name); None while all is well. A failed node stops
    /// evaluating (its output keeps stale values), so the step's results are meaningless once this is set: the
    /// <see cref="Simulator"/> checks it after every step and fails the run with it.
    /// </summary>
    public Option<Error> Fault => fault;

    /// <summary>
    /// Input density (fraction of non-zero spikes) below which a dense connection runs event-driven. Measured on
    /// 1600×128 (the Fashion CNN's hidden layer; batch 100, one thread, uniformly random spikes, caches warm): the
    /// event-driven kernel is 3.5× dense at density 0.05, 2.6× at 0.1, 1.8× at 0.15, 1.5× at 0.2 and 1.1× at 0.3; inside
    /// the network (`snn bench`, where w is seldom in cache) 1.3-1.6× at the layer's density 0.102. 0.15 keeps a margin.
    /// </summary>
    public const double EventDensityThreshold = 0.15;

    /// <summary>
    /// Outputs below which a dense connection never runs event-driven by default: each input event then adds a row too
    /// short to pay for the event loop (measured: the 84×10 and 128×10 read-outs run event-driven at 0.9-1.1× of dense,
    /// and took 0.3-0.7× before the event path listed its inputs branch-free).
    /// </summary>
    public const int DenseEventMinOutputs = 16;

    /// <summary>
    /// Input density (per sample) at or below which a convolution with spike input runs event-driven. The event
    /// kernel spends one vector FMA per nonzero term where the dense one spends one per input element, but with
    /// list building and less register reuse; measured on the Fashion-MNIST and LeNet-5 convolutions (uniformly
    /// random spikes), it breaks even between densities 0.2 and 0.25 (LeNet-5's last convolution: above 0.4).
    /// </summary>
    public const double ConvEventDensityThreshold = 0.2;

    /// <summary>Output channels per group below which a convolution never runs event-driven (its vectors would be mostly empty).</summary>
    public const int ConvEventMinGroupChannels = 8;

    readonly PathCounts?[] paths;

    /// <summary>Which kernel spike-input connections use (default: chosen from the measured density).</summary>
    public ConnectionPath PathChoice { get; set; }

    /// <summary>Per operator (program order): how a connection with spike input has run, or null for other operators.</summary>
    public IReadOnlyList<PathCounts?> Paths => paths;
    public OpProgram Program => program;

    /// <summary>Bytes held by the arena, the initial state (one sample's) and the scratch and input buffers.</summary>
    public long ArenaBytes { get; }

    /// <summary>Whether signals that live only within a step share storage (see the remarks on <see cref="Plan"/>).</summary>
    public bool SharesBuffers { get; }

    Plan(OpProgram program, NodeFunctions functions, int batch, bool shareBuffers)
    {
        this.program = program;
        this.functions = functions;
        Batch = batch;
        paths = new PathCounts?[program.Ops.Count];
        SharesBuffers = shareBuffers;
        var signals = program.Signals;
        offset = new int[signals.Count];
        length = new int[signals.Count];
        for (var i = 0; i < signals.Count; i++)
            length[i] = signals[i].Kind == SignalKind.Batched ? checked(signals[i].Size * batch) : signals[i].Size;
        invariant = InvariantOps(program);
        var (kind, buffer, bufferSizes) = Layout(program, invariant, length, shareBuffers);

        // Constants, state, overwritten signals that are kept, then the shared buffers; slices start on 16-float boundaries.
        long total = 0;
        long Place(int size)
        {
            var at = total;
            total += (size + 15) & ~15;
            return at;
        }
        foreach (var s in signals.Filter(s => kind[s.Id] == Storage.Constant)) offset[s.Id] = checked((int)Place(length[s.Id]));
        stateStart = (int)total;
        foreach (var s in signals.Filter(s => kind[s.Id] == Storage.State)) offset[s.Id] = checked((int)Place(length[s.Id]));
        var stateEnd = (int)total;
        foreach (var s in signals.Filter(s => kind[s.Id] == Storage.Kept)) offset[s.Id] = checked((int)Place(length[s.Id]));
        var bufferOffset = bufferSizes.Select(Place).ToArray();
        foreach (var s in signals.Filter(s => kind[s.Id] == Storage.Shared)) offset[s.Id] = checked((int)bufferOffset[buffer[s.Id]]);
        stateLength = stateEnd - stateStart;
        arena = new float[checked((int)total)];
        foreach (var s in signals.Filter(s => kind[s.Id] == Storage.Constant))
            s.Initial.IfSome(init => init.Span.CopyTo(arena.AsSpan(offset[s.Id], length[s.Id])));
        initialState = signals.Filter(s => kind[s.Id] == Storage.State && s.Initial.IsSome)
            .Map(s => (offset[s.Id], length[s.Id], s.Initial.Map(t => t.ToArray()).IfNone(System.Array.Empty<float>()))).ToArray();
        Reset();
        inputs = program.InputShapes.Map(sh => new float[Shapes.Product(sh) * batch]).ToArray();

        var workspace = 0;
        foreach (var op in program.Ops)
            workspace = Math.Max(workspace, op switch
            {
                ConvInc c => ConvWorkspace(c, Geometry(c.Spec), batch),
                _ => 0,
            });
        var scratch = new float[workspace];
        currents = new float[program.Ops.OfType<SimNeuronsAffine>().Select(sa => CurrentBlock(program.Signal(sa.X).Size, batch).Rows * program.Signal(sa.X).Size).DefaultIfEmpty(0).Max()];
        steps = program.Ops.Select((op, i) => Compile(op, i, scratch)).ToArray();
        ArenaBytes = (arena.LongLength + initialState.Sum(i => (long)i.Row.Length) + workspace + currents.Length + inputs.Sum(i => (long)i.Length)) * sizeof(float);
    }

    /// <summary>Where a signal lives (see the remarks on <see cref="Plan"/>).</summary>
    enum Storage { Constant, State, Kept, Shared }

    /// <summary>
    /// Classifies the signals and, when sharing, assigns each shared one a buffer: the signals in order of their
    /// first use in the step, each into the free buffer (last user already run) that fits it best, or a new one.
    /// </summary>
    static (Storage[] Kind, int[] Buffer, List<int> BufferSizes) Layout(OpProgram p, bool[] invariant, int[] length, bool share)
    {
        var n = p.Signals.Count;
        var ops = p.Ops.ToArray();
        var overwritten = new bool[n];
        var pinned = new bool[n];
        var first = Enumerable.Repeat(int.MaxValue, n).ToArray();
        var last = new int[n];
        for (var i = 0; i < ops.Length; i++)
        {
            foreach (var s in ops[i].Overwrites) overwritten[s] = true;
            foreach (var s in ops[i].Sets.Concat(ops[i].Incs).Concat(ops[i].Reads).Concat(ops[i].Updates))
            {
                first[s] = Math.Min(first[s], i);
                last[s] = Math.Max(last[s], i);
            }
            // Results of skippable operators keep their values across steps.
            if (invariant[i]) foreach (var s in ops[i].Writes) pinned[s] = true;
            // Spike counts are read after the step.
            if (ops[i] is INeuronOp { Neuron.Spiking: true } neurons) pinned[neurons.Output] = true;
        }
        foreach (var probe in p.Probes) pinned[probe.Signal] = true;

        var kind = new Storage[n];
        for (var s = 0; s < n; s++)
        {
            var signal = p.Signals[s];
            kind[s] = signal.Kind == SignalKind.Constant ? Storage.Constant
                : !overwritten[s] ? Storage.State
                : !share || pinned[s] || signal.Kind != SignalKind.Batched || signal.Initial.IsSome ? Storage.Kept
                : Storage.Shared;
        }

        var buffer = Enumerable.Repeat(-1, n).ToArray();
        var sizes = new List<int>();
        var freeAfter = new List<int>();
        foreach (var s in Enumerable.Range(0, n).Where(s => kind[s] == Storage.Shared).OrderBy(s => first[s]).ThenBy(s => s))
        {
            var best = -1;
            for (var b = 0; b < sizes.Count; b++)
            {
                if (freeAfter[b] >= first[s]) continue;
                // Prefer the smallest buffer that fits; failing that, the largest (which then grows least).
                var better = best < 0
                    || (sizes[b] >= length[s] ? sizes[best] < length[s] || sizes[b] < sizes[best] : sizes[best] < length[s] && sizes[b] > sizes[best]);
                if (better) best = b;
            }
            if (best < 0)
            {
                best = sizes.Count;
                sizes.Add(0);
                freeAfter.Add(-1);
            }
            sizes[best] = Math.Max(sizes[best], length[s]);
            freeAfter[best] = last[s];
            buffer[s] = best;
        }
        return (kind, buffer, sizes);
    }

    /// <summary>
    /// Bytes of arena one more sample of the batch adds (its state, kept and shared signals, laid out as
    /// <see cref="Create(OpProgram, NodeFunctions, int, bool)"/> lays them out with buffer sharing): what decides whether a plan's working set fits in cache.
    /// </summary>
    public static long BytesPerSample(OpProgram program)
    {
        var length = program.Signals.Map(s => s.Size).ToArray();
        var (kind, _, bufferSizes) = Layout(program, InvariantOps(program), length, share: true);
        long floats = bufferSizes.Sum(b => (long)b);
        for (var s = 0; s < kind.Length; s++)
            if (program.Signals[s].Kind == SignalKind.Batched && kind[s] is Storage.State or Storage.Kept) floats += length[s];
        return floats * sizeof(float);
    }

    /// <summary>
    /// Plans <paramref name="program"/> for batches of <paramref name="batch"/> samples. With
    /// <paramref name="shareBuffers"/> (the default) signals that live only within a step share storage, so
    /// <see cref="SignalValue"/> of such a signal may hold another signal's values; without it every signal has its
    /// own slice.
    /// </summary>
    public static Plan Create(OpProgram program, int batch, bool shareBuffers = true) =>
        Create(program, NodeFunctions.Empty, batch, shareBuffers);

    /// <summary>As above, for a program with function nodes: <paramref name="functions"/> gives their code by name.</summary>
    public static Plan Create(OpProgram program, NodeFunctions functions, int batch, bool shareBuffers = true)
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch));
        return new Plan(program, functions, batch, shareBuffers);
    }

    Span<float> S(int signal) => arena.AsSpan(offset[signal], length[signal]);

    /// <summary>
    /// Restores the state to its initial value (step 0) and clears the <see cref="Paths"/> counts and the <see cref="Fault"/>. Signals that an
    /// operator overwrites every step are left as they are: the first step writes them before anything reads them.
    /// </summary>
    public void Reset()
    {
        arena.AsSpan(stateStart, stateLength).Clear();
        foreach (var (at, n, row) in initialState)
            for (var r = 0; r < n; r += row.Length)
                row.CopyTo(arena.AsSpan(at + r, row.Length));
        primed = false;
        fault = None;
        foreach (var p in paths) p?.Clear();
    }

    /// <summary>
    /// When the inputs stay the same over the steps (constant-current encoding), operators that depend only on
    /// inputs and constants give the same values every step: with this on, they run on the first step after a
    /// reset or a new input and are skipped afterwards (their signals keep the values). Off by default.
    /// </summary>
    public bool HoistInvariants { get; set; }

    /// <summary>
    /// Operators whose results are the same every step when inputs are held: an InputFeed, or an operator that
    /// reads only constants and invariant signals and writes only signals that nothing else writes. TimeUpdate
    /// and stateful operators (neurons, filters, max pooling) are never invariant.
    /// </summary>
    static bool[] InvariantOps(OpProgram p)
    {
        var ops = p.Ops.ToArray();
        var invariantSignal = p.Signals.Map(s => s.Kind == SignalKind.Constant).ToArray();
        var result = new bool[ops.Length];
        var writers = new Dictionary<int, List<int>>();
        for (var i = 0; i < ops.Length; i++)
            foreach (var s in ops[i].Writes)
                (writers.TryGetValue(s, out var l) ? l : writers[s] = new List<int>()).Add(i);
        bool changed;
        do
        {
            changed = false;
            for (var i = 0; i < ops.Length; i++)
            {
                if (result[i] || ops[i].Stateful) continue;
                var readsInvariant = ops[i] is InputFeed || ops[i].Reads.ForAll(s => invariantSignal[s]);
                // Every writer of every signal it writes must be invariant too (so the signal is fixed once computed).
                var soleWriters = ops[i].Writes.ForAll(s => writers[s].All(w => w == i || result[w] || CanBeInvariant(ops[w], invariantSignal)));
                if (!readsInvariant || !soleWriters || ops[i].Updates.Count > 0) continue;
                result[i] = true;
                changed = true;
            }
            // A signal is invariant once all its writers are.
            for (var s = 0; s < invariantSignal.Length; s++)
                if (!invariantSignal[s] && writers.TryGetValue(s, out var ws) && ws.All(w => result[w]))
                {
                    invariantSignal[s] = true;
                    changed = true;
                }
        } while (changed);
        return result;
    }

    static bool CanBeInvariant(Op op, bool[] invariantSignal) =>
        op is InputFeed || (op is Reset) || (!op.Stateful && op.Reads.ForAll(s => invariantSignal[s]));

    /// <summary>Sets model input <paramref name="index"/> for the batch: [batch, size], held constant over steps.</summary>
    public void SetInput(int index, ReadOnlySpan<float> values)
    {
        values.CopyTo(inputs[index]);
        primed = false;
    }

    /// <summary>The buffer model input <paramref name="index"/> is fed from ([batch, size]); write it between steps.</summary>
    public Span<float> InputBuffer(int index) => inputs[index];

    public void Step()
    {
        var skip = HoistInvariants && primed;
        for (var i = 0; i < steps.Length; i++)
            if (!(skip && invariant[i])) steps[i]();
        primed = true;
    }

    /// <summary>
    /// One step that also adds each operator's elapsed Stopwatch ticks to <paramref name="ticks"/> (one slot per operator)
    /// and, when given, counts the operators that ran (hoisted ones are skipped) in <paramref name="calls"/>.
    /// </summary>
    public void Step(long[] ticks, long[]? calls = null)
    {
        var skip = HoistInvariants && primed;
        primed = true;
        for (var i = 0; i < steps.Length; i++)
        {
            if (skip && invariant[i]) continue;
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            steps[i]();
            ticks[i] += System.Diagnostics.Stopwatch.GetTimestamp() - start;
            if (calls is not null) calls[i]++;
        }
    }

    /// <summary>The current value of probe <paramref name="index"/>: [batch, size].</summary>
    public ReadOnlySpan<float> Probe(int index) => S(program.Probes[index].Signal);

    /// <summary>The spiking neuron outputs: (ensemble id, neurons, arena offset, dt/amplitude to turn outputs into spike counts).</summary>
    public IReadOnlyList<(string Ensemble, int Neurons, int Offset, float PerSpike, float[]? PerNeuron)> SpikingOutputs =>
        program.Ops.OfType<INeuronOp>().Where(sn => sn.Neuron.Spiking).Select(sn =>
        {
            var name = program.Signal(sn.Output).Name;
            var perSpike = program.Dt / sn.Neuron.OutputAmplitude;
            // A scaled output (OutputScale) holds spikes × amplitude/dt × factor: per neuron, dt/amplitude ÷ factor.
            float[]? perNeuron = sn.OutputScale.TryGet(out var s) ? arena.AsSpan(offset[s], length[s]).ToArray().Select(f => perSpike / f).ToArray() : null;
            return (name.EndsWith(".out", StringComparison.Ordinal) ? name[..^4] : name, program.Signal(sn.Output).Size, offset[sn.Output], perSpike, perNeuron);
        }).ToList();

    /// <summary>Adds this step's spike counts (|output| × dt/amplitude, summed over the batch) per neuron.</summary>
    /// <remarks>
    /// Per neuron the terms are added in sample order, each the float product |output| × (dt/amplitude) added to the
    /// double total; silent neurons add +0 to a total that is never −0, so blocks of eight silent neurons are skipped.
    /// A scaled output (per-neuron factors) gives each neuron's count rounded to the whole number of spikes it is.
    /// </remarks>
    public void AccumulateSpikes(IReadOnlyList<(string Ensemble, int Neurons, int Offset, float PerSpike, float[]? PerNeuron)> outputs, double[][] totals, int rows)
    {
        for (var k = 0; k < outputs.Count; k++)
        {
            var (_, n, o, per, perNeuron) = outputs[k];
            var t = totals[k];
            if (t.Length < n) throw new ArgumentException($"totals[{k}] has {t.Length} entries for {n} neurons", nameof(totals));
            if (o < 0 || (long)o + (long)rows * n > arena.Length) throw new ArgumentOutOfRangeException(nameof(rows));
            for (var b = 0; b < rows; b++)
                if (perNeuron is null) Kernels.Elementwise.AccumulateScaledMagnitudes(arena.AsSpan(o + b * n, n), per, t);
                else Kernels.Elementwise.AccumulateCounts(arena.AsSpan(o + b * n, n), perNeuron, t);
        }
    }

    /// <summary>
    /// Current value of a signal (for tests and tools). A signal that lives only within a step may share its
    /// storage with others (see <see cref="Create(OpProgram, NodeFunctions, int, bool)"/>): after a step it may hold a later signal's values.
    /// </summary>
    public ReadOnlySpan<float> SignalValue(int signal) => S(signal);

    static ConvGeometry Geometry(ConvSpec s) => ConvGeometry.Of(s);

    static PoolGeometry Geometry(PoolSpec s) => PoolGeometry.Of(s);

    Action Compile(Op op, int index, float[] scratch)
    {
        var a = arena;
        var batch = Batch;
        switch (op)
        {
            case TimeUpdate t:
            {
                var (step, time) = (offset[t.Step], offset[t.Time]);
                var dt = program.Dt;
                return () => { a[step] += 1f; a[time] = a[step] * dt; };
            }
            case InputFeed f:
            {
                var src = inputs[f.Input];
                var (o, n) = (offset[f.Dst], length[f.Dst]);
                return () => src.AsSpan().CopyTo(a.AsSpan(o, n));
            }
            case Reset r:
            {
                var (o, n, v) = (offset[r.Dst], length[r.Dst], r.Value);
                return () => a.AsSpan(o, n).Fill(v);
            }
            case Copy c:
                return CompileCopy(c);
            case ElementwiseInc e:
            {
                var (ao, an, xo, xn, yo, yn) = (offset[e.A], length[e.A], offset[e.X], length[e.X], offset[e.Y], length[e.Y]);
                var set = e.Set;
                return () => Elementwise.MultiplyAccumulate(a.AsSpan(ao, an), a.AsSpan(xo, xn), a.AsSpan(yo, yn), set);
            }
            case DotInc d:
            {
                var (wo, wn, xo, xn, yo, yn) = (offset[d.W], length[d.W], offset[d.X], length[d.X], offset[d.Y], length[d.Y]);
                var rows = batch * d.Rows;
                var (inSize, outSize) = (d.In, d.Out);
                if (!IsSpiking(d.X))
                    return () => Dense.Accumulate(a.AsSpan(xo, xn), rows, inSize, a.AsSpan(wo, wn), outSize, a.AsSpan(yo, yn));
                // Spike input: choose event-driven (skip silent inputs) or dense each step from the measured density;
                // both paths give bit-identical sums.
                var counts = paths[index] = new PathCounts();
                return () =>
                {
                    var x = a.AsSpan(xo, xn);
                    var nonZeros = Sparsity.CountNonZero(x);
                    var sparse = PathChoice switch
                    {
                        ConnectionPath.Dense => false,
                        ConnectionPath.EventDriven => true,
                        _ => outSize >= DenseEventMinOutputs && nonZeros < x.Length * EventDensityThreshold,
                    };
                    Dense.Accumulate(x, rows, inSize, a.AsSpan(wo, wn), outSize, a.AsSpan(yo, yn), sparse);
                    counts.NonZeros += nonZeros;
                    counts.Inputs += x.Length;
                    if (sparse) counts.EventSamples += batch; else counts.DenseSamples += batch;
                };
            }
            case ConvInc c:
            {
                var g = Geometry(c.Spec);
                var (wo, wn, xo, xn, yo, yn) = (offset[c.W], length[c.W], offset[c.X], length[c.X], offset[c.Y], length[c.Y]);
                var ws = scratch;
                var wsn = g.WorkspaceSize(batch);
                if (!EventCapable(c, g))
                    return () => Conv.Accumulate(g, a.AsSpan(wo, wn), a.AsSpan(xo, xn), batch, ws.AsSpan(0, wsn), a.AsSpan(yo, yn));
                // Spike input: per step and per sample, the event-driven kernel when the sample's measured density is at
                // most ConvEventDensityThreshold, else the dense one; runs of samples with the same choice share a call.
                // Both kernels sum every output element in the same order (see Conv.AccumulateEvents), so the choice,
                // and with it the batching and the thread count, never changes a result.
                var counts = paths[index] = new PathCounts();
                var (inSize, outSize, ewsn) = (g.InputSize, g.OutputSize, g.EventWorkspaceSize);
                var limit = (int)Math.Floor(ConvEventDensityThreshold * inSize);
                var events = new bool[batch];
                return () =>
                {
                    var x = a.AsSpan(xo, xn);
                    var choice = PathChoice;
                    long nonZeros = 0;
                    for (var b = 0; b < batch; b++)
                    {
                        var n = Sparsity.CountNonZero(x.Slice(b * inSize, inSize));
                        nonZeros += n;
                        events[b] = choice == ConnectionPath.EventDriven || (choice == ConnectionPath.Adaptive && n <= limit);
                    }
                    counts.NonZeros += nonZeros;
                    counts.Inputs += (long)batch * inSize;
                    for (var b0 = 0; b0 < batch;)
                    {
                        var b1 = b0 + 1;
                        while (b1 < batch && events[b1] == events[b0]) b1++;
                        var xs = x.Slice(b0 * inSize, (b1 - b0) * inSize);
                        var ys = a.AsSpan(yo + b0 * outSize, (b1 - b0) * outSize);
                        var w = a.AsSpan(wo, wn);
                        if (events[b0])
                        {
                            Conv.AccumulateEvents(g, w, xs, b1 - b0, ws.AsSpan(0, ewsn), ys);
                            counts.EventSamples += b1 - b0;
                        }
                        else
                        {
                            Conv.Accumulate(g, w, xs, b1 - b0, ws.AsSpan(0, wsn), ys);
                            counts.DenseSamples += b1 - b0;
                        }
                        b0 = b1;
                    }
                };
            }
            case PoolInc p:
            {
                var g = Geometry(p.Spec);
                var (xo, xn, yo, yn) = (offset[p.X], length[p.X], offset[p.Y], length[p.Y]);
                if (p.Spec.Kind == PoolKind.Average)
                    return () => Pool.AverageAccumulate(g, a.AsSpan(xo, xn), batch, a.AsSpan(yo, yn));
                return p.Set
                    ? () => Pool.MaxSet(g, a.AsSpan(xo, xn), batch, a.AsSpan(yo, yn))
                    : () => Pool.MaxAccumulate(g, a.AsSpan(xo, xn), batch, a.AsSpan(yo, yn));
            }
            case AffineSet af:
            {
                var (bo, bn, xo, n, yo) = (offset[af.Bias], length[af.Bias], offset[af.X], length[af.X], offset[af.Y]);
                var (go, gn) = af.Gain.Match(g => (offset[g], length[g]), () => (0, 0));
                return () => Elementwise.AffineSet(a.AsSpan(xo, n), a.AsSpan(go, gn), a.AsSpan(bo, bn), a.AsSpan(yo, n));
            }
            case SimNeurons sn:
            {
                var neurons = Scaled(NeuronKernel(sn.Neuron, sn.Output, sn.State), sn);
                var (jo, n) = (offset[sn.J], length[sn.J]);
                return () => neurons(a.AsSpan(jo, n), 0, n);
            }
            case SimNeuronsAffine sa:
                return CompileNeuronsAffine(sa);
            case MaxPoolOp m:
            {
                var g = Geometry(m.Spec);
                var (xo, xn, yo, yn, co, mo) = (offset[m.X], length[m.X], offset[m.Y], length[m.Y], offset[m.Counts], offset[m.Max]);
                return m.Method == MaxPoolMethod.Gate
                    ? () => SpikingPool.GatePooled(g, a.AsSpan(xo, xn), batch, a.AsSpan(co, xn), a.AsSpan(mo, yn), a.AsSpan(yo, yn))
                    : () => SpikingPool.CountPooled(g, a.AsSpan(xo, xn), batch, a.AsSpan(co, xn), a.AsSpan(mo, yn), a.AsSpan(yo, yn));
            }
            case FunctionOp f:
            {
                var (xo, yo) = (offset[f.X], offset[f.Y]);
                var (inSize, outSize) = (program.Signal(f.X).Size, program.Signal(f.Y).Size);
                return functions.Find(f.Function).Match<Action>(
                    Succ: fn => () =>
                    {
                        for (var b = 0; b < batch && fault.IsNone; b++)
                            fault = fn.Apply(a.AsSpan(xo + b * inSize, inSize), a.AsSpan(yo + b * outSize, outSize))
                                .Match(_ => Option<Error>.None, Some);
                    },
                    Fail: missing => () => fault = missing);
            }
            case FilterOp f:
            {
                var (xo, n, yo, dOff) = (offset[f.X], length[f.X], offset[f.Y], offset[f.D]);
                var c = f.Coefficients.ToArray();
                var size = c.Length / FilterOp.PerElement(f.Kind);
                return f.Kind == FilterKind.Lowpass
                    ? () => Synapses.LowpassPerElement(a.AsSpan(xo, n), c.AsSpan(0, size), c.AsSpan(size, size), a.AsSpan(yo, n))
                    : () => Synapses.Alpha(a.AsSpan(xo, n), c, a.AsSpan(dOff, n), a.AsSpan(yo, n));
            }
            case LowpassOp l:
            {
                var (io, n, oo) = (offset[l.In], length[l.In], offset[l.Out]);
                var (ca, cb) = (l.A, l.B);
                return () => Synapses.Lowpass(a.AsSpan(io, n), ca, cb, a.AsSpan(oo, n));
            }
            default:
                throw new NotSupportedException($"operator {op.GetType().Name} has no kernel");
        }
    }

    /// <summary>A convolution that can run event-driven: its input is a spike train, its groups have enough output channels and the kernel takes its geometry.</summary>
    bool EventCapable(ConvInc c, ConvGeometry g) => g.GroupOutChannels >= ConvEventMinGroupChannels && g.SupportsEvents && IsSpiking(c.X);

    int ConvWorkspace(ConvInc c, ConvGeometry g, int batch) =>
        EventCapable(c, g) ? Math.Max(g.WorkspaceSize(batch), g.EventWorkspaceSize) : g.WorkspaceSize(batch);

    readonly Dictionary<int, bool> spiking = new();

    /// <summary>
    /// Whether a signal is a spike train (mostly zeros, so worth measuring): a spiking neuron output; one scaled per
    /// element by a constant (zeros stay zeros); the output of spiking max pooling of a spike train (it changes only
    /// when a window's count grows); or a signal that is only reset to 0 and then copied into (gathered, scattered,
    /// added) from spike trains. Only speed depends on it: both kernels of a connection give the same results.
    /// </summary>
    bool IsSpiking(int signal)
    {
        if (spiking.TryGetValue(signal, out var known)) return known;
        spiking[signal] = false;   // cycles count as not spiking
        return spiking[signal] = Classify(signal);
    }

    bool Classify(int signal)
    {
        if (program.Ops.Exists(o => o is INeuronOp { Neuron.Spiking: true } sn && sn.Output == signal)) return true;
        var incs = program.Ops.Filter(o => o.Incs.Contains(signal)).ToList();
        if (incs.Count == 1 && incs[0] is ElementwiseInc e && program.Signal(e.A).Kind == SignalKind.Constant && e.X != signal && IsSpiking(e.X))
            return true;
        var writers = program.Ops.Filter(o => o.Sets.Contains(signal) || o.Incs.Contains(signal)).ToList();
        if (writers.Count == 1 && writers[0] is MaxPoolOp m && m.Y == signal) return IsSpiking(m.X);
        return writers.Exists(w => w is not Ops.Reset)
            && writers.All(w => w switch
            {
                Ops.Reset r => r.Value == 0f,
                Copy c => c.Src != signal && IsSpiking(c.Src),
                ElementwiseInc ei => program.Signal(ei.A).Kind == SignalKind.Constant && ei.X != signal && IsSpiking(ei.X),
                _ => false,
            });
    }

    Action CompileCopy(Copy c)
    {
        var a = arena;
        var batch = Batch;
        var src = program.Signal(c.Src);
        var (so, sn, dO, dn) = (offset[c.Src], length[c.Src], offset[c.Dst], length[c.Dst]);
        var inc = c.Inc;
        if (c.SrcIndex.TryGet(out var gatherIndex) && c.DstIndex.IsNone && src.Kind == SignalKind.Batched)
        {
            var index = gatherIndex.ToArray();
            var inSize = src.Size;
            return () => Elementwise.Gather(a.AsSpan(so, sn), batch, inSize, index, a.AsSpan(dO, dn), inc);
        }
        if (c.DstIndex.TryGet(out var scatterIndex) && c.SrcIndex.IsNone && inc && src.Kind == SignalKind.Batched)
        {
            var index = scatterIndex.ToArray();
            var outSize = program.Signal(c.Dst).Size;
            return () => Elementwise.ScatterAdd(a.AsSpan(so, sn), batch, index, outSize, a.AsSpan(dO, dn));
        }
        if (c.SrcIndex.IsSome || c.DstIndex.IsSome)
            throw new NotSupportedException("indexed copies must gather from or scatter-add into a batched signal");
        if (src.Kind == SignalKind.Constant)
            return () => Elementwise.Broadcast(a.AsSpan(so, sn), batch, a.AsSpan(dO, dn), inc);
        return inc
            ? () => TensorPrimitives.Add(a.AsSpan(so, sn), a.AsSpan(dO, dn), a.AsSpan(dO, dn))
            : () => a.AsSpan(so, sn).CopyTo(a.AsSpan(dO, dn));
    }

    /// <summary>
    /// Samples per block of <see cref="SimNeuronsAffine"/> (about 8K currents and at least one sample, the blocks as
    /// even as possible) and the block count.
    /// </summary>
    static (int Rows, int Blocks) CurrentBlock(int size, int batch)
    {
        var rows = Math.Clamp(8192 / Math.Max(1, size), 1, batch);
        var blocks = (batch + rows - 1) / rows;
        return ((batch + blocks - 1) / blocks, blocks);
    }

    /// <summary>
    /// Runs the neurons block by block of whole samples: J = x·gain + bias for the block into the scratch, then the
    /// neuron step on it. Every neuron kernel is elementwise (per-neuron parameters index within a sample, and tails
    /// get the same arithmetic as full vectors), so the results are those of one AffineSet over the batch and one
    /// SimNeurons.
    /// </summary>
    Action CompileNeuronsAffine(SimNeuronsAffine sa)
    {
        var a = arena;
        if (sa.Neuron.FusedAffine(program.Dt, Buffers(sa.Output, sa.State), length[sa.X]).TryGet(out var fused)) return CompileFusedAffine(sa, fused);
        var neurons = Scaled(NeuronKernel(sa.Neuron, sa.Output, sa.State), sa);
        var size = program.Signal(sa.X).Size;
        var (rows, _) = CurrentBlock(size, Batch);
        var total = length[sa.X];
        var (bo, xo) = (offset[sa.Bias], offset[sa.X]);
        var (go, gn) = sa.Gain.Match(g => (offset[g], length[g]), () => (0, 0));
        var j = currents;
        return () =>
        {
            for (var from = 0; from < total; from += rows * size)
            {
                var count = Math.Min(rows * size, total - from);
                var block = j.AsSpan(0, count);
                Elementwise.AffineSet(a.AsSpan(xo + from, count), a.AsSpan(go, gn), a.AsSpan(bo, size), block);
                neurons(block, from, count);
            }
        };
    }

    /// <summary>
    /// Neurons with a fused step (<see cref="NeuronType.FusedAffine"/>, signed integrate-and-fire) on J = x·gain + bias in
    /// one pass: the currents, the step and the output scale of each element together, the same bits as the blocks of
    /// <see cref="CompileNeuronsAffine"/>.
    /// </summary>
    Action CompileFusedAffine(SimNeuronsAffine sa, FusedAffineStep fused)
    {
        var a = arena;
        var (xo, n, bo, bn) = (offset[sa.X], length[sa.X], offset[sa.Bias], length[sa.Bias]);
        var (go, gn) = sa.Gain.Match(g => (offset[g], length[g]), () => (0, 0));
        var (so, sn) = sa.OutputScale.Match(g => (offset[g], length[g]), () => (0, 0));
        // Per-neuron parameters of a channels-last layer repeat with its channels: the kernel takes rows of one period
        // (the same values, so the same bits) and reads 3 × period floats instead of 3 × neurons each step.
        var constant = sa.Gain.ToSeq().Concat(sa.OutputScale.ToSeq()).Append(sa.Bias).All(id => program.Signal(id).Kind == SignalKind.Constant);
        var period = constant ? Period(a, bn, (bo, bn), (go, gn), (so, sn)) : bn;
        (bn, gn, sn) = (period, gn == bn ? period : gn, sn == 0 ? 0 : period);
        return () => fused(a.AsSpan(xo, n), a.AsSpan(go, gn), a.AsSpan(bo, bn), a.AsSpan(so, sn));
    }

    /// <summary>Rows of at least this many neurons keep the kernel's per-row set-up small against its vectors.</summary>
    internal const int MinPeriod = 256;

    /// <summary>Widened periods are whole 512-bit vectors (16 floats), so no row ends in a scalar tail.</summary>
    const int PeriodAlign = 16;

    /// <summary>
    /// The shortest length P that divides <paramref name="size"/> and over which every per-neuron parameter (the
    /// (offset, length) pairs of length <paramref name="size"/>; shorter ones are shared) repeats bit for bit, widened
    /// to a multiple of itself of at least <see cref="MinPeriod"/> and of <see cref="PeriodAlign"/> where
    /// <paramref name="size"/> allows; the size itself when nothing shorter repeats (one row, one tail).
    /// </summary>
    internal static int Period(float[] arena, int size, params (int Offset, int Length)[] parameters)
    {
        var perNeuron = parameters.Where(p => p.Length == size && size > 0).ToArray();
        for (var p = 1; p < size; p++)
        {
            if (size % p != 0 || !perNeuron.All(q => Repeats(arena.AsSpan(q.Offset, size), p))) continue;
            for (var wide = p; wide < size; wide += p)
                if (wide >= MinPeriod && wide % PeriodAlign == 0 && size % wide == 0) return wide;
            return size;
        }
        return size;
    }

    static bool Repeats(ReadOnlySpan<float> values, int period)
    {
        for (var i = period; i < values.Length; i++)
            if (BitConverter.SingleToInt32Bits(values[i]) != BitConverter.SingleToInt32Bits(values[i - period])) return false;
        return true;
    }

    /// <summary>
    /// The step, then (with an <see cref="INeuronOp.OutputScale"/>) each sample's output multiplied by the per-neuron
    /// factors while it is in cache. Steps cover whole samples (<paramref name="op"/>'s blocks start at sample bounds).
    /// </summary>
    NeuronStep Scaled(NeuronStep step, INeuronOp op)
    {
        if (!op.OutputScale.TryGet(out var scale)) return step;
        var a = arena;
        var (so, size, oo) = (offset[scale], length[scale], offset[op.Output]);
        return (j, from, count) =>
        {
            step(j, from, count);
            for (var r = 0; r < count; r += size)
                TensorPrimitives.Multiply(a.AsSpan(oo + from + r, size), a.AsSpan(so, size), a.AsSpan(oo + from + r, size));
        };
    }

    /// <summary>The step of <paramref name="neuron"/> writing the given output and state signals.</summary>
    NeuronStep NeuronKernel(NeuronType neuron, int output, Seq<int> state) =>
        neuron.Step(program.Dt, Buffers(output, state)).IfNone(() => throw new NotSupportedException($"neuron type {neuron.Name} has no kernel"));

    /// <summary>Where the output and state signals lie in the arena.</summary>
    NeuronBuffers Buffers(int output, Seq<int> state) => new(arena, offset[output], state.Map(s => offset[s]).Strict());
}
