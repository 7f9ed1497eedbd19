using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Legalize;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Passes;

/// <summary>NengoDL converter semantics (nengo-semantics.md §1.1, §1.5, §2.3) on small models.</summary>
public class ConvertTests
{
    static Network Convert(Snn.Compiler.Keras.KerasModel m, ConvertOptions o) =>
        NetVerify.Run(Converter.Run(o, ConverterRegistry.Empty, Legalize.Run(LegalizeOptions.Default, m).Ok()).Ok().Network).Ok();

    static Snn.Compiler.Keras.KerasModel SynapseModel() =>
        Functional(new[] { "x" }, new[] { new[] { 1 } }, new[] { "dense0", "dense1" },
            (new L("Dense", "dense0", new { units = 10, activation = "relu" }, ("kernel", Random(new[] { 1, 10 }, 1)), ("bias", Random(new[] { 10 }, 2))), new[] { "x" }),
            (new L("Dense", "dense1", new { units = 10 }, ("kernel", Random(new[] { 10, 10 }, 3)), ("bias", Random(new[] { 10 }, 4))), new[] { "dense0" }));

    /// <summary>
    /// Neuron types whose spiking or rate counterpart is themselves print (and so do the records that hold them)
    /// without recursing; the lowered network of a calibrated model holds signed IF neurons with a count state.
    /// </summary>
    [Fact]
    public void NeuronTypesAndOpsPrintTheirNames()
    {
        var neurons = new NeuronType[] { new IntegrateAndFire(0.5f), new IntegrateAndFire { NegativeSpikes = true }, new RectifiedLinear(), new SpikingRectifiedLinear(), new Lif() };
        Assert.Equal(new[] { "IF(amplitude 0.5)", "SignedIF(amplitude 1)", "RectifiedLinear(amplitude 1)", "SpikingRectifiedLinear(amplitude 1)", "LIF(amplitude 1)" },
            neurons.Select(n => n.ToString()).ToArray());
        var op = new Snn.Ops.SimNeurons(neurons[1], 0, 1, Seq(2, 3));
        Assert.Contains("SignedIF(amplitude 1)", op.ToString());

        var net = Convert(SynapseModel(), ConvertOptions.Default.AsSpiking() with { IntegrateAndFire = true, NegativeSpikes = true });
        var lowered = Snn.Compiler.Lower.Lower.Run(Snn.Compiler.Lower.LowerOptions.Default, net).Ok();
        var sim = lowered.Ops.OfType<Snn.Ops.SimNeurons>().Single();
        Assert.Equal(new[] { ".voltage", ".count" }, sim.State.Map(s => lowered.Signals[s].Name[lowered.Signals[s].Name.LastIndexOf('.')..]).ToArray());
    }

    [Fact]
    public void SynapseOnlyOnConnectionsAndProbesLeavingNeurons()
    {
        // NengoDL test_synapse
        var net = Convert(SynapseModel(), ConvertOptions.Default with { Synapse = Some(new Lowpass(0.1f)) });
        var ensemble = Assert.Single(net.Nodes.OfType<Ensemble>());
        Assert.Equal("dense0", ensemble.Id);
        foreach (var c in net.Connections)
            Assert.Equal(c.Pre == ensemble.Id ? Some(new Lowpass(0.1f)) : None, c.Synapse);
        Assert.Equal(Some(new Lowpass(0.1f)), net.Probes[0].Synapse);
        Assert.Equal(Option<Lowpass>.None, net.Probes[1].Synapse);
    }

    [Fact]
    public void DenseBiasBecomesEnsembleBiasAndScaleFiringRatesScalesGainBiasAndAmplitude()
    {
        var net = Convert(SynapseModel(), ConvertOptions.Default with { ScaleFiringRates = Some(5f) });
        var e = Assert.Single(net.Nodes.OfType<Ensemble>());
        Assert.Equal(5f, e.Gain);
        Assert.Equal(Random(new[] { 10 }, 2).Map(v => v * 5f), e.Bias);
        Assert.Equal(new RectifiedLinear(1f / 5f), e.Neuron);
        // dense1 has no activation: a passthrough node plus a constant bias node.
        Assert.Contains(net.Nodes, n => n is PassNode { Id: "dense1" });
        Assert.Contains(net.Nodes, n => n is ConstNode { Id: "dense1.bias" });
    }

    [Fact]
    public void SwapActivationsByActivationThenByNeuronType()
    {
        var m = SynapseModel();
        Assert.IsType<Lif>(Assert.Single(Convert(m, ConvertOptions.Default with { Swap = Map(("relu", "LIF")) }).Nodes.OfType<Ensemble>()).Neuron);
        Assert.IsType<SpikingRectifiedLinear>(Assert.Single(Convert(m, ConvertOptions.Default with { Swap = Map(("RectifiedLinear", "SpikingRectifiedLinear")) }).Nodes.OfType<Ensemble>()).Neuron);
        var unused = Convert(m, ConvertOptions.Default with { Swap = Map(("tanh", "LIF")) });
        Assert.Contains(unused.Warnings, w => w.Contains("no layers in the model with that activation"));
    }

    [Fact]
    public void ScalingANeuronWithoutAmplitudeWarns()
    {
        var m = Sequential(new[] { 1 }, new L("Activation", "s", new { activation = "sigmoid" }));
        var net = Convert(m, ConvertOptions.Default with { ScaleFiringRates = Some(5f) });
        Assert.Contains(net.Warnings, w => w.Contains("does not support amplitude"));
    }

    [Fact]
    public void SpikingEnsemblesGetTheirInitialVoltages()
    {
        var m = SynapseModel();
        var uniform = Assert.Single(Convert(m, ConvertOptions.Default.AsSpiking() with { Seed = 3 }).Nodes.OfType<Ensemble>());
        Assert.Equal(new NumpyRandom(3).Uniform(0, 1, 10).Select(v => (float)v), uniform.InitialVoltage.IfNone(() => throw new Exception()).ToArray());
        var half = Assert.Single(Convert(m, ConvertOptions.Default.AsSpiking() with { InitialVoltage = InitialVoltage.Half }).Nodes.OfType<Ensemble>());
        Assert.All(half.InitialVoltage.IfNone(() => throw new Exception()).ToArray(), v => Assert.Equal(0.5f, v));
    }
}
