using LanguageExt;
using Snn.Compiler.Hdf5;
using static LanguageExt.Prelude;
using P = PureHDF;

namespace Snn.Hdf5Eval;

/// <summary>
/// Criterion (d): the trees Snn writes (a NIR-shaped tree with every value kind Snn.Compiler.Export.Nir writes, and
/// the Keras weight trees of the real models, rebuilt from what Snn's reader reads) written with PureHDF. For each
/// tree it writes NAME.purehdf.h5 (PureHDF) and NAME.snn.h5 (Snn's H5Writer, which h5py reads in H5WriterTests) to
/// OUTDIR; hdf5_eval.sh then has h5py dump both and compares them, and this reads the PureHDF file back with Snn's reader.
/// </summary>
public static class Writing
{
    public static void Run(string root, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var trees = new List<(string Name, H5GroupNode Tree)> { ("nir_like", NirLike()) };
        var real = Path.Combine(root, "..", "shared", "models", "real");
        if (Directory.Exists(real))
            foreach (var f in Directory.GetFiles(real, "*.h5", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                if (FromFile(File.ReadAllBytes(f)) is { } t) trees.Add((Path.GetRelativePath(real, f).Replace(".h5", "").Replace('/', '_'), t));
        foreach (var (name, tree) in trees)
        {
            var purePath = Path.Combine(outDir, name + ".purehdf.h5");
            var snnPath = Path.Combine(outDir, name + ".snn.h5");
            string written;
            try
            {
                var file = new P.H5File();
                Fill(file, tree);
                file.Write(purePath);
                written = "written";
            }
            catch (Exception e)
            {
                written = "PureHDF threw " + PureReader.Describe(e) + ": " + e.Message;
            }
            H5Writer.Write(snnPath, tree).IfLeft(e => Console.WriteLine($"{name}: Snn's writer refused: {e.Message}"));
            var same = written == "written"
                ? Comparison.Of(OursReader.Run(File.ReadAllBytes(snnPath), long.MaxValue), OursReader.Run(File.ReadAllBytes(purePath), long.MaxValue))
                : null;
            Console.WriteLine($"{name}: PureHDF {written}; Snn's reader on the PureHDF file: " +
                              (same is null ? "-" : same.Identical ? "same values as on Snn's file" : "DIFFERENT: " + string.Join(" | ", same.Examples)));
        }
    }

    /// <summary>Every value kind Nir.ToHdf5 writes, laid out as NIR files are.</summary>
    static H5GroupNode NirLike()
    {
        var meta = H5GroupNode.Empty.With("dt", H5Value.Scalar(0.001)).With("neuron", H5Value.Text("LIF")).With("spike_value", H5Value.Scalar(1.0))
            .With("weight_scale", H5Value.Scalar(0.25));
        var affine = H5GroupNode.Empty.With("type", H5Value.Text("Affine"))
            .With("weight", H5Value.Floats(Arr.create(2, 3), [1f, -2f, 3.5f, float.Epsilon, float.MaxValue, -0f]))
            .With("bias", H5Value.Floats(Arr.create(2), [0.5f, -0.5f]))
            .With("metadata", meta);
        var conv = H5GroupNode.Empty.With("type", H5Value.Text("Conv2d"))
            .With("weight", H5Value.Floats(Arr.create(1, 1, 2, 2), [1f, 2f, 3f, 4f]))
            .With("stride", H5Value.Longs(1, 2)).With("groups", H5Value.Scalar(1L))
            .With("input_shape", new H5Int32(Arr.create(3), Arr.create(1, 28, 28)))
            .With("empty", H5Value.Floats(Arr.create(0), []))
            .With("extremes", new H5Int64(Arr.create(3), Arr.create(long.MinValue, long.MaxValue, -1L)));
        var nodes = H5GroupNode.Empty.With("input", H5GroupNode.Empty.With("type", H5Value.Text("Input")).With("shape", H5Value.Longs(3)))
            .With("affine", affine).With("conv", conv)
            .With("output", H5GroupNode.Empty.With("type", H5Value.Text("Output")).With("shape", H5Value.Longs(2)));
        var edges = new H5String(Arr.create(3, 2), Arr.create("input", "conv", "conv", "affine", "affine", "output"));
        var node = H5GroupNode.Empty.With("type", H5Value.Text("NIRGraph")).With("edges", edges).With("nodes", nodes);
        return H5GroupNode.Empty.With("version", H5Value.Text("1.0.6")).With("node", node);
    }

    /// <summary>A Keras file's tree as Snn's reader reads it: groups, float32 datasets, string and float64 attributes.</summary>
    static H5GroupNode? FromFile(byte[] bytes) =>
        H5File.Open(bytes, "real.h5").Match(f => Group(f.Root), _ => null);

    static H5GroupNode Group(H5Group g)
    {
        var node = H5GroupNode.Empty with { Attributes = Attributes(g.AttributeNames().IfLeft(Seq<string>()), g.Attribute) };
        foreach (var name in g.ChildNames().IfLeft(Seq<string>()))
        {
            if (g.Group(name).IfLeft(Option<H5Group>.None).TryGet(out var child)) node = node.With(name, Group(child));
            else if (g.Dataset(name).IfLeft(Option<H5Dataset>.None).TryGet(out var ds))
                node = node.With(name, new H5DatasetNode(H5Value.Floats(ds.Shape().IfLeft([]).ToArr(), ds.ReadFloat32().IfLeft([])),
                    Attributes(ds.AttributeNames().IfLeft(Seq<string>()), ds.Attribute)));
        }
        return node;
    }

    static Map<string, H5Value> Attributes(Seq<string> names, Func<string, LanguageExt.Either<LanguageExt.Common.Error, Option<H5Attribute>>> get)
    {
        var map = Map<string, H5Value>();
        foreach (var name in names)
            if (get(name).IfLeft(Option<H5Attribute>.None).TryGet(out var a))
            {
                var shape = a.Shape.ToArr();
                var value = a.ReadNumbers().Match(v => (H5Value?)new H5Float64(shape, v.ToArr()),
                    _ => a.ReadStrings().Match(s => (H5Value?)new H5String(shape, s.ToArr()), _ => null));
                if (value is not null && !value.Shape.Exists(x => x == 0)) map = map.Add(name, value);
            }
        return map;
    }

    static void Fill(P.H5Group target, H5GroupNode source)
    {
        foreach (var (name, value) in source.Attributes) target.Attributes[name] = new P.H5Attribute(Data(value), Dims(value));
        foreach (var (name, child) in source.Children)
        {
            switch (child)
            {
                case H5GroupNode g:
                {
                    var group = new P.H5Group();
                    Fill(group, g);
                    target[name] = group;
                    break;
                }
                case H5DatasetNode d:
                {
                    var ds = new P.H5Dataset(Data(d.Value), fileDims: Dims(d.Value));
                    foreach (var (an, av) in d.Attributes) ds.Attributes[an] = new P.H5Attribute(Data(av), Dims(av));
                    target[name] = ds;
                    break;
                }
            }
        }
    }

    /// <summary>Scalars as one value (a scalar dataspace), arrays flat with their dimensions.</summary>
    static object Data(H5Value v) => v switch
    {
        H5Float32 { Shape.IsEmpty: true } f => f.Values[0],
        H5Float64 { Shape.IsEmpty: true } f => f.Values[0],
        H5Int64 { Shape.IsEmpty: true } f => f.Values[0],
        H5Int32 { Shape.IsEmpty: true } f => f.Values[0],
        H5String { Shape.IsEmpty: true } f => f.Values[0],
        H5Float32 f => f.Values.ToArray(),
        H5Float64 f => f.Values.ToArray(),
        H5Int64 f => f.Values.ToArray(),
        H5Int32 f => f.Values.ToArray(),
        H5String f => f.Values.ToArray(),
        _ => throw new InvalidOperationException(),
    };

    static ulong[]? Dims(H5Value v) => v.Shape.IsEmpty ? null : v.Shape.Map(x => (ulong)x).ToArray();
}
