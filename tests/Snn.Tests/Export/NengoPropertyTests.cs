using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Keras;
using Snn.Compiler.Lower;
using Snn.Properties.Support;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using static LanguageExt.Prelude;
using L = Snn.Tests.Support.TestModels.L;

namespace Snn.Tests.Export;

/// <summary>The neuron type a case's ReLUs become, by the converter's options.</summary>
public enum CaseNeuron
{
    /// <summary>Rate mode: nengo.RectifiedLinear.</summary>
    RateRelu,
    /// <summary>Spiking mode: nengo.SpikingRectifiedLinear.</summary>
    SpikingRelu,
    /// <summary>swap relu=LIF (spiking).</summary>
    Lif,
    /// <summary>swap relu=LIFRate (rate).</summary>
    LifRate,
    /// <summary>Spiking mode with --neuron if: integrate-and-fire (signed integration).</summary>
    IntegrateAndFire,
    /// <summary>Spiking ReLU that resets to zero after a spike (--reset zero).</summary>
    SpikingReluResetZero,
    /// <summary>Integrate-and-fire with negative spikes (--neuron if with negative spikes, the calibrated default).</summary>
    SignedIntegrateAndFire,
}

/// <summary>
/// A small generated network: Dense layers on a vector, or Conv2D (valid/same, strides, channels last or first) with
/// optional average pooling, then optionally Flatten and a Dense head; ReLUs become <see cref="Neuron"/>; optionally a
/// second output on the first layer's neurons (a probe on neurons mid-model). Converter options: synapse, firing-rate
/// scale, initial voltages (with their seed); run for <see cref="Steps"/> steps on <see cref="Rows"/> rows, read out as
/// <see cref="Readout"/>. Weights, biases and inputs are uniform floats drawn from <see cref="Seed"/>: not multiples of
/// a power of two, whose sums with dt = 0.001 and round firing-rate scales land exactly on a spiking threshold (1.0) often
/// enough that float32 rounding in another summation order (Nengo folds the gain into the weights, snn multiplies the
/// summed input by it) decides a spike; with continuous values a voltage within rounding of a threshold is rare.
/// </summary>
public sealed record NengoCase(
    int Seed, bool Conv, bool ChannelsFirst, int[] Input, int[] Units, int Kernel, int Stride, bool Same, bool Pool, int Head,
    bool MidOutput, CaseNeuron Neuron, float? Synapse, float? Scale, InitialVoltage Init, int VoltageSeed, int Steps, Readout Readout,
    int Rows = 2)
{
    public override string ToString()
    {
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        sb.Append(inv, $"NengoCase(seed {Seed}, ");
        if (Conv)
            sb.Append(inv, $"Conv2D {string.Join("→", Units)} filters on ({string.Join(", ", Input)}) {(ChannelsFirst ? "channels_first" : "channels_last")}, " +
                           $"kernel {Kernel}, stride {Stride}, {(Same ? "same" : "valid")}{(Pool ? ", AveragePooling2D 2" : "")}");
        else sb.Append(inv, $"Dense {string.Join("→", Units)} on {Input[0]}");
        sb.Append(Head > 0 ? $", Dense({Head}) head" : ", no head").Append(MidOutput ? ", mid-model output" : "");
        sb.Append(inv, $", {Neuron}, synapse {(Synapse is { } s ? s.ToString("R", inv) : "none")}, scale {(Scale is { } k ? k.ToString("R", inv) : "none")}");
        sb.Append(inv, $", initial voltage {Init}{(Init == InitialVoltage.Uniform ? $" seed {VoltageSeed}" : "")}, {Steps} steps, readout {Readout}, {Rows} rows)");
        return sb.ToString();
    }

    static Tensor Uniform(System.Random r, int[] shape, float lo, float hi) =>
        Tensor.Own(shape, Enumerable.Range(0, Shapes.Product(shape)).Select(_ => lo + (hi - lo) * (float)r.NextDouble()).ToArray());

    /// <summary>The Keras model: layers named l0, l1, … and the head "head"; outputs the last layer (and l0 with <see cref="MidOutput"/>).</summary>
    public KerasModel Model()
    {
        var r = new System.Random(Seed);
        var layers = new List<(L, string[])>();
        var previous = "input";
        var shape = Input;
        for (var i = 0; i < Units.Length; i++)
        {
            var name = $"l{i}";
            if (Conv)
            {
                var channels = ChannelsFirst ? shape[0] : shape[^1];
                var (k, s) = i == 0 ? (Kernel, Stride) : (1, 1);
                layers.Add((new L("Conv2D", name, new
                {
                    filters = Units[i], kernel_size = new[] { k, k }, strides = new[] { s, s }, padding = i == 0 && Same ? "same" : "valid",
                    activation = "relu", use_bias = true, data_format = ChannelsFirst ? "channels_first" : "channels_last",
                }, ("kernel", Uniform(r, new[] { k, k, channels, Units[i] }, -0.75f, 1f)), ("bias", Uniform(r, new[] { Units[i] }, -0.25f, 0.75f))),
                    new[] { previous }));
                shape = ConvOut(shape, Units[i], k, s, i == 0 && Same);
                previous = name;
                if (i == 0 && Pool)
                {
                    layers.Add((new L("AveragePooling2D", "pool", new
                    {
                        pool_size = new[] { 2, 2 }, strides = new[] { 2, 2 }, padding = "valid", data_format = ChannelsFirst ? "channels_first" : "channels_last",
                    }), new[] { previous }));
                    shape = ChannelsFirst ? new[] { shape[0], shape[1] / 2, shape[2] / 2 } : new[] { shape[0] / 2, shape[1] / 2, shape[2] };
                    previous = "pool";
                }
            }
            else
            {
                layers.Add((new L("Dense", name, new { units = Units[i], activation = "relu", use_bias = true },
                    ("kernel", Uniform(r, new[] { shape[0], Units[i] }, -0.75f, 1f)), ("bias", Uniform(r, new[] { Units[i] }, -0.25f, 0.75f))),
                    new[] { previous }));
                shape = new[] { Units[i] };
                previous = name;
            }
        }
        if (Head > 0)
        {
            if (Conv)
            {
                layers.Add((new L("Flatten", "flatten", new { data_format = ChannelsFirst ? "channels_first" : "channels_last" }), new[] { previous }));
                previous = "flatten";
            }
            layers.Add((new L("Dense", "head", new { units = Head, activation = "linear", use_bias = true },
                ("kernel", Uniform(r, new[] { Shapes.Product(shape), Head }, -1f, 1f)), ("bias", Uniform(r, new[] { Head }, -0.5f, 0.5f))),
                new[] { previous }));
            previous = "head";
        }
        var outputs = MidOutput && previous != "l0" ? new[] { "l0", previous } : new[] { previous };
        return TestModels.Functional(new[] { "input" }, new[] { Input }, outputs, layers.ToArray());
    }

    /// <summary>A 2-D convolution's output shape (TF's: same ceil(n / s), valid floor((n − k) / s) + 1).</summary>
    int[] ConvOut(int[] shape, int filters, int k, int s, bool same)
    {
        int Out(int n) => same ? (n + s - 1) / s : (n - k) / s + 1;
        return ChannelsFirst ? new[] { filters, Out(shape[1]), Out(shape[2]) } : new[] { Out(shape[0]), Out(shape[1]), filters };
    }

    /// <summary>The input rows: uniform in [0, 4).</summary>
    public Seq<Tensor> Inputs() => Seq1(Uniform(new System.Random(Seed ^ 0x5EED), new[] { Rows }.Concat(Input).ToArray(), 0f, 4f));

    /// <summary>The converter's options for the case; everything else (lowering's probe timing too) at snn's defaults.</summary>
    public CompileOptions Options()
    {
        var convert = new ConvertOptions(
            Spiking: Neuron is CaseNeuron.SpikingRelu or CaseNeuron.IntegrateAndFire or CaseNeuron.SpikingReluResetZero or CaseNeuron.SignedIntegrateAndFire,
            Swap: Neuron switch { CaseNeuron.Lif => Map(("relu", "LIF")), CaseNeuron.LifRate => Map(("relu", "LIFRate")), _ => default },
            ScaleFiringRates: Optional(Scale).Map(s => s),
            Synapse: Optional(Synapse).Map(t => new Lowpass(t)),
            Seed: VoltageSeed,
            InitialVoltage: Init);
        convert = convert with
        {
            IntegrateAndFire = Neuron is CaseNeuron.IntegrateAndFire or CaseNeuron.SignedIntegrateAndFire,
            NegativeSpikes = Neuron == CaseNeuron.SignedIntegrateAndFire,
            ResetToZero = Neuron == CaseNeuron.SpikingReluResetZero,
        };
        return CompileOptions.Default with { Convert = convert };
    }
}

