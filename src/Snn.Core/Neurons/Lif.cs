using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>Nengo's LIF neuron (nengo-semantics.md §2.1): voltage, refractory time, spikes of amplitude/dt.</summary>
public sealed record Lif(float TauRc = 0.02f, float TauRef = 0.002f, float MinVoltage = 0f, float Amplitude = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("LIF",
        Seq(new SavedField("tau_rc", FieldKind.Positive), new SavedField("tau_ref", FieldKind.NonNegative), new SavedField("min_voltage", FieldKind.Float),
            new SavedField("amplitude", FieldKind.Float)),
        f => new Lif(f.Float("tau_rc"), f.Float("tau_ref"), f.Float("min_voltage"), f.Float("amplitude"))) { Named = new Lif() };

    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => true;
    public override string Name => "LIF";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => new LifRate(TauRc, TauRef, Amplitude);
    public override float Rate(float j) => LifRate.LifRates(j, TauRc, TauRef, Amplitude);

    public override Seq<NeuronState> State => Seq(NeuronState.Voltage, NeuronState.Refractory);

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, vo, ro, l) = (buffers.Arena, buffers.Output, buffers.State[0], buffers.State[1], this);
        return Some<NeuronStep>((j, from, n) =>
            NeuronKernels.Lif(j, dt, l.TauRc, l.TauRef, l.MinVoltage, l.Amplitude, a.AsSpan(vo + from, n), a.AsSpan(ro + from, n), a.AsSpan(oo + from, n)));
    }

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved => Seq(NeuronField.Number("tau_rc", TauRc), NeuronField.Number("tau_ref", TauRef),
        NeuronField.Number("min_voltage", MinVoltage), NeuronField.Number("amplitude", Amplitude));
    public override Seq<NeuronField> Npz => Seq(NeuronField.Number("amplitude", Amplitude), NeuronField.Number("tau_rc", TauRc),
        NeuronField.Number("tau_ref", TauRef), NeuronField.Number("min_voltage", MinVoltage));
    public override Either<string, NengoNeuron> Nengo => new NengoNeuron("nengo.LIF", Saved.Add(NeuronField.InitialState));

    public override Either<string, NirNeuron> Nir => new NirNeuron("LIF", "zero", false,
        "Nengo LIF (nengo-semantics.md 2.1): exact exponential integration of tau_rc dv/dt = J - v over the non-refractory part of the step; " +
        "spike when v > 1 (out = spike_value), then v = 0 and refractory for tau_ref (minus the spike's sub-step time); v clipped below at min_voltage",
        Seq(("tau", TauRc), ("r", 1f), ("v_leak", 0f), ("v_threshold", 1f), ("v_reset", 0f)))
    {
        Metadata = Seq(("tau_ref", (double)TauRef), ("min_voltage", (double)MinVoltage)),
    };
}

public static partial class NeuronKernels
{
    /// <summary>
    /// Nengo <c>LIF.step</c>: <c>r -= dt; delta_t = clip(dt - r, 0, dt);
    /// v -= (J - v) * expm1(-delta_t / tau_rc); spiked = v &gt; 1; out = spiked * (amplitude / dt);
    /// t_spike = dt + tau_rc * log1p(-(v - 1) / (J - 1)) (spiked only); v[v &lt; min_voltage] = min_voltage;
    /// v[spiked] = 0; r[spiked] = tau_ref + t_spike</c>. <paramref name="refractory"/> holds Nengo's
    /// refractory_time (initially 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Lif(ReadOnlySpan<float> j, float dt, float tauRc, float tauRef, float minVoltage, float amplitude, Span<float> voltage, Span<float> refractory, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(refractory.Length, j.Length, nameof(refractory));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var p = new LifParams(dt, tauRc, tauRef, minVoltage, amplitude);
        int n = j.Length;
        int i = 0;
        ref float rj = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(j);
        ref float rv = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(voltage);
        ref float rr = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(refractory);
        ref float ro = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(output);
        for (; i + 8 <= n; i += 8)
        {
            var v = Vector256.LoadUnsafe(ref rv, (nuint)i);
            var r = Vector256.LoadUnsafe(ref rr, (nuint)i);
            var o = LifStep(Vector256.LoadUnsafe(ref rj, (nuint)i), in p, ref v, ref r);
            v.StoreUnsafe(ref rv, (nuint)i);
            r.StoreUnsafe(ref rr, (nuint)i);
            o.StoreUnsafe(ref ro, (nuint)i);
        }

        if (i < n)
        {
            int rem = n - i;
            Span<float> t = stackalloc float[24];
            j.Slice(i).CopyTo(t);
            voltage.Slice(i).CopyTo(t.Slice(8));
            refractory.Slice(i).CopyTo(t.Slice(16));
            var v = Vector256.Create<float>(t.Slice(8));
            var r = Vector256.Create<float>(t.Slice(16));
            var o = LifStep(Vector256.Create<float>(t), in p, ref v, ref r);
            o.CopyTo(t);
            v.CopyTo(t.Slice(8));
            r.CopyTo(t.Slice(16));
            t.Slice(0, rem).CopyTo(output.Slice(i));
            t.Slice(8, rem).CopyTo(voltage.Slice(i));
            t.Slice(16, rem).CopyTo(refractory.Slice(i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LifStep(Vector256<float> j, in LifParams p, ref Vector256<float> v, ref Vector256<float> r)
    {
        r -= p.Dt;
        var deltaT = Vector256.Min(Vector256.Max(p.Dt - r, Vector256<float>.Zero), p.Dt);

        // expm1(-delta_t / tau_rc): delta_t == dt (not refractory) is by far the common case.
        var full = Vector256.Equals(deltaT, p.Dt);
        Vector256<float> e;
        if (full == Vector256<float>.AllBitsSet)
        {
            e = p.ExpM1Dt;
        }
        else
        {
            e = Vector256.ConditionalSelect(full, p.ExpM1Dt, NeuronMath.ExpM1(-deltaT / p.TauRc));
        }

        v -= (j - v) * e;
        var spiked = Vector256.GreaterThan(v, Vector256<float>.One);
        var output = spiked & p.Alpha;
        if (spiked != Vector256<float>.Zero)
        {
            var tSpike = p.Dt + (p.TauRc * NeuronMath.Log1P(-(v - Vector256<float>.One) / (j - Vector256<float>.One)));
            r = Vector256.ConditionalSelect(spiked, p.TauRef + tSpike, r);
        }

        v = Vector256.ConditionalSelect(Vector256.LessThan(v, p.MinVoltage), p.MinVoltage, v);
        v = Vector256.AndNot(v, spiked);
        return output;
    }
}

/// <summary>The LIF kernels' parameters as vectors.</summary>
internal readonly struct LifParams
{
    public readonly Vector256<float> Dt;
    public readonly Vector256<float> TauRc;
    public readonly Vector256<float> TauRef;
    public readonly Vector256<float> MinVoltage;
    public readonly Vector256<float> Alpha;
    public readonly Vector256<float> Amplitude;
    public readonly Vector256<float> ExpM1Dt;

    public LifParams(float dt, float tauRc, float tauRef, float minVoltage, float amplitude)
    {
        Dt = Vector256.Create(dt);
        TauRc = Vector256.Create(tauRc);
        TauRef = Vector256.Create(tauRef);
        MinVoltage = Vector256.Create(minVoltage);
        Amplitude = Vector256.Create(amplitude);
        Alpha = Vector256.Create(amplitude / dt);
        ExpM1Dt = NeuronMath.ExpM1(-Dt / TauRc);
    }
}
