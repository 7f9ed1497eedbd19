using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Snn.Notebooks.Tests;

/// <summary>
/// A <c>Program.cs</c> as a user writes it in a console project that references the Snn package: top-level statements,
/// the usings of <c>dotnet new console</c> (the SDK's implicit usings) and nothing else, compiled against the package's
/// assemblies as this repository builds them (<see cref="Repository.Packages"/>), and run in this process.
/// </summary>
public static class ConsolePrograms
{
    /// <summary>The global usings a console project gets with <c>ImplicitUsings</c> enabled (Microsoft.NET.Sdk).</summary>
    static readonly string[] ImplicitUsings =
        { "System", "System.Collections.Generic", "System.IO", "System.Linq", "System.Net.Http", "System.Threading", "System.Threading.Tasks" };

    static CSharpCompilation Compilation(string program, string package)
    {
        var parse = new CSharpParseOptions(LanguageVersion.Latest);
        var globals = string.Join("\n", ImplicitUsings.Select(u => $"global using global::{u};"));
        var references = Repository.FrameworkReferences()
            .Concat(Repository.Dependencies(Repository.Packages[package]).Select(a => MetadataReference.CreateFromFile(a.Location)));
        return CSharpCompilation.Create($"ReadmeProgram{Guid.NewGuid():N}",
            new[] { CSharpSyntaxTree.ParseText(globals, parse, "GlobalUsings.g.cs"), CSharpSyntaxTree.ParseText(program, parse, "Program.cs") },
            references,
            new CSharpCompilationOptions(OutputKind.ConsoleApplication, optimizationLevel: OptimizationLevel.Release, nullableContextOptions: NullableContextOptions.Enable));
    }

    /// <summary>The compile errors of <paramref name="program"/> (empty when it compiles).</summary>
    public static IReadOnlyList<string> CompileErrors(string program, string package = "Snn") =>
        Compilation(program, package).GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).ToList();

    /// <summary>
    /// Compiles and runs <paramref name="program"/> with <paramref name="workingDirectory"/> as the current folder; returns
    /// what it wrote to standard output and standard error. A compile error or an exception the program throws fails.
    /// </summary>
    public static (string Out, string Error) Run(string program, string workingDirectory, string package = "Snn")
    {
        using var image = new MemoryStream();
        var emitted = Compilation(program, package).Emit(image);
        if (!emitted.Success)
            throw new InvalidOperationException("does not compile:\n" + string.Join("\n", emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error)));
        var entry = Assembly.Load(image.ToArray()).EntryPoint!;
        var (stdout, stderr) = (new StringWriter(), new StringWriter());
        var (previousOut, previousError, previousDirectory) = (Console.Out, Console.Error, Directory.GetCurrentDirectory());
        Console.SetOut(stdout);
        Console.SetError(stderr);
        Directory.SetCurrentDirectory(workingDirectory);
        try
        {
            var result = entry.Invoke(null, entry.GetParameters().Length == 0 ? null : new object[] { Array.Empty<string>() });
            if (result is Task task) task.GetAwaiter().GetResult();
        }
        catch (TargetInvocationException e) when (e.InnerException is { } inner)
        {
            throw new InvalidOperationException($"threw {inner.GetType().Name}: {inner.Message}\n--- output ---\n{stdout}", inner);
        }
        finally
        {
            Console.SetOut(previousOut);
            Console.SetError(previousError);
            Directory.SetCurrentDirectory(previousDirectory);
        }
        return (stdout.ToString(), stderr.ToString());
    }
}
