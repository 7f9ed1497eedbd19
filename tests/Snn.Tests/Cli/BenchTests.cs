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
        Assert.True(r.GetProperty("peak_fma_gflops_one_thread").GetDouble() > 0);
        Assert.Equal("adaptive", r.GetProperty("connection_path").GetString());
        Assert.Equal(System.Text.Json.JsonValueKind.Array, r.GetProperty("connections").ValueKind);
    }

    /// <summary>Per connection: calls, GFLOP/s and, for spike inputs, the measured density, the samples per kernel and both kernels' times.</summary>
    [Theory]
    [InlineData("conv_valid_same", false)]
    [InlineData("dense_mlp", true)]
    public void BenchReportsEveryConnection(string fixture, bool spikeInput)
    {
        var dir = TestModels.Fixture("tfjs", fixture);
        var (code, output, err) = CliRunner.Run("bench", Path.Combine(dir, "model.json"), "--data", Path.Combine(dir, "input_0.npy"),
            "--steps", "5", "--batch", "3", "--threads", "1", "--scale-firing-rates", "500", "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var connections = doc.RootElement.GetProperty("connections").EnumerateArray().ToList();
        Assert.NotEmpty(connections);
        foreach (var c in connections)
        {
            Assert.Contains(c.GetProperty("op").GetString()!.Split(' ')[0], new[] { "ConvInc", "DotInc" });
            Assert.True(c.GetProperty("calls").GetInt64() > 0);
            Assert.True(c.GetProperty("gflops").GetDouble() >= 0);
            if (c.GetProperty("spike_input").GetBoolean())
            {
                Assert.Equal(3 * 5, c.GetProperty("event_samples").GetInt64() + c.GetProperty("dense_samples").GetInt64());
                Assert.InRange(c.GetProperty("input_density").GetDouble(), 0, 1);
                Assert.True(c.GetProperty("dense_ms_per_step").GetDouble() >= 0);
                Assert.True(c.GetProperty("event_ms_per_step").GetDouble() >= 0);
            }
        }

        Assert.Equal(spikeInput, connections.Exists(c => c.GetProperty("spike_input").GetBoolean()));
    }

    [Fact]
    public void BenchForcesAConnectionPath()
    {
        var dir = TestModels.Fixture("tfjs", "maxpool");
        var (code, output, err) = CliRunner.Run("bench", Path.Combine(dir, "model.json"), "--data", Path.Combine(dir, "input_0.npy"),
            "--steps", "3", "--batch", "2", "--threads", "1", "--scale-firing-rates", "500", "--connection-path", "event", "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal("event", doc.RootElement.GetProperty("connection_path").GetString());
        Assert.Equal(2, CliRunner.Run("bench", Path.Combine(dir, "model.json"), "--connection-path", "sometimes").Code);
    }

    [Fact]
    public void BenchRefusesKerasMode() => Assert.Equal(2, CliRunner.Run("bench", "m.json", "--mode", "keras").Code);
}
