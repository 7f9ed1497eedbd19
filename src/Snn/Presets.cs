using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>Which spiking ReLU a conversion uses (the command line's <c>--neuron</c>).</summary>
public enum NeuronChoice
{
    /// <summary>Nengo's SpikingRectifiedLinear: negative input currents are clipped.</summary>
    Nengo,
    /// <summary>Integrate-and-fire with signed integration (negative currents lower the voltage).</summary>
    IntegrateAndFire,
    /// <summary>That integrate-and-fire neuron with negative spikes, which take back spikes while the voltage is below zero.</summary>
    Signed,
}

/// <summary>
/// The named starting points for a conversion. <see cref="Nengo"/> is NengoDL's converter; <see cref="Calibrated"/> is
/// what Snn recommends with calibration data, and what <c>snn ... --calibrate X</c> does: integrate-and-fire neurons with
/// negative spikes (so a neuron's count after T steps is the quantized ReLU of its integrated input), starting voltages of
/// half the threshold (half the quantization error of the first spike), and per-channel calibration at the 99.9th
/// percentile with 2 spikes per step there. README "Spiking accuracy at low latency" gives the measurements behind them.
/// </summary>
public static class Presets
{
    /// <summary>NengoDL's converter: SpikingRectifiedLinear neurons starting at Uniform(0, 1), no calibration.</summary>
    public static CompileOptions Nengo => CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() };

    /// <summary>The calibrated defaults, calibrating on <paramref name="data"/> (one tensor per model input) with <paramref name="calibration"/>.</summary>
    public static CompileOptions Calibrated(Seq<Tensor> data, CalibrateOptions? calibration = null) =>
        CompileOptions.Default with
        {
            Convert = WithNeuron(ConvertOptions.Default.AsSpiking(), DefaultNeuron(calibrated: true, resetToZero: false)) with
            {
                InitialVoltage = DefaultInitialVoltage(calibrated: true),
            },
            Calibration = Some((calibration ?? CalibrateOptions.Default, data)),
        };

    /// <summary>
    /// The neuron a conversion uses unless told otherwise: Nengo's without calibration; with it, integrate-and-fire with
    /// negative spikes, or plain integrate-and-fire when reset to zero is asked for (negative spikes need reset by subtraction).
    /// </summary>
    public static NeuronChoice DefaultNeuron(bool calibrated, bool resetToZero) =>
        !calibrated ? NeuronChoice.Nengo : resetToZero ? NeuronChoice.IntegrateAndFire : NeuronChoice.Signed;

    /// <summary>The starting voltage unless told otherwise: NengoDL's Uniform(0, 1) without calibration, half the threshold with it.</summary>
    public static InitialVoltage DefaultInitialVoltage(bool calibrated) => calibrated ? InitialVoltage.Half : InitialVoltage.Uniform;

    /// <summary>Converter options that use <paramref name="neuron"/> for spiking ReLUs.</summary>
    public static ConvertOptions WithNeuron(ConvertOptions options, NeuronChoice neuron) =>
        options with { IntegrateAndFire = neuron != NeuronChoice.Nengo, NegativeSpikes = neuron == NeuronChoice.Signed };
}
