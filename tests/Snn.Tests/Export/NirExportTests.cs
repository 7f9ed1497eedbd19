using System.Text.Json;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Keras;
using Snn.Compiler.Hdf5;
using Snn.Compiler.Legalize;

using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Export;

/// <summary>
/// <c>snn export --format nir</c> and <see cref="Nir.Build"/>: files read back with this project's HDF5 reader (and
/// with h5py) must have the NIR 1.0 layout (nir-format.md), kernels transposed to channels-first exactly as the
/// Keras kernel indices say, flatten permutations folded into the next Dense, spike values and gains folded into
/// weights as README "Export to NIR" states, and every layer NIR cannot express refused by name.
/// </summary>
[Trait("Category", "Slow")]
public class NirExportTests
{
    /// <summary>A NIR file opened with our reader.</summary>
    sealed class NirFile(H5File file)
    {
        public H5Group Root => file.Root;
        public H5Group Nodes => G("/node/nodes");
        public H5Group G(string path) => file.Root.Group(path).Ok().IfNone(() => throw new Xunit.Sdk.XunitException($"no group {path}"));
        public H5Dataset D(string path) => file.Root.Dataset(path).Ok().IfNone(() => throw new Xunit.Sdk.XunitException($"no dataset {path}"));
        public string[] Names => Nodes.ChildNames().Ok().ToArray();
        public string Type(string node) => D($"/node/nodes/{node}/type").ReadStrings().Ok().Single();
        public float[] F(string node, string field) => D($"/node/nodes/{node}/{field}").ReadFloat32().Ok();
        public int[] Shape(string node, string field) => D($"/node/nodes/{node}/{field}").Shape().Ok();
        public long[] L(string node, string field) => D($"/node/nodes/{node}/{field}").ReadFloat64().Ok().Select(x => (long)x).ToArray();
        public string DType(string node, string field) => D($"/node/nodes/{node}/{field}").Describe().Ok().Split(';')[0];
        public string MetaText(string node, string key) => D($"/node/nodes/{node}/metadata/{key}").ReadStrings().Ok().Single();
        public double MetaNum(string node, string key) => D($"/node/nodes/{node}/metadata/{key}").ReadFloat64().Ok().Single();
        public float[] MetaFloats(string node, string key) => D($"/node/nodes/{node}/metadata/{key}").ReadFloat32().Ok();
        public (string From, string To)[] Edges
        {
            get
            {
                var e = D("/node/edges");
                var s = e.ReadStrings().Ok().ToArray();
                Assert.Equal(new[] { s.Length / 2, 2 }, e.Shape().Ok());
                return Enumerable.Range(0, s.Length / 2).Select(i => (s[2 * i], s[2 * i + 1])).ToArray();
            }
        }

        /// <summary>The one node of <paramref name="type"/> whose metadata names <paramref name="layer"/>.</summary>
        public string Node(string layer, string type) =>
            Names.Single(n => Type(n) == type && Nodes.Dataset($"{n}/metadata/keras_layer").Ok().Match(d => d.ReadStrings().Ok().Single() == layer, () => false));

        public string[] Into(string node) => Edges.Where(e => e.To == node).Select(e => e.From).ToArray();
        public string[] OutOf(string node) => Edges.Where(e => e.From == node).Select(e => e.To).ToArray();
    }

    static (int Code, string Err) RunExport(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var result = Snn.Cli.Export.Run(args, stdout, stderr);
        return result.Match(code => (code, stderr.ToString()), e => (Errors.ExitCode(e), e.Message));
    }

    static string TempPath() => Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"), "net.nir");

    static NirFile ExportCli(string model, params string[] extra)
    {
        var path = TempPath();
        var (code, err) = RunExport(new[] { model, "--format", "nir", "--out", path }.Concat(extra).ToArray());
        Assert.True(code == 0, err);
        var file = H5File.Open(File.ReadAllBytes(path), path).Ok();
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        return new NirFile(file);
    }

    static (NirGraph Graph, NirFile File, Compiled Compiled) ExportApi(KerasModel model, ConvertOptions convert)
    {
        var compiled = Compile.Run(CompileOptions.Default with { Convert = convert.AsSpiking() }, model).Ok();
        var graph = Nir.Build(NirOptions.Default, compiled.Legal, compiled.Network).Ok();
        var bytes = H5Writer.ToBytes(Nir.ToHdf5(graph)).Ok();
        return (graph, new NirFile(H5File.Open(bytes, "api.nir").Ok()), compiled);
    }

    static string Tfjs(string name) => Fixture("tfjs", name, "model.json");
    static KerasModel Load(string path) => ModelFile.Import(path).Ok();
    static Tensor W(KerasModel m, string layer, string name) => m.Nodes.Single(n => n.Layer == layer).Weight(name).IfNone(() => throw new Exception($"{layer}/{name}"));

    /// <summary>The value one spike stands for, as the simulator computes it: float32 amplitude / float32 dt.</summary>
    static float SpikeValue(float amplitude = 1f, float dt = 0.001f) => amplitude / dt;

