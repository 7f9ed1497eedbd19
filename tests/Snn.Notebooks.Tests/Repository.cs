using System.Reflection;
using Microsoft.CodeAnalysis;

namespace Snn.Notebooks.Tests;

/// <summary>
/// The repository as the tests see it: its root, and the library packages <c>dotnet pack</c> makes (Snn.Cli is a tool
/// package), with the assemblies this build makes for them: what README programs compile against.
/// </summary>
public static class Repository
{
    /// <summary>The library package each built assembly is packed as (<c>dotnet pack</c>; the tool package Snn.Cli is no library).</summary>
    public static readonly IReadOnlyDictionary<string, Assembly> Packages = new Dictionary<string, Assembly>(StringComparer.OrdinalIgnoreCase)
    {
        ["Snn"] = typeof(Snn.Build).Assembly,
        ["Snn.Core"] = typeof(Snn.Tensor).Assembly,
        ["Snn.Compiler"] = typeof(Snn.Compiler.Compile).Assembly,
        ["Snn.Runtime"] = typeof(Snn.Runtime.Interpreter).Assembly,
    };

    /// <summary>The package version this build packs (the assemblies' informational version, without its source revision).</summary>
    public static string PackageVersion(string package) =>
        Packages[package].GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>The configuration this test assembly was built in (bin/CONFIG/net10.0), which `dotnet pack --no-build` packs.</summary>
    public static string Configuration() => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;

    /// <summary>The shared framework's assemblies (what the kernel's C# compilation sees), by path.</summary>
    internal static IEnumerable<MetadataReference> FrameworkReferences()
    {
        var dir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(f => Path.GetDirectoryName(f) == dir)
            .Where(f => Path.GetFileName(f) is var n && (n.StartsWith("System.") || n is "netstandard.dll" or "mscorlib.dll" or "Microsoft.CSharp.dll"))
            .Where(f => !f.Contains(".Native.", StringComparison.Ordinal))
            .Select(f => (MetadataReference)MetadataReference.CreateFromFile(f));
    }

    /// <summary>A package's assembly and what its package would bring along (LanguageExt, System.Numerics.Tensors, the other Snn packages).</summary>
    internal static IEnumerable<Assembly> Dependencies(Assembly root)
    {
        var seen = new Dictionary<string, Assembly>();
        var queue = new Queue<Assembly>(new[] { root });
        while (queue.Count > 0)
        {
            var a = queue.Dequeue();
            if (!seen.TryAdd(a.GetName().Name!, a)) continue;
            foreach (var r in a.GetReferencedAssemblies())
                if (r.Name is { } n && (n.StartsWith("Snn", StringComparison.OrdinalIgnoreCase) || n.StartsWith("LanguageExt") || n == "System.Numerics.Tensors"))
                    queue.Enqueue(Assembly.Load(r));
        }
        return seen.Values;
    }
}
