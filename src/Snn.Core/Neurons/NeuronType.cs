using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>How a spiking neuron's voltage starts (nengo-semantics.md §2.1).</summary>
public enum InitialVoltage
{
    /// <summary>Nengo's default: Uniform(0, 1), drawn with numpy's MT19937 RandomState from the seed.</summary>
    Uniform,
    /// <summary>Half the threshold (0.5).</summary>
    Half,
    /// <summary>Zero.</summary>
    Zero,
}

/// <summary>
/// A rate function <c>Amplitude · relu(J)</c> of the ReLU family: <see cref="Slope"/> below <see cref="Threshold"/> (one
/// value, or one per neuron), 1 above it, clipped at <see cref="MaxValue"/>; training differentiates it with TensorFlow's
/// choices at the kinks.
/// </summary>
public sealed record PiecewiseLinearRate(float Amplitude, Tensor Slope, float Threshold, float MaxValue);

/// <summary>
/// Neuron types with Nengo's step math (nengo-semantics.md §2.1). Amplitude scales the output;
/// <c>scale_firing_rates</c> divides it.
/// <para>
/// A neuron type is its own descriptor: besides the math, its record says which state it keeps (<see cref="State"/>), how
/// it steps (<see cref="Step"/>), how the saved-network format and the exporters write it (<see cref="Kind"/>,
/// <see cref="Saved"/>, <see cref="Npz"/>, <see cref="Nengo"/>, <see cref="Nir"/>) and what calibration does with it. Each
/// type is one file of <c>src/Snn.Core/Neurons</c> and one line of <see cref="NeuronTypes.All"/> (README "How to extend").
/// The defaults are those of a type nothing knows: no state beyond a spiking voltage, no kernel, not saveable, refused by
/// every exporter, left alone by calibration.
/// </para>
/// </summary>
public abstract record NeuronType
{
    public abstract bool Spiking { get; }
    public abstract string Name { get; }

    /// <summary>Whether the type has an amplitude that firing-rate scaling can divide.</summary>
    public virtual bool HasAmplitude => true;

    /// <summary>The output per unit of rate (a spike is worth amplitude/dt); 1 for types without an amplitude.</summary>
    public virtual float OutputAmplitude => 1f;
    public abstract NeuronType ScaleAmplitude(float factor);

    /// <summary>
    /// The type NengoDL's <c>scale_firing_rates</c> gives for scale s (gain and bias are multiplied by s
    /// separately): amplitude ÷ s, and for the ReLU family also threshold and clip × s, so that
    /// rate(s·x)·amplitude/s equals the original rate.
    /// </summary>
    public virtual NeuronType ForFiringRateScale(float s) => ScaleAmplitude(1f / s);

    /// <summary>The spiking counterpart used in spiking mode (itself when already spiking or when none exists).</summary>
    public virtual NeuronType SpikingVersion => this;

    /// <summary>The rate (non-spiking) counterpart, used by the rate-mode evaluator.</summary>
    public abstract NeuronType RateVersion { get; }

    /// <summary>The steady-state output for input current J (the rate function).</summary>
    public abstract float Rate(float j);

    /// <summary>The steady-state output of neuron <paramref name="neuron"/> of an ensemble (types with per-neuron parameters override it).</summary>
    public virtual float Rate(float j, int neuron) => Rate(j);

    /// <summary>
    /// Whether rate-mode training knows the derivative of this type's rate function: through <see cref="PiecewiseLinear"/>
    /// (the ReLU family, differentiated by a vectorized kernel) or <see cref="RateSlope"/>. Types that say no are refused by
    /// training with a message.
    /// </summary>
    public virtual bool Differentiable => PiecewiseLinear.IsSome;

    /// <summary>
    /// d<see cref="Rate(float, int)"/>/dJ at <paramref name="j"/> for neuron <paramref name="neuron"/>, for differentiable
    /// types without a <see cref="PiecewiseLinear"/> shape (NaN when unknown).
    /// </summary>
    public virtual double RateSlope(float j, int neuron) => double.NaN;

    /// <summary>For rate functions of the ReLU family, their shape (see <see cref="PiecewiseLinearRate"/>); None for others.</summary>
    public virtual Option<PiecewiseLinearRate> PiecewiseLinear => None;

    /// <summary>
    /// The type with reset to zero after a spike (the converter's <c>--reset zero</c>): itself for types without the
    /// choice, an error for types that need reset by subtraction.
    /// </summary>
    public virtual Either<Error, NeuronType> WithResetToZero(string where) => this;

    /// <summary>Why an ensemble of <paramref name="size"/> neurons cannot have this type (per-neuron parameters of another length).</summary>
    public virtual Option<string> Misfits(int size) => None;

    // ---------------------------------------------------------------- simulation

    /// <summary>The per-neuron state buffers the step keeps between steps, in the order <see cref="Step"/> takes them.</summary>
    public virtual Seq<NeuronState> State => Spiking ? Seq1(NeuronState.Voltage) : Empty;