    static void Bits(float expected, float actual, string where)
    {
        if (BitConverter.SingleToInt32Bits(expected) != BitConverter.SingleToInt32Bits(actual))
            throw new Xunit.Sdk.XunitException($"{where}: expected {expected:R}, file has {actual:R}");
    }

    /// <summary>
    /// NIR conv weight [o, c, i, j] equals scale × Keras kernel [i - leadH, j - leadW, c, o] (Keras layout kh, kw, in, out)
    /// and zero elsewhere; the NIR kernel is (sh, sw) (larger than Keras's where zero taps were added).
    /// </summary>
    static void ConvWeightIsTransposedKernel(NirFile f, string node, Tensor kernel, double scale, int sh = 0, int sw = 0, int leadH = 0, int leadW = 0)
    {
        int kh = kernel.Shape[0], kw = kernel.Shape[1], cin = kernel.Shape[2], cout = kernel.Shape[3];
        if (sh == 0) (sh, sw) = (kh, kw);
        Assert.Equal(new[] { cout, cin, sh, sw }, f.Shape(node, "weight"));
        var w = f.F(node, "weight");
        for (var o = 0; o < cout; o++)
            for (var c = 0; c < cin; c++)
                for (var i = 0; i < sh; i++)
                    for (var j = 0; j < sw; j++)
                    {
                        int ki = i - leadH, kj = j - leadW;
                        var inside = ki >= 0 && ki < kh && kj >= 0 && kj < kw;
                        Bits(inside ? (float)(scale * kernel[((ki * kw + kj) * cin + c) * cout + o]) : 0f, w[((o * cin + c) * sh + i) * sw + j], $"{node}[{o},{c},{i},{j}]");
                    }
    }

    static void All(float[] values, float v, string what) => Assert.True(values.All(x => x == v), $"{what}: not all {v}");

    // ------------------------------------------------------------------ real LeNet with average pooling

