using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>Nengo Tanh(tau_ref): (1/tau_ref)*tanh(J); the converter uses tau_ref = 1.</summary>
public sealed record Tanh(float TauRef = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("Tanh", Seq1(new SavedField("tau_ref", FieldKind.Positive)),
        f => new Tanh(f.Float("tau_ref"))) { Named = new Tanh() };

    public override bool Spiking => false;
    public override string Name => "Tanh";
    public override bool HasAmplitude => false;
    public override NeuronType ScaleAmplitude(float f) => this;
    public override NeuronType RateVersion => this;
    public override float Rate(float j) => MathF.Tanh(j) / TauRef;
    public override bool Differentiable => true;
    public override double RateSlope(float j, int neuron)
    {
        var h = Math.Tanh(j);
        return (1.0 - h * h) / TauRef;
    }

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, tauRef) = (buffers.Arena, buffers.Output, TauRef);
        return Some<NeuronStep>((j, from, n) => NeuronKernels.Tanh(j, tauRef, a.AsSpan(oo + from, n)));
    }

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved => Seq1(NeuronField.Number("tau_ref", TauRef));
    public override Seq<NeuronField> Npz => Saved;
    public override Either<string, NengoNeuron> Nengo => new NengoNeuron("nengo.Tanh", Saved);
}

public static partial class NeuronKernels
{
    /// <summary>
    /// <c>out = (1 / tau_ref) * tanh(J)</c>. tanh is evaluated in double as
    /// <c>sign(J) * -expm1(-2|J|) / (2 + expm1(-2|J|))</c> and rounded to float (TensorPrimitives.Tanh
    /// is not accurate enough near 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tanh(ReadOnlySpan<float> j, float tauRef, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var scale = Vector256.Create((float)(1.0 / tauRef));
        int n = j.Length;
        int i = 0;
        ref float rj = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(j);
        ref float ro = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(output);
        for (; i + 8 <= n; i += 8)
        {
            (scale * NeuronMath.Tanh(Vector256.LoadUnsafe(ref rj, (nuint)i))).StoreUnsafe(ref ro, (nuint)i);
        }

        if (i < n)
        {
            Span<float> t = stackalloc float[8];
            j.Slice(i).CopyTo(t);
            (scale * NeuronMath.Tanh(Vector256.Create<float>(t))).CopyTo(t);
            t.Slice(0, n - i).CopyTo(output.Slice(i));
        }
    }
}
