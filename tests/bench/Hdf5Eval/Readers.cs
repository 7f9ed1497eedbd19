using System.Text;
using LanguageExt;
using LanguageExt.Common;
using Ours = Snn.Compiler.Hdf5;
using P = PureHDF;

namespace Snn.Hdf5Eval;

/// <summary>
/// What one reader made of a file: for every object reached from the root (groups, datasets, their attributes), a
/// canonical text of what the reader returned — the kind, the shape, the values (count and a hash of their float64
/// bits, or the strings) — or "ERR" where it refused. Keys: "/path" for objects, "/path@name" for attributes,
/// "/path/*" and "/path@*" for a listing that failed. Both readers are walked the same way (by path, depth 64, at
/// most 2,000 objects), so that two dumps of one file compare key by key.
/// </summary>
public sealed class Dump
{
    public SortedDictionary<string, string> Entries { get; } = new(StringComparer.Ordinal);
    /// <summary>Exceptions a reader threw (type and innermost frame of the library), one per failed call.</summary>
    public List<string> Exceptions { get; } = [];
    public bool Opened { get; set; }
    public string? OpenError { get; set; }
    public int Objects;

    public const int MaxObjects = 2000;
    public const int MaxDepth = 64;

    public static string Numbers(IReadOnlyList<double> values)
    {
        ulong h = 1469598103934665603UL;
        foreach (var v in values)
        {
            var bits = double.IsNaN(v) ? 0x7ff8000000000000UL : (ulong)BitConverter.DoubleToInt64Bits(v);
            h = (h ^ bits) * 1099511628211UL;
        }
        return $"N{values.Count}:{h:x16}";
    }

    public static string Strings(IReadOnlyList<string> values)
    {
        var all = string.Join("\u0001", values);
        if (all.Length <= 200) return $"S{values.Count}:{all}";
        ulong h = 1469598103934665603UL;
        foreach (var c in all) h = (h ^ c) * 1099511628211UL;
        return $"S{values.Count}:#{all.Length}:{h:x16}";
    }

    public static string Shape(IEnumerable<long> dims) => "[" + string.Join(",", dims) + "]";
}

/// <summary>Walks a file with Snn's own reader (Snn.Compiler.Hdf5), as the Keras importers call it.</summary>
public static class OursReader
{
    public static Dump Run(byte[] bytes, long maxMemory)
    {
        var dump = new Dump();
        Ours.H5File.Open(bytes, "eval.h5", maxMemory).Match(
            Right: f =>
            {
                dump.Opened = true;
                Group(dump, f.Root, "/", 0);
            },
            Left: e => dump.OpenError = e.Message);
        return dump;
    }

    static void Group(Dump d, Ours.H5Group g, string path, int depth)
    {
        if (++d.Objects > Dump.MaxObjects || depth > Dump.MaxDepth) return;
        d.Entries[path] = "G";
        Attributes(d, path, g.AttributeNames(), g.Attribute);
        var names = g.ChildNames();
        if (names.IsLeft)
        {
            d.Entries[Child(path, "*")] = "ERR";
            return;
        }
        foreach (var name in names.IfLeft(Seq<string>.Empty))
        {
            var cp = Child(path, name);
            // Links named "." or ".." mean something else to a path resolver; neither reader is asked for them.
            if (name is "." or ".." || name.Contains('/')) continue;
            var grp = g.Group(name);
            if (grp.IsLeft) { d.Entries[cp] = "ERR"; continue; }
            if (grp.IfLeft(Option<Ours.H5Group>.None).TryGet(out var child)) { Group(d, child, cp, depth + 1); continue; }
            var ds = g.Dataset(name);
            if (ds.IsLeft) { d.Entries[cp] = "ERR"; continue; }
            if (ds.IfLeft(Option<Ours.H5Dataset>.None).TryGet(out var set)) Dataset(d, set, cp);
            else d.Entries[cp] = "OTHER";
        }
    }

    static void Dataset(Dump d, Ours.H5Dataset ds, string path)
    {
        if (++d.Objects > Dump.MaxObjects) return;
        var shape = ds.Shape().Map(s => Dump.Shape(s.Select(x => (long)x)));
        var numbers = ds.ReadFloat64();
        string value = numbers.Match(Right: v => Dump.Numbers(v), Left: _ => ds.ReadStrings().Match(Right: s => Dump.Strings(s.ToArray()), Left: _ => "ERR"));
        d.Entries[path] = value == "ERR" || shape.IsLeft ? "ERR" : "D" + shape.IfLeft("") + " " + value;
        Attributes(d, path, ds.AttributeNames(), ds.Attribute);
    }

