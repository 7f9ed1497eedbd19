using System.Numerics.Tensors;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Lower;
using Snn.Runtime.Kernels;

namespace Snn.Runtime;

/// <summary>
/// A lowered program made executable for one batch size: every signal gets a fixed slice of one
/// float arena (batched signals hold batch × size values), and every operator becomes a step closure
/// over pre-resolved offsets. All allocation happens here; <see cref="Step()"/> allocates nothing.
/// </summary>
public sealed class Plan
{
    readonly float[] arena;
    readonly float[] initial;
    readonly int[] offset;
    readonly int[] length;
    readonly Action[] steps;
    readonly bool[] invariant;
    bool primed;
    readonly float[][] inputs;
    readonly OpProgram program;

    public int Batch { get; }

    /// <summary>Input density (fraction of non-zero spikes) below which a dense connection runs event-driven.</summary>
    public const double EventDensityThreshold = 0.25;
    public OpProgram Program => program;

    /// <summary>Bytes held by the arena and scratch buffers.</summary>
    public long ArenaBytes { get; }

    Plan(OpProgram program, int batch)
    {
        this.program = program;
        Batch = batch;
        var signals = program.Signals;
        offset = new int[signals.Count];
        length = new int[signals.Count];
        long total = 0;
        for (var i = 0; i < signals.Count; i++)
        {
            var s = signals[i];
            offset[i] = (int)total;
            length[i] = s.Kind == SignalKind.Batched ? checked(s.Size * batch) : s.Size;
            total += length[i];
        }
        arena = new float[checked((int)total)];
        foreach (var s in signals)
            if (s.Initial.TryGet(out var init))
                for (var r = 0; r < length[s.Id] / s.Size; r++)
                    init.Span.CopyTo(arena.AsSpan(offset[s.Id] + r * s.Size, s.Size));
        initial = (float[])arena.Clone();
        inputs = program.InputShapes.Map(sh => new float[Shapes.Product(sh) * batch]).ToArray();

        var workspace = 0;
        foreach (var op in program.Ops)
            workspace = Math.Max(workspace, op switch
            {
                ConvInc c => Geometry(c.Spec).WorkspaceSize(batch),
                PoolInc p when p.Spec.Kind == PoolKind.Max => Shapes.Product(p.Spec.OutputShape) * batch,
                _ => 0,
            });
        var scratch = new float[workspace];
        steps = program.Ops.Map(op => Compile(op, scratch)).ToArray();
        invariant = InvariantOps(program);
        ArenaBytes = (arena.LongLength * 2 + workspace + inputs.Sum(i => (long)i.Length)) * sizeof(float);
    }

    public static Plan Create(OpProgram program, int batch)
    {
        if (batch <= 0) throw new ArgumentOutOfRangeException(nameof(batch));
        return new Plan(program, batch);
    }

    Span<float> S(int signal) => arena.AsSpan(offset[signal], length[signal]);

