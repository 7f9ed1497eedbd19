using System.Globalization;
using System.Text;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Saved;
using Snn.Cluster;
using Microsoft.Extensions.DependencyInjection;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn sweep MODEL --data X --labels Y --grid "steps=2,4,8; percentile=99,99.9; neuron=signed,if" --out DIR</c>: every
/// grid point converted (and calibrated with --calibrate), simulated once to the largest step count and read out at
/// each, split into units (point × shard of images) that run on every core and are written atomically to DIR/units/;
/// a run with the same --out continues from the finished units. Writes DIR/sweep.json, sweep.csv and sweep.html
/// (<see cref="Snn.Sweep"/>, <see cref="ReportHtml.RenderSweep"/>).
/// </summary>
public static class SweepCommand
{
    /// <summary>Options of the sweep itself (not of a point's run).</summary>
    static readonly string[] Own = ["--grid", "--out", "--json", "--shard-size", "--threads", "--batch", "--max-memory", "--cluster"];

    /// <summary>The options a grid point's run is built from (besides the axes): data, labels, scale, simulation and every converter option.</summary>
    public static readonly string[] Options =
        new[] { "--data", "--labels", "--input-scale", "--readout" }.Concat(Own).Concat(CommandLine.ConverterOptions).Distinct().ToArray();

    /// <summary>Converter flags that say what the model is, not how it converts: no axes.</summary>
    static readonly string[] NotAxes = ["--calibrate", "--temporal-model", "--split-shared-weights", "--max-to-avg-pool"];

    /// <summary>The grid's axes: every converter and calibration option (flags take on/off), and the readout, by name without dashes.</summary>
    public static readonly string[] Axes =
        CommandLine.ConverterOptions.Where(o => !NotAxes.Contains(o)).Append("--readout").Select(o => o[2..]).ToArray();

    /// <summary>Axes that only mean something with calibration data.</summary>
    static readonly string[] Calibration = ["percentile", "calib-samples", "resolution", "target-agreement", "bias-shift", "per-channel", "per-layer", "bias-correction"];

    static bool IsFlag(string name) => Args.ConverterFlags.Contains(name);

    public static Either<Error, int> Run(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Commands.Model(a)
        from gridText in a.One("--grid").ToEither(Errors.Usage("sweep needs --grid, e.g. --grid \"steps=4,8,16; percentile=99,99.9\""))
        from dir in a.One("--out").ToEither(Errors.Usage("sweep needs --out DIR (the folder for sweep.json, sweep.csv, sweep.html and units/)"))
        from grid in SweepGrid.Parse(gridText, Axes)
        from shardSize in a.Int("--shard-size", min: 1)
        from threads in a.Int("--threads", min: 1)
        from s in Setup(a, modelPath, grid, stderr)
        let degree = threads.IfNone(Environment.ProcessorCount)
        let units = Snn.Sweep.Units(s.Requests.Count, s.Labels.Length, shardSize.IfNone(DefaultShard)).Count
        let simThreads = Math.Max(1, degree / Math.Max(1, Math.Min(degree, units)))
        let started = System.Diagnostics.Stopwatch.StartNew()
        from result in a.One("--cluster").Case is string cluster
            ? OnCluster(cluster, s, shardSize.IfNone(DefaultShard), dir, threads, Progress(a, stderr, started), stderr)
            : Snn.Sweep.RunLocal(s.Job, shardSize.IfNone(DefaultShard), dir, degree, s.Inputs, s.Labels,
                point => Prepare(s.Requests[point.Index], s.Model, grid.RunSteps, simThreads), Progress(a, stderr, started), stderr.WriteLine)
        let ann = Reports.Ann(s.Model, s.Inputs).Map(o => Metrics.Accuracy(o, s.Labels)).ToOption()
        let html = ReportHtml.RenderSweep(result, ann, "snn sweep " + string.Join(" ", a.Tokens.Select(Quote)))
        from _w in OutputFile.WriteAll(Seq(
            Part(Path.Combine(dir, "sweep.json"), "the sweep's results", Snn.Sweep.Json(result)),
            Part(Path.Combine(dir, "sweep.csv"), "the sweep's table", Snn.Sweep.Csv(result)),
            Part(Path.Combine(dir, "sweep.html"), "the sweep's page", html)))
        let _f = Failures(stderr, result)
        select Print(a.Flag("--json"), stdout, dir, result, started.Elapsed);

    /// <summary>Everything a sweep's units need: the job, the model, the inputs and labels, and every point's run.</summary>
    public sealed record SweepSetup(SweepJob Job, Loaded Model, Seq<Tensor> Inputs, int[] Labels, Seq<RunRequest> Requests);

    /// <summary>Checks the options and the grid's points, loads the model and data, and hashes what the sweep reads.</summary>
    static Either<Error, SweepSetup> Setup(Args a, string modelPath, SweepGrid grid, TextWriter stderr) =>
        from _d in a.All("--data").Count > 0 ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage("sweep needs --data X.npy"))
        from labelsPath in a.One("--labels").ToEither(Errors.Usage("sweep needs --labels Y.npy (it measures accuracy)"))
        from _v in Commands.ValidateSim(a, Mode.Spiking)
        from requests in Requests(a, grid, NetworkFile.IsSaved(modelPath))
        from model in Commands.Load(a, modelPath)
        from inputs in Commands.Inputs(a, model, "--data", stderr)
        from labelled in Commands.Labels(a, inputs)
        let labels = labelled.IfNone([])
        from _l in Metrics.LabelsFit(model, inputs, labels)
        let options = OptionsText(a)
        from hash in Snn.Sweep.Hash(
            Seq(Snn.Sweep.ResultFormat, grid.Show(), options),
            a.All("--data").ToSeq().Add(labelsPath).Add(modelPath).Concat(a.One("--calibrate").ToSeq()).Strict())
        select new SweepSetup(new SweepJob(modelPath, a.All("--data").ToSeq(), labelsPath, options, grid, labels.Length, hash)
            { Arguments = Shared(a).Prepend(modelPath).ToSeq().Strict() }, model, inputs, labels, requests);

