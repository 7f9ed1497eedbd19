using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Text.Json;
using LanguageExt;
using Snn.Compiler.Keras;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.KerasFiles;

/// <summary>
/// Writing trained weights back into the user's Keras file (issue 19 item 3, <see cref="KerasWeightsWriter"/>). The
/// oracle is h5py: it reads the original and the written file, and every dataset, attribute and object must be the
/// original's, except each layer weight, which must be the perturbation of the original computed by numpy. Snn's own
/// importer then reads the written file back.
/// </summary>
public sealed class KerasWeightsWriterTests
{
    /// <summary>The perturbation every weight gets (numpy computes the same float32 operations in the oracle).</summary>
    static float Perturb(float x) => x * 0.5f + 0.25f;

    public static TheoryData<string> Fixtures()
    {
        var data = new TheoryData<string>();
        foreach (var c in KerasFileFixtures.All.Where(c => c.Positive && (c.File.EndsWith(".keras") || c.File.EndsWith(".h5"))))
            data.Add(c.File);
        return data;
    }

    /// <summary>Real models in ../shared/models/real: a Keras 3 archive and legacy files from Keras 2 and 3.</summary>
    public static TheoryData<string> RealModels() => new()
    {
        "Fashion-CNN/fashion_mnist_cnn.keras",
        "Fashion-CNN/fashion_mnist_cnn.h5",
        "snn_toolbox/lenet5_mnist_99.14.h5",
    };

    static string RealPath(string name) => Path.Combine(TestModels.Shared!, "models", "real", name);

    [H5pyTheory]
    [MemberData(nameof(Fixtures))]
    public void Fixture_every_weight_perturbed_is_written_and_nothing_else_changes(string file) => PerturbAll(KerasFileFixtures.PathOf(file));

    [H5pyTheory(shared: true)]
    [MemberData(nameof(RealModels))]
    public void Real_model_every_weight_perturbed_is_written_and_nothing_else_changes(string name) => PerturbAll(RealPath(name));

    [H5pyTheory]
    [MemberData(nameof(Fixtures))]
    public void Fixture_unchanged_weights_give_the_same_file(string file) => RoundTrip(KerasFileFixtures.PathOf(file));

    [H5pyTheory(shared: true)]
    [MemberData(nameof(RealModels))]
    public void Real_model_unchanged_weights_give_the_same_file(string name) => RoundTrip(RealPath(name));

    static void PerturbAll(string path)
    {
        var (model, source) = ModelFile.ImportWithSource(path).Ok();
        var weights = LayerWeights(model, t => Tensor.Own(t.Shape, t.Span.ToArray().Select(Perturb).ToArray()));
        Assert.True(weights.Values.Sum(v => v.Count) > 0, $"{path} has no weights to replace");
        var written = Written(path, source, weights, out var outPath);
        try
        {
            var report = H5pyCompare(path, outPath, perturbed: true);
            Assert.True(report.Problems.Count == 0, $"{path}: h5py finds\n  " + string.Join("\n  ", report.Problems));
            Assert.Equal(weights.Values.Sum(v => v.Count), report.Replaced);

            // Snn's importer reads the new weights and the original model otherwise.
            var back = ModelFile.Import(outPath).Ok();
            SameModelOtherwise(model, back);
            foreach (var node in back.Nodes)
                foreach (var (name, tensor) in node.Weights)
                    AssertBits(weights[node.Layer][name], tensor, $"{node.Layer}/{name}");
            Assert.Equal(written.Length, new FileInfo(outPath).Length);
        }
        finally { File.Delete(outPath); }
    }

    static void RoundTrip(string path)
    {
        var (model, source) = ModelFile.ImportWithSource(path).Ok();
        var weights = LayerWeights(model, t => t);
        var written = Written(path, source, weights, out var outPath);
        try
        {
            var report = H5pyCompare(path, outPath, perturbed: false);
            Assert.True(report.Problems.Count == 0, $"{path}: h5py finds\n  " + string.Join("\n  ", report.Problems));
            // A legacy file is rewritten in place: unchanged values give the same bytes.
            if (source.Format == "h5") Assert.True(written.AsSpan().SequenceEqual(source.Files.Head.Bytes), $"{path}: the bytes differ");
        }
        finally { File.Delete(outPath); }
    }

    /// <summary>Each layer's weights (once per layer, however often it is called), through <paramref name="change"/>.</summary>
    static Map<string, Map<string, Tensor>> LayerWeights(KerasModel model, Func<Tensor, Tensor> change) =>
        toMap(model.Nodes.Where(n => !n.Weights.IsEmpty).DistinctBy(n => n.Layer)
            .Select(n => (n.Layer, n.Weights.Map(change))));

