using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Hdf5;

/// <summary>
/// A read-only HDF5 file held in memory, parsed by a pure managed reader that treats the bytes as hostile:
/// every offset is bounds-checked, cycles and overlapping structures end in an error, and no read allocates
/// more than the file could plausibly produce. Every failure is an <c>Errors.Hdf5</c> value naming the object
/// path and the byte offset; no exception escapes the public API.
/// </summary>
/// <remarks>
/// Supported: superblock v0-v3 (user block allowed; offsets/lengths of 2, 4 or 8 bytes), object headers v1/v2
/// (continuations, lookup3 checksums verified), symbol-table groups (v1 B-tree of any depth, SNOD, local heap) and
/// compact new-style groups (link messages), hard and soft links; contiguous, compact and chunked datasets
/// (layout v1-v4; chunk indexes: v1 B-tree, single chunk, implicit, fixed array incl. paged) with the deflate,
/// shuffle and fletcher32 (checksum stripped, not verified) filters, fill values for unallocated storage;
/// fixed-point (1-8 bytes, any bit precision, either byte order), bitfield, enum (read as its integer base),
/// IEEE float16/32/64 (either byte order); fixed- and variable-length strings (global heap); attribute messages
/// v1-v3; dataspaces v1/v2 (scalar, null, zero-size); committed (shared) datatypes in another object header.
/// Not supported (clean error): dense (fractal heap) link and attribute storage, extensible-array and v2 B-tree
/// chunk indexes, external links, external storage, virtual datasets, other filters, compound/array/reference types,
/// messages shared through the shared-message heap.
/// All calls on one file are serialised by a lock; the returned objects may be used from any thread.
/// </remarks>
public sealed class H5File
{
    private readonly H5Context _ctx;

    private H5File(H5Context ctx)
    {
        _ctx = ctx;
        Root = new H5Group(ctx, ctx.RootAddress, "/");
    }

    public H5Group Root { get; }

    public string FileName => _ctx.FileName;

    /// <summary>Superblock version (0-3), for diagnostics and tests.</summary>
    internal int SuperblockVersion => _ctx.SuperblockVersion;

    /// <summary>
    /// Parses the superblock and the root group's object header; everything else is parsed lazily (and cached).
    /// <paramref name="bytes"/> is not copied: do not modify it while the file is in use.
    /// <paramref name="fileName"/> is only used in error messages.
    /// </summary>
    public static Either<Error, H5File> Open(byte[] bytes, string fileName)
    {
        fileName ??= "";
        if (bytes is null) return Left<Error, H5File>(Errors.Hdf5(fileName, "/", 0, "no data"));
        var ctx = new H5Context(bytes, fileName);
        return H5Guard.Run(ctx, "/", () =>
        {
            H5Superblock.Parse(ctx);
            var root = H5ObjectHeader.Get(ctx, ctx.RootAddress);
            if (!root.IsGroup) throw ctx.Fail(ctx.Base + ctx.RootAddress, "the root object is not a group");
            return new H5File(ctx);
        });
    }
}

/// <summary>A group. Child and attribute names are returned sorted by ordinal (code unit) order.</summary>
public sealed class H5Group
{
    private readonly H5Context _ctx;

    internal H5Group(H5Context ctx, long address, string path)
    {
        _ctx = ctx;
        Address = address;
        Path = path;
    }

    public string Path { get; }

    /// <summary>Object header address (relative to the superblock): equal for hard links to the same object.</summary>
    internal long Address { get; }

    /// <summary>Names of the links in this group (hard, soft and external), sorted ordinally.</summary>
    public Either<Error, Seq<string>> ChildNames() =>
        H5Guard.Run(_ctx, Path, () =>
        {
            var names = H5Groups.Links(_ctx, Address).Keys.ToArray();
            System.Array.Sort(names, StringComparer.Ordinal);
            return names.ToSeq().Strict();
        });

    /// <summary>The group at <paramref name="relativePath"/> ("a/b/c"; a leading '/' starts at the root); None when missing or not a group.</summary>
    public Either<Error, Option<H5Group>> Group(string relativePath) =>
        H5Guard.Run(_ctx, H5Paths.Join(Path, relativePath ?? ""), () =>
        {
            var r = H5Paths.Resolve(_ctx, Address, Path, relativePath ?? "");
            if (r is not { } found || !H5ObjectHeader.Get(_ctx, found.Address).IsGroup) return Option<H5Group>.None;
            return Some(new H5Group(_ctx, found.Address, found.Path));
        });