/// <summary>The generator of <see cref="NengoCase"/>s (FsCheck's Arbitrary; no shrinking: a printed case is already small).</summary>
public static class NengoCases
{
    static readonly Gen<NengoCase> Dense =
        from seed in Gen.Choose(0, 1_000_000)
        from input in Gen.Choose(2, 6)
        from depth in Gen.Choose(1, 2)
        from units in Gen.ArrayOf(Gen.Choose(2, 8), depth)
        from head in Gen.Elements(0, 0, 1, 2, 3, 4)
        from mid in Gen.Elements(false, true)
        select new NengoCase(seed, false, false, new[] { input }, units, 0, 1, false, false, head, mid && (depth > 1 || head > 0),
            CaseNeuron.RateRelu, null, null, InitialVoltage.Zero, 0, 1, Readout.Last);

    static readonly Gen<NengoCase> Conv =
        from seed in Gen.Choose(0, 1_000_000)
        from channelsFirst in Gen.Elements(false, false, true)
        from h in Gen.Choose(3, 6)
        from w in Gen.Choose(3, 6)
        from c in Gen.Choose(1, 2)
        from depth in Gen.Choose(1, 2)
        from filters in Gen.ArrayOf(Gen.Choose(1, 3), depth)
        from kernel in Gen.Choose(1, 3)
        from stride in Gen.Choose(1, 2)
        from same in Gen.Elements(false, true)
        from pool in Gen.Elements(false, false, true)
        from head in Gen.Elements(0, 1, 2, 3)
        from mid in Gen.Elements(false, true)
        let shape = channelsFirst ? new[] { c, h, w } : new[] { h, w, c }
        let spatial = same ? (Math.Min(h, w) + stride - 1) / stride : (Math.Min(h, w) - kernel) / stride + 1
        select new NengoCase(seed, true, channelsFirst, shape, filters, kernel, stride, same, pool && spatial >= 2, head, mid && (depth > 1 || head > 0),
            CaseNeuron.RateRelu, null, null, InitialVoltage.Zero, 0, 1, Readout.Last);

