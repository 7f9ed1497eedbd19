using System.Reflection;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Keras;

namespace Snn.Cli;

/// <summary>
/// Progress of one command's long runs (simulations, calibration, bias correction, report curves) on its stderr:
/// <c>--progress</c> forces it on, <c>--no-progress</c> off (<see cref="Forced"/>). On a terminal each run gets a
/// Spectre.Console bar with elapsed and remaining time; when stderr is redirected (CI, pipes; Spectre draws nothing there)
/// a plain line every 10% or 10 s. By default (<see cref="Forced"/> null) a writer other than the console's stderr (a
/// program or test running the tool in-process) gets none. Stdout is never written to. Dispose closes the bars of runs
/// that stopped early.
/// </summary>
public sealed class Progress(bool? forced, TextWriter stderr) : IDisposable
{
    /// <summary>No progress (a parse without a command, tests).</summary>
    public static Progress None => new(false, TextWriter.Null);

    public bool? Forced => forced;

    readonly List<Bar> bars = new();

    /// <summary>How progress shows on this stderr: bars on a terminal, plain lines, or not at all.</summary>
    public enum Kind { Off, Bars, Lines }

    public Kind Shows
    {
        get
        {
            if (forced == false) return Kind.Off;
            var console = ReferenceEquals(TerminalWriter.Unwrap(stderr), Console.Error);
            if (console && !Console.IsErrorRedirected) return Kind.Bars;
            return console || forced == true ? Kind.Lines : Kind.Off;
        }
    }

    /// <summary>A progress callback per run, named by what runs (as the Snn library's functions take it).</summary>
    public Func<string, Action<int, int>?> Callback => For;

    /// <summary>The callback for one run (<c>done</c> of <c>total</c> samples, layers or trials), or none when progress is off.</summary>
    public Action<int, int>? For(string what) => For(what, null);

    /// <summary>
    /// <see cref="For(string)"/> with a <paramref name="detail"/> that changes as the run goes (a training loss): read at
    /// each report, after the counts on a plain line, after the name on a bar.
    /// </summary>
    public Action<int, int>? For(string what, Func<string>? detail) => Shows switch
    {
        Kind.Bars => Live(what, detail),
        Kind.Lines => Lines(what, detail),
        _ => null,
    };

    /// <summary>A plain line when the run passes another 10% or 10 s after the last line, and at the end.</summary>
    Action<int, int> Lines(string what, Func<string>? detail)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var lastTenth = -1;
        var lastAt = TimeSpan.Zero;
        var gate = new object();
        return (done, total) =>
        {
            lock (gate)
            {
                var tenth = total <= 0 ? 10 : (int)(10L * done / total);
                var now = started.Elapsed;
                if (tenth <= lastTenth && now - lastAt < TimeSpan.FromSeconds(10)) return;
                lastTenth = tenth;
                lastAt = now;
                stderr.WriteLine(Line(what, done, total, now) + (detail is null ? "" : ", " + detail()));
                stderr.Flush();
            }
        };
    }

    /// <summary>A plain progress line: what runs, how far it is, elapsed time and the estimate of what is left.</summary>
    public static string Line(string what, int done, int total, TimeSpan elapsed)
    {
        var share = total <= 0 ? 1 : Math.Clamp((double)done / total, 0, 1);
        var left = share > 0 && share < 1 ? $", about {Time(elapsed * ((1 - share) / share))} left" : "";
        return $"  {what}: {done}/{total} ({share * 100:0}%), {Time(elapsed)} elapsed{left}";
    }

    static string Time(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");

    /// <summary>A Spectre.Console bar for one run, drawn on stderr from its first report until it completes.</summary>
    Action<int, int> Live(string what, Func<string>? detail)
    {
        var bar = new Bar(TerminalWriter.Unwrap(stderr), Names.Printable(what));
        lock (bars) bars.Add(bar);
        if (detail is null) return bar.Report;
        return (done, total) =>
        {
            bar.Describe(Names.Printable(what + ", " + detail()));
            bar.Report(done, total);
        };
    }

    public void Dispose()
    {
        lock (bars)
        {
            foreach (var b in bars) b.Dispose();
            bars.Clear();
        }
    }

    /// <summary>One live bar: Spectre's progress display runs on its own thread while the run reports, and ends with the run.</summary>
    sealed class Bar(TextWriter stderr, string name) : IDisposable
    {
        string what = name;
        readonly object gate = new();
        readonly ManualResetEventSlim finished = new(false);
        Spectre.Console.ProgressTask? task;
        Thread? display;

        public void Report(int done, int total)
        {
            lock (gate)
            {
                if (finished.IsSet) return;
                if (task is null) Start(total);
                task!.MaxValue = Math.Max(1, total);
                task.Value = Math.Min(done, total);
                if (done >= total) Stop();
            }
        }

        /// <summary>Shows <paramref name="text"/> as the bar's name from now on.</summary>
        public void Describe(string text)
        {
            lock (gate)
            {
                what = text;
                if (task is not null && !finished.IsSet) task.Description = Spectre.Console.Markup.Escape(text);
            }
        }

        void Start(int total)
        {
            var ready = new ManualResetEventSlim(false);
            var console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings { Out = new Spectre.Console.AnsiConsoleOutput(stderr) });
            display = new Thread(() =>
            {
                try
                {
                    var live = Spectre.Console.AnsiConsoleExtensions.Progress(console);
                    live.AutoClear = false;
                    live.HideCompleted = false;
                    Spectre.Console.ProgressExtensions.Columns(live, new Spectre.Console.TaskDescriptionColumn(), new Spectre.Console.ProgressBarColumn(),
                        new Spectre.Console.PercentageColumn(), new Spectre.Console.ElapsedTimeColumn(), new Spectre.Console.RemainingTimeColumn(),
                        new Spectre.Console.SpinnerColumn());
                    live
                        .Start(ctx =>
                        {
                            task = ctx.AddTask(Spectre.Console.Markup.Escape(what), maxValue: Math.Max(1, total));
                            ready.Set();
                            finished.Wait();
                        });
                }
                finally { ready.Set(); }
            }) { IsBackground = true, Name = "snn progress" };
            display.Start();
            ready.Wait();
            task ??= new Spectre.Console.ProgressTask(0, what, Math.Max(1, total), autoStart: false);
        }

        void Stop()
        {
            finished.Set();
            if (display is not null && display != Thread.CurrentThread) display.Join(TimeSpan.FromSeconds(5));
        }

        public void Dispose()
        {
            lock (gate) Stop();
        }
    }
}

