using System.Text.Json;
using System.Text.Json.Nodes;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.RealModels;

/// <summary>
/// <c>snn sweep</c> on the real Fashion-CNN (.keras, max pooling), calibrated on ../shared's calibration images: every
/// point (max-pool method × neuron), split into shards, gives at every step count the accuracy <c>snn evaluate</c> gives
/// for the same options in one run.
/// </summary>
[Trait("Category", "Slow")]
public class RealModelSweepTests
{
    [SharedFact]
    public void SweepOfTheFashionCnnMatchesEvaluate()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var data = Path.Combine(TestModels.Shared!, "data", "fashion-mnist");
        var model = Path.Combine(TestModels.Shared!, "models", "real", "Fashion-CNN", "fashion_mnist_cnn.keras");
        var (x, y) = (Path.Combine(dir, "x.npy"), Path.Combine(dir, "y.npy"));
        Npy.WriteFloat32(x, Npy.Read(Path.Combine(data, "x_test_nhwc_u8.npy")).Ok().Rows(0, 1000));
        Npy.WriteFloat32(y, Npy.Read(Path.Combine(data, "y_test.npy")).Ok().Rows(0, 1000));
        var calibration = Path.Combine(data, "x_calib_nhwc_u8.npy");
        var outDir = Path.Combine(dir, "sweep");
        var (code, _, err) = CliRunner.Run("sweep", model, "--data", x, "--labels", y, "--input-scale", "1/255", "--calibrate", calibration,
            "--grid", "steps=4,16; max-pool=count,avg; neuron=signed,if", "--shard-size", "400", "--out", outDir);
        Assert.True(code == 0, err);
        var points = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "sweep.json")))!["points"]!.AsArray();
        Assert.Equal(4, points.Count);
        foreach (var p in points)
        {
            var (ec, eo, ee) = CliRunner.Run("evaluate", model, "--data", x, "--labels", y, "--input-scale", "1/255", "--calibrate", calibration,
                "--max-pool", (string)p!["settings"]!["max-pool"]!, "--neuron", (string)p["settings"]!["neuron"]!,
                "--mode", "spiking", "--steps", "16", "--checkpoints", "4,16", "--json");
            Assert.True(ec == 0, ee);
            var expected = JsonDocument.Parse(eo).RootElement.GetProperty("spiking_by_steps").EnumerateArray().Select(s => s.GetProperty("accuracy").GetDouble());
            Assert.Equal(expected, p["results"]!.AsArray().Select(r => Math.Round((double)r!["accuracy"]!, 6)));
        }
    }
}