    static void Attributes(Dump d, string path, Either<Error, Seq<string>> names, Func<string, Either<Error, Option<Ours.H5Attribute>>> get)
    {
        if (names.IsLeft)
        {
            d.Entries[path + "@*"] = "ERR";
            return;
        }
        foreach (var name in names.IfLeft(Seq<string>.Empty))
        {
            var key = path + "@" + name;
            var a = get(name);
            if (a.IsLeft || !a.IfLeft(Option<Ours.H5Attribute>.None).TryGet(out var attr)) { d.Entries[key] = "ERR"; continue; }
            var shape = Dump.Shape(attr.Shape.Select(x => (long)x));
            d.Entries[key] = attr.ReadNumbers().Match(
                Right: v => "A" + shape + " " + Dump.Numbers(v),
                Left: _ => attr.ReadStrings().Match(Right: s => "A" + shape + " " + Dump.Strings(s.ToArray()), Left: _ => "ERR"));
        }
    }

    static string Child(string path, string name) => path == "/" ? "/" + name : path + "/" + name;
}

/// <summary>
/// Walks a file with PureHDF, as an adapter behind Snn's importers would: every PureHDF exception becomes "ERR" (and
/// is recorded), and a dataset or attribute whose declared size (shape x element size) is over the budget is refused
/// before PureHDF is asked to read it — the one memory check an adapter can make from outside the library.
/// </summary>
public static class PureReader
{
    /// <summary>
    /// The chunk cache every dataset read gets: 64 MiB, as Snn's adapter would set it (HDF5_EVAL_CHUNK_CACHE_MIB sets
    /// another size, in MiB; 0 keeps PureHDF's default). PureHDF's default cache holds 1 MiB, and a 4 MiB chunk that
    /// does not fit is inflated again for every row copied out of it: a 16 MiB deflated dataset in (1024, 1024) chunks
    /// took 133 s to read instead of 0.4 s.
    /// </summary>
    public static long? ChunkCacheBytes
    {
        get => _chunkCacheBytes;
        set
        {
            _chunkCacheBytes = value;
            if (value is { } bytes) PureHDF.VOL.Native.ChunkCache.DefaultReadingChunkCacheFactory = () => new PureHDF.VOL.Native.SimpleReadingChunkCache(521, (ulong)bytes);
        }
    }

    static long? _chunkCacheBytes;

    static PureReader()
    {
        var mib = long.TryParse(Environment.GetEnvironmentVariable("HDF5_EVAL_CHUNK_CACHE_MIB"), out var m) ? m : 64;
        if (mib > 0) ChunkCacheBytes = mib << 20;
    }

    public static Dump Run(byte[] bytes, long maxMemory)
    {
        var dump = new Dump();
        PureHDF.VOL.Native.NativeFile file;
        try
        {
            file = P.H5File.Open(new MemoryStream(bytes, writable: false), leaveOpen: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            dump.OpenError = e.GetType().Name + ": " + e.Message;
            dump.Exceptions.Add(Describe(e));
            return dump;
        }
        using (file)
        {
            dump.Opened = true;
            Group(dump, file, "/", 0, maxMemory);
        }
        return dump;
    }

    /// <summary>Exception type and the innermost PureHDF frame (where a check is missing, for runtime exceptions).</summary>
    public static string Describe(Exception e)
    {
        var frame = (e.StackTrace ?? "").Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("at PureHDF", StringComparison.Ordinal)) ?? "?";
        var paren = frame.IndexOf('(');
        return e.GetType().Name + " at " + (paren > 0 ? frame[3..paren] : frame);
    }

    static bool Try(Dump d, string key, Action body)
    {
        try
        {
            body();
            return true;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            d.Entries[key] = "ERR";
            d.Exceptions.Add(Describe(e));
            return false;
        }
    }

    static void Group(Dump d, P.IH5Group g, string path, int depth, long budget)
    {
        if (++d.Objects > Dump.MaxObjects || depth > Dump.MaxDepth) return;
        d.Entries[path] = "G";
        Attributes(d, path, g, budget);
        List<P.IH5Object> children = [];
        if (!Try(d, Child(path, "*"), () => children = g.Children().ToList())) return;
        foreach (var child in children)
        {
            var name = child.Name;
            if (name is "." or ".." || name.Contains('/')) continue;
            var cp = Child(path, name);
            switch (child)
            {
                case P.IH5Group grp:
                    Group(d, grp, cp, depth + 1, budget);
                    break;
                case P.IH5Dataset ds:
                    if (++d.Objects > Dump.MaxObjects) return;
                    Try(d, cp, () => d.Entries[cp] = Dataset(ds, budget));
                    Attributes(d, cp, ds, budget);
                    break;
                default:
                    d.Entries[cp] = "OTHER";
                    break;
            }
        }
    }

