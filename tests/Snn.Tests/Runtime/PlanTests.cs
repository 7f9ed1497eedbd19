using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Runtime;

/// <summary>Plan once, step many: all allocation happens when planning, none per step.</summary>
public class PlanTests
{
    [Theory]
    [InlineData("conv_valid_same")]
    [InlineData("maxpool")]
    [InlineData("functional_merge")]
    public void SteppingAllocatesNothing(string fixture)
    {
        var model = Snn.Compiler.Keras.ModelFile.Import(TestModels.Fixture("tfjs", fixture, "model.json")).Ok();
        var options = CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(500f), Synapse = Some(new Lowpass(0.005f)) },
        };
        var compiled = Compile.Run(options, model).Ok();
        var plan = Plan.Create(compiled.Program, 4);
        for (var i = 0; i < compiled.Program.InputCount; i++)
        {
            var buffer = plan.InputBuffer(i);
            for (var k = 0; k < buffer.Length; k++) buffer[k] = (k % 7) / 7f;
        }
        for (var t = 0; t < 5; t++) plan.Step();   // warm up (JIT, lazy statics)
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var t = 0; t < 100; t++) plan.Step();
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData("conv_valid_same")]
    [InlineData("maxpool")]
    [InlineData("batchnorm")]
    public void HoistingInputOnlyOperatorsChangesNoValue(string fixture)
    {
        var model = Snn.Compiler.Keras.ModelFile.Import(TestModels.Fixture("tfjs", fixture, "model.json")).Ok();
        var compiled = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(700f) } }, model).Ok();
        var x = Npy.Read(TestModels.Fixture("tfjs", fixture, "input_0.npy")).Ok();
        var plans = new[] { false, true }.Select(hoist =>
        {
            var plan = Plan.Create(compiled.Program, x.Shape[0]);
            plan.HoistInvariants = hoist;
            plan.SetInput(0, x.Span);
            return plan;
        }).ToArray();
        for (var t = 0; t < 25; t++)
        {
            plans[0].Step();
            plans[1].Step();
            for (var p = 0; p < compiled.Program.Probes.Count; p++)
                Assert.Equal(plans[0].Probe(p).ToArray(), plans[1].Probe(p).ToArray());
        }
    }

    [Fact]
    public void ResultsDoNotDependOnTheThreadCountOrBatchSize()
    {
        var model = Snn.Compiler.Keras.ModelFile.Import(TestModels.Fixture("tfjs", "conv_valid_same", "model.json")).Ok();
        var compiled = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(300f) } }, model).Ok();
        var x = TestModels.Random(new[] { 9, 9, 9, 2 }, 4, 0f, 1f);
        var a = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Steps: 20, Readout: Readout.Mean, BatchSize: 9, Threads: 1)).Ok().Head;
        var b = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Steps: 20, Readout: Readout.Mean, BatchSize: 2, Threads: 2)).Ok().Head;
        Assert.Equal(a.ToArray(), b.ToArray());
    }

    /// <summary>
    /// A plan takes at most --batch samples, and fewer when their arena would pass the cache budget: its arena is the
    /// per-sample bytes times the batch (plus constants), and results are the same bits with or without the budget.
    /// </summary>
    [Fact]
    public void PlansShrinkTheirBatchToFitTheCacheBudgetWithTheSameResults()
    {
        var model = Snn.Compiler.Keras.ModelFile.Import(TestModels.Fixture("tfjs", "conv_valid_same", "model.json")).Ok();
        var compiled = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(300f) } }, model).Ok();
        var perSample = Plan.BytesPerSample(compiled.Program);
        Assert.True(perSample > 0);
        // The per-sample part of a plan's memory (with its input buffers and scratch on top).
        var big = Plan.Create(compiled.Program, 8);
        var small = Plan.Create(compiled.Program, 3);
        Assert.InRange(big.ArenaBytes - small.ArenaBytes, 5 * perSample, 10 * perSample);
        var fit = new SimOptions(Steps: 12, Readout: Readout.Mean, BatchSize: 8, Threads: 2) { CacheBytesPerWorker = 3 * perSample };
        Assert.Equal(3, Interpreter.PlanBatch(compiled.Program, fit, 9));
        Assert.Equal(1, Interpreter.PlanBatch(compiled.Program, fit with { CacheBytesPerWorker = 1 }, 9));
        Assert.Equal(8, Interpreter.PlanBatch(compiled.Program, fit with { CacheBytesPerWorker = 0 }, 9));
        Assert.Equal(4, Interpreter.PlanBatch(compiled.Program, fit with { CacheBytesPerWorker = 0 }, 4));
        var x = TestModels.Random(new[] { 9, 9, 9, 2 }, 5, 0f, 1f);
        Assert.Equal(Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), fit with { CacheBytesPerWorker = 0 }).Ok().Head.ToArray(),
            Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), fit).Ok().Head.ToArray());
    }

    /// <summary>
    /// Runs of one <see cref="Simulator"/> reuse its idle plans: after runs with other inputs, step counts, readouts and
    /// encodings, a run gives the bits a fresh simulator (new plans) gives; and the reuse is real (the simulator planned
    /// once per batch size, so a reused run plans nothing).
    /// </summary>
    [Fact]
    public void ReusedPlansComputeWhatNewPlansCompute()
    {
        var model = Snn.Compiler.Keras.ModelFile.Import(TestModels.Fixture("tfjs", "conv_valid_same", "model.json")).Ok();
        var compiled = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(300f) } }, model).Ok();
        var x = TestModels.Random(new[] { 5, 9, 9, 2 }, 5, 0f, 1f);
        var other = TestModels.Random(new[] { 7, 9, 9, 2 }, 6, 0f, 3f);
        var sim = new SimOptions(Steps: 15, Readout: Readout.Mean, BatchSize: 2, Threads: 2);
        var simulator = new Simulator(compiled.Program);
        simulator.Run(Seq1(other), sim with { Steps = 40, Readout = Readout.Last }).Ok();
        simulator.Run(Seq1(other), sim with { Encoding = Encoding.Poisson, Seed = 3 }).Ok();
        var reused = simulator.Run(Seq1(x), sim).Ok().Head;
        // At most one plan per worker over the three runs (a worker that starts after another finished takes its plan).
        Assert.InRange(simulator.Plans, 1, 2);
        var serial = new Simulator(compiled.Program);
        for (var run = 0; run < 3; run++) serial.Run(Seq1(other), sim with { Threads = 1 }).Ok();
        Assert.Equal(1, serial.Plans);
        var fresh = new Simulator(compiled.Program).Run(Seq1(x), sim).Ok().Head;
        Assert.Equal(fresh.ToArray().Select(BitConverter.SingleToInt32Bits), reused.ToArray().Select(BitConverter.SingleToInt32Bits));
        Assert.Contains(fresh.ToArray(), v => v != 0f);
    }
}
