using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Runtime;
using Snn.Runtime.Kernels;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Coverage;

/// <summary>Native spiking max pooling (beyond NengoDL), checked against its defining invariants.</summary>
public class MaxPoolTests
{
    static readonly PoolSpec Overlapping = new(PoolKind.Max, Arr.create(5, 5, 2), Arr.create(3, 3), Arr.create(2, 2), Padding.Same, true);

    [Fact]
    public void WindowsListTheRealCellsOfEachWindow()
    {
        var spec = new PoolSpec(PoolKind.Max, Arr.create(3, 3, 1), Arr.create(2, 2), Arr.create(2, 2), Padding.Same, true);
        var (offsets, indices) = spec.Windows();
        // 3x3 input, same padding, 2x2 windows at stride 2: the edge windows are cut off (padding after).
        Assert.Equal(new[] { 0, 4, 6, 8, 9 }, offsets);
        Assert.Equal(new[] { 0, 1, 3, 4, 2, 5, 6, 7, 8 }, indices);
    }

    [Fact]
    public void CountMethodCumulativeOutputIsTheMaxOfCumulativeInputs()
    {
        var (offsets, indices) = Overlapping.Windows();
        var inSize = 50;
        var outSize = offsets.Length - 1;
        var rng = new Random(3);
        var counts = new float[2 * inSize];
        var max = new float[2 * outSize];
        var y = new float[2 * outSize];
        var sumIn = new double[2 * inSize];
        var sumOut = new double[2 * outSize];
        for (var t = 0; t < 200; t++)
        {
            var x = Enumerable.Range(0, 2 * inSize).Select(_ => rng.NextDouble() < 0.3 ? 1000f * rng.Next(1, 3) : 0f).ToArray();
            SpikingPool.Count(x, 2, offsets, indices, counts, max, y);
            for (var i = 0; i < x.Length; i++) sumIn[i] += x[i];
            for (var o = 0; o < y.Length; o++) sumOut[o] += y[o];
            for (var b = 0; b < 2; b++)
                for (var o = 0; o < outSize; o++)
                {
                    var expected = Enumerable.Range(offsets[o], offsets[o + 1] - offsets[o]).Max(k => sumIn[b * inSize + indices[k]]);
                    Assert.Equal(expected, sumOut[b * outSize + o], 3);
                }
        }
    }

    [Fact]
    public void GateMethodPassesTheInputWithTheHighestCount()
    {
        var spec = new PoolSpec(PoolKind.Max, Arr.create(2, 1, 1), Arr.create(2, 1), Arr.create(2, 1), Padding.Valid, true);
        var (offsets, indices) = spec.Windows();
        var counts = new float[2];
        var max = new float[1];
        var y = new float[1];
        SpikingPool.Gate(new[] { 0f, 1000f }, 1, offsets, indices, counts, max, y);
        Assert.Equal(1000f, y[0]);
        SpikingPool.Gate(new[] { 1000f, 0f }, 1, offsets, indices, counts, max, y);
        Assert.Equal(1000f, y[0]);   // counts tie at 1000: the first input wins, and it spiked this step
    }

    static Snn.Compiler.Keras.KerasModel ConvPool() => Sequential(new[] { 6, 6, 1 },
        new L("Conv2D", "conv", new { filters = 2, kernel_size = new[] { 3, 3 }, activation = "relu" },
            ("kernel", Random(new[] { 3, 3, 1, 2 }, 1)), ("bias", Random(new[] { 2 }, 2, 0f, 0.5f))),
        new L("MaxPooling2D", "pool", new { pool_size = new[] { 2, 2 } }),
        new L("Flatten", "flat", new { }));

    [Theory]
    [InlineData(MaxPoolMethod.Count, 0.02)]
    [InlineData(MaxPoolMethod.Pre, 0.02)]
    public void SpikingMaxPoolConvergesToTheRateMax(MaxPoolMethod method, double tolerance)
    {
        // Mean spiking output after N steps approaches the exact (rate) max pooling; both errors shrink like 1/(s N dt).
        var x = Random(new[] { 4, 6, 6, 1 }, 5, 0f, 1f);
        var rate = Compile.Run(CompileOptions.Default, ConvPool(), verify: true).Ok();
        var spiking = Compile.Run(CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { MaxPool = method, ScaleFiringRates = Some(1000f), InitialVoltage = InitialVoltage.Half },
        }, ConvPool(), verify: true).Ok();
        Assert.Equal(method == MaxPoolMethod.Count, spiking.Network.Nodes.Exists(n => n is MaxPoolNode));
        var expected = Interpreter.Run(rate.Program, rate.Functions, Seq1(x), SimOptions.Default).Ok().Head;
        var got = Interpreter.Run(spiking.Program, spiking.Functions, Seq1(x), new SimOptions(Steps: 500, Readout: Readout.Mean)).Ok().Head;
        for (var i = 0; i < expected.Length; i++) Assert.True(Math.Abs(expected[i] - got[i]) <= tolerance, $"{i}: rate {expected[i]}, spiking {got[i]}");
    }

    [Fact]
    public void MaxToAvgPoolChangesTheOutputAsInNengoDL()
    {
        // NengoDL test_max_pool: max_to_avg_pool=True converts, but verify reports a mismatch.
        var dir = TestModels.Fixture("tfjs", "nengo_max_pool");
        var (ok, _, _) = CliRunner.Run("verify", Path.Combine(dir, "model.json"), "--no-fallback", "--input", Path.Combine(dir, "input_0.npy"));
        Assert.Equal(0, ok);
        var (code, output, _) = CliRunner.Run("verify", Path.Combine(dir, "model.json"), "--no-fallback", "--max-to-avg-pool", "--input", Path.Combine(dir, "input_0.npy"));
        Assert.Equal(1, code);
        Assert.Contains("does not match", output);
    }
}
