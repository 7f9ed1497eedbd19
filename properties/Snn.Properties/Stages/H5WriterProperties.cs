using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using LanguageExt;
using Snn.Compiler.Hdf5;
using Snn.Properties.Support;
using Xunit.Abstractions;
using Xunit.Sdk;
using static LanguageExt.Prelude;

namespace Snn.Properties.Stages;

/// <summary>
/// HDF5 writer round trip: a random tree of groups, datasets and attributes (every value type, ranks 0-3 with
/// zero-length dimensions, special floats, Unicode names and strings, groups of up to 70 links) written with
/// <see cref="H5Writer"/> and read back with <see cref="H5File"/> has the same links, types, shapes and values
/// (floats compared bit for bit, NaN as NaN).
/// </summary>
[Properties(Arbitrary = new[] { typeof(H5Trees) })]
public sealed class H5WriterProperties(ITestOutputHelper output) : PropertyTests(output)
{
    [Property(MaxTest = 150)]
    public void Written_trees_read_back_equal(H5Tree tree)
    {
        var bytes = H5Writer.ToBytes(tree.Root).Get("H5Writer.ToBytes");
        var file = H5File.Open(bytes, "tree.h5").Get("H5File.Open");
        Same(tree.Root, file.Root, "/");
    }

    static void Same(H5GroupNode expected, H5Group actual, string path)
    {
        Equal(Sorted(expected.Children.Keys), actual.ChildNames().Get(path).ToArray(), $"{path}: links");
        Attributes(expected.Attributes, actual.AttributeNames().Get(path), n => actual.Attribute(n).Get(path), path);
        foreach (var (name, child) in expected.Children)
        {
            var p = path.TrimEnd('/') + "/" + name;
            switch (child)
            {
                case H5GroupNode g:
                    Same(g, actual.Group(name).Get(p).IfNone(() => throw new XunitException($"{p}: group missing")), p);
                    break;
                case H5DatasetNode d:
                {
                    var ds = actual.Dataset(name).Get(p).IfNone(() => throw new XunitException($"{p}: dataset missing"));
                    Equal(d.Value.Shape.ToArray(), ds.Shape().Get(p), $"{p}: shape");
                    var type = ds.Describe().Get(p);
                    if (!type.StartsWith(TypeName(d.Value) + ";", StringComparison.Ordinal)) throw new XunitException($"{p}: type {type}, expected {TypeName(d.Value)}");
                    Values(d.Value, d.Value switch
                    {
                        H5String => Left<string[], double[]>(ds.ReadStrings().Get(p).ToArray()),
                        H5Float32 => Right<string[], double[]>(ds.ReadFloat32().Get(p).Select(f => (double)f).ToArray()),
                        _ => Right<string[], double[]>(ds.ReadFloat64().Get(p)),
                    }, p);
                    Attributes(d.Attributes, ds.AttributeNames().Get(p), n => ds.Attribute(n).Get(p), p);
                    break;
                }
            }
        }
    }

    static void Attributes(Map<string, H5Value> expected, Seq<string> names, Func<string, Option<H5Attribute>> get, string path)
    {
        Equal(Sorted(expected.Keys), names.ToArray(), $"{path}: attribute names");
        foreach (var (name, value) in expected)
        {
            var where = $"{path}@{name}";
            var a = get(name).IfNone(() => throw new XunitException($"{where}: missing"));
            Equal(value.Shape.ToArray(), a.Shape, $"{where}: shape");
            if (a.TypeDescription != TypeName(value)) throw new XunitException($"{where}: type {a.TypeDescription}, expected {TypeName(value)}");
            Values(value, value is H5String
                ? Left<string[], double[]>(a.ReadStrings().Get(where).ToArray())
                : Right<string[], double[]>(a.ReadNumbers().Get(where)), where);
        }
    }

    static string[] Sorted(IEnumerable<string> keys) => keys.OrderBy(k => k, StringComparer.Ordinal).ToArray();

    static void Equal<T>(T[] expected, T[] actual, string what)
    {
        if (!expected.SequenceEqual(actual))
            throw new XunitException($"{what}: expected [{string.Join(", ", expected)}], read [{string.Join(", ", actual)}]");
    }

    static string TypeName(H5Value v) => v switch
    {
        H5Float32 => "float32",
        H5Float64 => "float64",
        H5Int64 => "int64",
        H5Int32 => "int32",
        H5String { VariableLength: true } => "variable-length string",
        H5String s => $"fixed-length string ({Math.Max(1, s.Values.Fold(0, (m, t) => Math.Max(m, System.Text.Encoding.UTF8.GetByteCount(t))))} bytes)",
        _ => "?",
    };

