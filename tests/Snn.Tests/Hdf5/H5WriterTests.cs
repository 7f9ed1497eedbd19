using System.Text.Json;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Hdf5;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Hdf5;

/// <summary>
/// The HDF5 writer: files read back with this project's reader and with h5py (an independent implementation,
/// the HDF5 C library) hold exactly the groups, datasets, attributes, types and values written.
/// </summary>
public class H5WriterTests
{
    static Map<string, H5Value> Attrs(params (string, H5Value)[] a) => toMap(a);

    static H5Value F32(int[] shape, params float[] v) => new H5Float32(shape.ToArr(), v.ToArr());
    static H5Value F64(int[] shape, params double[] v) => new H5Float64(shape.ToArr(), v.ToArr());
    static H5Value I64(int[] shape, params long[] v) => new H5Int64(shape.ToArr(), v.ToArr());
    static H5Value I32(int[] shape, params int[] v) => new H5Int32(shape.ToArr(), v.ToArr());
    static H5Value Str(int[] shape, params string[] v) => new H5String(shape.ToArr(), v.ToArr());
    static H5Value Fixed(int[] shape, params string[] v) => new H5String(shape.ToArr(), v.ToArr(), VariableLength: false);
    static H5DatasetNode D(H5Value v, params (string, H5Value)[] attrs) => new(v, Attrs(attrs));

    const long Big = 1L << 53;
    static readonly int[] Scalar = System.Array.Empty<int>();

    /// <summary>Every feature at once: all types, scalars, empty arrays, nesting, 40 links in one group, Unicode.</summary>
    static H5GroupNode Sample()
    {
        var many = H5GroupNode.Empty;
        for (var i = 0; i < 40; i++) many = many.With($"d{i:00}", I32(Scalar, i * 7 - 100));
        var deep = H5GroupNode.Empty.With("g2", H5GroupNode.Empty.With("g3", H5GroupNode.Empty.With("leaf", F64(new[] { 1 }, Math.PI))));
        return new H5GroupNode(Map<string, H5Node>(), Attrs(
                ("title", Str(Scalar, "héllo ✓ NIR")),
                ("count", I64(Scalar, 42)),
                ("ratio", F64(new[] { 3 }, -0.0, double.PositiveInfinity, 1e-300)),
                ("labels", Fixed(new[] { 3 }, "ab", "cde", "")),
                ("grid", F32(new[] { 2, 2 }, 1f, -2f, float.Epsilon, float.MaxValue)),
                ("empty", F64(new[] { 0 }))))
            .With("a", D(F32(new[] { 2, 3 }, 0f, -0f, 1.5f, float.NaN, float.NegativeInfinity, 3e-38f), ("unit", Str(Scalar, "volt"))))
            .With("b", many)
            .With("strings", D(Str(new[] { 2, 2 }, "x", "", "ünïcødé ✓", new string('z', 300))))
            .With("empty", D(F64(new[] { 0 })))
            .With("empty_3d", D(F32(new[] { 2, 0, 3 })))
            .With("empty_group", H5GroupNode.Empty)
            .With("scalar", D(F64(Scalar, -1.25), ("note", Fixed(Scalar, "fixed"))))
            .With("i64", D(I64(new[] { 4 }, -Big, 0, Big, -1)))
            .With("i32", D(I32(new[] { 3 }, int.MinValue, 0, int.MaxValue)))
            .With("fixed", D(Fixed(new[] { 2 }, "abc", "é")))
            .With("g1", deep);
    }

    static H5File Open(H5GroupNode root)
    {
        var bytes = H5Writer.ToBytes(root).Ok();
        return H5File.Open(bytes, "written.h5").Ok();
    }

