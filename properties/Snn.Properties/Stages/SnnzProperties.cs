using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Snn.Runtime;
using Xunit.Abstractions;
using Xunit.Sdk;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;
using Snn.Ops;

using IdentityT = Snn.Compiler.Convert.IdentityT;
using Snn.Compiler.Saved;

namespace Snn.Properties.Stages;

/// <summary>
/// Saving a network (NET.snnz) and loading it back changes nothing: for converted random Keras models under random
/// converter settings (every neuron type, reset, start, synapse, max-pool method, calibration) and for random hand-built
/// networks (every node, transform and neuron type, extreme float values, trainable flags), the network read back
/// equals the one saved, the interpreter gives bit-identical outputs before and after in spiking and in rate mode,
/// saving what was read gives the same bytes (the writer is deterministic), and for converted models the rate form
/// equals what converting in rate mode gives.
/// </summary>
[Properties(Arbitrary = new[] { typeof(KerasModels), typeof(HandBuilt) })]
public sealed class SnnzProperties(ITestOutputHelper output) : PropertyTests(output)
{
    static readonly SimOptions Sim = new(Steps: 7, Readout: Readout.Mean);

    /// <summary>Converter settings for a model, from its seed.</summary>
    static CompileOptions SettingsFor(GeneratedModel m)
    {
        var r = new System.Random(m.Seed ^ 0x5A7E);
        var targets = new[] { "RectifiedLinear", "SpikingRectifiedLinear", "IF", "SignedIF", "LIF", "LIFRate", "Sigmoid", "Tanh", "LeakyReLU", "SpikingLeakyReLU" };
        var swap = r.Next(3) == 0 ? Map((new[] { "relu", "sigmoid", "tanh" }[r.Next(3)], targets[r.Next(targets.Length)])) : Map<string, string>();
        var convert = ConvertOptions.Default.AsSpiking() with
        {
            MaxPool = (MaxPoolMethod)r.Next(4),
            Swap = swap,
            ScaleFiringRates = r.Next(2) == 0 ? Some((float)(1 + r.NextDouble() * 300)) : None,
            Synapse = r.Next(3) == 0 ? Some(new Lowpass((float)(0.001 + r.NextDouble() * 0.01))) : None,
            Seed = r.Next(1000),
            InitialVoltage = (InitialVoltage)r.Next(3),
        };
        convert = convert with { ResetToZero = r.Next(2) == 0, IntegrateAndFire = r.Next(2) == 0 };
        // Negative spikes need reset by subtraction (with reset to zero, the converter refuses them).
        var signed = !convert.ResetToZero && r.Next(2) == 0;
        convert = convert with { NegativeSpikes = convert.IntegrateAndFire && signed };
        if (convert.ResetToZero && swap.Exists(kv => kv.Value == "SignedIF")) swap = Map<string, string>();
        convert = convert with { Swap = swap };
        var x = m.Inputs();
        return CompileOptions.Default with
        {
            Convert = convert,
            Calibration = r.Next(3) == 0 ? Some((new CalibrateOptions(90 + r.NextDouble() * 10, 1000, r.Next(2) * 16), x)) : None,
        };
    }

    static void SameOutputs(Network before, Network after, Seq<Tensor> x, string mode)
    {
        var a = Compile.Back(LowerOptions.Default, OptimizeOptions.Default, before, verify: true).Get($"lower before ({mode})").Program;
        var b = Compile.Back(LowerOptions.Default, OptimizeOptions.Default, after, verify: true).Get($"lower after ({mode})").Program;
        var ya = Interpreter.Run(a, x, Sim).Ok();
        var yb = Interpreter.Run(b, x, Sim).Ok();
        for (var o = 0; o < ya.Count; o++)
            for (var i = 0; i < ya[o].Length; i++)
                if (BitConverter.SingleToInt32Bits(ya[o][i]) != BitConverter.SingleToInt32Bits(yb[o][i]))
                    throw new XunitException($"{mode}: output {o} element {i}: {ya[o][i]:R} before saving, {yb[o][i]:R} after loading");
    }

    static SavedNetwork RoundTrip(SavedNetwork saved)
    {
        var bytes = NetworkFile.Save(saved).Get("save");
        var back = NetworkFile.Load(bytes, "property.snnz").Get("load");
        if (back != saved) throw new XunitException("the network read back differs from the one saved");
        var again = NetworkFile.Save(back).Get("save again");
        if (!again.AsSpan().SequenceEqual(bytes)) throw new XunitException("Save(Load(Save(x))) differs from Save(x)");
        return back;
    }

