using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Properties.Support;

/// <summary>Compile options used by the properties.</summary>
public static class Modes
{
    public static CompileOptions Rate => CompileOptions.Default;

    /// <summary>
    /// Spiking mode as the CLI means it (relu → SpikingRectifiedLinear), with an optional firing-rate
    /// scale (so neurons fire at tens to hundreds of Hz at dt = 0.001 and spikes actually happen within a
    /// few dozen steps) and an optional lowpass synapse on connections leaving neurons.
    /// </summary>
    public static CompileOptions Spiking(Option<float> scale, Option<Lowpass> synapse) =>
        CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = scale, Synapse = synapse },
        };

    /// <summary>Spiking mode with the calibrated default neuron: integrate-and-fire with negative spikes, starting at 0.5.</summary>
    public static CompileOptions SpikingSigned(Option<float> scale) =>
        CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = scale, InitialVoltage = InitialVoltage.Half, IntegrateAndFire = true, NegativeSpikes = true },
        };

    /// <summary>A firing-rate scale chosen from the model seed: none, 50 or 300.</summary>
    public static Option<float> ScaleFor(int seed) => (seed % 3) switch
    {
        0 => None,
        1 => Some(50f),
        _ => Some(300f),
    };

    public static Seq<(string Label, CompileOptions Options)> All(int seed) => Seq(
        ("rate", Rate),
        ("spiking", Spiking(ScaleFor(seed), None)),
        ("spiking+lowpass(0.005)", Spiking(ScaleFor(seed), Some(new Lowpass(0.005f)))),
        ("spiking signed IF", SpikingSigned(ScaleFor(seed))));
}