    [Fact]
    public void Sample_ReadsBackWithOurReader()
    {
        var root = Sample();
        var file = Open(root);
        Assert.Equal(0, file.SuperblockVersion);
        ReaderEquivalence.AssertGroupEquals(root, file.Root);
        // Spot checks written independently of the comparison helper.
        var a = file.Root.Dataset("a").Ok().IfNone(() => throw new Exception("a"));
        Assert.Equal(new[] { 2, 3 }, a.Shape().Ok());
        Assert.StartsWith("float32; contiguous", a.Describe().Ok());
        var bits = a.ReadFloat32().Ok().Select(BitConverter.SingleToInt32Bits).ToArray();
        Assert.Equal(new[] { 0f, -0f, 1.5f, float.NaN, float.NegativeInfinity, 3e-38f }.Select(BitConverter.SingleToInt32Bits).ToArray(), bits);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"d{i:00}").ToArray(), file.Root.Group("b").Ok().IfNone(() => throw new Exception()).ChildNames().Ok().ToArray());
        Assert.Equal(-100 + 7 * 39, file.Root.Dataset("b/d39").Ok().IfNone(() => throw new Exception()).ReadFloat64().Ok()[0]);
        Assert.Equal(Math.PI, file.Root.Dataset("/g1/g2/g3/leaf").Ok().IfNone(() => throw new Exception()).ReadFloat64().Ok()[0]);
        Assert.Equal(new[] { "x", "", "ünïcødé ✓", new string('z', 300) }, file.Root.Dataset("strings").Ok().IfNone(() => throw new Exception()).ReadStrings().Ok().ToArray());
        Assert.Equal("héllo ✓ NIR", file.Root.Attribute("title").Ok().IfNone(() => throw new Exception()).ReadString().Ok());
        Assert.Empty(file.Root.Group("empty_group").Ok().IfNone(() => throw new Exception()).ChildNames().Ok());
    }

    /// <summary>More strings than one global heap collection indexes (65535) and more than 1 MiB of text: several collections.</summary>
    [Trait("Category", "Slow")]
    [Fact]
    public void ManyStrings_SpanSeveralHeapCollections()
    {
        var many = Enumerable.Range(0, 70_000).Select(i => i % 7 == 0 ? "" : $"s{i}").ToArray();
        var big = Enumerable.Range(0, 3).Select(i => new string((char)('a' + i), 700_000)).ToArray();
        var root = H5GroupNode.Empty.With("many", Str(new[] { many.Length }, many)).With("big", Str(new[] { 3 }, big));
        var bytes = H5Writer.ToBytes(root).Ok();
        Assert.True(System.Text.Encoding.ASCII.GetString(bytes).Split("GCOL").Length - 1 >= 4, "expected several collections");
        var file = H5File.Open(bytes, "many.h5").Ok();
        Assert.Equal(many, file.Root.Dataset("many").Ok().IfNone(() => throw new Exception()).ReadStrings().Ok().ToArray());
        Assert.Equal(big, file.Root.Dataset("big").Ok().IfNone(() => throw new Exception()).ReadStrings().Ok().ToArray());
        if (Python.H5pyMissing is null)
        {
            var path = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N") + ".h5");
            H5Writer.Write(path, root).Ok();
            const string script = "import sys, h5py\n" +
                "with h5py.File(sys.argv[1], 'r') as f:\n" +
                "    m = [x.decode() for x in f['many'][()]]\n" +
                "    b = [x.decode() for x in f['big'][()]]\n" +
                "    print(len(m), sum(len(x) for x in m), m[1], m[69999], [len(x) for x in b], b[2][:3])\n";
            var (code, stdout, stderr) = Python.Run(script, path);
            File.Delete(path);
            Assert.True(code == 0, stderr);
            Assert.Equal($"70000 {many.Sum(x => x.Length)} s1 {many[69999]} [700000, 700000, 700000] ccc", stdout.Trim());
        }
    }

    [Fact]
    public void InvalidTrees_AreRefusedWithAnError()
    {
        var bad = new[]
        {
            H5GroupNode.Empty.With("a/b", F32(new[] { 1 }, 1f)),
            H5GroupNode.Empty.With("", F32(new[] { 1 }, 1f)),
            H5GroupNode.Empty.With(".", F32(new[] { 1 }, 1f)),
            H5GroupNode.Empty.With("x", F32(new[] { 2 }, 1f)),
            H5GroupNode.Empty.With("x", F32(new[] { -1 })),
            H5GroupNode.Empty.With("x", Str(new[] { 1 }, "a\0b")),
            H5GroupNode.Empty.With("x", Str(new[] { 1 }, "\ud800")),
            H5GroupNode.Empty with { Attributes = Attrs(("big", F64(new[] { 9000 }, new double[9000]))) },
        };
        foreach (var tree in bad)
        {
            var e = H5Writer.ToBytes(tree).Err();
            Assert.Equal(Errors.Hdf5WriteCode, e.Code);
        }
    }

    [Fact]
    public void WriteToFile_ThroughTemporaryFile()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        var path = Path.Combine(dir, "sub", "x.h5");
        H5Writer.Write(path, Sample()).Ok();
        Assert.True(File.Exists(path));
        Assert.False(File.Exists(path + ".tmp"));
        ReaderEquivalence.AssertGroupEquals(Sample(), H5File.Open(File.ReadAllBytes(path), path).Ok().Root);
        Directory.Delete(dir, recursive: true);
    }

    /// <summary>Dumps every object of an HDF5 file as JSON with h5py: kinds, dtypes, shapes, exact values (floats as bit patterns).</summary>
    internal const string H5pyDump = """
import sys, json, h5py, numpy as np
def value(v, dt):
    info = h5py.check_string_dtype(dt)
    if info is not None:
        a = np.asarray(v, dtype=object)
        kind = 'vlen' if info.length is None else 'fixed'
        flat = [x.decode('utf-8') if isinstance(x, bytes) else str(x) for x in a.reshape(-1).tolist()]
        return {'kind': kind, 'shape': list(a.shape), 'values': flat}
    a = np.asarray(v)
    if a.dtype != dt:
        return {'kind': 'mismatch:' + str(a.dtype) + '/' + str(dt), 'shape': list(a.shape), 'values': []}
    if dt == np.float32:
        return {'kind': 'f4', 'shape': list(a.shape), 'values': [int(x) for x in a.reshape(-1).view(np.uint32)]}
    if dt == np.float64:
        return {'kind': 'f8', 'shape': list(a.shape), 'values': [str(int(x)) for x in a.reshape(-1).view(np.uint64)]}
    if dt == np.int64 or dt == np.int32:
        return {'kind': 'i8' if dt == np.int64 else 'i4', 'shape': list(a.shape), 'values': [str(int(x)) for x in a.reshape(-1)]}
    return {'kind': 'unknown:' + str(dt), 'shape': list(a.shape), 'values': []}
def dump(obj):
    out = {'attrs': {k: value(obj.attrs[k], obj.attrs.get_id(k).dtype) for k in obj.attrs.keys()}}
    if isinstance(obj, h5py.Group):
        out['kind'] = 'group'
        out['children'] = {k: dump(obj[k]) for k in obj.keys()}
    else:
        out['kind'] = 'dataset'
        out['layout'] = 'contiguous' if obj.chunks is None else 'chunked'
        out['value'] = value(obj[()], obj.dtype)
    return out
with h5py.File(sys.argv[1], 'r') as f:
    print(json.dumps(dump(f)))
""";

    [Trait("Category", "Slow")]
    [H5pyFact]
    public void Sample_ReadsBackWithH5py()
    {
        var root = Sample().With("i64_extremes", D(I64(new[] { 3 }, long.MinValue, long.MaxValue, -1)));
        var path = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N") + ".h5");
        H5Writer.Write(path, root).Ok();
        var (code, stdout, stderr) = Python.Run(H5pyDump, path);
        File.Delete(path);
        Assert.True(code == 0, stderr);
        H5pyEquivalence.AssertGroupEquals(root, JsonDocument.Parse(stdout).RootElement, "/");
    }
}