    [Property(MaxTest = 100)]
    public void Snnz_converted_networks_reload_bit_identically_in_both_modes(GeneratedModel m)
    {
        var options = SettingsFor(m);
        var x = m.Inputs();
        var compiled = Compile.Run(options, m.Model, verify: true).Get("compile (spiking)");
        var saved = SavedNetwork.Of(compiled, options, None, "generated inputs").Get("SavedNetwork.Of");
        var back = RoundTrip(saved);
        SameOutputs(compiled.Network, back.ForMode(true), x, "spiking");
        var rate = Compile.Run(options with { Convert = options.Convert with { Spiking = false } }, m.Model, verify: true).Get("compile (rate)");
        if (rate.Network != back.ForMode(false)) throw new XunitException("the rate form differs from converting in rate mode");
        SameOutputs(rate.Network, back.ForMode(false), x, "rate");
    }

    [Property(MaxTest = 200)]
    public void Snnz_hand_built_networks_reload_bit_identically_in_both_modes(HandBuiltNetwork h)
    {
        var back = RoundTrip(h.Saved);
        SameOutputs(h.Saved.ForMode(true), back.ForMode(true), h.Inputs, "spiking");
        SameOutputs(h.Saved.ForMode(false), back.ForMode(false), h.Inputs, "rate");
    }
}

/// <summary>A random hand-built network (see <see cref="HandBuilt"/>) with its inputs.</summary>
public sealed record HandBuiltNetwork(int Seed, SavedNetwork Saved, Seq<Tensor> Inputs)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"HandBuilt.Build(seed: {Seed}): {string.Join(", ", Saved.Network.Nodes.Map(n => n is Ensemble e ? $"{n.Id}:{e.Neuron.Name}" : $"{n.Id}:{n.GetType().Name}"))}");
}

/// <summary>
/// Random networks beyond what the converter makes: an input (H, W, C) and a constant into a passthrough node; two
/// ensembles with any of the nine neuron types and random parameters (extreme float values included); spiking max
/// pooling; dense, conv, scale and gather transforms; a concatenation through post indices; random synapses,
/// trainable flags, rate-mode keeps, layer statuses and warnings. The FsCheck.Xunit registration for <see cref="HandBuiltNetwork"/>.
/// </summary>
public static class HandBuilt
{
    public static Arbitrary<HandBuiltNetwork> Arbitrary => Arb.From(Gen.Choose(0, int.MaxValue).Select(Build));

    static readonly float[] Awkward = { 0.1f, 1f / 3f, -0f, 1e-30f, 1.4e-45f, 3.4e38f, -2.5e-7f, 16777217f, 0.001f, 123456.79f };