    /// <summary>The dataset at <paramref name="relativePath"/>; None when missing or not a dataset.</summary>
    public Either<Error, Option<H5Dataset>> Dataset(string relativePath) =>
        H5Guard.Run(_ctx, H5Paths.Join(Path, relativePath ?? ""), () =>
        {
            var r = H5Paths.Resolve(_ctx, Address, Path, relativePath ?? "");
            if (r is not { } found || !H5ObjectHeader.Get(_ctx, found.Address).IsDataset) return Option<H5Dataset>.None;
            return Some(new H5Dataset(_ctx, found.Address, found.Path));
        });

    public Either<Error, Option<H5Attribute>> Attribute(string name) => H5Attributes.Find(_ctx, Address, Path, name);

    public Either<Error, Seq<string>> AttributeNames() => H5Attributes.Names(_ctx, Address, Path);
}

/// <summary>A dataset; values are returned flattened in row-major (C) order.</summary>
public sealed class H5Dataset
{
    private readonly H5Context _ctx;
    private H5DatasetInfo? _info;

    internal H5Dataset(H5Context ctx, long address, string path)
    {
        _ctx = ctx;
        Address = address;
        Path = path;
    }

    public string Path { get; }

    internal long Address { get; }

    public Either<Error, int[]> Shape() => H5Guard.Run(_ctx, Path, () => Info().Space.Shape(_ctx, Info().At));

    /// <summary>All values converted to float32 (any integer, enum, float16/32/64 type, either byte order).</summary>
    public Either<Error, float[]> ReadFloat32() =>
        H5Guard.Run(_ctx, Path, () =>
        {
            var (info, raw, count) = ReadRaw();
            return H5Values.ToFloats(_ctx, raw, count, info.Type, info.At);
        });

    /// <summary>All values converted to float64.</summary>
    public Either<Error, double[]> ReadFloat64() =>
        H5Guard.Run(_ctx, Path, () =>
        {
            var (info, raw, count) = ReadRaw();
            return H5Values.ToDoubles(_ctx, raw, count, info.Type, info.At);
        });

    /// <summary>All strings of a fixed- or variable-length string dataset, in row-major order.</summary>
    public Either<Error, Seq<string>> ReadStrings() =>
        H5Guard.Run(_ctx, Path, () =>
        {
            var info = Info();
            if (!info.Type.IsString) throw _ctx.Fail(info.At, $"dataset of {info.Type.Describe()} is not a string dataset");
            long count = info.Space.Count(_ctx, info.At);
            var raw = H5RawData.Read(_ctx, info);
            if (raw.LongLength != count * info.Type.Size) throw _ctx.Fail(info.At, "raw data size mismatch");
            return H5Values.ToStrings(_ctx, raw, count, info.Type, info.At).ToSeq().Strict();
        });

    public Either<Error, Option<H5Attribute>> Attribute(string name) => H5Attributes.Find(_ctx, Address, Path, name);

    public Either<Error, Seq<string>> AttributeNames() => H5Attributes.Names(_ctx, Address, Path);

    /// <summary>A short description of datatype and storage layout, for diagnostics and tests.</summary>
    internal Either<Error, string> Describe() =>
        H5Guard.Run(_ctx, Path, () =>
        {
            var info = Info();
            var filters = string.Join(",", info.Filters.Select(f => f.Id));
            return $"{info.Type.Describe()}; {info.Layout.Describe()}{(filters.Length > 0 ? $"; filters {filters}" : "")}";
        });

    private H5DatasetInfo Info() => _info ??= H5DatasetInfo.Load(_ctx, H5ObjectHeader.Get(_ctx, Address));

    private (H5DatasetInfo Info, byte[] Raw, long Count) ReadRaw()
    {
        var info = Info();
        if (!info.Type.IsNumeric) throw _ctx.Fail(info.At, $"dataset of {info.Type.Describe()} cannot be read as numbers");
        long count = info.Space.Count(_ctx, info.At);
        var raw = H5RawData.Read(_ctx, info);
        if (raw.LongLength != count * info.Type.Size) throw _ctx.Fail(info.At, "raw data size mismatch");
        return (info, raw, count);
    }
}

/// <summary>An attribute; its datatype, dataspace and bytes are decoded when it is looked up.</summary>
public sealed class H5Attribute
{
    private readonly H5Context _ctx;
    private readonly H5Attributes.Decoded _decoded;
    private readonly int[] _shape;
    private readonly string _path;

