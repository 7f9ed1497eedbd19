using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>One axis of a sweep grid: an option's name as the command line spells it (without the dashes) and its values, in order.</summary>
public sealed record SweepAxis(string Name, Seq<string> Values);

/// <summary>
/// A sweep grid, <c>steps=2,4,8,16; percentile=99,99.9; neuron=signed,if</c>: axes in the order written, each with its
/// values in the order written. The <see cref="Steps"/> axis is no conversion of its own: one simulation to the largest
/// step count is read out at every step count (<see cref="Checkpoints"/>); every other axis multiplies the conversions
/// (<see cref="Points"/>).
/// </summary>
public sealed record SweepGrid(Seq<SweepAxis> Axes)
{
    /// <summary>The axis of step counts.</summary>
    public const string Steps = "steps";

    /// <summary>The most conversions (grid points) a sweep may have.</summary>
    public const int MaxPoints = 1000;

    /// <summary>The step counts when the grid has no steps axis (the spiking default).</summary>
    public const int DefaultSteps = 32;

    /// <summary>The canonical text of the grid: <c>name=v1,v2; name2=v3</c>. Parsing it gives the grid back.</summary>
    public string Show() => string.Join("; ", Axes.Map(a => a.Name + "=" + string.Join(",", a.Values)));

    /// <summary>The axes that change the conversion (all but <see cref="Steps"/>), in order.</summary>
    public Seq<SweepAxis> Conversion => Axes.Filter(a => a.Name != Steps);

    /// <summary>The step counts read out, ascending (<see cref="DefaultSteps"/> when the grid has no steps axis).</summary>
    public int[] Checkpoints =>
        Axes.Find(a => a.Name == Steps).Match(a => a.Values.Map(v => int.Parse(v, CultureInfo.InvariantCulture)).OrderBy(v => v).ToArray(), () => [DefaultSteps]);

    /// <summary>The steps every simulation runs: the largest step count.</summary>
    public int RunSteps => Checkpoints[^1];

    /// <summary>The product of every axis's size (steps included): the rows of the sweep's results.</summary>
    public long Size => Axes.Fold(1L, (n, a) => n * a.Values.Count);

    /// <summary>
    /// Every conversion: one point per combination of the conversion axes' values, the first axis varying slowest and
    /// the last fastest (as nested loops in the order written), numbered from 0. A grid with no conversion axis has one point.
    /// </summary>
    public Seq<SweepPoint> Points()
    {
        var axes = Conversion.ToArray();
        var count = axes.Aggregate(1, (n, a) => n * a.Values.Count);
        var points = new List<SweepPoint>(count);
        for (var p = 0; p < count; p++)
        {
            var settings = new (string, string)[axes.Length];
            var rest = p;
            for (var k = axes.Length - 1; k >= 0; k--)
            {
                settings[k] = (axes[k].Name, axes[k].Values[rest % axes[k].Values.Count]);
                rest /= axes[k].Values.Count;
            }
            points.Add(new SweepPoint(p, settings.ToSeq()));
        }
        return points.ToSeq();
    }

    /// <summary>
    /// Parses <c>NAME=V1,V2; NAME=...</c> (names with or without leading dashes; spaces around names and values ignored;
    /// an empty part between semicolons skipped). Refused, as usage errors: a part without <c>=</c>, a name not in
    /// <paramref name="axes"/> (nor <see cref="Steps"/>), an axis given twice, an empty value or one given twice in its
    /// axis, step counts that are not positive integers, and more than <paramref name="maxPoints"/> conversions.
    /// </summary>
    public static Either<Error, SweepGrid> Parse(string text, IReadOnlyCollection<string> axes, int maxPoints = MaxPoints)
    {
        var result = new List<SweepAxis>();
        var known = axes.Where(a => a != Steps).Prepend(Steps).ToList();
        foreach (var raw in text.Split(';'))
        {
            var part = raw.Trim();
            if (part.Length == 0) continue;
            var eq = part.IndexOf('=');
            if (eq < 0)
                return Errors.Usage($"--grid: '{part}' has no values; write each axis as NAME=V1,V2 (axes separated by ';'), e.g. \"steps=4,8; percentile=99,99.9\"");
            var name = part[..eq].Trim().TrimStart('-');
            if (name.Length == 0) return Errors.Usage($"--grid: '{part}' has no axis name before '='");
            if (!known.Contains(name))
                return Errors.Usage($"--grid: unknown axis '{name}'; the axes are {string.Join(", ", known)} (converter and calibration options without their dashes)");
            if (result.Exists(a => a.Name == name)) return Errors.Usage($"--grid: axis '{name}' is given twice; give each axis once with all its values");
            var values = part[(eq + 1)..].Split(',').Select(v => v.Trim()).ToList();
            if (values.Exists(v => v.Length == 0))
                return Errors.Usage($"--grid: axis '{name}' has an empty value ('{part[(eq + 1)..].Trim()}'); list its values separated by commas, e.g. {name}=A,B");
            var twice = values.GroupBy(v => v).FirstOrDefault(g => g.Count() > 1);
            if (twice is not null) return Errors.Usage($"--grid: axis '{name}' lists '{twice.Key}' twice");
            if (name == Steps)
            {
                var bad = values.FirstOrDefault(v => !int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var s) || s < 1);
                if (bad is not null) return Errors.Usage($"--grid: steps must be positive integers, got '{bad}'");
                var same = values.GroupBy(v => int.Parse(v, CultureInfo.InvariantCulture)).FirstOrDefault(g => g.Count() > 1);
                if (same is not null) return Errors.Usage($"--grid: steps lists {same.Key} twice ({string.Join(", ", same)})");
            }
            result.Add(new SweepAxis(name, values.ToSeq()));
        }
        if (result.Count == 0) return Errors.Usage("--grid is empty; give at least one axis, e.g. \"steps=4,8,16\"");
        var points = result.Where(a => a.Name != Steps).Aggregate(1L, (n, a) => Math.Min(n * a.Values.Count, long.MaxValue / 1024));
        if (points > maxPoints)
            return Errors.Usage($"--grid has {points} conversions (the product of its axes but steps); a sweep takes at most {maxPoints}: split it into several sweeps");
        return new SweepGrid(result.ToSeq());
    }
}