    public static readonly Gen<NengoCase> Cases =
        from network in Gen.OneOf(Dense, Conv)
        from neuron in Gen.Elements(CaseNeuron.RateRelu, CaseNeuron.SpikingRelu, CaseNeuron.SpikingRelu, CaseNeuron.Lif, CaseNeuron.LifRate,
            CaseNeuron.IntegrateAndFire, CaseNeuron.SpikingReluResetZero, CaseNeuron.SignedIntegrateAndFire)
        from synapse in Gen.Elements<float?>(null, null, 0.001f, 0.005f, 0.01f, 0.02f)
        from scale in Gen.Elements<float?>(null, 5f, 50f, 200f, 1000f)
        from init in Gen.Elements(InitialVoltage.Uniform, InitialVoltage.Half, InitialVoltage.Zero)
        from voltageSeed in Gen.Choose(0, 10_000)
        from steps in Gen.Elements(1, 2, 3, 5, 8, 12, 17, 25)
        from readout in Gen.Elements(Readout.Last, Readout.Mean, Readout.Count)
        select network with { Neuron = neuron, Synapse = synapse, Scale = scale, Init = init, VoltageSeed = voltageSeed, Steps = steps, Readout = readout };

    public static Arbitrary<NengoCase> Case() => Arb.From(Cases);
}