    static void Attributes(Dump d, string path, P.IH5Object o, long budget)
    {
        List<P.IH5Attribute> attributes = [];
        if (!Try(d, path + "@*", () => attributes = o.Attributes().ToList())) return;
        foreach (var a in attributes)
        {
            var key = path + "@" + a.Name;
            Try(d, key, () =>
            {
                var dims = Dims(a.Space);
                Check(dims, a.Type.Size, budget);
                var value = Values(a.Type, count => Read(a.Read<float[]>, a.Read<double[]>, a.Read<Half[]>, a.Read<sbyte[]>, a.Read<byte[]>,
                    a.Read<short[]>, a.Read<ushort[]>, a.Read<int[]>, a.Read<uint[]>, a.Read<long[]>, a.Read<ulong[]>, a.Type), () => a.Read<string[]>(null));
                d.Entries[key] = "A" + Dump.Shape(dims) + " " + value;
            });
        }
    }

    static string Dataset(P.IH5Dataset ds, long budget)
    {
        var dims = Dims(ds.Space);
        Check(dims, ds.Type.Size, budget);
        var value = Values(ds.Type, count => Read(m => ds.Read<float[]>(null, null, m), m => ds.Read<double[]>(null, null, m), m => ds.Read<Half[]>(null, null, m),
            m => ds.Read<sbyte[]>(null, null, m), m => ds.Read<byte[]>(null, null, m), m => ds.Read<short[]>(null, null, m), m => ds.Read<ushort[]>(null, null, m),
            m => ds.Read<int[]>(null, null, m), m => ds.Read<uint[]>(null, null, m), m => ds.Read<long[]>(null, null, m), m => ds.Read<ulong[]>(null, null, m), ds.Type),
            () => ds.Read<string[]>(null, null, null));
        return "D" + Dump.Shape(dims) + " " + value;
    }

    static long[] Dims(P.IH5Dataspace space) =>
        space.Type == P.H5DataspaceType.Scalar ? [] : space.Type == P.H5DataspaceType.Null ? [0] : space.Dimensions.Select(x => (long)x).ToArray();

    /// <summary>The adapter's budget check: the declared size, before anything is read.</summary>
    static void Check(long[] dims, long elementSize, long budget)
    {
        double total = elementSize;
        foreach (var x in dims) total *= x;
        if (dims.Any(x => x < 0) || total > budget) throw new BudgetException($"declared {total} bytes, over the {budget}-byte budget");
    }

    static string Values(P.IH5DataType type, Func<long, double[]> numbers, Func<string[]> strings) =>
        type.Class switch
        {
            P.H5DataTypeClass.String => Dump.Strings(strings()),
            P.H5DataTypeClass.VariableLength => Dump.Strings(strings()),
            P.H5DataTypeClass.FloatingPoint or P.H5DataTypeClass.FixedPoint or P.H5DataTypeClass.Enumerated or P.H5DataTypeClass.BitField => Dump.Numbers(numbers(0)),
            _ => throw new NotSupportedException($"type class {type.Class} is not read by Snn"),
        };

    static double[] Read(Func<ulong[]?, float[]> f32, Func<ulong[]?, double[]> f64, Func<ulong[]?, Half[]> f16, Func<ulong[]?, sbyte[]> i8, Func<ulong[]?, byte[]> u8,
        Func<ulong[]?, short[]> i16, Func<ulong[]?, ushort[]> u16, Func<ulong[]?, int[]> i32, Func<ulong[]?, uint[]> u32, Func<ulong[]?, long[]> i64,
        Func<ulong[]?, ulong[]> u64, P.IH5DataType type)
    {
        if (type.Class == P.H5DataTypeClass.FloatingPoint)
            return type.Size switch
            {
                4 => f32(null).Select(x => (double)x).ToArray(),
                8 => f64(null),
                2 => f16(null).Select(x => (double)x).ToArray(),
                _ => throw new NotSupportedException($"float of {type.Size} bytes"),
            };
        // Snn reads enums and bitfields as their (unsigned) integer bytes.
        var signed = type.Class == P.H5DataTypeClass.FixedPoint && type.FixedPoint.IsSigned;
        return (type.Size, signed) switch
        {
            (1, true) => i8(null).Select(x => (double)x).ToArray(),
            (1, false) => u8(null).Select(x => (double)x).ToArray(),
            (2, true) => i16(null).Select(x => (double)x).ToArray(),
            (2, false) => u16(null).Select(x => (double)x).ToArray(),
            (4, true) => i32(null).Select(x => (double)x).ToArray(),
            (4, false) => u32(null).Select(x => (double)x).ToArray(),
            (8, true) => i64(null).Select(x => (double)x).ToArray(),
            (8, false) => u64(null).Select(x => (double)x).ToArray(),
            _ => throw new NotSupportedException($"integer of {type.Size} bytes"),
        };
    }