/// <summary>One conversion of a sweep: its number and its setting on each conversion axis, in the grid's axis order.</summary>
public sealed record SweepPoint(int Index, Seq<(string Axis, string Value)> Settings)
{
    /// <summary>The settings in words: <c>percentile=99 neuron=if</c> (<c>defaults</c> for a grid with no conversion axis).</summary>
    public string Label => Settings.IsEmpty ? "defaults" : string.Join(" ", Settings.Map(s => $"{s.Axis}={s.Value}"));
}

/// <summary>
/// A unit of work: one grid point on one shard of the images, the samples [<see cref="Start"/>, Start + <see cref="Count"/>).
/// Plain data: a worker given the sweep's model, data and grid runs it alone (<see cref="Sweep.RunUnit"/>).
/// </summary>
public sealed record SweepUnit(int Point, int Shard, int Start, int Count)
{
    /// <summary>The unit's file name under the sweep's <c>units/</c> folder.</summary>
    public string FileName => string.Create(CultureInfo.InvariantCulture, $"p{Point:D4}-s{Shard:D4}.json");
}

/// <summary>A spiking ensemble of a point's network and the synaptic accumulates one of its spikes costs (per inference, through what it feeds).</summary>
public sealed record SweepEnsemble(string Layer, string Id, int Neurons, double AccumulatesPerSpike);

/// <summary>
/// What a point's network costs, the same for every shard: its spiking ensembles, the MACs on analog input
/// (<see cref="AnalogFixed"/> once per inference plus <see cref="AnalogPerStep"/> each step), the ANN's MACs and the
/// energy table; <see cref="Settings"/> is the conversion in words. From <see cref="Evaluation.Operations"/>, which is
/// linear in the spikes.
/// </summary>
public sealed record SweepProfile(string Settings, double AnnMacs, double AnalogFixed, double AnalogPerStep, double AddPj, double MacPj, Seq<SweepEnsemble> Ensembles)
{
    /// <summary>Operations per inference after <paramref name="steps"/> steps, with <paramref name="spikes"/> per ensemble per inference.</summary>
    public OperationCounts At(int steps, IReadOnlyList<double> spikes)
    {
        var accumulates = 0.0;
        for (var e = 0; e < Ensembles.Count; e++) accumulates += spikes[e] * Ensembles[e].AccumulatesPerSpike;
        return new OperationCounts(accumulates, AnalogFixed + AnalogPerStep * steps, AnnMacs, AddPj, MacPj);
    }

    public static SweepProfile Of(string settings, Network net, bool constantInput)
    {
        var ensembles = net.Nodes.OfType<Ensemble>().Where(e => e.Neuron.Spiking).ToList();
        LayerActivity Quiet(Ensemble e, double spikes) => new(e.Layer, e.Id, e.Size, 0, 0, 0, 0, spikes);
        var none = ensembles.Select(e => Quiet(e, 0)).ToSeq().Strict();
        var fixedOps = Evaluation.Operations(net, none, 0, constantInput);
        var oneStep = Evaluation.Operations(net, none, 1, constantInput);
        var perSpike = ensembles.Select((e, k) => new SweepEnsemble(e.Layer, e.Id, e.Size,
            Evaluation.Operations(net, ensembles.Select((x, j) => Quiet(x, j == k ? 1 : 0)).ToSeq().Strict(), 0, constantInput).SynapticAccumulates)).ToSeq().Strict();
        return new SweepProfile(settings, fixedOps.AnnMacs, fixedOps.AnalogMacs, oneStep.AnalogMacs - fixedOps.AnalogMacs, fixedOps.AddPj, fixedOps.MacPj, perSpike);
    }
}

