using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// Spiking counterpart of <see cref="LeakyRectifiedLinear"/> (Nengo's SpikingLeakyReLU generalized): v += f(J)·dt;
/// n = trunc(v) (signed spikes for negative values); out = amplitude/dt·n; v −= n.
/// </summary>
public sealed record SpikingLeakyRectifiedLinear(Tensor Slope, float Threshold = 0f, float MaxValue = float.PositiveInfinity, float Amplitude = 1f) : NeuronType
{
    public static readonly NeuronKind Entry = new("SpikingLeakyReLU", LeakyRectifiedLinear.Fields,
        f => new SpikingLeakyRectifiedLinear(f.Tensor("slope"), f.Float("threshold"), f.Float("max_value"), f.Float("amplitude")))
    {
        Named = new SpikingLeakyRectifiedLinear(Tensor.Scalar(0.3f)),
        NengoClasses = Seq(LeakyRectifiedLinear.PythonClasses.Leaky, PythonClasses.SpikingLeaky),
    };

    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => true;
    public override string Name => "SpikingLeakyReLU";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType ForFiringRateScale(float s) => this with { Amplitude = Amplitude / s, Threshold = Threshold * s, MaxValue = MaxValue * s };
    public override NeuronType RateVersion => new LeakyRectifiedLinear(Slope, Threshold, MaxValue, Amplitude);
    public override float Rate(float j) => Amplitude * Activations.Relu(j, Slope[0], Threshold, MaxValue);
    public override Option<string> Misfits(int size) => LeakyRectifiedLinear.SlopeMisfits(Slope, size);

    public override Option<NeuronStep> Step(float dt, NeuronBuffers buffers)
    {
        var (a, oo, vo, l) = (buffers.Arena, buffers.Output, buffers.State[0], this);
        return Some<NeuronStep>((j, from, n) =>
            NeuronKernels.LeakySpiking(j, l.Slope.Span, l.Threshold, l.MaxValue, dt, l.Amplitude, a.AsSpan(vo + from, n), a.AsSpan(oo + from, n)));
    }

    public override bool Calibrated => true;
    public override bool AmplitudeOnlyScaling => Threshold == 0f && float.IsPositiveInfinity(MaxValue);

    public override Option<NeuronKind> Kind => Entry;
    public override Seq<NeuronField> Saved => LeakyRectifiedLinear.SavedOf(Slope, Threshold, MaxValue, Amplitude);
    public override Seq<NeuronField> Npz => LeakyRectifiedLinear.NpzOf(Slope, Threshold, MaxValue, Amplitude).Add(NeuronField.Text("reset", "subtract"));
    public override Either<string, NengoNeuron> Nengo =>
        new NengoNeuron("SnnSpikingLeakyReLU", Saved.Add(NeuronField.InitialState)) { Defines = Seq(LeakyRectifiedLinear.PythonClasses.Leaky, PythonClasses.SpikingLeaky) };
    public override Either<string, NirNeuron> Nir => $"its neurons are {Name} (signed spikes for a leaky ReLU, threshold or clip), which has no NIR neuron";

    /// <summary>The Python classes the Nengo export defines for these neurons (Nengo has no such types).</summary>
    internal static class PythonClasses
    {
        internal static readonly NengoClass SpikingLeaky = new("SnnSpikingLeakyReLU", """"
            class SnnSpikingLeakyReLU(SnnLeakyReLU):
                """Spiking version of SnnLeakyReLU (Nengo's SpikingLeakyReLU generalized): v += f(J) * dt; n = trunc(v)
                (signed spikes for negative values); output = (amplitude / dt) * n; v -= n."""

                state = {"voltage": nengo.dists.Uniform(low=0, high=1)}
                spiking = True

                def step(self, dt, J, output, voltage):
                    voltage += self.f(J) * dt
                    n = np.trunc(voltage)
                    output[...] = (self.amplitude / dt) * n
                    voltage -= n
            """");
    }
}

public static partial class NeuronKernels
{
    /// <summary>v += f(J)·dt; n = trunc(v); out = amplitude/dt·n; v −= n (f as in <see cref="LeakyRate"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LeakySpiking(ReadOnlySpan<float> j, ReadOnlySpan<float> slope, float threshold, float max, float dt, float amplitude,
        Span<float> voltage, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var alpha = amplitude / dt;
        var n = slope.Length;
        for (var i = 0; i < j.Length; i++)
        {
            var v = voltage[i] + Activations.Relu(j[i], slope[n == 1 ? 0 : i % n], threshold, max) * dt;
            var spikes = MathF.Truncate(v);
            output[i] = alpha * spikes;
            voltage[i] = v - spikes;
        }
    }
}
