using System.Diagnostics;

namespace Snn.Tests.Support;

/// <summary>
/// Runs the built <c>snn</c> in a child process with a wall-clock bound and a GC heap limit, and reports its exit code,
/// output, time and peak resident memory (the kernel's high-water mark, VmHWM, read while it runs). A case that
/// hangs or blows up is killed at the bound and reported as such, so a regression fails one test instead of the run.
/// </summary>
public static class BoundedRun
{
    public sealed record Result(int Code, string Out, string Err, TimeSpan Elapsed, long PeakBytes, bool TimedOut);

    public static Result Snn(TimeSpan limit, long heapLimitBytes, params string[] args)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "Snn.Cli.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(cli);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_GCHeapHardLimit"] = "0x" + heapLimitBytes.ToString("X");
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var clock = Stopwatch.StartNew();
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        long peak = 0;
        var timedOut = false;
        while (!p.WaitForExit(50))
        {
            peak = Math.Max(peak, HighWaterMark(p.Id));
            if (clock.Elapsed > limit)
            {
                timedOut = true;
                p.Kill(entireProcessTree: true);
                p.WaitForExit();
                break;
            }
        }
        clock.Stop();
        return new Result(timedOut ? -1 : p.ExitCode, stdout.Result, stderr.Result, clock.Elapsed, peak, timedOut);
    }

    /// <summary>VmHWM of a running process in bytes (0 once it has gone).</summary>
    static long HighWaterMark(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmHWM:"))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return 0;
    }
}
