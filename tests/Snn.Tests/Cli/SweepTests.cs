using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Cli;

/// <summary>
/// <c>snn sweep</c>: every grid point's accuracy at every step count is what <c>snn evaluate</c> (an independent front
/// door: its own run to the largest step count, unsplit) reports for the same options; sweep.json, sweep.csv and
/// sweep.html agree; a restart or another split into shards gives the same bytes; another sweep's folder and bad grids
/// are refused as usage errors.
/// </summary>
public class SweepTests
{
    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    static readonly string Demo = Path.Combine(TestModels.RepoRoot, "src", "Snn", "Demo");
    static readonly string Cnn = Path.Combine(Demo, "fashion-cnn", "model.json");

    /// <summary>The first <paramref name="n"/> bundled test images (uint8, as the CLI reads them with --input-scale 1/255), their labels, and 50 other images to calibrate on.</summary>
    static (string X, string Y, string C) DemoData(string dir, int n)
    {
        var x = Npy.Read(Path.Combine(Demo, "fashion-mnist-1000", "x.npy")).Ok();
        var paths = (Path.Combine(dir, "x.npy"), Path.Combine(dir, "y.npy"), Path.Combine(dir, "c.npy"));
        Npy.WriteFloat32(paths.Item1, x.Rows(0, n));
        Npy.WriteFloat32(paths.Item2, Npy.Read(Path.Combine(Demo, "fashion-mnist-1000", "y.npy")).Ok().Rows(0, n));
        Npy.WriteFloat32(paths.Item3, x.Rows(500, 50));
        return paths;
    }

    static string[] Sweep(string x, string y, string c, string grid, string dir, params string[] more) =>
        new[] { "sweep", Cnn, "--data", x, "--labels", y, "--input-scale", "1/255", "--calibrate", c, "--grid", grid, "--out", dir }.Concat(more).ToArray();

