using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LanguageExt;
using Snn.Properties.Support;
using Xunit.Abstractions;
using Xunit.Sdk;
using static LanguageExt.Prelude;

namespace Snn.Properties.Stages;

/// <summary>A grid and a noisy way of writing it (spaces, dashes before names, empty parts), from a seed.</summary>
public sealed record GridCase(int Seed, Seq<SweepAxis> Axes, string Text)
{
    public override string ToString() => $"SweepCases.Grid(seed: {Seed}): \"{Text}\"";
}

/// <summary>
/// Unit results of a sweep as a worker would give them, per sample (whole counts), from a seed: <see cref="Points"/> points
/// (some failing), <see cref="Samples"/> samples, the grid's step counts, and per point a profile and per sample its
/// correct flags, each neuron's spikes and each ensemble's spikes up to each step count.
/// </summary>
public sealed record MergeCase(int Seed, SweepJob Job, SweepProfile?[] Profiles, string?[] Failures, long[][][] Correct, long[][][][] Spikes, long[][][][] SpikesAt)
{
    public int Points => Profiles.Length;
    public int Samples => Job.Samples;

    /// <summary>Point <paramref name="p"/>'s result on samples [start, start + count): the per-sample counts summed.</summary>
    public SweepUnitResult Unit(int p, int shard, int start, int count)
    {
        var unit = new SweepUnit(p, shard, start, count);
        if (Failures[p] is { } why) return SweepUnitResult.Failed(unit, why);
        var c = Job.Grid.Checkpoints.Length;
        var profile = Profiles[p]!;
        long[] Sum(Func<int, long[]> of, int length)
        {
            var s = new long[length];
            for (var i = start; i < start + count; i++)
            {
                var v = of(i);
                for (var k = 0; k < length; k++) s[k] += v[k];
            }
            return s;
        }
        return new SweepUnitResult(unit, None, Sum(i => Correct[p][i], c), profile,
            profile.Ensembles.Map((k, e) => Sum(i => Spikes[p][i][k], e.Neurons)).ToArray(),
            profile.Ensembles.Map((k, _) => Sum(i => SpikesAt[p][i][k], c)).ToArray());
    }

    public override string ToString() => $"SweepCases.Merge(seed: {Seed}): {Points} points, {Samples} samples, steps {string.Join(",", Job.Grid.Checkpoints)}";
}

/// <summary>The generators of the sweep properties.</summary>
public static class SweepCases
{
    static readonly string[] Names = ["percentile", "neuron", "max-pool", "bias-correction", "seed", "swap", "synapse", "resolution", "bias-shift", "readout"];
    static readonly string[] Pool = ["99", "99.9", "signed", "if", "nengo", "count", "avg", "16", "0.005", "none", "relu=LIF", "1/2", "on", "off", "mean:4", "L=2", "-1", "1e-3"];

    public static Arbitrary<GridCase> Grids => Arb.From(Gen.Choose(0, int.MaxValue).Select(Grid));
    public static Arbitrary<MergeCase> Merges => Arb.From(Gen.Choose(0, int.MaxValue).Select(Merge));

    public static GridCase Grid(int seed)
    {
        var r = new System.Random(seed);
        var names = Names.Prepend(SweepGrid.Steps).OrderBy(_ => r.Next()).Take(r.Next(1, 5)).ToList();
        var axes = names.Select(n => new SweepAxis(n, n == SweepGrid.Steps
            ? Enumerable.Range(1, 64).OrderBy(_ => r.Next()).Take(r.Next(1, 5)).Select(v => v.ToString(CultureInfo.InvariantCulture)).ToSeq()
            : Pool.OrderBy(_ => r.Next()).Take(r.Next(1, 4)).ToSeq())).ToSeq();
        string Space() => new(' ', r.Next(3));
        var parts = axes.Map(a => Space() + (r.Next(3) == 0 ? "--" : "") + a.Name + Space() + "=" + string.Join(",", a.Values.Map(v => Space() + v + Space()))).ToList();
        if (r.Next(3) == 0) parts.Insert(r.Next(parts.Count + 1), Space());   // an empty part
        var text = string.Join(";", parts) + (r.Next(3) == 0 ? ";" : "");
        return new GridCase(seed, axes, text);
    }

