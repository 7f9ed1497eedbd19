using LanguageExt;
using Snn.Cli;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Cli;

/// <summary>The command line's conversion defaults are the library's presets, not a copy of them.</summary>
public class PresetTests
{
    static CompileOptions Cli(params string[] argv) =>
        Args.Parse(argv, Commands.Set(Args.ConverterValueOptions), Commands.Set(Args.ConverterFlags)).Ok().CompileOptions().Ok();

    [Fact]
    public void CalibrateOnTheCommandLineIsTheCalibratedPreset()
    {
        var preset = Presets.Calibrated(Seq<Tensor>());
        var cli = Cli("--calibrate", "x.npy");
        Assert.Equal(preset.Convert, cli.Convert.AsSpiking());
        Assert.Equal(preset.Legalize, cli.Legalize);
        Assert.True(preset.Convert is { IntegrateAndFire: true, NegativeSpikes: true, InitialVoltage: InitialVoltage.Half });
        // Reset to zero falls back to plain integrate-and-fire (negative spikes need subtraction).
        Assert.True(Cli("--calibrate", "x.npy", "--reset", "zero").Convert is { IntegrateAndFire: true, NegativeSpikes: false, ResetToZero: true });
    }

    [Fact]
    public void WithoutCalibrationTheCommandLineIsNengoDL()
    {
        var preset = Presets.Nengo;
        var cli = Cli();
        Assert.Equal(preset.Convert, cli.Convert.AsSpiking());
        Assert.True(preset.Convert is { IntegrateAndFire: false, NegativeSpikes: false, InitialVoltage: InitialVoltage.Uniform });
        // An explicit choice wins over the preset.
        Assert.True(Cli("--calibrate", "x.npy", "--neuron", "nengo", "--initial-voltage", "uniform").Convert is { IntegrateAndFire: false, InitialVoltage: InitialVoltage.Uniform });
    }
}
