using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Lower;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;
using Snn.Ops;

namespace Snn.Tests.Runtime;

/// <summary>
/// The fusions fire on conv → ReLU → max-pool networks and change no bit of the outputs; plans that share the storage
/// of short-lived signals give the same bits as plans that do not.
/// </summary>
public class FusionRuntimeTests
{
    /// <summary>conv(relu) → max pool → conv(relu) → max pool → flatten → dense(relu) → dense, in either layout.</summary>
    static KerasModel ConvReluPool(bool channelsFirst)
    {
        var format = channelsFirst ? "channels_first" : "channels_last";
        return TestModels.Sequential(channelsFirst ? new[] { 2, 10, 10 } : new[] { 10, 10, 2 },
            new TestModels.L("Conv2D", "conv1", new { filters = 4, kernel_size = new[] { 3, 3 }, activation = "relu", data_format = format },
                ("kernel", TestModels.Random(new[] { 3, 3, 2, 4 }, 1)), ("bias", TestModels.Random(new[] { 4 }, 2, -0.1f, 0.3f))),
            new TestModels.L("MaxPooling2D", "pool1", new { pool_size = new[] { 2, 2 }, data_format = format }),
            new TestModels.L("Conv2D", "conv2", new { filters = 8, kernel_size = new[] { 2, 2 }, activation = "relu", data_format = format },
                ("kernel", TestModels.Random(new[] { 2, 2, 4, 8 }, 3)), ("bias", TestModels.Random(new[] { 8 }, 4, -0.1f, 0.3f))),
            new TestModels.L("MaxPooling2D", "pool2", new { pool_size = new[] { 2, 2 }, padding = "same", data_format = format }),
            new TestModels.L("Flatten", "flat", new { data_format = format }),
            new TestModels.L("Dense", "hidden", new { units = 12, activation = "relu" },
                ("kernel", TestModels.Random(new[] { 32, 12 }, 5)), ("bias", TestModels.Random(new[] { 12 }, 6, 0f, 0.2f))),
            new TestModels.L("Dense", "out", new { units = 3 },
                ("kernel", TestModels.Random(new[] { 12, 3 }, 7)), ("bias", TestModels.Random(new[] { 3 }, 8))));
    }

    static readonly int[] Checkpoints = { 1, 2, 5, 20 };

    static int[] Bits(Tensor t) => Bits(t.Span);

    static int[] Bits(ReadOnlySpan<float> values)
    {
        var bits = new int[values.Length];
        for (var i = 0; i < values.Length; i++) bits[i] = BitConverter.SingleToInt32Bits(values[i]);
        return bits;
    }

    /// <summary>Lowered and optimized programs through the interpreter, last-step and mean readouts: the same bits.</summary>
    static void AssertBitIdentical(Compiled c, Tensor x)
    {
        foreach (var readout in new[] { Readout.Last, Readout.Mean })
        {
            var sim = new SimOptions(Steps: Checkpoints.Max(), Readout: readout, BatchSize: 3, Threads: 1);
            var lowered = Interpreter.Run(c.Lowered, c.Functions, Seq1(x), sim, Checkpoints).Ok();
            var optimized = Interpreter.Run(c.Program, c.Functions, Seq1(x), sim, Checkpoints).Ok();
            for (var k = 0; k < Checkpoints.Length; k++)
                for (var p = 0; p < lowered[k].Count; p++)
                    Assert.Equal(Bits(lowered[k][p]), Bits(optimized[k][p]));
        }
    }

