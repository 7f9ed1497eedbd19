using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using Snn.Ops;

namespace Snn.Tests.Passes;

/// <summary>The scheduler's ordering rules and the optimizer's rewrites, Before/Expected.</summary>
public class LowerOptimizeTests
{
    static Signal B(int id, string name, int size = 2) => new(id, name, size, SignalKind.Batched, None);
    static Signal C(int id, string name, params float[] v) => new(id, name, v.Length, SignalKind.Constant, Some(Tensor.Vector(v)));

    [Fact]
    public void SchedulerOrdersSetsIncsReadsUpdates()
    {
        // Deliberately listed backwards: update, read, inc, set.
        var signals = Seq(B(0, "x"), B(1, "y"), B(2, "f"), C(3, "a", 2f, 2f));
        var ops = Seq<Op>(
            new LowpassOp(1, 2, 0.5f, 0.5f),        // updates f, reads y
            new Copy(2, 0, None, None, Inc: true),  // reads f, incs x  (must come before f's update)
            new ElementwiseInc(3, 0, 1),            // reads x, incs y
            new InputFeed(0, 0),                    // sets x
            new Reset(1));                          // sets y
        var p = new OpProgram(signals, ops, Seq1(new ProbeDecl("p", 1, false, Arr.create(2), 0)), 0.001f, 1, Seq1(Arr.create(2)));
        var scheduled = Scheduler.Run(p).Ok();
        var order = scheduled.Ops.Map(o => ops.ToList().IndexOf(o)).ToArray();
        int Pos(int op) => System.Array.IndexOf(order, op);
        Assert.True(Pos(3) < Pos(1));   // set x before inc x
        Assert.True(Pos(1) < Pos(2));   // inc x before read x
        Assert.True(Pos(4) < Pos(2));   // set y before inc y
        Assert.True(Pos(2) < Pos(0));   // inc y before read y (the filter)
        Assert.True(Pos(1) < Pos(0));   // read f before update f
        OpVerify.Run(scheduled).Ok();
    }

    [Fact]
    public void SchedulerRejectsAlgebraicLoops()
    {
        var signals = Seq(B(0, "x"), B(1, "y"));
        var ops = Seq<Op>(new Copy(0, 1, None, None, Inc: false), new Copy(1, 0, None, None, Inc: false));
        var p = new OpProgram(signals, ops, Seq<ProbeDecl>(), 0.001f, 0, Seq<Arr<int>>());
        Assert.Contains("cycle", Scheduler.Run(p).Err().Message);
    }

    [Fact]
    public void RemoveIdentityMulsTurnsUnitGainIntoCopy()
    {
        var signals = Seq(B(0, "x"), B(1, "j"), C(2, "gain", 1f), C(3, "gain2", 2f));
        var before = new OpProgram(signals, Seq<Op>(new ElementwiseInc(2, 0, 1), new ElementwiseInc(3, 0, 1)), Seq<ProbeDecl>(), 0.001f, 0, Seq<Arr<int>>());
        var expected = before with { Ops = Seq<Op>(new Copy(0, 1, None, None, Inc: true), new ElementwiseInc(3, 0, 1)) };
        Assert.Equal(expected, Optimize.RemoveIdentityMuls(before));
    }

    [Fact]
    public void FuseChainsWritesTransformsStraightIntoTheirTarget()
    {
        var signals = Seq(B(0, "x"), B(1, "w"), B(2, "j"), C(3, "W", 1f, 2f, 3f, 4f));
        var before = new OpProgram(signals,
            Seq<Op>(new Reset(1), new DotInc(3, 0, 1, 1, 2, 2), new Copy(1, 2, None, None, Inc: true)),
            Seq1(new ProbeDecl("p", 2, false, Arr.create(2), 0)), 0.001f, 0, Seq<Arr<int>>());
        var expected = before with { Ops = Seq1<Op>(new DotInc(3, 0, 2, 1, 2, 2)) };
        Assert.Equal(expected, Optimize.FuseChains(before));
    }

    [Fact]
    public void DropDeadRemovesWhatNoProbeNeedsAndRenumbers()
    {
        var signals = Seq(B(0, "x"), B(1, "dead"), B(2, "live"), C(3, "W", 1f, 2f, 3f, 4f));
        var before = new OpProgram(signals,
            Seq<Op>(new InputFeed(0, 0), new DotInc(3, 0, 1, 1, 2, 2), new DotInc(3, 0, 2, 1, 2, 2)),
            Seq1(new ProbeDecl("p", 2, false, Arr.create(2), 0)), 0.001f, 1, Seq1(Arr.create(2)));
        var expected = before with
        {
            Signals = Seq(B(0, "x"), B(1, "live"), C(2, "W", 1f, 2f, 3f, 4f)),
            Ops = Seq<Op>(new InputFeed(0, 0), new DotInc(2, 0, 1, 1, 2, 2)),
            Probes = Seq1(new ProbeDecl("p", 1, false, Arr.create(2), 0)),
        };
        Assert.Equal(expected, Optimize.DropDead(before));
    }
}