    static JsonObject Read(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    /// <summary>The Pareto front by its definition: no other row at least as accurate, with at most as many steps and at most as much energy, better in one.</summary>
    static bool[] Front(List<(double Acc, int Steps, double Energy)> rows) =>
        rows.Select(r => !rows.Any(o => o.Acc >= r.Acc && o.Steps <= r.Steps && o.Energy <= r.Energy &&
                                        (o.Acc > r.Acc || o.Steps < r.Steps || o.Energy < r.Energy))).ToArray();

    [Fact]
    public void EveryPointMatchesEvaluateAndTheOutputsAgree()
    {
        var dir = TempDir();
        var (x, y, c) = DemoData(dir, 60);
        var outDir = Path.Combine(dir, "sweep");
        const string grid = "steps=2,4,8; percentile=99,99.9; neuron=signed,if; bias-shift=off,on";
        var (code, output, err) = CliRunner.Run(Sweep(x, y, c, grid, outDir, "--shard-size", "25"));
        Assert.True(code == 0, err);
        Assert.Contains("sweep.json", output);
        foreach (var f in new[] { "sweep.json", "sweep.csv", "sweep.html", "sweep-id.json" }) Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        Assert.Equal(8 * 3, Directory.GetFiles(Path.Combine(outDir, "units"), "*.json").Length);   // 8 points × shards of 25, 25, 10

        var json = Read(Path.Combine(outDir, "sweep.json"));
        Assert.Equal(60, (int)json["samples"]!);
        var points = json["points"]!.AsArray();
        Assert.Equal(8, points.Count);

        // Each point against snn evaluate with the same options (the axes as options), spiking to 8 steps read at 2, 4, 8.
        foreach (var p in points)
        {
            var settings = p!["settings"]!.AsObject();
            var options = settings.SelectMany(s => s.Key == "bias-shift"
                ? ((string)s.Value! == "on" ? new[] { "--bias-shift" } : [])
                : new[] { "--" + s.Key, (string)s.Value! }).ToArray();
            var (ec, eo, ee) = CliRunner.Run(new[] { "evaluate", Cnn, "--data", x, "--labels", y, "--input-scale", "1/255", "--calibrate", c, "--mode", "spiking",
                "--steps", "8", "--checkpoints", "2,4,8", "--json" }.Concat(options).ToArray());
            Assert.True(ec == 0, ee);
            using var e = JsonDocument.Parse(eo);
            var expected = e.RootElement.GetProperty("spiking_by_steps").EnumerateArray().Select(s => (s.GetProperty("steps").GetInt32(), s.GetProperty("accuracy").GetDouble())).ToList();
            var results = p["results"]!.AsArray();
            Assert.Equal(expected.Select(s => s.Item1), results.Select(r => (int)r!["steps"]!));
            for (var k = 0; k < expected.Count; k++)
            {
                var r = results[k]!;
                Assert.Equal(expected[k].Item2, Math.Round((double)r["accuracy"]!, 6));   // evaluate prints 6 decimals
                Assert.Equal((long)r["correct"]!, (long)Math.Round((double)r["accuracy"]! * 60));
            }
            // Operations at the run's steps and the firing statistics: the same counts, summed over shards instead of at once.
            var ops = e.RootElement.GetProperty("operations");
            var last = results[^1]!;
            Assert.Equal(ops.GetProperty("synaptic_accumulates").GetDouble(), (double)last["synaptic_accumulates"]!, 1e-9 * ops.GetProperty("synaptic_accumulates").GetDouble());
            Assert.Equal(ops.GetProperty("analog_macs").GetDouble(), (double)last["analog_macs"]!);
            Assert.Equal(ops.GetProperty("snn_energy_uj").GetDouble(), (double)last["snn_energy_uj"]!, 1e-9 * ops.GetProperty("snn_energy_uj").GetDouble());
            var layers = e.RootElement.GetProperty("layers").EnumerateArray().ToList();
            var mine = p["layers"]!.AsArray();
            Assert.Equal(layers.Count, mine.Count);
            for (var l = 0; l < layers.Count; l++)
            {
                Assert.Equal(layers[l].GetProperty("layer").GetString(), (string)mine[l]!["layer"]!);
                Assert.Equal(layers[l].GetProperty("mean_spikes_per_step").GetDouble(), (double)mine[l]!["mean_spikes_per_step"]!, 1e-12);
                Assert.Equal(layers[l].GetProperty("fraction_silent").GetDouble(), (double)mine[l]!["fraction_silent"]!, 1e-12);
            }
            // Fewer steps cost less energy: the per-step-count spikes are counted, not scaled.
            var energies = results.Select(r => (double)r!["snn_energy_uj"]!).ToList();
            Assert.True(energies.SequenceEqual(energies.Order()) && energies[0] < energies[^1], string.Join(", ", energies));
        }

        // The Pareto flags by the definition, over every point and step count.
        var rows = points.SelectMany(p => p!["results"]!.AsArray().Select(r => ((double)r!["accuracy"]!, (int)r["steps"]!, (double)r["snn_energy_uj"]!))).ToList();
        var flags = points.SelectMany(p => p!["results"]!.AsArray().Select(r => (bool)r!["pareto"]!)).ToArray();
        Assert.Equal(Front(rows), flags);
        Assert.Contains(true, flags);

        // sweep.csv: a row per point and step count with the JSON's values.
        var csv = File.ReadAllLines(Path.Combine(outDir, "sweep.csv"));
        var header = csv[0].Split(',');
        Assert.Equal(["point", "percentile", "neuron", "bias-shift", "steps"], header.Take(5));
        Assert.Equal(24, csv.Length - 1);
        var i = 0;
        foreach (var p in points)
            foreach (var r in p!["results"]!.AsArray())
            {
                var cells = csv[++i].Split(',');
                string Cell(string name) => cells[Array.IndexOf(header, name)];
                Assert.Equal((int)p["point"]!, int.Parse(Cell("point"), CultureInfo.InvariantCulture));
                Assert.Equal((string)p["settings"]!["neuron"]!, Cell("neuron"));
                Assert.Equal((int)r!["steps"]!, int.Parse(Cell("steps"), CultureInfo.InvariantCulture));
                Assert.Equal((long)r["correct"]!, long.Parse(Cell("correct"), CultureInfo.InvariantCulture));
                Assert.Equal((double)r["accuracy"]!, double.Parse(Cell("accuracy"), CultureInfo.InvariantCulture));
                Assert.Equal((double)r["snn_energy_uj"]!, double.Parse(Cell("snn_energy_uj"), CultureInfo.InvariantCulture));
                Assert.Equal((bool)r["pareto"]! ? "true" : "false", Cell("pareto"));
            }

        // sweep.html: self-contained, embeds exactly sweep.json, and shows the front.
        var html = File.ReadAllText(Path.Combine(outDir, "sweep.html"));
        ReportTests.SelfContained(html);
        var embedded = System.Text.RegularExpressions.Regex.Match(html, "<script type=\"application/json\" id=\"sweep-data\">(.*?)</script>", System.Text.RegularExpressions.RegexOptions.Singleline);
        Assert.True(embedded.Success);
        Assert.True(JsonNode.DeepEquals(json, JsonNode.Parse(embedded.Groups[1].Value)));
        Assert.Contains("Pareto front", ReportTests.VisibleText(html));
    }

    /// <summary>
    /// A sweep run again after some unit files are deleted (and one damaged) runs only those and writes the same
    /// sweep.json bytes; the same sweep in one shard per point gives the same bytes too (the merge sums whole counts in a
    /// fixed order).
    /// </summary>
    [Fact]
    public void RestartAndAnotherSplitGiveTheSameBytes()
    {
        var dir = TempDir();
        var (x, y, c) = DemoData(dir, 50);
        var outDir = Path.Combine(dir, "sweep");
        const string grid = "steps=3,6; neuron=signed,if; percentile=99,99.9";
        var (code, _, err) = CliRunner.Run(Sweep(x, y, c, grid, outDir, "--shard-size", "20"));
        Assert.True(code == 0, err);
        var first = File.ReadAllBytes(Path.Combine(outDir, "sweep.json"));
        var units = Directory.GetFiles(Path.Combine(outDir, "units")).Order().ToList();
        Assert.Equal(4 * 3, units.Count);
        foreach (var u in new[] { units[0], units[4], units[11] }) File.Delete(u);
        File.WriteAllText(units[7], "{\"format\": \"snn-sweep-unit 1\", \"point\":");   // damaged: run again
        File.Delete(Path.Combine(outDir, "sweep.json"));

        (code, _, err) = CliRunner.Run(Sweep(x, y, c, grid, outDir, "--shard-size", "20", "--progress"));
        Assert.True(code == 0, err);
        Assert.Contains("(8 from before)", err);
        Assert.Equal(first, File.ReadAllBytes(Path.Combine(outDir, "sweep.json")));
        Assert.Equal(4 * 3, Directory.GetFiles(Path.Combine(outDir, "units")).Length);   // no temporary files left

        var whole = Path.Combine(dir, "whole");
        (code, _, err) = CliRunner.Run(Sweep(x, y, c, grid, whole, "--shard-size", "50", "--threads", "1"));
        Assert.True(code == 0, err);
        Assert.Single(Directory.GetFiles(Path.Combine(whole, "units"), "p0000-*"));
        Assert.Equal(first, File.ReadAllBytes(Path.Combine(whole, "sweep.json")));
    }

    /// <summary>
    /// A worker given the job (the folder's sweep-id.json) and one unit computes the unit file the local sweep wrote, byte
    /// for byte; a job whose files changed since (another labels file under the same path) is refused.
    /// </summary>
    [Fact]
    public void AWorkerRunsOneUnitFromTheJobAsTheLocalSweepDid()
    {
        var dir = TempDir();
        var (x, y, c) = DemoData(dir, 30);
        var outDir = Path.Combine(dir, "sweep");
        var (code, _, err) = CliRunner.Run(Sweep(x, y, c, "steps=2,5; neuron=signed,if", outDir, "--shard-size", "12"));
        Assert.True(code == 0, err);
        var (job, shardSize) = Snn.Sweep.ReadJob(File.ReadAllText(Path.Combine(outDir, "sweep-id.json"))).IfNone(() => throw new Xunit.Sdk.XunitException("no job"));
        Assert.Equal(12, shardSize);
        var unit = Snn.Sweep.Units(2, 30, shardSize)[4];   // point 1, samples 12..23
        Assert.Equal(new SweepUnit(1, 1, 12, 12), Snn.Sweep.Units(2, 30, shardSize)[4]);
        var worked = Snn.Cli.SweepCommand.Worker(job, unit, 1, TextWriter.Null).Match(u => u, e => throw new Xunit.Sdk.XunitException(e.Message));
        Assert.Equal(File.ReadAllText(Path.Combine(outDir, "units", unit.FileName)), Snn.Sweep.UnitJson(worked));

        Npy.WriteFloat32(y, Tensor.Vector(Enumerable.Range(0, 30).Select(i => (float)(i % 10)).ToArray()));
        var refused = Snn.Cli.SweepCommand.Worker(job, unit, 1, TextWriter.Null);
        Assert.True(refused.IsLeft);
        Assert.Contains("are not the sweep's", refused.Match(_ => "", e => e.Message));
    }

    /// <summary>The max-pool methods as an axis on a max-pooling fixture: each point as evaluate gives it (random inputs, the ANN's classes as labels).</summary>
    [Fact]
    public void MaxPoolAxisMatchesEvaluate()
    {
        var dir = TempDir();
        var model = TestModels.Fixture("tfjs", "maxpool", "model.json");
        var rng = new Random(7);
        var x = Path.Combine(dir, "x.npy");
        var y = Path.Combine(dir, "y.npy");
        Npy.WriteFloat32(x, Tensor.Own(new[] { 40, 7, 7, 3 }, Enumerable.Range(0, 40 * 7 * 7 * 3).Select(_ => (float)rng.NextDouble()).ToArray()));
        // Labels: the ANN's classes (the Keras reference evaluator's), so that accuracy is agreement with it.
        var (pc, _, pe) = CliRunner.Run("predict", model, "--input", x, "--output", Path.Combine(dir, "ann"), "--mode", "keras");
        Assert.True(pc == 0, pe);
        ReportTests.LabelsFrom(Path.Combine(dir, "ann", "output_0.npy"), dir);
        File.Move(Path.Combine(dir, "labels.npy"), y);
        var outDir = Path.Combine(dir, "sweep");
        var (code, _, err) = CliRunner.Run("sweep", model, "--data", x, "--labels", y, "--scale-firing-rates", "30", "--out", outDir, "--shard-size", "15",
            "--grid", "max-pool=count,gate,pre,avg; steps=5,10");
        Assert.True(code == 0, err);
        var points = Read(Path.Combine(outDir, "sweep.json"))["points"]!.AsArray();
        Assert.Equal(["count", "gate", "pre", "avg"], points.Select(p => (string)p!["settings"]!["max-pool"]!));
        var distinct = new HashSet<string>();
        foreach (var p in points)
        {
            var (ec, eo, ee) = CliRunner.Run("evaluate", model, "--data", x, "--labels", y, "--scale-firing-rates", "30", "--max-pool", (string)p!["settings"]!["max-pool"]!,
                "--mode", "spiking", "--steps", "10", "--checkpoints", "5,10", "--json");
            Assert.True(ec == 0, ee);
            var expected = JsonDocument.Parse(eo).RootElement.GetProperty("spiking_by_steps").EnumerateArray().Select(s => s.GetProperty("accuracy").GetDouble()).ToList();
            var mine = p["results"]!.AsArray().Select(r => Math.Round((double)r!["accuracy"]!, 6)).ToList();
            Assert.Equal(expected, mine);
            distinct.Add(p["results"]!.ToJsonString());
        }
        Assert.True(distinct.Count > 1, "every max-pool method gave the same results: the axis did not reach the conversion");
    }

    [Fact]
    public void AnotherSweepsFolderIsRefused()
    {
        var dir = TempDir();
        var (x, y, c) = DemoData(dir, 20);
        var outDir = Path.Combine(dir, "sweep");
        var (code, _, err) = CliRunner.Run(Sweep(x, y, c, "steps=2,4", outDir));
        Assert.True(code == 0, err);

        // Another grid, other labels, another shard size: refused, nothing written.
        var before = Directory.GetFiles(outDir, "*", SearchOption.AllDirectories).ToDictionary(f => f, File.ReadAllBytes);
        (code, _, err) = CliRunner.Run(Sweep(x, y, c, "steps=2,8", outDir));
        Assert.Equal(2, code);
        Assert.Contains("holds another sweep", err);
        var y2 = Path.Combine(dir, "y2.npy");
        Npy.WriteFloat32(y2, Tensor.Vector(Enumerable.Range(0, 20).Select(i => (float)(i % 10)).ToArray()));
        (code, _, err) = CliRunner.Run(Sweep(x, y2, c, "steps=2,4", outDir));
        Assert.Equal(2, code);
        Assert.Contains("holds another sweep", err);
        (code, _, err) = CliRunner.Run(Sweep(x, y, c, "steps=2,4", outDir, "--shard-size", "7"));
        Assert.Equal(2, code);
        Assert.Contains("--shard-size 1000", err);
        Assert.Equal(before.Keys.Order(), Directory.GetFiles(outDir, "*", SearchOption.AllDirectories).Order());
        Assert.All(before, kv => Assert.Equal(kv.Value, File.ReadAllBytes(kv.Key)));

        // A folder with other files, and a file.
        var other = Path.Combine(dir, "other");
        Directory.CreateDirectory(other);
        File.WriteAllText(Path.Combine(other, "notes.txt"), "mine");
        (code, _, err) = CliRunner.Run(Sweep(x, y, c, "steps=2,4", other));
        Assert.Equal(2, code);
        Assert.Contains("holds files but no sweep", err);
        (code, _, err) = CliRunner.Run(Sweep(x, y, c, "steps=2,4", Path.Combine(other, "notes.txt")));
        Assert.Equal(2, code);
        Assert.Contains("is a file", err);
    }

    [Theory]
    [InlineData(" ; ", "--grid is empty")]
    [InlineData("steps", "has no values")]
    [InlineData("speed=1,2", "unknown axis 'speed'")]
    [InlineData("calibrate=a.npy,b.npy", "unknown axis 'calibrate'")]
    [InlineData("steps=2; steps=4", "given twice")]
    [InlineData("percentile=", "empty value")]
    [InlineData("percentile=99,,99.9", "empty value")]
    [InlineData("neuron=if,if", "lists 'if' twice")]
    [InlineData("steps=0,4", "positive integers")]
    [InlineData("steps=2,02", "lists 2 twice")]
    [InlineData("neuron=signed,quantum", "--neuron expects signed, if or nengo, got 'quantum'")]
    [InlineData("percentile=99,abc", "--percentile expects a finite number, got 'abc'")]
    [InlineData("bias-shift=yes,no", "values are on and off")]
    [InlineData("seed=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31; dt=0.001,0.002,0.003,0.004,0.005,0.006,0.007,0.008,0.009,0.01,0.011,0.012,0.013,0.014,0.015,0.016,0.017,0.018,0.019,0.02,0.021,0.022,0.023,0.024,0.025,0.026,0.027,0.028,0.029,0.03,0.031,0.032", "at most 1000")]
    public void BadGridsAreUsageErrors(string grid, string message)
    {
        var dir = TempDir();
        var (x, y, c) = DemoData(dir, 5);
        var (code, output, err) = CliRunner.Run(Sweep(x, y, c, grid, Path.Combine(dir, "sweep")));
        Assert.Equal(2, code);
        Assert.Contains(message, err);
        Assert.Equal("", output);
        Assert.False(Directory.Exists(Path.Combine(dir, "sweep")));
    }

    [Fact]
    public void CalibrationAxesNeedCalibrationDataAndAnAxisIsNotAlsoAnOption()
    {
        var dir = TempDir();
        var (x, y, _) = DemoData(dir, 5);
        var (code, _, err) = CliRunner.Run("sweep", Cnn, "--data", x, "--labels", y, "--grid", "percentile=99,99.9", "--out", Path.Combine(dir, "a"));
        Assert.Equal(2, code);
        Assert.Contains("give --calibrate", err);
        (code, _, err) = CliRunner.Run("sweep", Cnn, "--data", x, "--labels", y, "--neuron", "if", "--grid", "neuron=if,nengo", "--out", Path.Combine(dir, "b"));
        Assert.Equal(2, code);
        Assert.Contains("--neuron is given as an option and as a grid axis", err);
        (code, _, err) = CliRunner.Run("sweep", Cnn, "--data", x, "--grid", "steps=2", "--out", Path.Combine(dir, "c"));
        Assert.Equal(2, code);
        Assert.Contains("sweep needs --labels", err);
    }
}
