using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Compiler.Saved;
using Snn.Tests.Snnz;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Cli;

/// <summary>
/// No silent traps (issue 16): a saved network's input scale, uint8 data without a scale, labels outside the model's
/// classes, chance-level spiking accuracy without calibration, export refusals at once with a command that works, and
/// errors that say what happened (write, directory, Lambda, TFSMLayer).
/// </summary>
public class TrapTests
{
    static readonly string Mlp = TestModels.Fixture("tfjs", "dense_mlp", "model.json");
    static readonly string MlpInput = TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy");
    static readonly string MlpExpected = TestModels.Fixture("tfjs", "dense_mlp", "expected_0.npy");

    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A uint8 .npy (numpy format 1.0, '|u1'), written here byte by byte.</summary>
    internal static void WriteUint8(string path, int[] shape, byte[] values)
    {
        var dims = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        var header = $"{{'descr': '|u1', 'fortran_order': False, 'shape': {dims}, }}";
        header += new string(' ', (64 - (10 + header.Length + 1) % 64) % 64) + "\n";
        var bytes = new byte[10 + header.Length + values.Length];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header).CopyTo(bytes, 10);
        values.CopyTo(bytes, 10 + header.Length);
        File.WriteAllBytes(path, bytes);
    }

    // ------------------------------------------------------------------ the saved input scale

    /// <summary>
    /// Converted with --input-scale 0.5, the saved network halves its data: fed twice the fixture's input without the option,
    /// keras and rate mode give what TF.js computed for the input itself (expected_0.npy).
    /// </summary>
    [Fact]
    public void SavedNetworkAppliesTheInputScaleItWasConvertedWith()
    {
        var dir = TempDir();
        var net = Path.Combine(dir, "net.snnz");
        var doubled = Path.Combine(dir, "doubled.npy");
        Npy.WriteFloat32(doubled, Npy.Read(MlpInput).Ok().Map(v => 2 * v));
        var (code, _, err) = CliRunner.Run("convert", Mlp, "--input-scale", "0.5", "--out", net);
        Assert.True(code == 0, err);
        Assert.Equal(Some(0.5f), NetworkFile.Read(net).Ok().InputScale);

        var expected = Npy.Read(MlpExpected).Ok();
        foreach (var mode in new[] { "keras", "rate" })
        {
            var outDir = Path.Combine(dir, mode);
            (code, _, err) = CliRunner.Run("predict", net, "--input", doubled, "--output", outDir, "--mode", mode);
            Assert.True(code == 0, err);
            TestModels.Close(expected, Npy.Read(Path.Combine(outDir, "output_0.npy")).Ok());
        }
        // The same scale given again is fine.
        (code, _, err) = CliRunner.Run("predict", net, "--input", doubled, "--output", Path.Combine(dir, "again"), "--mode", "keras", "--input-scale", "1/2");
        Assert.True(code == 0, err);
    }

    [Fact]
    public void AnInputScaleThatContradictsTheSavedOneIsAUsageErrorSayingBoth()
    {
        var dir = TempDir();
        var net = Path.Combine(dir, "net.snnz");
        Assert.Equal(0, CliRunner.Run("convert", Mlp, "--input-scale", "1/255", "--out", net).Code);
        var (code, _, err) = CliRunner.Run("evaluate", net, "--data", MlpInput, "--input-scale", "1", "--mode", "rate");
        Assert.Equal(2, code);
        Assert.Contains("--input-scale 1 ", err);
        Assert.Contains("0.003921569 (1/255)", err);
        Assert.DoesNotContain("   at ", err);
        // Export records the scale too, and refuses the contradiction the same way.
        (code, _, err) = CliRunner.Run("export", net, "--format", "npz", "--out", Path.Combine(dir, "n.npz"), "--input-scale", "0.5");
        Assert.Equal(2, code);
        Assert.Contains("1/255", err);
    }

    /// <summary>
    /// Files written before the model's input scale was recorded still load: without the field, a calibrated file's
    /// calibration scale is the one its conversion assumed; an uncalibrated one has none.
    /// </summary>
    [Fact]
    public void OldSavedNetworksWithoutTheFieldLoad()
    {
        var dir = TempDir();
        var calibration = Path.Combine(dir, "calib.npy");
        Npy.WriteFloat32(calibration, TestModels.Random(new[] { 20, 2, 2 }, 3, 0f, 255f));
        var calibrated = Path.Combine(dir, "calibrated.snnz");
        var plain = Path.Combine(dir, "plain.snnz");
        Assert.Equal(0, CliRunner.Run("convert", Mlp, "--calibrate", calibration, "--input-scale", "1/255", "--out", calibrated).Code);
        Assert.Equal(0, CliRunner.Run("convert", Mlp, "--out", plain).Code);

        static SavedNetwork WithoutField(string path) =>
            NetworkFile.Load(SnnzTestFiles.EditJson(File.ReadAllBytes(path), r =>
            {
                Assert.True(r["model"]!.AsObject().Remove("input_scale"));
            }), path).Ok();
        Assert.Equal(Some(1f / 255), WithoutField(calibrated).InputScale);
        Assert.Equal(Option<float>.None, WithoutField(plain).InputScale);
    }

    /// <summary>
    /// A channels-first model (case.json: Input(2,7,7), channels_first pooling and convolution) saves its layout; the same
    /// data in channels-last layout is refused with the transposition to make, and transposed here by index arithmetic it
    /// gives TF.js's outputs.
    /// </summary>
    [Fact]
    public void SavedNetworkKnowsItsLayoutAndSaysHowToTransposeData()
    {
        var dir = TempDir();
        var fixture = TestModels.Fixture("tfjs", "maxpool_channels_first");
        var net = Path.Combine(dir, "cf.snnz");
        Assert.Equal(0, CliRunner.Run("convert", Path.Combine(fixture, "model.json"), "--out", net).Code);
        Assert.Equal(Some("channels_first"), NetworkFile.Read(net).Ok().InputLayout);

        var x = Npy.Read(Path.Combine(fixture, "input_0.npy")).Ok();   // (N, 2, 7, 7)
        var (n, c, h, w) = (x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]);
        var last = new float[x.Length];
        for (var i = 0; i < n; i++)
            for (var k = 0; k < c; k++)
                for (var y = 0; y < h; y++)
                    for (var z = 0; z < w; z++)
                        last[((i * h + y) * w + z) * c + k] = x[((i * c + k) * h + y) * w + z];
        var nhwc = Path.Combine(dir, "nhwc.npy");
        Npy.WriteFloat32(nhwc, Tensor.Own(new[] { n, h, w, c }, last));
        var (code, _, err) = CliRunner.Run("predict", net, "--input", nhwc, "--output", Path.Combine(dir, "o"), "--mode", "keras");
        Assert.Equal(4, code);
        Assert.Contains("channels-last", err);
        Assert.Contains("numpy.transpose(x, (0, 3, 1, 2))", err);

        (code, _, err) = CliRunner.Run("predict", net, "--input", Path.Combine(fixture, "input_0.npy"), "--output", Path.Combine(dir, "o"), "--mode", "keras");
        Assert.True(code == 0, err);
        TestModels.Close(Npy.Read(Path.Combine(fixture, "expected_0.npy")).Ok(), Npy.Read(Path.Combine(dir, "o", "output_0.npy")).Ok());
    }

    // ------------------------------------------------------------------ uint8 data without a scale

    [Fact]
    public void Uint8DataWithoutAnInputScaleWarnsNamingOneOver255()
    {
        var dir = TempDir();
        var u8 = Path.Combine(dir, "x_u8.npy");
        WriteUint8(u8, new[] { 3, 2, 2 }, Enumerable.Range(0, 12).Select(i => (byte)(i * 20)).ToArray());
        var (code, _, err) = CliRunner.Run("predict", Mlp, "--input", u8, "--output", Path.Combine(dir, "a"));
        Assert.True(code == 0, err);
        Assert.Contains("warning: ", err);
        Assert.Contains("uint8", err);
        Assert.Contains("--input-scale 1/255", err);

        (code, _, err) = CliRunner.Run("predict", Mlp, "--input", u8, "--output", Path.Combine(dir, "b"), "--input-scale", "1/255");
        Assert.True(code == 0, err);
        Assert.DoesNotContain("warning", err);
        // Float data is not warned about.
        (code, _, err) = CliRunner.Run("predict", Mlp, "--input", MlpInput, "--output", Path.Combine(dir, "c"));
        Assert.True(code == 0, err);
        Assert.DoesNotContain("warning", err);
    }

    // ------------------------------------------------------------------ labels outside the model's classes

    /// <summary>Labels 5.. for a model with 7 outputs (TF.js's expected output's width) are a data error saying the range.</summary>
    [Fact]
    public void LabelsOutsideTheModelsClassesAreADataError()
    {
        var dir = TempDir();
        var classes = Npy.Read(MlpExpected).Ok().Shape[1];
        var labels = Path.Combine(dir, "labels.npy");
        Npy.WriteFloat32(labels, Tensor.Own(new[] { 3 }, new[] { 5f, 5f + classes - 1, 6f }));
        var (code, output, err) = CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--labels", labels, "--mode", "keras");
        Assert.Equal(4, code);
        Assert.Contains($"5..{5 + classes - 1}", err);
        Assert.Contains($"{classes} outputs (classes 0..{classes - 1})", err);
        Assert.DoesNotContain("accuracy", output);

        // In range: evaluates.
        Npy.WriteFloat32(labels, Tensor.Own(new[] { 3 }, new[] { 0f, classes - 1f, 2f }));
        Assert.Equal(0, CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--labels", labels, "--mode", "keras").Code);
    }

    // ------------------------------------------------------------------ chance-level spiking accuracy

    [Fact]
    public void ChanceHintNeedsChanceLevelUncalibratedSpikingAndAnAnnAboveChance()
    {
        Assert.True(Evaluation.ChanceHint(0.11, 10, calibrated: false, Some(0.9), "accuracy", "add --calibrate X.npy").IsSome);
        Assert.True(Evaluation.ChanceHint(0.18, 10, calibrated: false, None, "accuracy", "add --calibrate X.npy").IsSome);
        Assert.True(Evaluation.ChanceHint(0.25, 10, calibrated: false, Some(0.9), "accuracy", "x").IsNone);   // above 0.19 (chance + a tenth of the rest)
        Assert.True(Evaluation.ChanceHint(0.11, 10, calibrated: true, Some(0.9), "accuracy", "x").IsNone);    // calibrated
        Assert.True(Evaluation.ChanceHint(0.11, 10, calibrated: false, Some(0.5), "accuracy", "x").IsNone);   // the ANN itself is not well above chance
        Assert.True(Evaluation.ChanceHint(0.45, 2, calibrated: false, Some(0.9), "accuracy", "x").IsSome);    // two classes: chance 0.5
    }

    /// <summary>
    /// The bundled Fashion-MNIST CNN uncalibrated at 4 steps is at chance (README: 0.0690 at 8 steps): evaluate and report
    /// hint at --calibrate with the data to pass; calibrated, no hint.
    /// </summary>
    [Fact]
    public void ChanceLevelSpikingAccuracyHintsAtCalibrate()
    {
        var dir = TempDir();
        var demo = Path.Combine(TestModels.RepoRoot, "src", "Snn", "Demo");
        var model = Path.Combine(demo, "fashion-cnn", "model.json");
        var x = Path.Combine(dir, "x.npy");
        var y = Path.Combine(dir, "y.npy");
        Npy.WriteFloat32(x, Npy.Read(Path.Combine(demo, "fashion-mnist-1000", "x.npy")).Ok().Rows(0, 300).Map(v => v / 255f));
        Npy.WriteFloat32(y, Npy.Read(Path.Combine(demo, "fashion-mnist-1000", "y.npy")).Ok().Rows(0, 300));

        var (code, _, err) = CliRunner.Run("evaluate", model, "--data", x, "--labels", y, "--mode", "spiking", "--steps", "4", "--checkpoints", "4");
        Assert.True(code == 0, err);
        Assert.Contains("hint: ", err);
        Assert.Contains($"--calibrate {x}", err);

        (code, _, err) = CliRunner.Run("report", model, "--data", x, "--labels", y, "--steps", "4", "--checkpoints", "4", "--out", Path.Combine(dir, "r.html"));
        Assert.True(code == 0, err);
        Assert.Contains($"--calibrate {x}", err);

        (code, _, err) = CliRunner.Run("evaluate", model, "--data", x, "--labels", y, "--mode", "spiking", "--steps", "4", "--checkpoints", "4",
            "--calibrate", x, "--calib-samples", "100");
        Assert.True(code == 0, err);
        Assert.DoesNotContain("hint: ", err);
    }

    // ------------------------------------------------------------------ export refusals at once

    /// <summary>
    /// The bundled CNN calibrated with the defaults and a synapse has three things NIR cannot hold (per-channel scales,
    /// negative spikes, a synapse; before, the scales hid the negative spikes): all are refused in one error, followed by a
    /// command that works, which is run here.
    /// </summary>
    [Fact]
    public void NirRefusalsComeAtOnceFollowedByACommandThatWorks()
    {
        var dir = TempDir();
        var demo = Path.Combine(TestModels.RepoRoot, "src", "Snn", "Demo");
        var model = Path.Combine(demo, "fashion-cnn", "model.json");
        var calibration = Path.Combine(dir, "calib.npy");
        Npy.WriteFloat32(calibration, Npy.Read(Path.Combine(demo, "fashion-mnist-1000", "x.npy")).Ok().Rows(0, 50));
        var (code, _, err) = CliRunner.Run("export", model, "--format", "nir", "--out", Path.Combine(dir, "net.nir"), "--calibrate", calibration,
            "--input-scale", "1/255", "--synapse", "0.005", "--per-channel");
        Assert.Equal(3, code);
        Assert.Contains("per-channel calibration scales", err);
        Assert.Contains("negative spikes", err);
        Assert.Contains("synapse", err);
        const string Marker = "This command exports it: snn export ";
        var line = err.Split('\n').Single(l => l.StartsWith(Marker, StringComparison.Ordinal));
        var argv = line[Marker.Length..].Trim().Split(' ');
        Assert.DoesNotContain("--synapse", argv);
        Assert.DoesNotContain("--per-channel", argv);
        (code, _, err) = CliRunner.Run(new[] { "export" }.Concat(argv).ToArray());
        Assert.True(code == 0, err);
        Assert.True(File.Exists(Path.Combine(dir, "net.nir")));
    }

    // ------------------------------------------------------------------ errors that tell the truth

    [Fact]
    public void WriteFailuresSayCannotWrite()
    {
        var dir = TempDir();
        var file = Path.Combine(dir, "a-file");
        File.WriteAllText(file, "");
        var unwritable = Path.Combine(file, "sub");   // a folder inside a regular file cannot be made, even by root
        foreach (var argv in new[]
                 {
                     new[] { "predict", Mlp, "--input", MlpInput, "--output", unwritable },
                     new[] { "convert", Mlp, "--out", Path.Combine(unwritable, "net.snnz") },
                     new[] { "report", Mlp, "--data", MlpInput, "--steps", "2", "--out", Path.Combine(unwritable, "r.html") },
                     new[] { "export", Mlp, "--format", "nengo", "--out", unwritable },
                     new[] { "export", Mlp, "--format", "npz", "--out", Path.Combine(unwritable, "n.npz") },
                 })
        {
            var (code, _, err) = CliRunner.Run(argv);
            Assert.Equal(4, code);
            Assert.StartsWith("error: Cannot write ", err);
            Assert.DoesNotContain("read", err, StringComparison.OrdinalIgnoreCase);
        }
    }

    [Fact]
    public void ADirectoryGivenAsAFileSaysItIsADirectory()
    {
        var dir = TempDir();
        var (code, _, err) = CliRunner.Run("evaluate", Mlp, "--data", dir);
        Assert.Equal(4, code);
        Assert.Contains("is a directory", err);
        Assert.DoesNotContain("not found", err);

        (code, _, err) = CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--labels", dir);
        Assert.Equal(4, code);
        Assert.Contains("is a directory", err);

        var folder = Path.Combine(dir, "net.snnz");
        Directory.CreateDirectory(folder);
        (code, _, err) = CliRunner.Run("inspect", folder);
        Assert.Equal(3, code);
        Assert.Contains("is a directory", err);
    }

    /// <summary>A Lambda layer is refused with or without --no-fallback, with the same explanation, which never says to drop --no-fallback.</summary>
    [Fact]
    public void LambdaGetsOneExplanationWithOrWithoutNoFallback()
    {
        var model = Snn.Tests.KerasFiles.KerasFileFixtures.PathOf("keras_lambda.keras");
        var (code, _, plain) = CliRunner.Run("inspect", model);
        Assert.Equal(3, code);
        var (code2, _, strict) = CliRunner.Run("inspect", model, "--no-fallback");
        Assert.Equal(3, code2);
        Assert.Equal(plain, strict);
        Assert.DoesNotContain("drop --no-fallback", strict);
        Assert.Contains("with or without --no-fallback", strict);
        // The reference evaluator (keras mode) refuses it with the same words.
        var dir = TempDir();
        var data = Path.Combine(dir, "x.npy");
        Npy.WriteFloat32(data, TestModels.Random(new[] { 2 }.Concat(ModelFile.Import(model).Ok().InputShapes[0]).ToArray(), 1, 0f, 1f));
        var (code3, _, keras) = CliRunner.Run("evaluate", model, "--data", data, "--mode", "keras");
        Assert.Equal(3, code3);
        Assert.Contains(LayersExplanation("Lambda"), keras);
    }

    /// <summary>
    /// LeNet-5 (snn_toolbox, MNIST 0.9914 recorded) converted with --calibrate and --input-scale 1/255, then evaluated on the
    /// uint8 test set without the option: the saved scale applies, so the ANN (keras mode) scores the recorded 0.9914 and the
    /// spiking accuracy equals the run given --input-scale 1/255 explicitly; no uint8 warning.
    /// </summary>
    [SharedFact]
    [Trait("Category", "Slow")]
    public void LeNet5SavedWithItsInputScaleScoresAsScaledOnUint8Data()
    {
        var dir = TempDir();
        var net = Path.Combine(dir, "lenet5.snnz");
        var model = Path.Combine(TestModels.Shared!, "models", "real", "snn_toolbox", "lenet5_mnist_99.14.h5");
        var data = Path.Combine(TestModels.Shared!, "data", "mnist");
        var (code, _, err) = CliRunner.Run("convert", model, "--calibrate", Path.Combine(data, "x_calib_nchw_u8.npy"), "--input-scale", "1/255",
            "--calib-samples", "200", "--out", net);
        Assert.True(code == 0, err);

        string[] Evaluate(params string[] extra) => new[] { "evaluate", net, "--data", Path.Combine(data, "x_test_nchw_u8.npy"),
            "--labels", Path.Combine(data, "y_test.npy"), "--steps", "4", "--checkpoints", "4", "--json" }.Concat(extra).ToArray();
        var (code1, implicitOut, implicitErr) = CliRunner.Run(Evaluate("--mode", "all"));
        Assert.True(code1 == 0, implicitErr);
        Assert.DoesNotContain("warning", implicitErr);
        var (code2, explicitOut, explicitErr) = CliRunner.Run(Evaluate("--mode", "spiking", "--input-scale", "1/255"));
        Assert.True(code2 == 0, explicitErr);

        var implicitJson = JsonNode.Parse(implicitOut)!;
        Assert.Equal(0.9914, implicitJson["keras_accuracy"]!.GetValue<double>(), 4);
        Assert.Equal(0.9914, implicitJson["rate_accuracy"]!.GetValue<double>(), 4);
        Assert.Equal(JsonNode.Parse(explicitOut)!["spiking_accuracy"]!.GetValue<double>(), implicitJson["spiking_accuracy"]!.GetValue<double>());
        Assert.True(implicitJson["spiking_accuracy"]!.GetValue<double>() > 0.98);
    }

    static string LayersExplanation(string cls) => Snn.Compiler.Layers.LayerRegistry.Refused(cls).IfNone("");

    /// <summary>The real TFSMLayer file gets the same explanation from inspect and from evaluate (keras and rate modes).</summary>
    [SharedFact]
    [Trait("Category", "Slow")]
    public void TfsmLayerGetsOneExplanationFromInspectAndEvaluate()
    {
        var model = Path.Combine(TestModels.Shared!, "models", "real", "FashionMNIST-CNN", "fashion_mnist_model_tfsmlayer.keras");
        var data = Path.Combine(TestModels.Shared!, "data", "fashion-mnist", "x_test_nhwc_u8.npy");
        var explanation = LayersExplanation("TFSMLayer");
        Assert.NotEqual("", explanation);
        var runs = new[]
        {
            CliRunner.Run("inspect", model),
            CliRunner.Run("evaluate", model, "--data", data, "--input-scale", "1/255", "--mode", "keras"),
            CliRunner.Run("evaluate", model, "--data", data, "--input-scale", "1/255", "--mode", "rate"),
        };
        foreach (var (code, _, err) in runs)
        {
            Assert.Equal(3, code);
            Assert.Contains(explanation, err);
            Assert.DoesNotContain("Python code", err);
        }
    }
}
