using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Cli;

/// <summary>Every documented exit code, with a clear one-paragraph message and never a stack trace.</summary>
public class ExitCodeTests
{
    static readonly string Mlp = TestModels.Fixture("tfjs", "dense_mlp", "model.json");
    static readonly string MlpInput = TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy");

    static string Temp(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }

    static void NoStackTrace(string err)
    {
        Assert.DoesNotContain("   at ", err);
        Assert.StartsWith("error: ", err);
    }

    [Fact]
    public void VerifyPassesWithExitZero()
    {
        var (code, output, err) = CliRunner.Run("verify", Mlp);
        Assert.True(code == 0, err);
        Assert.Contains("matches", output);
    }

    [Fact]
    public void VerifyFailsWithExitOneWhenOutputsDiffer()
    {
        // Firing-rate scaling on a sigmoid changes the output (NengoDL test_scale_firing_rates), so verify must fail.
        var model = TestModels.Fixture("tfjs", "activations", "model.json");
        var (code, output, err) = CliRunner.Run("verify", model, "--scale-firing-rates", "5");
        Assert.Equal(1, code);
        Assert.Contains("does not match", output);
        Assert.Contains("does not support amplitude", err);
    }

    [Theory]
    [InlineData("")]
    [InlineData("frobnicate")]
    [InlineData("predict")]
    [InlineData("predict m.json --bogus")]
    [InlineData("evaluate m.json --steps zero")]
    [InlineData("evaluate m.json --mode quantum")]
    [InlineData("inspect m.json --swap relu")]
    [InlineData("inspect m.json --synapse -1")]
    [InlineData("inspect m.json --neuron signed --reset zero")]
    [InlineData("inspect m.json --neuron lif")]
    [InlineData("inspect m.json --calibrate x.npy --per-channel --per-layer")]
    public void UsageErrorsExitTwo(string line)
    {
        var args = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var (code, _, err) = CliRunner.Run(args);
        Assert.Equal(2, code);
        if (args.Length > 0) NoStackTrace(err);
    }

    [Fact]
    public void MissingModelExitsThree()
    {
        var (code, _, err) = CliRunner.Run("inspect", "/nonexistent/model.json");
        Assert.Equal(3, code);
        NoStackTrace(err);
        Assert.Contains("not found", err);
    }

    [Fact]
    public void MalformedJsonExitsThree()
    {
        var path = Temp("model.json");
        File.WriteAllText(path, "{\"modelTopology\": {\"class_name\": ");
        var (code, _, err) = CliRunner.Run("inspect", path);
        Assert.Equal(3, code);
        NoStackTrace(err);
        Assert.Contains("not valid JSON", err);
    }

    [Fact]
    public void UnknownLayersAreAllListedAndExitThree()
    {
        var json = File.ReadAllText(Mlp).Replace("\"class_name\": \"Flatten\"", "\"class_name\": \"Frobnicate\"")
                                       .Replace("\"class_name\":\"Flatten\"", "\"class_name\":\"Frobnicate\"");
        Assert.Contains("Frobnicate", json);
        var path = Temp("model.json");
        File.WriteAllText(path, json);
        File.Copy(TestModels.Fixture("tfjs", "dense_mlp", "weights.bin"), Path.Combine(Path.GetDirectoryName(path)!, "weights.bin"));
        var (code, _, err) = CliRunner.Run("inspect", path, "--no-fallback");
        Assert.Equal(3, code);
        NoStackTrace(err);
        Assert.Contains("Frobnicate does not have a registered converter", err);
    }

    [Fact]
    public void TruncatedNpyExitsFour()
    {
        var bytes = File.ReadAllBytes(MlpInput);
        var path = Temp("x.npy");
        File.WriteAllBytes(path, bytes[..(bytes.Length - 5)]);
        var (code, _, err) = CliRunner.Run("predict", Mlp, "--input", path, "--output", Temp("out"));
        Assert.Equal(4, code);
        NoStackTrace(err);
        Assert.Contains("truncated", err);
    }

    [Fact]
    public void ShapeMismatchExitsFour()
    {
        var path = Temp("x.npy");
        Npy.WriteFloat32(path, Tensor.Filled(new[] { 3, 5 }, 1f));
        var (code, _, err) = CliRunner.Run("predict", Mlp, "--input", path, "--output", Temp("out"));
        Assert.Equal(4, code);
        NoStackTrace(err);
        Assert.Contains("does not fit the model input", err);
    }

    [Fact]
    public void MissingLabelsFileExitsFour()
    {
        var (code, _, err) = CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--labels", "/nonexistent/y.npy", "--mode", "keras");
        Assert.Equal(4, code);
        NoStackTrace(err);
    }

    [Fact]
    public void InspectJsonListsEveryLayer()
    {
        var (code, output, err) = CliRunner.Run("inspect", TestModels.Fixture("tfjs", "batchnorm", "model.json"), "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var layers = doc.RootElement.GetProperty("layers").EnumerateArray().ToList();
        Assert.Contains(layers, l => l.GetProperty("class").GetString() == "BatchNormalization" && l.GetProperty("conversion").GetString() == "folded");
        Assert.All(layers, l => Assert.Contains(l.GetProperty("conversion").GetString(), new[] { "native", "folded", "removed", "fallback" }));
        Assert.Contains(layers, l => l.GetProperty("neurons").GetInt32() > 0);
    }

    [Fact]
    public void EvaluateJsonReportsEveryMode()
    {
        var labels = Temp("y.npy");
        Npy.WriteFloat32(labels, Tensor.Vector(0, 1, 2));
        var (code, output, err) = CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--labels", labels, "--json", "--steps", "4");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var root = doc.RootElement;
        foreach (var key in new[] { "keras_accuracy", "rate_accuracy", "spiking_accuracy" })
            Assert.InRange(root.GetProperty(key).GetDouble(), 0, 1);
        Assert.Equal(4, root.GetProperty("steps").GetInt32());
        Assert.Equal(3, root.GetProperty("n").GetInt32());
        // Rate mode is the same function as the ANN, so it classifies the same way.
        Assert.Equal(root.GetProperty("keras_accuracy").GetDouble(), root.GetProperty("rate_accuracy").GetDouble());
    }
}
