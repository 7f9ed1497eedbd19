using System.Globalization;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Tests.Support;
using Snn.Training;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Training;

/// <summary>
/// <see cref="Fit"/>: the optimizers against their published update rules, the sample order and initialization against
/// numpy, determinism, freezing, refusals, and training an MLP from scratch on Fashion-MNIST.
/// </summary>
public class FitTests
{
    /// <summary>x(1) → [w] → out(1) (+ a constant c), probe out: out = w·x + c.</summary>
    static Network Line(float w, float c)
    {
        var b = new NetworkBuilder();
        var x = b.Input("x", 1);
        var o = b.Node("out", 1);
        var k = b.Constant("c", Tensor.Vector(c));
        b.Connect(x, o, new DenseT(Tensor.Own(new[] { 1, 1 }, new[] { w }), 1));
        b.Connect(k, o);
        b.Probe(o);
        return b.Build().Ok();
    }

    static TrainingData Data(float[] x, float[] y) =>
        new(Seq1(Tensor.Own(new[] { x.Length, 1 }, x)), Tensor.Own(new[] { y.Length, 1 }, y));

    static (double W, double C) Params(Network net) =>
        (((DenseT)net.Connections.Find(c => c.Post == "out" && c.Pre == "x").IfNone(() => throw new InvalidOperationException()).Transform).Kernel[0],
         ((ConstNode)net.Node("c")).Value[0]);

    /// <summary>
    /// Three batches of one sample, MSE: L = (w·x + c − y)², dL/dw = 2x(w·x + c − y), dL/dc = 2(w·x + c − y); the
    /// expected parameters follow Keras' Adam (Kingma and Ba 2015 with Keras' ε placement) in double.
    /// </summary>
    [Fact]
    public void Adam_follows_its_published_update_rule()
    {
        float[] xs = { 1f, -2f, 0.5f }, ys = { 3f, 1f, -1f };
        var adam = new Adam(0.1);
        var r = Fit.Run(new FitOptions(adam, Epochs: 2, BatchSize: 1, Shuffle: false) { Gradient = new GradientOptions(Loss.MeanSquaredError) },
            Line(0.5f, 0.25f), Data(xs, ys), None).Ok();
        double w = 0.5, c = 0.25, mw = 0, vw = 0, mc = 0, vc = 0;
        var t = 0;
        for (var epoch = 0; epoch < 2; epoch++)
            for (var i = 0; i < 3; i++)
            {
                t++;
                var e = w * xs[i] + c - ys[i];
                var (gw, gc) = (2 * xs[i] * e, 2 * e);
                mw = 0.9 * mw + 0.1 * gw; vw = 0.999 * vw + 0.001 * gw * gw;
                mc = 0.9 * mc + 0.1 * gc; vc = 0.999 * vc + 0.001 * gc * gc;
                var alpha = 0.1 * Math.Sqrt(1 - Math.Pow(0.999, t)) / (1 - Math.Pow(0.9, t));
                w -= alpha * mw / (Math.Sqrt(vw) + 1e-7);
                c -= alpha * mc / (Math.Sqrt(vc) + 1e-7);
            }
        var (fw, fc) = Params(r.Network);
        Assert.Equal(w, fw, 5);
        Assert.Equal(c, fc, 5);
        Assert.Equal(2, r.History.Count);
        Assert.True(r.History[0].Accuracy.IsNone);   // one output: not a classifier
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(0.9, false)]
    [InlineData(0.9, true)]
    public void Sgd_follows_its_published_update_rule(double momentum, bool nesterov)
    {
        float[] xs = { 1f, -2f, 0.5f, 2f }, ys = { 3f, 1f, -1f, 0f };
        var r = Fit.Run(new FitOptions(new Sgd(0.05, momentum, nesterov), Epochs: 1, BatchSize: 2, Shuffle: false) { Gradient = new GradientOptions(Loss.MeanSquaredError) },
            Line(0.5f, 0.25f), Data(xs, ys), None).Ok();
        double w = 0.5, c = 0.25, uw = 0, uc = 0;
        for (var b = 0; b < 2; b++)
        {
            double gw = 0, gc = 0;
            for (var i = 2 * b; i < 2 * b + 2; i++)
            {
                var e = w * xs[i] + c - ys[i];
                gw += 2 * xs[i] * e / 2;   // the loss is the batch mean
                gc += 2 * e / 2;
            }
            uw = momentum * uw - 0.05 * gw;
            uc = momentum * uc - 0.05 * gc;
            w += nesterov ? momentum * uw - 0.05 * gw : uw;
            c += nesterov ? momentum * uc - 0.05 * gc : uc;
        }
        var (fw, fc) = Params(r.Network);
        Assert.Equal(w, fw, 5);
        Assert.Equal(c, fc, 5);
    }

