using System.IO.Compression;
using System.Text.Json;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Tests.Support;
using Snn.Training;
using Xunit;
using Xunit.Abstractions;
using static LanguageExt.Prelude;

namespace Snn.Tests.Training;

/// <summary>
/// <see cref="NetworkGradient.Run"/> on real models' rate networks against PyTorch's autograd as an independent oracle:
/// the model is exported with <c>snn export --format npz --mode rate</c>, and <c>tests/bench/torch_train_peer.py
/// --grad-dump --dtype float64</c> rebuilds that archive with torch.nn.functional, runs the batch in double precision and
/// writes the mean softmax cross-entropy and its gradient with respect to every trainable array. Snn's float32 loss and
/// gradients of the same network (the converter's rate network of the same Keras file, default options) must agree
/// with them to within float32 rounding.
/// </summary>
/// <remarks>
/// <para>Parameters are matched through the archive's structure: a dense/conv op's <c>kernel</c> is the weights of the
/// connection into the op's ensemble (<c>bias_folded_into</c>) or, unfolded, into its own passthrough node (both
/// named by op id); an unfolded <c>bias</c> is the constant node feeding that passthrough; an activation op's
/// <c>neurons.bias</c> is the ensemble of the op's id. Each match is confirmed by the values: the archive's array
/// equals Snn's parameter bit for bit, and every parameter on both sides is matched exactly once.</para>
/// <para>Tolerance: Snn computes in float32 (unit roundoff u = 2⁻²⁴ ≈ 6e-8), the oracle in float64 from the same
/// float32 weights and inputs, so the difference is Snn's rounding alone. The longest sum is the first convolution's
/// kernel gradient (64 samples × 676 positions = 43,264 terms; the dense layers' dot products have 1,600 and 1,920);
/// the rounding error of a float32 sum of n terms grows like √n·u relative to the terms' magnitudes (n·u in the
/// worst case), and √43,264·u ≈ 1.2e-5. So each gradient must agree to 1e-5 of its largest magnitude, and the loss
/// (a double sum of float32 logits' log-softmax; the oracle's loss is read back as float32) to 1e-5 relative.
/// Measured: at most 6.4e-7 on both models. Ties are no problem: max pooling routes to the first maximal cell in
/// both, ReLU's slope at exactly 0 is 0 in both, and the exact ties (zero background pixels give every first-layer
/// neuron exactly its bias) are exact in float64 too. Mutations tried: the loss gradient without its 1/batch fails
/// every model (63× the largest gradient), max pooling routed to the last maximal cell fails with 0.48-0.59.</para>
/// </remarks>
[Trait("Category", "Slow")]
public class TorchGradientOracleTests(ITestOutputHelper output)
{
    const int Batch = 64;
    const double GradientTolerance = 1e-5;
    const double LossTolerance = 1e-5;

    /// <summary>model, images (uint8, the model's layout), labels (class indices).</summary>
    public static TheoryData<string, string, string> Models() => new()
    {
        { "image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy" },
        { "snn_toolbox/lenet5_mnist_99.14.h5", "mnist/x_test_nchw_u8.npy", "mnist/y_test.npy" },
    };

    static string Shared(params string[] parts) => Path.Combine(new[] { TestModels.Shared! }.Concat(parts).ToArray());

    [TorchSharedTheory]
    [MemberData(nameof(Models))]
    public void Loss_and_every_parameter_gradient_match_pytorch_autograd_in_float64(string model, string images, string labels)
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", "torch-grad-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var modelPath = Shared("models", "real", model);
            var (npz, x, y, grads) = (Path.Combine(dir, "net.npz"), Path.Combine(dir, "x.npy"), Path.Combine(dir, "y.npy"), Path.Combine(dir, "grads.npz"));
            var (code, _, err) = CliRunner.Run("export", modelPath, "--format", "npz", "--mode", "rate", "--out", npz);
            Assert.True(code == 0, err);

            var pixels = DataFile.Read(Shared("data", images)).Ok();
            var sample = pixels.Length / pixels.Shape[0];
            var raw = Tensor.Copy(new[] { Batch }.Concat(pixels.Shape.Skip(1)).ToArray(), pixels.Span[..(Batch * sample)]);
            var classes = DataFile.Read(Shared("data", labels)).Ok();
            var targets = Tensor.Copy(new[] { Batch }, classes.Span[..Batch]);
            Npy.WriteFloat32(x, raw).Ok();
            Npy.WriteFloat32(y, targets).Ok();
            var peer = Path.Combine(TestModels.RepoRoot, "tests", "bench", "torch_train_peer.py");
            var (pcode, _, perr) = Python.Run(new[] { peer, "--export", npz, "--grad-dump", grads, "--data", x, "--labels", y,
                "--input-scale", "1/255", "--dtype", "float64", "--threads", "1" });
            Assert.True(pcode == 0, perr);

