using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// Nengo's SpikingRectifiedLinear: v += max(J, 0)·dt; n = floor(v); out = amplitude/dt·n; v −= n. Its rate is ReLU.
/// With <see cref="ResetToZero"/> (not Nengo's) it resets to zero after a spike and spikes only at v ≥ 1.
/// </summary>
public sealed record SpikingRectifiedLinear(float Amplitude = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("SpikingRectifiedLinear",
        Seq(new SavedField("amplitude", FieldKind.Float), new SavedField("reset_to_zero", FieldKind.Bool)),
        f => new SpikingRectifiedLinear(f.Float("amplitude")) { ResetToZero = f.Bool("reset_to_zero") })
    {
        Named = new SpikingRectifiedLinear(),
        NengoClasses = Seq1(IntegrateAndFire.PythonClasses.If),
    };

    public override float OutputAmplitude => Amplitude;
    /// <summary>Reset to zero after a spike instead of subtracting the spikes (Nengo subtracts).</summary>
    public bool ResetToZero { get; init; }
    public override bool Spiking => true;
    public override string Name => "SpikingRectifiedLinear";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => new RectifiedLinear(Amplitude);
    public override float Rate(float j) => Amplitude * MathF.Max(0f, j);
    public override Either<Error, NeuronType> WithResetToZero(string where) => this with { ResetToZero = true };

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, vo, amplitude) = (buffers.Arena, buffers.Output, buffers.State[0], Amplitude);
        return ResetToZero
            ? Some<NeuronStep>((j, from, n) => NeuronKernels.IntegrateAndFire(j, dt, amplitude, true, true, a.AsSpan(vo + from, n), a.AsSpan(oo + from, n)))
            : Some<NeuronStep>((j, from, n) => NeuronKernels.SpikingRectifiedLinear(j, dt, amplitude, a.AsSpan(vo + from, n), a.AsSpan(oo + from, n)));
    }

    public override bool Calibrated => true;
    public override bool AmplitudeOnlyScaling => true;
    public override bool BiasCorrected => true;

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved => Seq(NeuronField.Number("amplitude", Amplitude), NeuronField.Flag("reset_to_zero", ResetToZero));
    public override Seq<NeuronField> Npz => IntegrateAndFire.NpzFields(Amplitude, ResetToZero, clipCurrent: true);

    public override Either<string, NengoNeuron> Nengo => ResetToZero
        ? IntegrateAndFire.NengoOf(Amplitude, clipCurrent: true, resetToZero: true)
        : new NengoNeuron("nengo.SpikingRectifiedLinear", Seq(NeuronField.Number("amplitude", Amplitude), NeuronField.InitialState));

    public override Either<string, NirNeuron> Nir => IntegrateAndFire.NirOf(ResetToZero, clipCurrent: true);
}

public static partial class NeuronKernels
{
    /// <summary>
    /// <c>v += max(J, 0) * dt; n = floor(v); out = (amplitude / dt) * n; v -= n</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SpikingRectifiedLinear(ReadOnlySpan<float> j, float dt, float amplitude, Span<float> voltage, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        float alpha = amplitude / dt;
        var dtV = Vector256.Create(dt);
        var alphaV = Vector256.Create(alpha);
        int n = j.Length;
        int i = 0;
        ref float rj = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(j);
        ref float rv = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(voltage);
        ref float ro = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(output);
        for (; i + 8 <= n; i += 8)
        {
            var jv = Vector256.LoadUnsafe(ref rj, (nuint)i);
            var v = Vector256.LoadUnsafe(ref rv, (nuint)i);
            SrlStep(jv, dtV, alphaV, ref v, out var o);
            v.StoreUnsafe(ref rv, (nuint)i);
            o.StoreUnsafe(ref ro, (nuint)i);
        }

        if (i < n)
        {
            Span<float> t = stackalloc float[16];
            int rem = n - i;
            j.Slice(i).CopyTo(t);
            voltage.Slice(i).CopyTo(t.Slice(8));
            var v = Vector256.Create<float>(t.Slice(8));
            SrlStep(Vector256.Create<float>(t), dtV, alphaV, ref v, out var o);
            v.CopyTo(t.Slice(8));
            o.CopyTo(t);
            t.Slice(8, rem).CopyTo(voltage.Slice(i));
            t.Slice(0, rem).CopyTo(output.Slice(i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SrlStep(Vector256<float> j, Vector256<float> dt, Vector256<float> alpha, ref Vector256<float> v, out Vector256<float> output)
    {
        v += Vector256.Max(j, Vector256<float>.Zero) * dt;
        var n = Vector256.Floor(v);
        output = alpha * n;
        v -= n;
    }
}
