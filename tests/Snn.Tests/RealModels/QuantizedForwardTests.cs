using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Runtime;
using Snn.Tests.Support;
using Snn.Training;
using Xunit;
using Xunit.Abstractions;
using static LanguageExt.Prelude;

namespace Snn.Tests.RealModels;

/// <summary>
/// The quantized network of <see cref="NetworkGradient"/> (<see cref="TrainingMethod.Quantized"/>) against the spiking
/// simulation of the same converted network on the real Keras files of ../shared: converted with the calibrated defaults
/// (calibration on x_calib, evaluation on data disjoint from it), the quantized forward at T steps must predict the class
/// the interpreter predicts after T steps on every image (issue 19: what is trained is what runs). The oracle is the
/// interpreter's step-by-step simulation; the accuracies of both are printed.
/// </summary>
[Trait("Category", "Slow")]
public class QuantizedForwardTests(ITestOutputHelper output)
{
    /// <summary>model, data, labels, calibration data, steps.</summary>
    public static TheoryData<string, string, string, string, int> Cases() => new()
    {
        { "snn_toolbox/lenet5_mnist_99.14.h5", "mnist/x_holdout_nchw_u8.npy", "mnist/y_holdout.npy", "mnist/x_calib_nchw_u8.npy", 2 },
        { "snn_toolbox/lenet5_mnist_99.14.h5", "mnist/x_holdout_nchw_u8.npy", "mnist/y_holdout.npy", "mnist/x_calib_nchw_u8.npy", 4 },
        { "image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy", "fashion-mnist/x_calib_nhwc_u8.npy", 2 },
        { "image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy", "fashion-mnist/x_calib_nhwc_u8.npy", 4 },
    };

    static string Shared(params string[] parts) => Path.Combine(new[] { TestModels.Shared! }.Concat(parts).ToArray());

    [SharedTheory]
    [MemberData(nameof(Cases))]
    public void Quantized_forward_predicts_what_the_spiking_network_predicts(string model, string x, string y, string calibration, int steps)
    {
        var keras = ModelFile.Import(Shared("models", "real", model)).Ok();
        var shapes = keras.InputShapes;
        var scale = Some(1f / 255);
        var calib = DataFiles.Inputs(Seq1(Shared("data", calibration)), shapes, scale).Ok();
        var data = DataFiles.Inputs(Seq1(Shared("data", x)), shapes, scale).Ok();
        var n = data.Head.Shape[0];
        var labels = DataFiles.Labels(Shared("data", y), n).Ok();
        var compiled = Compile.Run(Presets.Calibrated(calib), keras, verify: true).Ok();

        var spiking = Interpreter.Run(compiled.Program, compiled.Functions, data, new SimOptions(steps, Readout.Mean)).Ok().Head;
        var options = GradientOptions.Default with { Method = TrainingMethod.Quantized, Steps = steps };
        var classes = spiking.Shape[^1];
        var (agree, spikingRight, quantizedRight, worst, ties) = (0, 0, 0, 0.0, 0);
        const int chunk = 500;
        for (var start = 0; start < n; start += chunk)
        {
            var count = Math.Min(chunk, n - start);
            var slice = data.Map(t => Tensor.Own(new[] { count }.Concat(t.Shape.Skip(1)).ToArray(),
                t.Span.Slice(start * (int)(t.Length / n), count * (int)(t.Length / n)).ToArray()));
            var quantized = NetworkGradient.Predict(options, compiled.Network, slice).Ok().Head;
            for (var b = 0; b < count; b++)
            {
                var q = quantized.Span.Slice(b * classes, classes);
                var s = spiking.Span.Slice((start + b) * classes, classes);
                for (var k = 0; k < classes; k++) worst = Math.Max(worst, Math.Abs(q[k] - s[k]));
                var (qa, sa) = (ArgMax(q), ArgMax(s));
                for (var k = 0; k < classes; k++) if (k != sa && s[k] == s[sa]) { ties++; break; }
                if (qa == sa) agree++;
                else output.WriteLine($"image {start + b}: quantized predicts {qa} ({string.Join(", ", q.ToArray())}), spiking {sa} ({string.Join(", ", s.ToArray())})");
                if (qa == labels[start + b]) quantizedRight++;
                if (sa == labels[start + b]) spikingRight++;
            }
        }
        output.WriteLine($"{model}, T = {steps}: {n} images, spiking accuracy {(double)spikingRight / n:F4}, quantized {(double)quantizedRight / n:F4}, " +
                         $"predictions agree on {agree}; largest output difference {worst:E2}; {ties} spiking outputs with a tie for the largest value");
        Assert.Equal(n, agree);
        Assert.Equal(spikingRight, quantizedRight);
    }

    static int ArgMax(ReadOnlySpan<float> v)
    {
        var best = 0;
        for (var k = 1; k < v.Length; k++) if (v[k] > v[best]) best = k;
        return best;
    }
}
