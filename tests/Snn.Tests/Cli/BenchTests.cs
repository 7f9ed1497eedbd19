using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Cli;

/// <summary>snn bench reports throughput, the operator breakdown, spike density and memory (values are machine-specific; only their presence and sanity are checked).</summary>
public class BenchTests
{
    [Fact]
    public void BenchJsonHasTheMeasurements()
    {
        var dir = TestModels.Fixture("tfjs", "maxpool");
        var (code, output, err) = CliRunner.Run("bench", Path.Combine(dir, "model.json"), "--data", Path.Combine(dir, "input_0.npy"),
            "--steps", "5", "--batch", "3", "--threads", "1", "--scale-firing-rates", "500", "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var r = doc.RootElement;
        Assert.True(r.GetProperty("image_steps_per_second").GetDouble() > 0);
        Assert.True(r.GetProperty("peak_fma_gflops").GetDouble() > 0);
        Assert.Equal("spiking", r.GetProperty("mode").GetString());
        Assert.NotEmpty(r.GetProperty("operators").EnumerateArray());
        Assert.True(r.GetProperty("arena_bytes").GetInt64() > 0);
    }

    [Fact]
    public void BenchRefusesKerasMode() => Assert.Equal(2, CliRunner.Run("bench", "m.json", "--mode", "keras").Code);
}