    static void Values(H5Value expected, Either<string[], double[]> actual, string where)
    {
        if (expected is H5String s)
        {
            Equal(s.Values.ToArray(), actual.Match(_ => throw new XunitException($"{where}: numbers read"), x => x), $"{where}: strings");
            return;
        }
        var got = actual.Match(x => x, _ => throw new XunitException($"{where}: strings read"));
        var want = expected switch
        {
            H5Float32 f => f.Values.Map(x => (double)x).ToArray(),
            H5Float64 d => d.Values.ToArray(),
            H5Int64 l => l.Values.Map(x => (double)x).ToArray(),
            H5Int32 i => i.Values.Map(x => (double)x).ToArray(),
            _ => throw new InvalidOperationException(),
        };
        if (want.Length != got.Length) throw new XunitException($"{where}: {got.Length} values, expected {want.Length}");
        for (var k = 0; k < want.Length; k++)
        {
            var same = double.IsNaN(want[k]) ? double.IsNaN(got[k]) : BitConverter.DoubleToInt64Bits(want[k]) == BitConverter.DoubleToInt64Bits(got[k]);
            if (!same) throw new XunitException($"{where}[{k}]: expected {want[k]:R}, read {got[k]:R}");
        }
    }
}

/// <summary>A random HDF5 tree built from a seed (printed on failure through FsCheck's case).</summary>
public sealed record H5Tree(int Seed, H5GroupNode Root)
{
    public override string ToString() => $"H5Tree(seed {Seed})";
}

/// <summary>Random HDF5 trees; the FsCheck.Xunit registration for <see cref="H5Tree"/>.</summary>
public static class H5Trees
{
    public static Arbitrary<H5Tree> Arbitrary => Arb.From(Gen.Choose(0, int.MaxValue).Select(Build));

    const string Alphabet = "abcxyzABZ019_- :é✓ü中";

    static H5Tree Build(int seed)
    {
        var r = new System.Random(seed);
        return new H5Tree(seed, Group(r, 0));
    }

    static H5GroupNode Group(System.Random r, int depth)
    {
        var n = r.Next(10) == 0 ? r.Next(30, 71) : r.Next(0, depth >= 3 ? 4 : 8);
        var children = Map<string, H5Node>();
        for (var i = 0; i < n; i++)
        {
            var name = Name(r);
            H5Node child = depth < 3 && r.Next(4) == 0 ? Group(r, depth + 1) : new H5DatasetNode(Value(r, maxCount: 200), Attributes(r));
            children = children.AddOrUpdate(name, child);
        }
        return new H5GroupNode(children, Attributes(r));
    }

    static Map<string, H5Value> Attributes(System.Random r)
    {
        var a = Map<string, H5Value>();
        for (var i = r.Next(0, 4); i > 0; i--) a = a.AddOrUpdate(Name(r), Value(r, maxCount: 40));
        return a;
    }

    static string Name(System.Random r)
    {
        string s;
        do s = new string(Enumerable.Range(0, r.Next(1, 12)).Select(_ => Alphabet[r.Next(Alphabet.Length)]).ToArray());
        while (s == ".");
        return s;
    }

    static H5Value Value(System.Random r, int maxCount)
    {
        int[] shape;
        do shape = Enumerable.Range(0, r.Next(0, 4)).Select(_ => r.Next(0, 6)).ToArray();
        while (shape.Aggregate(1, (p, d) => p * d) > maxCount);
        var count = shape.Aggregate(1, (p, d) => p * d);
        var s = shape.ToArr();
        return r.Next(6) switch
        {
            0 => new H5Float32(s, Enumerable.Range(0, count).Select(_ => Float32(r)).ToArr()),
            1 => new H5Float64(s, Enumerable.Range(0, count).Select(_ => Float64(r)).ToArr()),
            2 => new H5Int64(s, Enumerable.Range(0, count).Select(_ => r.NextInt64(-(1L << 53), (1L << 53) + 1)).ToArr()),
            3 => new H5Int32(s, Enumerable.Range(0, count).Select(_ => r.Next(int.MinValue, int.MaxValue)).ToArr()),
            var k => new H5String(s, Enumerable.Range(0, count).Select(_ => Text(r)).ToArr(), VariableLength: k == 4),
        };
    }

    static float Float32(System.Random r) => r.Next(8) switch
    {
        0 => float.NaN,
        1 => r.Next(2) == 0 ? float.PositiveInfinity : float.NegativeInfinity,
        2 => r.Next(2) == 0 ? 0f : -0f,
        3 => float.Epsilon * r.Next(1, 1000),
        4 => BitConverter.Int32BitsToSingle(r.Next(int.MinValue, int.MaxValue)),
        _ => (float)(r.NextDouble() * 2 - 1) * MathF.Pow(10, r.Next(-30, 30)),
    };

    static double Float64(System.Random r) => r.Next(8) switch
    {
        0 => double.NaN,
        1 => r.Next(2) == 0 ? double.PositiveInfinity : double.NegativeInfinity,
        2 => r.Next(2) == 0 ? 0.0 : -0.0,
        3 => double.Epsilon * r.Next(1, 1000),
        4 => BitConverter.Int64BitsToDouble(r.NextInt64(long.MinValue, long.MaxValue)),
        _ => (r.NextDouble() * 2 - 1) * Math.Pow(10, r.Next(-300, 300)),
    };

    static string Text(System.Random r)
    {
        var chars = new List<string>();
        for (var i = r.Next(0, 25); i > 0; i--)
            chars.Add(r.Next(10) switch
            {
                0 => "😀",                                  // a surrogate pair
                1 => ((char)r.Next(0x80, 0xD800)).ToString(),
                _ => ((char)r.Next(1, 0x80)).ToString(),   // ASCII without NUL
            });
        return string.Concat(chars);
    }
}
