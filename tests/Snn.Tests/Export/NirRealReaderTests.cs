using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Keras;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Export;

/// <summary>
/// Exported .nir files read with the real NIR package (<c>nir.read</c> of ../shared/vendor/nir, NIR 1.0.7, type check
/// on): node classes, edges, the input/output types NIR's type inference derives, and every weight, bias and neuron
/// parameter compared with the Keras weights and the converted network Snn holds (gains, biases, amplitudes, dt),
/// not with our own file reader. Covers every node type the exporter writes: Input, Output, Affine, Linear, Scale,
/// Conv1d, Conv2d (grouped, non-square, dilated), AvgPool2d, Flatten, IF and LIF.
/// </summary>
[Trait("Category", "Slow")]
public class NirRealReaderTests
{
    sealed record Exported(RealNirGraph Nir, Compiled Compiled, KerasModel Keras)
    {
        public Ensemble Ensemble(string layer) => Compiled.Network.Nodes.OfType<Ensemble>().Single(e => e.Layer == layer);

        /// <summary>The value one spike of <paramref name="layer"/>'s neurons stands for: float32(amplitude / dt) of Snn's network.</summary>
        public double SpikeValue(string layer) => Ensemble(layer).Neuron.OutputAmplitude / Compiled.Network.Dt;
    }

