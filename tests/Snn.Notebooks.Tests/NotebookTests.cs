using System.Diagnostics;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

// Notebooks time themselves and redirect Console.Out: one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Snn.Notebooks.Tests;

/// <summary>
/// Every notebook under notebooks/ runs, cell by cell, against the assemblies this repository builds, so the
/// notebooks cannot rot: a renamed API or a changed result shape fails here with the cell that broke.
/// </summary>
[Trait("Category", "Slow")]
public sealed class NotebookTests(ITestOutputHelper output)
{
    public static readonly string[] Notebooks = { "01-quickstart.ipynb", "02-max-pooling.ipynb", "03-firing-rates.ipynb" };

    public static TheoryData<string> All() => new(Notebooks);

    static string PathOf(string notebook) => Path.Combine(NotebookRunner.RepoRoot(), "notebooks", notebook);

    [Fact]
    public void Every_notebook_in_the_folder_is_tested()
    {
        var found = Directory.GetFiles(Path.Combine(NotebookRunner.RepoRoot(), "notebooks"), "*.ipynb").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(Notebooks.Order().ToArray(), found);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void Notebook_is_a_clean_polyglot_csharp_notebook(string notebook)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(PathOf(notebook)));
        var root = doc.RootElement;
        Assert.Equal(4, root.GetProperty("nbformat").GetInt32());
        var kernelspec = root.GetProperty("metadata").GetProperty("kernelspec");
        Assert.Equal(".net-csharp", kernelspec.GetProperty("name").GetString());
        Assert.Equal("C#", kernelspec.GetProperty("language").GetString());
        var cells = root.GetProperty("cells").EnumerateArray().ToList();
        Assert.Contains(cells, c => c.GetProperty("cell_type").GetString() == "markdown");
        foreach (var cell in cells.Where(c => c.GetProperty("cell_type").GetString() == "code"))
        {
            Assert.Equal("csharp", cell.GetProperty("metadata").GetProperty("polyglot_notebook").GetProperty("kernelName").GetString());
            Assert.Empty(cell.GetProperty("outputs").EnumerateArray());
            Assert.Equal(JsonValueKind.Null, cell.GetProperty("execution_count").ValueKind);
        }
        // The first cell references the library package Snn at the version this repository packs (Preprocess refuses
        // a tool package such as Snn.Cli and any other version), and shows the #i line that adds the packed folder.
        var first = NotebookRunner.Cells(PathOf(notebook)).First(c => c.Kind == "code");
        Assert.Equal(new[] { "Snn" }, NotebookRunner.Preprocess(first.Source).Packages);
        Assert.Contains("#r \"nuget: Snn, " + NotebookRunner.PackageVersion("Snn") + "\"", first.Source);
        Assert.Contains("#i \"nuget: ", first.Source);
    }

    [Theory]
    [MemberData(nameof(All))]
    public async Task Notebook_runs_every_cell_and_draws_a_chart(string notebook)
    {
        var console = new StringWriter();
        var previous = Console.Out;
        Console.SetOut(console);
        var watch = Stopwatch.StartNew();
        NotebookGlobals globals;
        try
        {
            globals = await NotebookRunner.Run(PathOf(notebook), line => previous.WriteLine(line));
        }
        finally
        {
            Console.SetOut(previous);
            output.WriteLine(console.ToString());
        }
        output.WriteLine($"{notebook}: {watch.Elapsed.TotalSeconds:0.0} s, {globals.Displayed.Count} displayed values");
        foreach (var (cell, value) in globals.Displayed)
            output.WriteLine($"[cell {cell}] {Describe(value)}");
        // To look at the charts: SNN_NOTEBOOK_OUTPUT=DIR writes every displayed value there (.svg or .html).
        if (Environment.GetEnvironmentVariable("SNN_NOTEBOOK_OUTPUT") is { Length: > 0 } dir)
        {
            Directory.CreateDirectory(dir);
            for (var k = 0; k < globals.Displayed.Count; k++)
            {
                var text = globals.Displayed[k].Value?.ToString() ?? "";
                var ext = text.StartsWith("<svg", StringComparison.Ordinal) ? "svg" : "html";
                File.WriteAllText(Path.Combine(dir, $"{Path.GetFileNameWithoutExtension(notebook)}-{k:00}-cell{globals.Displayed[k].Cell}.{ext}"), text);
            }
        }
        Assert.Contains(globals.Displayed, d => d.Value?.ToString()?.Contains("<svg", StringComparison.Ordinal) == true);
    }

    static string Describe(object? value)
    {
        var text = value?.ToString() ?? "null";
        return text.Contains("<svg", StringComparison.Ordinal) ? $"SVG chart, {text.Length} characters" : text;
    }
}