/// <summary>Compares a written tree with what this project's reader reads.</summary>
internal static class ReaderEquivalence
{
    public static void AssertGroupEquals(H5GroupNode expected, H5Group actual)
    {
        var names = expected.Children.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();
        Assert.Equal(names, actual.ChildNames().Ok().ToArray());
        AssertAttributes(expected.Attributes, actual.AttributeNames().Ok(), n => actual.Attribute(n).Ok(), actual.Path);
        foreach (var (name, child) in expected.Children)
        {
            switch (child)
            {
                case H5GroupNode g:
                    AssertGroupEquals(g, actual.Group(name).Ok().IfNone(() => throw new Xunit.Sdk.XunitException($"group {name} missing in {actual.Path}")));
                    break;
                case H5DatasetNode d:
                {
                    var ds = actual.Dataset(name).Ok().IfNone(() => throw new Xunit.Sdk.XunitException($"dataset {name} missing in {actual.Path}"));
                    Assert.Equal(d.Value.Shape.ToArray(), ds.Shape().Ok());
                    var describe = ds.Describe().Ok();
                    Assert.StartsWith(TypeName(d.Value), describe);
                    Assert.Contains("contiguous", describe);
                    AssertValues(d.Value, d.Value is H5String ? Left<Seq<string>, double[]>(ds.ReadStrings().Ok()) : ReadNumbers(d.Value, ds), ds.Path);
                    AssertAttributes(d.Attributes, ds.AttributeNames().Ok(), n => ds.Attribute(n).Ok(), ds.Path);
                    break;
                }
            }
        }
    }

