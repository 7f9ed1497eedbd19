using LanguageExt;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Cli;

/// <summary>
/// <c>snn fit --keras OUT</c>: the Keras file written after training, run by the Keras reference evaluator
/// (<c>snn predict OUT --mode keras</c>, which reads only the Keras file), computes what the trained network computes in
/// rate mode (<c>snn predict trained.snnz --mode rate</c>, the interpreter on the network IR), and differs from the
/// original model's outputs; and what cannot be written back is refused before training.
/// </summary>
public class FitKerasTests
{
    static Tensor Predict(string dir, string name, params string[] args)
    {
        var output = Path.Combine(dir, name);
        var r = CliRunner.Run(new[] { "predict" }.Concat(args).Concat(new[] { "--output", output, "--no-progress" }).ToArray());
        Assert.True(r.Code == 0, r.Err);
        return Npy.Read(Path.Combine(output, "output_0.npy")).Ok();
    }

    [Theory]
    [InlineData("keras_sequential", 4, 2)]        // Dense layers
    [InlineData("keras_bn_no_center", 32, 2)]     // Conv + BatchNormalization without beta (the bias change goes into the kernel's bias)
    [InlineData("keras_functional_add", 4, 3)]    // a functional model with Add
    public void The_written_keras_model_computes_what_the_trained_network_computes(string fixture, int features, int classes)
    {
        using var dir = new TempDir();
        var model = TestModels.Fixture("keras", fixture + ".keras");
        var shape = Npy.Read(TestModels.Fixture("keras", fixture + ".input.npy")).Ok().Shape.Skip(1).ToArray();
        Assert.Equal(features, shape.Aggregate(1, (a, b) => a * b));
        var n = 64;
        var x = new NumpyRandom(3).Uniform(-1, 1, n * features).Select(v => (float)v).ToArray();
        var y = Enumerable.Range(0, n).Select(i => (float)(i % classes)).ToArray();
        var (xp, yp) = (Path.Combine(dir.Path, "x.npy"), Path.Combine(dir.Path, "y.npy"));
        Npy.WriteFloat32(xp, Tensor.Own(new[] { n }.Concat(shape).ToArray(), x)).Ok();
        Npy.WriteFloat32(yp, Tensor.Own(new[] { n }, y)).Ok();
        var (trained, keras) = (Path.Combine(dir.Path, "t.snnz"), Path.Combine(dir.Path, "out.keras"));

        var fit = CliRunner.Run("fit", model, "--data", xp, "--labels", yp, "--epochs", "3", "--lr", "0.01", "--batch", "16", "--out", trained, "--keras", keras, "--no-progress");
        Assert.True(fit.Code == 0, fit.Err);

        var written = Predict(dir.Path, "keras", keras, "--input", xp, "--mode", "keras");
        var network = Predict(dir.Path, "rate", trained, "--input", xp, "--mode", "rate");
        var original = Predict(dir.Path, "original", model, "--input", xp, "--mode", "keras");
        var scale = network.ToArray().Max(v => Math.Abs(v));
        var worst = written.ToArray().Zip(network.ToArray(), (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst <= 1e-5 * Math.Max(1, scale), $"written Keras model vs trained network: largest difference {worst} (outputs up to {scale})");
        Assert.True(original.ToArray().Zip(network.ToArray(), (a, b) => Math.Abs(a - b)).Max() > 1e-3, "training changed nothing");
    }

    [Fact]
    public void A_saved_network_or_a_tfjs_model_cannot_take_keras_write_back()
    {
        using var dir = new TempDir();
        var model = TestModels.Fixture("keras", "keras_sequential.keras");
        var xp = Path.Combine(dir.Path, "x.npy");
        var yp = Path.Combine(dir.Path, "y.npy");
        Npy.WriteFloat32(xp, Tensor.Own(new[] { 4, 4 }, new float[16])).Ok();
        Npy.WriteFloat32(yp, Tensor.Own(new[] { 4 }, new float[4])).Ok();
        var saved = Path.Combine(dir.Path, "n.snnz");
        Assert.Equal(0, CliRunner.Run("convert", model, "--out", saved, "--no-progress").Code);
        var r = CliRunner.Run("fit", saved, "--data", xp, "--labels", yp, "--out", Path.Combine(dir.Path, "t.snnz"), "--keras", Path.Combine(dir.Path, "o.keras"), "--no-progress");
        Assert.Equal(2, r.Code);
        Assert.Contains("must be the Keras file", r.Err);
        Assert.False(File.Exists(Path.Combine(dir.Path, "o.keras")));
    }
}