/// <summary>
/// An FsCheck property over <see cref="NengoCases"/>, skipped with the reason when the real Nengo cannot run here. It
/// replays <see cref="Seeds.Replay"/> (FSCHECK_SEED, as .ci/run sets it and the properties project reads it; drawn once
/// per run when unset); the test prints <see cref="Seeds.Banner"/>. FSCHECK_MAXTEST overrides the number of cases.
/// </summary>
public sealed class NengoPropertyAttribute : PropertyAttribute
{
    public NengoPropertyAttribute(int cases)
    {
        if (Python.RealNengoMissing is { } why) Skip = why;
        if (Seeds.Replay is { } replay) Replay = replay;
        Arbitrary = new[] { typeof(NengoCases) };
        MaxTest = int.TryParse(Environment.GetEnvironmentVariable("FSCHECK_MAXTEST"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : cases;
    }
}

/// <summary>
/// Issue 18: generated small networks (dense and convolutional, channels last and first, rate and spiking ReLU, LIF,
/// LIFRate, integrate-and-fire with subtract or zero reset and with negative spikes, synapse none or lowpass on connections and on probes of neurons, every initial-voltage mode, several step
/// counts, the readouts) are converted, run step by step in the interpreter, exported with the Nengo exporter and run
/// in the real <c>nengo.Simulator</c> (../shared/vendor/nengo) by the exported model.py's own <c>build</c>; every output
/// at every step, and model.py's readout, must equal snn's within float32 rounding (<see cref="NengoCompare.Tolerance"/>).
/// </summary>
public sealed class NengoPropertyTests : IClassFixture<RealNengoFixture>, IDisposable
{
    readonly ITestOutputHelper output;
    readonly RealNengoFixture nengo;
    readonly string dir = Path.Combine(Path.GetTempPath(), "snn-tests", "nengo-prop-" + Guid.NewGuid().ToString("N"));
    int cases;

    public NengoPropertyTests(RealNengoFixture nengo, ITestOutputHelper output) => (this.nengo, this.output) = (nengo, output);

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>Runs one case in snn and Nengo and compares them (throws on a difference); returns how many snn outputs
    /// were nonzero over all steps (a case with none proves little; the property reports how many had some).</summary>
    int Check(NengoCase c) =>
        NengoCompare.Check(nengo.Worker, c.ToString(), Compile.Run(c.Options(), c.Model(), verify: true).Ok(), c.Inputs(), c.Steps,
            Path.Combine(dir, $"case{cases++}"), c.Readout);

    [NengoProperty(100)]
    [Trait("Category", "Slow")]
    public Property GeneratedNetworks_MatchRealNengoEveryStep(NengoCase c)
    {
        if (Seeds.Problem is { } problem) throw new Xunit.Sdk.XunitException(problem);
        if (cases == 0) output.WriteLine($"{Seeds.Banner} (Nengo {nengo.Worker.Version})");
        var active = Check(c);
        return Prop.Classify(true, active > 0, "some output nonzero")
            .Classify(c.Synapse is not null, "with synapse")
            .Classify(c.Neuron is not (CaseNeuron.RateRelu or CaseNeuron.LifRate), "spiking")
            .Classify(c.Conv, "convolution");
    }

    /// <summary>Three fixed cases for the fast tier: probe and connection synapses on spiking ReLUs with a mid-model
    /// output; a strided 'same' convolution of LIF neurons; channels-first convolution with pooling and LIFRate.</summary>
    [RealNengoFact]
    public void FixedCases_MatchRealNengoEveryStep()
    {
        var fixedCases = new[]
        {
            new NengoCase(11, false, false, new[] { 6 }, new[] { 8, 5 }, 0, 1, false, false, 3, true, CaseNeuron.SpikingRelu, 0.005f, 200f,
                InitialVoltage.Half, 0, 15, Readout.Mean),
            new NengoCase(12, true, false, new[] { 5, 5, 2 }, new[] { 3 }, 3, 2, true, false, 2, true, CaseNeuron.Lif, 0.01f, 50f,
                InitialVoltage.Uniform, 3, 12, Readout.Last),
            new NengoCase(13, true, true, new[] { 2, 5, 4 }, new[] { 2, 3 }, 2, 1, false, true, 2, false, CaseNeuron.LifRate, 0.02f, null,
                InitialVoltage.Zero, 0, 8, Readout.Count),
        };
        foreach (var c in fixedCases) Assert.True(Check(c) > 0, $"{c}: every output is zero, the comparison would prove little");
    }
}