    internal H5Attribute(H5Context ctx, H5Attributes.Decoded decoded, int[] shape, string ownerPath)
    {
        _ctx = ctx;
        _decoded = decoded;
        _shape = shape;
        _path = ownerPath + "@" + decoded.Name;
    }

    public string Name => _decoded.Name;

    public int[] Shape => (int[])_shape.Clone();

    /// <summary>The datatype in words (e.g. "float32", "variable-length string"), for diagnostics and tests.</summary>
    internal string TypeDescription => _decoded.Type.Describe();

    /// <summary>A scalar or one-element string (fixed or variable length); also a 1-D array of 1-byte strings or 8-bit integers, joined.</summary>
    public Either<Error, string> ReadString() =>
        H5Guard.Run(_ctx, _path, () =>
        {
            var d = _decoded;
            long count = d.Space.Count(_ctx, d.At);
            if (d.Type.IsString)
            {
                var all = H5Values.ToStrings(_ctx, Raw(), count, d.Type, d.At);
                if (all.Length == 1) return all[0];
                if (d.Type.Class == H5TypeClass.String && d.Type.Size == 1 && d.Space.Rank <= 1) return string.Concat(all);
                throw _ctx.Fail(d.At, $"attribute holds {all.Length} strings, expected one");
            }
            if (d.Type.Class == H5TypeClass.FixedPoint && d.Type.Size == 1 && d.Space.Rank == 1)
            {
                var raw = Raw();
                int end = raw.Length;
                while (end > 0 && raw[end - 1] == 0) end--;
                return H5Decode.Utf8(raw.AsSpan(0, end));
            }
            throw _ctx.Fail(d.At, $"attribute of {d.Type.Describe()} is not a string");
        });

    /// <summary>All strings of a string attribute; an empty numeric array (Keras' empty <c>weight_names</c>) gives an empty Seq.</summary>
    public Either<Error, Seq<string>> ReadStrings() =>
        H5Guard.Run(_ctx, _path, () =>
        {
            var d = _decoded;
            long count = d.Space.Count(_ctx, d.At);
            if (d.Type.IsString) return H5Values.ToStrings(_ctx, Raw(), count, d.Type, d.At).ToSeq().Strict();
            if (count == 0) return LanguageExt.Seq<string>.Empty;
            throw _ctx.Fail(d.At, $"attribute of {d.Type.Describe()} is not a string array");
        });

    /// <summary>All values converted to float64.</summary>
    public Either<Error, double[]> ReadNumbers() =>
        H5Guard.Run(_ctx, _path, () =>
        {
            var d = _decoded;
            if (!d.Type.IsNumeric) throw _ctx.Fail(d.At, $"attribute of {d.Type.Describe()} cannot be read as numbers");
            return H5Values.ToDoubles(_ctx, Raw(), d.Space.Count(_ctx, d.At), d.Type, d.At);
        });

    private byte[] Raw()
    {
        var d = _decoded;
        long total = H5RawData.CheckedBytes(_ctx, d.Space.Count(_ctx, d.At), d.Type.Size, d.At);
        if (total > d.DataLength) throw _ctx.Fail(d.At, $"attribute data needs {total} bytes, message holds {d.DataLength}");
        return _ctx.Data.AsSpan((int)d.DataAbs, (int)total).ToArray();
    }
}

/// <summary>Runs a public operation: one lock, a fresh work budget, and every failure turned into <c>Errors.Hdf5</c>.</summary>
internal static class H5Guard
{
    public static Either<Error, T> Run<T>(H5Context ctx, string path, Func<T> body)
    {
        lock (ctx.Sync)
        {
            ctx.ResetBudget();
            try
            {
                return Right<Error, T>(body());
            }
            catch (H5FormatException e)
            {
                return Left<Error, T>(Errors.Hdf5(ctx.FileName, path, e.Offset, e.Message));
            }
            catch (Exception e)
            {
                // Defensive: a fault the checks above did not anticipate is still reported as a malformed file.
                return Left<Error, T>(Errors.Hdf5(ctx.FileName, path, ctx.LastOffset, $"malformed file ({e.GetType().Name}: {e.Message})"));
            }
        }
    }
}

internal static class H5Superblock
{
    private static readonly byte[] Signature = [0x89, (byte)'H', (byte)'D', (byte)'F', 0x0d, 0x0a, 0x1a, 0x0a];