    public static MergeCase Merge(int seed)
    {
        var r = new System.Random(seed);
        var points = r.Next(1, 5);
        var samples = r.Next(1, 31);
        var steps = Enumerable.Range(1, 32).OrderBy(_ => r.Next()).Take(r.Next(1, 4)).Order().ToArray();
        var axis = new SweepAxis("neuron", Enumerable.Range(0, points).Select(p => "v" + p.ToString(CultureInfo.InvariantCulture)).ToSeq());
        var grid = new SweepGrid(Seq(new SweepAxis(SweepGrid.Steps, steps.Select(s => s.ToString(CultureInfo.InvariantCulture)).ToSeq()), axis));
        var job = new SweepJob("model.json", Seq1("x.npy"), "y.npy", "--calibrate c.npy", grid, samples, "0123456789abcdef0123");
        var profiles = new SweepProfile?[points];
        var failures = new string?[points];
        var correct = new long[points][][];
        var spikes = new long[points][][][];
        var at = new long[points][][][];
        for (var p = 0; p < points; p++)
        {
            if (r.Next(5) == 0) failures[p] = $"point {p} does not convert";
            var ensembles = Enumerable.Range(0, r.Next(0, 4)).Select(e => new SweepEnsemble($"layer{e}", $"layer{e}.{p}", r.Next(1, 6), r.NextDouble() * 100)).ToSeq().Strict();
            profiles[p] = new SweepProfile($"settings of {p}", r.Next(1000), r.Next(1000), r.Next(100) * r.NextDouble(), 0.9, 4.6, ensembles);
            correct[p] = Enumerable.Range(0, samples).Select(_ => steps.Select(_ => (long)r.Next(2)).ToArray()).ToArray();
            spikes[p] = Enumerable.Range(0, samples).Select(_ => ensembles.Map(e => Enumerable.Range(0, e.Neurons).Select(_ => (long)r.Next(0, 3 * steps[^1])).ToArray()).ToArray()).ToArray();
            at[p] = Enumerable.Range(0, samples).Select(_ => ensembles.Map(e =>
            {
                var total = 0L;
                return steps.Select(_ => total += r.Next(0, 40)).ToArray();
            }).ToArray()).ToArray();
        }
        return new MergeCase(seed, job, profiles, failures, correct, spikes, at);
    }
}

/// <summary>
/// The sweep's pure parts: a grid reads back from its text (however it is spaced and dashed) and from its canonical
/// text; it expands to the product of its axes' sizes, in nested-loop order; units tile the samples; and merging unit
/// results split into any shards, in any order, read back from their files, gives the bytes of the unsplit merge.
/// </summary>
[Properties(Arbitrary = new[] { typeof(SweepCases) })]
public sealed class SweepProperties(ITestOutputHelper output) : PropertyTests(output)
{
    static readonly string[] Axes = ["percentile", "neuron", "max-pool", "bias-correction", "seed", "swap", "synapse", "resolution", "bias-shift", "readout"];

    static string Show(Seq<SweepAxis> axes) => string.Join(" | ", axes.Map(a => a.Name + ":" + string.Join(",", a.Values)));

    [Property(MaxTest = 300)]
    public void A_grid_reads_back_from_its_text_and_its_canonical_text(GridCase g)
    {
        var parsed = SweepGrid.Parse(g.Text, Axes).Match(x => x, e => throw new XunitException($"{g}: {e.Message}"));
        if (Show(parsed.Axes) != Show(g.Axes)) throw new XunitException($"{g}: read {Show(parsed.Axes)}, written {Show(g.Axes)}");
        var again = SweepGrid.Parse(parsed.Show(), Axes).Match(x => x, e => throw new XunitException($"{g}: canonical '{parsed.Show()}': {e.Message}"));
        if (again.Show() != parsed.Show() || Show(again.Axes) != Show(g.Axes)) throw new XunitException($"{g}: canonical text '{parsed.Show()}' reads as '{again.Show()}'");
    }

