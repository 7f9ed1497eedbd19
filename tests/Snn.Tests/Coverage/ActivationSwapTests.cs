using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Coverage;

/// <summary>
/// NengoDL test_activation_swap: Input(100) → Activation(act) → Dense(100, act, kernel = eye) converted with a swap
/// equals a network written by hand with the expected neuron type (gain 1, bias 0, no synapse).
/// </summary>
public class ActivationSwapTests
{
    [Theory]
    [InlineData("sigmoid", "sigmoid", "relu", "RectifiedLinear")]
    [InlineData("relu", "relu", "SpikingRectifiedLinear", "SpikingRectifiedLinear")]
    [InlineData("relu", "RectifiedLinear", "LIF", "LIF")]
    public void ConvertedEqualsHandBuilt(string act, string from, string to, string expectedNeuron)
    {
        var eye = Tensor.Own(new[] { 100, 100 }, Enumerable.Range(0, 10000).Select(i => i / 100 == i % 100 ? 1f : 0f).ToArray());
        var model = Sequential(new[] { 100 },
            new L("Activation", "a", new { activation = act }),
            new L("Dense", "d", new { units = 100, activation = act }, ("kernel", eye), ("bias", Tensor.Filled(new[] { 100 }, 0f))));
        var options = CompileOptions.Default with
        {
            Convert = ConvertOptions.Default with { Swap = Map((from, to)), InitialVoltage = InitialVoltage.Zero },
        };
        var converted = Compile.Run(options, model, verify: true).Ok();
        var neuron = Converter.NeuronByName(expectedNeuron).Ok();
        Assert.All(converted.Network.Nodes.OfType<Ensemble>(), e => Assert.Equal(neuron.Name, e.Neuron.Name));

        var nb = new NetworkBuilder();
        var x = nb.Input("x", 100);
        var e0 = nb.Ensemble("e0", 100, neuron);
        var e1 = nb.Ensemble("e1", 100, neuron);
        nb.Connect(x, e0);
        nb.Connect(e0, e1);
        nb.Probe(e1);
        var hand = Snn.Compiler.Lower.Lower.Run(Snn.Compiler.Lower.LowerOptions.Default, nb.Build().Ok()).Ok();

        var inputs = Seq1(Random(new[] { 20, 100 }, 9, 0f, 1f).Map(v => v * 50f));
        var sim = new SimOptions(Steps: 50, Readout: Readout.Mean);
        TestModels.Close(Interpreter.Run(hand, inputs, sim).Ok().Head, Interpreter.Run(converted.Program, converted.Functions, inputs, sim).Ok().Head, 1e-5f);
    }
}
