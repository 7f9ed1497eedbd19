using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using Snn.Ops;

using IdentityT = Snn.Compiler.Convert.IdentityT;
using Snn.Compiler.Saved;

namespace Snn.Tests.Snnz;

/// <summary>
/// Saving and reloading a converted network (NET.snnz) on every TF.js fixture under several converter settings:
/// the network read back equals the one saved (records compare by value), saving it again gives the same bytes,
/// its rate form equals what converting the Keras model in rate mode gives, the programs built from it give
/// bit-identical outputs in both modes, and the embedded model imports to the same Keras model.
/// </summary>
public class SnnzRoundTripTests
{
    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(TestModels.Fixture("tfjs")).OrderBy(d => d)) data.Add(Path.GetFileName(dir));
        return data;
    }

    /// <summary>Converter settings that reach every neuron type, max-pool method, reset, start and synapse the converter makes.</summary>
    static readonly (string Label, ConvertOptions Convert, bool Calibrate, bool PerChannel)[] Settings =
    {
        ("defaults", ConvertOptions.Default, false, false),
        ("swap relu=LIF, scale 50, synapse, half, reset zero",
            ConvertOptions.Default with { Swap = Map(("relu", "LIF")), ScaleFiringRates = Some(50f), Synapse = Some(new Lowpass(0.005f)), InitialVoltage = InitialVoltage.Half } with { ResetToZero = true },
            false, false),
        ("gate, IF, zero start, seed 7", ConvertOptions.Default with { MaxPool = MaxPoolMethod.Gate, InitialVoltage = InitialVoltage.Zero, Seed = 7 } with { IntegrateAndFire = true }, false, false),
        ("pre, swaps to rate types", ConvertOptions.Default with { MaxPool = MaxPoolMethod.Pre, Swap = Map(("relu", "LIFRate"), ("sigmoid", "RectifiedLinear"), ("tanh", "SpikingRectifiedLinear")) }, false, false),
        ("avg, leaky swap, layer scales", ConvertOptions.Default with { MaxPool = MaxPoolMethod.Avg, Swap = Map(("leaky_relu", "SpikingLeakyReLU")), ScaleFiringRates = Some(3f) }, false, false),
        ("calibrated IF, bias shift", ConvertOptions.Default with { InitialVoltage = InitialVoltage.Half } with { IntegrateAndFire = true }, true, false),
        ("calibrated per channel", ConvertOptions.Default with { InitialVoltage = InitialVoltage.Half } with { IntegrateAndFire = true }, true, true),
        ("calibrated signed IF per channel", ConvertOptions.Default with { InitialVoltage = InitialVoltage.Half } with { IntegrateAndFire = true, NegativeSpikes = true }, true, true),
    };

    [Theory]
    [MemberData(nameof(Names))]
    public void SnnzRoundTripIsExactAndRateModeMatchesKeras(string name)
    {
        var dir = TestModels.Fixture("tfjs", name);
        var temporal = File.ReadAllText(Path.Combine(dir, "case.json")).Contains("\"TimeDistributed\"");
        var (model, source) = ModelFile.ImportWithSource(Path.Combine(dir, "model.json")).Ok();
        var inputs = Directory.GetFiles(dir, "input_*.npy").OrderBy(p => p).Select(p => Npy.Read(p).Ok()).ToSeq();
        Assert.Equal(KerasEval.Run(model, inputs).Ok(), KerasEval.Run(ModelFile.FromSource(source, "embedded").Ok(), inputs).Ok());
        Check(name, model, Some(source), inputs, temporal);
    }

    /// <summary>ReLU-family neurons into max pooling (no fixture has it): max-pool nodes in spiking mode, value pooling in rate mode.</summary>
    [Fact]
    public void SnnzRoundTripOfSpikingMaxPooling()
    {
        var model = TestModels.Sequential(new[] { 6, 6, 2 },
            new TestModels.L("Conv2D", "conv", new { filters = 3, kernel_size = new[] { 3, 3 }, activation = "relu" },
                ("kernel", TestModels.Random(new[] { 3, 3, 2, 3 }, 1)), ("bias", TestModels.Random(new[] { 3 }, 2, 0f, 0.5f))),
            new TestModels.L("MaxPooling2D", "pool", new { pool_size = new[] { 2, 2 } }),
            new TestModels.L("LeakyReLU", "leaky", new { alpha = 0.2 }),
            new TestModels.L("MaxPooling2D", "pool2", new { pool_size = new[] { 2, 2 }, padding = "same" }),
            new TestModels.L("Flatten", "flat", new { }),
            new TestModels.L("Dense", "out", new { units = 3, activation = "relu" },
                ("kernel", TestModels.Random(new[] { 3, 3 }, 3)), ("bias", TestModels.Random(new[] { 3 }, 4))));
        var spiking = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() }, model).Ok();
        Assert.True(spiking.Network.Nodes.Count(n => n is MaxPoolNode) == 2, "the test model has two spiking max-pool nodes");
        Check("conv-relu-maxpool", model, None, Seq1(TestModels.Random(new[] { 3, 6, 6, 2 }, 5, 0f, 1f)), temporal: false);
    }

    /// <summary>keras_spiking models (regular-spiking neurons, same-step Lowpass/Alpha filters) round-trip exactly too.</summary>
    [Theory]
    [InlineData("ks_pipeline.h5")]
    [InlineData("ks_alpha_per_element.h5")]
    [InlineData("ks_spiking_tanh_dt1.h5")]
    public void SnnzRoundTripOfKerasSpikingLayers(string file)
    {
        var (model, source) = ModelFile.ImportWithSource(Snn.Tests.KerasFiles.KerasFileFixtures.PathOf(file)).Ok();
        Check(file, model, Some(source), Seq1(Npy.Read(Snn.Tests.KerasFiles.KerasFileFixtures.Input(file)).Ok()), temporal: true);
    }

    static void Check(string name, KerasModel model, Option<ModelSource> source, Seq<Tensor> inputs, bool temporal)
    {
        foreach (var (label, convert, calibrate, perChannel) in Settings)
        {
            if (calibrate && temporal) continue;
            var options = CompileOptions.Default with
            {
                Legalize = new LegalizeOptions(SplitSharedWeights: true, Temporal: temporal),
                Convert = convert.AsSpiking(),
                Calibration = calibrate ? Some((new CalibrateOptions(99, 1000, 32, perChannel, perChannel ? 3 : 0), inputs)) : None,
            };
            var compiled = Build.Run(options, model, verify: true).Ok();
            var saved = SavedNetwork.Of(compiled, options, source, "inputs", Some(0.5f));
            if (compiled.Network.Nodes.Exists(n => n is FunctionNode))
            {
                Assert.Equal(Errors.UnsupportedLayerCode / 1000, saved.Err().Code / 1000);
                continue;
            }
            var s = saved.Ok();
            var bytes = NetworkFile.Save(s).Ok();
            var back = NetworkFile.Load(bytes, name + ".snnz").Ok();
            Assert.True(s == back, $"{name}, {label}: the network read back differs");
            Assert.Equal(bytes, NetworkFile.Save(back).Ok());

            var rate = Build.Run(options with { Convert = options.Convert with { Spiking = false } }, model, verify: true).Ok();
            // Bias correction tunes the spiking network's biases; its rate form keeps them (a rate-mode conversion has
            // nothing to correct), so there the rate form equals the rate conversion with the corrected biases.
            var expectedRate = !perChannel ? rate.Network : rate.Network with
            {
                Nodes = rate.Network.Nodes.Map(n => n is Ensemble r && back.Network.Node(n.Id) is Ensemble sp ? r with { Bias = sp.Bias } : n),
            };
            Assert.True(expectedRate == back.ForMode(false), $"{name}, {label}: rate form differs from a rate-mode conversion");
            if (perChannel) rate = rate with { Network = expectedRate, Program = Compile.Back(LowerOptions.Default, OptimizeOptions.Default, expectedRate).Ok().Program };

            var sim = new SimOptions(Steps: 6, Readout: Readout.Mean, Temporal: temporal);
            var spikingProgram = Compile.Back(LowerOptions.Default, OptimizeOptions.Default, back.ForMode(true), verify: true).Ok().Program;
            var rateProgram = Compile.Back(LowerOptions.Default, OptimizeOptions.Default, back.ForMode(false), verify: true).Ok().Program;
            Assert.Equal(Interpreter.Run(compiled.Program, compiled.Functions, inputs, sim).Ok(), Interpreter.Run(spikingProgram, inputs, sim).Ok());
            Assert.Equal(Interpreter.Run(rate.Program, rate.Functions, inputs, sim).Ok(), Interpreter.Run(rateProgram, inputs, sim).Ok());
        }
    }
}