    /// <summary>
    /// snn_toolbox's LeNet (Conv5x5-relu, AvgPool, Conv, AvgPool, Conv, Flatten, Dense): the NIR chain, kernels
    /// transposed, the spike value 1/dt folded into every layer after the first, the Flatten's channels-first order
    /// folded into the Dense columns, IF neurons with the converter's initial voltages transposed to (C, H, W).
    /// </summary>
    [SharedFact]
    public void LeNetAvgPool_ChainWeightsAndNeurons()
    {
        var path = Path.Combine(Shared!, "models", "real", "snn_toolbox", "lenet_avgpool_mnist_weights.10-0.99.h5");
        var keras = Load(path);
        var f = ExportCli(path);
        Assert.Equal("1.0.6", f.D("/version").ReadStrings().Ok().Single());
        Assert.Equal("NIRGraph", f.D("/node/type").ReadStrings().Ok().Single());
        Assert.Equal("variable-length string", f.D("/node/type").Describe().Ok().Split(';')[0]);

        string conv1 = f.Node("conv2d_1", "Conv2d"), if1 = f.Node("conv2d_1", "IF"), pool1 = f.Node("average_pooling2d_1", "AvgPool2d");
        string conv2 = f.Node("conv2d_2", "Conv2d"), if2 = f.Node("conv2d_2", "IF"), pool2 = f.Node("average_pooling2d_2", "AvgPool2d");
        string conv3 = f.Node("conv2d_3", "Conv2d"), if3 = f.Node("conv2d_3", "IF"), flat = f.Node("flatten_1", "Flatten");
        var dense = f.Node("dense_1", "Affine");
        Assert.Equal(new[] { ("input", conv1), (conv1, if1), (if1, pool1), (pool1, conv2), (conv2, if2), (if2, pool2), (pool2, conv3),
            (conv3, if3), (if3, flat), (flat, dense), (dense, "output") }, f.Edges);
        Assert.Equal(12, f.Names.Length);   // the nodes above, input and output included

        Assert.Equal("Input", f.Type("input"));
        Assert.Equal(new long[] { 1, 28, 28 }, f.L("input", "shape"));
        Assert.Equal("int64", f.DType("input", "shape"));
        Assert.Equal("Output", f.Type("output"));
        Assert.Equal(new long[] { 10 }, f.L("output", "shape"));

        // First conv reads real-valued input: the Keras kernel exactly; the others read spikes worth 1/dt.
        var s = SpikeValue();
        ConvWeightIsTransposedKernel(f, conv1, W(keras, "conv2d_1", "kernel"), 1.0);
        ConvWeightIsTransposedKernel(f, conv2, W(keras, "conv2d_2", "kernel"), s);
        ConvWeightIsTransposedKernel(f, conv3, W(keras, "conv2d_3", "kernel"), s);
        Assert.Equal("float32", f.DType(conv1, "weight"));
        foreach (var (node, layer) in new[] { (conv1, "conv2d_1"), (conv2, "conv2d_2"), (conv3, "conv2d_3") })
        {
            Assert.Equal(W(keras, layer, "bias").Span.ToArray(), f.F(node, "bias"));   // gain 1: the Keras bias
            Assert.Equal(new long[] { 1, 1 }, f.L(node, "stride"));
            Assert.Equal(node == conv3 ? new long[] { 2, 2 } : new long[] { 0, 0 }, f.L(node, "padding"));   // conv2d_3 is 5x5 'same'
            Assert.Equal(new long[] { 1, 1 }, f.L(node, "dilation"));
            Assert.Equal(new long[] { 1 }, f.L(node, "groups"));
        }
        Assert.Equal(new long[] { 28, 28 }, f.L(conv1, "input_shape"));
        Assert.Equal(new long[] { 4, 4 }, f.L(conv3, "input_shape"));
        Assert.Equal(1.0, f.MetaNum(conv1, "weight_scale"));
        Assert.Equal((double)s, f.MetaNum(conv2, "weight_scale"));

        foreach (var pool in new[] { pool1, pool2 })
        {
            Assert.Equal(new long[] { 2, 2 }, f.L(pool, "kernel_size"));
            Assert.Equal(new long[] { 2, 2 }, f.L(pool, "stride"));
            Assert.Equal(new long[] { 0, 0 }, f.L(pool, "padding"));
        }
        Assert.Equal(new long[] { 0 }, f.L(flat, "start_dim"));
        Assert.Equal(new long[] { -1 }, f.L(flat, "end_dim"));
        Assert.Equal(new long[] { 120, 4, 4 }, f.L(flat, "input_type"));

        // Dense column i (NIR flat index over C=120, H=4, W=4) is Keras input row (h*4 + w)*120 + c.
        var k = W(keras, "dense_1", "kernel");
        var dw = f.F(dense, "weight");
        Assert.Equal(new[] { 10, 1920 }, f.Shape(dense, "weight"));
        for (var o = 0; o < 10; o++)
            for (var c = 0; c < 120; c++)
                for (var h = 0; h < 4; h++)
                    for (var w = 0; w < 4; w++)
                        Bits((float)((double)s * k[((h * 4 + w) * 120 + c) * 10 + o]), dw[o * 1920 + c * 16 + h * 4 + w], $"dense[{o},{c},{h},{w}]");
        Assert.Equal(W(keras, "dense_1", "bias").Span.ToArray(), f.F(dense, "bias"));

        // IF neurons: r = 1, threshold 1, reset 0 per neuron in (C, H, W); Nengo's SpikingRectifiedLinear semantics in metadata.
        var compiled = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() }, keras).Ok();
        foreach (var (node, layer, shape) in new[] { (if1, "conv2d_1", new[] { 6, 24, 24 }), (if3, "conv2d_3", new[] { 120, 4, 4 }) })
        {
            Assert.Equal(shape, f.Shape(node, "r"));
            All(f.F(node, "r"), 1f, "r");
            All(f.F(node, "v_threshold"), 1f, "v_threshold");
            All(f.F(node, "v_reset"), 0f, "v_reset");
            Assert.Equal("SpikingRectifiedLinear", f.MetaText(node, "neuron"));
            Assert.Equal("subtract", f.MetaText(node, "reset"));
            Assert.Equal(1.0, f.MetaNum(node, "clip_current"));
            Assert.Equal((double)0.001f, f.MetaNum(node, "dt"));
            Assert.Equal(1.0, f.MetaNum(node, "gain"));
            Assert.Equal((double)s, f.MetaNum(node, "spike_value"));
            Assert.Contains("v += max(J, 0)*dt", f.MetaText(node, "step"));
            var ensemble = compiled.Network.Nodes.OfType<Ensemble>().Single(e => e.Layer == layer);
            var v0 = ensemble.InitialVoltage.IfNone(() => throw new Exception("no voltages"));
            var v = f.MetaFloats(node, "v_initial");
            int C = shape[0], H = shape[1], Wd = shape[2];
            for (var c = 0; c < C; c++)
                for (var h = 0; h < H; h++)
                    for (var w = 0; w < Wd; w++)
                        Bits(v0[(h * Wd + w) * C + c], v[(c * H + h) * Wd + w], $"{node} v_initial");
        }
        Assert.Equal((double)0.001f, f.G("/node/metadata").Dataset("dt").Ok().IfNone(() => throw new Exception()).ReadFloat64().Ok()[0]);
    }

    // ------------------------------------------------------------------ fixtures through the CLI

    /// <summary>Depthwise (groups = in channels, depth multiplier 2) and separable convolutions, Flatten folded into Dense.</summary>
    [Fact]
    public void DepthwiseSeparable_GroupedKernelsAndFlattenFoldedIntoDense()
    {
        var path = Tfjs("depthwise_separable");
        var keras = Load(path);
        var f = ExportCli(path);
        var dwLayer = keras.Nodes.Single(n => n.ClassName == "DepthwiseConv2D").Layer;
        var sepLayer = keras.Nodes.Single(n => n.ClassName == "SeparableConv2D").Layer;
        var denseLayer = keras.Nodes.Single(n => n.ClassName == "Dense").Layer;

        // DepthwiseConv2D kernel (kh, kw, in, mult): output channel c*mult + m reads input channel c. Written ungrouped
        // (groups 1, zeros off the diagonal blocks) so that nir.read's type check accepts it.
        var dk = W(keras, dwLayer, "depthwise_kernel");
        int kh = dk.Shape[0], kw = dk.Shape[1], cin = dk.Shape[2], mult = dk.Shape[3];
        var dconv = f.Node(dwLayer, "Conv2d");
        Assert.Equal(new long[] { 1 }, f.L(dconv, "groups"));
        Assert.Equal(new[] { cin * mult, cin, kh, kw }, f.Shape(dconv, "weight"));
        var w = f.F(dconv, "weight");
        for (var c = 0; c < cin; c++)
            for (var m = 0; m < mult; m++)
                for (var ci = 0; ci < cin; ci++)
                    for (var i = 0; i < kh; i++)
                        for (var j = 0; j < kw; j++)
                            Bits(ci == c ? dk[((i * kw + j) * cin + c) * mult + m] : 0f, w[(((c * mult + m) * cin + ci) * kh + i) * kw + j], "depthwise");
        Assert.Equal(new long[] { 1, 1 }, f.L(dconv, "padding"));   // 'same', 3x3, stride 1

        // Separable: a depthwise part (reading spikes) and a pointwise part.
        var nodes = f.Names.Where(n => f.Type(n) == "Conv2d" && f.MetaText(n, "keras_layer") == sepLayer).ToArray();
        Assert.Equal(2, nodes.Length);
        var sepDepth = nodes.Single(n => f.Into(n).All(p => f.Type(p) == "IF"));
        var sepPoint = nodes.Single(n => n != sepDepth);
        Assert.Equal(new[] { sepDepth }, f.Into(sepPoint));
        var sdk = W(keras, sepLayer, "depthwise_kernel");
        var sw = f.F(sepDepth, "weight");
        int sc = sdk.Shape[2];
        Assert.Equal(new[] { sc, sc, 3, 3 }, f.Shape(sepDepth, "weight"));
        for (var c = 0; c < sc; c++)
            for (var ci = 0; ci < sc; ci++)
                for (var i = 0; i < 3; i++)
                    for (var j = 0; j < 3; j++)
                        Bits(ci == c ? (float)((double)SpikeValue() * sdk[(i * 3 + j) * sc + c]) : 0f, sw[((c * sc + ci) * 3 + i) * 3 + j], "separable depthwise");
        ConvWeightIsTransposedKernel(f, sepPoint, W(keras, sepLayer, "pointwise_kernel"), 1.0);
        Assert.Equal(W(keras, sepLayer, "bias").Span.ToArray(), f.F(sepPoint, "bias"));

        // Flatten of (C=4, H=6, W=6) into the Dense: column c*36 + h*6 + w is Keras row (h*6 + w)*4 + c.
        var flat = f.Node(keras.Nodes.Single(n => n.ClassName == "Flatten").Layer, "Flatten");
        Assert.Equal(new long[] { 4, 6, 6 }, f.L(flat, "input_type"));
        var dense = f.Node(denseLayer, "Affine");
        Assert.Equal(new[] { flat }, f.Into(dense));
        var k = W(keras, denseLayer, "kernel");
        var units = k.Shape[1];
        var dw = f.F(dense, "weight");
        for (var o = 0; o < units; o++)
            for (var c = 0; c < 4; c++)
                for (var h = 0; h < 6; h++)
                    for (var x = 0; x < 6; x++)
                        Bits(k[((h * 6 + x) * 4 + c) * units + o], dw[o * 144 + c * 36 + h * 6 + x], "dense");
    }

    /// <summary>A channels_first model: input and kernels keep their layout; Keras's channels_first Flatten (a transpose) folds into the Dense.</summary>
    [Fact]
    public void ChannelsFirst_TransposeOfFlattenFoldedIntoDense()
    {
        var path = Tfjs("conv_channels_first");
        var keras = Load(path);
        var f = ExportCli(path);
        Assert.Equal(new long[] { 2, 8, 8 }, f.L("input", "shape"));
        var convLayer = keras.Nodes.Single(n => n.ClassName == "Conv2D").Layer;
        ConvWeightIsTransposedKernel(f, f.Node(convLayer, "Conv2d"), W(keras, convLayer, "kernel"), 1.0);
        Assert.Equal(new[] { 4, 6, 6 }, f.Shape(f.Node(convLayer, "IF"), "r"));
        var denseLayer = keras.Nodes.Single(n => n.ClassName == "Dense").Layer;
        var dense = f.Node(denseLayer, "Affine");
        var k = W(keras, denseLayer, "kernel");
        var dw = f.F(dense, "weight");
        // Pooled (C=4, H=3, W=3) spikes; Keras flattens channels_first tensors in channels-last order.
        for (var o = 0; o < 3; o++)
            for (var c = 0; c < 4; c++)
                for (var h = 0; h < 3; h++)
                    for (var w = 0; w < 3; w++)
                        Bits((float)((double)SpikeValue() * k[((h * 3 + w) * 4 + c) * 3 + o]), dw[o * 36 + c * 9 + h * 3 + w], "dense");
    }

    /// <summary>A flattened image with no consumer is the model output: a Linear permutation restores Keras's order.</summary>
    [Fact]
    public void PermutedOutput_IsRestoredByAPermutationMatrix()
    {
        var path = Tfjs("conv_strides_kernel");
        var keras = Load(path);
        var f = ExportCli(path);
        var convs = keras.Nodes.Where(n => n.ClassName == "Conv2D").Select(n => n.Layer).ToArray();
        // Non-square kernels are made square with zero taps (nir.read's type inference reads one kernel side).
        var first = f.Node(convs[0], "Conv2d");
        // Kernel (3, 2), 'valid', stride (2, 3) on (10, 8): one zero column in front with padding 1 keeps the 3 columns of output.
        Assert.Equal(new long[] { 0, 1 }, f.L(first, "padding"));
        ConvWeightIsTransposedKernel(f, first, W(keras, convs[0], "kernel"), 1.0, 3, 3, 0, 1);
        Assert.Equal(new long[] { 2, 3 }, f.L(first, "stride"));
        var second = f.Node(convs[1], "Conv2d");
        // Kernel (1, 3), 'same' on (4, 3) with stride 2: one cell each side along W; along H one zero row each side, padding 1.
        Assert.Equal(new long[] { 1, 1 }, f.L(second, "padding"));
        ConvWeightIsTransposedKernel(f, second, W(keras, convs[1], "kernel"), SpikeValue(), 3, 3, 1, 0);
        // Output (2, 2, 2) channels-last; NIR holds (C=2, H=2, W=2): Keras element (h*2 + w)*2 + c is NIR c*4 + h*2 + w.
        var perm = f.Into("output").Single();
        Assert.Equal("Linear", f.Type(perm));
        Assert.Equal(new long[] { 8 }, f.L("output", "shape"));
        var pw = f.F(perm, "weight");
        for (var c = 0; c < 2; c++)
            for (var h = 0; h < 2; h++)
                for (var w = 0; w < 2; w++)
                    for (var i = 0; i < 8; i++)
                        Assert.Equal(i == c * 4 + h * 2 + w ? 1f : 0f, pw[((h * 2 + w) * 2 + c) * 8 + i]);
    }

    // ------------------------------------------------------------------ the library API on small models

    /// <summary>
    /// TF 'same' padding with stride 2 puts the extra cell after; NIR pads symmetrically, so the kernel gets a zero
    /// row/column in front. The convolution the file describes (evaluated here with NIR/PyTorch semantics) equals the
    /// Keras convolution (TF semantics), both written out in this test.
    /// </summary>
    [Fact]
    public void AsymmetricSamePadding_ZeroTapsInFront_SameOutputs()
    {
        var kernel = TestModels.Random(new[] { 3, 3, 2, 3 }, seed: 7);
        var bias = TestModels.Random(new[] { 3 }, seed: 8);
        var model = Sequential(new[] { 8, 8, 2 },
            new L("Conv2D", "conv", new { filters = 3, kernel_size = new[] { 3, 3 }, strides = new[] { 2, 2 }, padding = "same", activation = "relu" },
                ("kernel", kernel), ("bias", bias)));
        var (_, f, _) = ExportApi(model, ConvertOptions.Default);
        var conv = f.Node("conv", "Conv2d");
        Assert.Equal(new[] { 3, 2, 4, 4 }, f.Shape(conv, "weight"));
        Assert.Equal(new long[] { 1, 1 }, f.L(conv, "padding"));
        Assert.Equal(new long[] { 1, 1 }, f.D($"/node/nodes/{conv}/metadata/zero_taps_before").ReadFloat64().Ok().Select(x => (long)x).ToArray());
        var w = f.F(conv, "weight");
        for (var o = 0; o < 3; o++)
            for (var c = 0; c < 2; c++)
                for (var i = 0; i < 4; i++)
                    for (var j = 0; j < 4; j++)
                        Bits(i == 0 || j == 0 ? 0f : kernel[(((i - 1) * 3 + (j - 1)) * 2 + c) * 3 + o], w[((o * 2 + c) * 4 + i) * 4 + j], "weight");

        var x = TestModels.Random(new[] { 8, 8, 2 }, seed: 9);
        // Keras/TF: out = 4; total padding (4-1)*2 + 3 - 8 = 1, none before, one after.
        for (var o = 0; o < 3; o++)
            for (var oy = 0; oy < 4; oy++)
                for (var ox = 0; ox < 4; ox++)
                {
                    double tf = 0, nir = 0;
                    for (var c = 0; c < 2; c++)
                    {
                        for (var i = 0; i < 3; i++)
                            for (var j = 0; j < 3; j++)
                            {
                                int y = oy * 2 + i, xx = ox * 2 + j;
                                if (y < 8 && xx < 8) tf += kernel[((i * 3 + j) * 2 + c) * 3 + o] * x[(y * 8 + xx) * 2 + c];
                            }
                        for (var i = 0; i < 4; i++)
                            for (var j = 0; j < 4; j++)
                            {
                                int y = oy * 2 + i - 1, xx = ox * 2 + j - 1;
                                if (y >= 0 && y < 8 && xx >= 0 && xx < 8) nir += w[((o * 2 + c) * 4 + i) * 4 + j] * x[(y * 8 + xx) * 2 + c];
                            }
                    }
                    Assert.Equal(tf, nir, 6);
                }
    }

    /// <summary>
    /// scale_firing_rates s: gain s and amplitude 1/s, so a spike is worth (1/s)/dt; weight = float32(gain × input spike
    /// value × W) and bias = s × b for a Dense fused with its neurons; the output Dense keeps its own bias.
    /// </summary>
    [Fact]
    public void FiringRateScale_GainAndSpikeValueFoldedIntoWeights()
    {
        var w1 = TestModels.Random(new[] { 4, 5 }, 1);
        var b1 = TestModels.Random(new[] { 5 }, 2);
        var w2 = TestModels.Random(new[] { 5, 3 }, 3);
        var b2 = TestModels.Random(new[] { 3 }, 4);
        var w3 = TestModels.Random(new[] { 3, 2 }, 5);
        var b3 = TestModels.Random(new[] { 2 }, 6);
        var model = Sequential(new[] { 4 },
            new L("Dense", "d1", new { units = 5, activation = "relu" }, ("kernel", w1), ("bias", b1)),
            new L("Dense", "d2", new { units = 3, activation = "relu" }, ("kernel", w2), ("bias", b2)),
            new L("Dense", "d3", new { units = 2, activation = "linear" }, ("kernel", w3), ("bias", b3)));
        const float scale = 10f;
        var (graph, f, _) = ExportApi(model, ConvertOptions.Default with { ScaleFiringRates = Some(scale) });
        Assert.Equal(7, graph.Nodes.Count);
        var spike = SpikeValue(1f / scale);
        string a1 = f.Node("d1", "Affine"), a2 = f.Node("d2", "Affine"), a3 = f.Node("d3", "Affine");
        string n1 = f.Node("d1", "IF"), n2 = f.Node("d2", "IF");
        Assert.Equal(new[] { ("input", a1), (a1, n1), (n1, a2), (a2, n2), (n2, a3), (a3, "output") }, f.Edges);
        void DenseIs(string node, Tensor k, double factor)
        {
            int inN = k.Shape[0], outN = k.Shape[1];
            Assert.Equal(new[] { outN, inN }, f.Shape(node, "weight"));
            var w = f.F(node, "weight");
            for (var o = 0; o < outN; o++)
                for (var i = 0; i < inN; i++) Bits((float)(factor * k[i * outN + o]), w[o * inN + i], node);
            Assert.Equal(factor, f.MetaNum(node, "weight_scale"));
        }
        DenseIs(a1, w1, scale);
        DenseIs(a2, w2, (double)scale * spike);
        DenseIs(a3, w3, spike);
        Assert.Equal(b1.Span.ToArray().Select(b => b * scale).ToArray(), f.F(a1, "bias"));
        Assert.Equal(b3.Span.ToArray(), f.F(a3, "bias"));
        Assert.Equal((double)scale, f.MetaNum(n1, "gain"));
        Assert.Equal((double)(1f / scale), f.MetaNum(n1, "amplitude"));
        Assert.Equal((double)spike, f.MetaNum(n1, "spike_value"));
    }

    /// <summary>swap relu → LIF gives NIR LIF nodes (tau = tau_rc, r 1, v_leak 0, threshold 1, reset 0; tau_ref in metadata); --reset zero is recorded.</summary>
    [Fact]
    public void LifAndResetToZero_FieldsAndMetadata()
    {
        var model = Sequential(new[] { 3 },
            new L("Dense", "d1", new { units = 4, activation = "relu" }, ("kernel", TestModels.Random(new[] { 3, 4 }, 1)), ("bias", TestModels.Random(new[] { 4 }, 2))),
            new L("Dense", "d2", new { units = 2, activation = "relu" }, ("kernel", TestModels.Random(new[] { 4, 2 }, 3)), ("bias", TestModels.Random(new[] { 2 }, 4))));
        var (_, lif, _) = ExportApi(model, ConvertOptions.Default with { Swap = Map(("relu", "LIF")) });
        var node = lif.Node("d1", "LIF");
        All(lif.F(node, "tau"), 0.02f, "tau");
        All(lif.F(node, "r"), 1f, "r");
        All(lif.F(node, "v_leak"), 0f, "v_leak");
        All(lif.F(node, "v_threshold"), 1f, "v_threshold");
        All(lif.F(node, "v_reset"), 0f, "v_reset");
        Assert.Equal((double)0.002f, lif.MetaNum(node, "tau_ref"));
        Assert.Equal("LIF", lif.MetaText(node, "neuron"));

        var (_, zero, _) = ExportApi(model, ConvertOptions.Default with { ResetToZero = true, IntegrateAndFire = true });
        var n = zero.Node("d2", "IF");
        Assert.Equal("zero", zero.MetaText(n, "reset"));
        Assert.Equal("IF", zero.MetaText(n, "neuron"));
        Assert.Equal(0.0, zero.MetaNum(n, "clip_current"));
        Assert.Contains("v = 0 if n > 0", zero.MetaText(n, "step"));
    }

    /// <summary>A residual Add into a ReLU: NIR sums the edges into the IF; the spiking shortcut passes a Scale node (its spike value).</summary>
    [Fact]
    public void ResidualAdd_EdgesSumIntoTheNeurons()
    {
        var model = Functional(new[] { "x" }, new[] { new[] { 4 } }, new[] { "out" },
            (new L("Dense", "a", new { units = 4, activation = "relu" }, ("kernel", TestModels.Random(new[] { 4, 4 }, 1)), ("bias", TestModels.Random(new[] { 4 }, 2))), new[] { "x" }),
            (new L("Dense", "b", new { units = 4, activation = "linear" }, ("kernel", TestModels.Random(new[] { 4, 4 }, 3)), ("bias", TestModels.Random(new[] { 4 }, 4))), new[] { "a" }),
            (new L("Add", "add", new { }), new[] { "a", "b" }),
            (new L("ReLU", "relu", new { }), new[] { "add" }),
            (new L("Dense", "out", new { units = 2, activation = "linear" }, ("kernel", TestModels.Random(new[] { 4, 2 }, 5)), ("bias", TestModels.Random(new[] { 2 }, 6))), new[] { "relu" }));
        var (_, f, _) = ExportApi(model, ConvertOptions.Default);
        string ifA = f.Node("a", "IF"), b = f.Node("b", "Affine"), relu = f.Node("relu", "IF");
        var into = f.Into(relu);
        Assert.Equal(2, into.Length);
        Assert.Contains(b, into);
        var scale = into.Single(n => n != b);
        Assert.Equal("Scale", f.Type(scale));
        Assert.Equal(new[] { ifA }, f.Into(scale));
        All(f.F(scale, "scale"), SpikeValue(), "shortcut scale");
    }

    // ------------------------------------------------------------------ refusals

    [Fact]
    public void MaxPooling_RefusedNamingTheLayerAndSuggestingAvg_ThenExportsWithMaxPoolAvg()
    {
        var path = TempPath();
        var model = Tfjs("nengo_max_pool");
        var (code, err) = RunExport(model, "--format", "nir", "--out", path);
        Assert.Equal(3, code);
        var pools = Legalize.Run(LegalizeOptions.Default, Load(model)).Ok().Ops.OfType<LPool>().Where(p => p.Spec.Kind == PoolKind.Max).ToList();
        Assert.NotEmpty(pools);
        foreach (var p in pools) Assert.Contains($"'{p.Layer}'", err);
        Assert.Contains("--max-pool avg", err);
        Assert.False(File.Exists(path));

        var f = ExportCli(model, "--max-pool", "avg");
        foreach (var p in pools) Assert.Equal("AvgPool2d", f.Type(f.Node(p.Layer, "AvgPool2d")));
    }

    /// <summary>The real Fashion-MNIST CNN: both spiking max pools are refused in one error; with --max-pool avg it exports.</summary>
    [SharedFact]
    public void FashionCnn_MaxPoolsRefusedTogether_AvgExports()
    {
        var model = Path.Combine(Shared!, "models", "real", "image_prediction_on_Fashion_MNIST", "fashion_mnist_model.keras");
        var (code, err) = RunExport(model, "--format", "nir", "--out", TempPath());
        Assert.Equal(3, code);
        Assert.Contains("'max_pooling2d_2'", err);
        Assert.Contains("'max_pooling2d_3'", err);
        Assert.Contains("--max-pool avg", err);
        var f = ExportCli(model, "--max-pool", "avg");
        Assert.Equal(2, f.Names.Count(n => f.Type(n) == "AvgPool2d"));
    }

    [Fact]
    public void UnexpressibleLayers_AllRefusedInOneError()
    {
        var (code, err) = RunExport(Tfjs("fallback_layers"), "--format", "nir", "--out", TempPath());
        Assert.Equal(3, code);
        var legal = Legalize.Run(LegalizeOptions.Default, Load(Tfjs("fallback_layers"))).Ok();
        foreach (var f in legal.Ops.OfType<LFallback>()) Assert.Contains($"'{f.Layer}'", err);

        (code, err) = RunExport(Tfjs("activations"), "--format", "nir", "--out", TempPath());
        Assert.Equal(3, code);
        Assert.Contains("Sigmoid", err);
        Assert.Contains("Tanh", err);

        (code, err) = RunExport(Tfjs("conv_transpose"), "--format", "nir", "--out", TempPath());
        Assert.Equal(3, code);
        Assert.Contains("transposed convolution", err);

        (code, err) = RunExport(Tfjs("functional_merge"), "--format", "nir", "--out", TempPath());
        Assert.Equal(3, code);
        Assert.Contains("concatenation", err);

        (code, err) = RunExport(Tfjs("pooling_same"), "--format", "nir", "--out", TempPath());
        Assert.Equal(3, code);
        Assert.Contains("padded windows", err);

        (code, err) = RunExport(Tfjs("dense_mlp"), "--format", "nir", "--out", TempPath(), "--synapse", "0.005");
        Assert.Equal(3, code);
        Assert.Contains("synapse", err);
    }

    /// <summary>keras_spiking layers, per-channel calibration scales and negative spikes have no NIR form: refused by name, exit 3.</summary>
    [Fact]
    public void KerasSpikingAndPerChannelScales_AreRefusedByName()
    {
        var ks = Snn.Tests.KerasFiles.KerasFileFixtures.PathOf("ks_pipeline.h5");
        var (code, err) = RunExport(ks, "--format", "nir", "--out", TempPath(), "--temporal-model");
        Assert.Equal(3, code);
        Assert.Contains("'spiking_activation'", err);
        Assert.Contains("'lowpass'", err);

        var model = Tfjs("dense_mlp");
        var calibration = TempPath() + ".npy";
        Directory.CreateDirectory(Path.GetDirectoryName(calibration)!);
        Npy.WriteFloat32(calibration, TestModels.Random(new[] { 20 }.Concat(Load(model).InputShapes[0]).ToArray(), 3, 0f, 1f));
        (code, err) = RunExport(model, "--format", "nir", "--out", TempPath(), "--calibrate", calibration, "--per-channel");
        Assert.Equal(3, code);
        Assert.Contains("per-channel", err);
        Assert.Contains("--per-layer", err);
        // The calibrated default neuron emits negative spikes, which NIR's IF cannot: refused, naming the way out.
        (code, err) = RunExport(model, "--format", "nir", "--out", TempPath(), "--calibrate", calibration, "--per-layer");
        Assert.Equal(3, code);
        Assert.Contains("negative spikes", err);
        Assert.Contains("--neuron if", err);
        var (ok, _) = RunExport(model, "--format", "nir", "--out", TempPath(), "--calibrate", calibration, "--per-layer", "--neuron", "if");
        File.Delete(calibration);
        Assert.Equal(0, ok);
    }

    [Fact]
    public void UsageErrors()
    {
        Assert.Equal(2, RunExport(Tfjs("dense_mlp"), "--format", "nir").Code);
        Assert.Equal(2, RunExport(Tfjs("dense_mlp"), "--format", "nir", "--out", "x.nir", "--mode", "rate").Code);
        var (code, err) = RunExport(Tfjs("dense_mlp"), "--format", "onnx", "--out", "x.nir");
        Assert.Equal(2, code);
        Assert.Contains("nir", err);
    }

    // ------------------------------------------------------------------ h5py

    /// <summary>
    /// h5py (the HDF5 C library) reads the exported file: every group, dataset, dtype and value equals the tree the
    /// export wrote, strings read as bytes the way NIR's reader decodes them, and the Dense weights are the Keras
    /// kernel with the flatten order folded in.
    /// </summary>
    [H5pyFact]
    public void H5py_ReadsTheExportedGraph()
    {
        var path = Tfjs("depthwise_separable");
        var keras = Load(path);
        var compiled = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() }, keras).Ok();
        var graph = Nir.Build(NirOptions.Default, compiled.Legal, compiled.Network).Ok();
        var file = TempPath();
        Nir.Write(file, graph).Ok();
        var (code, stdout, stderr) = Python.Run(Snn.Tests.Hdf5.H5WriterTests.H5pyDump, file);
        Assert.True(code == 0, stderr);
        Snn.Tests.Hdf5.H5pyEquivalence.AssertGroupEquals(Nir.ToHdf5(graph), JsonDocument.Parse(stdout).RootElement, "/");

        // As NIR's reader does: compare type datasets with bytes, decode the edges.
        const string script = """
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'r') as f:
    assert f['version'][()] == b'1.0.6', f['version'][()]
    g = f['node']
    assert g['type'][()] == b'NIRGraph'
    known = {b'Input', b'Output', b'Affine', b'Linear', b'Conv1d', b'Conv2d', b'AvgPool2d', b'Flatten', b'IF', b'LIF', b'Scale'}
    for name, node in g['nodes'].items():
        assert node['type'][()] in known, (name, node['type'][()])
        if node['type'][()] in (b'Affine', b'Linear', b'Conv2d'):
            assert node['weight'].dtype == np.float32
    edges = [(a.decode('utf8'), b.decode('utf8')) for a, b in g['edges'][()]]
    assert all(a in g['nodes'] and b in g['nodes'] for a, b in edges), edges
    dense = [n for n in g['nodes'] if g['nodes'][n]['type'][()] == b'Affine'][0]
    w = g['nodes'][dense]['weight'][()]
    print(' '.join(str(int(x)) for x in w.astype(np.float32).reshape(-1).view(np.uint32)))
""";
        (code, stdout, stderr) = Python.Run(script, file);
        Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        Assert.True(code == 0, stderr);
        var bits = stdout.Trim().Split(' ').Select(uint.Parse).ToArray();
        var denseLayer = keras.Nodes.Single(n => n.ClassName == "Dense").Layer;
        var k = W(keras, denseLayer, "kernel");
        var units = k.Shape[1];
        for (var o = 0; o < units; o++)
            for (var c = 0; c < 4; c++)
                for (var h = 0; h < 6; h++)
                    for (var x = 0; x < 6; x++)
                        Assert.Equal((uint)BitConverter.SingleToInt32Bits(k[((h * 6 + x) * 4 + c) * units + o]), bits[o * 144 + c * 36 + h * 6 + x]);
    }
}
