using System.Diagnostics;
using System.Text.Json;
using Snn.Compiler.Hdf5;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Tests.Hdf5;

/// <summary>
/// Reads the real Keras files in ../shared/models/real (legacy .h5 and the model.weights.h5 inside .keras zips)
/// completely and compares per-file totals with tests/fixtures/hdf5/real_models.json (written by h5py in
/// generate.py). Skipped, with a message, when the shared folder is absent.
/// </summary>
public sealed class H5RealModelTests(ITestOutputHelper output)
{
    [Fact]
    public void Real_keras_files_read_completely_and_match_h5py_totals()
    {
        var files = H5TestSupport.RealFiles();
        if (files.Count == 0)
        {
            output.WriteLine("SKIPPED: no ../shared/models/real next to the repository");
            return;
        }
        var oraclePath = H5TestSupport.FixturePath("real_models.json");
        using var oracle = File.Exists(oraclePath) ? JsonDocument.Parse(File.ReadAllText(oraclePath)) : null;
        foreach (var (name, bytes) in files)
        {
            var sw = Stopwatch.StartNew();
            var file = H5File.Open(bytes, name).Ok();
            var totals = new Totals();
            Visit(file.Root, totals, []);
            var walk = H5Walk.Run(bytes, name);
            Assert.True(walk.Errors.Count == 0, name + ": " + string.Join("\n", walk.Errors.Select(e => e.Message)));
            Assert.True(totals.Datasets > 0, name + " has no datasets");
            output.WriteLine($"{name}: {totals.Datasets} datasets, {totals.Elements} values, {walk.Attributes} attributes, {sw.ElapsedMilliseconds} ms");

            if (oracle is not null && oracle.RootElement.TryGetProperty(name.Replace('\\', '/'), out var expected))
            {
                Assert.Equal(expected.GetProperty("datasets").GetInt32(), totals.Datasets);
                Assert.Equal(expected.GetProperty("elements").GetInt64(), totals.Elements);
                AssertClose(expected.GetProperty("sum").GetDouble(), totals.Sum, name + " sum");
                AssertClose(expected.GetProperty("sum_abs").GetDouble(), totals.SumAbs, name + " sum_abs");
                var first = expected.GetProperty("first");
                var ds = file.Root.Dataset(first.GetProperty("path").GetString()!).Ok().Some("first dataset");
                Assert.Equal(first.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray(), ds.Shape().Ok());
                var attrs = expected.GetProperty("root_attrs").EnumerateArray().Select(x => x.GetString()!).ToArray();
                Assert.Equal(attrs, file.Root.AttributeNames().Ok().ToArray());
            }
            else
            {
                output.WriteLine($"  (no h5py totals for {name}; rerun generate.py)");
            }

            if (!name.Contains("!model.weights.h5")) CheckLegacyKerasLayout(file, name);
        }
    }

    /// <summary>What the Keras legacy loader does: JSON config attributes, then layer_names -> weight_names -> datasets.</summary>
    private void CheckLegacyKerasLayout(H5File file, string name)
    {
        var config = file.Root.Attribute("model_config").Ok().Some(name + " model_config").ReadString().Ok();
        using (var doc = JsonDocument.Parse(config))
            Assert.True(doc.RootElement.TryGetProperty("class_name", out _), name + ": model_config has no class_name");
        Assert.False(string.IsNullOrEmpty(file.Root.Attribute("keras_version").Ok().Some("keras_version").ReadString().Ok()));
        var weights = file.Root.Group("model_weights").Ok().Some(name + " /model_weights");
        var layers = weights.Attribute("layer_names").Ok().Some("layer_names").ReadStrings().Ok();
        Assert.NotEmpty(layers);
        int resolved = 0;
        foreach (var layer in layers)
        {
            var g = weights.Group(layer).Ok().Some($"{name} layer {layer}");
            foreach (var wn in g.Attribute("weight_names").Ok().Some($"{layer} weight_names").ReadStrings().Ok())
            {
                var ds = g.Dataset(wn).Ok().Some($"{name}: {layer}/{wn}");
                var shape = ds.Shape().Ok();
                var values = ds.ReadFloat32().Ok();
                Assert.Equal(shape.Aggregate(1L, (a, b) => a * b), values.LongLength);
                Assert.All(values, v => Assert.True(float.IsFinite(v)));
                resolved++;
            }
        }
        Assert.True(resolved > 0, name + ": no weights resolved through weight_names");
        output.WriteLine($"  {layers.Count} layers, {resolved} weights resolved via weight_names");
    }

    private sealed class Totals
    {
        public int Datasets;
        public long Elements;
        public double Sum;
        public double SumAbs;
    }

    private static void Visit(H5Group g, Totals t, HashSet<long> seen)
    {
        if (!seen.Add(g.Address)) return;
        foreach (var name in g.ChildNames().Ok())
        {
            var child = g.Group(name).Ok();
            if (child.IsSome)
            {
                Visit(child.Some(name), t, seen);
                continue;
            }
            var ds = g.Dataset(name).Ok();
            if (ds.IsNone) continue;
            var d = ds.Some(name);
            if (!seen.Add(d.Address)) continue;
            var values = d.ReadFloat64().Ok();
            t.Datasets++;
            t.Elements += values.Length;
            foreach (var v in values)
            {
                t.Sum += v;
                t.SumAbs += Math.Abs(v);
            }
        }
    }

    private static void AssertClose(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"{what}: expected {expected:R}, got {actual:R}");
}
