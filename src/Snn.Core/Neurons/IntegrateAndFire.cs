using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// Integrate-and-fire as ANN-to-SNN conversion uses it (Rueckauer et al. 2017): the voltage integrates the signed
/// current, v += J·dt (it may go below zero, which Nengo's SpikingRectifiedLinear prevents by clipping J at 0);
/// n = floor(v) spikes when v ≥ 1; reset by subtraction (v −= n) or to zero; out = amplitude/dt·n.
/// Its rate is ReLU, like SpikingRectifiedLinear's.
/// <para>
/// With <see cref="NegativeSpikes"/> (signed spikes with memory, after Wang et al. 2022's signed neuron with memory,
/// here with several spikes per step) the neuron also counts its net spikes c and, when its voltage is below zero,
/// takes spikes back: n = max(floor(v), −c); v −= n; c += n. Its net count after every step is then exactly
/// max(0, floor(v₀ + Σ J·dt)), the ReLU of its integrated input quantized to whole spikes, whatever order the input
/// came in; plain IF instead keeps spikes it fired early on input that later turned negative. Needs reset by subtraction.
/// It is saved under its own tag (<see cref="SignedEntry"/>), so that a reader without negative spikes refuses the file
/// instead of running plain IF.
/// </para>
/// </summary>
public sealed record IntegrateAndFire(float Amplitude = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("IF",
        Seq(new SavedField("amplitude", FieldKind.Float), new SavedField("reset_to_zero", FieldKind.Bool)),
        f => new IntegrateAndFire(f.Float("amplitude")) { ResetToZero = f.Bool("reset_to_zero") })
    {
        Named = new IntegrateAndFire(),
        NengoClasses = Seq1(PythonClasses.If),
    };

    public static readonly NeuronKind SignedEntry = new("SignedIF", Seq1(new SavedField("amplitude", FieldKind.Float)),
        f => new IntegrateAndFire(f.Float("amplitude")) { NegativeSpikes = true })
    {
        Named = new IntegrateAndFire { NegativeSpikes = true },
        NengoClasses = Seq(PythonClasses.If, PythonClasses.Signed),
    };

    public override float OutputAmplitude => Amplitude;
    public bool ResetToZero { get; init; }

    /// <summary>Negative spikes take back earlier spikes while the voltage is below zero (never below a net count of zero).</summary>
    public bool NegativeSpikes { get; init; }
    public override bool Spiking => true;
    public override string Name => NegativeSpikes ? "SignedIF" : "IF";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => new RectifiedLinear(Amplitude);
    public override float Rate(float j) => Amplitude * MathF.Max(0f, j);
    public override Either<Error, NeuronType> WithResetToZero(string where) =>
        NegativeSpikes ? Errors.SignedNeedsSubtract(where) : this with { ResetToZero = true };

    public override Seq<NeuronState> State => NegativeSpikes ? Seq(NeuronState.Voltage, NeuronState.Count) : Seq1(NeuronState.Voltage);

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, vo, amplitude, reset) = (buffers.Arena, buffers.Output, buffers.State[0], Amplitude, ResetToZero);
        if (!NegativeSpikes)
            return Some<NeuronStep>((j, from, n) => NeuronKernels.IntegrateAndFire(j, dt, amplitude, false, reset, a.AsSpan(vo + from, n), a.AsSpan(oo + from, n)));
        var co = buffers.State[1];
        return Some<NeuronStep>((j, from, n) => NeuronKernels.SignedIntegrateAndFire(j, dt, amplitude, a.AsSpan(vo + from, n), a.AsSpan(co + from, n), a.AsSpan(oo + from, n)));
    }

    /// <summary>Signed neurons have the fused step (<see cref="NeuronKernels.SignedAffine"/>).</summary>
    public override Option<FusedAffineStep> FusedAffine(float dt, NeuronBuffers buffers, int length)
    {
        if (!NegativeSpikes) return None;
        var (a, oo, vo, co, amplitude) = (buffers.Arena, buffers.Output, buffers.State[0], buffers.State[1], Amplitude);
        return Some<FusedAffineStep>((x, gain, bias, scale) =>
            NeuronKernels.SignedAffine(x, gain, bias, scale, dt, amplitude, a.AsSpan(vo, length), a.AsSpan(co, length), a.AsSpan(oo, length)));
    }

    public override bool Calibrated => true;
    public override bool AmplitudeOnlyScaling => true;
    public override bool BiasCorrected => true;

    public override Option<NeuronKind> Kind => NegativeSpikes ? SignedEntry : Entry;
    public override Seq<NeuronField> Saved => NegativeSpikes
        ? Seq1(NeuronField.Number("amplitude", Amplitude))
        : Seq(NeuronField.Number("amplitude", Amplitude), NeuronField.Flag("reset_to_zero", ResetToZero));
    public override Seq<NeuronField> Npz => NpzFields(Amplitude, ResetToZero, clipCurrent: false);

    public override Either<string, NengoNeuron> Nengo => NegativeSpikes
        ? new NengoNeuron("SnnSignedIntegrateAndFire", Seq(NeuronField.Number("amplitude", Amplitude), NeuronField.InitialState)) { Defines = Seq(PythonClasses.If, PythonClasses.Signed) }
        : NengoOf(Amplitude, clipCurrent: false, ResetToZero);

    public override Either<string, NirNeuron> Nir => NegativeSpikes
        ? "its neurons emit negative spikes (SignedIF), which NIR's IF neuron cannot; convert with --neuron if"
        : NirOf(ResetToZero, clipCurrent: false);

    // ---------------------------------------------------------------- shared with SpikingRectifiedLinear

    /// <summary>The npz fields of the integrate-and-fire family.</summary>
    internal static Seq<NeuronField> NpzFields(float amplitude, bool resetToZero, bool clipCurrent) =>
        Seq(NeuronField.Number("amplitude", amplitude), NeuronField.Text("reset", resetToZero ? "zero" : "subtract"), NeuronField.Flag("clip_current", clipCurrent));

    /// <summary>The Nengo export's integrate-and-fire neuron (<see cref="PythonClasses.If"/>).</summary>
    internal static NengoNeuron NengoOf(float amplitude, bool clipCurrent, bool resetToZero) =>
        new("SnnIntegrateAndFire", Seq(NeuronField.Number("amplitude", amplitude), NeuronField.Flag("clip_current", clipCurrent),
            NeuronField.Flag("reset_to_zero", resetToZero), NeuronField.InitialState)) { Defines = Seq1(PythonClasses.If) };

    /// <summary>NIR's IF neuron (r = 1, v_threshold = 1, v_reset = 0), with the exact step in the metadata.</summary>
    internal static NirNeuron NirOf(bool resetToZero, bool clipCurrent)
    {
        var reset = resetToZero ? "zero" : "subtract";
        var step = (clipCurrent ? "v += max(J, 0)*dt" : "v += J*dt") + "; n = floor(v) if v >= 1 else 0 (several spikes per step possible); out = n*spike_value; " +
                   (resetToZero ? "v = 0 if n > 0" : "v -= n");
        return new NirNeuron("IF", reset, clipCurrent, step, Seq(("r", 1f), ("v_threshold", 1f), ("v_reset", 0f)));
    }

    /// <summary>The Python classes the Nengo export defines for these neurons (Nengo has no such types).</summary>
    internal static class PythonClasses
    {
        internal static readonly NengoClass If = new("SnnIntegrateAndFire", """"
            class SnnIntegrateAndFire(nengo.neurons.NeuronType):
                """Integrate-and-fire neuron of snn (Nengo has no such type).

                Each step: v += J * dt, with J clipped at 0 first when clip_current (as Nengo's SpikingRectifiedLinear
                does; conversion-style IF neurons integrate the signed current); n = floor(v) where v >= 1, else 0;
                output = (amplitude / dt) * n; then v -= n, or v = 0 where a spike was emitted when reset_to_zero.
                Its rate is amplitude * max(J, 0), as for RectifiedLinear.
                """

                state = {"voltage": nengo.dists.Uniform(low=0, high=1)}
                spiking = True
                negative = False

                amplitude = nengo.params.NumberParam("amplitude", low=0, low_open=True)
                clip_current = nengo.params.BoolParam("clip_current")
                reset_to_zero = nengo.params.BoolParam("reset_to_zero")

                def __init__(self, amplitude=1.0, clip_current=False, reset_to_zero=False, initial_state=None):
                    super().__init__(initial_state=initial_state)
                    self.amplitude = amplitude
                    self.clip_current = clip_current
                    self.reset_to_zero = reset_to_zero

                def rates(self, x, gain, bias):
                    return self.amplitude * np.maximum(self.current(x, gain, bias), 0)

                def max_rates_intercepts(self, gain, bias):
                    intercepts = -bias / gain  # informational only: gain and bias are given
                    return gain * (1 - intercepts), intercepts

                def step(self, dt, J, output, voltage):
                    voltage += (np.maximum(J, 0) if self.clip_current else J) * dt
                    n = np.where(voltage >= 1, np.floor(voltage), 0).astype(voltage.dtype)
                    output[...] = (self.amplitude / dt) * n
                    if self.reset_to_zero:
                        voltage[...] = np.where(n > 0, 0, voltage - n)
                    else:
                        voltage -= n
            """");

        internal static readonly NengoClass Signed = new("SnnSignedIntegrateAndFire", """"
            class SnnSignedIntegrateAndFire(SnnIntegrateAndFire):
                """Integrate-and-fire neuron of snn with negative spikes (signed spikes with memory).

                Each step: v += J * dt; n = max(floor(v), -count); output = (amplitude / dt) * n; v -= n; count += n.
                count is the neuron's net spike count, never below 0: while v < 0 the neuron takes back spikes it fired
                earlier, so its net count is max(0, floor(v0 + sum(J * dt))) after every step.
                """

                state = {"voltage": nengo.dists.Uniform(low=0, high=1), "count": nengo.dists.Choice([0])}
                negative = True

                def __init__(self, amplitude=1.0, initial_state=None):
                    super().__init__(amplitude=amplitude, clip_current=False, reset_to_zero=False, initial_state=initial_state)

                def step(self, dt, J, output, voltage, count):
                    voltage += J * dt
                    n = np.maximum(np.floor(voltage), -count).astype(voltage.dtype)
                    output[...] = (self.amplitude / dt) * n
                    voltage -= n
                    count += n
            """");
    }
}

public static partial class NeuronKernels
{
    /// <summary>
    /// v += (clip ? max(J, 0) : J)·dt; n = v ≥ 1 ? floor(v) : 0; out = amplitude/dt·n; then v −= n, or v = 0 when
    /// <paramref name="resetToZero"/> and n &gt; 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void IntegrateAndFire(ReadOnlySpan<float> j, float dt, float amplitude, bool clipCurrent, bool resetToZero, Span<float> voltage, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var alpha = amplitude / dt;
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var w = System.Numerics.Vector<float>.Count;
            var dtV = new System.Numerics.Vector<float>(dt);
            var alphaV = new System.Numerics.Vector<float>(alpha);
            var one = System.Numerics.Vector<float>.One;
            var zero = System.Numerics.Vector<float>.Zero;
            for (; i + w <= j.Length; i += w)
            {
                var jv = new System.Numerics.Vector<float>(j.Slice(i, w));
                if (clipCurrent) jv = System.Numerics.Vector.Max(jv, zero);
                var v = new System.Numerics.Vector<float>(voltage.Slice(i, w)) + jv * dtV;
                var fired = System.Numerics.Vector.GreaterThanOrEqual(v, one);
                var n = System.Numerics.Vector.ConditionalSelect(fired, System.Numerics.Vector.Floor(v), zero);
                (alphaV * n).CopyTo(output.Slice(i, w));
                var after = resetToZero ? System.Numerics.Vector.ConditionalSelect(fired, zero, v) : v - n;
                after.CopyTo(voltage.Slice(i, w));
            }
        }
        for (; i < j.Length; i++)
        {
            var v = voltage[i] + (clipCurrent ? MathF.Max(j[i], 0f) : j[i]) * dt;
            var n = v >= 1f ? MathF.Floor(v) : 0f;
            output[i] = alpha * n;
            voltage[i] = resetToZero && n > 0f ? 0f : v - n;
        }
    }

    /// <summary>
    /// Integrate-and-fire with negative spikes (signed spikes with memory): v += J·dt; n = max(floor(v), −c);
    /// out = amplitude/dt·n; v −= n; c += n. <paramref name="count"/> holds each neuron's net spike count c (≥ 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SignedIntegrateAndFire(ReadOnlySpan<float> j, float dt, float amplitude, Span<float> voltage, Span<float> count, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(count.Length, j.Length, nameof(count));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        Signed(j, default, default, default, j.Length, dt, amplitude / dt, voltage, count, output, affine: false);
    }

    /// <summary>
    /// <see cref="SignedIntegrateAndFire"/> on the currents J = x·gain + bias (one bias and scale per neuron, repeated for every sample of
    /// the block; gain empty, one value, or one per neuron), each output then multiplied by the neuron's
    /// <paramref name="scale"/> when one is given: the affine set (<c>y = x·gain + bias</c>), <see cref="SignedIntegrateAndFire"/> and the
    /// output scaling in one pass over the block, with the same operations in the same order (bit for bit).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SignedAffine(ReadOnlySpan<float> x, ReadOnlySpan<float> gain, ReadOnlySpan<float> bias, ReadOnlySpan<float> scale,
        float dt, float amplitude, Span<float> voltage, Span<float> count, Span<float> output)
    {
        var size = bias.Length;
        KernelMath.CheckLength(voltage.Length, x.Length, nameof(voltage));
        KernelMath.CheckLength(count.Length, x.Length, nameof(count));
        KernelMath.CheckLength(output.Length, x.Length, nameof(output));
        if (size == 0 ? x.Length != 0 : x.Length % size != 0) throw new ArgumentException($"Length {x.Length} is not a multiple of {size} neurons.", nameof(x));
        if (gain.Length is not (0 or 1) && gain.Length != size) throw new ArgumentException("gain must have 0, 1 or one value per neuron.", nameof(gain));
        if (scale.Length != 0 && scale.Length != size) throw new ArgumentException("scale must be empty or have one value per neuron.", nameof(scale));
        Signed(x, gain, bias, scale, size, dt, amplitude / dt, voltage, count, output, affine: true);
    }

    /// <summary>
    /// The signed step on rows of <paramref name="size"/> neurons: J = x (or, <paramref name="affine"/>, x·gain + bias),
    /// v += J·dt; n = max(floor(v), −c); out = alpha·n (× scale); v −= n; c += n. Vectors where the hardware has them,
    /// the same operations lane by lane (products and sums never fused), scalars for each row's tail.
    /// </summary>
    static unsafe void Signed(ReadOnlySpan<float> x, ReadOnlySpan<float> gain, ReadOnlySpan<float> bias, ReadOnlySpan<float> scale, int size,
        float dt, float alpha, Span<float> voltage, Span<float> count, Span<float> output, bool affine)
    {
        fixed (float* px = x, pg = gain, pb = bias, ps = scale, pv = voltage, pc = count, po = output)
        {
            var p = new SignedArgs(px, pg, gain.Length, pb, ps, scale.Length > 0, pv, pc, po, dt, alpha, affine);
            for (var row = 0; row < x.Length; row += size)
            {
                var i = KernelMath.Path switch
                {
                    SimdPath.Avx512 => SignedVectors<Vector512<float>, V512>(p, row, size),
                    SimdPath.Avx256 => SignedVectors<Vector256<float>, V256>(p, row, size),
                    _ => 0,
                };
                for (; i < size; i++)
                {
                    var k = row + i;
                    var j = affine ? (p.GainLength == 0 ? px[k] : px[k] * pg[p.GainLength == 1 ? 0 : i]) + pb[i] : px[k];
                    var v = pv[k] + j * dt;
                    var n = MathF.Max(MathF.Floor(v), -pc[k]);
                    var o = alpha * n;
                    po[k] = p.Scaled ? o * ps[i] : o;
                    pv[k] = v - n;
                    pc[k] += n;
                }
            }
        }
    }

    readonly unsafe struct SignedArgs(float* x, float* gain, int gainLength, float* bias, float* scale, bool scaled,
        float* voltage, float* count, float* output, float dt, float alpha, bool affine)
    {
        public readonly float* X = x, Gain = gain, Bias = bias, Scale = scale, Voltage = voltage, Count = count, Output = output;
        public readonly int GainLength = gainLength;
        public readonly float Dt = dt, Alpha = alpha;
        public readonly bool Scaled = scaled, Affine = affine;
    }

    /// <summary>The whole vectors of one row of <see cref="Signed"/>; returns where the scalar tail starts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe int SignedVectors<TV, TOps>(SignedArgs p, int row, int size)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        var (dtV, alphaV) = (TOps.Create(p.Dt), TOps.Create(p.Alpha));
        var g0 = TOps.Create(p.GainLength == 1 ? *p.Gain : 0f);
        var i = 0;
        for (; i + TOps.Width <= size; i += TOps.Width)
        {
            var k = row + i;
            var x = TOps.Load(p.X + k);
            var j = !p.Affine ? x
                : TOps.Add(p.GainLength == 0 ? x : TOps.Multiply(x, p.GainLength == 1 ? g0 : TOps.Load(p.Gain + i)), TOps.Load(p.Bias + i));
            var v = TOps.Add(TOps.Load(p.Voltage + k), TOps.Multiply(j, dtV));
            var c = TOps.Load(p.Count + k);
            var n = TOps.Max(TOps.Floor(v), TOps.Negate(c));
            var o = TOps.Multiply(alphaV, n);
            TOps.Store(p.Output + k, p.Scaled ? TOps.Multiply(o, TOps.Load(p.Scale + i)) : o);
            TOps.Store(p.Voltage + k, TOps.Subtract(v, n));
            TOps.Store(p.Count + k, TOps.Add(c, n));
        }
        return i;
    }

}