    static Either<Seq<string>, double[]> ReadNumbers(H5Value v, H5Dataset ds) =>
        Right<Seq<string>, double[]>(v is H5Float32 ? ds.ReadFloat32().Ok().Select(f => (double)f).ToArray() : ds.ReadFloat64().Ok());

    static void AssertAttributes(Map<string, H5Value> expected, Seq<string> names, Func<string, Option<H5Attribute>> get, string path)
    {
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray(), names.ToArray());
        foreach (var (name, value) in expected)
        {
            var a = get(name).IfNone(() => throw new Xunit.Sdk.XunitException($"attribute {name} missing on {path}"));
            Assert.Equal(value.Shape.ToArray(), a.Shape);
            Assert.StartsWith(TypeName(value), a.TypeDescription);
            AssertValues(value, value is H5String ? Left<Seq<string>, double[]>(a.ReadStrings().Ok()) : Right<Seq<string>, double[]>(a.ReadNumbers().Ok()), path + "@" + name);
        }
    }

    public static string TypeName(H5Value v) => v switch
    {
        H5Float32 => "float32",
        H5Float64 => "float64",
        H5Int64 => "int64",
        H5Int32 => "int32",
        H5String { VariableLength: true } => "variable-length string",
        _ => "fixed-length string",
    };

    static void AssertValues(H5Value expected, Either<Seq<string>, double[]> actual, string where)
    {
        switch (expected)
        {
            case H5String s:
                Assert.Equal(s.Values.ToArray(), actual.Match(_ => throw new Xunit.Sdk.XunitException(where), x => x.ToArray()));
                break;
            default:
            {
                var got = actual.Match(x => x, _ => throw new Xunit.Sdk.XunitException(where));
                var want = expected switch
                {
                    H5Float32 f => f.Values.Map(x => (double)x).ToArray(),
                    H5Float64 d => d.Values.ToArray(),
                    H5Int64 l => l.Values.Map(x => (double)x).ToArray(),
                    H5Int32 i => i.Values.Map(x => (double)x).ToArray(),
                    _ => throw new InvalidOperationException(),
                };
                Assert.Equal(want.Length, got.Length);
                for (var k = 0; k < want.Length; k++)
                    if (BitConverter.DoubleToInt64Bits(want[k]) != BitConverter.DoubleToInt64Bits(got[k]) && !(double.IsNaN(want[k]) && double.IsNaN(got[k])))
                        throw new Xunit.Sdk.XunitException($"{where}[{k}]: expected {want[k]}, read {got[k]}");
                break;
            }
        }
    }
}

