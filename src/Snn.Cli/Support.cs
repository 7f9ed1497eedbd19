using System.Reflection;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Keras;

namespace Snn.Cli;

/// <summary>
/// Progress on stderr for long runs: --progress forces it on, --no-progress off; by default (<see cref="Forced"/> null)
/// it shows only when stderr is a terminal.
/// </summary>
public sealed record Progress(bool? Forced)
{
    /// <summary>The progress setting the command line asked for (both flags are accepted by every command).</summary>
    public static Progress Of(Args a) => new(a.Flag("--no-progress") ? false : a.Flag("--progress") ? true : null);

    /// <summary>A progress callback per run, named by what runs (as the Snn library's functions take it).</summary>
    public Func<string, Action<int, int>?> Callback(TextWriter stderr) => what => For(stderr, what);

    public Action<int, int>? For(TextWriter stderr, string what)
    {
        if (Forced == false || (Forced is null && (stderr != Console.Error || Console.IsErrorRedirected))) return null;
        var last = DateTime.MinValue;
        var gate = new object();
        return (done, total) =>
        {
            lock (gate)
            {
                if (done < total && (DateTime.UtcNow - last).TotalMilliseconds < 200) return;
                last = DateTime.UtcNow;
                stderr.Write($"\r  {what}: {done}/{total} samples" + (done == total ? "\n" : ""));
            }
        };
    }
}

/// <summary>Plain-text tables for people.</summary>
public static class Table
{
    public static string Render(string[] header, IEnumerable<string[]> rows)
    {
        var all = new[] { header }.Concat(rows).ToList();
        var widths = header.Select((_, c) => all.Max(r => r[c].Length)).ToArray();
        var sb = new System.Text.StringBuilder();
        for (var r = 0; r < all.Count; r++)
        {
            sb.AppendLine(string.Join("  ", all[r].Select((v, c) => v.PadRight(widths[c]))).TrimEnd());
            if (r == 0) sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        }
        return sb.ToString().TrimEnd();
    }
}
