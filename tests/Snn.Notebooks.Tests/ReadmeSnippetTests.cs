using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;

namespace Snn.Notebooks.Tests;

/// <summary>
/// Every ```csharp block in README.md is a complete <c>Program.cs</c>: with its own usings and nothing else given, it
/// compiles in a console project that references the Snn package, and it runs from the repository root (where the
/// paths it names exist) and prints its result, not an error.
/// </summary>
public sealed class ReadmeSnippetTests
{
    static string Readme() => File.ReadAllText(Path.Combine(Repository.RepoRoot(), "README.md"));

    /// <summary>The ```csharp blocks of a markdown text, in order.</summary>
    public static IReadOnlyList<string> CSharpBlocks(string markdown) =>
        Regex.Matches(markdown.Replace("\r\n", "\n"), "^```csharp\\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).ToList();

    public static TheoryData<int> Snippets() => new(Enumerable.Range(0, CSharpBlocks(Readme()).Count));

    /// <summary>TF.js's own accuracy on the bundled 1000 images (the reference file generated with the model).</summary>
    public static double TfjsAccuracy()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Repository.RepoRoot(), "src", "Snn", "Demo", "fashion-cnn", "expected.json")));
        return doc.RootElement.GetProperty("correct").GetInt32() / (double)doc.RootElement.GetProperty("images").GetInt32();
    }

    /// <summary>
    /// What a README program printed, checked: something, no error, and where it reports the ANN's accuracy on the bundled
    /// images ("ANN 0.9150"), TF.js's accuracy on them.
    /// </summary>
    internal static void AssertPrintedResult(string output, string stderr, string what)
    {
        Assert.True(output.Trim().Length > 0, $"{what} printed nothing");
        Assert.True(stderr.Length == 0, $"{what} wrote to standard error:\n{stderr}");
        Assert.DoesNotContain("error:", output, StringComparison.OrdinalIgnoreCase);
        foreach (Match ann in Regex.Matches(output, @"\bANN (\d\.\d{4})"))
            Assert.Equal(TfjsAccuracy(), double.Parse(ann.Groups[1].Value, CultureInfo.InvariantCulture), 4);
    }

    [Fact]
    public void The_readme_has_csharp_blocks_and_the_extraction_finds_each()
    {
        var readme = Readme();
        var blocks = CSharpBlocks(readme);
        Assert.Equal(Regex.Matches(readme, "^```csharp", RegexOptions.Multiline).Count, blocks.Count);
        Assert.True(blocks.Count >= 3, $"README has {blocks.Count} csharp blocks; the In code, calibration and install programs are expected");
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void Readme_block_compiles_as_a_program_on_its_own(int index)
    {
        var block = CSharpBlocks(Readme())[index];
        var errors = ConsolePrograms.CompileErrors(block);
        Assert.True(errors.Count == 0, $"README csharp block {index} does not compile as a Program.cs:\n{string.Join("\n", errors)}\n---\n{block}");
    }

    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(Snippets))]
    public void Readme_block_runs_from_the_repository_root_and_prints_its_result(int index)
    {
        var block = CSharpBlocks(Readme())[index];
        var (output, stderr) = ConsolePrograms.Run(block, Repository.RepoRoot());
        AssertPrintedResult(output, stderr, $"README csharp block {index}");
        // README "What the demo shows": calibrated, the demo model comes within half a point of the ANN (TF.js) at 8 steps.
        foreach (Match spiking in Regex.Matches(output, @"spiking at 8 steps (\d\.\d{4})"))
            Assert.InRange(double.Parse(spiking.Groups[1].Value, CultureInfo.InvariantCulture), TfjsAccuracy() - 0.005, 1.0);
    }

    [Fact]
    public void The_check_catches_a_block_that_needs_something_it_does_not_say()
    {
        // The README's "In code" block before this test: no usings, and an Either passed where a KerasModel is expected.
        const string before = """
            var model = ModelFile.Import("model.keras");                       // Either<Error, KerasModel>
            var compiled = model.Bind(m => Build.Run(CompileOptions.Default with
                { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(1000f) } }, m));
            """;
        Assert.NotEmpty(ConsolePrograms.CompileErrors(before));
        const string eitherForModel = """
            using Snn; using Snn.Compiler; using Snn.Compiler.Keras;
            var compiled = Build.Run(CompileOptions.Default, ModelFile.Import("model.keras"));
            """;
        Assert.Contains(ConsolePrograms.CompileErrors(eitherForModel), e => e.Contains("CS1503"));
        Assert.Empty(ConsolePrograms.CompileErrors("using Snn; Console.WriteLine(Metrics.Accuracy(Tensor.Vector(0f, 1f).Reshape(1, 2), new[] { 1 }));"));
    }

    [Fact]
    public void A_program_that_prints_an_error_or_a_wrong_ann_accuracy_fails_the_check()
    {
        var (output, stderr) = ConsolePrograms.Run("using Snn; Console.WriteLine(Metrics.Accuracy(Tensor.Vector(0f, 1f).Reshape(1, 2), new[] { 1 }));", Path.GetTempPath());
        Assert.Equal("1", output.Trim());
        AssertPrintedResult(output, stderr, "a program");
        Assert.ThrowsAny<Exception>(() => AssertPrintedResult("error: Cannot read model 'x'", "", "a program"));
        Assert.ThrowsAny<Exception>(() => AssertPrintedResult("ANN 0.9000, spiking 0.9000", "", "a program"));
        Assert.ThrowsAny<Exception>(() => AssertPrintedResult("", "", "a program"));
    }
}
