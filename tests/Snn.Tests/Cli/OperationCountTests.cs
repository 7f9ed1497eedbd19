using LanguageExt;
using Snn.Cli;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Cli;

/// <summary>Synaptic operations per inference, counted by hand for a two-layer network.</summary>
public class OperationCountTests
{
    [Fact]
    public void ConstantInputIsWeightedOnceAndSpikesCostOneAccumulatePerTarget()
    {
        var nb = new NetworkBuilder();
        var x = nb.Input("x", 4);
        var e = nb.Ensemble("e", 3, new IntegrateAndFire { NegativeSpikes = true }, 1f, null, Tensor.Filled(new[] { 3 }, 0.5f));
        var y = nb.Node("y", 2);
        nb.Connect(x, e, new DenseT(TestModels.Random(new[] { 4, 3 }, 1), 1));
        nb.Connect(e, y, new DenseT(TestModels.Random(new[] { 3, 2 }, 2), 1));
        nb.Probe(y);
        var net = nb.Build().Ok();
        var layers = Seq1(new LayerActivity("e", "e", 3, 0, 0, 0, 0, Spikes: 10));

        var constant = Evaluation.Operations(net, layers, steps: 8);
        Assert.Equal(10.0 * 2, constant.SynapticAccumulates);   // each of 10 spikes reaches 2 outputs
        Assert.Equal(4 * 3, constant.AnalogMacs);               // the input's weighted sum is the same every step
        Assert.Equal(4 * 3 + 3 * 2, constant.AnnMacs);

        var changing = Evaluation.Operations(net, layers, steps: 8, constantInput: false);
        Assert.Equal(8 * 4 * 3, changing.AnalogMacs);
        Assert.Equal(constant.SynapticAccumulates, changing.SynapticAccumulates);
    }
}
