using System.Text.Json;
using Xunit;

namespace Snn.Notebooks.Tests;

/// <summary>The harness itself: directives, state across cells, display, and errors that name the cell.</summary>
public sealed class NotebookRunnerTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-notebook-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Write(params (string Kind, string Source)[] cells)
    {
        var path = Path.Combine(dir, $"nb{Guid.NewGuid():N}.ipynb");
        var json = new
        {
            cells = cells.Select(c => c.Kind == "code"
                ? (object)new { cell_type = "code", execution_count = (int?)null, metadata = new { polyglot_notebook = new { kernelName = "csharp" } },
                    outputs = Array.Empty<object>(), source = Lines(c.Source) }
                : new { cell_type = "markdown", metadata = new { }, source = new[] { c.Source } }),
            metadata = new { kernelspec = new { name = ".net-csharp", language = "C#", display_name = ".NET (C#)" } },
            nbformat = 4,
            nbformat_minor = 2,
        };
        File.WriteAllText(path, JsonSerializer.Serialize(json));
        return path;
    }

    static string[] Lines(string source)
    {
        var parts = source.Split('\n');
        return parts.Select((line, i) => i < parts.Length - 1 ? line + "\n" : line).ToArray();
    }

    [Fact]
    public void Snn_package_references_become_the_built_assemblies_and_other_directives_are_skipped()
    {
        var (code, packages) = NotebookRunner.Preprocess("#r \"nuget: Snn.Compiler, 0.1.0\"\n#r \"nuget:Snn.Runtime\"\n#r \"nuget: Plotly.NET, 4.0\"\n#!time\nvar a = 1;");
        Assert.Equal(new[] { "Snn.Compiler", "Snn.Runtime" }, packages);
        Assert.Equal(5, code.Split('\n').Length);
        Assert.All(code.Split('\n').Take(4), l => Assert.StartsWith("//", l));
        Assert.EndsWith("var a = 1;", code);
        Assert.Throws<InvalidOperationException>(() => NotebookRunner.Preprocess("#r \"nuget: Snn.Nope, 1.0\""));
    }

    /// <summary>
    /// The packages a notebook may reference are the library packages <c>dotnet pack</c> makes: every project under src/
    /// that packs (not IsPackable false) and is not a tool (PackAsTool), by its PackageId, at the version
    /// Directory.Build.props gives (read from the project files, not from the built assemblies).
    /// </summary>
    [Fact]
    public void The_referencable_packages_are_the_packed_libraries_at_the_packed_version()
    {
        var root = NotebookRunner.RepoRoot();
        var props = File.ReadAllText(Path.Combine(root, "Directory.Build.props"));
        var version = System.Text.RegularExpressions.Regex.Match(props, "<Version>([^<]+)</Version>").Groups[1].Value;
        var libraries = new List<string>();
        var tools = new List<string>();
        foreach (var project in Directory.GetFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories))
        {
            var text = File.ReadAllText(project);
            if (text.Contains("<IsPackable>false</IsPackable>")) continue;
            var id = System.Text.RegularExpressions.Regex.Match(text, "<PackageId>([^<]+)</PackageId>") is { Success: true } m
                ? m.Groups[1].Value : Path.GetFileNameWithoutExtension(project);
            (text.Contains("<PackAsTool>true</PackAsTool>") ? tools : libraries).Add(id);
        }
        Assert.Equal(libraries.Order(StringComparer.OrdinalIgnoreCase), NotebookRunner.Packages.Keys.Order(StringComparer.OrdinalIgnoreCase));
        Assert.Contains("Snn.Cli", tools);
        Assert.All(libraries, p => Assert.Equal(version, NotebookRunner.PackageVersion(p)));
    }

    [Fact]
    public void The_tool_package_and_a_version_that_is_not_packed_are_refused()
    {
        var tool = Assert.Throws<InvalidOperationException>(() => NotebookRunner.Preprocess("#r \"nuget: Snn.Cli, 0.1.0\""));
        Assert.Contains("not a library package", tool.Message);
        var version = Assert.Throws<InvalidOperationException>(() => NotebookRunner.Preprocess("#r \"nuget: Snn, 9.9.9\""));
        Assert.Contains("9.9.9", version.Message);
        var (code, packages) = NotebookRunner.Preprocess($"#i \"nuget: /somewhere/artifacts\"\n#r \"nuget: Snn, {NotebookRunner.PackageVersion("Snn")}\"");
        Assert.Equal(new[] { "Snn" }, packages);
        Assert.StartsWith("// [harness: skipped] #i", code);
    }

    [Fact]
    public async Task Cells_share_state_and_display_is_collected()
    {
        var path = Write(
            ("markdown", "# title"),
            ("code", "#r \"nuget: Snn.Compiler, 0.1.0\"\nusing Snn.Compiler;\nvar t = Tensor.Vector(1f, 2f);"),
            ("code", "int Twice(int v) => 2 * v;\ndisplay(HTML(\"<svg></svg>\"));"),
            ("code", "Twice((int)t[1])"));
        var globals = await NotebookRunner.Run(path);
        Assert.Equal(new object[] { "<svg></svg>", 4 }, globals.Displayed.Select(d => d.Value is HtmlContent h ? h.Html : d.Value).ToArray());
        Assert.Equal(new[] { 1, 2 }, globals.Displayed.Select(d => d.Cell).ToArray());
    }

    [Fact]
    public async Task A_compile_error_names_its_cell()
    {
        var path = Write(("code", "var a = 1;"), ("markdown", "text"), ("code", "var b = a + undefinedName;"));
        var e = await Assert.ThrowsAsync<NotebookCellException>(() => NotebookRunner.Run(path));
        Assert.Equal(1, e.Cell);
        Assert.Contains("compile error", e.Message);
        Assert.Contains("undefinedName", e.Message);
    }

    [Fact]
    public async Task A_runtime_error_names_its_cell()
    {
        var path = Write(("code", "var a = 1;"), ("code", "var b = 2;"), ("code", "throw new InvalidOperationException(\"boom\");"));
        var e = await Assert.ThrowsAsync<NotebookCellException>(() => NotebookRunner.Run(path));
        Assert.Equal(2, e.Cell);
        Assert.Contains("runtime error: InvalidOperationException: boom", e.Message);
    }
}
