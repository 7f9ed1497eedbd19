using System.IO.Compression;
using System.Text.RegularExpressions;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using L = Snn.Tests.Support.TestModels.L;

using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Tests.Export;

/// <summary>
/// <c>snn export --format nengo</c>: model.py must be valid Python importing only the standard library, numpy and
/// nengo; weights.npz must hold the Keras weights in the layouts Nengo's transforms take (checked with index
/// arithmetic written here) and the converted gains, biases and initial voltages; and running model.py in the real
/// Nengo (vendored in ../shared/vendor/nengo; skipped, saying why, when it is absent) must give what <c>snn predict</c>
/// gives, within float32 rounding.
/// </summary>
[Trait("Category", "Slow")]
public sealed class NengoExportTests : IDisposable
{
    readonly List<string> dirs = new();

    /// <summary>Removes the folders this test wrote.</summary>
    public void Dispose()
    {
        foreach (var d in dirs)
            if (Directory.Exists(d)) Directory.Delete(d, recursive: true);
    }

    /// <summary>|nengo − snn| ≤ Tolerance · max(1, |snn|): float32 rounding of sums taken in another order, far below
    /// any semantic slip (an off-by-one step, a wrong weight or a missed spike changes outputs by ≥ 1e-3).</summary>
    const float Tolerance = 1e-5f;

    sealed record Exported(string Dir, string Script, Dictionary<string, Tensor> Arrays, string Err)
    {
        public Tensor this[string name] => Arrays.TryGetValue(name, out var t) ? t : throw new Xunit.Sdk.XunitException($"no array '{name}' in weights.npz");