    public static HandBuiltNetwork Build(int seed)
    {
        var r = new System.Random(seed);
        float U(double lo, double hi) => (float)(lo + r.NextDouble() * (hi - lo));
        float Any() => r.Next(4) == 0 ? Awkward[r.Next(Awkward.Length)] : U(-2, 2);
        Tensor Vec(int n, Func<float> f) => Tensor.Own(new[] { n }, Enumerable.Range(0, n).Select(_ => f()).ToArray());
        Option<Lowpass> Syn() => r.Next(3) == 0 ? Some(new Lowpass(U(0.001, 0.02))) : None;
        bool Flag() => r.Next(2) == 0;

        NeuronType Neuron(int size) => r.Next(9) switch
        {
            0 => new RectifiedLinear(U(0.01, 2)),
            1 => new SpikingRectifiedLinear(U(0.01, 2)) { ResetToZero = Flag() },
            2 => new IntegrateAndFire(U(0.01, 2)) { ResetToZero = Flag() },
            3 => new LeakyRectifiedLinear(Flag() ? Tensor.Scalar(U(0, 0.5)) : Vec(size, () => U(0, 0.5)), U(-0.5, 0.5), Flag() ? float.PositiveInfinity : U(1, 6), U(0.01, 2)),
            4 => new SpikingLeakyRectifiedLinear(Flag() ? Tensor.Scalar(U(0, 0.5)) : Vec(size, () => U(0, 0.5)), U(-0.5, 0.5), Flag() ? float.PositiveInfinity : U(1, 6), U(0.01, 2)),
            5 => new Lif(U(0.005, 0.05), U(0, 0.004), Flag() ? 0f : U(-1, 0), U(0.01, 2)),
            6 => new LifRate(U(0.005, 0.05), U(0, 0.004), U(0.01, 2)),
            7 => new Sigmoid(U(0.5, 2)),
            _ => new Tanh(U(0.5, 2)),
        };

        Ensemble Ens(string id, int size)
        {
            var neuron = Neuron(size);
            return new Ensemble(id, "layer " + id, size, neuron, r.Next(5) == 0 ? Any() : U(1, 200), Vec(size, Any),
                neuron.Spiking ? Some(Vec(size, () => U(0, 1))) : None) { Trainable = Flag() };
        }

        var (h, w, c) = (r.Next(2, 6), r.Next(2, 6), r.Next(1, 4));
        var n = h * w * c;
        var input = new InputNode("in", "input", Arr.create(h, w, c), 0);
        var constant = new ConstNode("k", "bias", Vec(n, Any));
        var p0 = new PassNode("p0", "sum", n) { Trainable = Flag() };
        var e1 = Ens("e1", n);
        var pool = new PoolSpec(PoolKind.Max, Arr.create(h, w, c), Arr.create(2, 2), Arr.create(r.Next(1, 3), r.Next(1, 3)), Flag() ? Padding.Same : Padding.Valid, true);
        var mp = new MaxPoolNode("mp", "pool", pool, (MaxPoolMethod)r.Next(4));
        var k = r.Next(1, 6);
        var p1 = new PassNode("p1", "dense", k);
        var conv = new ConvSpec(Arr.create(h, w, c), 2, Arr.create(2, 2), Arr.create(1, 1), Arr.create(1, 1), Padding.Same, true, 1);
        var cv = new PassNode("cv", "conv", Shapes.Product(conv.OutputShape));
        var e2 = Ens("e2", k + cv.Size);

        var connections = new List<Connection>();
        void Connect(NetNode pre, NetNode post, Transform t, Option<Arr<int>> index = default) =>
            connections.Add(new Connection($"{pre.Id}->{post.Id}#{connections.Count}", pre.Id, post.Id, t, Syn(), index) { Trainable = Flag() });
        Connect(input, p0, r.Next(2) == 0 ? new IdentityT(n) : new ScaleT(n, Flag() ? Tensor.Scalar(Any()) : Vec(n, Any)));
        Connect(constant, p0, new IdentityT(n));
        Connect(p0, e1, new IdentityT(n));
        Connect(e1, mp, new IdentityT(n));
        Connect(mp, p1, new DenseT(Tensor.Own(new[] { mp.Size, k }, Enumerable.Range(0, mp.Size * k).Select(_ => Any()).ToArray()), 1));
        Connect(e1, p1, new GatherT(n, Enumerable.Range(0, k).Select(_ => r.Next(-1, n)).ToArr(), Flag() ? "transpose" : "pad"));
        Connect(e1, cv, new ConvT(conv, Tensor.Own(conv.KernelShape.ToArray(), Enumerable.Range(0, Shapes.Product(conv.KernelShape)).Select(_ => Any()).ToArray())));
        var cat = new PassNode("cat", "concat", k + cv.Size);
        Connect(p1, cat, new IdentityT(k), Some(Enumerable.Range(0, k).ToArr()));
        Connect(cv, cat, new IdentityT(cv.Size), Some(Enumerable.Range(k, cv.Size).ToArr()));
        Connect(cat, e2, new IdentityT(cat.Size));

        var probes = Seq<Probe>(
            new Probe("probe0", "e2", Syn(), Flag(), Arr.create(e2.Size), 0),
            new Probe("probe1", "mp", Syn(), false, mp.Spec.OutputShape, 1));
        var layers = Seq1(new LayerStatus("conv \"odd\" ñame", "Conv2D", (Conversion)r.Next(5), Arr.create(h, -1, c), "a note\nwith a newline"));
        var network = new Network(Seq<NetNode>(input, constant, p0, e1, mp, p1, cv, cat, e2), connections.ToSeq(), probes, U(0.0005, 0.002), layers,
            Seq("warning with \"quotes\" and ünïcode", ""));
        NetVerify.Run(network).Get("hand-built network");
        var keep = toSet(new[] { "e1", "e2" }.Where(_ => Flag()));
        var saved = new SavedNetwork("hand-built", Seq1(input.Shape), LegalizeOptions.Default, ConvertOptions.Default.AsSpiking(), None, network, keep, None);
        var x = Tensor.Own(new[] { 2, h, w, c }, Enumerable.Range(0, 2 * n).Select(_ => U(-1, 1)).ToArray());
        return new HandBuiltNetwork(seed, saved, Seq1(x));
    }
}