/// <summary>Plain-text tables for people; each cell is shown <see cref="Names.Printable"/> (a name cannot break its row).</summary>
public static class Table
{
    public static string Render(string[] header, IEnumerable<string[]> rows)
    {
        var all = new[] { header }.Concat(rows).Select(r => r.Select(Names.Printable).ToArray()).ToList();
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

/// <summary>
/// The snn command's stdout or stderr: everything written passes through <see cref="Names.Terminal"/>, so no control
/// character from a model, a data file or the command line reaches the terminal raw (an escape sequence, a carriage
/// return, a bell, a bidi override), whichever message carries it. Line breaks and backslashes pass as they are (JSON
/// stays JSON); names in tables are made <see cref="Names.Printable"/> where they are put in (<see cref="Table"/>).
/// </summary>
public sealed class TerminalWriter(TextWriter inner) : TextWriter
{
    /// <summary>The writer underneath (the console's, for progress bars that draw with escape sequences).</summary>
    public TextWriter Inner => inner;

    /// <summary><paramref name="writer"/> guarded, once.</summary>
    public static TextWriter Of(TextWriter writer) => writer is TerminalWriter ? writer : new TerminalWriter(writer);

    /// <summary>The writer underneath a guarded one, or <paramref name="writer"/> itself.</summary>
    public static TextWriter Unwrap(TextWriter writer) => writer is TerminalWriter t ? t.Inner : writer;

    public override System.Text.Encoding Encoding => inner.Encoding;
    public override IFormatProvider FormatProvider => inner.FormatProvider;
    [System.Diagnostics.CodeAnalysis.AllowNull]
    public override string NewLine { get => inner.NewLine; set => inner.NewLine = value; }

    public override void Write(char value)
    {
        if (Names.Escaped(value)) inner.Write(Names.Terminal(value.ToString()));
        else inner.Write(value);
    }

    public override void Write(char[] buffer, int index, int count) => inner.Write(Names.Terminal(new string(buffer, index, count)));
    public override void Write(string? value) => inner.Write(Names.Terminal(value ?? ""));
    public override void WriteLine() => inner.WriteLine();
    public override void WriteLine(string? value) => inner.WriteLine(Names.Terminal(value ?? ""));
    public override void Flush() => inner.Flush();
}
