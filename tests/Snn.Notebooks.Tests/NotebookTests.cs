using System.Text.Json;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

// Notebooks run one at a time (they share the kernel's package folder, and the kernel tests set the current folder).
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Snn.Notebooks.Tests;

/// <summary>
/// The library packed once for the notebook runs (dotnet pack of what this test run built) into a folder of its own, on
/// first use (the tests that only read the notebooks do not pack).
/// </summary>
public sealed class PackedLibrary : IDisposable
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("snn-notebook-pack-").FullName;
    readonly Lazy<(int Code, string Output)> pack;

    public PackedLibrary() =>
        pack = new(() => DotnetCli.Run(null, Repository.RepoRoot(), new Dictionary<string, string>(), "pack", "Pipeline.sln", "-c", Repository.Configuration(), "--no-build", "-nologo", "-o", Folder));

    public (int Code, string Output) Pack => pack.Value;

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// The notebooks under notebooks/: Polyglot C# notebooks committed with their outputs (notebooks/run.sh), and each runs on
/// .NET Interactive's kernel (tests/Snn.Notebooks.Runner) against the packages this build packs, every cell succeeding
/// and producing the outputs committed with it, so that neither the notebooks nor what a reader sees of them can rot.
/// </summary>
public sealed class NotebookTests(ITestOutputHelper output, PackedLibrary packed) : IClassFixture<PackedLibrary>
{
    public static readonly string[] Notebooks = { "01-quickstart.ipynb", "02-max-pooling.ipynb", "03-firing-rates.ipynb", "04-training.ipynb" };

    public static TheoryData<string> All() => new(Notebooks);

    static string PathOf(string notebook) => Path.Combine(Repository.RepoRoot(), "notebooks", notebook);

    /// <summary>A notebook's code cells: source, execution count and outputs (output type, then each mime type or stream name with its text).</summary>
    sealed record Cell(string Source, int? Count, IReadOnlyList<Output> Outputs);

    sealed record Output(string Type, IReadOnlyDictionary<string, string> Data)
    {
        public bool IsPng => Data.ContainsKey("image/png");
        public bool IsChart => Data.TryGetValue("text/html", out var html) && html.Contains("Plotly.newPlot", StringComparison.Ordinal);
        public override string ToString() => $"{Type} [{string.Join(", ", Data.Keys)}]";
    }

    static string Text(JsonElement e) => e.ValueKind == JsonValueKind.Array ? string.Concat(e.EnumerateArray().Select(l => l.GetString())) : e.GetString() ?? "";

    static IReadOnlyList<Cell> CodeCells(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        return doc.RootElement.GetProperty("cells").EnumerateArray().Where(c => c.GetProperty("cell_type").GetString() == "code").Select(c => new Cell(
            Text(c.GetProperty("source")),
            c.GetProperty("execution_count").ValueKind == JsonValueKind.Number ? c.GetProperty("execution_count").GetInt32() : null,
            c.GetProperty("outputs").EnumerateArray().Select(o =>
            {
                var type = o.GetProperty("output_type").GetString()!;
                var data = type == "stream"
                    ? new Dictionary<string, string> { [o.GetProperty("name").GetString()!] = Text(o.GetProperty("text")) }
                    : o.TryGetProperty("data", out var d) ? d.EnumerateObject().ToDictionary(p => p.Name, p => Text(p.Value)) : new Dictionary<string, string>();
                return new Output(type, data);
            }).ToList())).ToList();
    }

    [Fact]
    public void Every_notebook_in_the_folder_is_tested()
    {
        var found = Directory.GetFiles(Path.Combine(Repository.RepoRoot(), "notebooks"), "*.ipynb").Select(Path.GetFileName).Order().ToArray();
        Assert.Equal(Notebooks.Order().ToArray(), found);
    }