    [Property(MaxTest = 300)]
    public void A_grid_expands_to_the_product_of_its_axes_in_nested_loop_order(GridCase g)
    {
        var grid = new SweepGrid(g.Axes);
        var conversion = g.Axes.Filter(a => a.Name != SweepGrid.Steps).ToList();
        // The nested loops, first axis outermost, written out as a cartesian product.
        IEnumerable<string[]> expected = [[]];
        foreach (var a in conversion) expected = expected.SelectMany(prefix => a.Values.Select(v => prefix.Append(v).ToArray()));
        var want = expected.Select(vs => string.Join(" ", vs.Select((v, k) => $"{conversion[k].Name}={v}"))).ToList();
        var points = grid.Points();
        var product = conversion.Aggregate(1, (n, a) => n * a.Values.Count);
        if (points.Count != product) throw new XunitException($"{g}: {points.Count} points, product of the conversion axes {product}");
        if (grid.Size != g.Axes.Fold(1L, (n, a) => n * a.Values.Count)) throw new XunitException($"{g}: size {grid.Size}");
        var got = points.Map(p => p.Settings.IsEmpty ? "" : p.Label).ToList();
        if (!got.SequenceEqual(want)) throw new XunitException($"{g}: points {string.Join(" / ", got)}, expected {string.Join(" / ", want)}");
        if (!points.Map(p => p.Index).SequenceEqual(Enumerable.Range(0, product))) throw new XunitException($"{g}: indices out of order");
        var steps = g.Axes.Find(a => a.Name == SweepGrid.Steps).Map(a => a.Values.Map(int.Parse).Order().ToArray()).IfNone([SweepGrid.DefaultSteps]);
        if (!grid.Checkpoints.SequenceEqual(steps)) throw new XunitException($"{g}: checkpoints {string.Join(",", grid.Checkpoints)}");
    }

    [Property(MaxTest = 300)]
    public void Units_tile_every_points_samples_in_order(PositiveInt points, PositiveInt samples, PositiveInt shard)
    {
        var (p, n, s) = (points.Get % 20 + 1, samples.Get % 5000 + 1, shard.Get % 700 + 1);
        var units = Sweep.Units(p, n, s);
        var shards = (n + s - 1) / s;
        if (units.Count != p * shards) throw new XunitException($"{p} points, {n} samples, shards of {s}: {units.Count} units");
        for (var k = 0; k < units.Count; k++)
        {
            var u = units[k];
            var expected = new SweepUnit(k / shards, k % shards, k % shards * s, Math.Min(s, n - k % shards * s));
            if (u != expected || u.Count <= 0) throw new XunitException($"unit {k}: {u}, expected {expected}");
        }
    }

    [Property(MaxTest = 200)]
    public void Any_split_in_any_order_merges_to_the_unsplit_bytes(MergeCase m, int splitSeed)
    {
        var unsplit = Enumerable.Range(0, m.Points).Select(p => m.Unit(p, 0, 0, m.Samples));
        var reference = Sweep.Merge(m.Job, unsplit).Match(Sweep.Json, e => throw new XunitException($"{m}: unsplit: {e.Message}"));

        // Random cuts per point, every unit written to its file and read back, all of them shuffled.
        var r = new System.Random(splitSeed);
        var units = new List<SweepUnitResult>();
        for (var p = 0; p < m.Points; p++)
        {
            var cuts = Enumerable.Range(1, m.Samples - 1).Where(_ => r.Next(3) == 0).Prepend(0).Append(m.Samples).ToList();
            for (var k = 0; k + 1 < cuts.Count; k++) units.Add(m.Unit(p, k, cuts[k], cuts[k + 1] - cuts[k]));
        }
        var read = units.Select(u => Sweep.ReadUnit(Sweep.UnitJson(u)).IfNone(() => throw new XunitException($"{m}: unit {u.Unit} does not read back"))).OrderBy(_ => r.Next()).ToList();
        var merged = Sweep.Merge(m.Job, read).Match(Sweep.Json, e => throw new XunitException($"{m}: split: {e.Message}"));
        if (merged != reference)
            throw new XunitException($"{m}, split seed {splitSeed}: {units.Count} units merge to other bytes:\n{merged}\nunsplit:\n{reference}");

        // The layout Units gives for a shard size, too; and a missing unit is an error, not a smaller sweep.
        var size = r.Next(1, m.Samples + 1);
        var planned = Sweep.Units(m.Points, m.Samples, size).Map(u => m.Unit(u.Point, u.Shard, u.Start, u.Count)).Reverse().ToList();
        if (Sweep.Merge(m.Job, planned).Match(Sweep.Json, e => e.Message) != reference) throw new XunitException($"{m}: shards of {size} merge to other bytes");
        if (read.Count > 1 && Sweep.Merge(m.Job, read.Skip(1)).IsRight) throw new XunitException($"{m}: a merge without unit {read[0].Unit} succeeded");
    }
}
