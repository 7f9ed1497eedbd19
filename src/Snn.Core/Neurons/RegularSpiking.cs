using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// Nengo's RegularSpiking(base): the base rate type's output r = base(J) drives v += r·dt; n = floor(v) spikes
/// (negative for negative rates); out = amplitude/dt·n; v −= n. It is what keras_spiking's SpikingActivation
/// computes and NengoDL converts it to. The layer spikes in every mode, as in Keras, so its rate version is itself;
/// its steady-state rate (the rate-mode meaning used by the evaluators) is amplitude·base(J). Options cannot name it.
/// </summary>
public sealed record RegularSpiking(NeuronType Base, float Amplitude = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("RegularSpiking",
        Seq(new SavedField("base", FieldKind.Neuron)
            {
                Refuses = b => HasNengoBase(b) ? None : Some($"RegularSpiking needs a RectifiedLinear, Sigmoid or Tanh base, not {b.Name}"),
            },
            new SavedField("amplitude", FieldKind.Float)),
        f => new RegularSpiking(f.Neuron("base"), f.Float("amplitude")));

    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => true;
    public override string Name => $"RegularSpiking({Base.Name})";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => this;
    public override float Rate(float j) => Amplitude * Base.Rate(j);
    public override bool Differentiable => Base.Differentiable;
    public override double RateSlope(float j, int neuron) => Amplitude * Base.RateSlope(j, neuron);
    public override Option<PiecewiseLinearRate> PiecewiseLinear => Base.PiecewiseLinear.Map(p => p with { Amplitude = p.Amplitude * Amplitude });

    /// <summary>The base type's rate into the output, then regular spiking on it.</summary>
    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers) =>
        Base.Step(dt, buffers with { State = Empty }).Map(rate =>
        {
            var (a, oo, vo, amp) = (buffers.Arena, buffers.Output, buffers.State[0], Amplitude);
            return (NeuronStep)((j, from, count) =>
            {
                rate(j, from, count);
                NeuronKernels.RegularSpiking(dt, amp, a.AsSpan(vo + from, count), a.AsSpan(oo + from, count));
            });
        });

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved => Seq(NeuronField.Neuron("base", Base), NeuronField.Number("amplitude", Amplitude));

    public override Either<string, NengoNeuron> Nengo => HasNengoBase(Base)
        ? new NengoNeuron("nengo.RegularSpiking", Seq(NeuronField.Neuron("", Base), NeuronField.Number("amplitude", Amplitude), NeuronField.InitialState))
        : base.Nengo;

    public override Either<string, NirNeuron> Nir => $"its neurons are {Name} (keras_spiking SpikingActivation), which has no NIR neuron";

    /// <summary>The base types keras_spiking's SpikingActivation converts with (and Nengo's RegularSpiking takes as written).</summary>
    static bool HasNengoBase(NeuronType b) => b is RectifiedLinear or Sigmoid or Tanh;
}

public static partial class NeuronKernels
{
    /// <summary>
    /// Nengo's RegularSpiking on top of a base rate already in <paramref name="output"/>:
    /// <c>v += rate * dt; n = floor(v); out = (amplitude / dt) * n; v -= n</c> (n is negative for negative rates).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RegularSpiking(float dt, float amplitude, Span<float> voltage, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, output.Length, nameof(voltage));
        var alpha = amplitude / dt;
        for (var i = 0; i < output.Length; i++)
        {
            var v = voltage[i] + (output[i] * dt);
            var n = MathF.Floor(v);
            output[i] = alpha * n;
            voltage[i] = v - n;
        }
    }
}