    /// <summary>
    /// What a reader on GitHub sees: a C# Polyglot notebook whose code cells all ran in order and kept their outputs, with
    /// tables and, for each chart, a PNG of it next to the chart (GitHub runs no scripts); no path of the machine that ran
    /// it. The first cell adds the packed folder (a placeholder the reader fills in) and references the library package
    /// Snn at the version this repository packs, and Plotly.NET.Interactive.
    /// </summary>
    [Theory]
    [MemberData(nameof(All))]
    public void Notebook_is_a_polyglot_csharp_notebook_committed_with_its_outputs(string notebook)
    {
        var text = File.ReadAllText(PathOf(notebook));
        using (var doc = JsonDocument.Parse(text))
        {
            var root = doc.RootElement;
            Assert.Equal(4, root.GetProperty("nbformat").GetInt32());
            var kernelspec = root.GetProperty("metadata").GetProperty("kernelspec");
            Assert.Equal(".net-csharp", kernelspec.GetProperty("name").GetString());
            Assert.Equal("C#", kernelspec.GetProperty("language").GetString());
            var cells = root.GetProperty("cells").EnumerateArray().ToList();
            Assert.Contains(cells, c => c.GetProperty("cell_type").GetString() == "markdown");
            foreach (var cell in cells.Where(c => c.GetProperty("cell_type").GetString() == "code"))
                Assert.Equal("csharp", cell.GetProperty("metadata").GetProperty("polyglot_notebook").GetProperty("kernelName").GetString());
        }
        var code = CodeCells(PathOf(notebook));
        Assert.Equal(Enumerable.Range(1, code.Count).Select(i => (int?)i), code.Select(c => c.Count));
        Assert.All(code, c => Assert.DoesNotContain(c.Outputs, o => o.Type == "error"));
        var first = code[0].Source;
        Assert.Contains("#i \"nuget: /path/to/snn/artifacts\"", first);
        Assert.Contains($"#r \"nuget: Snn, {Repository.PackageVersion("Snn")}\"", first);
        Assert.Contains("#r \"nuget: Plotly.NET.Interactive, 6.0.0\"", first);
        Assert.DoesNotContain("<svg", text, StringComparison.Ordinal);
        // Tables, and every chart followed by its picture.
        var outputs = code.SelectMany(c => c.Outputs).ToList();
        Assert.Contains(outputs, o => o.Data.TryGetValue("text/html", out var html) && html.Contains("<table>", StringComparison.Ordinal));
        Assert.Contains(outputs, o => o.IsChart);
        foreach (var cell in code)
            for (var i = 0; i < cell.Outputs.Count; i++)
                if (cell.Outputs[i].IsChart)
                    Assert.True(i + 1 < cell.Outputs.Count && cell.Outputs[i + 1].IsPng, $"a chart in {notebook} has no PNG after it");
        Assert.All(outputs.Where(o => o.IsPng), o => Assert.StartsWith("iVBORw0KGgo", o.Data["image/png"]));   // base64 of the PNG signature
        // Nothing of the machine that ran it.
        Assert.DoesNotContain(Repository.RepoRoot(), text, StringComparison.Ordinal);
        Assert.DoesNotMatch(new Regex(@"/tmp/|/root/|\\Users\\|\d+(\.\d+)? s\b"), string.Concat(outputs.Where(o => !o.IsPng).SelectMany(o => o.Data.Values)));
    }

    /// <summary>
    /// The notebook on .NET Interactive's C# kernel, as Polyglot Notebooks runs it, from the packages this build packs
    /// (its #i line pointed at them): every cell succeeds (a failure names the cell and the kernel's message), each chart
    /// cell shows a Plotly chart, and the outputs are the ones committed with the notebook (notebooks/run.sh writes them;
    /// the committed PNGs aside, which the test run does not draw).
    /// </summary>
    [Theory]
    [Trait("Category", "Slow")]
    [MemberData(nameof(All))]
    public void Notebook_runs_on_the_kernel_from_the_packed_packages_with_the_committed_outputs(string notebook)
    {
        Assert.True(packed.Pack.Code == 0, "dotnet pack failed:\n" + packed.Pack.Output);
        var outDir = Directory.CreateTempSubdirectory("snn-notebook-run-").FullName;
        try
        {
            var root = Repository.RepoRoot();
            var runner = Path.Combine(root, "tests", "Snn.Notebooks.Runner", "bin", Repository.Configuration(), "net10.0", "Snn.Notebooks.Runner.dll");
            var (code, log) = DotnetCli.Run(output, root, new Dictionary<string, string>(), runner, "--source", packed.Folder, "--out", outDir, PathOf(notebook));
            Assert.True(code == 0, $"{notebook} failed on the kernel:\n{log}");

            var produced = CodeCells(Path.Combine(outDir, notebook));
            var committed = CodeCells(PathOf(notebook));
            Assert.Equal(committed.Select(c => c.Source), produced.Select(c => c.Source));
            // A cell that reads ../shared (02's LeNet-5 part) shows something else where the clone has no ../shared beside it.
            var shared = Directory.Exists(Path.Combine(root, "..", "shared", "models"));
            for (var i = 0; i < produced.Count; i++)
            {
                if (!shared && produced[i].Source.Contains("\"shared\"", StringComparison.Ordinal))
                {
                    output.WriteLine($"code cell {i} of {notebook} reads ../shared, which this clone lacks: its outputs are not compared");
                    continue;
                }
                if (Regex.IsMatch(produced[i].Source, @"display\((LineChart|Histogram)\("))
                    Assert.True(produced[i].Outputs.Any(o => o.IsChart), $"code cell {i} of {notebook} shows no Plotly chart");
                var kept = committed[i].Outputs.Where(o => !o.IsPng).ToList();
                Assert.True(kept.Select(o => o.ToString()).SequenceEqual(produced[i].Outputs.Select(o => o.ToString())),
                    $"code cell {i} of {notebook}: committed outputs [{string.Join("; ", kept)}], the run gives [{string.Join("; ", produced[i].Outputs)}] (notebooks/run.sh rewrites them)");
                for (var k = 0; k < kept.Count; k++)
                    foreach (var (mime, value) in produced[i].Outputs[k].Data)
                        Assert.True(kept[k].Data[mime] == value,
                            $"code cell {i} of {notebook}, output {k} ({mime}) is not what the committed notebook shows (notebooks/run.sh rewrites it):\nrun:       {value}\ncommitted: {kept[k].Data[mime]}");
            }
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }
}
