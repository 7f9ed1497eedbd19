using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Scripting;
using Microsoft.CodeAnalysis.Scripting;

namespace Snn.Notebooks.Tests;

/// <summary>One cell of a notebook: its kind ("code" or "markdown"), kernel name and source text.</summary>
public sealed record NotebookCell(int Index, string Kind, string? Kernel, string Source);

/// <summary>A notebook failed: which code cell, and the compile or runtime error.</summary>
public sealed class NotebookCellException(string notebook, int cell, string source, string message, Exception? inner = null)
    : Exception($"{notebook}: code cell {cell} failed: {message}\n--- cell {cell} ---\n{source}", inner)
{
    public int Cell { get; } = cell;
}

/// <summary>
/// Runs a Polyglot (.NET Interactive) C# notebook the way its kernel would, with Roslyn scripting: every code
/// cell in order as one script session (<c>CSharpScript.RunAsync</c>, then <c>ContinueWithAsync</c>).
/// <c>#r "nuget: Snn.X, version"</c> becomes a reference to the assembly the repository builds for the library package
/// Snn.X (and its dependencies), when the version is the one this build packs; any other <c>#r</c>, <c>#i</c> (a package
/// source) and <c>#!</c> magic line is skipped. <c>Snn.Cli</c> is a tool package, which a notebook cannot reference.
/// <c>display(...)</c> and <c>HTML(...)</c> come from <see cref="NotebookGlobals"/>; a cell's trailing
/// expression is displayed, as the kernel does.
/// </summary>
public static class NotebookRunner
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

    /// <summary>Namespaces imported once a package is referenced (the notebooks also say `using` themselves).</summary>
    static readonly Dictionary<string, string[]> PackageImports = new(StringComparer.OrdinalIgnoreCase)
    {
        ["Snn"] = new[]
        {
            "LanguageExt", "LanguageExt.Common", "Snn", "Snn.Ops", "Snn.Runtime", "Snn.Compiler", "Snn.Compiler.Keras", "Snn.Compiler.Legalize",
            "Snn.Compiler.Convert", "Snn.Compiler.Calibrate", "Snn.Compiler.Lower", "Snn.Compiler.Optimize",
        },
        ["Snn.Core"] = new[] { "LanguageExt", "LanguageExt.Common", "Snn", "Snn.Ops" },
        ["Snn.Compiler"] = new[]
        {
            "LanguageExt", "LanguageExt.Common", "Snn", "Snn.Ops", "Snn.Compiler", "Snn.Compiler.Keras", "Snn.Compiler.Legalize", "Snn.Compiler.Convert",
            "Snn.Compiler.Calibrate", "Snn.Compiler.Lower", "Snn.Compiler.Optimize",
        },
        ["Snn.Runtime"] = new[] { "Snn.Runtime" },
    };

    /// <summary>The C# kernel's default usings.</summary>
    static readonly string[] KernelImports = { "System", "System.Collections.Generic", "System.Linq", "System.Text", "System.Threading.Tasks" };

    static readonly Regex NugetReference = new(@"^\s*#r\s+""nuget:\s*(?<name>[^,""\s]+)\s*(,\s*(?<version>[^""]*))?""\s*$", RegexOptions.Compiled);
    static readonly Regex Directive = new(@"^\s*(#r\s|#i\s|#!)", RegexOptions.Compiled);

    public static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        throw new InvalidOperationException("Pipeline.sln not found above " + AppContext.BaseDirectory);
    }

    /// <summary>Reads the cells of an nbformat 4 notebook (source as a string or a list of lines).</summary>
    public static IReadOnlyList<NotebookCell> Cells(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var cells = new List<NotebookCell>();
        var index = 0;
        foreach (var cell in doc.RootElement.GetProperty("cells").EnumerateArray())
        {
            var kind = cell.GetProperty("cell_type").GetString()!;
            var source = cell.GetProperty("source") is { ValueKind: JsonValueKind.Array } lines
                ? string.Concat(lines.EnumerateArray().Select(l => l.GetString()))
                : cell.GetProperty("source").GetString() ?? "";
            string? kernel = null;
            if (cell.TryGetProperty("metadata", out var meta) && meta.TryGetProperty("polyglot_notebook", out var poly)
                && poly.TryGetProperty("kernelName", out var k))
                kernel = k.GetString();
            cells.Add(new NotebookCell(index++, kind, kernel, source));
        }
        return cells;
    }

    /// <summary>
    /// The cell's code with directive lines turned into comments (so line numbers stay), and the Snn packages it references.
    /// </summary>
    public static (string Code, List<string> Packages) Preprocess(string source)
    {
        var packages = new List<string>();
        var lines = source.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var m = NugetReference.Match(lines[i]);
            if (m.Success && m.Groups["name"].Value is var package && (package.Equals("Snn", StringComparison.OrdinalIgnoreCase) || package.StartsWith("Snn.", StringComparison.OrdinalIgnoreCase)))
            {
                var name = m.Groups["name"].Value;
                if (!Packages.ContainsKey(name))
                    throw new InvalidOperationException($"'{name}' is not a library package this repository packs (known: {string.Join(", ", Packages.Keys)})");
                var version = m.Groups["version"].Value.Trim();
                if (version.Length > 0 && version != PackageVersion(name))
                    throw new InvalidOperationException($"package '{name}' version {version} is not the one this repository packs ({PackageVersion(name)})");
                packages.Add(name);
                lines[i] = "// [harness: built assembly] " + lines[i].Trim();
            }
            else if (Directive.IsMatch(lines[i]))
                lines[i] = "// [harness: skipped] " + lines[i].Trim();
        }
        return (string.Join("\n", lines), packages);
    }

    /// <summary>
    /// Runs every code cell in order; throws <see cref="NotebookCellException"/> naming the cell on the first
    /// compile or runtime error. Returns the globals, holding everything displayed.
    /// </summary>
    public static async Task<NotebookGlobals> Run(string path, Action<string>? log = null)
    {
        var name = Path.GetFileName(path);
        var globals = new NotebookGlobals();
        var options = ScriptOptions.Default
            .WithLanguageVersion(LanguageVersion.Latest)
            .WithOptimizationLevel(OptimizationLevel.Release)
            .WithAllowUnsafe(true)
            .WithReferences(FrameworkReferences())
            .AddReferences(typeof(NotebookGlobals).Assembly)
            .WithImports(KernelImports);
        var referenced = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        ScriptState<object>? state = null;
        var codeIndex = 0;
        foreach (var cell in Cells(path))
        {
            if (cell.Kind != "code") continue;
            var index = codeIndex++;
            if (cell.Kernel is not null and not "csharp")
                throw new NotebookCellException(name, index, cell.Source, $"kernel '{cell.Kernel}' is not C#");
            var (code, packages) = Preprocess(cell.Source);
            foreach (var p in packages.Where(referenced.Add))
                options = options.AddReferences(Dependencies(Packages[p])).AddImports(PackageImports[p]);
            globals.CurrentCell = index;
            options = options.WithFilePath($"{name} code cell {index}");
            var watch = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                state = state is null
                    ? await CSharpScript.RunAsync(code, options, globals, typeof(NotebookGlobals))
                    : await state.ContinueWithAsync(code, options);
            }
            catch (CompilationErrorException e)
            {
                throw new NotebookCellException(name, index, cell.Source, "compile error:\n" + string.Join("\n", e.Diagnostics), e);
            }
            catch (Exception e)
            {
                throw new NotebookCellException(name, index, cell.Source, $"runtime error: {e.GetType().Name}: {e.Message}", e);
            }
            if (state.ReturnValue is not null) globals.display(state.ReturnValue);
            log?.Invoke($"{name} cell {index}: {watch.Elapsed.TotalSeconds:0.00} s");
        }
        return globals;
    }

    /// <summary>
    /// Compiles <paramref name="code"/> as a script against the assemblies of <paramref name="packages"/> with their
    /// namespaces imported, without running it; returns the errors (empty when it compiles).
    /// </summary>
    public static IReadOnlyList<string> CompileErrors(string code, params string[] packages)
    {
        var options = ScriptOptions.Default
            .WithLanguageVersion(LanguageVersion.Latest)
            .WithReferences(FrameworkReferences())
            .WithImports(KernelImports);
        foreach (var p in packages) options = options.AddReferences(Dependencies(Packages[p])).AddImports(PackageImports[p]);
        return CSharpScript.Create(code, options).Compile()
            .Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();
    }

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
