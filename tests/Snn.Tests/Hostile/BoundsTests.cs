using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Hostile;

/// <summary>
/// Values that used to slip through: an option value that is not a finite float (1/1e-300 is +inf as a float, and
/// reached the exported script as DT = np.inf), a mean readout over more steps than the run has (it allocated by K:
/// mean:200000000 ran out of memory), and an IDX file one byte short (its size check counted the header as data, and the
/// read failed inside the runtime). Each is now the documented usage (2) or data (4) error.
/// </summary>
public sealed class BoundsTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-bounds-").FullName;
    static readonly string Model = TestModels.Fixture("tfjs", "dense_mlp", "model.json");

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("--dt", "1/1e-300")]
    [InlineData("--synapse", "1e39")]
    [InlineData("--input-scale", "-1/1e-300")]
    public void Option_values_that_are_not_finite_floats_are_usage_errors(string option, string value)
    {
        var (code, _, err) = CliRunner.Run("evaluate", Model, "--data", TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy"), "--mode", "spiking", option, value);
        Assert.Equal(2, code);
        Assert.Contains($"{option} expects a", err);
        Assert.Contains($"'{value}'", err);
    }

    [Fact]
    public void A_mean_readout_over_more_steps_than_the_run_is_a_usage_error()
    {
        var (code, _, err) = CliRunner.Run("predict", Model, "--input", TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy"),
            "--output", Path.Combine(dir, "out"), "--mode", "spiking", "--steps", "4", "--readout", "mean:200000000");
        Assert.Equal(2, code);
        Assert.Contains("--readout mean:200000000 averages more steps than the run has (4)", err);
        Assert.False(Directory.Exists(Path.Combine(dir, "out")));
    }

    /// <summary>An IDX file (LeCun's format: 0, 0, type 0x08 = uint8, rank, big-endian dims, data) of 3 samples of 2×2.</summary>
    string Idx(int dataBytes)
    {
        var header = new byte[] { 0, 0, 0x08, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2 };
        var path = Path.Combine(dir, $"x{dataBytes}.idx3-ubyte");
        File.WriteAllBytes(path, header.Concat(Enumerable.Range(1, dataBytes).Select(i => (byte)i)).ToArray());
        return path;
    }

    [Fact]
    public void An_IDX_file_of_the_promised_size_is_read() =>
        Assert.Equal(0, CliRunner.Run("evaluate", Model, "--data", Idx(12), "--mode", "keras").Code);

    [Fact]
    public void An_IDX_file_one_byte_short_is_a_data_error()
    {
        var (code, _, err) = CliRunner.Run("evaluate", Model, "--data", Idx(11), "--mode", "keras");
        Assert.Equal(4, code);
        Assert.Contains("truncated", err);
        Assert.Contains("11 bytes after its 16-byte header", err);
    }

    [Theory]
    [InlineData("predict", "--output")]
    [InlineData("report", "--out")]
    [InlineData("convert", "--out")]
    public void An_empty_output_path_is_a_usage_error(string command, string option)
    {
        var data = TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy");
        var args = command switch
        {
            "predict" => new[] { command, Model, "--input", data, option, "" },
            "report" => new[] { command, Model, "--data", data, option, "" },
            _ => new[] { command, Model, option, "" },
        };
        var (code, _, err) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.Contains($"{option} is given an empty value", err);
    }
}