    /// <summary>
    /// What a worker does with a unit of work: reads the job's arguments as the sweep did, loads the model and data from
    /// the paths they name, refuses files whose content hash differs from the job's (another model or data under the
    /// same path), and runs the unit (<see cref="Snn.Sweep.RunUnit"/>) on <paramref name="threads"/> threads.
    /// </summary>
    public static Either<Error, SweepUnitResult> Worker(SweepJob job, SweepUnit work, int threads, TextWriter stderr) =>
        from s in WorkerSetup(job, threads, stderr)
        from _u in work.Point >= 0 && work.Point < s.Setup.Requests.Count && work.Start >= 0 && work.Count > 0 && work.Start + work.Count <= s.Setup.Labels.Length
            ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage($"unit {work} is not one of this sweep's ({s.Setup.Requests.Count} points, {s.Setup.Labels.Length} samples)"))
        select Snn.Sweep.RunUnit(job.Grid, work, s.Setup.Inputs, s.Setup.Labels, () => s.Point(work.Point));

    /// <summary>A worker's loaded job: the setup, and each point's network compiled once and shared by its units.</summary>
    sealed class WorkerJob(SweepSetup setup, SweepGrid grid, int threads)
    {
        readonly System.Collections.Concurrent.ConcurrentDictionary<int, Lazy<Either<Error, (Prepared, string)>>> points = new();
        public SweepSetup Setup => setup;
        public Either<Error, (Prepared Run, string Settings)> Point(int k)
        {
            if (points.Count > 8) points.Clear();   // a bounded cache: a worker holds a few points' networks
            return points.GetOrAdd(k, _ => new(() => Prepare(setup.Requests[k], setup.Model, grid.RunSteps, threads))).Value;
        }
    }

    static readonly object LoadedGate = new();
    static (string Key, WorkerJob Job)? lastLoaded;

    /// <summary>
    /// The job loaded as the sweep loaded it, its files' content hash checked against the job's; kept for the next unit of
    /// the same job while its files keep their sizes and modification times (a changed file is hashed, and refused, again).
    /// </summary>
    static Either<Error, WorkerJob> WorkerSetup(SweepJob job, int threads, TextWriter stderr)
    {
        var key = job.Hash + "|" + threads + "|" + Stamp(job);
        lock (LoadedGate)
        {
            if (lastLoaded is { } l && l.Key == key) return l.Job;
            var loaded =
                from a in Args.Parse(job.Arguments, ValueOptions, FlagOptions)
                from modelPath in Commands.Model(a)
                from s in Setup(a, modelPath, job.Grid, stderr)
                from _h in s.Job.Hash == job.Hash ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage(
                    $"the files this worker reads (model '{modelPath}', data, labels, calibration data) are not the sweep's: content hash {s.Job.Hash[..12]}…, the sweep's {job.Hash[..12]}…"))
                select new WorkerJob(s, job.Grid, threads);
            if (loaded.Case is WorkerJob ok) lastLoaded = (key, ok);
            return loaded;
        }
    }

    /// <summary>The sizes and modification times of the files a job reads (folders and TF.js weights included, as the hash reads them).</summary>
    static string Stamp(SweepJob job)
    {
        var a = Args.Parse(job.Arguments, ValueOptions, FlagOptions);
        var files = job.Data.Add(job.Labels).Add(job.Model).Concat(a.Match(x => x.One("--calibrate").ToSeq(), _ => Seq<string>()));
        var parts = new StringBuilder();
        foreach (var f in files)
        {
            try
            {
                var members = Directory.Exists(f) ? Directory.GetFiles(f, "*", SearchOption.AllDirectories)
                    : f.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && Path.GetDirectoryName(Path.GetFullPath(f)) is { } dir
                        ? Directory.GetFiles(dir) : [f];
                foreach (var m in members.Order(StringComparer.Ordinal))
                {
                    var info = new FileInfo(m);
                    parts.Append(m).Append(':').Append(info.Exists ? info.Length : -1).Append(':').Append(info.Exists ? info.LastWriteTimeUtc.Ticks : 0).Append(';');
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                parts.Append(f).Append(":unreadable;");
            }
        }
        return parts.ToString();
    }

    /// <summary>
    /// The sweep's units on the cluster of <paramref name="configPath"/>: connects to its workers' gateways, sends every
    /// unfinished unit (<paramref name="inFlight"/> at a time; default: the workers' slots), retrying a failed call elsewhere,
    /// and merges as the local sweep does (<see cref="ClusterSweep"/>).
    /// </summary>
    static Either<Error, SweepResult> OnCluster(string configPath, SweepSetup s, int shardSize, string dir, Option<int> inFlight,
        Action<SweepProgress>? progress, TextWriter stderr) =>
        from config in ClusterConfig.Read(configPath)
        from run in Snn.Sweep.Open(s.Job, shardSize, dir)
        from result in Connected(config, async client =>
        {
            var slots = inFlight.IfNone(Math.Max(1, await ClusterSweep.Workers(client, config.Silos.Count)) * config.UnitsPerWorker);
            return await ClusterSweep.Run(client, run, slots, config.Attempts, config.UnitTimeout, progress, stderr.WriteLine);
        })
        select result;

    /// <summary>Runs <paramref name="body"/> with a client connected to the cluster; a cluster that cannot be reached is an error naming its gateways.</summary>
    static Either<Error, T> Connected<T>(ClusterConfig config, Func<IClusterClient, Task<Either<Error, T>>> body)
    {
        using var host = Hosts.Client(config);
        try
        {
            host.StartAsync().GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Errors.Usage($"--cluster: cannot reach the cluster '{config.ClusterId}' at gateway ports {string.Join(", ", config.Silos.Map(p => p.Gateway))} " +
                                $"of this machine ({e.Message}); start its workers first: snn worker --cluster CONFIG [--silo K]");
        }
        try
        {
            return body(host.Services.GetRequiredService<IClusterClient>()).GetAwaiter().GetResult();
        }
        finally
        {
            host.StopAsync().GetAwaiter().GetResult();
        }
    }

    /// <summary>
    /// <c>snn worker --cluster CONFIG [--silo K]</c>: starts worker K of the configuration (an Orleans silo on its ports),
    /// which runs the units clients send (<see cref="Worker"/>), until Ctrl+C or SIGTERM.
    /// </summary>
    public static Either<Error, int> Serve(Args a, TextWriter stderr) =>
        from path in a.One("--cluster").ToEither(Errors.Usage("worker needs --cluster CONFIG (the cluster's configuration file)"))
        from config in ClusterConfig.Read(path)
        from index in a.Int("--silo", min: 0)
        let k = index.IfNone(0)
        from _k in k < config.Silos.Count ? Right<Error, Unit>(unit)
            : Left<Error, Unit>(Errors.Usage($"--silo {k}: the configuration lists {config.Silos.Count} worker(s), 0..{config.Silos.Count - 1}"))
        from code in Serve(config, k, stderr)
        select code;

    static Either<Error, int> Serve(ClusterConfig config, int k, TextWriter stderr)
    {
        using var stop = new CancellationTokenSource();
        using var host = Hosts.Worker(config, k, (job, work, threads) => Worker(job, work, threads, stderr));
        ConsoleCancelEventHandler cancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.CancelKeyPress += cancel;
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
        try
        {
            var started = System.Diagnostics.Stopwatch.StartNew();
            try
            {
                host.StartAsync(stop.Token).GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                return Errors.Usage($"worker {k}: cannot start on silo port {config.Silos[k].Silo} and gateway port {config.Silos[k].Gateway} ({e.Message})");
            }
            var p = config.Silos[k];
            stderr.WriteLine($"worker {k} of cluster '{config.ClusterId}' ready in {started.Elapsed.TotalSeconds:0.0} s: silo port {p.Silo}, gateway port {p.Gateway}, " +
                             $"{config.UnitsPerWorker} unit(s) at a time on {config.Threads} thread(s) each; Ctrl+C stops it");
            stderr.Flush();
            try { Task.Delay(Timeout.Infinite, stop.Token).GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { }
            stderr.WriteLine($"worker {k}: stopping");
            host.StopAsync().GetAwaiter().GetResult();
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= cancel;
        }
    }

    /// <summary>Samples per unit unless --shard-size says otherwise.</summary>
    public const int DefaultShard = 1000;

    static OutputPart Part(string path, string what, string text) => new(path, what, s => s.Write(new UTF8Encoding(false).GetBytes(text)));

    /// <summary>
    /// The options every point shares, as text in a fixed order (the catalog's, each option's values in the order given),
    /// for the record and the content hash; the sweep's own options (threads, batch, folder) change no result and are left out.
    /// </summary>
    static string OptionsText(Args a)
    {
        var parts = new List<string>();
        foreach (var o in Options.Where(o => !Own.Contains(o) && o is not ("--data" or "--labels")))
            if (IsFlag(o)) { if (a.Flag(o)) parts.Add(o); }
            else foreach (var v in a.All(o)) parts.Add($"{o} {Quote(v)}");
        return string.Join(" ", parts);
    }

    /// <summary>
    /// The run of every grid point, in the grid's order: the command line's options with the point's settings added, read
    /// by the same code as every other command's (<see cref="Commands.Request"/>), so an axis takes exactly the values its
    /// option takes. Refused as usage errors: an axis also given as an option, a flag axis with values other than on/off,
    /// calibration axes without --calibrate, conversion axes on a saved network, and a point whose options are wrong.
    /// </summary>
    static Either<Error, Seq<RunRequest>> Requests(Args a, SweepGrid grid, bool saved)
    {
        foreach (var axis in grid.Conversion)
        {
            var name = "--" + axis.Name;
            if (a.All(name).Count > 0 || a.Flag(name))
                return Errors.Usage($"{name} is given as an option and as a grid axis; give it in one place");
            if (IsFlag(name) && axis.Values.Exists(v => v is not ("on" or "off")))
                return Errors.Usage($"--grid: {axis.Name} is a flag: its values are on and off, got '{axis.Values.Find(v => v is not ("on" or "off")).IfNone("")}'");
            if (Calibration.Contains(axis.Name) && a.One("--calibrate").IsNone)
                return Errors.Usage($"--grid: the {axis.Name} axis sets calibration, which needs calibration data: give --calibrate C.npy");
            if (saved && axis.Name != "readout")
                return Errors.Usage($"--grid: the {axis.Name} axis changes the conversion, which a saved network fixes; sweep the Keras model instead (a saved network takes steps and readout axes)");
        }
        var shared = Shared(a);
        var requests = new List<RunRequest>();
        foreach (var point in grid.Points())
        {
            var tokens = new List<string>(shared);
            foreach (var (axis, value) in point.Settings)
                if (IsFlag("--" + axis)) { if (value == "on") tokens.Add("--" + axis); }
                else { tokens.Add("--" + axis); tokens.Add(value); }
            var request = from args in Args.Parse(tokens, ValueOptions, FlagOptions)
                          from _ in Commands.ValidateSim(args, Mode.Spiking)
                          from r in Commands.Request(args)
                          select r;
            if (request.Case is Error e) return Errors.Usage($"--grid point {point.Index} ({point.Label}): {e.Message}");
            requests.Add((RunRequest)request.Case!);
        }
        return requests.ToSeq();
    }

    static readonly IReadOnlySet<string> FlagOptions = Args.ConverterFlags.Where(Options.Contains).Append("--json").ToHashSet();
    static readonly IReadOnlySet<string> ValueOptions = Options.Where(o => !FlagOptions.Contains(o)).ToHashSet();

    /// <summary>The command line's options every point shares, as arguments (the sweep's folder, grid, shards and output form left out).</summary>
    static List<string> Shared(Args a)
    {
        var shared = new List<string>();
        foreach (var o in Options.Where(o => o is not ("--grid" or "--out" or "--json" or "--shard-size")))
            if (FlagOptions.Contains(o)) { if (a.Flag(o)) shared.Add(o); }
            else foreach (var v in a.All(o)) { shared.Add(o); shared.Add(v); }
        return shared;
    }

    /// <summary>A point's network for <paramref name="steps"/> steps, simulated on <paramref name="threads"/> threads, and its conversion in words.</summary>
    static Either<Error, (Prepared Run, string Settings)> Prepare(RunRequest request, Loaded model, int steps, int threads)
    {
        var r = request with { Sim = request.Sim with { Threads = threads } };
        return Runs.Prepare(r, model, Mode.Spiking, steps).Map(p => (p, Reports.Settings(r, model, steps)));
    }

    /// <summary>Progress as plain lines (units done, running and failed) when progress shows, as other commands' lines do.</summary>
    static Action<SweepProgress>? Progress(Args a, TextWriter stderr, System.Diagnostics.Stopwatch started)
    {
        if (a.Progress.Shows == Cli.Progress.Kind.Off) return null;
        SweepProgress? last = null;
        return p =>
        {
            if (last is not null && last.Done == p.Done && last.Failed == p.Failed) return;   // a line per unit finished, not per unit started
            last = p;
            var reused = p.Reused > 0 ? $" ({p.Reused} from before)" : "";
            stderr.WriteLine($"  sweep: {p.Done}/{p.Total} units done{reused}, {p.Running} running, {p.Failed} failed, {Time(started.Elapsed)} elapsed");
            stderr.Flush();
        };
    }

    static string Time(TimeSpan t) => t.TotalHours >= 1 ? t.ToString(@"h\:mm\:ss") : t.ToString(@"m\:ss");

    static Unit Failures(TextWriter stderr, SweepResult r)
    {
        foreach (var p in r.Points)
            p.Failure.IfSome(f => stderr.WriteLine($"warning: grid point {p.Point.Index} ({p.Point.Label}) failed: {f}"));
        return unit;
    }

    static int Print(bool json, TextWriter stdout, string dir, SweepResult r, TimeSpan elapsed)
    {
        if (json)
        {
            stdout.Write(Snn.Sweep.Json(r));
            return 0;
        }
        var steps = r.Job.Grid.Checkpoints;
        stdout.WriteLine(Table.Render(
            new[] { "#", "settings" }.Concat(steps.Select(s => $"{s} steps")).Append($"energy uJ at {r.Job.Grid.RunSteps}").ToArray(),
            r.Points.Map(p => new[] { p.Point.Index.ToString(CultureInfo.InvariantCulture), p.Point.Label }
                .Concat(p.Failure.IsSome ? steps.Select(_ => "failed") : p.Rows.Map(x => $"{x.Accuracy:0.0000}{(x.Pareto ? "*" : "")}"))
                .Append(p.Failure.IsSome ? "-" : $"{p.Rows.Last.Operations.SnnEnergyPj * 1e-6:0.0000}").ToArray())));
        stdout.WriteLine($"({r.Job.Samples} samples; * on the Pareto front of accuracy, steps and energy; {elapsed.TotalSeconds:0.0} s)");
        stdout.WriteLine($"wrote {Path.Combine(dir, "sweep.json")}, {Path.Combine(dir, "sweep.csv")} and {Path.Combine(dir, "sweep.html")}");
        return 0;
    }

    static string Quote(string s) => s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./=:,\\".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";
}