    /// <summary>Restores every signal to its initial value (step 0).</summary>
    public void Reset()
    {
        initial.CopyTo(arena, 0);
        primed = false;
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

    /// <summary>One step that also adds each operator's elapsed Stopwatch ticks to <paramref name="ticks"/> (one slot per operator).</summary>
    public void Step(long[] ticks)
    {
        var skip = HoistInvariants && primed;
        primed = true;
        for (var i = 0; i < steps.Length; i++)
        {
            if (skip && invariant[i]) continue;
            var start = System.Diagnostics.Stopwatch.GetTimestamp();
            steps[i]();
            ticks[i] += System.Diagnostics.Stopwatch.GetTimestamp() - start;
        }
    }

    /// <summary>The current value of probe <paramref name="index"/>: [batch, size].</summary>
    public ReadOnlySpan<float> Probe(int index) => S(program.Probes[index].Signal);

    /// <summary>The spiking neuron outputs: (ensemble id, neurons, arena offset, dt/amplitude to turn outputs into spike counts).</summary>
    public IReadOnlyList<(string Ensemble, int Neurons, int Offset, float PerSpike)> SpikingOutputs =>
        program.Ops.OfType<SimNeurons>().Where(sn => sn.Neuron.Spiking).Select(sn =>
        {
            var name = program.Signal(sn.Output).Name;
            return (name.EndsWith(".out", StringComparison.Ordinal) ? name[..^4] : name, program.Signal(sn.Output).Size, offset[sn.Output],
                program.Dt / sn.Neuron.OutputAmplitude);
        }).ToList();

    /// <summary>Adds this step's spike counts (|output| × dt/amplitude, summed over the batch) per neuron.</summary>
    public void AccumulateSpikes(IReadOnlyList<(string Ensemble, int Neurons, int Offset, float PerSpike)> outputs, double[][] totals, int rows)
    {
        for (var k = 0; k < outputs.Count; k++)
        {
            var (_, n, o, per) = outputs[k];
            var t = totals[k];
            for (var b = 0; b < rows; b++)
                for (var i = 0; i < n; i++) t[i] += MathF.Abs(arena[o + b * n + i]) * per;
        }
    }

    /// <summary>Current value of any signal (for tests and tools).</summary>
    public ReadOnlySpan<float> SignalValue(int signal) => S(signal);

    static ConvGeometry Geometry(ConvSpec s) => ConvGeometry.Create(
        s.InSpatial.ToArray(), s.InChannels, s.Kernel.ToArray(), s.Strides.ToArray(), s.Dilation.ToArray(),
        s.PadBefore.ToArray(), s.OutSpatial.ToArray(), s.Filters, s.Groups, s.ChannelsLast);

    static PoolGeometry Geometry(PoolSpec s) => PoolGeometry.Create(
        s.InSpatial.ToArray(), s.Channels, s.Pool.ToArray(), s.Strides.ToArray(), s.PadBefore.ToArray(), s.OutSpatial.ToArray(), s.ChannelsLast);

    Action Compile(Op op, float[] scratch)
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
                return () => Elementwise.MultiplyAccumulate(a.AsSpan(ao, an), a.AsSpan(xo, xn), a.AsSpan(yo, yn));
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
                return () =>
                {
                    var x = a.AsSpan(xo, xn);
                    var sparse = x.Count(0f) > x.Length * (1 - EventDensityThreshold);
                    Dense.Accumulate(x, rows, inSize, a.AsSpan(wo, wn), outSize, a.AsSpan(yo, yn), sparse);
                };
            }
            case ConvInc c:
            {
                var g = Geometry(c.Spec);
                var (wo, wn, xo, xn, yo, yn) = (offset[c.W], length[c.W], offset[c.X], length[c.X], offset[c.Y], length[c.Y]);
                var ws = scratch;
                var wsn = g.WorkspaceSize(batch);
                return () => Conv.Accumulate(g, a.AsSpan(wo, wn), a.AsSpan(xo, xn), batch, ws.AsSpan(0, wsn), a.AsSpan(yo, yn));
            }
            case PoolInc p:
            {
                var g = Geometry(p.Spec);
                var (xo, xn, yo, yn) = (offset[p.X], length[p.X], offset[p.Y], length[p.Y]);
                if (p.Spec.Kind == PoolKind.Average)
                    return () => Pool.AverageAccumulate(g, a.AsSpan(xo, xn), batch, a.AsSpan(yo, yn));
                var ws = scratch;
                return () =>
                {
                    var tmp = ws.AsSpan(0, yn);
                    Pool.Max(g, a.AsSpan(xo, xn), batch, tmp);
                    TensorPrimitives.Add(tmp, a.AsSpan(yo, yn), a.AsSpan(yo, yn));
                };
            }
            case SimNeurons sn:
                return CompileNeurons(sn);
            case MaxPoolOp { Method: not Compiler.Convert.MaxPoolMethod.Gate, Spec.ChannelsLast: true } m:
            {
                var (offsets, indices) = m.Spec.PixelWindows();
                var channels = m.Spec.Channels;
                var (xo, xn, yo, yn, co, mo) = (offset[m.X], length[m.X], offset[m.Y], length[m.Y], offset[m.Counts], offset[m.Max]);
                var row = new float[channels];
                return () => SpikingPool.CountChannelsLast(a.AsSpan(xo, xn), batch, channels, offsets, indices, a.AsSpan(co, xn), a.AsSpan(mo, yn), a.AsSpan(yo, yn), row);
            }
            case MaxPoolOp m:
            {
                var (offsets, indices) = m.Spec.Windows();
                var (xo, xn, yo, yn, co, mo) = (offset[m.X], length[m.X], offset[m.Y], length[m.Y], offset[m.Counts], offset[m.Max]);
                return m.Method == Compiler.Convert.MaxPoolMethod.Gate
                    ? () => SpikingPool.Gate(a.AsSpan(xo, xn), batch, offsets, indices, a.AsSpan(co, xn), a.AsSpan(mo, yn), a.AsSpan(yo, yn))
                    : () => SpikingPool.Count(a.AsSpan(xo, xn), batch, offsets, indices, a.AsSpan(co, xn), a.AsSpan(mo, yn), a.AsSpan(yo, yn));
            }
            case FunctionOp f:
            {
                var (xo, yo) = (offset[f.X], offset[f.Y]);
                var (inSize, outSize) = (program.Signal(f.X).Size, program.Signal(f.Y).Size);
                var fn = f.Function;
                return () =>
                {
                    for (var b = 0; b < batch; b++)
                        fn.Apply(a.AsSpan(xo + b * inSize, inSize), a.AsSpan(yo + b * outSize, outSize));
                };
            }
            case FilterOp f:
            {
                var (xo, n, yo, dOff) = (offset[f.X], length[f.X], offset[f.Y], offset[f.D]);
                var c = f.Coefficients.ToArray();
                var size = c.Length / FilterOp.PerElement(f.Kind);
                return f.Kind == Compiler.Legalize.FilterKind.Lowpass
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

    /// <summary>Whether a signal is a spike train: a spiking neuron output, or one scaled per element by a constant (zeros stay zeros).</summary>
    bool IsSpiking(int signal)
    {
        if (program.Ops.Exists(o => o is SimNeurons { Neuron.Spiking: true } sn && sn.Output == signal)) return true;
        var incs = program.Ops.Filter(o => o.Incs.Contains(signal)).ToList();
        return incs.Count == 1 && incs[0] is ElementwiseInc e && program.Signal(e.A).Kind == SignalKind.Constant && e.X != signal && IsSpiking(e.X);
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

    Action CompileNeurons(SimNeurons sn)
    {
        var a = arena;
        if (sn.Neuron is RegularSpiking regular)
        {
            // The base type's rate into the output, then regular spiking on it.
            var rate = CompileNeurons(sn with { Neuron = regular.Base, State = LanguageExt.Prelude.Seq<int>() });
            var (vo0, n0, oo0, dt0, amp) = (offset[sn.State[0]], length[sn.Output], offset[sn.Output], program.Dt, regular.Amplitude);
            return () =>
            {
                rate();
                Neurons.RegularSpiking(dt0, amp, a.AsSpan(vo0, n0), a.AsSpan(oo0, n0));
            };
        }
        var (jo, n, oo) = (offset[sn.J], length[sn.J], offset[sn.Output]);
        var dt = program.Dt;
        var vo = sn.State.Count > 0 ? offset[sn.State[0]] : 0;
        var ro = sn.State.Count > 1 ? offset[sn.State[1]] : 0;
        return sn.Neuron switch
        {
            RectifiedLinear r => () => Neurons.RectifiedLinear(a.AsSpan(jo, n), r.Amplitude, a.AsSpan(oo, n)),
            SpikingRectifiedLinear { ResetToZero: true } s => () => IntegrateFire.Step(a.AsSpan(jo, n), dt, s.Amplitude, true, true, a.AsSpan(vo, n), a.AsSpan(oo, n)),
            SpikingRectifiedLinear s => () => Neurons.SpikingRectifiedLinear(a.AsSpan(jo, n), dt, s.Amplitude, a.AsSpan(vo, n), a.AsSpan(oo, n)),
            IntegrateAndFire f => () => IntegrateFire.Step(a.AsSpan(jo, n), dt, f.Amplitude, false, f.ResetToZero, a.AsSpan(vo, n), a.AsSpan(oo, n)),
            LifRate l => () => Neurons.LifRate(a.AsSpan(jo, n), l.TauRc, l.TauRef, l.Amplitude, a.AsSpan(oo, n)),
            Lif l => () => Neurons.Lif(a.AsSpan(jo, n), dt, l.TauRc, l.TauRef, l.MinVoltage, l.Amplitude, a.AsSpan(vo, n), a.AsSpan(ro, n), a.AsSpan(oo, n)),
            LeakyRectifiedLinear l => () => ReluFamily.Rate(a.AsSpan(jo, n), l.Slope.Span, l.Threshold, l.MaxValue, l.Amplitude, a.AsSpan(oo, n)),
            SpikingLeakyRectifiedLinear l => () => ReluFamily.Spiking(a.AsSpan(jo, n), l.Slope.Span, l.Threshold, l.MaxValue, dt, l.Amplitude, a.AsSpan(vo, n), a.AsSpan(oo, n)),
            Compiler.Sigmoid s => () => Neurons.Sigmoid(a.AsSpan(jo, n), s.TauRef, a.AsSpan(oo, n)),
            Compiler.Tanh t => () => Neurons.Tanh(a.AsSpan(jo, n), t.TauRef, a.AsSpan(oo, n)),
            _ => throw new NotSupportedException($"neuron type {sn.Neuron.Name} has no kernel"),
        };
    }
}