        /// <summary>The array of the connection from <paramref name="pre"/> to <paramref name="post"/> with this role.</summary>
        public Tensor Conn(string pre, string post, string role)
        {
            // Keys are "pre->post#n.role" in the safe alphabet of archive entry names ("->" and '#' become '_').
            var prefix = SafeNames.Sanitize($"{pre}->{post}#");
            var keys = Arrays.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && k.EndsWith("." + role, StringComparison.Ordinal)).ToList();
            Assert.True(keys.Count == 1, $"expected one '{role}' array from {pre} to {post}, found {keys.Count}");
            return Arrays[keys[0]];
        }
    }

    string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        dirs.Add(dir);
        return dir;
    }

    static string Tfjs(string name) => TestModels.Fixture("tfjs", name, "model.json");

    Exported Export(string model, params string[] extra)
    {
        var dir = TempDir();
        var (code, _, err) = CliRunner.Run(new[] { "export", model, "--format", "nengo", "--out", dir }.Concat(extra).ToArray());
        Assert.True(code == 0, err);
        return Read(dir, err);
    }

    static Exported Read(string dir, string err)
    {
        var arrays = new Dictionary<string, Tensor>();
        using (var zip = ZipFile.OpenRead(Path.Combine(dir, "weights.npz")))
            foreach (var e in zip.Entries)
            {
                using var s = e.Open();
                using var m = new MemoryStream();
                s.CopyTo(m);
                Assert.EndsWith(".npy", e.FullName);
                arrays[e.FullName[..^4]] = Npy.Read(m.ToArray(), e.FullName).Ok();
            }
        return new Exported(dir, File.ReadAllText(Path.Combine(dir, "model.py")), arrays, err);
    }

    static KerasModel Load(string path) => ModelFile.Import(path).Ok();

    static Compiled CompileSpiking(KerasModel model, ConvertOptions? convert = null) =>
        Compile.Run(CompileOptions.Default with { Convert = (convert ?? ConvertOptions.Default).AsSpiking() }, model).Ok();

    static Tensor Kernel(KerasModel model, string layer, string weight = "kernel") =>
        model.Nodes.Single(n => n.Layer == layer).Weight(weight).IfNone(() => throw new Xunit.Sdk.XunitException($"{layer} has no {weight}"));

    static void Same(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        Assert.True(expected.Span.SequenceEqual(actual.Span), "values differ");
    }

    /// <summary>The modules model.py imports: only the standard library's argparse/os/sys, numpy and nengo.</summary>
    static void ImportsOnlyNumpyAndNengo(string script)
    {
        var imports = Regex.Matches(script, @"^\s*(?:import|from)\s+([A-Za-z_][\w.]*)", RegexOptions.Multiline)
            .Select(m => m.Groups[1].Value).Distinct().OrderBy(s => s).ToArray();
        Assert.Equal(new[] { "argparse", "nengo", "numpy", "os", "sys" }, imports);
    }

    // ------------------------------------------------------------------ structure and weights

    [Fact]
    public void ConvValidSame_ConvolutionsDenseAndNeuronsMatchKerasAndTheConverter()
    {
        var path = Tfjs("conv_valid_same");
        var model = Load(path);
        var e = Export(path);
        ImportsOnlyNumpyAndNengo(e.Script);
        var legal = Legalize.Run(LegalizeOptions.Default, model).Ok();
        var net = CompileSpiking(model).Network;
        var convs = legal.Ops.OfType<LConv>().ToList();
        Assert.Equal(3, convs.Count);
        Assert.Equal(3, Regex.Matches(e.Script, @"nengo\.Convolution\(").Count);
        Assert.Equal(3, Regex.Matches(e.Script, @"nengo\.Ensemble\(").Count);
        foreach (var conv in convs)
        {
            // Nengo's kernel layout is Keras's: kernel_size + (in_channels, filters).
            var s = conv.Spec;
            var pre = net.Connections.Single(c => c.Transform is ConvT t && t.Spec == s).Pre;
            var post = net.Connections.Single(c => c.Transform is ConvT t && t.Spec == s).Post;
            Same(Kernel(model, conv.Layer), e.Conn(pre, post, "kernel"));
            var padding = s.Padding == Padding.Same ? "same" : "valid";
            Assert.Contains($"nengo.Convolution({s.Filters}, ({string.Join(", ", s.InputShape)}), kernel_size=({string.Join(", ", s.Kernel)}), " +
                            $"strides=({string.Join(", ", s.Strides)}), padding=\"{padding}\", channels_last=True", e.Script);
            // The conv's bias is folded into the neurons: bias[pixel, channel] = keras_bias[channel] (gain 1).
            var ens = net.Nodes.OfType<Ensemble>().Single(n => n.Layer == conv.Layer);
            var bias = e[ens.Id + ".bias"];
            var kerasBias = Kernel(model, conv.Layer, "bias");
            Assert.Equal(Shapes.Product(s.OutputShape), bias.Length);
            for (var i = 0; i < bias.Length; i++) Assert.Equal(kerasBias[i % s.Filters], bias[i]);
        }
        Assert.Contains("neuron_type=nengo.SpikingRectifiedLinear(amplitude=1.0, initial_state={\"voltage\": w[", e.Script);
        Assert.Contains("neuron_type=nengo.Tanh(tau_ref=1.0)", e.Script);
        Assert.Contains("neuron_type=nengo.Sigmoid(tau_ref=1.0)", e.Script);
        Assert.Equal(3, Regex.Matches(e.Script, Regex.Escape("gain=nengo.dists.Choice([1.0])")).Count);
        var relu = net.Nodes.OfType<Ensemble>().Single(n => n.Neuron is SpikingRectifiedLinear);
        var v0 = e[relu.Id + ".initial_voltage"];
        Same(relu.InitialVoltage.IfNone(() => throw new Xunit.Sdk.XunitException("no voltages")), v0);
        Assert.True(v0.Span.ToArray().All(v => v is >= 0f and < 1f) && v0.Span.ToArray().Distinct().Count() > 1);

        // The Dense output layer: Nengo's (out, in) matrix is the Keras (in, out) kernel transposed; its bias is a
        // constant node.
        var dense = legal.Ops.OfType<LDense>().Single();
        var kernel = Kernel(model, dense.Layer);
        var (inSize, outSize) = (kernel.Shape[0], kernel.Shape[1]);
        var matrix = e.Conn(net.Connections.Single(c => c.Post == dense.Id && c.Transform is DenseT).Pre, dense.Id, "dense");
        Assert.Equal(new[] { outSize, inSize }, matrix.Shape.ToArray());
        for (var o = 0; o < outSize; o++)
            for (var i = 0; i < inSize; i++) Assert.Equal(kernel[i * outSize + o], matrix[o * inSize + i]);
        Assert.Contains($"nengo.Dense(({outSize}, {inSize}), init=w[", e.Script);
        Same(Kernel(model, dense.Layer, "bias"), e[dense.Id + ".bias.value"]);
        Assert.Contains("nengo.Probe(obj[\"" + dense.Id + "\"], synapse=None)", e.Script);
        Assert.Contains("Every object is a native Nengo object", e.Script);
        Assert.Equal("", e.Err);
    }

    [Fact]
    public void DilatedAndGroupedConvolutions_AreSparseMatricesOfTheKernel()
    {
        foreach (var fixture in new[] { "conv_dilated", "depthwise_separable" })
        {
            var path = Tfjs(fixture);
            var model = Load(path);
            var e = Export(path);
            var legal = Legalize.Run(LegalizeOptions.Default, model).Ok();
            var net = CompileSpiking(model).Network;
            var checkedConvs = 0;
            foreach (var conv in legal.Ops.OfType<LConv>().Where(c => c.Spec.Groups > 1 || c.Spec.Dilation.Exists(d => d > 1)))
            {
                var c = net.Connections.Single(x => x.Transform is ConvT t && t.Spec == conv.Spec);
                SparseConvMatchesKernel(conv.Spec, conv.Kernel, e.Conn(c.Pre, c.Post, "indices"), e.Conn(c.Pre, c.Post, "values"));
                checkedConvs++;
            }
            Assert.True(checkedConvs > 0, fixture);
            Assert.Contains("nengo.Sparse(", e.Script);
        }
    }

    /// <summary>
    /// Every (row, column, value) of a channels-last 2-D convolution as a sparse matrix: the row is (oy, ox, f), the
    /// column (iy, ix, c); with 'same' padding p = max((out-1)·s + (k-1)·d + 1 - in, 0), floor(p/2) before, the tap is
    /// ((iy + pad - oy·s) / d, ...) and must exist, c must be in f's group, and the value is kernel[ky, kx, c mod cpg, f].
    /// Every in-range tap appears exactly once.
    /// </summary>
    static void SparseConvMatchesKernel(ConvSpec s, Tensor kernel, Tensor indices, Tensor values)
    {
        Assert.True(s.ChannelsLast && s.SpatialRank == 2);
        var (h, w, cin) = (s.InputShape[0], s.InputShape[1], s.InputShape[2]);
        var (kh, kw, f) = (s.Kernel[0], s.Kernel[1], s.Filters);
        int Out(int n, int k, int st, int d) => s.Padding == Padding.Same ? (n + st - 1) / st : (n - ((k - 1) * d + 1)) / st + 1;
        int Pad(int n, int o, int k, int st, int d) => s.Padding == Padding.Same ? Math.Max((o - 1) * st + (k - 1) * d + 1 - n, 0) / 2 : 0;
        var (oh, ow) = (Out(h, kh, s.Strides[0], s.Dilation[0]), Out(w, kw, s.Strides[1], s.Dilation[1]));
        var (ph, pw) = (Pad(h, oh, kh, s.Strides[0], s.Dilation[0]), Pad(w, ow, kw, s.Strides[1], s.Dilation[1]));
        var cpg = cin / s.Groups;
        var fpg = f / s.Groups;
        var seen = new System.Collections.Generic.HashSet<(int, int)>();
        for (var k = 0; k < values.Length; k++)
        {
            var (row, col) = ((int)indices[2 * k], (int)indices[2 * k + 1]);
            Assert.True(seen.Add((row, col)), "duplicate entry");
            var (oy, ox, filter) = (row / (ow * f), row / f % ow, row % f);
            var (iy, ix, c) = (col / (w * cin), col / cin % w, col % cin);
            var (dy, dx) = (iy + ph - oy * s.Strides[0], ix + pw - ox * s.Strides[1]);
            Assert.True(dy % s.Dilation[0] == 0 && dx % s.Dilation[1] == 0, "not on the dilated grid");
            var (ky, kx) = (dy / s.Dilation[0], dx / s.Dilation[1]);
            Assert.True(ky >= 0 && ky < kh && kx >= 0 && kx < kw, "outside the kernel");
            Assert.Equal(filter / fpg, c / cpg);
            Assert.Equal(kernel[((ky * kw + kx) * cpg + c % cpg) * f + filter], values[k]);
        }
        var expected = 0;
        for (var oy = 0; oy < oh; oy++)
            for (var ox = 0; ox < ow; ox++)
                for (var ky = 0; ky < kh; ky++)
                    for (var kx = 0; kx < kw; kx++)
                    {
                        var (iy, ix) = (oy * s.Strides[0] - ph + ky * s.Dilation[0], ox * s.Strides[1] - pw + kx * s.Dilation[1]);
                        if (iy >= 0 && iy < h && ix >= 0 && ix < w) expected += f * cpg;
                    }
        Assert.Equal(expected, values.Length);
    }

    [Fact]
    public void ChannelsFirst_ConvolutionAndFlattenTranspose()
    {
        var path = Tfjs("conv_channels_first");
        var model = Load(path);
        var e = Export(path);
        var legal = Legalize.Run(LegalizeOptions.Default, model).Ok();
        var conv = legal.Ops.OfType<LConv>().Single();
        Assert.Contains($"nengo.Convolution({conv.Spec.Filters}, ({string.Join(", ", conv.Spec.InputShape)}), ", e.Script);
        Assert.Contains("channels_last=False", e.Script);
        // Flatten of channels-first data: output i (in (h, w, c) order) reads input (c, h, w), a sparse matrix of ones.
        var gather = legal.Ops.OfType<LGather>().Single();
        var source = legal.Op(gather.Inputs.Head).Shape.ToArray();   // (c, h, w)
        var (c, h, w) = (source[0], source[1], source[2]);
        var net = CompileSpiking(model).Network;
        var g = net.Connections.Single(x => x.Transform is GatherT);
        var indices = e.Conn(g.Pre, g.Post, "indices");
        Assert.Equal(c * h * w * 2, indices.Length);
        for (var k = 0; k < c * h * w; k++)
        {
            var row = (int)indices[2 * k];
            var (y, x, ch) = (row / (w * c), row / c % w, row % c);
            Assert.Equal(ch * h * w + y * w + x, (int)indices[2 * k + 1]);
        }
        Assert.Contains("init=1.0)", e.Script);
    }

    [Fact]
    public void LeakyAndParametricRelu_CustomNeuronTypesWithTheirSlopes()
    {
        var path = Tfjs("relu_variants");
        var model = Load(path);
        var e = Export(path);
        var net = CompileSpiking(model).Network;
        Assert.Contains("class SnnLeakyReLU(nengo.neurons.NeuronType):", e.Script);
        Assert.Contains("class SnnSpikingLeakyReLU(SnnLeakyReLU):", e.Script);
        foreach (var ens in net.Nodes.OfType<Ensemble>().Where(x => x.Neuron is SpikingLeakyRectifiedLinear))
        {
            var n = (SpikingLeakyRectifiedLinear)ens.Neuron;
            if (n.Slope.Length > 1) Same(n.Slope, e[ens.Id + ".slope"]);
            else Assert.Contains($"slope=[{(double)n.Slope[0]:R}", e.Script);
        }
        var prelu = model.Nodes.First(x => x.ClassName == "PReLU");
        var alpha = Kernel(model, prelu.Layer, "alpha");
        var slopeArray = e.Arrays.Single(kv => kv.Key.EndsWith(".slope", StringComparison.Ordinal) && net.Node(kv.Key[..^6]).Layer == prelu.Layer).Value;
        // PReLU's alpha, one per element of the layer's output (broadcast over its leading axes).
        for (var i = 0; i < slopeArray.Length; i++) Assert.Equal(alpha[i % alpha.Length], slopeArray[i]);
    }

    /// <summary>The calibrated Fashion-MNIST CNN (per layer): signed IF neurons with the calibration scales as gains, count max pooling nodes.</summary>
    [SharedFact]
    public void CalibratedFashionCnn_GainsBiasesAndCountPoolWindows()
    {
        var model = Path.Combine(TestModels.Shared!, "models", "real", "image_prediction_on_Fashion_MNIST", "fashion_mnist_model.keras");
        var calib = Path.Combine(TestModels.Shared!, "data", "fashion-mnist", "x_calib_nhwc_u8.npy");
        var keras = Load(model);
        var e = Export(model, "--calibrate", calib, "--input-scale", "1/255", "--calib-samples", "100", "--per-layer");
        var legal = Legalize.Run(LegalizeOptions.Default, keras).Ok();
        var gains = Regex.Matches(e.Script, @"gain=nengo\.dists\.Choice\(\[([^\]]+)\]\)").Select(m => (float)double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(3, gains.Count);
        // The calibrated default neuron: integrate-and-fire with negative spikes.
        Assert.Equal(3, Regex.Matches(e.Script, @"SnnSignedIntegrateAndFire\(amplitude=[^,]+, initial_state=").Count);
        var activations = legal.Ops.OfType<LActivation>().Where(a => a.Act is Relu).ToList();
        Assert.Equal(3, activations.Count);
        foreach (var (act, gain) in activations.Zip(gains))
        {
            Assert.True(gain > 1f, "calibration raised the rate scale");
            var linear = legal.Op(act.Inputs.Head);
            var kerasBias = Kernel(keras, linear.Layer, "bias");
            var bias = e[act.Id + ".bias"];
            for (var i = 0; i < bias.Length; i++) Assert.Equal(kerasBias[i % kerasBias.Length] * gain, bias[i]);
            Assert.True(e[act.Id + ".initial_voltage"].Span.ToArray().All(v => v == 0.5f));
        }
        Assert.Contains("INPUT_SCALE = 0.003921568859368563", e.Script);   // float32(1/255), exactly
        // Count max pooling (2x2, stride 2, valid) of the first conv's spikes, as a Python node, with a warning.
        var pool = legal.Ops.OfType<LPool>().First();
        var (h, w, c) = (pool.Spec.InputShape[0], pool.Spec.InputShape[1], pool.Spec.InputShape[2]);
        var windows = e[pool.Id + ".windows"];
        var (oh, ow) = (h / 2, w / 2);
        Assert.Equal(new[] { oh * ow * c, 4 }, windows.Shape.ToArray());
        for (var o = 0; o < oh * ow * c; o++)
        {
            var (oy, ox, ch) = (o / (ow * c), o / c % ow, o % c);
            var expected = new[] { (2 * oy * w + 2 * ox) * c + ch, (2 * oy * w + 2 * ox + 1) * c + ch, ((2 * oy + 1) * w + 2 * ox) * c + ch, ((2 * oy + 1) * w + 2 * ox + 1) * c + ch };
            Assert.Equal(expected, Enumerable.Range(0, 4).Select(k => (int)windows[o * 4 + k]).ToArray());
        }
        Assert.Contains("stateful.append(CountMaxPool(w[", e.Script);
        Assert.Contains("WARNING: not hardware-native", e.Script);
        Assert.Contains($"layer '{pool.Layer}'", e.Err);
        Assert.Contains("not hardware-native", e.Err);
    }

    // ------------------------------------------------------------------ refusals

    [Fact]
    public void FallbackLayers_AreRefusedWithExit3NamingEveryLayer()
    {
        var dir = TempDir();
        var (code, _, err) = CliRunner.Run("export", Tfjs("fallback_layers"), "--format", "nengo", "--out", dir);
        Assert.Equal(3, code);
        var legal = Legalize.Run(LegalizeOptions.Default, Load(Tfjs("fallback_layers"))).Ok();
        var fallbacks = legal.Ops.OfType<LFallback>().ToList();
        Assert.True(fallbacks.Count > 1);
        foreach (var f in fallbacks) Assert.Contains($"'{f.Layer}'", err);
        Assert.False(Directory.Exists(dir));
    }

    sealed record FilterLikeNode(string Id, string Layer, int Size) : NetNode(Id, Layer, Size);

    sealed record OddNeuron : NeuronType
    {
        public override bool Spiking => false;
        public override string Name => "Odd";
        public override NeuronType ScaleAmplitude(float factor) => this;
        public override NeuronType RateVersion => this;
        public override float Rate(float j) => j;
    }

    static Network Net(Seq<NetNode> nodes, Seq<Connection> connections, string probe) =>
        new(nodes, connections, Seq1(new Probe("probe0", probe, None, false, Arr.create(2), 0)), 0.001f, Seq<LayerStatus>(), Seq<string>());

    static NengoScriptOptions Options => new("m", "rate", 1, "last", None, false, "snn export m", "snn test");

    [Fact]
    public void Generator_RefusesFunctionNodesAndUnknownTypes()
    {
        var input = new InputNode("in", "in", Arr.create(2), 0);
        Connection C(string pre, string post) => new($"{pre}->{post}", pre, post, new IdentityT(2), None, None);

        // Every function node is named in one error (exit 3).
        var functions = Net(Seq<NetNode>(input, new FunctionNode("f1", "lambda_1", 2, 2, "f1", "doubler"), new FunctionNode("f2", "lambda_2", 2, 2, "f2", "doubler")),
            Seq<Connection>(C("in", "f1"), C("f1", "f2")), "f2");
        var error = NengoScript.Generate(Options, functions).Err();
        Assert.Equal(3, Errors.ExitCode(error));
        Assert.Contains("'lambda_1'", error.Message);
        Assert.Contains("'lambda_2'", error.Message);

        // Node, neuron and transform types the exporter does not know: one clear "cannot export ... yet" each.
        var odd = new Ensemble("e", "odd_layer", 2, new OddNeuron(), 1f, Tensor.Filled(new[] { 2 }, 0f), None);
        var unknown = Net(Seq<NetNode>(input, new FilterLikeNode("filter", "lowpass_1", 2), odd), Seq(C("in", "filter"), C("filter", "e")), "e");
        error = NengoScript.Generate(Options, unknown).Err();
        Assert.Equal(3, Errors.ExitCode(error));
        Assert.Contains("cannot export network object FilterLikeNode ('filter', layer 'lowpass_1') to Nengo yet", error.Message);
        Assert.Contains("cannot export neuron type Odd (layer 'odd_layer') to Nengo yet", error.Message);

        var ok = Net(Seq<NetNode>(input, new PassNode("p", "p", 2)), Seq1(C("in", "p")), "p");
        Assert.True(NengoScript.Generate(Options, ok).IsRight);
    }

    [Fact]
    public void UsageErrors()
    {
        Assert.Equal(2, CliRunner.Run("export", Tfjs("dense_mlp"), "--format", "nengo").Code);
        Assert.Equal(2, CliRunner.Run("export", Tfjs("dense_mlp"), "--format", "nengo", "--out", TempDir(), "--mode", "keras").Code);
        Assert.Equal(2, CliRunner.Run("export", Tfjs("dense_mlp"), "--format", "nengo", "--out", TempDir(), "--readout", "median").Code);
        Assert.Equal(2, CliRunner.Run("export", Tfjs("dense_mlp"), "--format", "nengo", "--out", TempDir(), "--encoding", "poisson").Code);
    }

    // ------------------------------------------------------------------ Python: the script compiles and runs

    [PythonFact]
    public void ModelPy_CompilesForEveryHelperKind()
    {
        var cases = new[]
        {
            (Tfjs("conv_valid_same"), new[] { "--mode", "spiking" }),
            (Tfjs("relu_variants"), new[] { "--mode", "spiking" }),
            (Tfjs("relu_variants"), new[] { "--mode", "rate" }),
            (Tfjs("maxpool"), new[] { "--mode", "rate" }),
            (Tfjs("dense_mlp"), new[] { "--neuron", "if", "--reset", "zero", "--synapse", "0.005" }),
        };
        foreach (var (model, extra) in cases)
        {
            var e = Export(model, extra);
            ImportsOnlyNumpyAndNengo(e.Script);
            var (code, _, err) = Python.Run(new[] { "-m", "py_compile", Path.Combine(e.Dir, "model.py") });
            Assert.True(code == 0, err);
        }
        // Count and gate max pooling nodes (spiking max pooling) appear in the in-memory model's scripts.
        foreach (var method in new[] { MaxPoolMethod.Count, MaxPoolMethod.Gate })
        {
            var dir = WritePoolingModel(method).Dir;
            var (code, _, err) = Python.Run(new[] { "-m", "py_compile", Path.Combine(dir, "model.py") });
            Assert.True(code == 0, err);
        }
    }

    public static TheoryData<string, string[]> Fixtures => new()
    {
        { "conv_valid_same", new[] { "--mode", "spiking", "--readout", "mean" } },
        { "conv_valid_same", new[] { "--mode", "spiking", "--readout", "last", "--synapse", "0.005" } },
        { "conv_valid_same", new[] { "--mode", "rate", "--readout", "last" } },
        { "conv_valid_same", new[] { "--mode", "rate", "--readout", "mean", "--steps", "3", "--synapse", "0.01" } },
        { "functional_merge", new[] { "--mode", "spiking", "--readout", "mean", "--scale-firing-rates", "10" } },
        { "functional_merge", new[] { "--mode", "rate", "--readout", "last" } },
        { "conv_dilated", new[] { "--mode", "spiking", "--readout", "mean", "--neuron", "if", "--reset", "zero", "--scale-firing-rates", "50" } },
        { "depthwise_separable", new[] { "--mode", "spiking", "--readout", "mean", "--initial-voltage", "half" } },
        { "conv_channels_first", new[] { "--mode", "spiking", "--readout", "mean" } },
        { "conv1d", new[] { "--mode", "spiking", "--readout", "mean", "--synapse", "0.005" } },
        { "relu_variants", new[] { "--mode", "spiking", "--readout", "mean", "--scale-firing-rates", "30" } },
        { "relu_variants", new[] { "--mode", "rate", "--readout", "last" } },
        { "activations", new[] { "--mode", "spiking", "--readout", "mean", "--swap", "relu=LIF", "--synapse", "0.01" } },
        { "maxpool", new[] { "--mode", "rate", "--readout", "last" } },
        { "nengo_avg_pool", new[] { "--mode", "spiking", "--readout", "last" } },
        { "padding_cropping_upsampling", new[] { "--mode", "rate", "--readout", "last" } },
        { "nengo_time_distributed", new[] { "--mode", "spiking", "--temporal-model" } },
        // Probes on neurons with a synapse (the filter read before its update in the step, in Nengo and snn).
        { "nengo_mid_model_output", new[] { "--mode", "spiking", "--readout", "mean", "--synapse", "0.005", "--scale-firing-rates", "200" } },
        { "nengo_relu", new[] { "--mode", "rate", "--readout", "last", "--synapse", "0.01", "--steps", "3" } },
    };

    /// <summary>model.py run in the real Nengo gives snn predict's outputs (both modes, both readouts).</summary>
    [RealNengoTheory]
    [MemberData(nameof(Fixtures))]
    public void NengoRun_MatchesSnnPredict(string fixture, string[] options)
    {
        var model = Tfjs(fixture);
        var e = Export(model, options);
        var shapes = Load(model).InputShapes;
        var inputs = shapes.Select((s, i) =>
        {
            var shape = new[] { 3 }.Concat(s.Map(d => d < 0 ? 5 : d)).ToArray();
            var x = TestModels.Random(shape, 100 + i, -0.5f, 1.5f);
            var path = Path.Combine(e.Dir, $"x{i}.npy");
            Npy.WriteFloat32(path, x);
            return path;
        }).ToList();
        CompareWithPredict(model, e, inputs, options);
    }

    /// <summary>
    /// keras_spiking models (RegularSpiking neurons; Lowpass/Alpha filters as same-step Python nodes) and a per-channel
    /// calibrated network (array gains and a per-neuron output scale) run in Nengo as snn predict runs them.
    /// </summary>
    [RealNengoTheory]
    [InlineData("ks_pipeline.h5")]
    [InlineData("ks_alpha_tau13_dt3.h5")]
    [InlineData("ks_spiking_tanh_dt1.h5")]
    public void KerasSpiking_NengoRunMatchesSnnPredict(string file)
    {
        var model = Snn.Tests.KerasFiles.KerasFileFixtures.PathOf(file);
        var options = new[] { "--mode", "rate", "--readout", "last" }.Concat(Snn.Tests.KerasFiles.KerasFileFixtures.Get(file).Options).ToArray();
        var e = Export(model, options);
        Assert.Contains(file.Contains("spiking") ? "nengo.RegularSpiking(" : "SameStepFilter(", e.Script);
        CompareWithPredict(model, e, new List<string> { Snn.Tests.KerasFiles.KerasFileFixtures.Input(file) }, options);
    }

    [RealNengoFact]
    public void PerChannelCalibration_NengoRunMatchesSnnPredict()
    {
        var model = Tfjs("conv_valid_same");
        var shape = Load(model).InputShapes[0];
        var calibration = Path.Combine(Path.GetTempPath(), $"snn-nengo-calib-{Guid.NewGuid():N}.npy");
        try
        {
            Npy.WriteFloat32(calibration, TestModels.Random(new[] { 40 }.Concat(shape).ToArray(), 31, 0f, 1.5f));
            var options = new[] { "--mode", "spiking", "--readout", "mean", "--steps", "12", "--calibrate", calibration, "--per-channel" };
            var e = Export(model, options);
            Assert.Contains("per-neuron output scale", e.Script);
            var x = Path.Combine(e.Dir, "x.npy");
            Npy.WriteFloat32(x, TestModels.Random(new[] { 3 }.Concat(shape).ToArray(), 32, 0f, 1.5f));
            CompareWithPredict(model, e, new List<string> { x }, options);
        }
        finally { File.Delete(calibration); }
    }

    /// <summary>Runs snn predict and model.py (in the real Nengo) with the same inputs and options; compares every output.</summary>
    void CompareWithPredict(string model, Exported e, List<string> inputs, string[] options, string[]? scriptOptions = null)
    {
        var pred = Path.Combine(e.Dir, "pred");
        var predictArgs = new[] { "predict", model, "--output", pred }.Concat(inputs.SelectMany(i => new[] { "--input", i })).Concat(options).ToArray();
        var (pcode, _, perr) = CliRunner.Run(predictArgs);
        Assert.True(pcode == 0, perr);
        var outputs = Directory.GetFiles(pred, "output_*.npy").Length;
        Assert.True(outputs > 0);
        var args = new List<string> { Path.Combine(e.Dir, "model.py") };
        foreach (var i in inputs) args.AddRange(new[] { "--input", i });
        for (var o = 0; o < outputs; o++) args.AddRange(new[] { "--output", Path.Combine(e.Dir, $"nengo_{o}.npy") });
        args.AddRange(scriptOptions ?? System.Array.Empty<string>());
        var (code, _, err) = Python.Run(args, Python.RealNengo);
        Assert.True(code == 0, err);
        for (var o = 0; o < outputs; o++)
            Close(Npy.Read(Path.Combine(pred, $"output_{o}.npy")).Ok(), Npy.Read(Path.Combine(e.Dir, $"nengo_{o}.npy")).Ok());
    }

    static void Close(Tensor snn, Tensor nengo)
    {
        Assert.Equal(snn.Shape.ToArray(), nengo.Shape.ToArray());
        var nonzero = 0;
        for (var i = 0; i < snn.Length; i++)
        {
            var bound = Tolerance * Math.Max(1f, Math.Abs(snn[i]));
            if (!(Math.Abs(snn[i] - nengo[i]) <= bound))
                throw new Xunit.Sdk.XunitException($"element {i}: snn {snn[i]:R}, nengo {nengo[i]:R}");
            if (snn[i] != 0) nonzero++;
        }
        Assert.True(nonzero > 0, "all outputs are zero: the comparison would prove nothing");
    }

    /// <summary>
    /// snn reads a filtered probe as Nengo records it (the filter's value before its update in the step), so the script
    /// reads Nengo's probes unshifted (PROBE_LAG 0) and --probe-timing nengo gives snn predict's numbers at the same step.
    /// </summary>
    [RealNengoFact]
    public void ProbeTimingNengo_SameStepAsSnn()
    {
        var model = Tfjs("nengo_relu");
        var options = new[] { "--mode", "rate", "--readout", "last", "--synapse", "0.01", "--steps", "3" };
        var e = Export(model, options);
        Assert.Contains("PROBE_LAG = [0]", e.Script);
        var x = Path.Combine(e.Dir, "x.npy");
        Npy.WriteFloat32(x, TestModels.Random(new[] { 3 }.Concat(Load(model).InputShapes[0]).ToArray(), 5, 0.5f, 1.5f));
        CompareWithPredict(model, e, new List<string> { x }, options, new[] { "--probe-timing", "nengo" });
    }

    /// <summary>
    /// Conv (relu) → MaxPooling2D(2) → Dense, built in memory, converted for spiking with the given max-pool method,
    /// exported with the generator and the CLI's writer; also returns the compiled program and an input batch.
    /// </summary>
    (string Dir, Compiled Compiled, Tensor X) WritePoolingModel(MaxPoolMethod method, int steps = 20)
    {
        var model = TestModels.Sequential(new[] { 6, 6, 2 },
            new L("Conv2D", "conv", new { filters = 3, kernel_size = new[] { 3, 3 }, strides = new[] { 1, 1 }, padding = "same", activation = "relu", use_bias = true },
                ("kernel", TestModels.Random(new[] { 3, 3, 2, 3 }, 7, -0.3f, 0.6f)), ("bias", TestModels.Random(new[] { 3 }, 8, 0f, 0.2f))),
            new L("MaxPooling2D", "pool", new { pool_size = new[] { 2, 2 }, strides = new[] { 2, 2 }, padding = "valid" }),
            new L("Flatten", "flatten", new { }),
            new L("Dense", "dense", new { units = 4, activation = "linear", use_bias = true },
                ("kernel", TestModels.Random(new[] { 27, 4 }, 9)), ("bias", TestModels.Random(new[] { 4 }, 10))));
        var compiled = CompileSpiking(model, ConvertOptions.Default with { MaxPool = method, ScaleFiringRates = Some(20f) });
        var export = NengoScript.Generate(new NengoScriptOptions("pooling", "spiking", steps, "mean", None, false, "test", "snn test"), compiled.Network).Ok();
        var dir = TempDir();
        Snn.Export.NengoExporter.WriteFolder(dir, false, export).Ok();
        return (dir, compiled, TestModels.Random(new[] { 3, 6, 6, 2 }, 11, 0f, 1f));
    }

    /// <summary>Spiking max pooling (count, gate, pre) as Python nodes: the Nengo run equals the interpreter's.</summary>
    [RealNengoFact]
    public void SpikingMaxPool_NengoRunMatchesInterpreter()
    {
        foreach (var method in new[] { MaxPoolMethod.Count, MaxPoolMethod.Gate, MaxPoolMethod.Pre })
        {
            var (dir, compiled, x) = WritePoolingModel(method);
            var script = File.ReadAllText(Path.Combine(dir, "model.py"));
            Assert.Contains(method == MaxPoolMethod.Gate ? "GateMaxPool(" : method == MaxPoolMethod.Count ? "CountMaxPool(" : "WindowMax(", script);
            if (method != MaxPoolMethod.Pre) Assert.Contains("MaxPoolNode", compiled.Network.Nodes.Map(n => n.GetType().Name).ToArray());
            Npy.WriteFloat32(Path.Combine(dir, "x.npy"), x);
            foreach (var readout in new[] { Readout.Mean, Readout.Last })
            {
                var expected = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Steps: 20, Readout: readout)).Ok().Head;
                var output = Path.Combine(dir, $"out_{readout}.npy");
                var (code, _, err) = Python.Run(new[] { Path.Combine(dir, "model.py"), "--input", Path.Combine(dir, "x.npy"), "--output", output,
                    "--readout", readout == Readout.Mean ? "mean" : "last" }, Python.RealNengo);
                Assert.True(code == 0, err);
                Close(expected, Npy.Read(output).Ok());
            }
        }
    }

    /// <summary>Real models on a few images: the calibrated Fashion CNN (count and gate pooling, with and without a
    /// synapse) and the channels-first LeNet-5, spiking and rate.</summary>
    [RealNengoFact]
    public void RealModels_NengoRunMatchesSnnPredict()
    {
        var shared = TestModels.Shared!;
        var fashion = Path.Combine(shared, "models", "real", "image_prediction_on_Fashion_MNIST", "fashion_mnist_model.keras");
        var lenet = Path.Combine(shared, "models", "real", "snn_toolbox", "lenet5_mnist_99.14.h5");
        var fashionCalib = Path.Combine(shared, "data", "fashion-mnist", "x_calib_nhwc_u8.npy");
        var mnistCalib = Path.Combine(shared, "data", "mnist", "x_calib_nchw_u8.npy");
        var cases = new (string Model, string Data, string[] Options)[]
        {
            (fashion, Path.Combine(shared, "data", "fashion-mnist", "x_test_nhwc_u8.npy"),
                new[] { "--mode", "spiking", "--readout", "mean", "--calibrate", fashionCalib, "--calib-samples", "100" }),
            (fashion, Path.Combine(shared, "data", "fashion-mnist", "x_test_nhwc_u8.npy"),
                new[] { "--mode", "spiking", "--readout", "last", "--calibrate", fashionCalib, "--calib-samples", "100", "--max-pool", "gate", "--synapse", "0.005" }),
            (fashion, Path.Combine(shared, "data", "fashion-mnist", "x_test_nhwc_u8.npy"), new[] { "--mode", "rate", "--readout", "last" }),
            (lenet, Path.Combine(shared, "data", "mnist", "x_test_nchw_u8.npy"),
                new[] { "--mode", "spiking", "--readout", "mean", "--calibrate", mnistCalib, "--calib-samples", "100" }),
        };
        foreach (var (model, data, options) in cases)
        {
            var all = new[] { "--input-scale", "1/255" }.Concat(options).ToArray();
            var e = Export(model, all);
            var images = Npy.Read(data).Ok();
            var few = Tensor.Own(new[] { 3 }.Concat(images.Shape.Skip(1)).ToArray(), images.Span[..(3 * images.Length / images.Shape[0])].ToArray());
            var path = Path.Combine(e.Dir, "x.npy");
            Npy.WriteFloat32(path, few);
            CompareWithPredict(model, e, new List<string> { path }, all);
        }
    }
}