            // Snn: the converter's rate network of the same file, the same float32 inputs (pixels × float32(1/255)).
            var net = Compile.Front(CompileOptions.Default, ModelFile.Import(modelPath).Ok()).Ok().Network;
            var scale = (float)(1.0 / 255.0);
            var input = Tensor.Own(raw.Shape.ToArray(), raw.ToArray().Select(v => v * scale).ToArray());
            var r = NetworkGradient.Run(GradientOptions.Default with { Threads = 2 }, net, Seq1(input), targets).Ok();

            var torchLoss = DataFile.Read(grads + ":loss").Ok()[0];
            output.WriteLine($"{model}: loss snn {r.Loss:R}, torch float64 {torchLoss:R}");
            Assert.True(Math.Abs(r.Loss - torchLoss) <= LossTolerance * Math.Abs(torchLoss),
                $"loss: snn {r.Loss:R}, torch {torchLoss:R} (relative difference {Math.Abs(r.Loss - torchLoss) / Math.Abs(torchLoss):G3})");

            var matched = Matching(npz, net);
            Assert.Equal(NetworkParameters.Read(net, false).Map(p => p.Name).OrderBy(n => n, StringComparer.Ordinal),
                matched.Values.OrderBy(n => n, StringComparer.Ordinal));
            var parameters = NetworkParameters.Read(net, false).ToDictionary(p => p.Name, p => p.Value);
            foreach (var (array, name) in matched)
            {
                var exported = DataFile.Read(npz + ":" + array).Ok();
                Assert.True(exported.Span.SequenceEqual(parameters[name].Span), $"archive array {array} is not the value of parameter {name}");
                var expected = DataFile.Read(grads + ":" + array).Ok();
                var actual = r.Gradients[name];
                Assert.Equal(expected.Length, actual.Length);
                var (largest, worst, at) = (0.0, 0.0, -1);
                for (var i = 0; i < expected.Length; i++)
                {
                    largest = Math.Max(largest, Math.Abs(expected[i]));
                    var d = Math.Abs((double)actual[i] - expected[i]);
                    if (d > worst) (worst, at) = (d, i);
                }
                output.WriteLine($"  {array} = {name}: {expected.Length} values, max |grad| {largest:G3}, max |snn − torch| / max |grad| = {worst / largest:G3}");
                Assert.True(largest > 0, $"{array}: the oracle's gradient is 0 everywhere, so the comparison would prove nothing");
                Assert.True(worst <= GradientTolerance * largest,
                    $"{array} ({name}): element {at}: snn {actual[at]:R}, torch {expected[at]:R}; max |difference| {worst:G3} is {worst / largest:G3} of the largest gradient {largest:G3} (allowed {GradientTolerance:G})");
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Archive array name → Snn parameter name, from the archive's structure.json (see the remarks).</summary>
    static Dictionary<string, string> Matching(string npz, Network net)
    {
        JsonElement root;
        using (var zip = ZipFile.OpenRead(npz))
        using (var s = zip.GetEntry("structure.json")!.Open())
            root = JsonDocument.Parse(s).RootElement.Clone();
        var map = new Dictionary<string, string>();
        foreach (var op in root.GetProperty("ops").EnumerateArray())
        {
            var id = op.GetProperty("id").GetString()!;
            switch (op.GetProperty("type").GetString())
            {
                case "dense" or "conv":
                {
                    var folded = op.GetProperty("bias_folded_into");
                    var post = folded.ValueKind == JsonValueKind.String ? folded.GetString()! : id;
                    map[op.GetProperty("kernel").GetString()!] =
                        net.Connections.Single(c => c.Post == post && NetworkParameters.Weights(c.Transform).IsSome).Id;
                    if (op.GetProperty("bias").ValueKind == JsonValueKind.String && folded.ValueKind != JsonValueKind.String)
                        map[op.GetProperty("bias").GetString()!] =
                            net.Connections.Where(c => c.Post == post).Select(c => net.Node(c.Pre)).OfType<ConstNode>().Single().Id;
                    break;
                }
                case "activation" when op.GetProperty("neurons").ValueKind == JsonValueKind.Object:
                    map[op.GetProperty("neurons").GetProperty("bias").GetString()!] = net.Nodes.OfType<Ensemble>().Single(e => e.Id == id).Id;
                    break;
            }
        }
        return map;
    }
}
