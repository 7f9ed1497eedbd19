using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Tests.Support;
using Snn.Training;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Training;

/// <summary>
/// Writing a trained network back into the user's Keras model (<see cref="KerasWriteBack"/>, issue 19 item 3) and the
/// per-channel bias tying training uses for it (<see cref="BiasTying"/>). Oracles: numpy/h5py perturb the Keras file
/// itself (keras_weights_oracle.py), Snn converts that file with the same calibration (per-neuron scales fixed) to make
/// the "trained" network, and the write-back must give back h5py's values; Snn's Keras reference evaluator (layer by
/// layer from the Keras weights, BatchNormalization not folded) must compute on the written file what the trained
/// network computes in rate mode.
/// </summary>
public sealed class KerasWriteBackTests
{
    static readonly string Oracle = Path.Combine(TestModels.RepoRoot, "tests", "Snn.Tests", "Training", "keras_weights_oracle.py");

    /// <summary>
    /// Fixtures and the weight datasets that numpy perturbs in each: those the write-back writes for a network change
    /// (a bias behind a folded BatchNormalization with a beta lands in the beta, without one in the layer's bias).
    /// </summary>
    public static TheoryData<string, string[]> Fixtures() => new()
    {
        // Dense(relu) -> Dense: an ensemble with calibrated per-neuron gains, a constant node.
        { "keras/keras_sequential.keras", ["layers/dense/vars/0", "layers/dense/vars/1", "layers/dense_1/vars/0", "layers/dense_1/vars/1"] },
        // Dense -> BatchNormalization(scale=False) folded -> Dense: the kernel is divided by the fold's scale, the bias goes into beta.
        { "keras/keras_bn_no_scale.keras", ["layers/dense/vars/0", "layers/batch_normalization/vars/0", "layers/dense_1/vars/0", "layers/dense_1/vars/1"] },
        // Conv2D -> BatchNormalization(center=False) folded -> Dense: no beta, so the conv's bias takes the change ÷ scale.
        { "keras/keras_bn_no_center.keras", ["layers/conv2d/vars/0", "layers/conv2d/vars/1", "layers/dense/vars/0", "layers/dense/vars/1"] },
        // Conv2D(relu) -> BatchNormalization (not folded: after the activation) -> Dense: gamma and beta from the scale and shift.
        { "keras/legacy_tfkeras24_functional_bn.h5", [
            "model_weights/conv2d/conv2d/kernel:0", "model_weights/conv2d/conv2d/bias:0",
            "model_weights/batch_normalization/batch_normalization/gamma:0", "model_weights/batch_normalization/batch_normalization/beta:0",
            "model_weights/dense/dense/kernel:0", "model_weights/dense/dense/bias:0"] },
    };

    static readonly string[] LeNetPaths = new[] { "conv2d_1", "conv2d_2", "conv2d_3", "dense_1", "dense_2" }
        .SelectMany(l => new[] { $"model_weights/{l}/{l}/kernel:0", $"model_weights/{l}/{l}/bias:0" }).ToArray();

    static string LeNet => Path.Combine(TestModels.Shared!, "models", "real", "snn_toolbox", "lenet5_mnist_99.14.h5");

    [H5pyTheory]
    [MemberData(nameof(Fixtures))]
    public void Keras_space_changes_come_back_as_h5py_wrote_them(string fixture, string[] paths) =>
        KerasSpaceRoundTrip(TestModels.Fixture(fixture.Split('/')), paths);

    [H5pyFact]
    public void Real_LeNet5_channels_first_keras_space_changes_come_back()
    {
        if (TestModels.Shared is null) return;
        KerasSpaceRoundTrip(LeNet, LeNetPaths);
    }

