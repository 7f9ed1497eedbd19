using System.Numerics.Tensors;
using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>Nengo Sigmoid(tau_ref): (1/tau_ref)/(1+exp(-J)); the converter uses tau_ref = 1.</summary>
public sealed record Sigmoid(float TauRef = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("Sigmoid", Seq1(new SavedField("tau_ref", FieldKind.Positive)),
        f => new Sigmoid(f.Float("tau_ref"))) { Named = new Sigmoid() };

    public override bool Spiking => false;
    public override string Name => "Sigmoid";
    public override bool HasAmplitude => false;
    public override NeuronType ScaleAmplitude(float f) => this;
    public override NeuronType RateVersion => this;
    public override float Rate(float j) => 1f / TauRef / (1f + MathF.Exp(-j));
    public override bool Differentiable => true;
    public override double RateSlope(float j, int neuron)
    {
        var e = 1.0 / (1.0 + Math.Exp(-(double)j));
        return e * (1.0 - e) / TauRef;
    }

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, tauRef) = (buffers.Arena, buffers.Output, TauRef);
        return Some<NeuronStep>((j, from, n) => NeuronKernels.Sigmoid(j, tauRef, a.AsSpan(oo + from, n)));
    }

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved => Seq1(NeuronField.Number("tau_ref", TauRef));
    public override Seq<NeuronField> Npz => Saved;
    public override Either<string, NengoNeuron> Nengo => new NengoNeuron("nengo.Sigmoid", Saved);
}

public static partial class NeuronKernels
{
    /// <summary><c>out = (1 / tau_ref) / (1 + exp(-J))</c>.</summary>
    public static void Sigmoid(ReadOnlySpan<float> j, float tauRef, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        float scale = (float)(1.0 / tauRef);
        TensorPrimitives.Negate(j, output);
        TensorPrimitives.Exp(output, output);
        TensorPrimitives.Add(output, 1f, output);
        TensorPrimitives.Divide(scale, output, output);
    }
}