    public static void Parse(H5Context ctx)
    {
        long at = -1;
        for (long p = 0; p <= ctx.Length - 8; p = p == 0 ? 512 : p * 2)
        {
            if (ctx.Data.AsSpan((int)p, 8).SequenceEqual(Signature))
            {
                at = p;
                break;
            }
        }
        if (at < 0) throw ctx.Fail(0, "no HDF5 signature found (not an HDF5 file)");
        ctx.Base = at;
        var c = new H5Cursor(ctx, at + 8, ctx.Length - at - 8);
        int version = c.U8("superblock version");
        ctx.SuperblockVersion = version;
        switch (version)
        {
            case 0:
            case 1:
            {
                c.U8(); // free-space storage version
                c.U8(); // root group symbol table entry version
                c.U8();
                c.U8(); // shared header message format version
                SetSizes(ctx, c.U8("size of offsets"), c.U8("size of lengths"), at + 13);
                c.U8();
                c.U16(); // group leaf node K
                c.U16(); // group internal node K
                c.U32(); // file consistency flags
                if (version == 1) c.Skip(4); // indexed storage internal node K + reserved
                c.UInt(ctx.OffsetSize, "base address");
                c.UInt(ctx.OffsetSize, "free-space info address");
                CheckEndOfFile(ctx, c);
                c.UInt(ctx.OffsetSize, "driver info address");
                var root = SymbolTableEntry.Read(c);
                ctx.RootAddress = root.ObjectAddress;
                break;
            }
            case 2:
            case 3:
            {
                SetSizes(ctx, c.U8("size of offsets"), c.U8("size of lengths"), at + 9);
                c.U8(); // file consistency flags
                c.UInt(ctx.OffsetSize, "base address");
                c.UInt(ctx.OffsetSize, "superblock extension address");
                CheckEndOfFile(ctx, c);
                ctx.RootAddress = c.Addr("root group object header address");
                Lookup3.Verify(ctx, at, c.Pos, "superblock");
                break;
            }
            default:
                throw ctx.Fail(at + 8, $"unsupported superblock version {version}");
        }
        if (ctx.RootAddress == H5Context.Undefined) throw ctx.Fail(at, "root group address is undefined");
    }

    /// <summary>
    /// Like the HDF5 library, rejects a file shorter than the end-of-file address the superblock records
    /// (h5py writes the physical size there, user block included).
    /// </summary>
    private static void CheckEndOfFile(H5Context ctx, H5Cursor c)
    {
        long at = c.Pos;
        ulong eof = c.UInt(ctx.OffsetSize, "end of file address");
        if (!ctx.IsUndefined(eof, ctx.OffsetSize) && eof > (ulong)ctx.Length)
            throw ctx.Fail(at, $"file is truncated: {ctx.Length} bytes, the superblock records {eof}");
    }

    private static void SetSizes(H5Context ctx, int offsets, int lengths, long at)
    {
        if (offsets is not (2 or 4 or 8) || lengths is not (2 or 4 or 8))
            throw ctx.Fail(at, $"unsupported size of offsets/lengths ({offsets}/{lengths})");
        ctx.OffsetSize = offsets;
        ctx.LengthSize = lengths;
    }
}

internal static class H5Paths
{
    public static string Join(string parent, string child)
    {
        if (child.StartsWith('/')) return "/" + child.Trim('/');
        child = child.Trim('/');
        if (child.Length == 0) return parent;
        return parent.EndsWith('/') ? parent + child : parent + "/" + child;
    }

    /// <summary>Follows <paramref name="relativePath"/> from a group; null when a segment is missing (or a dangling soft link).</summary>
    public static (long Address, string Path)? Resolve(H5Context ctx, long groupAddress, string groupPath, string relativePath)
    {
        int hops = 0;
        return Resolve(ctx, groupAddress, groupPath, relativePath, ref hops);
    }

    private static (long Address, string Path)? Resolve(H5Context ctx, long groupAddress, string groupPath, string relativePath, ref int hops)
    {
        if (relativePath is null) throw ctx.Fail(ctx.Base + groupAddress, "path is null");
        long current = groupAddress;
        string path = groupPath;
        if (relativePath.StartsWith('/'))
        {
            current = ctx.RootAddress;
            path = "/";
        }
        var segments = relativePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length > H5Limits.MaxPathSegments) throw ctx.Fail(ctx.Base + groupAddress, "path has too many segments");
        foreach (var segment in segments)
        {
            if (segment == ".") continue;
            if (!H5ObjectHeader.Get(ctx, current).IsGroup) return null;
            if (!H5Groups.Links(ctx, current).TryGetValue(segment, out var link)) return null;
            switch (link.Kind)
            {
                case H5LinkKind.Hard:
                    if (link.Address == H5Context.Undefined) throw ctx.Fail(ctx.Base + current, $"link '{segment}' has an undefined address");
                    current = link.Address;
                    break;
                case H5LinkKind.Soft:
                {
                    if (++hops > H5Limits.MaxSoftLinkHops)
                        throw ctx.Fail(ctx.Base + current, $"soft link '{segment}' -> '{link.Target}': too many soft link hops (a cycle?)");
                    var target = Resolve(ctx, current, path, link.Target, ref hops);
                    if (target is null) return null;
                    current = target.Value.Address;
                    break;
                }
                default:
                    throw ctx.Fail(ctx.Base + current, $"external link '{segment}' -> '{link.Target}' is not supported");
            }
            path = Join(path, segment);
        }
        return (current, path);
    }
}