    static int Count<T>(OpProgram p) => p.Ops.Count(o => o is T);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RateModePoolsCurrentsBeforeTheRelu(bool channelsFirst)
    {
        var c = Compile.Run(CompileOptions.Default, ConvReluPool(channelsFirst), verify: true).Ok();
        var p = c.Program;
        // Both pools now set their node's input from the conv currents, and the ReLUs run on the pooled cells.
        var pools = p.Ops.OfType<PoolInc>().ToList();
        Assert.Equal(2, pools.Count);
        Assert.All(pools, pl => Assert.True(pl.Set && p.Signal(pl.X).Name.EndsWith(".J", StringComparison.Ordinal)));
        Assert.Equal(2, p.Ops.OfType<SimNeurons>().Count(sn => p.Signal(sn.J).Name.EndsWith(".pooled", StringComparison.Ordinal)));
        Assert.Equal(0, Count<ElementwiseInc>(p));
        Assert.True(p.Ops.Count < c.Lowered.Ops.Count - 8, $"{c.Lowered.Ops.Count} ops lowered, {p.Ops.Count} optimized");
        AssertBitIdentical(c, TestModels.Random(channelsFirst ? new[] { 7, 2, 10, 10 } : new[] { 7, 10, 10, 2 }, 9, 0f, 1f));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void SpikingModeFusesBiasGainAndNeuronsAndFeedsPoolsTheSpikes(bool channelsFirst)
    {
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(40f) } };
        var c = Compile.Run(options, ConvReluPool(channelsFirst), verify: true).Ok();
        var (lowered, p) = (c.Lowered, c.Program);
        // Three ensembles, each fed by one connection: bias, gain and neuron step are one op; the gains are gone.
        Assert.Equal(3, Count<ElementwiseInc>(lowered));
        Assert.Equal(0, Count<ElementwiseInc>(p));
        Assert.Equal(3, Count<SimNeuronsAffine>(p));
        Assert.Equal(0, Count<SimNeurons>(p));
        // The max-pool nodes count the neurons' spikes directly (no zeroed copy in between).
        var outputs = p.Ops.OfType<INeuronOp>().Select(n => n.Output).ToHashSet();
        Assert.All(p.Ops.OfType<MaxPoolOp>(), m => Assert.Contains(m.X, outputs));
        Assert.True(p.Ops.Count <= lowered.Ops.Count - 12, $"{lowered.Ops.Count} ops lowered, {p.Ops.Count} optimized");
        AssertBitIdentical(c, TestModels.Random(channelsFirst ? new[] { 7, 2, 10, 10 } : new[] { 7, 10, 10, 2 }, 10, 0f, 1f));
    }

    [Fact]
    public void SpikingWithSynapsesStaysBitIdentical()
    {
        var options = CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(40f), Synapse = Some(new Lowpass(0.005f)) },
        };
        var c = Compile.Run(options, ConvReluPool(false), verify: true).Ok();
        AssertBitIdentical(c, TestModels.Random(new[] { 7, 10, 10, 2 }, 11, 0f, 1f));
    }

    /// <summary>
    /// Calibrated per channel, a channels-last layer's per-neuron parameters (bias, gain, output scale) repeat with its
    /// channels: the signed neurons then take them as rows of one period (18×18×8 neurons: 288 values, not 2,592) and
    /// give the bits of the unfused program.
    /// </summary>
    [Fact]
    public void PeriodicParametersOfCalibratedChannelsGiveTheSameBits()
    {
        var model = TestModels.Sequential(new[] { 20, 20, 2 },
            new TestModels.L("Conv2D", "conv", new { filters = 8, kernel_size = new[] { 3, 3 }, activation = "relu" },
                ("kernel", TestModels.Random(new[] { 3, 3, 2, 8 }, 31)), ("bias", TestModels.Random(new[] { 8 }, 32, -0.1f, 0.3f))),
            new TestModels.L("Flatten", "flat", new { }),
            new TestModels.L("Dense", "out", new { units = 3 }, ("kernel", TestModels.Random(new[] { 2592, 3 }, 33)), ("bias", TestModels.Random(new[] { 3 }, 34))));
        var data = TestModels.Random(new[] { 40, 20, 20, 2 }, 35, 0f, 1f);
        var options = CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { IntegrateAndFire = true, NegativeSpikes = true, InitialVoltage = InitialVoltage.Half },
            Calibration = Some((new Snn.Compiler.Calibrate.CalibrateOptions(Percentile: 99), Seq1(data))),
        };
        var c = Compile.Run(options, model, verify: true).Ok();
        var neurons = Assert.Single(c.Program.Ops.OfType<SimNeuronsAffine>());
        Assert.True(neurons.OutputScale.IsSome && neurons.Gain.IsSome, "per-channel calibration gives per-neuron gains and output scales");
        var parameters = new[] { neurons.Bias, neurons.Gain.IfNone(0), neurons.OutputScale.IfNone(0) }
            .Select(id => c.Program.Signal(id).Initial.Map(t => t.ToArray()).IfNone(System.Array.Empty<float>())).ToArray();
        Assert.All(parameters, p => Assert.Equal(2592, p.Length));
        var arena = parameters.SelectMany(p => p).ToArray();
        Assert.Equal(288, Plan.Period(arena, 2592, (0, 2592), (2592, 2592), (5184, 2592)));
        AssertBitIdentical(c, TestModels.Random(new[] { 5, 20, 20, 2 }, 36, 0f, 1f));
    }

    /// <summary>The period: the shortest that divides the size and repeats every per-neuron parameter, widened to at least 256 when the size allows.</summary>
    [Fact]
    public void PeriodOfRepeatingParameters()
    {
        var arena = new float[2 * 1536 + 1];
        for (var i = 0; i < 1536; i++) { arena[i] = i % 24; arena[1536 + i] = i % 8 * 0.5f; }
        arena[^1] = 7f;
        Assert.Equal(384, Plan.Period(arena, 1536, (0, 1536), (1536, 1536), (3072, 1)));   // lcm 24, widened to 384 (divides 1536)
        Assert.Equal(256, Plan.Period(arena, 1536, (1536, 1536)));                          // period 8, widened to 256
        Assert.Equal(24, Plan.Period(arena, 24, (0, 24)));                                  // nothing shorter than the size
        var six = Enumerable.Range(0, 4704).Select(i => (float)(i % 6)).ToArray();        // 28×28×6: 294 repeats too, but ends in a tail
        Assert.Equal(336, Plan.Period(six, 4704, (0, 4704)));                               // widened to whole 16-float vectors
        arena[1535] = -1f;                                                                  // breaks the first parameter's period
        Assert.Equal(1536, Plan.Period(arena, 1536, (0, 1536), (1536, 1536)));
        Assert.Equal(0, Plan.Period(arena, 0, (0, 0)));
    }

    [SharedFact]
    public void TheFashionCnnFusesAndStaysBitIdentical()
    {
        var model = Snn.Compiler.Keras.ModelFile.Import(Path.Combine(TestModels.Shared!, "models", "real", "image_prediction_on_Fashion_MNIST", "fashion_mnist_model.keras")).Ok();
        var images = Npy.Read(Path.Combine(TestModels.Shared!, "data", "fashion-mnist", "x_test_nhwc_u8.npy")).Ok();
        var size = images.Length / images.Shape[0];
        var x = Tensor.Own(new[] { 6 }.Concat(images.Shape.Skip(1)).ToArray(), images.Span.Slice(0, 6 * size).ToArray().Select(v => v / 255f).ToArray());

        var rate = Compile.Run(CompileOptions.Default, model, verify: true).Ok();
        Assert.Equal((30, 16), (rate.Lowered.Ops.Count, rate.Program.Ops.Count));
        Assert.Equal(2, rate.Program.Ops.OfType<PoolInc>().Count(pl => pl.Set));
        AssertBitIdentical(rate, x);
        // Batch 100: the signals that live within a step share storage, and the fusions drop whole signals.
        var (shared, separate) = (Plan.Create(rate.Program, 100).ArenaBytes, Plan.Create(rate.Lowered, 100, shareBuffers: false).ArenaBytes);
        Assert.True(shared < separate * 0.5, $"{shared} bytes shared, {separate} separate");

        var spiking = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(100f) } }, model, verify: true).Ok();
        Assert.Equal((28, 16), (spiking.Lowered.Ops.Count, spiking.Program.Ops.Count));
        Assert.Equal(3, Count<SimNeuronsAffine>(spiking.Program));
        AssertBitIdentical(spiking, x);
    }

    public static TheoryData<string, bool> SharingCases() => new()
    {
        { "conv_valid_same", false }, { "conv_valid_same", true }, { "maxpool", true }, { "batchnorm", true },
        { "functional_merge", true }, { "maxpool_channels_first", true }, { "avgpool_same_overlap", false },
    };

    [Theory]
    [MemberData(nameof(SharingCases))]
    public void SharingStorageChangesNoValue(string fixture, bool spiking)
    {
        var model = Snn.Compiler.Keras.ModelFile.Import(TestModels.Fixture("tfjs", fixture, "model.json")).Ok();
        var convert = spiking ? ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(300f), Synapse = Some(new Lowpass(0.005f)) } : ConvertOptions.Default;
        var c = Compile.Run(CompileOptions.Default with { Convert = convert }, model).Ok();
        var x = Npy.Read(TestModels.Fixture("tfjs", fixture, "input_0.npy")).Ok();
        foreach (var program in new[] { c.Lowered, c.Program })
        {
            var plans = new[] { false, true }.Select(share =>
            {
                var plan = Plan.Create(program, x.Shape[0], share);
                plan.HoistInvariants = true;
                plan.SetInput(0, x.Span);
                return plan;
            }).ToArray();
            Assert.True(plans[1].SharesBuffers && !plans[0].SharesBuffers);
            Assert.True(plans[1].ArenaBytes <= plans[0].ArenaBytes);
            for (var run = 0; run < 2; run++)
            {
                for (var t = 0; t < 15; t++)
                {
                    plans[0].Step();
                    plans[1].Step();
                    for (var p = 0; p < program.Probes.Count; p++)
                        Assert.Equal(Bits(plans[0].Probe(p)), Bits(plans[1].Probe(p)));
                }
                // Reset restores the state only; everything else is overwritten before it is read.
                plans[0].Reset();
                plans[1].Reset();
            }
        }
    }

    [Fact]
    public void SharingShrinksTheArenaOfADeepNetwork()
    {
        // Spiking: transforms, currents and node inputs live within a step; voltages, counts and spikes stay.
        var c = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() }, ConvReluPool(false)).Ok();
        var shared = Plan.Create(c.Lowered, 10);
        var separate = Plan.Create(c.Lowered, 10, shareBuffers: false);
        Assert.True(shared.ArenaBytes < separate.ArenaBytes, $"{shared.ArenaBytes} bytes shared, {separate.ArenaBytes} separate");
    }
}
