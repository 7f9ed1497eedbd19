using System.Text.RegularExpressions;
using Snn.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using static Snn.Tests.Hostile.StructuralCases;

namespace Snn.Tests.Hostile;

/// <summary>
/// Structural fuzzing (issue 17, part 6): for each class of hostile structure (<see cref="StructuralCases"/>), seeded
/// cases run the built <c>snn</c> (<c>inspect</c>, and <c>verify</c> or <c>evaluate</c> where it applies) in a bounded
/// child process (<see cref="BoundedRun"/>). Each command must end within the case's time bound, with its peak resident
/// memory under the case's bound, with one of the documented exit codes the case allows (0, 2, 3, 4: never 1, never a
/// crash), and with no stack trace or "internal failure" on stderr. The byte-mutation fuzzers stay beside these.
/// SNN_FUZZ_ITERATIONS sets the cases per class (default 4, a few minutes for all classes on 2 cores), SNN_FUZZ_SEED
/// replays a run, SNN_FUZZ_CASE=i one case of it; a failing case's folder is kept and named in the failure.
/// </summary>
public sealed class StructuralFuzzTests(ITestOutputHelper output)
{
    const int DefaultSeed = 20261204;
    const int DefaultIterations = 4;

    /// <summary>GC heap limit of the child: well above every per-case peak bound, so a runaway shows as its peak, not as an OOM.</summary>
    const long HeapLimit = 3L << 30;

    [Theory]
    [Trait("Category", "Slow")]
    [InlineData(Kind.Amplification)]
    [InlineData(Kind.HugeSizes)]
    [InlineData(Kind.DeepWide)]
    [InlineData(Kind.SpecialFiles)]
    [InlineData(Kind.ConfigWeights)]
    public void Generated_cases_end_within_their_bounds_with_a_documented_exit_code(Kind kind)
    {
        var (seed, iterations, only) = Fuzz.Read(DefaultSeed, DefaultIterations);
        output.WriteLine($"structural fuzz {kind}: seed {seed} (SNN_FUZZ_SEED={seed} replays, SNN_FUZZ_CASE=i one case), {iterations} cases");
        var failures = new List<string>();
        for (var i = 0; i < iterations; i++)
            if (only is null || only == i)
                failures.AddRange(RunCase(kind, seed, i, quick: false));
        Assert.True(failures.Count == 0, $"{failures.Count} failures:\n" + string.Join("\n", failures));
    }

