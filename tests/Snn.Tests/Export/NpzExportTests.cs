using System.IO.Compression;
using System.Text;
using System.Text.Json;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Export;

/// <summary>
/// <c>snn export --format npz</c>: the archive read back with System.IO.Compression and <see cref="Npy.Read(byte[], string)"/>
/// must describe the legalized network op by op, hold the Keras weights bit for bit, and carry the neuron
/// parameters (gain, bias, type, amplitude, initial voltages) of the converted network.
/// </summary>
public class NpzExportTests
{
    sealed class Archive
    {
        public required Dictionary<string, byte[]> Entries { get; init; }
        public required JsonElement Root { get; init; }
        public IEnumerable<JsonElement> Ops => Root.GetProperty("ops").EnumerateArray();
        public JsonElement Op(string id) => Ops.Single(o => o.GetProperty("id").GetString() == id);
        public Tensor Array(string name) => Npy.Read(Entries[name + ".npy"], name).Ok();
        public string Header(string name) => Encoding.ASCII.GetString(Entries[name + ".npy"], 10, BitConverter.ToUInt16(Entries[name + ".npy"], 8));
    }

    static (int Code, string Err) RunExport(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var result = Snn.Cli.Export.Run(args, stdout, stderr);
        return result.Match(code => (code, stderr.ToString()), e => (Errors.ExitCode(e), e.Message));
    }

    static Archive Export(string model, params string[] extra)
    {
        var path = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"), "net.npz");
        var (code, err) = RunExport(new[] { model, "--format", "npz", "--out", path }.Concat(extra).ToArray());
        Assert.True(code == 0, err);
        var entries = new Dictionary<string, byte[]>();
        using (var zip = ZipFile.OpenRead(path))
            foreach (var e in zip.Entries)
            {
                using var s = e.Open();
                using var m = new MemoryStream();
                s.CopyTo(m);
                entries[e.FullName] = m.ToArray();
            }
        Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        var root = JsonDocument.Parse(entries["structure.json"]).RootElement;
        return new Archive { Entries = entries, Root = root };
    }

    static string Tfjs(string name) => TestModels.Fixture("tfjs", name, "model.json");

    static KerasModel Load(string path) => ModelFile.Import(path).Ok();

    static void Same(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.True(expected.Span.SequenceEqual(actual.Span), "values differ");
    }

    static string[] Strings(JsonElement e) => e.EnumerateArray().Select(x => x.GetString()!).ToArray();
    static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    /// <summary>Every Dense/Conv kernel and bias in the archive equals the Keras weight exactly.</summary>
    static void WeightsMatchKeras(Archive a, KerasModel model)
    {
        var checkedKernels = 0;
        foreach (var node in model.Nodes)
        {
            if (!node.Weight("kernel").TryGet(out var kernel)) continue;
            var op = a.Ops.Single(o => o.GetProperty("layer").GetString() == node.Layer && o.GetProperty("type").GetString() is "dense" or "conv");
            Same(kernel, a.Array(op.GetProperty("kernel").GetString()!));
            Assert.Contains("'descr': '<f4'", a.Header(op.GetProperty("kernel").GetString()!));
            if (node.Weight("bias").TryGet(out var bias)) Same(bias, a.Array(op.GetProperty("bias").GetString()!));
            else Assert.Equal(JsonValueKind.Null, op.GetProperty("bias").ValueKind);
            checkedKernels++;
        }
        Assert.True(checkedKernels > 0);
    }

