using System.Text.Json;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.RealModels;

/// <summary>
/// Real trained Keras files from public repositories (../shared/models/real) must reproduce their recorded
/// test accuracy exactly, to 4 decimals, in keras mode, read natively from .h5, .keras and TF.js.
/// </summary>
[Trait("Category", "Slow")]
public class RealModelTests
{
    public static TheoryData<string, string, string, double> Recorded() => new()
    {
        { "snn_toolbox/lenet5_mnist_99.14.h5", "mnist/x_test_nchw_u8.npy", "mnist/y_test.npy", 0.9914 },
        { "snn_toolbox/lenet_avgpool_mnist_weights.10-0.99.h5", "mnist/x_test_nhwc_u8.npy", "mnist/y_test.npy", 0.9910 },
        { "image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy", 0.9067 },
        { "image_prediction_on_Fashion_MNIST/fashion_mnist_model.h5", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy", 0.9067 },
        { "FashionMNIST-CNN/fashion_mnist_model.h5", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy", 0.8921 },
        { "Fashion-CNN/fashion_mnist_cnn.keras", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy", 0.9149 },
        { "Fashion-CNN/fashion_mnist_cnn.h5", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy", 0.9098 },
        { "MNIST-Digit-WebApp/mnistCNN2.h5", "mnist/x_test_nhwc_u8.npy", "mnist/y_test.npy", 0.9913 },
        { "MNIST-Digit-WebApp/tfjs/model.json", "mnist/x_test_nhwc_u8.npy", "mnist/y_test.npy", 0.9913 },
    };

    static string Model(string rel) => Path.Combine(TestModels.Shared!, "models", "real", rel);
    static string Data(string rel) => Path.Combine(TestModels.Shared!, "data", rel);

    [SharedTheory]
    [MemberData(nameof(Recorded))]
    public void KerasModeReproducesRecordedAccuracy(string model, string x, string y, double recorded)
    {
        var (code, output, err) = CliRunner.Run("evaluate", Model(model), "--data", Data(x), "--labels", Data(y),
            "--input-scale", "1/255", "--mode", "keras", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(10000, doc.RootElement.GetProperty("n").GetInt32());
        Assert.Equal(recorded, Math.Round(doc.RootElement.GetProperty("keras_accuracy").GetDouble(), 4));
    }

    [SharedTheory]
    [InlineData("snn_toolbox/lenet5_mnist_99.14.h5", "mnist/x_test_nchw_u8.npy", "mnist/y_test.npy")]
    [InlineData("image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy")]
    public void RateModeWithMaxPoolingEqualsKerasMode(string model, string x, string y)
    {
        var (code, output, err) = CliRunner.Run("evaluate", Model(model), "--data", Data(x), "--labels", Data(y),
            "--input-scale", "1/255", "--mode", "rate", "--json", "--no-fallback");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var recorded = model.Contains("lenet5") ? 0.9914 : 0.9067;
        Assert.Equal(recorded, Math.Round(doc.RootElement.GetProperty("rate_accuracy").GetDouble(), 4));
    }

    [SharedTheory]
    [InlineData("tiny/pretrainedResnet.h5", 32, 32, 3)]
    [InlineData("tiny/vww_96.h5", 96, 96, 3)]
    public void ResNetAndMobileNetRunThroughTheReferenceEvaluatorAndConvert(string model, int h, int w, int c)
    {
        var m = ModelFile.Import(Model(model)).Ok();
        var x = TestModels.Random(new[] { 2, h, w, c }, 11, 0f, 1f);
        var keras = KerasEval.Run(m, Seq1(x)).Ok();
        Assert.Equal(2, keras.Head.Shape[0]);
        Assert.All(keras.Head.ToArray(), v => Assert.True(float.IsFinite(v)));
        // The rate-mode network agrees with the reference evaluator.
        var compiled = Compile.Run(CompileOptions.Default, m, verify: true).Ok();
        var rate = Snn.Runtime.Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), Snn.Runtime.SimOptions.Default).Ok();
        TestModels.Close(keras.Head, rate.Head);
    }

    [SharedTheory]
    [InlineData("snn_toolbox/lenet5_mnist_99.14.h5")]
    [InlineData("snn_toolbox/lenet_avgpool_mnist_weights.10-0.99.h5")]
    [InlineData("image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras")]
    [InlineData("image_prediction_on_Fashion_MNIST/fashion_mnist_model.h5")]
    [InlineData("FashionMNIST-CNN/fashion_mnist_model.h5")]
    [InlineData("Fashion-CNN/fashion_mnist_cnn.keras")]
    [InlineData("Fashion-CNN/fashion_mnist_cnn.h5")]
    [InlineData("MNIST-Digit-WebApp/mnistCNN2.h5")]
    [InlineData("MNIST-Digit-WebApp/tfjs/model.json")]
    [InlineData("tiny/pretrainedResnet.h5")]
    [InlineData("tiny/vww_96.h5")]
    public void EveryRealModelConvertsWithoutFallback(string model)
    {
        var (code, output, err) = CliRunner.Run("inspect", Model(model), "--json", "--no-fallback");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(0, doc.RootElement.GetProperty("fallback_layers").GetInt32());
    }

    [SharedFact]
    public void TfsmLayerFailsCleanlyWithExitThree()
    {
        var (code, _, err) = CliRunner.Run("inspect", Model("FashionMNIST-CNN/fashion_mnist_model_tfsmlayer.keras"));
        Assert.Equal(3, code);
        Assert.Contains("TFSMLayer", err);
        Assert.DoesNotContain("   at ", err);
    }

    [SharedFact]
    public void ReadsTheMnistNpzWithOneHotLabels()
    {
        var (code, output, err) = CliRunner.Run("evaluate", Model("snn_toolbox/lenet5_mnist_99.14.h5"),
            "--data", Model("snn_toolbox/mnist_x_test.npz"), "--labels", Model("snn_toolbox/mnist_y_test.npz"), "--mode", "keras", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        Assert.Equal(0.9914, Math.Round(doc.RootElement.GetProperty("keras_accuracy").GetDouble(), 4));
    }
}
