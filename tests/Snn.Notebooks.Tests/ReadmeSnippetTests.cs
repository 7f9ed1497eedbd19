using System.Text.RegularExpressions;
using Xunit;

namespace Snn.Notebooks.Tests;

/// <summary>
/// The C# snippets in README.md compile against the library as built (the Snn package's namespaces imported, as a
/// notebook that references it has them), with the few names a snippet leaves to its reader declared first.
/// </summary>
public sealed class ReadmeSnippetTests
{
    /// <summary>
    /// What the snippets assume the reader has: the usings the first snippet shows, a model, calibration data and an
    /// input batch (each unless the snippet makes its own).
    /// </summary>
    static string Given(string snippet) =>
        "using static LanguageExt.Prelude;\n" +
        (snippet.Contains("var model ") ? "" : "Snn.Compiler.Keras.KerasModel model = null!;\n") +
        "Snn.Tensor calibrationData = null!; Snn.Tensor x = null!;\n";

    public static IEnumerable<object[]> Snippets()
    {
        var readme = File.ReadAllText(Path.Combine(NotebookRunner.RepoRoot(), "README.md"));
        return Regex.Matches(readme, "```csharp\\n(.*?)```", RegexOptions.Singleline)
            .Select((m, i) => new object[] { i, m.Groups[1].Value });
    }

    [Theory]
    [MemberData(nameof(Snippets))]
    public void ReadmeSnippetCompiles(int index, string snippet)
    {
        // A snippet's own using lines come first, then what it is given, then its code.
        var lines = snippet.Split('\n');
        var usings = string.Join("\n", lines.TakeWhile(l => l.StartsWith("using ", StringComparison.Ordinal)));
        var code = string.Join("\n", lines.SkipWhile(l => l.StartsWith("using ", StringComparison.Ordinal)));
        var errors = NotebookRunner.CompileErrors(usings + "\n" + Given(snippet) + code, "Snn");
        Assert.True(errors.Count == 0, $"README snippet {index} does not compile:\n{string.Join("\n", errors)}\n---\n{snippet}");
    }

    [Fact]
    public void TheCheckCatchesASnippetThatDoesNotCompile()
    {
        Assert.NotEmpty(Snippets());
        Assert.NotEmpty(NotebookRunner.CompileErrors(Given("") + "var compiled = Compile.Run(options, model);", "Snn"));
    }
}
