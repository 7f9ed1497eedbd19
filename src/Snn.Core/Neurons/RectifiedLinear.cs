using System.Numerics.Tensors;
using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>Nengo's RectifiedLinear: amplitude·max(0, J).</summary>
public sealed record RectifiedLinear(float Amplitude = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("RectifiedLinear", Seq1(new SavedField("amplitude", FieldKind.Float)),
        f => new RectifiedLinear(f.Float("amplitude"))) { Named = new RectifiedLinear() };

    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => false;
    public override string Name => "RectifiedLinear";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => this;
    public override NeuronType SpikingVersion => new SpikingRectifiedLinear(Amplitude);
    public override float Rate(float j) => Amplitude * MathF.Max(0f, j);
    public override Option<PiecewiseLinearRate> PiecewiseLinear => new PiecewiseLinearRate(Amplitude, Tensor.Scalar(0f), 0f, float.PositiveInfinity);

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, amplitude) = (buffers.Arena, buffers.Output, Amplitude);
        return Some<NeuronStep>((j, from, n) => NeuronKernels.RectifiedLinear(j, amplitude, a.AsSpan(oo + from, n)));
    }

    public override bool Calibrated => true;
    public override bool AmplitudeOnlyScaling => true;

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved => Seq1(NeuronField.Number("amplitude", Amplitude));
    public override Seq<NeuronField> Npz => Saved;
    public override Either<string, NengoNeuron> Nengo => new NengoNeuron("nengo.RectifiedLinear", Saved);
}

public static partial class NeuronKernels
{
    /// <summary><c>out = amplitude * max(0, J)</c>.</summary>
    public static void RectifiedLinear(ReadOnlySpan<float> j, float amplitude, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        TensorPrimitives.Max(j, 0f, output);
        if (amplitude != 1f)
        {
            TensorPrimitives.Multiply(output, amplitude, output);
        }
    }
}
