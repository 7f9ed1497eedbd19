using LanguageExt;
using Snn.Compiler;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Snn.Runtime;
using Xunit;
using Xunit.Abstractions;
using static LanguageExt.Prelude;
using Tensor = Snn.Compiler.Tensor;

namespace Snn.Properties.Stages;

/// <summary>
/// Optimize keeps the meaning of the operator program: the interpreter gives the same outputs on
/// <c>compiled.Program</c> (optimized) and <c>compiled.Lowered</c> (unoptimized), in rate mode and in
/// spiking mode with and without a lowpass synapse, at several steps, for the last-step and the mean readout.
/// The optimized program also gives the same outputs when the interpreter splits the samples into batches of 2
/// on one thread (so the last batch is partial and a plan is reused after <c>Reset</c>).
/// </summary>
/// <remarks>
/// Tolerance: <see cref="Tol"/> = 1e-6 * max(1, max|unoptimized|) per output tensor, i.e. float rounding.
/// The passes only turn <c>y += 1*x</c> into <c>y += x</c> (exact) and let a transform accumulate straight
/// into its destination instead of into a zeroed temporary that is then added (exact as long as the
/// kernel adds its finished dot product to y once, which holds for these sizes: K &lt; 256), and drop
/// dead ops; so outputs are expected to be bit-identical and any larger difference means a pass changed
/// what is computed (a flipped spike shows up as a difference of amplitude/dt, far above this tolerance).
/// </remarks>
public sealed class OptimizeProperties(ITestOutputHelper output)
{
    const double Tol = 1e-6;
    static readonly int[] Checkpoints = { 1, 2, 7, 30 };

    static void Compare(GeneratedModel m, CompileOptions options, string mode)
    {
        var c = Compile.Run(options, m.Model, verify: true).Get($"compile ({mode})");
        var x = m.Inputs();
        foreach (var readout in new[] { Readout.Last, Readout.Mean })
        {
            var sim = new SimOptions(Steps: Checkpoints.Max(), Readout: readout);
            var optimized = Interpreter.Run(c.Program, x, sim, Checkpoints);
            var unoptimized = Interpreter.Run(c.Lowered, x, sim, Checkpoints);
            // The same program run in batches of 2 samples on one thread (a partial last batch, plans reused).
            var split = Interpreter.Run(c.Program, x, sim with { BatchSize = 2, Threads = 1 }, Checkpoints);
            for (var k = 0; k < Checkpoints.Length; k++)
            {
                Close.Assert(unoptimized[k], optimized[k], $"{mode}, {readout} readout after {Checkpoints[k]} steps: Lowered vs Program", Tol);
                Close.Assert(optimized[k], split[k], $"{mode}, {readout} readout after {Checkpoints[k]} steps: batch 3 vs batches of 2", Tol);
            }
        }
    }

    [Fact]
    public void Optimized_matches_unoptimized_rate() =>
        PropertyRunner.Check(output, nameof(Optimized_matches_unoptimized_rate), KerasModels.Arbitrary,
            m => Compare(m, Modes.Rate, "rate"), maxTest: 150);

    [Fact]
    public void Optimized_matches_unoptimized_spiking() =>
        PropertyRunner.Check(output, nameof(Optimized_matches_unoptimized_spiking), KerasModels.Arbitrary,
            m => Compare(m, Modes.Spiking(Modes.ScaleFor(m.Seed), None), $"spiking, scale {Modes.ScaleFor(m.Seed)}"), maxTest: 150);

    [Fact]
    public void Optimized_matches_unoptimized_spiking_with_lowpass() =>
        PropertyRunner.Check(output, nameof(Optimized_matches_unoptimized_spiking_with_lowpass), KerasModels.Arbitrary,
            m => Compare(m, Modes.Spiking(Modes.ScaleFor(m.Seed), Some(new Lowpass(0.005f))), $"spiking+lowpass(0.005), scale {Modes.ScaleFor(m.Seed)}"),
            maxTest: 150);
}
