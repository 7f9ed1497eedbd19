using System.Text.Json;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.RealModels;

/// <summary>
/// The deep labelled fixtures of tests/fixtures/deep (a VGG-style net of 11 Conv2D+BatchNormalization+ReLU layers and a
/// ResNet-20, Keras 2 legacy HDF5 files trained on Fashion-MNIST by tests/fixtures/deep/train.py with torch), against
/// torch as an independent oracle: `snn predict --mode keras` on the first 100 test images gives softmax of the logits
/// torch computed, and `snn evaluate --mode keras` on the full test set reproduces the accuracy torch measured
/// (accuracies.json). The test images come from ../shared.
/// </summary>
[Trait("Category", "Slow")]
public class DeepFixtureTests
{
    public static TheoryData<string> Fixtures() => new() { "vgg_fashion32", "resnet20_fashion32" };

    static string Deep(string file) => TestModels.Fixture("deep", file);
    static string Data(string file) => Path.Combine(TestModels.Shared!, "data", "fashion-mnist", file);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void FixtureFilesArePresentAndSmall(string name)
    {
        Assert.True(new FileInfo(Deep(name + ".h5")).Length < 2_500_000);
        var logits = Npy.Read(Deep(name + ".expected_first100.npy")).Ok();
        Assert.Equal(new[] { 100, 10 }, logits.Shape.ToArray());
        Assert.True(RecordedAccuracy(name) > 0.9);
    }

    [SharedTheory]
    [MemberData(nameof(Fixtures))]
    public void KerasModePredictionsMatchTorch(string name)
    {
        var all = Npy.Read(Data("x_test_nhwc_u8.npy")).Ok();
        Assert.Equal(new[] { 10000, 28, 28, 1 }, all.Shape.ToArray());
        var first = Tensor.Copy(new[] { 100, 28, 28, 1 }, all.Span[..(100 * 28 * 28)]);
        var dir = Path.Combine(Path.GetTempPath(), "snn-deep-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var input = Path.Combine(dir, "first100.npy");
            Npy.WriteFloat32(input, first);
            var (code, _, err) = CliRunner.Run("predict", Deep(name + ".h5"), "--input", input, "--output", Path.Combine(dir, "out"),
                "--mode", "keras", "--input-scale", "1/255");
            Assert.True(code == 0, err);
            var actual = Npy.Read(Path.Combine(dir, "out", "output_0.npy")).Ok();
            TestModels.Close(Softmax(Npy.Read(Deep(name + ".expected_first100.npy")).Ok()), actual, 1e-4f);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [SharedTheory]
    [MemberData(nameof(Fixtures))]
    public void KerasModeReproducesTorchAccuracy(string name)
    {
        var (code, output, err) = CliRunner.Run("evaluate", Deep(name + ".h5"), "--data", Data("x_test_nhwc_u8.npy"),
            "--labels", Data("y_test.npy"), "--input-scale", "1/255", "--mode", "keras", "--json", "--no-progress");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(10000, doc.RootElement.GetProperty("n").GetInt32());
        Assert.Equal(RecordedAccuracy(name), doc.RootElement.GetProperty("keras_accuracy").GetDouble(), 0.0001);
    }

    /// <summary>
    /// The deep-network issue's targets for these fixtures: with the calibrated defaults (calibration on x_calib, the
    /// 10,000 test images disjoint from it) the spiking network loses at most 0.5 points at 8 steps and 0.1 at 16
    /// against the ANN in the same run. The bars are the issue's.
    /// </summary>
    [SharedTheory]
    [MemberData(nameof(Fixtures))]
    public void DefaultCalibratedConversionMeetsTheDeepTargets(string name)
    {
        var (code, output, err) = CliRunner.Run("evaluate", Deep(name + ".h5"), "--data", Data("x_test_nhwc_u8.npy"),
            "--labels", Data("y_test.npy"), "--input-scale", "1/255", "--calibrate", Data("x_calib_nhwc_u8.npy"), "--mode", "all",
            "--steps", "16", "--checkpoints", "8,16", "--json", "--no-progress");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var root = doc.RootElement;
        var ann = root.GetProperty("keras_accuracy").GetDouble();
        Assert.Equal(RecordedAccuracy(name), ann, 0.0001);
        var byStep = root.GetProperty("spiking_by_steps").EnumerateArray()
            .ToDictionary(p => p.GetProperty("steps").GetInt32(), p => p.GetProperty("accuracy").GetDouble());
        foreach (var (steps, bar) in new[] { (8, 0.5), (16, 0.1) })
        {
            var drop = 100 * (ann - byStep[steps]);
            Assert.True(drop <= bar + 1e-9, $"{name} at {steps} steps: drop {drop:F2} points (ANN {ann:F4}, spiking {byStep[steps]:F4}), target <= {bar}");
        }
    }

    static double RecordedAccuracy(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Deep("accuracies.json")));
        return doc.RootElement.GetProperty(name).GetProperty("test_accuracy").GetDouble();
    }

    /// <summary>Row-wise softmax of a batch of logits, in double.</summary>
    static Tensor Softmax(Tensor logits)
    {
        var (n, k) = (logits.Shape[0], logits.Shape[1]);
        var p = new float[n * k];
        for (var i = 0; i < n; i++)
        {
            var row = logits.Span.Slice(i * k, k);
            var max = double.NegativeInfinity;
            foreach (var v in row) max = Math.Max(max, v);
            var sum = 0.0;
            for (var j = 0; j < k; j++) sum += Math.Exp(row[j] - max);
            for (var j = 0; j < k; j++) p[i * k + j] = (float)(Math.Exp(row[j] - max) / sum);
        }
        return Tensor.Own(new[] { n, k }, p);
    }
}