/// <summary>Attribute messages (0x0C) v1-v3 in an object header.</summary>
internal static class H5Attributes
{
    internal sealed record Decoded(string Name, H5Dataspace Space, H5Datatype Type, long DataAbs, long DataLength, long At);

    public static Either<Error, Seq<string>> Names(H5Context ctx, long address, string path) =>
        H5Guard.Run(ctx, path, () =>
        {
            var names = new List<string>();
            foreach (var m in Messages(ctx, address)) names.Add(Name(ctx, m));
            names.Sort(StringComparer.Ordinal);
            return names.ToArray().ToSeq().Strict();
        });

    public static Either<Error, Option<H5Attribute>> Find(H5Context ctx, long address, string path, string name) =>
        H5Guard.Run(ctx, path + "@" + name, () =>
        {
            foreach (var m in Messages(ctx, address))
            {
                if (Name(ctx, m) != name) continue;
                var d = Decode(ctx, m);
                return Some(new H5Attribute(ctx, d, d.Space.Shape(ctx, d.At), path));
            }
            return Option<H5Attribute>.None;
        });

    private static List<H5Message> Messages(H5Context ctx, long address)
    {
        var header = H5ObjectHeader.Get(ctx, address);
        if (header.First(H5Message.AttributeInfo) is { } ai
            && H5Decode.DenseHeapAddress(ctx, ai, attributeInfo: true) != H5Context.Undefined)
            throw ctx.Fail(ai.Offset, "dense attribute storage (fractal heap) is not supported");
        var list = new List<H5Message>();
        foreach (var m in header.Messages)
        {
            if (m.Type != H5Message.Attribute) continue;
            if (m.IsShared) throw ctx.Fail(m.Offset, "shared attribute messages are not supported");
            list.Add(m);
        }
        return list;
    }

    private static string Name(H5Context ctx, H5Message m) => Header(ctx, m).Name;

    private static (string Name, int Flags, int Version, int DtSize, int DsSize, H5Cursor Cursor) Header(H5Context ctx, H5Message m)
    {
        var c = m.Body(ctx);
        long at = c.Pos;
        int version = c.U8("attribute version");
        if (version is < 1 or > 3) throw ctx.Fail(at, $"unsupported attribute message version {version}");
        int flags = c.U8("attribute flags");
        int nameSize = c.U16("attribute name size");
        int dtSize = c.U16("attribute datatype size");
        int dsSize = c.U16("attribute dataspace size");
        if (version == 3) c.U8("attribute name charset");
        var raw = c.Bytes(nameSize, "attribute name");
        int nul = raw.IndexOf((byte)0);
        string name = H5Decode.Utf8(nul >= 0 ? raw[..nul] : raw);
        if (version == 1) c.Skip(Pad8(nameSize), "attribute name padding");
        return (name, version == 1 ? 0 : flags, version, dtSize, dsSize, c);
    }

    private static int Pad8(int n) => (8 - n % 8) % 8;

    private static Decoded Decode(H5Context ctx, H5Message m)
    {
        var (name, flags, version, dtSize, dsSize, c) = Header(ctx, m);
        long at = m.Offset;
        var dt = c.Sub(dtSize, "attribute datatype");
        var type = (flags & 1) != 0 ? H5Decode.SharedDatatype(ctx, dt, 0) : H5Datatype.Decode(dt);
        if (version == 1) c.Skip(Pad8(dtSize), "attribute datatype padding");
        if ((flags & 2) != 0) throw ctx.Fail(at, "shared attribute dataspaces are not supported");
        var space = H5Dataspace.Decode(c.Sub(dsSize, "attribute dataspace"));
        if (version == 1) c.Skip(Math.Min(Pad8(dsSize), c.Remaining), "attribute dataspace padding");
        return new Decoded(name, space, type, c.Pos, c.Remaining, at);
    }
}