/// <summary>Compares a written tree with h5py's JSON dump (<see cref="H5WriterTests.H5pyDump"/>).</summary>
internal static class H5pyEquivalence
{
    public static void AssertGroupEquals(H5GroupNode expected, JsonElement actual, string path)
    {
        Assert.Equal("group", actual.GetProperty("kind").GetString());
        var children = actual.GetProperty("children");
        Assert.Equal(expected.Children.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray(),
            children.EnumerateObject().Select(p => p.Name).OrderBy(k => k, StringComparer.Ordinal).ToArray());
        AssertAttributes(expected.Attributes, actual.GetProperty("attrs"), path);
        foreach (var (name, child) in expected.Children)
        {
            var c = children.GetProperty(name);
            var childPath = path.TrimEnd('/') + "/" + name;
            switch (child)
            {
                case H5GroupNode g:
                    AssertGroupEquals(g, c, childPath);
                    break;
                case H5DatasetNode d:
                    Assert.Equal("dataset", c.GetProperty("kind").GetString());
                    Assert.Equal("contiguous", c.GetProperty("layout").GetString());
                    AssertValue(d.Value, c.GetProperty("value"), childPath);
                    AssertAttributes(d.Attributes, c.GetProperty("attrs"), childPath);
                    break;
            }
        }
    }

    static void AssertAttributes(Map<string, H5Value> expected, JsonElement attrs, string path)
    {
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray(),
            attrs.EnumerateObject().Select(p => p.Name).OrderBy(k => k, StringComparer.Ordinal).ToArray());
        foreach (var (name, value) in expected) AssertValue(value, attrs.GetProperty(name), path + "@" + name);
    }

    public static void AssertValue(H5Value expected, JsonElement actual, string where)
    {
        var kind = actual.GetProperty("kind").GetString();
        Assert.True(kind == Kind(expected), $"{where}: h5py sees {kind}, expected {Kind(expected)}");
        Assert.True(expected.Shape.SequenceEqual(actual.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32())), $"{where}: shape");
        var values = actual.GetProperty("values").EnumerateArray().ToArray();
        string[] want = expected switch
        {
            H5Float32 f => f.Values.Map(x => ((uint)BitConverter.SingleToInt32Bits(x)).ToString()).ToArray(),
            H5Float64 d => d.Values.Map(x => ((ulong)BitConverter.DoubleToInt64Bits(x)).ToString()).ToArray(),
            H5Int64 l => l.Values.Map(x => x.ToString()).ToArray(),
            H5Int32 i => i.Values.Map(x => x.ToString()).ToArray(),
            H5String s => s.Values.ToArray(),
            _ => throw new InvalidOperationException(),
        };
        var got = values.Select(v => v.ValueKind == JsonValueKind.Number ? v.GetUInt32().ToString() : v.GetString()!).ToArray();
        if (expected is H5Float32 or H5Float64)
        {
            // NaN payloads may be canonicalized by numpy; compare NaN as NaN.
            for (var k = 0; k < want.Length; k++)
                if (want[k] != got[k] && !(IsNaN(expected, want[k]) && IsNaN(expected, got[k])))
                    throw new Xunit.Sdk.XunitException($"{where}[{k}]: bits {got[k]}, expected {want[k]}");
            Assert.Equal(want.Length, got.Length);
        }
        else Assert.Equal(want, got);
    }

    static bool IsNaN(H5Value v, string bits) => v is H5Float32
        ? float.IsNaN(BitConverter.Int32BitsToSingle((int)uint.Parse(bits)))
        : double.IsNaN(BitConverter.Int64BitsToDouble((long)ulong.Parse(bits)));

    static string Kind(H5Value v) => v switch
    {
        H5Float32 => "f4",
        H5Float64 => "f8",
        H5Int64 => "i8",
        H5Int32 => "i4",
        H5String { VariableLength: true } => "vlen",
        _ => "fixed",
    };
}