/// <summary>What the format cannot hold is refused when saving, with every offending object named, never a crash.</summary>
public class SnnzUnsaveableTests
{
    sealed record Custom(string Id, int Size) : NetNode(Id, Id, Size);

    sealed record Izhikevich : NeuronType
    {
        public override bool Spiking => true;
        public override string Name => "Izhikevich";
        public override NeuronType ScaleAmplitude(float factor) => this;
        public override NeuronType RateVersion => new RectifiedLinear();
        public override float Rate(float j) => j;
    }

    static SavedNetwork Saved(Network net) =>
        new("hand-built", net.Nodes.OfType<InputNode>().Map(i => i.Shape).ToSeq(), LegalizeOptions.Default, ConvertOptions.Default.AsSpiking(), None, net,
            Set<string>(), None);

    static Network Net(Func<NetworkBuilder, NetNode, NetNode> middle)
    {
        var b = new NetworkBuilder();
        var x = b.Input("x", 3);
        var y = middle(b, x);
        b.Probe(y);
        return b.Build().Ok();
    }

    [Fact]
    public void SnnzFunctionNodesAndUnknownTypesAreRefusedByName()
    {
        var net = Net((b, x) =>
        {
            var f = b.Function("f", 3, 3, (i, o) => i.CopyTo(o, 0));
            b.Connect(x, f);
            var e = b.Ensemble("e", 3, new Izhikevich());
            b.Connect(f, e);
            return e;
        });
        var custom = new Custom("c", 3);
        net = net with
        {
            Nodes = net.Nodes.Add(custom),
            Connections = net.Connections.Add(new Connection("e->c", "e", "c", new IdentityT(3), None, None)),
        };
        var e = NetworkFile.Save(Saved(net)).Err();
        Assert.Equal(3, Errors.ExitCode(e));
        Assert.Contains("3 problems", e.Message);
        Assert.Contains("Layer 'f' (function node)", e.Message);
        Assert.Contains("Cannot save ensemble 'e': the snnz format has no entry for Izhikevich neurons", e.Message);
        Assert.Contains("Cannot save object 'c': the snnz format has no entry for Custom objects", e.Message);
    }

    [Fact]
    public void SnnzNaNIsRefusedWhenSaving()
    {
        var net = Net((b, x) =>
        {
            var e = b.Ensemble("e", 3, new RectifiedLinear(float.NaN));
            b.Connect(x, e);
            return e;
        });
        var e = NetworkFile.Save(Saved(net)).Err();
        Assert.Equal(3, Errors.ExitCode(e));
        Assert.Contains("'amplitude' is NaN", e.Message);
        var nanBias = Net((b, x) =>
        {
            var e = b.Ensemble("e", 3, new RectifiedLinear(), bias: Tensor.Vector(0, float.NaN, 0));
            b.Connect(x, e);
            return e;
        });
        Assert.Contains("every value must be finite", NetworkFile.Save(Saved(nanBias)).Err().Message);
    }
}
