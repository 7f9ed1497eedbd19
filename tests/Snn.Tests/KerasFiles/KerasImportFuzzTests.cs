using System.Diagnostics;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Tests.Support;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Tests.KerasFiles;

/// <summary>
/// Model-import fuzzing: the Keras fixtures and (when ../shared is present) the real model files under
/// shared/models/real, mutated — byte flips, word overwrites, block copies, truncations, splices, length-preserving
/// edits of the JSON inside .h5 files and, for .keras archives, edits of config.json (text and structure),
/// of model.weights.h5 and of the zip's entries, repacked into a valid zip — then written to a temp file with the
/// right extension and run through <see cref="ModelFile.Import"/> and, when that succeeds, <see cref="Legalize.Run"/>.
/// Every case must end in a model or an <see cref="Error"/> (CLI exit code 3), never an exception, within 10 s (a guard
/// against super-linear work on damaged structures, loose enough for a loaded 2-core machine: the unmutated vww_96.h5
/// imports in about 1 s idle and took 2.2-4.2 s at load 20-37).
/// 2,000 cases by default; SNN_FUZZ_ITERATIONS sets the number, SNN_FUZZ_SEED replays a run (the seed is printed),
/// SNN_FUZZ_CASE=i replays one case of it; SNN_FUZZ_EVAL=1 also runs the reference evaluator on legalized models.
/// </summary>
[Trait("Category", "Slow")]
public sealed class KerasImportFuzzTests(ITestOutputHelper output)
{
    const int DefaultIterations = 2000;
    const int DefaultSeed = 20250722;
    static readonly TimeSpan PerCaseLimit = TimeSpan.FromSeconds(10);
    static readonly TimeSpan HangLimit = TimeSpan.FromSeconds(30);

    static readonly bool Eval = Environment.GetEnvironmentVariable("SNN_FUZZ_EVAL") == "1";

    sealed record Outcome(string Stage, Error? Error, Exception? Exception, TimeSpan Elapsed);

