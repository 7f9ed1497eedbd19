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
        var args = new List<string> { "predict", Path.Combine(dir, "model.json"), "--output", outDir, "--mode", mode };
        foreach (var i in inputs) args.AddRange(new[] { "--input", i });
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
}