    static Exported Export(KerasModel keras, ConvertOptions convert)
    {
        var compiled = Compile.Run(CompileOptions.Default with { Convert = convert.AsSpiking() }, keras).Ok();
        var graph = Nir.Build(NirOptions.Default, compiled.Legal, compiled.Network).Ok();
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "net.nir");
        try
        {
            Nir.Write(path, graph).Ok();
            return new Exported(RealNirGraph.Read(path), compiled, keras);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    static KerasModel Fixture(string name) => ModelFile.Import(TestModels.Fixture("tfjs", name, "model.json")).Ok();
    static Tensor W(KerasModel m, string layer, string name) => m.Nodes.Single(n => n.Layer == layer).Weight(name).IfNone(() => throw new Exception($"{layer}/{name}"));
    static string LayerOf(KerasModel m, string className, int i = 0) => m.Nodes.Where(n => n.ClassName == className).Select(n => n.Layer).ElementAt(i);

    static void Bits(float expected, float actual, string where)
    {
        if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual))
            throw new Xunit.Sdk.XunitException($"{where}: expected {expected:R}, nir.read has {actual:R}");
    }

    static void Float32(RealNirArray a, int[] shape, Func<int, float> expected, string where)
    {
        Assert.Equal("float32", a.DType);
        Assert.Equal(shape, a.Shape);
        var v = a.F;
        for (var i = 0; i < v.Length; i++) Bits(expected(i), v[i], $"{where}[{i}]");
    }

    static void Type(IReadOnlyDictionary<string, int[]?> t, string key, params int[] shape)
    {
        Assert.True(t.TryGetValue(key, out var s) && s is not null, $"no type '{key}'");
        Assert.Equal(shape, s);
    }

    /// <summary>NIR Conv2d weight [o, c', i', j'] of a Keras kernel (kh, kw, in/groups, out), written ungrouped with zero taps in front.</summary>
    static void Conv2dWeight(RealNirNode node, Tensor kernel, int inChannels, int groups, double scale, int leadH = 0, int leadW = 0, string where = "")
    {
        int kh = kernel.Shape[0], kw = kernel.Shape[1], cin = kernel.Shape[2], cout = kernel.Shape[3];
        var shape = node["weight"].Shape;
        int sh = shape[2], sw = shape[3], perGroup = cout / groups;
        Assert.Equal(new[] { cout, inChannels, sh, sw }, shape);
        Float32(node["weight"], shape, idx =>
        {
            int j = idx % sw, i = idx / sw % sh, c = idx / (sw * sh) % inChannels, o = idx / (sw * sh * inChannels);
            int g = o / perGroup, ci = c - g * cin, ki = i - leadH, kj = j - leadW;
            if (ci < 0 || ci >= cin || ki < 0 || ki >= kh || kj < 0 || kj >= kw) return 0f;
            return (float)(scale * kernel[((ki * kw + kj) * cin + ci) * cout + o]);
        }, where);
    }

    /// <summary>
    /// Dense → IF → Dense → IF → Dense, firing-rate scale 10: Affine weights are float32(gain × input spike value ×
    /// kernelᵀ) with Snn's gains and amplitude/dt, fused biases are the ensembles' biases, IF nodes have r 1,
    /// v_threshold 1, v_reset 0; the LIF swap gives LIF nodes with tau = the network's tau_rc.
    /// </summary>
    [RealNirFact]
    public void DenseChain_IfAndLif_WeightsAndNeuronParameters()
    {
        var w1 = TestModels.Random(new[] { 4, 5 }, 1);
        var w2 = TestModels.Random(new[] { 5, 3 }, 3);
        var w3 = TestModels.Random(new[] { 3, 2 }, 5);
        var b3 = TestModels.Random(new[] { 2 }, 6);
        var model = Sequential(new[] { 4 },
            new L("Dense", "d1", new { units = 5, activation = "relu" }, ("kernel", w1), ("bias", TestModels.Random(new[] { 5 }, 2))),
            new L("Dense", "d2", new { units = 3, activation = "relu" }, ("kernel", w2), ("bias", TestModels.Random(new[] { 3 }, 4))),
            new L("Dense", "d3", new { units = 2, activation = "linear" }, ("kernel", w3), ("bias", b3)));
        foreach (var lif in new[] { false, true })
        {
            var convert = ConvertOptions.Default with { ScaleFiringRates = Some(10f) };
            if (lif) convert = convert with { Swap = Map(("relu", "LIF")) };
            var x = Export(model, convert);
            var g = x.Nir;
            var neuron = lif ? "LIF" : "IF";
            string a1 = g.Node("d1", "Affine"), a2 = g.Node("d2", "Affine"), a3 = g.Node("d3", "Affine");
            string n1 = g.Node("d1", neuron), n2 = g.Node("d2", neuron);
            Assert.Equal(new[] { ("input", a1), (a1, n1), (n1, a2), (a2, n2), (n2, a3), (a3, "output") }, g.Edges);
            Assert.Equal(7, g.Nodes.Count);
            Assert.Equal("Input", g["input"].Type);
            Assert.Equal("Output", g["output"].Type);
            Type(g.InputType, "input", 4);
            Type(g.OutputType, "output", 2);
            Type(g[n1].InputType, "input", 5);
            Type(g[a3].OutputType, "output", 2);

            void Dense(string node, Tensor k, double factor)
            {
                int inN = k.Shape[0], outN = k.Shape[1];
                Float32(g[node]["weight"], new[] { outN, inN }, idx => (float)(factor * k[idx % inN * outN + idx / inN]), node);
            }
            Dense(a1, w1, x.Ensemble("d1").Gain);
            Dense(a2, w2, x.Ensemble("d2").Gain * x.SpikeValue("d1"));
            Dense(a3, w3, x.SpikeValue("d2"));
            Float32(g[a1]["bias"], new[] { 5 }, i => x.Ensemble("d1").Bias[i], "d1 bias");
            Float32(g[a2]["bias"], new[] { 3 }, i => x.Ensemble("d2").Bias[i], "d2 bias");
            Float32(g[a3]["bias"], new[] { 2 }, i => b3[i], "d3 bias");

            foreach (var (node, layer, size) in new[] { (n1, "d1", 5), (n2, "d2", 3) })
            {
                var n = g[node];
                Assert.Equal(neuron, n.Type);
                Float32(n["r"], new[] { size }, _ => 1f, "r");
                Float32(n["v_threshold"], new[] { size }, _ => 1f, "v_threshold");
                Float32(n["v_reset"], new[] { size }, _ => 0f, "v_reset");
                if (lif)
                {
                    var tau = ((Lif)x.Ensemble(layer).Neuron).TauRc;
                    Float32(n["tau"], new[] { size }, _ => tau, "tau");
                    Float32(n["v_leak"], new[] { size }, _ => 0f, "v_leak");
                }
                Assert.Equal(layer, n.Metadata["keras_layer"]);
            }
        }
    }

    /// <summary>
    /// A channels_first Conv2D → IF → AvgPool2d → Flatten → Dense: the kernel transposed to (out, in, kh, kw), the
    /// ensemble's bias per channel, pooling and flatten fields, the Dense columns in Keras's flatten order times the
    /// spike value, and the types nir.read infers along the chain.
    /// </summary>
    [RealNirFact]
    public void ConvPoolFlattenDense_ChannelsFirst()
    {
        var keras = Fixture("conv_channels_first");
        var x = Export(keras, ConvertOptions.Default);
        var g = x.Nir;
        string convLayer = LayerOf(keras, "Conv2D"), poolLayer = LayerOf(keras, "AveragePooling2D"),
            flatLayer = LayerOf(keras, "Flatten"), denseLayer = LayerOf(keras, "Dense");
        string conv = g.Node(convLayer, "Conv2d"), iff = g.Node(convLayer, "IF"), pool = g.Node(poolLayer, "AvgPool2d"),
            flat = g.Node(flatLayer, "Flatten"), dense = g.Node(denseLayer, "Affine");
        Assert.Equal(new[] { ("input", conv), (conv, iff), (iff, pool), (pool, flat), (flat, dense), (dense, "output") }, g.Edges);
        Type(g.InputType, "input", 2, 8, 8);
        Type(g[conv].OutputType, "output", 4, 6, 6);
        Type(g[pool].OutputType, "output", 4, 3, 3);
        Type(g[flat].OutputType, "output", 36);
        Type(g.OutputType, "output", 3);

        Conv2dWeight(g[conv], W(keras, convLayer, "kernel"), 2, 1, x.Ensemble(convLayer).Gain, where: "conv");
        var bias = x.Ensemble(convLayer).Bias;   // channels first (4, 6, 6): one value per channel
        Float32(g[conv]["bias"], new[] { 4 }, c => bias[c * 36], "conv bias");
        Assert.Equal(new long[] { 1, 1 }, g[conv]["stride"].L);
        Assert.Equal(new long[] { 0, 0 }, g[conv]["padding"].L);
        Assert.Equal(new long[] { 1, 1 }, g[conv]["dilation"].L);
        Assert.Equal(new long[] { 1 }, g[conv]["groups"].L);
        Assert.Equal(new long[] { 8, 8 }, g[conv]["input_shape"].L);
        Assert.Equal(new long[] { 2, 2 }, g[pool]["kernel_size"].L);
        Assert.Equal(new long[] { 2, 2 }, g[pool]["stride"].L);
        Assert.Equal(new long[] { 0, 0 }, g[pool]["padding"].L);
        Assert.Equal(new long[] { 0 }, g[flat]["start_dim"].L);
        Assert.Equal(new long[] { -1 }, g[flat]["end_dim"].L);
        Float32(g[iff]["r"], new[] { 4, 6, 6 }, _ => 1f, "r");

        // Keras flattens the channels_first (4, 3, 3) in channels-last order: Dense row (h*3 + w)*4 + c.
        var k = W(keras, denseLayer, "kernel");
        var s = x.SpikeValue(convLayer);
        Float32(g[dense]["weight"], new[] { 3, 36 }, idx =>
        {
            int o = idx / 36, c = idx % 36 / 9, h = idx % 9 / 3, w = idx % 3;
            return (float)(s * k[((h * 3 + w) * 4 + c) * 3 + o]);
        }, "dense");
        Float32(g[dense]["bias"], new[] { 3 }, i => W(keras, denseLayer, "bias")[i], "dense bias");
    }

    /// <summary>
    /// Depthwise (3 channels × 2) and separable convolutions: nir.read's type check takes C_in from the weight, so the
    /// grouped kernels are written ungrouped: block-diagonal (out, in, kh, kw) weights, groups 1, zeros between groups.
    /// </summary>
    [RealNirFact]
    public void GroupedConvolutions_WrittenUngrouped()
    {
        var keras = Fixture("depthwise_separable");
        var x = Export(keras, ConvertOptions.Default);
        var g = x.Nir;
        var dwLayer = LayerOf(keras, "DepthwiseConv2D");
        var sepLayer = LayerOf(keras, "SeparableConv2D");
        var dk = W(keras, dwLayer, "depthwise_kernel");   // (3, 3, 3, 2)
        var dwKernel = Tensor.Own(new[] { 3, 3, 1, 6 }, dk.Span.ToArray());   // (kh, kw, in/groups = 1, out = c*2 + m)
        var dconv = g.Node(dwLayer, "Conv2d");
        // The Keras layer of the neurons each convolution feeds (its gain is folded into the weights).
        string NeuronsAfter(string conv) => g[g.OutOf(conv).Single(n => g[n].Type == "IF")].Metadata["keras_layer"];
        var dwNeurons = NeuronsAfter(dconv);
        Conv2dWeight(g[dconv], dwKernel, 3, 3, x.Ensemble(dwNeurons).Gain, where: "depthwise");
        Assert.Equal(new long[] { 1 }, g[dconv]["groups"].L);
        Type(g[dconv].InputType, "input", 3, 8, 8);
        Type(g[dconv].OutputType, "output", 6, 8, 8);

        var sep = g.Nodes.Where(n => n.Value.Type == "Conv2d" && n.Value.Metadata["keras_layer"] == sepLayer).Select(n => n.Key).ToArray();
        Assert.Equal(2, sep.Length);
        var depth = sep.Single(n => g.Into(n).All(p => g[p].Type == "IF"));
        var point = sep.Single(n => n != depth);
        Assert.Equal(new[] { depth }, g.Into(point));
        Assert.Equal("Flatten", g[g.OutOf(point).Single()].Type);
        var sdk = W(keras, sepLayer, "depthwise_kernel");
        int sc = sdk.Shape[2];
        Conv2dWeight(g[depth], Tensor.Own(new[] { 3, 3, 1, sc }, sdk.Span.ToArray()), sc, sc, x.SpikeValue(dwNeurons), where: "separable depthwise");
        Conv2dWeight(g[point], W(keras, sepLayer, "pointwise_kernel"), sc, 1, 1.0, where: "pointwise");   // linear, no neurons after it
    }

    /// <summary>
    /// Strided non-square kernels (the fixture's two Conv2D layers): NIR 1.0's type inference reads one kernel side, so the
    /// export pads kernels square with zero taps and widens the padding; nir.read infers Keras's output shapes, and the
    /// taps are the Keras kernel, transposed, at the offset the padding gives.
    /// </summary>
    [RealNirFact]
    public void NonSquareKernels_SquaredWithZeroTaps()
    {
        var keras = Fixture("conv_strides_kernel");
        var x = Export(keras, ConvertOptions.Default);
        var g = x.Nir;
        var convs = keras.Nodes.Where(n => n.ClassName == "Conv2D").Select(n => n.Layer).ToArray();
        foreach (var (layer, i) in convs.Select((l, i) => (l, i)))
        {
            var node = g.Node(layer, "Conv2d");
            var k = W(keras, layer, "kernel");
            var shape = g[node]["weight"].Shape;
            Assert.Equal(shape[2], shape[3]);
            Assert.NotEqual(k.Shape[0], k.Shape[1]);
            // Keras's output shapes (4, 3, 4) and (2, 2, 2) (channels last) against nir.read's inferred types (channels first).
            Type(g[node].OutputType, "output", i == 0 ? new[] { 4, 4, 3 } : new[] { 2, 2, 2 });
            // Where the real taps sit: the zero taps in front on each axis are (square side - Keras side) split by the padding.
            var pad = g[node]["padding"].L;
            int leadH = (int)pad[0] - KerasPadBefore(x, layer, 0), leadW = (int)pad[1] - KerasPadBefore(x, layer, 1);
            var relu = x.Compiled.Network.Nodes.OfType<Ensemble>().Single().Layer;   // the ReLU between the convolutions
            var scale = i == 0 ? x.Ensemble(relu).Gain : x.SpikeValue(relu);
            Conv2dWeight(g[node], k, k.Shape[2], 1, scale, leadH, leadW, layer);
        }
        Type(g.OutputType, "output", 8);
        // The flattened (C=2, H=2, W=2) output is the model output: a Linear permutation back to Keras's (H, W, C) order.
        var perm = g.Into("output").Single();
        Assert.Equal("Linear", g[perm].Type);
        Float32(g[perm]["weight"], new[] { 8, 8 }, idx =>
        {
            int row = idx / 8, col = idx % 8, h = row / 4, w = row / 2 % 2, c = row % 2;
            return col == c * 4 + h * 2 + w ? 1f : 0f;
        }, "permutation");
    }

    /// <summary>TF's 'same' padding before the first row/column (the larger half goes after).</summary>
    static int KerasPadBefore(Exported x, string layer, int axis) =>
        ((Snn.Compiler.Legalize.LConv)x.Compiled.Legal.Ops.Single(o => o is Snn.Compiler.Legalize.LConv && o.Layer == layer)).Spec.PadBefore[axis];

    /// <summary>
    /// Conv1D, average pooling written as an averaging Conv1d and a global average pool, with --max-pool avg: Conv1d
    /// weights (out, in, k) from Keras (k, in, out), and the inferred (C, L) types.
    /// </summary>
    [RealNirFact]
    public void Conv1d_KernelsAndTypes()
    {
        var keras = Fixture("conv1d");
        var x = Export(keras, ConvertOptions.Default with { MaxPool = MaxPoolMethod.Avg });
        var g = x.Nir;
        var first = LayerOf(keras, "Conv1D");
        var node = g.Node(first, "Conv1d");
        var k = W(keras, first, "kernel");
        int kw = k.Shape[0], cin = k.Shape[1], cout = k.Shape[2];
        // TF 'same' with an even kernel pads one more cell after: NIR gets symmetric padding and zero taps in front.
        var taps = g[node]["weight"].Shape[2];
        var lead = (int)g[node]["padding"].L[0] - KerasPadBefore(x, first, 0);
        Assert.True(taps == kw + lead && lead >= 0, $"{taps} taps, {lead} in front, Keras kernel {kw}");
        Float32(g[node]["weight"], new[] { cout, cin, taps }, idx =>
        {
            int t = idx % taps - lead, c = idx / taps % cin, o = idx / (taps * cin);
            return t < 0 ? 0f : k[(t * cin + c) * cout + o];
        }, "conv1d");
        Type(g.InputType, "input", cin, keras.InputShapes[0][0]);
        Assert.Equal(new[] { "input" }, g.Into(node));
        Assert.All(g.Nodes.Values, n => Assert.Contains(n.Type, new[] { "Input", "Output", "Conv1d", "IF", "Flatten" }));
    }

    /// <summary>
    /// snn_toolbox's real LeNet (../shared): the chain of 12 nodes, the types nir.read infers from (1, 28, 28) to 10,
    /// every convolution's kernel transposed and scaled by Snn's gain and input spike value, and the Dense's columns in
    /// the channels-first flatten order.
    /// </summary>
    [RealNirFact]
    public void RealLeNet_ChainTypesAndWeights()
    {
        var keras = ModelFile.Import(Path.Combine(Shared!, "models", "real", "snn_toolbox", "lenet_avgpool_mnist_weights.10-0.99.h5")).Ok();
        var x = Export(keras, ConvertOptions.Default);
        var g = x.Nir;
        Assert.Equal(12, g.Nodes.Count);
        Assert.Equal(11, g.Edges.Length);
        Type(g.InputType, "input", 1, 28, 28);
        Type(g.OutputType, "output", 10);
        string previous = "input";
        foreach (var (layer, i) in new[] { "conv2d_1", "conv2d_2", "conv2d_3" }.Select((l, i) => (l, i)))
        {
            var conv = g.Node(layer, "Conv2d");
            var k = W(keras, layer, "kernel");
            var scale = x.Ensemble(layer).Gain * (i == 0 ? 1.0 : x.SpikeValue(previous));
            Conv2dWeight(g[conv], k, k.Shape[2], 1, scale, where: layer);
            Assert.Equal(g.Node(layer, "IF"), g.OutOf(conv).Single());
            previous = layer;
        }
        Type(g[g.Node("conv2d_1", "IF")].OutputType, "output", 6, 24, 24);
        Type(g[g.Node("flatten_1", "Flatten")].OutputType, "output", 1920);
        var dense = g.Node("dense_1", "Affine");
        var kd = W(keras, "dense_1", "kernel");
        var s = x.SpikeValue("conv2d_3");
        Float32(g[dense]["weight"], new[] { 10, 1920 }, idx =>
        {
            int o = idx / 1920, c = idx % 1920 / 16, h = idx % 16 / 4, w = idx % 4;
            return (float)(s * kd[((h * 4 + w) * 120 + c) * 10 + o]);
        }, "dense_1");
    }

    /// <summary>A residual Add into a ReLU: the shortcut's spikes pass a Scale node worth the spike value; NIR sums both edges.</summary>
    [RealNirFact]
    public void ResidualAdd_ScaleNode()
    {
        var model = Functional(new[] { "x" }, new[] { new[] { 4 } }, new[] { "out" },
            (new L("Dense", "a", new { units = 4, activation = "relu" }, ("kernel", TestModels.Random(new[] { 4, 4 }, 1)), ("bias", TestModels.Random(new[] { 4 }, 2))), new[] { "x" }),
            (new L("Dense", "b", new { units = 4, activation = "linear" }, ("kernel", TestModels.Random(new[] { 4, 4 }, 3)), ("bias", TestModels.Random(new[] { 4 }, 4))), new[] { "a" }),
            (new L("Add", "add", new { }), new[] { "a", "b" }),
            (new L("ReLU", "relu", new { }), new[] { "add" }),
            (new L("Dense", "out", new { units = 2, activation = "linear" }, ("kernel", TestModels.Random(new[] { 4, 2 }, 5)), ("bias", TestModels.Random(new[] { 2 }, 6))), new[] { "relu" }));
        var x = Export(model, ConvertOptions.Default);
        var g = x.Nir;
        string ifA = g.Node("a", "IF"), b = g.Node("b", "Affine"), relu = g.Node("relu", "IF");
        var into = g.Into(relu);
        Assert.Equal(2, into.Length);
        Assert.Contains(b, into);
        var scale = into.Single(n => n != b);
        Assert.Equal("Scale", g[scale].Type);
        Assert.Equal(new[] { ifA }, g.Into(scale));
        Float32(g[scale]["scale"], new[] { 4 }, _ => (float)x.SpikeValue("a"), "shortcut scale");
        Type(g[relu].InputType, "input", 4);
    }
}
