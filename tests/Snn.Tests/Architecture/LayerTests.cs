using System.Reflection;
using Xunit;

namespace Snn.Tests.Architecture;

/// <summary>
/// The layers are enforced by the build: each Snn assembly may reference only the Snn assemblies below it. Read from the
/// built assemblies' metadata, so a reference that a project file adds and the code uses fails here.
/// </summary>
public class LayerTests
{
    /// <summary>Which Snn assemblies each one may reference: vocabulary, then compiler and runtime side by side, training on both, the facade, the CLI.</summary>
    public static readonly Dictionary<string, string[]> Allowed = new()
    {
        ["Snn.Core"] = [],
        ["Snn.Compiler"] = ["Snn.Core"],
        ["Snn.Runtime"] = ["Snn.Core"],
        ["Snn.Training"] = ["Snn.Core", "Snn.Compiler", "Snn.Runtime"],
        ["Snn"] = ["Snn.Core", "Snn.Compiler", "Snn.Runtime", "Snn.Training"],
        // The cluster (Orleans) stands on the facade beside the CLI; the CLI hosts it (snn worker, snn sweep --cluster).
        ["Snn.Cluster"] = ["Snn", "Snn.Core", "Snn.Compiler", "Snn.Runtime", "Snn.Training"],
        ["Snn.Cli"] = ["Snn", "Snn.Cluster", "Snn.Core", "Snn.Compiler", "Snn.Runtime", "Snn.Training"],
    };

    static readonly Dictionary<string, Assembly> Built = new()
    {
        ["Snn.Core"] = typeof(Snn.Tensor).Assembly,
        ["Snn.Compiler"] = typeof(Snn.Compiler.Compile).Assembly,
        ["Snn.Runtime"] = typeof(Snn.Runtime.Interpreter).Assembly,
        ["Snn.Training"] = typeof(Snn.Training.NetworkGradient).Assembly,
        ["Snn"] = typeof(Snn.Build).Assembly,
        ["Snn.Cluster"] = typeof(Snn.Cluster.ClusterSweep).Assembly,
        ["Snn.Cli"] = typeof(Snn.Cli.Program).Assembly,
    };

    /// <summary>The Snn assemblies an assembly references, by name.</summary>
    public static IEnumerable<string> SnnReferences(Assembly a) =>
        a.GetReferencedAssemblies().Select(r => r.Name!).Where(n => n == "Snn" || n.StartsWith("Snn.", StringComparison.Ordinal));

    /// <summary>The references that break the layering, as "from -> to".</summary>
    public static IEnumerable<string> WrongArrows(IReadOnlyDictionary<string, IEnumerable<string>> references) =>
        references.SelectMany(r => r.Value.Where(to => !Allowed.TryGetValue(r.Key, out var ok) || !ok.Contains(to)).Select(to => $"{r.Key} -> {to}"));

    [Fact]
    public void EveryAssemblyReferencesOnlyTheLayersBelowIt()
    {
        foreach (var (name, a) in Built) Assert.Equal(name, a.GetName().Name);
        var references = Built.ToDictionary(b => b.Key, b => SnnReferences(b.Value));
        Assert.Empty(WrongArrows(references));
        // The arrows that must exist do: the facade stands on both halves, the CLI on the facade.
        Assert.Contains("Snn.Compiler", references["Snn"]);
        Assert.Contains("Snn.Runtime", references["Snn"]);
        Assert.Contains("Snn.Training", references["Snn"]);   // the facade's Trainer
        Assert.Contains("Snn", references["Snn.Cli"]);
        Assert.Contains("Snn", references["Snn.Cluster"]);
        Assert.Contains("Snn.Cluster", references["Snn.Cli"]);
    }

    [Fact]
    public void TheRuntimeNeverReferencesTheCompiler()
    {
        Assert.DoesNotContain("Snn.Compiler", SnnReferences(Built["Snn.Runtime"]));
        // The check itself catches such an arrow.
        Assert.Equal(["Snn.Runtime -> Snn.Compiler"], WrongArrows(new Dictionary<string, IEnumerable<string>> { ["Snn.Runtime"] = ["Snn.Core", "Snn.Compiler"] }));
    }

    /// <summary>The project files say the same: no ProjectReference goes up or sideways.</summary>
    [Fact]
    public void ProjectFilesReferenceOnlyTheLayersBelow()
    {
        var root = RepoRoot();
        foreach (var (name, allowed) in Allowed)
        {
            var project = Path.Combine(root, "src", name, name + ".csproj");
            Assert.True(File.Exists(project), project);
            var referenced = System.Xml.Linq.XDocument.Load(project).Descendants("ProjectReference")
                .Select(e => Path.GetFileNameWithoutExtension(e.Attribute("Include")!.Value)).ToList();
            Assert.All(referenced, r => Assert.Contains(r, allowed));
        }
    }

    static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        throw new InvalidOperationException("Pipeline.sln not found");
    }
}