    /// <summary>
    /// The step writing <paramref name="buffers"/> (the output and the <see cref="State"/> buffers, in an arena) with time
    /// step <paramref name="dt"/>; None when the type has no kernel. One call per chunk of whole samples.
    /// </summary>
    public virtual Option<NeuronStep> Step(float dt, NeuronBuffers buffers) => None;

    /// <summary>
    /// A step fused with its input currents J = x·gain + bias and the output scale, when the type has one (the same
    /// bits as the affine set, <see cref="Step"/> and the scaling one after the other).
    /// </summary>
    public virtual Option<FusedAffineStep> FusedAffine(float dt, NeuronBuffers buffers, int length) => None;

    // ---------------------------------------------------------------- calibration

    /// <summary>Whether calibration measures and scales ensembles of this type (the ReLU family).</summary>
    public virtual bool Calibrated => false;

    /// <summary>Whether firing-rate scaling only divides the amplitude, so a per-neuron factor commutes with it.</summary>
    public virtual bool AmplitudeOnlyScaling => false;

    /// <summary>Whether bias correction adjusts ensembles of this type (spiking ReLUs that spike only upwards from a voltage).</summary>
    public virtual bool BiasCorrected => false;

    // ---------------------------------------------------------------- formats

    /// <summary>The entry of <see cref="NeuronTypes.All"/> the saved-network format writes this value under; None when it has none.</summary>
    public virtual Option<NeuronKind> Kind => None;

    /// <summary>The fields the saved-network format writes, in order (<see cref="NeuronKind.Fields"/> reads them back).</summary>
    public virtual Seq<NeuronField> Saved => Empty;

    /// <summary>The fields of the npz export's <c>neurons</c> object after <c>type</c> and <c>spiking</c>, in order.</summary>
    public virtual Seq<NeuronField> Npz => Empty;

    /// <summary>The Nengo neuron type the Nengo export writes, or why there is none.</summary>
    public virtual Either<string, NengoNeuron> Nengo => "the Nengo exporter has no mapping for it";

    /// <summary>The NIR neuron the NIR export writes, or why there is none (completing "its neurons ...").</summary>
    public virtual Either<string, NirNeuron> Nir => $"its neurons are {Name}, a rate (non-spiking) type; NIR export needs spiking IF or LIF neurons (--mode spiking, no swap to a rate type)";

    /// <summary>
    /// The type's name and output amplitude. Sealed, so records do not synthesize one that prints
    /// <see cref="SpikingVersion"/> and <see cref="RateVersion"/>, which may be the neuron itself (endless recursion).
    /// </summary>
    public sealed override string ToString() =>
        $"{Name}(amplitude {OutputAmplitude.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)})";
}

/// <summary>One per-neuron state buffer: its name (the signal is <c>ensemble.Name</c>) and whether it starts at the ensemble's initial voltage (else at 0).</summary>
public sealed record NeuronState(string Name, bool StartsAtInitialVoltage)
{
    public static readonly NeuronState Voltage = new("voltage", true);
    public static readonly NeuronState Refractory = new("refractory", false);
    public static readonly NeuronState Count = new("count", false);
}

/// <summary>Where a step's buffers lie: the output and each <see cref="NeuronType.State"/> buffer as an offset into <paramref name="Arena"/>.</summary>
public sealed record NeuronBuffers(float[] Arena, int Output, Seq<int> State);

/// <summary>One neuron step over elements [from, from + count) of the output and state, from currents <c>j</c> of that length.</summary>
public delegate void NeuronStep(ReadOnlySpan<float> j, int from, int count);

/// <summary>
/// One neuron step over the whole batch on J = x·gain + bias (bias, and gain and scale when not empty, per neuron and
/// repeated for every sample; gain may be one value), each output multiplied by the neuron's scale when one is given.
/// </summary>
public delegate void FusedAffineStep(ReadOnlySpan<float> x, ReadOnlySpan<float> gain, ReadOnlySpan<float> bias, ReadOnlySpan<float> scale);

/// <summary>
/// Neuron step math (Nengo <c>step</c> functions, nengo-semantics.md §2.1) in float32, elementwise over spans of equal
/// length (batch*n flattened); each neuron type's file holds its kernels. Outputs and states may alias the input J
/// exactly (same span) but must not partially overlap it.
/// </summary>
/// <remarks>
/// <para>Every operation is the float32 operation numpy performs on float32 arrays (Python scalars
/// such as dt or tau_rc are rounded to float first), in the same order and without contraction to
/// FMA. The one exception is a scalar expression that Nengo evaluates in Python double,
/// <c>amplitude / dt</c>: it is computed here in float from the float arguments, as NengoDL does
/// (<c>alpha = amplitude / signals.dt</c> in float32). For dt = 0.001f that gives 999.99994f where
/// Nengo core has 1000.</para>
/// <para><c>expm1</c> and <c>log1p</c> are evaluated in double (<c>Snn.Kernels.NeuronMath</c>).</para>
/// <para>The 8-lane vector loops pad their tails into an 8-lane buffer and run them through the
/// same vector code, so every element gets the same arithmetic wherever it sits.</para>
/// </remarks>
public static partial class NeuronKernels
{
}