    static string Child(string path, string name) => path == "/" ? "/" + name : path + "/" + name;
}

/// <summary>The adapter's own refusal (declared size over the budget): an error, like Snn's.</summary>
public sealed class BudgetException(string message) : Exception(message);

/// <summary>
/// A damaged file against its original, key by key: where PureHDF returned values that differ from what it read in the
/// original, what did Snn's reader do? Refused (PureHDF passed damage off as data that Snn caught), read the original
/// values (PureHDF misread), or read the same changed values (damage in the data bytes, which no reader can see).
/// </summary>
public sealed record Drift(int PureChangedOursRefused, int PureChangedOursOriginal, int BothChangedSame, int BothChangedDiffer, List<string> Examples)
{
    public static Drift Of(Dump oursOriginal, Dump pureOriginal, Dump ours, Dump pure)
    {
        int refused = 0, original = 0, same = 0, differ = 0;
        var examples = new List<string>();
        foreach (var (key, p) in pure.Entries)
        {
            if (p == "ERR" || !pureOriginal.Entries.TryGetValue(key, out var p0) || p0 == "ERR" || p == p0) continue;
            if (!oursOriginal.Entries.TryGetValue(key, out var o0) || o0 != p0) continue;   // compare only where both read the original alike
            var o = ours.Entries.GetValueOrDefault(key, "ERR");
            if (o == "ERR") { refused++; if (examples.Count < 2) examples.Add($"{key}: PureHDF {Short(p)} (was {Short(p0)}), ours refused"); }
            else if (o == o0) { original++; if (examples.Count < 2) examples.Add($"{key}: PureHDF {Short(p)}, ours read the original {Short(o0)}"); }
            else if (o == p) same++;
            else differ++;
        }
        return new Drift(refused, original, same, differ, examples);
    }

    static string Short(string s) => s.Length > 80 ? s[..80] + "…" : s;
}

/// <summary>Key-by-key comparison of two dumps of one file.</summary>
public sealed record Comparison(int Same, int PureReadOursRefused, int PureRefusedOursRead, int BothReadDiffer, int OnlyInOurs, int OnlyInPure, List<string> Examples)
{
    public static int MaxExamples = 4;

    public bool Identical => PureReadOursRefused + PureRefusedOursRead + BothReadDiffer + OnlyInOurs + OnlyInPure == 0;

    public static Comparison Of(Dump ours, Dump pure)
    {
        int same = 0, pureOnlyValue = 0, pureFail = 0, differ = 0, onlyOurs = 0, onlyPure = 0;
        var examples = new List<string>();
        void Example(string s)
        {
            if (examples.Count < MaxExamples) examples.Add(s.Length > 300 ? s[..300] + "…" : s);
        }
        foreach (var (key, o) in ours.Entries)
        {
            if (!pure.Entries.TryGetValue(key, out var p))
            {
                onlyOurs++;
                Example($"{key}: ours {o}, PureHDF did not reach it");
                continue;
            }
            if (o == p) same++;
            else if (o == "ERR") { pureOnlyValue++; Example($"{key}: ours refused, PureHDF read {p}"); }
            else if (p == "ERR") { pureFail++; Example($"{key}: ours read {o}, PureHDF failed"); }
            else { differ++; Example($"{key}: ours {o}, PureHDF {p}"); }
        }
        foreach (var (key, p) in pure.Entries)
            if (!ours.Entries.ContainsKey(key))
            {
                onlyPure++;
                Example($"{key}: PureHDF {p}, ours did not reach it");
            }
        return new Comparison(same, pureOnlyValue, pureFail, differ, onlyOurs, onlyPure, examples);
    }
}