/// <summary>
/// What one unit measured on its shard, as whole numbers so that sums over shards are exact: the correct samples at each
/// step count, each ensemble's spikes per neuron (over the shard's samples and all steps) and its spikes up to each step
/// count (all its neurons); or why the point could not be converted (<see cref="Failure"/>, the same for every shard).
/// </summary>
public sealed record SweepUnitResult(SweepUnit Unit, Option<string> Failure, long[] Correct, SweepProfile? Profile, long[][] Spikes, long[][] SpikesAt)
{
    public static SweepUnitResult Failed(SweepUnit unit, string why) => new(unit, why, [], null, [], []);
}

/// <summary>A point's results at one step count: correct samples, accuracy, operations and energy, and whether it is on the Pareto front.</summary>
public sealed record SweepRow(int Steps, long Correct, double Accuracy, OperationCounts Operations, bool Pareto);

/// <summary>A grid point's merged results, or why it failed.</summary>
public sealed record SweepPointResult(SweepPoint Point, Option<string> Failure, string Settings, Seq<SweepRow> Rows, Seq<LayerActivity> Layers);

/// <summary>
/// What a sweep is: the model, data and labels (paths, for the record), the options every point shares (as text), the
/// grid, the samples, and the content hash of all of it and of the files' bytes (<see cref="Sweep.Hash"/>), which a
/// worker and a restarted sweep check. <see cref="Arguments"/>: the command line every point's options are read from
/// (the shared options, data and labels included, not the grid), so that a worker can build a point's run again.
/// </summary>
public sealed record SweepJob(string Model, Seq<string> Data, string Labels, string Options, SweepGrid Grid, int Samples, string Hash)
{
    public Seq<string> Arguments { get; init; }
}

/// <summary>A sweep's merged results: the job and every point, in the grid's order.</summary>
public sealed record SweepResult(SweepJob Job, Seq<SweepPointResult> Points);

/// <summary>A sweep folder opened for running (<see cref="Sweep.Open"/>): the job, its units, and the results already there (null where none).</summary>
public sealed record SweepRun(SweepJob Job, string Dir, Seq<SweepUnit> Units, SweepUnitResult?[] Results, int Reused)
{
    public string UnitsDir => Path.Combine(Dir, "units");
    public string JobPath => Path.Combine(Dir, "sweep-id.json");
}

/// <summary>Units done (this run and before), running and failed, of all.</summary>
public sealed record SweepProgress(int Done, int Reused, int Running, int Failed, int Total);

/// <summary>
/// Sweeps: a grid of conversions (<see cref="SweepGrid"/>), each evaluated at every step count from one simulation, split
/// into units of work (grid point × shard of images, <see cref="Units"/>) that run anywhere (<see cref="RunUnit"/>), and
/// merged in a fixed order (<see cref="Merge"/>): any split into shards and any order of completion give the same bytes
/// (<see cref="Json"/>), since the units hold whole counts and the merge sums them in point and shard order.
/// <see cref="RunLocal"/> runs the units on this machine's cores, writing each unit's result atomically under
/// <c>DIR/units/</c> and continuing from the ones a previous run finished.
/// </summary>
public static class Sweep
{
    public const string UnitFormat = "snn-sweep-unit 1";
    public const string ResultFormat = "snn-sweep 1";
    public const string IdFormat = "snn-sweep-dir 1";

    /// <summary>The units of a sweep: for each point in order, its shards of at most <paramref name="shardSize"/> samples in order.</summary>
    public static Seq<SweepUnit> Units(int points, int samples, int shardSize)
    {
        var size = Math.Max(1, shardSize);
        var shards = Math.Max(1, (samples + size - 1) / size);
        var units = new List<SweepUnit>(points * shards);
        for (var p = 0; p < points; p++)
            for (var s = 0; s < shards; s++)
                units.Add(new SweepUnit(p, s, s * size, Math.Min(size, samples - s * size)));
        return units.ToSeq();
    }

    /// <summary>
    /// Runs one unit: the point's network (from <paramref name="prepare"/>, which a worker may cache per point), simulated
    /// for the grid's largest step count on the unit's shard of <paramref name="inputs"/> and read out at every step count.
    /// A conversion that fails gives a failed result (the same for every shard).
    /// </summary>
    public static SweepUnitResult RunUnit(SweepGrid grid, SweepUnit unit, Seq<Tensor> inputs, int[] labels, Func<Either<Error, (Prepared Run, string Settings)>> prepare)
    {
        var prepared = prepare();
        if (prepared.Case is Error failed) return SweepUnitResult.Failed(unit, failed.Message);
        var (run, settings) = ((Prepared, string))prepared.Case!;
        var checkpoints = grid.Checkpoints;
        var shard = inputs.Map(t => t.Rows(unit.Start, unit.Count)).Strict();
        var activity = new Activity();
        var simulated = Interpreter.Run(run.Net.Program, run.Net.Functions, shard, run.Sim with { Steps = grid.RunSteps }, checkpoints, null, activity);
        if (simulated.Case is Error error) return SweepUnitResult.Failed(unit, error.Message);
        var outs = (Seq<Tensor>[])simulated.Case!;
        var truth = labels.AsSpan(unit.Start, unit.Count).ToArray();
        var profile = SweepProfile.Of(settings, run.Net.Network, run.Sim.Encoding == Snn.Runtime.Encoding.Constant && !run.Sim.Temporal);
        long[] Whole(double[] v) => v.Select(x => (long)Math.Round(x)).ToArray();
        return new SweepUnitResult(unit, None, outs.Select(o => (long)Metrics.Correct(o.Head, truth)).ToArray(), profile,
            profile.Ensembles.Map(e => activity.Spikes.TryGetValue(e.Id, out var s) ? Whole(s) : new long[e.Neurons]).ToArray(),
            profile.Ensembles.Map(e => activity.SpikesAt.TryGetValue(e.Id, out var s) ? Whole(s) : new long[checkpoints.Length]).ToArray());
    }

