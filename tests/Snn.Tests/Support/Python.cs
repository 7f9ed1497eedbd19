using System.Diagnostics;
using Xunit;

namespace Snn.Tests.Support;

/// <summary>
/// Runs /usr/bin/python3 with h5py as an independent oracle for files this project writes. Tests marked
/// <see cref="H5pyFactAttribute"/> are reported as skipped (with the reason) when python3 or h5py is missing;
/// .ci/run installs python3-h5py so CI runs them.
/// </summary>
public static class Python
{
    public const string Interpreter = "/usr/bin/python3";

    static readonly Lazy<string?> Missing = new(() =>
    {
        if (!File.Exists(Interpreter)) return $"{Interpreter} is not installed";
        var (code, _, err) = Run("import h5py, numpy");
        return code == 0 ? null : $"h5py is not importable by {Interpreter} (install python3-h5py): {err.Trim()}";
    });

    /// <summary>Why h5py tests cannot run here, or null when they can.</summary>
    public static string? H5pyMissing => Missing.Value;

    /// <summary>Runs <c>python3 -c script args...</c> and returns the exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) Run(string script, params string[] args)
    {
        var psi = new ProcessStartInfo(Interpreter)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start " + Interpreter);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}

/// <summary>A test that needs /usr/bin/python3 with h5py; skipped with the reason when either is missing.</summary>
public sealed class H5pyFactAttribute : FactAttribute
{
    public H5pyFactAttribute()
    {
        if (Python.H5pyMissing is { } why) Skip = why;
    }
}