    /// <summary>The ops are the legalized graph's, in order, with their inputs and shapes.</summary>
    static LegalGraph StructureMatchesLegalGraph(Archive a, KerasModel model)
    {
        var legal = Legalize.Run(LegalizeOptions.Default, model).Ok();
        var ops = a.Ops.ToList();
        Assert.Equal(legal.Ops.Map(o => o.Id).ToArray(), ops.Select(o => o.GetProperty("id").GetString()).ToArray());
        foreach (var (op, json) in legal.Ops.Zip(ops))
        {
            Assert.Equal(op.Inputs.ToArray(), Strings(json.GetProperty("inputs")));
            Assert.Equal(op.Shape.ToArray(), Ints(json.GetProperty("shape")));
            Assert.Equal(op.Layer, json.GetProperty("layer").GetString());
        }
        Assert.Equal(legal.Inputs.ToArray(), Strings(a.Root.GetProperty("inputs")));
        Assert.Equal(legal.Outputs.ToArray(), a.Root.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("op").GetString()).ToArray());
        return legal;
    }

    [Fact]
    public void ConvValidSame_StructureWeightsAndNeurons()
    {
        var path = Tfjs("conv_valid_same");
        var model = Load(path);
        var a = Export(path);
        Assert.Equal("snn-network", a.Root.GetProperty("format").GetString());
        Assert.Equal(2, a.Root.GetProperty("version").GetInt32());
        Assert.Equal("spiking", a.Root.GetProperty("mode").GetString());
        Assert.Equal(0.001f, (float)a.Root.GetProperty("dt").GetDouble());
        var legal = StructureMatchesLegalGraph(a, model);
        WeightsMatchKeras(a, model);

        // Conv geometry as the legal graph has it (TF 'same' padding: the extra cell goes after).
        foreach (var conv in legal.Ops.OfType<LConv>())
        {
            var json = a.Op(conv.Id);
            Assert.Equal("conv", json.GetProperty("type").GetString());
            Assert.Equal(conv.Spec.Kernel.ToArray(), Ints(json.GetProperty("kernel_size")));
            Assert.Equal(conv.Spec.Strides.ToArray(), Ints(json.GetProperty("strides")));
            Assert.Equal(conv.Spec.Dilation.ToArray(), Ints(json.GetProperty("dilation")));
            Assert.Equal(conv.Spec.PadBefore.ToArray(), Ints(json.GetProperty("pad_before")));
            Assert.Equal(conv.Spec.Groups, json.GetProperty("groups").GetInt32());
            Assert.True(json.GetProperty("channels_last").GetBoolean());
            Assert.Equal(conv.Spec.Padding == Padding.Same ? "same" : "valid", json.GetProperty("padding").GetString());
            var inSp = conv.Spec.InSpatial;
            var outSp = conv.Spec.OutSpatial;
            var after = Ints(json.GetProperty("pad_after"));
            for (var d = 0; d < inSp.Count; d++)
                if (conv.Spec.Padding == Padding.Same)
                    Assert.Equal((outSp[d] - 1) * conv.Spec.Strides[d] + conv.Spec.Kernel[d] - inSp[d], conv.Spec.PadBefore[d] + after[d]);
                else Assert.Equal(0, after[d]);
        }
        // Second conv: 7x7 input, kernel 3, stride 2, 'same' -> 4x4 with one cell of padding on each side.
        var second = legal.Ops.OfType<LConv>().ElementAt(1);
        Assert.Equal(new[] { 1, 1 }, Ints(a.Op(second.Id).GetProperty("pad_before")));

        // The relu activation: Nengo's SpikingRectifiedLinear (the default without calibration), gain 1, the conv bias
        // folded into the neurons, Uniform(0,1) initial voltages as the converter drew them.
        var compiled = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() }, model).Ok();
        var relu = legal.Ops.OfType<LActivation>().First(o => o.Act is Relu);
        var reluJson = a.Op(relu.Id);
        Assert.Equal("relu", reluJson.GetProperty("activation").GetProperty("kind").GetString());
        var neurons = reluJson.GetProperty("neurons");
        Assert.Equal("SpikingRectifiedLinear", neurons.GetProperty("type").GetString());
        Assert.True(neurons.GetProperty("spiking").GetBoolean());
        Assert.Equal(1.0, neurons.GetProperty("amplitude").GetDouble());
        Assert.Equal(1.0, neurons.GetProperty("gain").GetDouble());
        Assert.Equal("subtract", neurons.GetProperty("reset").GetString());
        Assert.Equal(relu.Inputs.Head, legal.Ops.OfType<LConv>().First().Id);
        Assert.Equal(relu.Id, a.Op(relu.Inputs.Head).GetProperty("bias_folded_into").GetString());
        var ensemble = compiled.Network.Nodes.OfType<Ensemble>().Single(e => e.Id == relu.Id);
        var bias = a.Array(neurons.GetProperty("bias").GetString()!);
        Assert.Equal(relu.Shape.ToArray(), bias.Shape.ToArray());
        Assert.True(ensemble.Bias.Span.SequenceEqual(bias.Span));
        var v0 = a.Array(neurons.GetProperty("initial_voltage").GetString()!);
        Assert.True(ensemble.InitialVoltage.Map(t => t.Span.SequenceEqual(v0.Span)).IfNone(false));
        Assert.True(v0.Span.ToArray().All(v => v is >= 0f and < 1f) && v0.Span.ToArray().Distinct().Count() > 1);

        // tanh and sigmoid have no spiking version: rate neurons, no voltage.
        var tanh = a.Op(legal.Ops.OfType<LActivation>().First(o => o.Act is TanhAct).Id).GetProperty("neurons");
        Assert.Equal("Tanh", tanh.GetProperty("type").GetString());
        Assert.False(tanh.GetProperty("spiking").GetBoolean());
        Assert.Equal(JsonValueKind.Null, tanh.GetProperty("initial_voltage").ValueKind);

        // The last Dense is an output, not followed by an activation: its bias stays its own.
        var dense = legal.Ops.OfType<LDense>().Single();
        Assert.Equal(JsonValueKind.Null, a.Op(dense.Id).GetProperty("bias_folded_into").ValueKind);
    }

    [Fact]
    public void FunctionalMerge_TwoInputsSumConcatAndOutputs()
    {
        var path = Tfjs("functional_merge");
        var model = Load(path);
        var a = Export(path, "--mode", "rate");
        Assert.Equal("rate", a.Root.GetProperty("mode").GetString());
        var legal = StructureMatchesLegalGraph(a, model);
        WeightsMatchKeras(a, model);
        Assert.Equal(new[] { 0, 1 }, legal.Ops.OfType<LInput>().Select(i => a.Op(i.Id).GetProperty("index").GetInt32()).ToArray());
        var sum = legal.Ops.OfType<LSum>().Single();
        Assert.Equal(sum.Weights.ToArray(), a.Op(sum.Id).GetProperty("weights").EnumerateArray().Select(w => (float)w.GetDouble()).ToArray());
        foreach (var concat in legal.Ops.OfType<LConcat>())
        {
            Assert.Equal("concat", a.Op(concat.Id).GetProperty("type").GetString());
            Assert.Equal(concat.Axis, a.Op(concat.Id).GetProperty("axis").GetInt32());
        }
        Assert.Equal(2, legal.Ops.OfType<LConcat>().Count());
        // Rate mode: the relu is a RectifiedLinear ensemble without voltages.
        var relu = a.Ops.Single(o => o.GetProperty("type").GetString() == "activation");
        Assert.Equal("RectifiedLinear", relu.GetProperty("neurons").GetProperty("type").GetString());
        Assert.Equal(JsonValueKind.Null, relu.GetProperty("neurons").GetProperty("initial_voltage").ValueKind);
        Assert.Equal(2, a.Root.GetProperty("outputs").GetArrayLength());
    }

    [Fact]
    public void MaxPool_GeometryAndMethod()
    {
        var path = Tfjs("maxpool");
        var model = Load(path);
        var a = Export(path);
        var legal = StructureMatchesLegalGraph(a, model);
        var pools = legal.Ops.OfType<LPool>().ToList();
        Assert.Equal(4, pools.Count);
        foreach (var p in pools)
        {
            var json = a.Op(p.Id);
            Assert.Equal("max", json.GetProperty("kind").GetString());
            Assert.Equal(p.Spec.Pool.ToArray(), Ints(json.GetProperty("pool_size")));
            Assert.Equal(p.Spec.Strides.ToArray(), Ints(json.GetProperty("strides")));
            Assert.Equal(p.Spec.InputShape.ToArray(), Ints(json.GetProperty("input_shape")));
            Assert.Equal(p.Spec.PadBefore.ToArray(), Ints(json.GetProperty("pad_before")));
            // The pools read the model input (real values), so they compute the exact max.
            Assert.Equal("exact", json.GetProperty("method").GetString());
        }
        // MaxPooling2D(2, same) on 7x7: output 4x4, no padding before, one cell after.
        var same = pools.Single(p => p.Spec.Padding == Padding.Same);
        Assert.Equal(new[] { 0, 0 }, Ints(a.Op(same.Id).GetProperty("pad_before")));
        Assert.Equal(new[] { 1, 1 }, Ints(a.Op(same.Id).GetProperty("pad_after")));
    }

    [Fact]
    public void ChannelsFirstFlatten_GatherIndexIsInt32()
    {
        var path = Tfjs("conv_channels_first");
        var model = Load(path);
        var a = Export(path);
        var legal = StructureMatchesLegalGraph(a, model);
        WeightsMatchKeras(a, model);
        var gather = legal.Ops.OfType<LGather>().Single();
        var json = a.Op(gather.Id);
        Assert.Equal(gather.Kind, json.GetProperty("kind").GetString());
        var name = json.GetProperty("index").GetString()!;
        Assert.Contains("'descr': '<i4'", a.Header(name));
        Assert.Equal(gather.Index.Select(i => (float)i).ToArray(), a.Array(name).Span.ToArray());
        var conv = legal.Ops.OfType<LConv>().Single();
        Assert.False(a.Op(conv.Id).GetProperty("channels_last").GetBoolean());
        var pool = legal.Ops.OfType<LPool>().Single();
        Assert.Equal("avg", a.Op(pool.Id).GetProperty("method").GetString());
    }

    [Fact]
    public void FallbackLayers_AreRefusedWithExit3NamingTheLayer()
    {
        var path = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"), "net.npz");
        var (code, err) = RunExport(Tfjs("fallback_layers"), "--format", "npz", "--out", path);
        Assert.Equal(3, code);
        Assert.Contains("fallback", err);
        var legal = Legalize.Run(LegalizeOptions.Default, Load(Tfjs("fallback_layers"))).Ok();
        foreach (var f in legal.Ops.OfType<LFallback>()) Assert.Contains($"'{f.Layer}'", err);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void UsageErrors()
    {
        Assert.Equal(2, RunExport(Tfjs("maxpool"), "--format", "onnx", "--out", "x.npz").Code);
        Assert.Equal(2, RunExport(Tfjs("maxpool"), "--format", "npz").Code);
        Assert.Equal(2, RunExport(Tfjs("maxpool"), "--out", "x.npz", "--mode", "keras").Code);
        Assert.Equal(2, RunExport(Tfjs("maxpool"), "--out", "x.npz", "--bogus").Code);
    }

    [Fact]
    public void NpzWriter_StoredAndDeflatedArraysReadBack()
    {
        foreach (var compress in new[] { false, true })
        {
            using var m = new MemoryStream();
            using (var w = new NpzWriter(m, compress, leaveOpen: true))
            {
                w.AddFloat32("a", Tensor.Own(new[] { 2, 3 }, new[] { 1f, -2.5f, 3e-8f, float.MaxValue, 0f, -0f }));
                w.AddInt32("b/idx", new[] { 4 }, new[] { -1, 0, 7, int.MaxValue });
                w.AddFloat32("s", Tensor.Scalar(0.5f));
                w.AddBytes("structure.json", Encoding.UTF8.GetBytes("{}"));
                Assert.Throws<ArgumentException>(() => w.AddFloat32("a", Tensor.Scalar(1f)));
            }
            var bytes = m.ToArray();
            // The first local file header's compression method: 0 stored (np.savez), 8 deflated (np.savez_compressed).
            Assert.Equal(compress ? 8 : 0, BitConverter.ToUInt16(bytes, 8));
            using var zip = new ZipArchive(new MemoryStream(bytes), ZipArchiveMode.Read);
            Assert.Equal(new[] { "a.npy", "b/idx.npy", "s.npy", "structure.json" }, zip.Entries.Select(e => e.FullName).ToArray());
            byte[] Read(string n)
            {
                using var s = zip.GetEntry(n)!.Open();
                using var o = new MemoryStream();
                s.CopyTo(o);
                return o.ToArray();
            }
            var a = Npy.Read(Read("a.npy"), "a").Ok();
            Assert.Equal(new[] { 2, 3 }, a.Shape.ToArray());
            Assert.Equal(new[] { 1f, -2.5f, 3e-8f, float.MaxValue, 0f, -0f }, a.Span.ToArray());
            var b = Read("b/idx.npy");
            Assert.Equal(0, (10 + BitConverter.ToUInt16(b, 8)) % 64);
            Assert.Contains("'descr': '<i4', 'fortran_order': False, 'shape': (4,)", Encoding.ASCII.GetString(b, 10, 60));
            Assert.Equal(new[] { -1, 0, 7, int.MaxValue }, Enumerable.Range(0, 4).Select(i => BitConverter.ToInt32(b, b.Length - 16 + 4 * i)).ToArray());
            var s = Npy.Read(Read("s.npy"), "s").Ok();
            Assert.Equal(0, s.Rank);
            Assert.Equal(0.5f, s[0]);
        }
    }

    /// <summary>
    /// The calibrated Fashion-MNIST CNN (per layer): signed integrate-and-fire neurons starting at 0.5, gains equal to the calibration
    /// scales, the conv/dense biases folded into the neurons (× gain), count max pooling of the spike trains.
    /// </summary>
    [SharedFact]
    public void CalibratedFashionCnn_IfNeuronsScalesAndCountPooling()
    {
        var model = Path.Combine(TestModels.Shared!, "models", "real", "image_prediction_on_Fashion_MNIST", "fashion_mnist_model.keras");
        var calib = Path.Combine(TestModels.Shared!, "data", "fashion-mnist", "x_calib_nhwc_u8.npy");
        var keras = Load(model);
        var a = Export(model, "--calibrate", calib, "--input-scale", "1/255", "--calib-samples", "100", "--per-layer");
        StructureMatchesLegalGraph(a, keras);
        WeightsMatchKeras(a, keras);
        var calibration = a.Root.GetProperty("calibration");
        Assert.Equal(100, calibration.GetProperty("samples").GetInt32());
        Assert.Equal(1f / 255, (float)calibration.GetProperty("input_scale").GetDouble());
        var scales = calibration.GetProperty("layers").EnumerateArray()
            .ToDictionary(l => l.GetProperty("layer").GetString()!, l => (float)l.GetProperty("scale").GetDouble());
        Assert.Equal(3, scales.Count);
        foreach (var act in a.Ops.Where(o => o.GetProperty("type").GetString() == "activation" && o.GetProperty("activation").GetProperty("kind").GetString() == "relu"))
        {
            var n = act.GetProperty("neurons");
            Assert.Equal("SignedIF", n.GetProperty("type").GetString());     // the calibrated default: IF with negative spikes
            Assert.False(n.GetProperty("clip_current").GetBoolean());
            var gain = (float)n.GetProperty("gain").GetDouble();
            Assert.Equal(scales[act.GetProperty("layer").GetString()!], gain);
            Assert.Equal(JsonValueKind.Null, n.GetProperty("neuron_gain").ValueKind);      // one scale per layer
            Assert.Equal(JsonValueKind.Null, n.GetProperty("output_scale").ValueKind);
            Assert.Equal(1f / gain, (float)n.GetProperty("amplitude").GetDouble(), 6);
            Assert.True(a.Array(n.GetProperty("initial_voltage").GetString()!).Span.ToArray().All(v => v == 0.5f));
            var linear = a.Op(act.GetProperty("inputs")[0].GetString()!);
            Assert.Equal(act.GetProperty("id").GetString(), linear.GetProperty("bias_folded_into").GetString());
            var kerasBias = a.Array(linear.GetProperty("bias").GetString()!);
            var neuronBias = a.Array(n.GetProperty("bias").GetString()!);
            var channels = kerasBias.Length;
            for (var i = 0; i < neuronBias.Length; i++) Assert.Equal(kerasBias[i % channels] * gain, neuronBias[i]);
        }
        var pools = a.Ops.Where(o => o.GetProperty("type").GetString() == "pool").ToList();
        Assert.Equal(2, pools.Count);
        Assert.All(pools, p => Assert.Equal("count", p.GetProperty("method").GetString()));
    }

    /// <summary>
    /// The default calibration (per-channel scales) exports: per-neuron gains that are the layer's gain times a scale
    /// that is constant over each channel and differs between channels, an output factor of one over that scale, and
    /// neuron biases carrying the same scale. (The PyTorch peer, tests/bench/run.sh, checks the numbers end to end.)
    /// </summary>
    [SharedFact]
    public void CalibratedPerChannelFashionCnn_ExportsNeuronGainsAndOutputScales()
    {
        var model = Path.Combine(TestModels.Shared!, "models", "real", "image_prediction_on_Fashion_MNIST", "fashion_mnist_model.keras");
        var calib = Path.Combine(TestModels.Shared!, "data", "fashion-mnist", "x_calib_nhwc_u8.npy");
        var a = Export(model, "--calibrate", calib, "--input-scale", "1/255", "--calib-samples", "100");
        var relus = a.Ops.Where(o => o.GetProperty("type").GetString() == "activation" && o.GetProperty("activation").GetProperty("kind").GetString() == "relu").ToList();
        Assert.Equal(3, relus.Count);
        foreach (var act in relus)
        {
            var n = act.GetProperty("neurons");
            var gain = (float)n.GetProperty("gain").GetDouble();
            var g = a.Array(n.GetProperty("neuron_gain").GetString()!).Span.ToArray();
            var o = a.Array(n.GetProperty("output_scale").GetString()!).Span.ToArray();
            var shape = Ints(act.GetProperty("shape"));
            Assert.Equal(shape.Aggregate(1, (x, y) => x * y), g.Length);
            var channels = shape[^1];   // channels-last
            var scale = Enumerable.Range(0, g.Length).Select(i => g[i] / gain).ToArray();
            for (var i = 0; i < g.Length; i++)
            {
                Assert.Equal(g[i % channels], g[i]);
                Assert.Equal(1f / scale[i], o[i], 1e-6f * Math.Max(1f, 1f / scale[i]));
            }
            Assert.True(g.Take(channels).Distinct().Count() > 1, $"{act.GetProperty("id").GetString()}: one scale for every channel");
            var linear = a.Op(act.GetProperty("inputs")[0].GetString()!);
            var kerasBias = a.Array(linear.GetProperty("bias").GetString()!);
            var neuronBias = a.Array(n.GetProperty("bias").GetString()!);
            for (var i = 0; i < neuronBias.Length; i++)
                Assert.Equal(kerasBias[i % channels] * g[i], neuronBias[i], 1e-6f * Math.Max(1f, Math.Abs(neuronBias[i])));
        }
    }
}
