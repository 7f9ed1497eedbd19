using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>Nengo's LIFRate: amplitude / (tau_ref + tau_rc·log1p(1/(J − 1))) for J &gt; 1, else 0.</summary>
public sealed record LifRate(float TauRc = 0.02f, float TauRef = 0.002f, float Amplitude = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("LIFRate",
        Seq(new SavedField("tau_rc", FieldKind.Positive), new SavedField("tau_ref", FieldKind.NonNegative), new SavedField("amplitude", FieldKind.Float)),
        f => new LifRate(f.Float("tau_rc"), f.Float("tau_ref"), f.Float("amplitude"))) { Named = new LifRate() };

    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => false;
    public override string Name => "LIFRate";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => this;
    public override NeuronType SpikingVersion => new Lif(TauRc, TauRef, 0f, Amplitude);
    public override float Rate(float j) => LifRates(j, TauRc, TauRef, Amplitude);
    public override bool Differentiable => true;

    /// <summary>d/dJ of amplitude / (τref + τrc·log(1 + 1/(J − 1))) for J &gt; 1; 0 at and below the threshold (where the rate leaves 0 with infinite slope, the rate itself is 0).</summary>
    public override double RateSlope(float j, int neuron)
    {
        double x = (double)j - 1.0;
        if (!(x > 0)) return 0;
        double d = TauRef + TauRc * Math.Log(1.0 + 1.0 / x);
        return Amplitude * TauRc / (x * (x + 1.0) * d * d);
    }

    internal static float LifRates(float j, float tauRc, float tauRef, float amplitude)
    {
        var x = j - 1f;
        return x > 0 ? amplitude / (tauRef + tauRc * (float)Math.Log(1.0 + 1.0 / x)) : 0f;
    }

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, l) = (buffers.Arena, buffers.Output, this);
        return Some<NeuronStep>((j, from, n) => NeuronKernels.LifRate(j, l.TauRc, l.TauRef, l.Amplitude, a.AsSpan(oo + from, n)));
    }

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved =>
        Seq(NeuronField.Number("tau_rc", TauRc), NeuronField.Number("tau_ref", TauRef), NeuronField.Number("amplitude", Amplitude));
    public override Seq<NeuronField> Npz =>
        Seq(NeuronField.Number("amplitude", Amplitude), NeuronField.Number("tau_rc", TauRc), NeuronField.Number("tau_ref", TauRef));
    public override Either<string, NengoNeuron> Nengo => new NengoNeuron("nengo.LIFRate", Saved);
}

public static partial class NeuronKernels
{
    /// <summary>
    /// <c>j = J - 1; out = j &gt; 0 ? amplitude / (tau_ref + tau_rc * log1p(1 / j)) : 0</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LifRate(ReadOnlySpan<float> j, float tauRc, float tauRef, float amplitude, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var p = new LifParams(0f, tauRc, tauRef, 0f, amplitude);
        int n = j.Length;
        int i = 0;
        ref float rj = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(j);
        ref float ro = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(output);
        for (; i + 8 <= n; i += 8)
        {
            LifRateStep(Vector256.LoadUnsafe(ref rj, (nuint)i), in p).StoreUnsafe(ref ro, (nuint)i);
        }

        if (i < n)
        {
            Span<float> t = stackalloc float[8];
            j.Slice(i).CopyTo(t);
            LifRateStep(Vector256.Create<float>(t), in p).CopyTo(t);
            t.Slice(0, n - i).CopyTo(output.Slice(i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LifRateStep(Vector256<float> jIn, in LifParams p)
    {
        var j = jIn - Vector256<float>.One;
        var pos = Vector256.GreaterThan(j, Vector256<float>.Zero);
        if (pos == Vector256<float>.Zero)
        {
            return Vector256<float>.Zero;
        }

        var q = NeuronMath.Log1P(Vector256<float>.One / j);
        var rate = p.Amplitude / (p.TauRef + (p.TauRc * q));
        return pos & rate;
    }
}