    /// <summary>numpy's RandomState(seed).permutation(n) and uniform(-l, l, n), the oracles of the sample order and Glorot initialization.</summary>
    [PythonFact]
    public void Sample_order_and_initialization_are_numpys()
    {
        var cases = new[] { (0u, 10), (7u, 1000), (20261204u, 60000), (3u, 1) };
        var script = "import numpy as np, sys\n" +
                     "for a in sys.argv[1:]:\n" +
                     "    s, n = map(int, a.split(':'))\n" +
                     "    print(' '.join(map(str, np.random.RandomState(s).permutation(n)[:50])), int(np.random.RandomState(s).permutation(n).astype(np.int64) @ np.arange(n, dtype=np.int64)))\n" +
                     "r = np.random.RandomState(5)\n" +
                     "print(' '.join(repr(float(np.float32(v))) for v in r.uniform(-np.sqrt(6/(4+3)), np.sqrt(6/(4+3)), 12)))\n" +
                     "print(' '.join(repr(float(np.float32(v))) for v in r.uniform(-np.sqrt(6/(3+2)), np.sqrt(6/(3+2)), 6)))\n";
        var (code, output, err) = Python.Run(script, cases.Select(c => $"{c.Item1}:{c.Item2}").ToArray());
        Assert.True(code == 0, err);
        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < cases.Length; i++)
        {
            var p = new NumpyRandom(cases[i].Item1).Permutation(cases[i].Item2);
            var words = lines[i].Split(' ');
            Assert.Equal(words[..^1].Select(int.Parse), p.Take(50));
            Assert.Equal(long.Parse(words[^1], CultureInfo.InvariantCulture), p.Select((v, k) => (long)v * k).Sum());
        }