    /// <summary>The fast tier: one small case per class, made in .NET, its first command only.</summary>
    [Theory]
    [InlineData(Kind.Amplification)]
    [InlineData(Kind.HugeSizes)]
    [InlineData(Kind.DeepWide)]
    [InlineData(Kind.SpecialFiles)]
    [InlineData(Kind.ConfigWeights)]
    public void One_quick_case_per_class_ends_within_its_bounds(Kind kind)
    {
        var failures = RunCase(kind, DefaultSeed, 0, quick: true);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>
    /// Found by the huge-sizes generator: verify made its inputs of ones before any shape check, so an input shape of
    /// more than 2^31 values per sample was "internal failure (OverflowException: shape too large)". It is now the model
    /// error inspect gives for the same config (the legalizer's limit of 2^26 values per sample), before any allocation.
    /// </summary>
    [Theory]
    [InlineData(46_341, 46_341)]
    [InlineData(5, 2_147_483_647)]
    [InlineData(8_193, 8_192)]
    public void Verify_of_an_input_larger_than_any_network_is_a_model_error(int rows, int cols)
    {
        var dir = Directory.CreateTempSubdirectory("snn-verify-shape-").FullName;
        try
        {
            var layers = new object[]
            {
                new { class_name = "InputLayer", config = new { batch_input_shape = new int?[] { null, rows, cols }, dtype = "float32", name = "in" } },
                new { class_name = "ReLU", config = new { name = "r" } },
            };
            File.WriteAllText(Path.Combine(dir, "model.json"), System.Text.Json.JsonSerializer.Serialize(new
            {
                format = "layers-model",
                modelTopology = new { class_name = "Sequential", config = new { name = "big", layers } },
                weightsManifest = new[] { new { paths = Array.Empty<string>(), weights = Array.Empty<object>() } },
            }));
            var (code, _, err) = CliRunner.Run("verify", Path.Combine(dir, "model.json"));
            Assert.True(code == 3, $"exit {code}: {err}");
            Assert.Contains($"input shape ({rows}, {cols}) has more than 67108864 elements per sample", err);
            Assert.DoesNotContain("internal failure", err);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>The per-case seed: a function of the run's seed, the class and the case number only.</summary>
    static int CaseSeed(Kind kind, int seed, int i) => unchecked((seed * 31 + (int)kind) * 1_000_003 + i);

    List<string> RunCase(Kind kind, int seed, int i, bool quick)
    {
        var dir = Directory.CreateTempSubdirectory($"snn-structural-{kind}-").FullName;
        var replay = $"{kind} case {i} (SNN_FUZZ_SEED={seed} SNN_FUZZ_CASE={i}{(quick ? ", quick" : "")}, case seed {CaseSeed(kind, seed, i)})";
        var failures = new List<string>();
        Case c;
        try
        {
            c = Make(kind, new Random(CaseSeed(kind, seed, i)), dir, quick);
        }
        catch (Exception e)
        {
            Directory.Delete(dir, recursive: true);
            throw new InvalidOperationException($"{replay}: making the case failed", e);
        }
        foreach (var command in c.Commands)
        {
            var r = BoundedRun.Snn(c.Time, HeapLimit, command.Args);
            var line = $"snn {string.Join(' ', command.Args.Select(Quote))}";
            output.WriteLine($"{replay}: {c.Description}: {line}: exit {r.Code}, {r.Elapsed.TotalSeconds:F1} s, peak {r.PeakBytes >> 20} MiB");
            var problems = Problems(c, command, r).ToList();
            if (problems.Count > 0)
                failures.Add($"{replay}: {c.Description}\n  {line}\n  {string.Join("; ", problems)}\n  stderr: {Tail(r.Err)}");
        }
        if (failures.Count == 0) Directory.Delete(dir, recursive: true);
        else failures.Add($"  (the case's files are kept in {dir})");
        return failures;
    }

    static IEnumerable<string> Problems(Case c, Command command, BoundedRun.Result r)
    {
        if (r.TimedOut) yield return $"still running after {c.Time.TotalSeconds} s (killed)";
        else if (!command.Expected.Contains(r.Code))
            yield return $"exit {r.Code}, expected {string.Join(" or ", command.Expected)}";
        if (r.PeakBytes > c.PeakBytes) yield return $"peak resident memory {r.PeakBytes >> 20} MiB, over the bound of {c.PeakBytes >> 20} MiB";
        if (StackTrace.IsMatch(r.Err)) yield return "a stack trace on stderr";
        if (r.Err.Contains("internal failure", StringComparison.OrdinalIgnoreCase)) yield return "\"internal failure\" on stderr";
        if (r.Err.Contains("Unhandled exception", StringComparison.OrdinalIgnoreCase)) yield return "an unhandled exception";
    }

    /// <summary>A .NET stack frame line ("   at Namespace.Type.Method(...)").</summary>
    static readonly Regex StackTrace = new(@"^\s+at [\w.`<>+\[\], ]+\(", RegexOptions.Multiline);

    static string Quote(string a) => a.Length > 0 && a.All(ch => char.IsLetterOrDigit(ch) || "-_./=:,".Contains(ch)) ? a : $"'{a}'";

    static string Tail(string s)
    {
        s = s.Trim();
        return s.Length <= 600 ? s : "..." + s[^600..];
    }
}