    [Fact]
    public async Task MutatedModelFilesGiveAModelOrAnErrorNeverAnExceptionOrAHang()
    {
        var (seed, iterations, only) = Fuzz.Read(DefaultSeed, DefaultIterations);
        output.WriteLine($"keras import fuzz: seed {seed} (SNN_FUZZ_SEED={seed} replays, SNN_FUZZ_CASE=i one case), {iterations} cases");

        var fixtures = Directory.GetFiles(KerasFileFixtures.Dir)
            .Where(f => f.EndsWith(".h5", StringComparison.Ordinal) || f.EndsWith(".keras", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).Select(f => KerasMutations.Corpus(Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
        var real = KerasMutations.RealFiles(TestModels.Shared);
        output.WriteLine(real.Count == 0
            ? "no ../shared/models/real: fuzzing the fixtures only"
            : $"{fixtures.Count} fixtures, {real.Count} real files ({string.Join(", ", real.Select(r => r.Name))})");

        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", "keras-fuzz-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var failures = new List<string>();
        var kinds = new Dictionary<string, (int Count, string First)>();
        var stages = new Dictionary<string, int>();
        var codes = new Dictionary<int, int>();
        var lastResort = new Dictionary<string, (int Count, string First)>();
        var slowest = (Ms: 0.0, Case: "");
        var total = Stopwatch.StartNew();
        try
        {
            for (var i = 0; i < iterations; i++)
            {
                if (only is { } o && o != i) continue;
                var rng = new Random(unchecked(seed * 1_000_003 + i));
                // Real files are big (0.4-3 MB): one case in sixteen.
                var pool = real.Count > 0 && rng.Next(16) == 0 ? real : fixtures;
                var source = pool[rng.Next(pool.Count)];
                var (description, bytes) = KerasMutations.Mutate(rng, source, pool);
                var label = $"case {i} ({description})";
                var path = Path.Combine(dir, $"case{i}{source.Ext}");
                File.WriteAllBytes(path, bytes);

                Outcome r;
                try
                {
                    r = await Task.Run(() => Run(path)).WaitAsync(HangLimit);
                }
                catch (TimeoutException)
                {
                    failures.Add($"{label}: still running after {HangLimit.TotalSeconds} s (hang)");
                    break;
                }
                File.Delete(path);
                stages[r.Stage] = stages.GetValueOrDefault(r.Stage) + 1;
                if (r.Elapsed.TotalMilliseconds > slowest.Ms) slowest = (r.Elapsed.TotalMilliseconds, label);
                if (r.Exception is { } e)
                {
                    failures.Add($"{label}: {r.Stage}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
                    var kind = $"{r.Stage}: {e.GetType().Name} at {Origin(e)}";
                    kinds[kind] = kinds.TryGetValue(kind, out var k) ? (k.Count + 1, k.First) : (1, label);
                }
                else if (r.Elapsed > PerCaseLimit)
                    failures.Add($"{label}: took {r.Elapsed.TotalSeconds:F2} s");
                if (r.Error is { } err)
                {
                    codes[err.Code] = codes.GetValueOrDefault(err.Code) + 1;
                    if (Errors.ExitCode(err) != 3 || err.Code / 1000 == 9)
                        failures.Add($"{label}: {r.Stage} error code {err.Code} (exit {Errors.ExitCode(err)}): {err.Message}");
                    // Errors made from a caught exception by a last-resort handler ("(KeyNotFoundException: ...)"): still errors,
                    // but each kind marks a check that is missing where the exception was thrown.
                    var caught = System.Text.RegularExpressions.Regex.Match(err.Message, @"\((\w+Exception): ");
                    if (caught.Success)
                    {
                        var kind = $"{r.Stage}: {caught.Groups[1].Value}";
                        lastResort[kind] = lastResort.TryGetValue(kind, out var k) ? (k.Count + 1, k.First) : (1, $"{label}: {err.Message}");
                    }
                }
            }
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }

        output.WriteLine($"{iterations} cases in {total.Elapsed.TotalSeconds:F1} s; outcomes: " +
                         string.Join(", ", stages.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}")));
        output.WriteLine("error codes: " + string.Join(", ", codes.OrderBy(p => p.Key).Select(p => $"{p.Key}×{p.Value}")));
        output.WriteLine($"slowest {slowest.Ms:F0} ms: {slowest.Case}");
        output.WriteLine($"{lastResort.Values.Sum(v => v.Count)} errors came from last-resort exception handlers:");
        foreach (var (kind, (count, first)) in lastResort.OrderByDescending(p => p.Value.Count))
            output.WriteLine($"  ×{count} {kind}; first: {first}");
        foreach (var (kind, (count, first)) in kinds.OrderByDescending(p => p.Value.Count))
            output.WriteLine($"FAIL ×{count} {kind}; first: {first}");
        foreach (var f in failures.Take(10)) output.WriteLine("FAIL " + f);
        Assert.True(failures.Count == 0, $"seed {seed}: {failures.Count} failures:\n" + string.Join("\n", failures.Take(10)));
    }

    /// <summary>The innermost Snn frame of an exception's stack trace: where a check is missing.</summary>
    static string Origin(Exception e)
    {
        var frames = (e.StackTrace ?? "").Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("at Snn.Compiler", StringComparison.Ordinal));
        var first = frames.FirstOrDefault() ?? "?";
        var paren = first.IndexOf('(');
        var line = first.LastIndexOf(":line ", StringComparison.Ordinal);
        return (paren > 0 ? first[3..paren] : first) + (line > 0 ? first[line..] : "");
    }

    static Outcome Run(string path)
    {
        var sw = Stopwatch.StartNew();
        var stage = "import";
        try
        {
            var imported = ModelFile.Import(path);
            if (imported.IsLeft) return new Outcome("import-error", imported.Match(_ => null!, e => e), null, sw.Elapsed);
            var model = imported.Match(m => m, _ => null!);
            stage = "legalize";
            var legal = Legalize.Run(LegalizeOptions.Default, model);
            if (legal.IsFail) return new Outcome("legalize-error", legal.Match(Succ: _ => null!, Fail: es => Errors.Many(es.ToSeq())), null, sw.Elapsed);
            if (!Eval || model.InputShapes.Exists(s => s.Fold(1L, (p, d) => p * d) > 100_000))
                return new Outcome("legalized", null, null, sw.Elapsed);
            // SNN_FUZZ_EVAL=1: also run the reference evaluator on one sample of ones (what `snn verify` does first).
            stage = "eval";
            var inputs = model.InputShapes.Map(s => Tensor.Filled(new[] { 1 }.Concat(s).ToArray(), 1f)).ToSeq();
            return KerasEval.Run(model, inputs).Match(
                _ => new Outcome("evaluated", null, null, sw.Elapsed),
                e => new Outcome("eval-error", e, null, sw.Elapsed));
        }
        catch (Exception e)
        {
            return new Outcome(stage, null, e, sw.Elapsed);
        }
    }
}
