using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using Snn.Ops;

namespace Snn.Tests.Passes;

/// <summary>The fusing rewrites of the optimizer, Before/Expected, and what they must leave alone.</summary>
public class FusionPassTests
{
    static Signal B(int id, string name, int size = 2) => new(id, name, size, SignalKind.Batched, None);
    static Signal C(int id, string name, params float[] v) => new(id, name, v.Length, SignalKind.Constant, Some(Tensor.Vector(v)));
    static ProbeDecl Probe(int signal, int size = 2) => new("p", signal, false, Arr.create(size), 0);
    static OpProgram Program(Seq<Signal> signals, Seq<Op> ops, params int[] probed) =>
        new(signals, ops, probed.Map(s => Probe(s, signals[s].Size)).ToSeq(), 0.001f, 0, Seq<Arr<int>>());

    /// <summary>A 2x2 max pooling of a 2x2 single-channel image: 4 inputs, 1 output.</summary>
    static readonly PoolSpec Pool2 = new(PoolKind.Max, Arr.create(2, 2, 1), Arr.create(2, 2), Arr.create(2, 2), Padding.Valid, true);

    [Fact]
    public void FuseChainsLeavesDotProductsLongerThanOneSumBlock()
    {
        // Y += X·W adds one partial sum per block of DotInc.SumBlock inputs: through a zeroed temporary it is
        // Y + (s1 + s2), straight into Y it would be (Y + s1) + s2.
        var n = DotInc.SumBlock + 1;
        var signals = Seq(B(0, "x", n), B(1, "w", 1), B(2, "j", 1), new Signal(3, "W", n, SignalKind.Constant, Some(Tensor.Vector(new float[n]))));
        var before = Program(signals, Seq<Op>(new Reset(1), new DotInc(3, 0, 1, 1, n, 1), new Copy(1, 2, None, None, Inc: true)), 2);
        Assert.Equal(before, Optimize.FuseChains(before));
    }

    [Fact]
    public void FuseChainsRetargetsMaxPooling()
    {
        var signals = Seq(B(0, "x", 4), B(1, "w", 1), B(2, "y", 1));
        var before = Program(signals, Seq<Op>(new Reset(1), new PoolInc(0, 1, Pool2), new Copy(1, 2, None, None, Inc: true)), 2);
        Assert.Equal(before with { Ops = Seq1<Op>(new PoolInc(0, 2, Pool2)) }, Optimize.FuseChains(before));
    }

    [Fact]
    public void SetSingleIncrementsMakesALoneMaxPoolingSetItsOutput()
    {
        var signals = Seq(B(0, "x", 4), B(1, "y", 1), B(2, "z", 1), B(3, "x2", 4));
        var avg = Pool2 with { Kind = PoolKind.Average };
        var before = Program(signals, Seq<Op>(
            new Reset(1), new PoolInc(0, 1, Pool2),                          // fused
            new Reset(2), new PoolInc(0, 2, Pool2), new PoolInc(3, 2, Pool2)), // two increments: kept
            1, 2);
        var expected = before with { Ops = Seq<Op>(new PoolInc(0, 1, Pool2) { Set = true }, new Reset(2), new PoolInc(0, 2, Pool2), new PoolInc(3, 2, Pool2)) };
        Assert.Equal(expected, Optimize.SetSingleIncrements(before));
        var average = Program(Seq(B(0, "x", 4), B(1, "y", 1)), Seq<Op>(new Reset(1), new PoolInc(0, 1, avg)), 1);
        Assert.Equal(average, Optimize.SetSingleIncrements(average));
    }