    /// <summary>
    /// Merges unit results into the sweep's results: per point, its shards in order of their first sample must cover the
    /// samples once (else an error naming what is missing or overlaps), and are summed in that order. Accuracy is the
    /// summed correct count over the samples; the firing statistics and operations come from the summed spike counts.
    /// The Pareto front is over every (point, step count) that did not fail: highest accuracy, fewest steps, least energy.
    /// </summary>
    public static Either<Error, SweepResult> Merge(SweepJob job, IEnumerable<SweepUnitResult> results)
    {
        var points = job.Grid.Points();
        var checkpoints = job.Grid.Checkpoints;
        var byPoint = results.GroupBy(r => r.Unit.Point).ToDictionary(g => g.Key, g => g.OrderBy(r => r.Unit.Start).ThenBy(r => r.Unit.Count).ToList());
        var stray = byPoint.Keys.Where(k => k < 0 || k >= points.Count).Order().ToList();
        if (stray.Count > 0) return Errors.Usage($"unit results for point {stray[0]}, which the grid does not have ({points.Count} points)");
        var merged = new List<SweepPointResult>();
        foreach (var point in points)
        {
            var shards = byPoint.GetValueOrDefault(point.Index) ?? [];
            var next = 0;
            foreach (var s in shards)
            {
                if (s.Unit.Start != next)
                    return Errors.Usage($"point {point.Index}: {(s.Unit.Start > next ? $"samples {next} to {s.Unit.Start - 1} have no unit result" : $"unit results overlap at sample {s.Unit.Start}")}");
                next = s.Unit.Start + s.Unit.Count;
            }
            if (next != job.Samples) return Errors.Usage($"point {point.Index}: samples {next} to {job.Samples - 1} have no unit result");
            var failure = shards.Select(s => s.Failure).FirstOrDefault(f => f.IsSome);
            if (failure.IsSome || shards.Exists(s => s.Profile is null))
            {
                merged.Add(new SweepPointResult(point, failure.IfNone("no profile"), "", Seq<SweepRow>(), Seq<LayerActivity>()));
                continue;
            }
            var profile = shards[0].Profile!;
            var ensembles = profile.Ensembles.Count;
            if (shards.Exists(s => s.Correct.Length != checkpoints.Length || s.Spikes.Length != ensembles || s.SpikesAt.Length != ensembles ||
                                   s.Profile!.Ensembles.Count != ensembles))
                return Errors.Usage($"point {point.Index}: unit results of different shapes (another grid or network?)");
            var correct = new long[checkpoints.Length];
            var spikes = profile.Ensembles.Map(e => new long[e.Neurons]).ToArray();
            var at = profile.Ensembles.Map(_ => new long[checkpoints.Length]).ToArray();
            foreach (var s in shards)
            {
                for (var c = 0; c < correct.Length; c++) correct[c] += s.Correct[c];
                for (var e = 0; e < ensembles; e++)
                {
                    if (s.Spikes[e].Length != spikes[e].Length) return Errors.Usage($"point {point.Index}: unit results of different shapes (another network?)");
                    for (var i = 0; i < spikes[e].Length; i++) spikes[e][i] += s.Spikes[e][i];
                    for (var c = 0; c < checkpoints.Length; c++) at[e][c] += s.SpikesAt[e][c];
                }
            }
            var n = Math.Max(1, job.Samples);
            var rows = checkpoints.Select((steps, c) => new SweepRow(steps, correct[c], (double)correct[c] / n,
                profile.At(steps, at.Select(a => (double)a[c] / n).ToArray()), false)).ToSeq().Strict();
            var layers = Evaluation.Layers(profile.Ensembles.Map(e => (e.Layer, e.Id)),
                profile.Ensembles.Zip(spikes).ToDictionary(x => x.Item1.Id, x => x.Item2.Select(v => (double)v).ToArray()), job.Samples, job.Grid.RunSteps);
            merged.Add(new SweepPointResult(point, None, profile.Settings, rows, layers));
        }
        return new SweepResult(job, Pareto(merged.ToSeq()));
    }

