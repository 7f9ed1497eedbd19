using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// The Keras ReLU family as one rate neuron: f(J) = min(J ≥ Threshold ? J : Slope·(J − Threshold), MaxValue) × amplitude.
/// Covers LeakyReLU (NengoDL's <c>nengo_dl.LeakyReLU</c>), ReLU with threshold, ReLU6 (MaxValue 6) and PReLU
/// (<see cref="Slope"/> per neuron; length 1 or the ensemble size).
/// </summary>
public sealed record LeakyRectifiedLinear(Tensor Slope, float Threshold = 0f, float MaxValue = float.PositiveInfinity, float Amplitude = 1f) : NeuronType
{
    internal static readonly Seq<SavedField> Fields = Seq(new SavedField("slope", FieldKind.Tensor), new SavedField("threshold", FieldKind.Float),
        new SavedField("max_value", FieldKind.FloatOrInfinity), new SavedField("amplitude", FieldKind.Float));

    public static readonly NeuronKind Entry = new("LeakyReLU", Fields,
        f => new LeakyRectifiedLinear(f.Tensor("slope"), f.Float("threshold"), f.Float("max_value"), f.Float("amplitude")))
    {
        Named = new LeakyRectifiedLinear(Tensor.Scalar(0.3f)),
        NengoClasses = Seq1(PythonClasses.Leaky),
    };

    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => false;
    public override string Name => "LeakyReLU";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType ForFiringRateScale(float s) => this with { Amplitude = Amplitude / s, Threshold = Threshold * s, MaxValue = MaxValue * s };
    public override NeuronType RateVersion => this;
    public override NeuronType SpikingVersion => new SpikingLeakyRectifiedLinear(Slope, Threshold, MaxValue, Amplitude);
    public override float Rate(float j) => Amplitude * Activations.Relu(j, Slope[0], Threshold, MaxValue);
    public override float Rate(float j, int neuron) => Amplitude * Activations.Relu(j, Slope[Slope.Length == 1 ? 0 : neuron], Threshold, MaxValue);
    public override Option<PiecewiseLinearRate> PiecewiseLinear => new PiecewiseLinearRate(Amplitude, Slope, Threshold, MaxValue);
    public override Option<string> Misfits(int size) => SlopeMisfits(Slope, size);

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, l) = (buffers.Arena, buffers.Output, this);
        return Some<NeuronStep>((j, from, n) => NeuronKernels.LeakyRate(j, l.Slope.Span, l.Threshold, l.MaxValue, l.Amplitude, a.AsSpan(oo + from, n)));
    }

    public override bool Calibrated => true;
    public override bool AmplitudeOnlyScaling => Threshold == 0f && float.IsPositiveInfinity(MaxValue);

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved => SavedOf(Slope, Threshold, MaxValue, Amplitude);
    public override Seq<NeuronField> Npz => NpzOf(Slope, Threshold, MaxValue, Amplitude);
    public override Either<string, NengoNeuron> Nengo => new NengoNeuron("SnnLeakyReLU", Saved) { Defines = Seq1(PythonClasses.Leaky) };

    // ---------------------------------------------------------------- shared with SpikingLeakyRectifiedLinear

    internal static Seq<NeuronField> SavedOf(Tensor slope, float threshold, float maxValue, float amplitude) =>
        Seq(NeuronField.PerNeuron("slope", slope), NeuronField.Number("threshold", threshold), NeuronField.Number("max_value", maxValue),
            NeuronField.Number("amplitude", amplitude));

    internal static Seq<NeuronField> NpzOf(Tensor slope, float threshold, float maxValue, float amplitude) =>
        Seq(NeuronField.Number("amplitude", amplitude), NeuronField.PerNeuron("slope", slope), NeuronField.Number("threshold", threshold),
            NeuronField.Number("max_value", maxValue));

    internal static Option<string> SlopeMisfits(Tensor slope, int size) =>
        slope.Length != 1 && slope.Length != size ? Some($"the neuron's slope has {slope.Length} values; expected 1 or {size}") : None;

    /// <summary>The Python classes the Nengo export defines for these neurons (Nengo has no such types).</summary>
    internal static class PythonClasses
    {
        internal static readonly NengoClass Leaky = new("SnnLeakyReLU", """"
            class SnnLeakyReLU(nengo.neurons.NeuronType):
                """The Keras ReLU family as one rate neuron (LeakyReLU, ReLU with threshold or max_value, PReLU).

                f(J) = min(J if J >= threshold else slope * (J - threshold), max_value); output = amplitude * f(J).
                slope holds one value, or one per neuron (PReLU). NengoDL's LeakyReLU is the case threshold = 0,
                max_value = inf.
                """

                negative = True

                amplitude = nengo.params.NumberParam("amplitude", low=0, low_open=True)
                slope = nengo.params.NdarrayParam("slope", shape=("*",))
                threshold = nengo.params.NumberParam("threshold")
                max_value = nengo.params.NumberParam("max_value")

                def __init__(self, slope, threshold=0.0, max_value=np.inf, amplitude=1.0, initial_state=None):
                    super().__init__(initial_state=initial_state)
                    self.slope = np.asarray(slope, dtype=np.float32).reshape(-1)
                    self.threshold = threshold
                    self.max_value = max_value
                    self.amplitude = amplitude

                def f(self, J):
                    s = self.slope
                    if s.size > 1 and J.shape[-1] != s.size:
                        # Nengo's optimizer merged ensembles with equal parameters: repeat the slopes.
                        s = np.tile(s, J.shape[-1] // s.size)
                    return np.minimum(np.where(J >= self.threshold, J, s * (J - self.threshold)), self.max_value)

                def rates(self, x, gain, bias):
                    return self.amplitude * self.f(self.current(x, gain, bias))

                def max_rates_intercepts(self, gain, bias):
                    intercepts = -bias / gain  # informational only: gain and bias are given
                    return gain * (1 - intercepts), intercepts

                def step(self, dt, J, output):
                    output[...] = self.amplitude * self.f(J)
            """");
    }
}

public static partial class NeuronKernels
{
    /// <summary>f(J)·amplitude with f(J) = min(J ≥ θ ? J : slope·(J − θ), max); slope has length 1 or n (the neuron count); j is [batch, n].</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LeakyRate(ReadOnlySpan<float> j, ReadOnlySpan<float> slope, float threshold, float max, float amplitude, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var n = slope.Length;
        for (var i = 0; i < j.Length; i++) output[i] = amplitude * Activations.Relu(j[i], slope[n == 1 ? 0 : i % n], threshold, max);
    }
}
