using System.Diagnostics;
using Snn.Compiler;
using Snn.Tests.Support;
using Snn.Compiler.Hdf5;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Tests.Hdf5;

/// <summary>
/// Mutation fuzzing: byte flips, word overwrites (pointers to other structures, huge sizes), block copies,
/// truncations and splices of the fixtures and (when present) the real Keras files. Every case must end in
/// success or an <c>Errors.Hdf5</c> value, never an exception, within 10 s (a hang guard). Seeded (SNN_FUZZ_SEED) and
/// printed; SNN_FUZZ_ITERATIONS raises the number of cases above the default 10,000 (the CI run).
/// </summary>
[Trait("Category", "Slow")]
public sealed class H5FuzzTests(ITestOutputHelper output)
{
    private const int DefaultIterations = 10000;
    /// <summary>A hang guard, not a speed target: cases take milliseconds; one measured 2.3 s under a load average of 7.</summary>
    private static readonly TimeSpan PerCaseLimit = TimeSpan.FromSeconds(10);

    [Fact]
    public void Mutated_files_give_success_or_error_never_an_exception_or_a_hang()
    {
        var (seed, requested, _) = Fuzz.Read(20250601, DefaultIterations);
        var iterations = Math.Max(requested, DefaultIterations);
        output.WriteLine($"fuzz seed {seed} (set SNN_FUZZ_SEED to replay), {iterations} cases");

        var fixtures = H5TestSupport.Fixtures.Select(f => H5Mutations.Corpus(f, File.ReadAllBytes(H5TestSupport.FixturePath(f)))).ToList();
        var real = H5TestSupport.RealFiles().Select(r => H5Mutations.Corpus(r.Name, r.Bytes)).ToList();
        if (real.Count == 0) output.WriteLine("no real model files (../shared absent): fuzzing the fixtures only");

        var rng = new Random(seed);
        var failures = new List<string>();
        var faults = new List<string>();
        int opened = 0, clean = 0, withErrors = 0;
        double maxMs = 0;
        string slowest = "";
        var total = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
        {
            // Real files are big (1-3 MB, mostly float data): one case in ten.
            var pool = real.Count > 0 && rng.Next(10) == 0 ? real : fixtures;
            var (description, bytes) = H5Mutations.Mutate(rng, pool[rng.Next(pool.Count)], pool);
            var sw = Stopwatch.StartNew();
            H5Walk walk;
            try
            {
                walk = H5Walk.Run(bytes, "fuzz.h5", maxObjects: 2000);
            }
            catch (Exception e)
            {
                failures.Add($"case {i} ({description}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                continue;
            }
            sw.Stop();
            if (sw.Elapsed.TotalMilliseconds > maxMs)
            {
                maxMs = sw.Elapsed.TotalMilliseconds;
                slowest = description;
            }
            if (sw.Elapsed > PerCaseLimit) failures.Add($"case {i} ({description}): took {sw.Elapsed.TotalSeconds:F2} s");
            foreach (var e in walk.Errors.Where(e => e.Code != Errors.Hdf5Code))
                failures.Add($"case {i} ({description}): error code {e.Code}: {e.Message}");
            // Faults caught by the reader's last-resort handler are still errors, but they mean a check is missing.
            foreach (var e in walk.Errors.Where(e => e.Message.Contains("malformed file (")))
                faults.Add($"case {i} ({description}): {e.Message}");
            if (walk.Opened) opened++;
            if (walk.Errors.Count == 0) clean++;
            else withErrors++;
        }
        output.WriteLine($"{iterations} cases in {total.Elapsed.TotalSeconds:F1} s: {opened} opened, {clean} read without error, " +
                         $"{withErrors} with errors; slowest {maxMs:F0} ms ({slowest})");
        output.WriteLine($"{faults.Count} errors came from the last-resort exception handler");
        foreach (var f in faults.Take(20)) output.WriteLine("  " + f);
        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} failures:\n" + string.Join("\n", failures.Take(10)));
    }
}
