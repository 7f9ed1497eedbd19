using System.Diagnostics;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Notebooks.Tests;

/// <summary>Runs a <c>dotnet</c> command for a test: its output goes to the test's log; over 8 minutes fails the test.</summary>
public static class DotnetCli
{
    public static (int Code, string Output) Run(ITestOutputHelper? output, string workingDirectory, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        start.Environment["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1";
        foreach (var (k, v) in environment) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(" ", args)} did not finish in 8 minutes");
        }
        var text = stdout.Result + stderr.Result;
        output?.WriteLine($"$ dotnet {string.Join(" ", args)}  (exit {process.ExitCode})\n{text}");
        return (process.ExitCode, text);
    }
}
