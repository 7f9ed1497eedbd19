using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Fixtures;

/// <summary>
/// The CLI end to end on the committed TF.js fixtures: keras and rate mode must reproduce the
/// outputs TF.js computed (tests/fixtures/generator), within float32 noise between implementations.
/// </summary>
public class TfjsFixtureTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var dir in Directory.GetDirectories(TestModels.Fixture("tfjs")).OrderBy(d => d))
            foreach (var mode in new[] { "keras", "rate" })
                data.Add(Path.GetFileName(dir), mode);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void PredictMatchesTfjs(string name, string mode)
    {
        var dir = TestModels.Fixture("tfjs", name);
        var inputs = Directory.GetFiles(dir, "input_*.npy").OrderBy(p => p).ToArray();
        var expected = Directory.GetFiles(dir, "expected_*.npy").OrderBy(p => p).ToArray();
        Assert.NotEmpty(inputs);
        Assert.NotEmpty(expected);
        var outDir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        // NengoDL test_repeated_layers converts only with split_shared_weights; it changes nothing elsewhere.
        var args = new List<string> { "predict", Path.Combine(dir, "model.json"), "--output", outDir, "--mode", mode, "--split-shared-weights" };
        foreach (var i in inputs) args.AddRange(new[] { "--input", i });
        if (Temporal(dir)) args.Add("--temporal-model");
        var (code, _, err) = CliRunner.Run(args.ToArray());
        Assert.True(code == 0, err);
        for (var o = 0; o < expected.Length; o++)
        {
            var want = Npy.Read(expected[o]).Ok();
            var got = Npy.Read(Path.Combine(outDir, $"output_{o}.npy")).Ok();
            TestModels.Close(want, got);
        }
        Directory.Delete(outDir, recursive: true);
    }

    /// <summary>Models with TimeDistributed layers are temporal (NengoDL converts them only with temporal_model=True).</summary>
    static bool Temporal(string dir) => File.ReadAllText(Path.Combine(dir, "case.json")).Contains("\"TimeDistributed\"");

    public static TheoryData<string> Names()
    {
        var data = new TheoryData<string>();
        foreach (var dir in Directory.GetDirectories(TestModels.Fixture("tfjs")).OrderBy(d => d)) data.Add(Path.GetFileName(dir));
        return data;
    }

    /// <summary>Every case the generator marks native converts with zero fallback layers; the others fall back.</summary>
    [Theory]
    [MemberData(nameof(Names))]
    public void InspectReportsNativeConversion(string name)
    {
        var dir = TestModels.Fixture("tfjs", name);
        using var info = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "case.json")));
        var native = !info.RootElement.TryGetProperty("native", out var n) || n.GetBoolean();
        var (code, output, err) = Temporal(dir)
            ? CliRunner.Run("inspect", Path.Combine(dir, "model.json"), "--json", "--split-shared-weights", "--temporal-model")
            : CliRunner.Run("inspect", Path.Combine(dir, "model.json"), "--json", "--split-shared-weights");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var fallback = doc.RootElement.GetProperty("fallback_layers").GetInt32();
        if (native) Assert.Equal(0, fallback);
        else Assert.True(fallback > 0);
    }
}