    [Fact]
    public void SetSingleIncrementsMakesALoneElementwiseProductSetItsOutput()
    {
        // The per-channel unscaling of a calibrated ensemble: Reset(scaled) + ElementwiseInc(1/scale, out → scaled).
        var signals = Seq(B(0, "out"), B(1, "scaled"), C(2, "unscale", 0.5f, 4f), B(3, "sum"), B(4, "other"));
        var before = Program(signals, Seq<Op>(
            new Reset(1), new ElementwiseInc(2, 0, 1),                                  // fused
            new Reset(3), new ElementwiseInc(2, 0, 3), new ElementwiseInc(2, 4, 3),      // two increments: kept
            new Reset(4, 1f), new ElementwiseInc(2, 0, 4)),                              // reset to 1: kept
            1, 3, 4);
        var expected = before with
        {
            Ops = Seq<Op>(new ElementwiseInc(2, 0, 1) { Set = true }, new Reset(3), new ElementwiseInc(2, 0, 3), new ElementwiseInc(2, 4, 3),
                new Reset(4, 1f), new ElementwiseInc(2, 0, 4)),
        };
        var after = Optimize.SetSingleIncrements(before);
        Assert.Equal(expected, after);
        Assert.Equal(Seq1(1), after.Ops[0].Sets);
        Assert.Equal(Seq1(1), after.Ops[0].Overwrites);
        Assert.True(after.Ops[0].Incs.IsEmpty);
        // Renumbering (drop-dead) keeps the flag.
        Assert.True(Optimize.DropDead(after).Ops.OfType<ElementwiseInc>().Count(e => e.Set) == 1);
    }

    [Fact]
    public void ForwardCopiesFeedSignInsensitiveReadersTheSource()
    {
        var signals = Seq(B(0, "spikes"), B(1, "node.in"), B(2, "out"), C(3, "W", 1f, 2f, 3f, 4f));
        var before = Program(signals, Seq<Op>(
            new Reset(1), new Copy(0, 1, None, None, Inc: true), new Reset(2), new DotInc(3, 1, 2, 1, 2, 2)), 2);
        var expected = before with { Ops = Seq<Op>(new Reset(2), new DotInc(3, 0, 2, 1, 2, 2)) };
        Assert.Equal(expected, Optimize.ForwardCopies(before));
    }

    [Fact]
    public void ForwardCopiesKeepTheCopyForReadersThatSeeTheSignOfZero()
    {
        // A gated max pooling passes its input through (−0 stays −0, where 0 + x gives +0); a probe sees it too.
        var spec = Pool2;
        var signals = Seq(B(0, "spikes", 4), B(1, "node.in", 4), B(2, "out", 1), B(3, "counts", 4), B(4, "max", 1), B(5, "x2", 4), B(6, "in2", 4), C(7, "W", new float[8]), B(8, "o2"));
        var before = Program(signals, Seq<Op>(
            new Reset(1), new Copy(0, 1, None, None, Inc: true), new MaxPoolOp(1, 2, spec, MaxPoolMethod.Gate, 3, 4),
            new Reset(6), new Copy(5, 6, None, None, Inc: true), new Reset(8), new DotInc(7, 6, 8, 1, 4, 2)),
            2, 6, 8);
        Assert.Equal(before, Optimize.ForwardCopies(before));
    }

    [Fact]
    public void PoolBeforeReluPoolsTheCurrentsAndRunsTheNeuronsOnThePooledCells()
    {
        var signals = Seq(B(0, "e.J", 4), B(1, "e.out", 4), B(2, "node.in", 1));
        var relu = new RectifiedLinear(0.5f);
        var before = Program(signals, Seq<Op>(new SimNeurons(relu, 0, 1, Seq<int>()), new PoolInc(1, 2, Pool2) { Set = true }), 2);
        var expected = before with
        {
            Signals = signals.Add(B(3, "e.J.pooled", 1)),
            Ops = Seq<Op>(new PoolInc(0, 3, Pool2) { Set = true }, new SimNeurons(relu, 3, 2, Seq<int>())),
        };
        Assert.Equal(expected, Optimize.PoolBeforeRelu(before));

        // Not for spiking neurons (their state is per neuron), nor when the ReLU output is read elsewhere or probed.
        var spiking = before with { Signals = signals.Add(B(3, "e.v", 4)), Ops = Seq<Op>(new SimNeurons(new SpikingRectifiedLinear(), 0, 1, Seq1(3)), new PoolInc(1, 2, Pool2) { Set = true }) };
        Assert.Equal(spiking, Optimize.PoolBeforeRelu(spiking));
        var probed = before with { Probes = Seq(Probe(2, 1), Probe(1, 4)) };
        Assert.Equal(probed, Optimize.PoolBeforeRelu(probed));
    }