    /// <summary>
    /// Calibration's bias shift θ/(2T) adds to every calibrated neuron's bias an offset that no Keras weight holds; the
    /// write-back moves the Keras bias by the trained change only, so the offset stays out of the file.
    /// </summary>
    [H5pyFact]
    public void A_bias_shift_offset_stays_out_of_the_keras_bias() =>
        KerasSpaceRoundTrip(TestModels.Fixture("keras", "keras_sequential.keras"), Fixtures().Select(r => (string[])r[1]).First(),
            CalibrateOptions.Default with { BiasShiftSteps = 4 });

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Network_space_training_with_tied_biases_is_what_the_written_model_computes(string fixture, string[] paths)
    {
        _ = paths;
        NetworkSpaceRoundTrip(TestModels.Fixture(fixture.Split('/')));
    }

    /// <summary>
    /// The loop the training code runs (a few steps of plain SGD here): parameters in Keras space (tied biases and an
    /// unfolded BatchNormalization's scale and shift per channel, kernels as held), only the writable ones trained, the
    /// network their function (Untie), the gradient tied (Tie). The loss falls and the result writes back without
    /// averaging, computing what the trained network computes.
    /// </summary>
    [Fact]
    public void Plain_sgd_through_the_ties_stays_writable()
    {
        var path = TestModels.Fixture("keras", "legacy_tfkeras24_functional_bn.h5");
        var model = ModelFile.Import(path).Ok();
        var (functions, _, converted, inputs) = Converted(path);
        var ties = KerasWriteBack.Ties(KerasWriteBackOptions.Default, model, converted).Ok();
        var writable = KerasWriteBack.Writable(KerasWriteBackOptions.Default, model, converted, path).Ok();
        Assert.Equal(NetworkParameters.Read(converted, false).Count, writable.Count);
        var labels = Tensor.Own([16], Enumerable.Range(0, 16).Select(i => (float)(i % 2)).ToArray());
        var parameters = BiasTying.Channels(ties, toMap(NetworkParameters.Read(converted, false).Filter(p => writable.Contains(p.Name)).Map(p => (p.Name, p.Value))));
        var net = converted;
        var losses = new List<double>();
        for (var step = 0; step < 6; step++)
        {
            var result = NetworkGradient.Run(GradientOptions.Default, net, inputs, labels).Ok();
            losses.Add(result.Loss);
            var gradients = BiasTying.Tie(ties, result.Gradients.Filter((name, _) => writable.Contains(name)));
            parameters = parameters.Map((name, v) => Tensor.Own(v.Shape.ToArray(), v.ToArray().Select((x, i) => x - 0.01f * gradients[name][i]).ToArray()));
            net = NetworkParameters.Write(converted, BiasTying.Untie(ties, parameters)).Ok();
        }
        Assert.True(losses[^1] < losses[0], $"loss {string.Join(" -> ", losses)}");

        var dir = TempDir();
        try
        {
            var written = Path.Combine(dir, "trained.h5");
            KerasWriteBack.Write(KerasWriteBackOptions.Default, path, written, converted, net).Ok();
            SameOutputs(functions, net, written, inputs);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void An_unfolded_batch_normalization_is_tied_per_channel_of_its_axis()
    {
        // Conv2D(relu) -> BatchNormalization (channels-last, 3 channels over 3×3 positions): its scale and shift are
        // tied, element i to channel i mod 3, at the values γ/√(σ²+ε) and β − μ·γ/√(σ²+ε) h5py computes.
        var path = TestModels.Fixture("keras", "legacy_tfkeras24_functional_bn.h5");
        var (_, _, converted, _) = Converted(path);
        var ties = KerasWriteBack.Ties(KerasWriteBackOptions.Default, ModelFile.Import(path).Ok(), converted).Ok();
        var scale = converted.Connections.Single(c => c.Transform is ScaleT);
        var shift = converted.Connections.Single(c => c.Post == scale.Post && c.Pre != scale.Pre).Pre;
        var check = Python.Run("""
            import sys, h5py, numpy as np
            g = h5py.File(sys.argv[1], 'r')['model_weights/batch_normalization/batch_normalization']
            s = g['gamma:0'][()] / np.sqrt(g['moving_variance:0'][()] + np.float32(0.001))
            print(' '.join('%.9g' % v for v in np.concatenate([s, g['beta:0'][()] - g['moving_mean:0'][()] * s])))
            """, path);
        var want = check.Out.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(v => float.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(6, want.Length);
        foreach (var (name, offset) in new[] { (scale.Id, 0), (shift, 3) })
        {
            var t = ties[name];
            Assert.Equal(3, t.Channels);
            Assert.Equal(Enumerable.Range(0, 27).Select(i => i % 3), t.Channel);
            for (var c = 0; c < 3; c++) Assert.Equal(want[offset + c], t.ChannelReference[c], 5);
        }
    }

    /// <summary>More layouts for training's view: a nested model, an Add, Theano-flipped and Keras 2.0 legacy convolutions.</summary>
    [Theory]
    [InlineData("keras/keras_nested_sequential.keras")]
    [InlineData("keras/keras_functional_add.keras")]
    [InlineData("keras/legacy_theano_conv.h5")]
    [InlineData("keras/legacy_keras20_conv.h5")]
    public void Network_space_training_of_other_fixtures_is_what_the_written_model_computes(string fixture) =>
        NetworkSpaceRoundTrip(TestModels.Fixture(fixture.Split('/')));

    [SharedFact]
    public void Real_LeNet5_network_space_training_is_what_the_written_model_computes() => NetworkSpaceRoundTrip(LeNet);

    /// <summary>
    /// numpy perturbs <paramref name="paths"/> in a copy of the model; the trained network is that copy converted with the
    /// original's calibration; the write-back of (original, converted, trained) must be the copy (h5py), and compute
    /// the trained network's outputs (Snn's Keras reference evaluator on the written file against NetEval).
    /// </summary>
    static void KerasSpaceRoundTrip(string path, string[] paths, CalibrateOptions? calibration = null)
    {
        var dir = TempDir();
        try
        {
            var o = calibration ?? CalibrateOptions.Default;
            var (functions, measured, converted, inputs) = Converted(ModelFile.Import(path).Ok(), o);
            var expected = Path.Combine(dir, "expected" + Path.GetExtension(path));
            Run("perturb", path, expected, "7", paths);
            var trained = Calibrate.Apply(o, measured, Compile.Front(CompileOptions.Default, ModelFile.Import(expected).Ok()).Ok().Network).Network;

            var written = Path.Combine(dir, "trained" + Path.GetExtension(path));
            KerasWriteBack.Write(KerasWriteBackOptions.Default, path, written, converted, trained).Ok();
            var report = Run("compare", expected, written, "", paths);
            Assert.True(report == "OK", $"{path}: h5py finds\n{report}");
            // A bias shift adds to the network what no Keras weight holds: the outputs then differ by design.
            if (o.BiasShiftSteps == 0) SameOutputs(functions, trained, written, inputs);
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// Training's view: every Dense/Conv kernel and every tied bias (in Keras units, through <see cref="BiasTying"/>)
    /// moved by seeded noise in the network; the written model must compute what the trained network computes, by the
    /// Keras reference evaluator and by converting it again with the same calibration.
    /// </summary>
    static void NetworkSpaceRoundTrip(string path)
    {
        var dir = TempDir();
        try
        {
            var (functions, measured, converted, inputs) = Converted(path);
            // The model's ties: BiasTying's, and an unfolded BatchNormalization's scale and shift per channel.
            var ties = KerasWriteBack.Ties(KerasWriteBackOptions.Default, ModelFile.Import(path).Ok(), converted).Ok();
            Assert.True(BiasTying.Of(converted).Keys.ToHashSet().IsSubsetOf(ties.Keys));
            var trained = Perturbed(converted, seed: 3, ties);
            Assert.False(NetworkParameters.Read(trained, false).Zip(NetworkParameters.Read(converted, false)).ForAll(p => p.Item1.Value.Span.SequenceEqual(p.Item2.Value.Span)));

            var written = Path.Combine(dir, "trained" + Path.GetExtension(path));
            KerasWriteBack.Write(KerasWriteBackOptions.Default, path, written, converted, trained).Ok();
            SameOutputs(functions, trained, written, inputs);

            // Converted again with the same calibration, the written model is the trained network.
            var again = Compile.Front(CompileOptions.Default, ModelFile.Import(written).Ok()).Ok();
            var recalibrated = Calibrate.Apply(CalibrateOptions.Default, measured, again.Network).Network;
            var want = NetEval.Run(functions, trained, inputs).Ok();
            var got = NetEval.Run(again.Functions, recalibrated, inputs).Ok();
            for (var i = 0; i < want.Count; i++) Close(want[i], got[i], $"{path}: re-converted output {i}");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>The network after a training step's worth of change: kernels elementwise, tied biases per channel in Keras units.</summary>
    static Network Perturbed(Network net, int seed, Map<string, TiedBias>? tying = null)
    {
        var rng = new Random(seed);
        var ties = tying ?? BiasTying.Of(net);
        var kernels = net.Connections.Filter(c => c.Transform is DenseT or ConvT).Map(c => c.Id).ToHashSet();
        float Noise(float scale) => (float)(scale * (rng.NextDouble() * 2 - 1));
        var values = Map<string, Tensor>();
        foreach (var p in NetworkParameters.Read(net, false))
        {
            if (ties.Find(p.Name).TryGet(out var t))
            {
                var b = BiasTying.Channels(t, p.Value).ToArray();
                var size = b.Select(Math.Abs).DefaultIfEmpty(0f).Average() + 0.05f;
                values = values.Add(p.Name, BiasTying.Untie(t, Tensor.Own(new[] { b.Length }, b.Select(v => v + Noise(0.3f * size)).ToArray())));
            }
            else if (kernels.Contains(p.Name))
            {
                var size = p.Value.ToArray().Select(Math.Abs).Average() + 0.01f;
                values = values.Add(p.Name, p.Value.Map(v => v + Noise(0.3f * size)));
            }
        }
        return NetworkParameters.Write(net, values).Ok();
    }

    [H5pyFact]
    public void A_bias_trained_per_neuron_is_refused_and_averaged_on_request()
    {
        var path = TestModels.Fixture("keras", "keras_bn_no_center.keras");
        var dir = TempDir();
        try
        {
            var (_, _, converted, _) = Converted(path);
            // The conv's folded bias is a constant node with one value per output element (3×3 positions × 3 channels,
            // channels-last): move one element of channel 1 alone.
            var bias = NetworkParameters.Read(converted, false).Single(p => p.Kind == ParameterKind.Constant && p.Value.Length == 27);
            var moved = bias.Value.ToArray();
            moved[4] += 0.5f;
            var trained = NetworkParameters.Write(converted, Map((bias.Name, Tensor.Own(new[] { 27 }, moved)))).Ok();
            var written = Path.Combine(dir, "trained.keras");
            var refused = KerasWriteBack.Write(KerasWriteBackOptions.Default, path, written, converted, trained).Err();
            Assert.Contains("not tied per channel", refused.Message);
            Assert.Contains("channel 1", refused.Message);
            Assert.False(File.Exists(written));

            // Averaged: channel 1's conv bias moves by 0.5 / 9 positions ÷ the folded scale γ/√(σ²+ε) (h5py reads both).
            KerasWriteBack.Write(KerasWriteBackOptions.Default with { AverageUntiedBiases = true }, path, written, converted, trained).Ok();
            var check = Python.Run("""
                import sys, zipfile, io, h5py, numpy as np
                def w(p):
                    f = h5py.File(io.BytesIO(zipfile.ZipFile(p).read('model.weights.h5')), 'r')
                    return {k: f['layers/' + k][()] for k in ['conv2d/vars/1', 'batch_normalization/vars/0', 'batch_normalization/vars/2']}
                a, b = w(sys.argv[1]), w(sys.argv[2])
                s = a['batch_normalization/vars/0'] / np.sqrt(a['batch_normalization/vars/2'] + np.float32(0.001))
                want = a['conv2d/vars/1'].astype(np.float64) + np.array([0, 0.5 / 9, 0]) / s
                print('OK' if np.allclose(b['conv2d/vars/1'], want, rtol=1e-5, atol=1e-6) else ('%s vs %s' % (b['conv2d/vars/1'], want)))
                """, path, written);
            Assert.True(check.Out.Trim() == "OK", check.Out + check.Err);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_tfjs_model_is_refused()
    {
        var dir = TempDir();
        try
        {
            var path = TestModels.Fixture("tfjs", "conv_channels_first", "model.json");
            var (_, _, converted, _) = Converted(path);
            var error = KerasWriteBack.Write(KerasWriteBackOptions.Default, path, Path.Combine(dir, "out.keras"), converted, Perturbed(converted, 1)).Err();
            Assert.Equal(Errors.UnexportableCode, error.Code);
            Assert.Contains("TF.js", error.Message);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void A_network_that_is_not_the_converted_one_is_refused()
    {
        var path = TestModels.Fixture("keras", "keras_sequential.keras");
        var (_, _, converted, _) = Converted(path);
        var model = ModelFile.Import(path).Ok();
        // Another gain (another calibration) is not a trained parameter.
        var regained = converted with { Nodes = converted.Nodes.Map(n => n is Ensemble e ? e with { Gain = e.Gain * 2 } : n).Strict() };
        Assert.Contains("differs in more than its parameters", KerasWriteBack.Weights(KerasWriteBackOptions.Default, model, converted, regained, path).Err().Message);
        // A network converted from another model does not hold this model's kernels.
        var other = Compile.Front(CompileOptions.Default, ModelFile.Import(TestModels.Fixture("keras", "keras_functional_add.keras")).Ok()).Ok().Network;
        Assert.True(KerasWriteBack.Weights(KerasWriteBackOptions.Default, model, other, other, path).IsLeft);
    }

    [Fact]
    public void Tying_maps_each_neuron_to_its_channel_and_its_gradient_is_the_chain_rule()
    {
        // Conv2D channels-first, 2 filters over 3×3 outputs, relu, with per-neuron scales: channel = i / 9.
        var model = TestModels.Sequential([1, 4, 4],
            new TestModels.L("Conv2D", "conv", new { filters = 2, kernel_size = new[] { 2, 2 }, activation = "relu", data_format = "channels_first" },
                ("kernel", TestModels.Random([2, 2, 1, 2], 1)), ("bias", TestModels.T([2], 0.25f, -0.5f))));
        var net = Compile.Front(CompileOptions.Default, model).Ok().Network;
        var e = net.Nodes.OfType<Ensemble>().Single();
        var scale = Enumerable.Range(0, 18).Select(i => 1f + i / 18f).ToArray();
        var gain = 3f;
        var scaled = e with { Gain = gain, NeuronScale = Some(Tensor.Own(new[] { 18 }, scale)), Bias = Tensor.Own(new[] { 18 }, Enumerable.Range(0, 18).Select(i => gain * scale[i] * (i < 9 ? 0.25f : -0.5f)).ToArray()) };
        net = net with { Nodes = net.Nodes.Map(n => n.Id == e.Id ? scaled : n).Strict() };

        var t = BiasTying.Of(net)[e.Id];
        Assert.Equal(2, t.Channels);
        Assert.Equal(Enumerable.Range(0, 18).Select(i => i / 9), t.Channel);
        Assert.Equal(0.25f, t.ChannelReference[0], 6);
        Assert.Equal(-0.5f, t.ChannelReference[1], 6);
        // Untie at the reference gives the biases back bit for bit; elsewhere Bias_i = g_i·b_c (no offsets here).
        Assert.True(BiasTying.Untie(t, t.ChannelReference).Span.SequenceEqual(scaled.Bias.Span));
        var moved = BiasTying.Untie(t, TestModels.T([2], 1f, 2f));
        for (var i = 0; i < 18; i++) Assert.Equal(gain * scale[i] * (i < 9 ? 1f : 2f), moved[i], 4);
        Assert.Equal(new[] { 1f, 2f }, BiasTying.Channels(t, moved).ToArray().Select(v => MathF.Round(v, 5)));
        // ∂L/∂b_c for L = Σ_i w_i·Bias_i(b) is Σ_{i in c} w_i·g_i: checked against a central difference of that L.
        var w = Enumerable.Range(0, 18).Select(i => (float)Math.Sin(i)).ToArray();
        var grad = BiasTying.Tie(t, Tensor.Own(new[] { 18 }, w));
        double L(float b0, float b1) => BiasTying.Untie(t, TestModels.T([2], b0, b1)).ToArray().Select((v, i) => (double)v * w[i]).Sum();
        Assert.Equal((L(0.26f, -0.5f) - L(0.24f, -0.5f)) / 0.02, grad[0], 2);
        Assert.Equal((L(0.25f, -0.49f) - L(0.25f, -0.51f)) / 0.02, grad[1], 2);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Depthwise_and_separable_kernels_go_back_to_their_own_variables(bool channelsFirst)
    {
        var format = channelsFirst ? "channels_first" : "channels_last";
        var model = TestModels.Sequential(channelsFirst ? [2, 6, 6] : [6, 6, 2],
            new TestModels.L("DepthwiseConv2D", "dw", new { kernel_size = new[] { 3, 3 }, depth_multiplier = 2, activation = "relu", data_format = format },
                ("depthwise_kernel", TestModels.Random([3, 3, 2, 2], 5)), ("bias", TestModels.Random([4], 6, -0.2f, 0.4f))),
            new TestModels.L("SeparableConv2D", "sep", new { filters = 3, kernel_size = new[] { 2, 2 }, depth_multiplier = 1, activation = "relu", data_format = format },
                ("depthwise_kernel", TestModels.Random([2, 2, 4, 1], 7)), ("pointwise_kernel", TestModels.Random([1, 1, 4, 3], 8)), ("bias", TestModels.Random([3], 9, -0.2f, 0.4f))),
            new TestModels.L("Flatten", "flat", new { data_format = format }),
            new TestModels.L("Dense", "out", new { units = 2 }, ("kernel", TestModels.Random([27, 2], 10)), ("bias", TestModels.Random([2], 11))));
        var (functions, _, converted, inputs) = Converted(model);
        var trained = Perturbed(converted, seed: 5);
        var weights = KerasWriteBack.Weights(KerasWriteBackOptions.Default, model, converted, trained, "test").Ok();
        Assert.Equal(["bias", "depthwise_kernel"], weights["dw"].Keys);
        Assert.Equal(["bias", "depthwise_kernel", "pointwise_kernel"], weights["sep"].Keys);
        Assert.Equal(new[] { 3, 3, 2, 2 }, weights["dw"]["depthwise_kernel"].Shape);
        // The Keras reference evaluator with the new weights computes the trained network.
        var written = WithWeights(model, weights);
        var want = NetEval.Run(functions, trained, inputs).Ok();
        var got = KerasEval.Run(written, inputs).Ok();
        Close(want[0], got[0], $"{format} depthwise/separable");
    }

    [Fact]
    public void Only_parameters_with_a_Keras_weight_are_writable_and_changes_to_others_are_refused()
    {
        // a: Dense without bias; b: Dense relu; c: Dense relu without bias; avg = Average(a, b) weighs each by 0.5; act: an
        // activation layer (an ensemble whose zero bias no Keras weight holds).
        var model = TestModels.Functional(["x"], [[4]], ["act", "c"],
            (new TestModels.L("Dense", "a", new { units = 3, use_bias = false }, ("kernel", TestModels.Random([4, 3], 1))), ["x"]),
            (new TestModels.L("Dense", "b", new { units = 3, activation = "relu" }, ("kernel", TestModels.Random([4, 3], 2)), ("bias", TestModels.Random([3], 3))), ["x"]),
            (new TestModels.L("Dense", "c", new { units = 3, activation = "relu", use_bias = false }, ("kernel", TestModels.Random([4, 3], 4))), ["x"]),
            (new TestModels.L("Average", "avg", new { }), ["a", "b"]),
            (new TestModels.L("Activation", "act", new { activation = "relu" }), ["avg"]));
        var (_, _, converted, _) = Converted(model);
        var kernels = converted.Connections.Filter(c => c.Transform is DenseT).Map(c => c.Id).ToHashSet();
        Assert.Equal(3, kernels.Count);
        var writable = KerasWriteBack.Writable(KerasWriteBackOptions.Default, model, converted, "test").Ok();
        Assert.Equal(kernels.Append("b").Order(StringComparer.Ordinal), writable.Order(StringComparer.Ordinal));

        // Everything else that training could move is refused, every one in the same error.
        var averaging = converted.Connections.Filter(c => c.Post == "avg").Head;
        var moved = Map(("act", Tensor.Filled([3], 0.1f)), ("c", Tensor.Filled([3], 0.1f)), (averaging.Id, Tensor.Filled([1], 0.7f)));
        var error = KerasWriteBack.Weights(KerasWriteBackOptions.Default, model, converted, NetworkParameters.Write(converted, moved).Ok(), "test").Err();
        Assert.Contains("'act'", error.Message);
        Assert.Contains("use_bias=False", error.Message);
        Assert.Contains(averaging.Id, error.Message);
        Assert.Equal(2, error.Message.Split("holds no trainable Keras weight").Length - 1);
    }

    /// <summary>The model with its layers' weights replaced by <paramref name="weights"/> (layer → variable → value).</summary>
    static KerasModel WithWeights(KerasModel model, Map<string, Map<string, Tensor>> weights) =>
        model with
        {
            Nodes = model.Nodes.Map(n => weights.Find(n.Layer).Match(w => n with { Weights = w.Fold(n.Weights, (acc, k, v) => acc.AddOrUpdate(k, v)) }, () => n)).Strict(),
        };

    /// <summary>The model converted with the defaults and calibrated per channel on seeded inputs; those inputs.</summary>
    static (NodeFunctions Functions, Measured Measured, Network Network, Seq<Tensor> Inputs) Converted(string path) => Converted(ModelFile.Import(path).Ok());

    static (NodeFunctions Functions, Measured Measured, Network Network, Seq<Tensor> Inputs) Converted(KerasModel model, CalibrateOptions? calibration = null)
    {
        var o = calibration ?? CalibrateOptions.Default;
        var front = Compile.Front(CompileOptions.Default, model).Ok();
        var rng = new Random(11);
        var inputs = model.InputShapes.Map(s =>
        {
            var shape = new[] { 16 }.Concat(s.Map(d => d < 0 ? 1 : d)).ToArray();
            return Tensor.Own(shape, Enumerable.Range(0, shape.Aggregate(1, (a, b) => a * b)).Select(_ => (float)rng.NextDouble()).ToArray());
        }).ToSeq().Strict();
        var measured = Calibrate.Measure(o, front.Functions, front.Network, inputs).Ok();
        return (front.Functions, measured, Calibrate.Apply(o, measured, front.Network).Network, inputs);
    }

    /// <summary>The written model (Snn's Keras reference evaluator) computes the trained network's rate outputs.</summary>
    static void SameOutputs(NodeFunctions functions, Network trained, string written, Seq<Tensor> inputs)
    {
        var want = NetEval.Run(functions, trained, inputs).Ok();
        var got = KerasEval.Run(ModelFile.Import(written).Ok(), inputs).Ok();
        Assert.Equal(want.Count, got.Count);
        for (var i = 0; i < want.Count; i++) Close(want[i], got[i], $"{written}: output {i}");
    }

    static void Close(Tensor want, Tensor got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        var tolerance = 1e-4f * Math.Max(1f, want.ToArray().Select(Math.Abs).Max());
        var worst = Enumerable.Range(0, want.Length).Max(i => Math.Abs(want[i] - got[i]));
        Assert.True(worst <= tolerance, $"{what}: off by up to {worst} (tolerance {tolerance})");
    }

    static string Run(string mode, string a, string b, string seed, string[] paths)
    {
        var args = new[] { Oracle, mode, a, b }.Concat(mode == "perturb" ? new[] { seed } : System.Array.Empty<string>()).Concat(paths);
        var (code, output, error) = Python.Run(args);
        Assert.True(code == 0, $"{Oracle} {mode} failed: {error}");
        return output.Trim();
    }

    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