    /// <summary>Marks the rows no other row beats on accuracy, steps and energy at once (at least as good on all three, better on one).</summary>
    static Seq<SweepPointResult> Pareto(Seq<SweepPointResult> points)
    {
        var all = points.Bind(p => p.Rows.Map(r => (Acc: r.Accuracy, r.Steps, Energy: r.Operations.SnnEnergyPj))).ToArray();
        bool Front(SweepRow r) => !all.Any(o => o.Acc >= r.Accuracy && o.Steps <= r.Steps && o.Energy <= r.Operations.SnnEnergyPj &&
                                                (o.Acc > r.Accuracy || o.Steps < r.Steps || o.Energy < r.Operations.SnnEnergyPj));
        return points.Map(p => p with { Rows = p.Rows.Map(r => r with { Pareto = Front(r) }).Strict() }).Strict();
    }

    // ---------------------------------------------------------------- files

    static string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>The sweep's results as JSON (indented, fixed field order): the same results give the same bytes.</summary>
    public static string Json(SweepResult r)
    {
        var j = r.Job;
        var root = new JsonObject
        {
            ["format"] = ResultFormat,
            ["model"] = j.Model,
            ["data"] = new JsonArray(j.Data.Map(d => (JsonNode)d!).ToArray()),
            ["labels"] = j.Labels,
            ["options"] = j.Options,
            ["grid"] = j.Grid.Show(),
            ["hash"] = j.Hash,
            ["samples"] = j.Samples,
            ["steps"] = new JsonArray(j.Grid.Checkpoints.Select(c => (JsonNode)c).ToArray()),
            ["axes"] = new JsonArray(j.Grid.Conversion.Map(a => (JsonNode)a.Name!).ToArray()),
            ["energy_source"] = OperationCounts.Source,
            ["points"] = new JsonArray(r.Points.Map(p =>
            {
                var settings = new JsonObject();
                foreach (var (axis, value) in p.Point.Settings) settings[axis] = value;
                var o = new JsonObject
                {
                    ["point"] = p.Point.Index,
                    ["settings"] = settings,
                    ["failure"] = p.Failure.Case is string why ? (JsonNode?)why : null,
                    ["conversion"] = p.Settings,
                    ["results"] = new JsonArray(p.Rows.Map(row => (JsonNode)new JsonObject
                    {
                        ["steps"] = row.Steps,
                        ["correct"] = row.Correct,
                        ["accuracy"] = row.Accuracy,
                        ["synaptic_accumulates"] = row.Operations.SynapticAccumulates,
                        ["analog_macs"] = row.Operations.AnalogMacs,
                        ["snn_energy_uj"] = row.Operations.SnnEnergyPj * 1e-6,
                        ["ann_energy_uj"] = row.Operations.AnnEnergyPj * 1e-6,
                        ["pareto"] = row.Pareto,
                    }).ToArray()),
                    ["layers"] = new JsonArray(p.Layers.Map(l => (JsonNode)new JsonObject
                    {
                        ["layer"] = l.Layer, ["neurons"] = l.Neurons, ["mean_spikes_per_step"] = l.MeanSpikesPerStep, ["p99_spikes_per_step"] = l.P99SpikesPerStep,
                        ["fraction_silent"] = l.FractionSilent, ["fraction_saturated"] = l.FractionSaturated,
                    }).ToArray()),
                };
                return (JsonNode)o;
            }).ToArray()),
        };
        return root.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>The sweep's results as CSV: a row per point and step count, the axes as columns (values quoted where needed).</summary>
    public static string Csv(SweepResult r)
    {
        static string Q(string s) => s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
        var axes = r.Job.Grid.Conversion.Map(a => a.Name).ToList();
        var sb = new StringBuilder();
        sb.Append(string.Join(",", new[] { "point" }.Concat(axes).Concat(["steps", "samples", "correct", "accuracy", "synaptic_accumulates", "analog_macs",
            "snn_energy_uj", "ann_energy_uj", "mean_spikes_per_step", "pareto", "failure"]).Select(Q))).Append('\n');
        foreach (var p in r.Points)
        {
            var head = new[] { p.Point.Index.ToString(CultureInfo.InvariantCulture) }.Concat(p.Point.Settings.Map(s => s.Value));
            var neurons = p.Layers.Sum(l => (double)l.Neurons);
            var mean = neurons > 0 ? p.Layers.Sum(l => l.MeanSpikesPerStep * l.Neurons) / neurons : 0;
            if (p.Failure.Case is string why)
                sb.Append(string.Join(",", head.Concat(["", r.Job.Samples.ToString(CultureInfo.InvariantCulture), "", "", "", "", "", "", "", "", why]).Select(Q))).Append('\n');
            foreach (var row in p.Rows)
                sb.Append(string.Join(",", head.Concat([
                    row.Steps.ToString(CultureInfo.InvariantCulture), r.Job.Samples.ToString(CultureInfo.InvariantCulture), row.Correct.ToString(CultureInfo.InvariantCulture),
                    R(row.Accuracy), R(row.Operations.SynapticAccumulates), R(row.Operations.AnalogMacs), R(row.Operations.SnnEnergyPj * 1e-6),
                    R(row.Operations.AnnEnergyPj * 1e-6), R(mean), row.Pareto ? "true" : "false", ""]).Select(Q))).Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A unit's result as JSON (one file under <c>units/</c>).</summary>
    public static string UnitJson(SweepUnitResult u)
    {
        var o = new JsonObject
        {
            ["format"] = UnitFormat,
            ["point"] = u.Unit.Point, ["shard"] = u.Unit.Shard, ["start"] = u.Unit.Start, ["count"] = u.Unit.Count,
            ["failure"] = u.Failure.Case is string f ? (JsonNode?)f : null,
            ["correct"] = Longs(u.Correct),
            ["profile"] = u.Profile is not { } p ? null : new JsonObject
            {
                ["settings"] = p.Settings, ["ann_macs"] = p.AnnMacs, ["analog_fixed"] = p.AnalogFixed, ["analog_per_step"] = p.AnalogPerStep,
                ["add_pj"] = p.AddPj, ["mac_pj"] = p.MacPj,
                ["ensembles"] = new JsonArray(p.Ensembles.Map(e => (JsonNode)new JsonObject
                {
                    ["layer"] = e.Layer, ["id"] = e.Id, ["neurons"] = e.Neurons, ["accumulates_per_spike"] = e.AccumulatesPerSpike,
                }).ToArray()),
            },
            ["spikes"] = new JsonArray(u.Spikes.Select(s => (JsonNode)Longs(s)).ToArray()),
            ["spikes_at"] = new JsonArray(u.SpikesAt.Select(s => (JsonNode)Longs(s)).ToArray()),
        };
        return o.ToJsonString() + "\n";
    }

    static JsonArray Longs(long[] v) => new(v.Select(x => (JsonNode)x).ToArray());

    /// <summary>A unit's result read back from <see cref="UnitJson"/>; None for anything else (a damaged file is run again).</summary>
    public static Option<SweepUnitResult> ReadUnit(string json)
    {
        try
        {
            if (JsonNode.Parse(json) is not JsonObject o || (string?)o["format"] != UnitFormat) return None;
            var unit = new SweepUnit((int)o["point"]!, (int)o["shard"]!, (int)o["start"]!, (int)o["count"]!);
            long[] L(JsonNode? n) => n!.AsArray().Select(x => (long)x!).ToArray();
            var profile = o["profile"] is JsonObject p
                ? new SweepProfile((string)p["settings"]!, (double)p["ann_macs"]!, (double)p["analog_fixed"]!, (double)p["analog_per_step"]!,
                    (double)p["add_pj"]!, (double)p["mac_pj"]!,
                    p["ensembles"]!.AsArray().Select(e => new SweepEnsemble((string)e!["layer"]!, (string)e["id"]!, (int)e["neurons"]!, (double)e["accumulates_per_spike"]!)).ToSeq().Strict())
                : null;
            return new SweepUnitResult(unit, Optional((string?)o["failure"]), L(o["correct"]), profile,
                o["spikes"]!.AsArray().Select(L).ToArray(), o["spikes_at"]!.AsArray().Select(L).ToArray());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException or ArgumentException or OverflowException)
        {
            return None;
        }
    }

    /// <summary>
    /// The SHA-256 (hex) of <paramref name="texts"/> and the bytes of <paramref name="files"/>, each with its length, in order.
    /// A folder counts as its files (all, by relative path); a TF.js <c>model.json</c> as every file in its folder (its weights).
    /// </summary>
    public static Either<Error, string> Hash(Seq<string> texts, Seq<string> files)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Text(string s)
        {
            var b = System.Text.Encoding.UTF8.GetBytes(s);
            sha.AppendData(BitConverter.GetBytes((long)b.Length));
            sha.AppendData(b);
        }
        try
        {
            foreach (var t in texts) Text(t);
            foreach (var f in files)
            {
                var members = Directory.Exists(f) ? Directory.GetFiles(f, "*", SearchOption.AllDirectories)
                    : f.EndsWith(".json", StringComparison.OrdinalIgnoreCase) && Path.GetDirectoryName(Path.GetFullPath(f)) is { } dir
                        ? Directory.GetFiles(dir, "*", SearchOption.TopDirectoryOnly)
                        : [f];
                var root = Directory.Exists(f) ? f : Path.GetDirectoryName(Path.GetFullPath(f)) ?? "";
                foreach (var m in members.OrderBy(m => Path.GetRelativePath(root, m), StringComparer.Ordinal))
                {
                    Text(Path.GetRelativePath(root, m).Replace('\\', '/'));
                    using var stream = File.OpenRead(m);
                    Text(stream.Length.ToString(CultureInfo.InvariantCulture));
                    var buffer = new byte[1 << 20];
                    int read;
                    while ((read = stream.Read(buffer, 0, buffer.Length)) > 0) sha.AppendData(buffer, 0, read);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errors.Data("sweep inputs", $"cannot read a file to hash it: {e.Message}");
        }
        return Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant();
    }

    // ---------------------------------------------------------------- local runs

    /// <summary>
    /// Runs a sweep on this machine into <paramref name="dir"/>: refuses a folder that holds another sweep (its
    /// <c>sweep-id.json</c> records another hash or shard size) or other files; reuses the unit results there that belong
    /// to this plan; runs the rest, <paramref name="degree"/> at a time, each written atomically to <c>units/</c> as it
    /// finishes; and merges them. <paramref name="prepare"/> compiles a point (its network, simulation options and
    /// conversion in words), once per point, shared by its shards. A unit that throws is counted
    /// failed and not written (a restart runs it again); the merge then fails naming what is missing.
    /// </summary>
    public static Either<Error, SweepResult> RunLocal(SweepJob job, int shardSize, string dir, int degree, Seq<Tensor> inputs, int[] labels,
        Func<SweepPoint, Either<Error, (Prepared Run, string Settings)>> prepare, Action<SweepProgress>? progress = null, Action<string>? log = null)
    {
        var opened = Open(job, shardSize, dir);
        if (opened.Case is not SweepRun run) return opened.Map(_ => default(SweepResult)!);
        var (units, results, reused) = (run.Units, run.Results, run.Reused);
        var todo = Enumerable.Range(0, units.Count).Where(k => results[k] is null).ToList();
        var remaining = todo.GroupBy(k => units[k].Point).ToDictionary(g => g.Key, g => g.Count());
        var cache = new Dictionary<int, Lazy<Either<Error, (Prepared, string)>>>();
        var points = job.Grid.Points();
        var gate = new object();
        int done = reused, running = 0, failed = 0;
        void Report() => progress?.Invoke(new SweepProgress(done, reused, running, failed, units.Count));
        Report();
        var errors = new List<string>();
        Parallel.ForEach(todo, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, degree) }, k =>
        {
            var unit = units[k];
            Lazy<Either<Error, (Prepared, string)>> lazy;
            lock (gate)
            {
                if (!cache.TryGetValue(unit.Point, out lazy!))
                    cache[unit.Point] = lazy = new Lazy<Either<Error, (Prepared, string)>>(() => prepare(points[unit.Point]));
                running++;
                Report();
            }
            try
            {
                var result = RunUnit(job.Grid, unit, inputs, labels, () => lazy.Value);
                var written = Store(dir, result);
                lock (gate)
                {
                    running--;
                    if (written.Case is Error e) { failed++; errors.Add(e.Message); }
                    else { results[k] = result; done++; }
                }
            }
            catch (Exception e) when (e is not (OutOfMemoryException or InsufficientExecutionStackException))
            {
                lock (gate)
                {
                    running--;
                    failed++;
                    errors.Add($"unit {unit.FileName}: {e.GetType().Name}: {e.Message}");
                }
            }
            finally
            {
                lock (gate)
                {
                    if (--remaining[unit.Point] == 0) cache.Remove(unit.Point);
                    Report();
                }
            }
        });
        foreach (var e in errors) log?.Invoke(e);
        return Finish(run, errors);
    }

    /// <summary>
    /// Opens <paramref name="dir"/> for a sweep: refuses a folder that holds another sweep or other files, writes the job
    /// (<c>sweep-id.json</c>, <see cref="JobJson"/>) unless it is there, and reads the unit results there that belong to
    /// this plan. The local sweep and the cluster's client both start here.
    /// </summary>
    public static Either<Error, SweepRun> Open(SweepJob job, int shardSize, string dir)
    {
        var units = Units(job.Grid.Points().Count, job.Samples, shardSize);
        var id = JobJson(job, shardSize);
        var idPath = Path.Combine(dir, "sweep-id.json");
        var check = CheckDir(dir, idPath, job, shardSize);
        if (check.IsLeft) return check.Map(_ => default(SweepRun)!);
        if (!File.Exists(idPath) || File.ReadAllText(idPath) != id)
        {
            var written = OutputFile.Write(idPath, "the sweep's identity", s => s.Write(new UTF8Encoding(false).GetBytes(id)));
            if (written.IsLeft) return written.Map(_ => default(SweepRun)!);
        }
        var run = new SweepRun(job, dir, units, new SweepUnitResult?[units.Count], 0);
        var reused = 0;
        for (var k = 0; k < units.Count; k++)
        {
            var path = Path.Combine(run.UnitsDir, units[k].FileName);
            if (!File.Exists(path)) continue;
            var read = ReadUnit(File.ReadAllText(path));
            if (read.Case is SweepUnitResult r && r.Unit == units[k]) { run.Results[k] = r; reused++; }
        }
        return run with { Reused = reused };
    }

    /// <summary>Writes a unit's result to <c>DIR/units/</c> atomically (<see cref="UnitJson"/>), so a restart reads it whole or not at all.</summary>
    public static Either<Error, Unit> Store(string dir, SweepUnitResult result) =>
        OutputFile.Write(Path.Combine(dir, "units", result.Unit.FileName), $"the result of unit {result.Unit.FileName}",
            s => s.Write(new UTF8Encoding(false).GetBytes(UnitJson(result)))).Map(_ => unit);

    /// <summary>The merged result once every unit of <paramref name="run"/> has one; otherwise an error naming how many failed and where the rest are kept.</summary>
    public static Either<Error, SweepResult> Finish(SweepRun run, IReadOnlyList<string> errors)
    {
        var missing = run.Results.Count(r => r is null);
        if (missing > 0)
            return Errors.Write(run.Dir, "the sweep", $"{missing} of {run.Units.Count} units failed (first: {(errors.Count > 0 ? errors[0] : "none reported")}); " +
                                                      $"the {run.Units.Count - missing} finished are kept under {run.UnitsDir}: run the same sweep again to retry the rest");
        return Merge(run.Job, run.Results.Select(r => r!));
    }

    /// <summary>
    /// The job and its shard size as JSON: the sweep's identity file (<c>DIR/sweep-id.json</c>), and what a worker is
    /// given with a unit (<see cref="ReadJob"/>).
    /// </summary>
    public static string JobJson(SweepJob job, int shardSize) =>
        new JsonObject
        {
            ["format"] = IdFormat, ["hash"] = job.Hash, ["shard_size"] = shardSize, ["model"] = job.Model,
            ["data"] = new JsonArray(job.Data.Map(d => (JsonNode)d!).ToArray()), ["labels"] = job.Labels, ["options"] = job.Options,
            ["grid"] = new JsonArray(job.Grid.Axes.Map(a => (JsonNode)new JsonObject
            {
                ["axis"] = a.Name, ["values"] = new JsonArray(a.Values.Map(v => (JsonNode)v!).ToArray()),
            }).ToArray()),
            ["samples"] = job.Samples,
            ["arguments"] = new JsonArray(job.Arguments.Map(v => (JsonNode)v!).ToArray()),
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";

    /// <summary>A job and its shard size read back from <see cref="JobJson"/>; None for anything else.</summary>
    public static Option<(SweepJob Job, int ShardSize)> ReadJob(string json)
    {
        try
        {
            if (JsonNode.Parse(json) is not JsonObject o || (string?)o["format"] != IdFormat) return None;
            Seq<string> Strings(JsonNode? n) => n!.AsArray().Select(x => (string)x!).ToSeq().Strict();
            var grid = new SweepGrid(o["grid"]!.AsArray().Select(a => new SweepAxis((string)a!["axis"]!, Strings(a["values"]))).ToSeq().Strict());
            var job = new SweepJob((string)o["model"]!, Strings(o["data"]), (string)o["labels"]!, (string)o["options"]!, grid, (int)o["samples"]!, (string)o["hash"]!)
            {
                Arguments = Strings(o["arguments"]),
            };
            return (job, (int)o["shard_size"]!);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException or ArgumentException or OverflowException)
        {
            return None;
        }
    }

    /// <summary>The folder must be new, empty, or hold this sweep (same hash and shard size).</summary>
    static Either<Error, Unit> CheckDir(string dir, string idPath, SweepJob job, int shardSize)
    {
        if (File.Exists(dir)) return Errors.Usage($"--out '{dir}' is a file; a sweep writes a folder (sweep.json, sweep.csv, sweep.html and units/)");
        if (!Directory.Exists(dir)) return unit;
        if (!File.Exists(idPath))
            return Directory.EnumerateFileSystemEntries(dir).Any()
                ? Errors.Usage($"--out '{dir}' holds files but no sweep (no sweep-id.json); give a new or empty folder, or the folder of this sweep to continue it")
                : unit;
        try
        {
            var node = JsonNode.Parse(File.ReadAllText(idPath)) as JsonObject;
            var hash = (string?)node?["hash"];
            var shards = (int?)node?["shard_size"];
            if ((string?)node?["format"] != IdFormat || hash is null || shards is null)
                return Errors.Usage($"--out '{dir}': its sweep-id.json is not a sweep's identity file; give a new or empty folder");
            if (hash != job.Hash)
                return Errors.Usage($"--out '{dir}' holds another sweep (content hash {hash[..12]}…, this one {job.Hash[..12]}…: the model, data, labels, " +
                                    $"calibration data, grid or options differ); its results would not belong to this one. Give a new folder, or the same command as before to continue it");
            if (shards != shardSize)
                return Errors.Usage($"--out '{dir}' holds this sweep split into shards of {shards} samples; continue it with --shard-size {shards}, or give a new folder");
            return unit;
        }
        catch (Exception e) when (e is JsonException or IOException or InvalidOperationException or FormatException)
        {
            return Errors.Usage($"--out '{dir}': its sweep-id.json cannot be read ({e.Message}); give a new or empty folder");
        }
    }
}
