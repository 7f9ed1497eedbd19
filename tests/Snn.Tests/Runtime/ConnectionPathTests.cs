using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Lower;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;
using Snn.Ops;

namespace Snn.Tests.Runtime;

/// <summary>
/// Connections with spike input (ConvInc, DotInc) choose between their dense and event-driven kernels per step; the
/// choice never changes a value: forcing either kernel gives the adaptive run's bits, step by step.
/// </summary>
public class ConnectionPathTests
{
    /// <summary>
    /// Spiking conv (channels-last or -first) into max pooling into a 'same' or 'valid' conv with 8 filters (its input is
    /// the pooled spike train; 'valid' runs the event kernel's row strips on AVX-512, 'same' its streams), then flatten
    /// and dense.
    /// </summary>
    static Compiled Model(bool channelsLast, bool same = true)
    {
        var format = channelsLast ? "channels_last" : "channels_first";
        var input = channelsLast ? new[] { 10, 10, 2 } : new[] { 2, 10, 10 };
        var model = Sequential(input,
            new L("Conv2D", "c1", new { filters = 6, kernel_size = new[] { 3, 3 }, activation = "relu", data_format = format },
                ("kernel", Random(new[] { 3, 3, 2, 6 }, 1)), ("bias", Random(new[] { 6 }, 2, 0f, 0.3f))),
            new L("MaxPooling2D", "p1", new { pool_size = new[] { 2, 2 }, data_format = format }),
            new L("Conv2D", "c2", new { filters = 8, kernel_size = new[] { 3, 3 }, padding = same ? "same" : "valid", activation = "relu", data_format = format },
                ("kernel", Random(new[] { 3, 3, 6, 8 }, 3)), ("bias", Random(new[] { 8 }, 4, 0f, 0.2f))),
            new L("Flatten", "f", new { data_format = format }),
            new L("Dense", "d", new { units = 5 }, ("kernel", Random(new[] { same ? 128 : 32, 5 }, 5)), ("bias", Random(new[] { 5 }, 6))));
        return Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(200f) } }, model).Ok();
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, true)]
    [InlineData(true, false)]
    [InlineData(false, false)]
    public void ForcingEitherKernelChangesNoValue(bool channelsLast, bool same)
    {
        var compiled = Model(channelsLast, same);
        var program = compiled.Program;
        var x = Random(new[] { 6 }.Concat(program.InputShapes[0]).ToArray(), 7, 0f, 1f);
        var plans = new[] { ConnectionPath.Adaptive, ConnectionPath.Dense, ConnectionPath.EventDriven }.Select(path =>
        {
            var plan = Plan.Create(program, 6);
            plan.PathChoice = path;
            plan.SetInput(0, x.Span);
            return plan;
        }).ToArray();
        for (var t = 0; t < 40; t++)
        {
            foreach (var plan in plans) plan.Step();
            for (var s = 0; s < program.Signals.Count; s++)
            {
                var expected = plans[0].SignalValue(s).ToArray();
                for (var k = 1; k < plans.Length; k++)
                    Assert.True(expected.AsSpan().SequenceEqual(plans[k].SignalValue(s)), $"step {t + 1}: signal {program.Signal(s).Name} differs under {plans[k].PathChoice}");
            }
        }

        // The second convolution reads the pooled spike train (spiking max pooling of spiking neurons): it is measured.
        var conv2 = program.Ops.Select((op, i) => (op, i)).Where(p => p.op is ConvInc).Last().i;
        var counts = plans.Select(p => p.Paths[conv2]).ToArray();
        Assert.All(counts, Assert.NotNull);
        Assert.Equal(6 * 40, counts[1]!.DenseSamples);
        Assert.Equal(0, counts[1]!.EventSamples);
        Assert.Equal(6 * 40, counts[2]!.EventSamples);
        Assert.Equal(6 * 40, counts[0]!.EventSamples + counts[0]!.DenseSamples);
        Assert.InRange(counts[0]!.Density, 1e-4, 0.9);
        Assert.Equal(counts[0]!.NonZeros, counts[2]!.NonZeros);
        // The first convolution reads the (constant) input: never measured.
        var conv1 = program.Ops.Select((op, i) => (op, i)).First(p => p.op is ConvInc).i;
        Assert.Null(plans[0].Paths[conv1]);
        plans[0].Reset();
        Assert.Equal(0, plans[0].Paths[conv2]!.Inputs);
    }

    [Fact]
    public void InterpreterResultsDoNotDependOnTheConnectionPath()
    {
        var compiled = Model(channelsLast: true);
        var x = Random(new[] { 7, 10, 10, 2 }, 8, 0f, 1f);
        var runs = new[] { ConnectionPath.Adaptive, ConnectionPath.Dense, ConnectionPath.EventDriven }
            .Select(path => Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Steps: 25, Readout: Readout.Mean, BatchSize: 3, Threads: 2) { ConnectionPath = path }).Ok().Head.ToArray())
            .ToArray();
        Assert.Equal(runs[0], runs[1]);
        Assert.Equal(runs[0], runs[2]);
    }
}
