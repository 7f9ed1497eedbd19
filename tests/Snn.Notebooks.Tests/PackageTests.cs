using System.IO.Compression;
using System.Text.RegularExpressions;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Notebooks.Tests;

/// <summary>
/// The library package on a clean machine, as README "Install as a .NET tool or a library" says: pack, a fresh console
/// project with the README's <c>nuget.config</c> (the packed folder next to the configured feed) and an empty package
/// cache, the README's <c>dotnet add package</c> line, and the README's install program, run outside the repository.
/// </summary>
[Trait("Category", "Slow")]
public sealed class PackageTests(ITestOutputHelper output) : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-package-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The README's "Install" section (up to the next section).</summary>
    static string InstallSection()
    {
        var readme = File.ReadAllText(Path.Combine(Repository.RepoRoot(), "README.md")).Replace("\r\n", "\n");
        var start = readme.IndexOf("\n## Install", StringComparison.Ordinal);
        Assert.True(start >= 0, "README has no '## Install' section");
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        return end < 0 ? readme[start..] : readme[start..end];
    }

    (int Code, string Output) Dotnet(string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        DotnetCli.Run(output, workingDirectory, environment, args);

    [Fact]
    public void The_readme_install_steps_restore_Snn_from_the_packed_folder_in_a_fresh_project_and_its_program_runs()
    {
        var section = InstallSection();
        var artifacts = Path.Combine(dir, "artifacts");
        var none = new Dictionary<string, string>();

        // Pack what this test run built (README: dotnet pack Pipeline.sln -c Release -o artifacts).
        var pack = Dotnet(Repository.RepoRoot(), none, "pack", "Pipeline.sln", "-c", Repository.Configuration(), "--no-build", "-nologo", "-o", artifacts);
        Assert.True(pack.Code == 0, "dotnet pack failed:\n" + pack.Output);
        var version = Repository.PackageVersion("Snn");
        var nupkg = Path.Combine(artifacts, $"Snn.{version}.nupkg");
        Assert.True(File.Exists(nupkg), $"no {nupkg}; packed: {string.Join(", ", Directory.GetFiles(artifacts).Select(Path.GetFileName))}");
        using (var zip = ZipFile.OpenRead(nupkg))
            Assert.Contains(zip.Entries, e => e.FullName == "lib/net10.0/Snn.dll");

        // A fresh console project with the README's nuget.config, pointing at the packed folder.
        var app = Path.Combine(dir, "MyApp");
        var cache = Path.Combine(dir, "packages");   // an empty package cache: nothing restores from what this machine has cached
        var clean = new Dictionary<string, string> { ["NUGET_PACKAGES"] = cache };
        var created = Dotnet(dir, clean, "new", "console", "-o", app);
        Assert.True(created.Code == 0, "dotnet new console failed:\n" + created.Output);
        var config = Regex.Match(section, "```xml\\n(.*?)```", RegexOptions.Singleline);
        Assert.True(config.Success, "the README install section shows no nuget.config (```xml block)");
        Assert.Contains("/path/to/snn/artifacts", config.Groups[1].Value);
        Assert.DoesNotContain("<clear", config.Groups[1].Value);   // next to the configured feed, not instead of it
        File.WriteAllText(Path.Combine(app, "nuget.config"), config.Groups[1].Value.Replace("/path/to/snn/artifacts", artifacts));

        // The README's add-package line, as written.
        var add = Regex.Match(section, @"^dotnet add package Snn[^\n#]*", RegexOptions.Multiline);
        Assert.True(add.Success, "the README install section has no 'dotnet add package Snn' line");
        Assert.DoesNotContain("--source", add.Value);
        Assert.Contains($"--version {version}", add.Value);
        var added = Dotnet(app, clean, add.Value.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..]);
        Assert.True(added.Code == 0, "dotnet add package failed:\n" + added.Output);
        Assert.True(File.Exists(Path.Combine(cache, "snn", version, $"snn.{version}.nupkg")), "Snn was not restored into the empty cache");
        Assert.True(Directory.Exists(Path.Combine(cache, "system.numerics.tensors")), "System.Numerics.Tensors was not restored from the configured feed");

        // The README's install program, run in the project's folder (no repository files there).
        var programs = ReadmeSnippetTests.CSharpBlocks(section);
        Assert.True(programs.Count == 1, $"the README install section should show one Program.cs, it shows {programs.Count}");
        File.WriteAllText(Path.Combine(app, "Program.cs"), programs[0]);
        var run = Dotnet(app, clean, "run", "-c", "Release");
        Assert.True(run.Code == 0, "dotnet run failed:\n" + run.Output);
        var printed = run.Output.Split('\n').Last(l => l.Contains("ANN ", StringComparison.Ordinal));
        ReadmeSnippetTests.AssertPrintedResult(printed, "", "the README install program");
        // Calibrated spiking at 4 steps is close to the ANN (10 classes: chance is 0.1).
        var spiking = Regex.Match(printed, @"spiking at \d+ steps (\d\.\d{4})");
        Assert.True(spiking.Success, $"no spiking accuracy in '{printed}'");
        Assert.InRange(double.Parse(spiking.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), ReadmeSnippetTests.TfjsAccuracy() - 0.05, 1.0);
    }
}