        var b = new NetworkBuilder();
        var x = b.Input("x", 4);
        var h = b.Ensemble("h", 3, new RectifiedLinear(), bias: Tensor.Vector(1f, 2f, 3f));
        var o = b.Node("o", 2);
        b.Connect(x, h, new DenseT(Tensor.Own(new[] { 4, 3 }, new float[12]), 1));
        b.Connect(h, o, new DenseT(Tensor.Own(new[] { 3, 2 }, new float[6]), 1));
        b.Probe(o);
        var net = NetworkParameters.Reinitialize(5, b.Build().Ok()).Ok();
        var kernels = net.Connections.Map(c => ((DenseT)c.Transform).Kernel.ToArray()).ToArray();
        Assert.Equal(lines[cases.Length].Split(' ').Select(v => float.Parse(v, CultureInfo.InvariantCulture)), kernels[0]);
        Assert.Equal(lines[cases.Length + 1].Split(' ').Select(v => float.Parse(v, CultureInfo.InvariantCulture)), kernels[1]);
        Assert.Equal(new float[3], ((Ensemble)net.Node("h")).Bias.ToArray());
    }

    /// <summary>A 6-16-3 classifier (two ReLU ensembles) on a seeded synthetic problem.</summary>
    static (Network Net, TrainingData Data) Classifier()
    {
        var b = new NetworkBuilder();
        var x = b.Input("x", 6);
        var h = b.Ensemble("hidden", 16, new RectifiedLinear(), bias: Tensor.Own(new[] { 16 }, new float[16]));
        var o = b.Node("out", 3);
        b.Connect(x, h, new DenseT(Tensor.Own(new[] { 6, 16 }, new float[96]), 1));
        b.Connect(h, o, new DenseT(Tensor.Own(new[] { 16, 3 }, new float[48]), 1));
        b.Connect(b.Constant("out_bias", Tensor.Own(new[] { 3 }, new float[3])), o);
        b.Probe(o);
        var net = NetworkParameters.Reinitialize(1, b.Build().Ok()).Ok();
        var r = new NumpyRandom(2);
        var n = 203;
        var xs = r.Uniform(-1, 1, n * 6).Select(v => (float)v).ToArray();
        var ys = Enumerable.Range(0, n).Select(i => (float)(xs[i * 6] + xs[i * 6 + 1] > 0.3 ? 0 : xs[i * 6 + 2] > 0 ? 1 : 2)).ToArray();
        return (net, new TrainingData(Seq1(Tensor.Own(new[] { n, 6 }, xs)), Tensor.Own(new[] { n }, ys)));
    }

    static byte[] Bytes(Network net) =>
        NetworkParameters.Read(net, false).Bind(p => p.Value.ToArray().SelectMany(BitConverter.GetBytes).ToSeq()).ToArray();

    [Fact]
    public void Training_is_byte_for_byte_reproducible_for_any_thread_count_and_learns()
    {
        var (net, data) = Classifier();
        FitOptions Options(int threads, uint seed) => new(new Adam(0.01), Epochs: 4, BatchSize: 16, Seed: seed) { Gradient = new GradientOptions(Threads: threads) };
        var one = Fit.Run(Options(1, 9), net, data, Some(data)).Ok();
        var three = Fit.Run(Options(3, 9), net, data, Some(data)).Ok();
        var again = Fit.Run(Options(1, 9), net, data, None).Ok();
        var other = Fit.Run(Options(1, 10), net, data, None).Ok();
        Assert.Equal(Bytes(one.Network), Bytes(three.Network));
        Assert.Equal(Bytes(one.Network), Bytes(again.Network));
        Assert.NotEqual(Bytes(one.Network), Bytes(other.Network));   // the seed orders the samples
        Assert.Equal(one.History.Map(h => h.Loss), three.History.Map(h => h.Loss));
        // It learns: the loss falls and the validation accuracy (the training set here) ends well above chance.
        Assert.True(one.History.Last.Loss < one.History.Head.Loss * 0.8, $"{one.History.Head.Loss} -> {one.History.Last.Loss}");
        Assert.True(one.History.Last.ValidationAccuracy.IfNone(0) > 0.7, $"{one.History.Last.ValidationAccuracy}");
        Assert.Equal(one.History.Last.ValidationAccuracy, Fit.Evaluate(Options(1, 9), one.Network, data).Ok().Accuracy);
        _ = again;
    }

    [Fact]
    public void Frozen_layers_keep_their_parameters_and_unknown_names_are_refused()
    {
        var (net, data) = Classifier();
        var options = new FitOptions(new Sgd(0.1), Epochs: 1, BatchSize: 32) { Freeze = Seq1("hidden") };
        var trained = Fit.Run(options, net, data, None).Ok().Network;
        Parameter P(Network n, string name) => NetworkParameters.Read(n, false).Find(p => p.Name == name).IfNone(() => throw new InvalidOperationException(name));
        Assert.Equal(P(net, "hidden").Value.ToArray(), P(trained, "hidden").Value.ToArray());
        Assert.Equal(P(net, "x->hidden#0").Value.ToArray(), P(trained, "x->hidden#0").Value.ToArray());   // the layer's incoming weights too
        Assert.NotEqual(P(net, "hidden->out#1").Value.ToArray(), P(trained, "hidden->out#1").Value.ToArray());

        var error = Fit.Run(options with { Freeze = Seq("hidden", "dense_9") }, net, data, None).Err();
        Assert.Equal(Errors.UsageCode, error.Code);
        Assert.Contains("'dense_9'", error.Message);
        Assert.Contains("hidden", error.Message);
    }

    [Fact]
    public void Bad_options_and_data_are_refused_with_a_message()
    {
        var (net, data) = Classifier();
        var ok = new FitOptions(new Adam());
        Assert.Contains("batch size", Fit.Run(ok with { BatchSize = 0 }, net, data, None).Err().Message);
        Assert.Contains("learning rate", Fit.Run(ok with { Optimizer = new Adam(-1) }, net, data, None).Err().Message);
        Assert.Contains("momentum", Fit.Run(ok with { Optimizer = new Sgd(0.1, 1.5) }, net, data, None).Err().Message);
        var badLabels = data with { Targets = Tensor.Own(new[] { data.Count }, Enumerable.Repeat(7f, data.Count).ToArray()) };
        Assert.Equal(Errors.LabelsCode, Fit.Run(ok, net, badLabels, None).Err().Code);
        var short_ = data with { Targets = Tensor.Own(new[] { 5 }, new float[5]) };
        Assert.Contains("targets", Fit.Run(ok, net, short_, None).Err().Message);
        var diverging = Fit.Run(new FitOptions(new Sgd(1e6), Epochs: 40) { Gradient = new GradientOptions(Loss.MeanSquaredError) }, Line(1, 0), Data(new[] { 1f, 100f, -50f }, new[] { 1f, 2f, 3f }), None).Err();
        Assert.Contains("diverged", diverging.Message);
    }

    /// <summary>
    /// Issue 19's training from initial weights: a 784-256-10 ReLU MLP built with <see cref="NetworkBuilder"/>,
    /// Glorot-initialized, trained with Adam on the 60,000 Fashion-MNIST training images, reaches at least 0.88 on the
    /// 10,000 test images (the published Fashion-MNIST benchmark puts MLPs of this size at 0.87-0.89).
    /// </summary>
    [SharedFact, Trait("Category", "Slow")]
    public void An_mlp_trained_from_scratch_on_fashion_mnist_reaches_088()
    {
        var dir = Path.Combine(TestModels.Shared!, "data", "fashion-mnist");
        var x = DataFiles.Input(Path.Combine(dir, "train-images-idx3-ubyte.gz"), Arr.create(28, 28)).Ok();
        var y = DataFiles.Labels(Path.Combine(dir, "train-labels-idx1-ubyte.gz"), 60000).Ok();
        var xt = DataFiles.Input(Path.Combine(dir, "x_test_nhwc_u8.npy"), Arr.create(28, 28, 1)).Ok();
        var yt = DataFiles.Labels(Path.Combine(dir, "y_test.npy"), 10000).Ok();
        Tensor Scaled(Tensor t) => Tensor.Own(new[] { t.Shape[0], 784 }, t.ToArray().Select(v => v / 255f).ToArray());
        Tensor Labels(int[] l) => Tensor.Own(new[] { l.Length }, l.Select(v => (float)v).ToArray());

        var b = new NetworkBuilder();
        var input = b.Input("x", 784);
        var h = b.Ensemble("hidden", 256, new RectifiedLinear(), bias: Tensor.Own(new[] { 256 }, new float[256]));
        var o = b.Node("out", 10);
        b.Connect(input, h, new DenseT(Tensor.Own(new[] { 784, 256 }, new float[784 * 256]), 1));
        b.Connect(h, o, new DenseT(Tensor.Own(new[] { 256, 10 }, new float[2560]), 1));
        b.Connect(b.Constant("out_bias", Tensor.Own(new[] { 10 }, new float[10])), o);
        b.Probe(o, softmax: true);
        var net = NetworkParameters.Reinitialize(0, b.Build().Ok()).Ok();
        var options = new FitOptions(new Adam(1e-3), Epochs: 12, BatchSize: 32, Seed: 0) { Gradient = new GradientOptions(Threads: 2) };
        var r = Fit.Run(options, net, new TrainingData(Seq1(Scaled(x)), Labels(y)), Some(new TrainingData(Seq1(Scaled(xt)), Labels(yt)))).Ok();
        var accuracy = r.History.Last.ValidationAccuracy.IfNone(0);
        Assert.True(accuracy >= 0.88, string.Join("; ", r.History.Map(e => $"epoch {e.Epoch}: loss {e.Loss:F4} test {e.ValidationAccuracy.IfNone(0):F4}")));
    }
}
