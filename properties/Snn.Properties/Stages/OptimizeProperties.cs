using FsCheck.Xunit;
using LanguageExt;
using Snn.Compiler;
using Snn.Properties.Generators;
using Snn.Properties.Support;
using Snn.Runtime;
using Xunit.Abstractions;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;

namespace Snn.Properties.Stages;

/// <summary>
/// Optimize keeps the meaning of the operator program: the interpreter gives the same outputs on
/// <c>compiled.Program</c> (optimized) and <c>compiled.Lowered</c> (unoptimized), in rate mode and in
/// spiking mode with and without a lowpass synapse, at several steps, for the last-step and the mean readout.
/// The optimized program also gives the same outputs when the interpreter splits the samples into batches of 2
/// on one thread (so the last batch is partial and a plan is reused after <c>Reset</c>). The models include max
/// pooling (<see cref="MaxPoolModels"/>), which several rewrites are about.
/// </summary>
/// <remarks>
/// Optimized against unoptimized is checked bit for bit: every rewrite keeps the float operations (see
/// <c>Optimize</c>), so any difference, even the sign of a zero, means a rewrite changed what is computed. Batches of
/// 2 against batches of 3 use <see cref="Tol"/> = 1e-6 * max(1, max|output|) per output tensor.
/// </remarks>
[Properties(Arbitrary = new[] { typeof(MaxPoolModels) })]
public sealed class OptimizeProperties(ITestOutputHelper output) : PropertyTests(output)
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
            var optimized = Interpreter.Run(c.Program, c.Functions, x, sim, Checkpoints).Ok();
            var unoptimized = Interpreter.Run(c.Lowered, c.Functions, x, sim, Checkpoints).Ok();
            // The same program run in batches of 2 samples on one thread (a partial last batch, plans reused).
            var split = Interpreter.Run(c.Program, c.Functions, x, sim with { BatchSize = 2, Threads = 1 }, Checkpoints).Ok();
            for (var k = 0; k < Checkpoints.Length; k++)
            {
                Close.Identical(unoptimized[k], optimized[k], $"{mode}, {readout} readout after {Checkpoints[k]} steps: Lowered vs Program");
                Close.Assert(optimized[k], split[k], $"{mode}, {readout} readout after {Checkpoints[k]} steps: batch 3 vs batches of 2", Tol);
            }
        }
    }

    [Property(MaxTest = 150)]
    public void Optimized_matches_unoptimized_rate(GeneratedModel m) => Compare(m, Modes.Rate, "rate");

    [Property(MaxTest = 150)]
    public void Optimized_matches_unoptimized_spiking(GeneratedModel m) =>
        Compare(m, Modes.Spiking(Modes.ScaleFor(m.Seed), None), $"spiking, scale {Modes.ScaleFor(m.Seed)}");

    [Property(MaxTest = 100)]
    public void Optimized_matches_unoptimized_spiking_with_negative_spikes(GeneratedModel m) =>
        Compare(m, Modes.SpikingSigned(Modes.ScaleFor(m.Seed)), $"spiking signed IF, scale {Modes.ScaleFor(m.Seed)}");

    [Property(MaxTest = 150)]
    public void Optimized_matches_unoptimized_spiking_with_lowpass(GeneratedModel m) =>
        Compare(m, Modes.Spiking(Modes.ScaleFor(m.Seed), Some(new Lowpass(0.005f))), $"spiking+lowpass(0.005), scale {Modes.ScaleFor(m.Seed)}");
}
