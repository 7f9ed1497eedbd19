using System.Diagnostics;
using Xunit;

namespace Snn.Tests.Support;

/// <summary>/usr/bin/python3 with numpy, for tests that run exported Python scripts.</summary>
public static class Python
{
    public const string Exe = "/usr/bin/python3";

    static readonly Lazy<string?> Problem = new(() =>
    {
        if (!File.Exists(Exe)) return $"{Exe} is not installed";
        try
        {
            var (code, _, err) = Run(new[] { "-c", "import numpy" });
            return code == 0 ? null : $"{Exe} has no numpy ({err.Trim()})";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return $"{Exe} cannot be started ({e.Message})";
        }
    });

    /// <summary>Why Python tests are skipped, or null when python3 with numpy is there.</summary>
    public static string? Missing => Problem.Value;

    /// <summary>The conformance stub of the nengo package (tests/nengo_stub), never a real Nengo.</summary>
    public static string NengoStub => Path.Combine(TestModels.RepoRoot, "tests", "nengo_stub");

    /// <summary>Runs python3 with the arguments; <paramref name="pythonPath"/> goes first on the module path.</summary>
    public static (int Code, string Out, string Err) Run(IEnumerable<string> args, string? pythonPath = null)
    {
        var info = new ProcessStartInfo(Exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["PYTHONDONTWRITEBYTECODE"] = "1";
        info.Environment["PYTHONNOUSERSITE"] = "1";
        if (pythonPath is not null) info.Environment["PYTHONPATH"] = pythonPath;
        else info.Environment.Remove("PYTHONPATH");
        using var p = Process.Start(info) ?? throw new InvalidOperationException("python3 did not start");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr);
    }
}

/// <summary>A test that runs python3 (with numpy); skipped with a message when it is missing.</summary>
public sealed class PythonFactAttribute : FactAttribute
{
    public PythonFactAttribute()
    {
        if (Python.Missing is { } why) Skip = why;
    }
}

public sealed class PythonTheoryAttribute : TheoryAttribute
{
    public PythonTheoryAttribute()
    {
        if (Python.Missing is { } why) Skip = why;
    }
}

/// <summary>A test that needs python3 and ../shared (real models and data).</summary>
public sealed class PythonSharedFactAttribute : FactAttribute
{
    public PythonSharedFactAttribute()
    {
        if (Python.Missing is { } why) Skip = why;
        else if (TestModels.Shared is null) Skip = "../shared (real Keras models and data) is not present beside the repository";
    }
}