    [Fact]
    public void PoolBeforeReluNeedsAPositiveAmplitude()
    {
        // a·max(v, 0) with a < 0 is decreasing: the max of the outputs is not the output of the max.
        var signals = Seq(B(0, "e.J", 4), B(1, "e.out", 4), B(2, "node.in", 1));
        var negative = Program(signals, Seq<Op>(new SimNeurons(new RectifiedLinear(-1f), 0, 1, Seq<int>()), new PoolInc(1, 2, Pool2) { Set = true }), 2);
        Assert.Equal(negative, Optimize.PoolBeforeRelu(negative));
    }

    [Fact]
    public void FuseBiasGainSetsTheCurrentFromTheBiasAndTheFirstInput()
    {
        var signals = Seq(B(0, "x"), B(1, "x2"), B(2, "e.J"), C(3, "e.bias", 0.5f, -1f), C(4, "e.gain", 3f), B(5, "e.out"));
        var before = Program(signals, Seq<Op>(
            new Copy(3, 2, None, None, Inc: false), new ElementwiseInc(4, 0, 2), new ElementwiseInc(4, 1, 2),
            new SimNeurons(new RectifiedLinear(), 2, 5, Seq<int>())), 5);
        var expected = before with
        {
            Ops = Seq<Op>(new AffineSet(3, Some(4), 0, 2), new ElementwiseInc(4, 1, 2), new SimNeurons(new RectifiedLinear(), 2, 5, Seq<int>())),
        };
        Assert.Equal(expected, Optimize.FuseBiasGain(before));
        var unitGain = before with { Ops = Seq<Op>(new Copy(3, 2, None, None, Inc: false), new Copy(0, 2, None, None, Inc: true)) };
        Assert.Equal(before with { Ops = Seq1<Op>(new AffineSet(3, None, 0, 2)) }, Optimize.FuseBiasGain(unitGain));
    }

    [Fact]
    public void FuseNeuronInputMovesALoneAffineSetIntoItsNeurons()
    {
        var signals = Seq(B(0, "w"), B(1, "e.J"), C(2, "e.bias", 0.5f, -1f), C(3, "e.gain", 3f), B(4, "e.out"), B(5, "e.voltage"));
        var neuron = new SpikingRectifiedLinear();
        var before = Program(signals, Seq<Op>(new AffineSet(2, Some(3), 0, 1), new SimNeurons(neuron, 1, 4, Seq1(5))), 4);
        var expected = before with { Ops = Seq1<Op>(new SimNeuronsAffine(neuron, 2, Some(3), 0, 4, Seq1(5))) };
        Assert.Equal(expected, Optimize.FuseNeuronInput(before));
        // A probed current, or one with a second increment, stays.
        var probed = before with { Probes = Seq(Probe(4), Probe(1)) };
        Assert.Equal(probed, Optimize.FuseNeuronInput(probed));
        var twoInputs = before with { Ops = Seq<Op>(new AffineSet(2, Some(3), 0, 1), new ElementwiseInc(3, 0, 1), new SimNeurons(neuron, 1, 4, Seq1(5))) };
        Assert.Equal(twoInputs, Optimize.FuseNeuronInput(twoInputs));
    }

    [Fact]
    public void OpVerifyChecksTheFusedOperators()
    {
        var signals = Seq(B(0, "x"), B(1, "j"), C(2, "bias", 1f, 2f, 3f), C(3, "gain", 1f), B(4, "x4", 4), B(5, "y1", 1), C(6, "bias2", 1f, 2f));
        OpVerify.Run(Program(signals, Seq1<Op>(new AffineSet(6, Some(3), 0, 1)))).Ok();
        Assert.Contains("sizes differ", OpVerify.Run(Program(signals, Seq1<Op>(new AffineSet(2, Some(3), 0, 1)))).Err().Message);
        Assert.Contains("sizes differ", OpVerify.Run(Program(signals, Seq1<Op>(new SimNeuronsAffine(new RectifiedLinear(), 2, None, 0, 1, Seq<int>())))).Err().Message);
        Assert.Contains("only max pooling", OpVerify.Run(Program(signals, Seq1<Op>(new PoolInc(4, 5, Pool2 with { Kind = PoolKind.Average }) { Set = true }))).Err().Message);
    }
}