    static byte[] Written(string path, ModelSource source, Map<string, Map<string, Tensor>> weights, out string outPath)
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        outPath = Path.Combine(dir, "trained" + Path.GetExtension(path));
        KerasWeightsWriter.Write(outPath, source, weights, path).Ok();
        return File.ReadAllBytes(outPath);
    }

    static void SameModelOtherwise(KerasModel expected, KerasModel actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Inputs, actual.Inputs);
        Assert.Equal(expected.Outputs, actual.Outputs);
        Assert.Equal(expected.InputShapes.Map(s => string.Join(",", s)), actual.InputShapes.Map(s => string.Join(",", s)));
        Assert.Equal(expected.Nodes.Map(n => (n.Id, n.Layer, n.ClassName, n.Config.Json, string.Join(",", n.Inputs))),
            actual.Nodes.Map(n => (n.Id, n.Layer, n.ClassName, n.Config.Json, string.Join(",", n.Inputs))));
        Assert.Equal(expected.Nodes.Map(n => string.Join(";", n.Weights.Map((k, t) => $"{k}:{string.Join(",", t.Shape)}").Values)),
            actual.Nodes.Map(n => string.Join(";", n.Weights.Map((k, t) => $"{k}:{string.Join(",", t.Shape)}").Values)));
    }

    static void AssertBits(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        Assert.True(MemoryMarshal.AsBytes(expected.Span).SequenceEqual(MemoryMarshal.AsBytes(actual.Span)), $"{what}: the values differ");
    }

    // ------------------------------------------------------------------ refusals

    static (KerasModel Model, ModelSource Source) Sequential() =>
        ModelFile.ImportWithSource(KerasFileFixtures.PathOf("keras_sequential.keras")).Ok();

    static string TempOut(string ext) => Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"), "trained" + ext);

    [Fact]
    public void Unknown_layer_unknown_variable_and_wrong_shape_are_reported_together_and_nothing_is_written()
    {
        var (model, source) = Sequential();
        var dense = model.Nodes.First(n => n.Weight("kernel").IsSome);
        var kernel = dense.Weight("kernel").IfNone(() => throw new InvalidOperationException());
        var weights = Map(
            ("no_such_layer", Map(("kernel", kernel))),
            (dense.Layer, Map(
                ("gamma", kernel),
                ("kernel", Tensor.Own(kernel.Shape.Reverse().ToArray(), kernel.Span.ToArray())))));
        var outPath = TempOut(".keras");
        var error = KerasWeightsWriter.Write(outPath, source, weights, "model.keras").Match(_ => throw new InvalidOperationException("written"), e => e);
        Assert.Equal(Errors.WriteBackCode / 1000 * 1000 + 100, error.Code);
        Assert.Equal(3, Errors.ExitCode(error));
        Assert.StartsWith("3 problems:", error.Message);
        Assert.Contains("no layer 'no_such_layer'", error.Message);
        Assert.Contains($"has no variable 'gamma' (its variables: 'bias', 'kernel')", error.Message);
        Assert.Contains($"is stored with shape ({string.Join(", ", kernel.Shape)}); the new value has shape ({string.Join(", ", kernel.Shape.Reverse())})", error.Message);
        Assert.False(File.Exists(outPath));
    }

    [Fact]
    public void One_problem_is_its_own_error()
    {
        var (_, source) = Sequential();
        var error = KerasWeightsWriter.Replace(source, Map(("nope", Map<string, Tensor>())), "model.keras").Match(_ => throw new InvalidOperationException("written"), e => e);
        Assert.Equal(Errors.WriteBackCode, error.Code);
        Assert.Contains("no layer 'nope' (layers with weights: ", error.Message);
    }

    [Fact]
    public void A_tfjs_model_is_refused()
    {
        var (model, source) = ModelFile.ImportWithSource(TestModels.Fixture("tfjs", "dense_mlp", "model.json")).Ok();
        var error = KerasWeightsWriter.Replace(source, LayerWeights(model, t => t), "model.json").Match(_ => throw new InvalidOperationException("written"), e => e);
        Assert.Equal(Errors.UnexportableCode, error.Code);
        Assert.Equal(3, Errors.ExitCode(error));
        Assert.Contains("TF.js", error.Message);
    }

    [Fact]
    public void An_output_path_whose_extension_Keras_would_misread_is_a_usage_error()
    {
        var (model, source) = Sequential();
        var outPath = TempOut(".h5");
        var error = KerasWeightsWriter.Write(outPath, source, LayerWeights(model, t => t), "model.keras").Match(_ => throw new InvalidOperationException("written"), e => e);
        Assert.Equal(2, Errors.ExitCode(error));
        Assert.Contains(".keras", error.Message);
        Assert.False(File.Exists(outPath));
    }

    [Theory]
    [InlineData("keras", Errors.ZipCode)]
    [InlineData("h5", Errors.Hdf5Code)]
    [InlineData("onnx", Errors.ModelFileCode)]
    public void Bytes_that_are_not_a_model_of_the_format_are_refused(string format, int code)
    {
        var source = new ModelSource(format, Seq1(new SourceFile("model", "not a model at all"u8.ToArray())));
        var error = KerasWeightsWriter.Replace(source, Map<string, Map<string, Tensor>>(), "model").Match(_ => throw new InvalidOperationException("written"), e => e);
        Assert.Equal(code, error.Code);
        Assert.Equal(3, Errors.ExitCode(error));
    }

    [Fact]
    public void A_symbolic_link_is_not_written_through()
    {
        var (model, source) = Sequential();
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var target = Path.Combine(dir, "target.keras");
            File.WriteAllText(target, "keep");
            var link = Path.Combine(dir, "trained.keras");
            File.CreateSymbolicLink(link, target);
            var error = KerasWeightsWriter.Write(link, source, LayerWeights(model, t => t), "model.keras").Match(_ => throw new InvalidOperationException("written"), e => e);
            Assert.Equal(Errors.WriteCode, error.Code);
            Assert.Contains("symbolic link", error.Message);
            Assert.Equal("keep", File.ReadAllText(target));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>
    /// A legacy file whose Dense kernel is stored as float64 (h5py writes what it is given): the importer reads it, but
    /// rewriting it in place as float32 would change its type, so it is refused by name; its float32 bias is not.
    /// </summary>
    [Fact]
    public void A_weight_not_stored_as_float32_is_refused_by_name()
    {
        const string config = """{"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "linear", "use_bias": true, "batch_input_shape": [null, 3]}}]}}""";
        var root = Snn.Compiler.Hdf5.H5GroupNode.Empty with
        {
            Attributes = Map(("model_config", Snn.Compiler.Hdf5.H5Value.Text(config)), ("keras_version", Snn.Compiler.Hdf5.H5Value.Text("2.4.0")),
                ("backend", Snn.Compiler.Hdf5.H5Value.Text("tensorflow"))),
        };
        var dense = Snn.Compiler.Hdf5.H5GroupNode.Empty
            .With("dense", Snn.Compiler.Hdf5.H5GroupNode.Empty
                .With("kernel:0", new Snn.Compiler.Hdf5.H5Float64(Arr.create(3, 2), Arr.create(1.0, 2, 3, 4, 5, 6)))
                .With("bias:0", Snn.Compiler.Hdf5.H5Value.Floats(Arr.create(2), [0.5f, -0.5f])))
            with { Attributes = Map(("weight_names", (Snn.Compiler.Hdf5.H5Value)new Snn.Compiler.Hdf5.H5String(Arr.create(2), Arr.create("dense/kernel:0", "dense/bias:0")))) };
        root = root.With("model_weights", Snn.Compiler.Hdf5.H5GroupNode.Empty.With("dense", dense));
        var bytes = Snn.Compiler.Hdf5.H5Writer.ToBytes(root).Ok();
        var source = new ModelSource("h5", Seq1(new SourceFile("f64.h5", bytes)));
        var model = ModelFile.FromSource(source, "f64.h5").Ok();
        var error = KerasWeightsWriter.Replace(source, LayerWeights(model, t => t), "f64.h5").Match(_ => throw new InvalidOperationException("written"), e => e);
        Assert.Equal(Errors.WriteBackCode, error.Code);
        Assert.Contains("'dense/kernel'", error.Message);
        Assert.Contains("float64, not float32", error.Message);
        Assert.DoesNotContain("bias", error.Message);

        // The bias alone is written.
        var bias = Tensor.Own([2], [1.5f, 2.5f]);
        var written = KerasWeightsWriter.Replace(source, Map(("dense", Map(("bias", bias)))), "f64.h5").Ok();
        var back = ModelFile.FromSource(new ModelSource("h5", Seq1(new SourceFile("out.h5", written))), "out.h5").Ok();
        AssertBits(bias, back.Nodes.Find(n => n.Layer == "dense").Bind(n => n.Weight("bias")).IfNone(() => throw new InvalidOperationException()), "dense/bias");
        AssertBits(model.Nodes.Find(n => n.Layer == "dense").Bind(n => n.Weight("kernel")).IfNone(() => throw new InvalidOperationException()),
            back.Nodes.Find(n => n.Layer == "dense").Bind(n => n.Weight("kernel")).IfNone(() => throw new InvalidOperationException()), "dense/kernel");
    }

    sealed record Comparison(int Replaced, List<string> Problems);

    /// <summary>
    /// h5py's comparison of the original and the written file, object by object and attribute by attribute: a layer
    /// weight (a float32 dataset under model_weights in a legacy file; layers/…/vars/N or
    /// _layer_checkpoint_dependencies/…/vars/N in an archive) must hold numpy's perturbation of the original when
    /// <paramref name="perturbed"/>, and everything else (all of it when not) must equal the original exactly. For an
    /// archive, every other zip entry must have the same bytes, in the same order.
    /// </summary>
    static Comparison H5pyCompare(string original, string written, bool perturbed)
    {
        var (code, output, err) = Python.Run(CompareScript, original, written, perturbed ? "1" : "0");
        Assert.True(code == 0, $"the h5py comparison failed: {err}");
        using var doc = JsonDocument.Parse(output);
        return new Comparison(doc.RootElement.GetProperty("replaced").GetInt32(),
            doc.RootElement.GetProperty("problems").EnumerateArray().Select(p => p.GetString()!).ToList());
    }

    const string CompareScript = """
        import io, json, sys, zipfile
        import h5py, numpy as np

        original, written, perturbed = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
        problems = []
        archive = original.endswith(".keras")

        def open_h5(path):
            if archive:
                with zipfile.ZipFile(path) as z:
                    return h5py.File(io.BytesIO(z.read("model.weights.h5")), "r")
            return h5py.File(path, "r")

        def attrs(obj):
            out = {}
            for k in obj.attrs.keys():
                v = obj.attrs[k]
                if isinstance(v, np.ndarray):
                    out[k] = (v.dtype.str, v.shape, repr(v.tolist()) if v.dtype.kind in "OSU" else v.tobytes().hex())
                else:
                    out[k] = (type(v).__name__, repr(v))
            return out

        def dump(f):
            objects = {"/": ("group", attrs(f))}
            def visit(name, obj):
                if isinstance(obj, h5py.Dataset):
                    objects[name] = ("dataset", attrs(obj), obj.dtype.str, obj.shape, obj.chunks, obj.compression, obj[()])
                else:
                    objects[name] = ("group", attrs(obj))
            f.visititems(visit)
            return objects

        def is_weight(name, obj):
            if obj[0] != "dataset" or obj[2] != "<f4": return False
            parts = name.split("/")
            if archive:
                return parts[0] in ("layers", "_layer_checkpoint_dependencies") and len(parts) >= 3 and parts[-2] == "vars"
            return parts[0] == "model_weights"

        def bits(a):
            return np.ascontiguousarray(np.asarray(a)).view(np.uint8).tobytes()

        a, b = dump(open_h5(original)), dump(open_h5(written))
        if list(a) != list(b):
            problems.append("objects differ: only in the original %s, only in the written file %s" % (sorted(set(a) - set(b)), sorted(set(b) - set(a))))
        replaced = 0
        for name in a:
            if name not in b: continue
            x, y = a[name], b[name]
            if x[:-1] != y[:-1] if x[0] == "dataset" else x != y:
                problems.append("%s: kind, attributes, dtype, shape or storage differ" % name)
                continue
            if x[0] != "dataset": continue
            if perturbed and is_weight(name, x):
                replaced += 1
                expected = (np.asarray(x[-1], dtype=np.float32) * np.float32(0.5) + np.float32(0.25)).astype(np.float32)
                if bits(expected) != bits(y[-1]):
                    problems.append("%s: not the perturbed original" % name)
            elif bits(x[-1]) != bits(y[-1]) if x[2] != "|O" else repr(x[-1]) != repr(y[-1]):
                problems.append("%s: values differ" % name)

        if archive:
            with zipfile.ZipFile(original) as za, zipfile.ZipFile(written) as zb:
                names = [i.filename for i in za.infolist()]
                if names != [i.filename for i in zb.infolist()]:
                    problems.append("zip entries differ: %s vs %s" % (names, [i.filename for i in zb.infolist()]))
                for n in names:
                    if n != "model.weights.h5" and n in zb.namelist() and za.read(n) != zb.read(n):
                        problems.append("zip entry %s differs" % n)
        print(json.dumps({"replaced": replaced, "problems": problems}))
        """;
}
