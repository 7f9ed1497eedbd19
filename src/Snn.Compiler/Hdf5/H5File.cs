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
    /// <paramref name="fileName"/> is only used in error messages. <paramref name="maxMemory"/>: the memory budget
    /// (<c>--max-memory</c>) the bytes and all the data read from them share; past it a read is refused.
    /// </summary>
    public static Either<Error, H5File> Open(byte[] bytes, string fileName, long maxMemory = long.MaxValue)
    {
        fileName ??= "";
        if (bytes is null) return Left<Error, H5File>(Errors.Hdf5(fileName, "/", 0, "no data"));
        var ctx = new H5Context(bytes, fileName, maxMemory);
        return H5Guard.Run(ctx, "/", () =>
            from superblock in H5Superblock.Parse(ctx)
            from root in H5ObjectHeader.Get(ctx, ctx.RootAddress)
            from file in root.IsGroup ? new H5File(ctx) : Left<H5Fault, H5File>(ctx.Fail(ctx.Base + ctx.RootAddress, "the root object is not a group"))
            select file);
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
        H5Guard.Run(_ctx, Path, () => H5Groups.Links(_ctx, Address).Map(links =>
        {
            var names = links.Keys.ToArray();
            System.Array.Sort(names, StringComparer.Ordinal);
            return names.ToSeq().Strict();
        }));

    /// <summary>The group at <paramref name="relativePath"/> ("a/b/c"; a leading '/' starts at the root); None when missing or not a group.</summary>
    public Either<Error, Option<H5Group>> Group(string relativePath) =>
        H5Guard.Run(_ctx, H5Paths.Join(Path, relativePath ?? ""), () =>
            Find(relativePath, header => header.IsGroup).Map(found => found.Map(f => new H5Group(_ctx, f.Address, f.Path))));

    /// <summary>The dataset at <paramref name="relativePath"/>; None when missing or not a dataset.</summary>
    public Either<Error, Option<H5Dataset>> Dataset(string relativePath) =>
        H5Guard.Run(_ctx, H5Paths.Join(Path, relativePath ?? ""), () =>
            Find(relativePath, header => header.IsDataset).Map(found => found.Map(f => new H5Dataset(_ctx, f.Address, f.Path))));

    /// <summary>The object at <paramref name="relativePath"/> when it exists and its header is of the kind asked for.</summary>
    private Either<H5Fault, Option<(long Address, string Path)>> Find(string? relativePath, Func<H5ObjectHeader, bool> kind) =>
        from resolved in H5Paths.Resolve(_ctx, Address, Path, relativePath ?? "")
        from found in resolved.Match(
            r => H5ObjectHeader.Get(_ctx, r.Address).Map(header => kind(header) ? Some(r) : None),
            () => Right<H5Fault, Option<(long Address, string Path)>>(None))
        select found;

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

    public Either<Error, int[]> Shape() => H5Guard.Run(_ctx, Path, () => Info().Bind(info => info.Space.Shape(_ctx, info.At)));

    /// <summary>All values converted to float32 (any integer, enum, float16/32/64 type, either byte order).</summary>
    public Either<Error, float[]> ReadFloat32() =>
        H5Guard.Run(_ctx, Path, () => ReadRaw().Bind(r => H5Values.ToFloats(_ctx, r.Raw, r.Count, r.Info.Type, r.Info.At)));

    /// <summary>All values converted to float64.</summary>
    public Either<Error, double[]> ReadFloat64() =>
        H5Guard.Run(_ctx, Path, () => ReadRaw().Bind(r => H5Values.ToDoubles(_ctx, r.Raw, r.Count, r.Info.Type, r.Info.At)));

    /// <summary>All strings of a fixed- or variable-length string dataset, in row-major order.</summary>
    public Either<Error, Seq<string>> ReadStrings() =>
        H5Guard.Run(_ctx, Path, () =>
            from info in Info()
            from text in info.Type.IsString ? Right<H5Fault, Unit>(unit) : _ctx.Fail(info.At, $"dataset of {info.Type.Describe()} is not a string dataset")
            from r in Raw(info)
            from strings in H5Values.ToStrings(_ctx, r.Raw, r.Count, info.Type, info.At)
            select strings.ToSeq().Strict());

    public Either<Error, Option<H5Attribute>> Attribute(string name) => H5Attributes.Find(_ctx, Address, Path, name);

    public Either<Error, Seq<string>> AttributeNames() => H5Attributes.Names(_ctx, Address, Path);

    /// <summary>
    /// Where this dataset's values lie in the file's bytes, for rewriting them in place with values of the same type and
    /// shape: the absolute offset and length of its contiguous or compact storage. Right(Left(why)) when the values are
    /// not little-endian IEEE float32 stored unfiltered in one piece (chunked, compressed, other types, never written);
    /// Left for a damaged file.
    /// </summary>
    internal Either<Error, Either<string, (long Offset, long Length)>> Float32Storage() =>
        H5Guard.Run(_ctx, Path, () =>
            from info in Info()
            from count in info.Space.Count(_ctx, info.At)
            from place in Place(info, count * 4)
            select place);

    private Either<H5Fault, Either<string, (long Offset, long Length)>> Place(H5DatasetInfo info, long length)
    {
        static Either<H5Fault, Either<string, (long, long)>> No(string why) => Left<string, (long, long)>(why);
        var t = info.Type;
        if (t is not { Class: H5TypeClass.FloatingPoint, Size: 4, BigEndian: false, Vax: false, BitOffset: 0, Precision: 32, ExponentSize: 8, MantissaSize: 23 })
            return No($"its values are stored as {t.Describe()}, not float32");
        if (info.Filters.Count > 0) return No("its values are stored compressed or filtered");
        var layout = info.Layout;
        switch (layout.Class)
        {
            case H5Layout.Contiguous when layout.Address == H5Context.Undefined:
                return No("its values were never written (no storage allocated)");
            case H5Layout.Contiguous:
                return _ctx.Abs(layout.Address, length, "contiguous raw data").Map(abs => Right<string, (long, long)>((abs, length)));
            case H5Layout.Compact when length <= layout.CompactSize:
                return Right<string, (long, long)>((layout.CompactOffset, length));
            case H5Layout.Compact:
                return _ctx.Fail(layout.CompactOffset, $"compact data holds {layout.CompactSize} bytes, dataset needs {length}");
            default:
                return No($"its values are stored in {layout.Describe()} storage, which is rewritten only as a whole");
        }
    }

    /// <summary>A short description of datatype and storage layout, for diagnostics and tests.</summary>
    internal Either<Error, string> Describe() =>
        H5Guard.Run(_ctx, Path, () => Info().Map(info =>
        {
            var filters = string.Join(",", info.Filters.Select(f => f.Id));
            return $"{info.Type.Describe()}; {info.Layout.Describe()}{(filters.Length > 0 ? $"; filters {filters}" : "")}";
        }));

    private Either<H5Fault, H5DatasetInfo> Info() =>
        _info is { } cached ? cached
        : H5ObjectHeader.Get(_ctx, Address).Bind(header => H5DatasetInfo.Load(_ctx, header)).Map(info => _info = info);

    private Either<H5Fault, (H5DatasetInfo Info, byte[] Raw, long Count)> ReadRaw() =>
        from info in Info()
        from numeric in info.Type.IsNumeric ? Right<H5Fault, Unit>(unit) : _ctx.Fail(info.At, $"dataset of {info.Type.Describe()} cannot be read as numbers")
        from r in Raw(info)
        select (info, r.Raw, r.Count);

    /// <summary>The raw bytes of all elements, and their number.</summary>
    private Either<H5Fault, (byte[] Raw, long Count)> Raw(H5DatasetInfo info) =>
        from count in info.Space.Count(_ctx, info.At)
        from raw in H5RawData.Read(_ctx, info)
        from size in raw.LongLength != count * info.Type.Size ? _ctx.Fail(info.At, "raw data size mismatch") : Right<H5Fault, Unit>(unit)
        select (raw, count);
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
        H5Guard.Run<string>(_ctx, _path, () =>
        {
            var d = _decoded;
            if (!d.Space.Count(_ctx, d.At).TryGet(out var count, out var fault)) return fault;
            if (d.Type.IsString)
            {
                if (!Raw().Bind(raw => H5Values.ToStrings(_ctx, raw, count, d.Type, d.At)).TryGet(out var all, out fault)) return fault;
                if (all.Length == 1) return all[0];
                if (d.Type.Class == H5TypeClass.String && d.Type.Size == 1 && d.Space.Rank <= 1) return string.Concat(all);
                return _ctx.Fail(d.At, $"attribute holds {all.Length} strings, expected one");
            }
            if (d.Type.Class == H5TypeClass.FixedPoint && d.Type.Size == 1 && d.Space.Rank == 1)
                return Raw().Map(raw =>
                {
                    int end = raw.Length;
                    while (end > 0 && raw[end - 1] == 0) end--;
                    return H5Decode.Utf8(raw.AsSpan(0, end));
                });
            return _ctx.Fail(d.At, $"attribute of {d.Type.Describe()} is not a string");
        });

    /// <summary>All strings of a string attribute; an empty numeric array (Keras' empty <c>weight_names</c>) gives an empty Seq.</summary>
    public Either<Error, Seq<string>> ReadStrings() =>
        H5Guard.Run<Seq<string>>(_ctx, _path, () =>
        {
            var d = _decoded;
            if (!d.Space.Count(_ctx, d.At).TryGet(out var count, out var fault)) return fault;
            if (d.Type.IsString) return Raw().Bind(raw => H5Values.ToStrings(_ctx, raw, count, d.Type, d.At)).Map(all => all.ToSeq().Strict());
            if (count == 0) return LanguageExt.Seq<string>.Empty;
            return _ctx.Fail(d.At, $"attribute of {d.Type.Describe()} is not a string array");
        });

    /// <summary>All values converted to float64.</summary>
    public Either<Error, double[]> ReadNumbers() =>
        H5Guard.Run<double[]>(_ctx, _path, () =>
        {
            var d = _decoded;
            if (!d.Type.IsNumeric) return _ctx.Fail(d.At, $"attribute of {d.Type.Describe()} cannot be read as numbers");
            return from raw in Raw()
                   from count in d.Space.Count(_ctx, d.At)
                   from numbers in H5Values.ToDoubles(_ctx, raw, count, d.Type, d.At)
                   select numbers;
        });

    private Either<H5Fault, byte[]> Raw()
    {
        var d = _decoded;
        if (!d.Space.Count(_ctx, d.At).Bind(count => H5RawData.CheckedBytes(_ctx, count, d.Type.Size, d.At)).TryGet(out var total, out var fault))
            return fault;
        if (total > d.DataLength) return _ctx.Fail(d.At, $"attribute data needs {total} bytes, message holds {d.DataLength}");
        return _ctx.Data.AsSpan((int)d.DataAbs, (int)total).ToArray();
    }
}

/// <summary>Runs a public operation: one lock, a fresh work budget, and every fault turned into <c>Errors.Hdf5</c>.</summary>
internal static class H5Guard
{
    public static Either<Error, T> Run<T>(H5Context ctx, string path, Func<Either<H5Fault, T>> body)
    {
        lock (ctx.Sync)
        {
            ctx.ResetBudget();
            try
            {
                return body().MapLeft(fault => Errors.Hdf5(ctx.FileName, path, fault.Offset, fault.Message));
            }
            catch (Exception e)
            {
                // Boundary, defensive: what the runtime throws where a check is missing (IndexOutOfRangeException,
                // ArgumentOutOfRangeException from a span, OverflowException from the checked chunk-grid arithmetic) is
                // still reported as a malformed file, at the last structure a cursor was opened on.
                return Left<Error, T>(Errors.Hdf5(ctx.FileName, path, ctx.LastOffset, $"malformed file ({e.GetType().Name}: {e.Message})"));
            }
        }
    }
}

internal static class H5Superblock
{
    private static readonly byte[] Signature = [0x89, (byte)'H', (byte)'D', (byte)'F', 0x0d, 0x0a, 0x1a, 0x0a];

    public static Either<H5Fault, Unit> Parse(H5Context ctx)
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
        if (at < 0) return ctx.Fail(0, "no HDF5 signature found (not an HDF5 file)");
        ctx.Base = at;
        if (!H5Cursor.Over(ctx, at + 8, ctx.Length - at - 8).TryGet(out var c, out var fault)) return fault;
        if (!c.U8("superblock version").TryGet(out var version, out fault)) return fault;
        ctx.SuperblockVersion = version;
        var parsed = version switch
        {
            0 or 1 => ParseV0(ctx, c, at, version),
            2 or 3 => ParseV2(ctx, c, at),
            _ => ctx.Fail(at + 8, $"unsupported superblock version {version}"),
        };
        if (!parsed.TryGet(out var root, out fault)) return fault;
        ctx.RootAddress = root;
        if (ctx.RootAddress == H5Context.Undefined) return ctx.Fail(at, "root group address is undefined");
        return unit;
    }

    /// <summary>Superblock versions 0 and 1 after the version byte; the root group's object header address.</summary>
    private static Either<H5Fault, long> ParseV0(H5Context ctx, H5Cursor c, long at, int version) =>
        from freeSpace in c.U8() // free-space storage version
        from rootEntry in c.U8() // root group symbol table entry version
        from reserved in c.U8()
        from sharedHeader in c.U8() // shared header message format version
        from offsets in c.U8("size of offsets")
        from lengths in c.U8("size of lengths")
        from sizes in SetSizes(ctx, offsets, lengths, at + 13)
        from reserved2 in c.U8()
        from leafK in c.U16() // group leaf node K
        from internalK in c.U16() // group internal node K
        from consistency in c.U32() // file consistency flags
        from indexedK in version == 1 ? c.Skip(4) : unit // indexed storage internal node K + reserved
        from baseAddress in c.UInt(ctx.OffsetSize, "base address")
        from freeSpaceAddress in c.UInt(ctx.OffsetSize, "free-space info address")
        from eof in CheckEndOfFile(ctx, c)
        from driver in c.UInt(ctx.OffsetSize, "driver info address")
        from root in SymbolTableEntry.Read(c)
        select root.ObjectAddress;

    /// <summary>Superblock versions 2 and 3 after the version byte; the root group's object header address.</summary>
    private static Either<H5Fault, long> ParseV2(H5Context ctx, H5Cursor c, long at) =>
        from offsets in c.U8("size of offsets")
        from lengths in c.U8("size of lengths")
        from sizes in SetSizes(ctx, offsets, lengths, at + 9)
        from consistency in c.U8() // file consistency flags
        from baseAddress in c.UInt(ctx.OffsetSize, "base address")
        from extension in c.UInt(ctx.OffsetSize, "superblock extension address")
        from eof in CheckEndOfFile(ctx, c)
        from root in c.Addr("root group object header address")
        from verified in Lookup3.Verify(ctx, at, c.Pos, "superblock")
        select root;

    /// <summary>
    /// Like the HDF5 library, rejects a file shorter than the end-of-file address the superblock records
    /// (h5py writes the physical size there, user block included).
    /// </summary>
    private static Either<H5Fault, Unit> CheckEndOfFile(H5Context ctx, H5Cursor c)
    {
        long at = c.Pos;
        if (!c.UInt(ctx.OffsetSize, "end of file address").TryGet(out var eof, out var fault)) return fault;
        if (!ctx.IsUndefined(eof, ctx.OffsetSize) && eof > (ulong)ctx.Length)
            return ctx.Fail(at, $"file is truncated: {ctx.Length} bytes, the superblock records {eof}");
        return unit;
    }

    private static Either<H5Fault, Unit> SetSizes(H5Context ctx, int offsets, int lengths, long at)
    {
        if (offsets is not (2 or 4 or 8) || lengths is not (2 or 4 or 8))
            return ctx.Fail(at, $"unsupported size of offsets/lengths ({offsets}/{lengths})");
        ctx.OffsetSize = offsets;
        ctx.LengthSize = lengths;
        return unit;
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

    /// <summary>Follows <paramref name="relativePath"/> from a group; None when a segment is missing (or a dangling soft link).</summary>
    public static Either<H5Fault, Option<(long Address, string Path)>> Resolve(H5Context ctx, long groupAddress, string groupPath, string relativePath)
    {
        int hops = 0;
        return Resolve(ctx, groupAddress, groupPath, relativePath, ref hops);
    }

    private static Either<H5Fault, Option<(long Address, string Path)>> Resolve(H5Context ctx, long groupAddress, string groupPath, string relativePath,
        ref int hops)
    {
        var missing = Right<H5Fault, Option<(long Address, string Path)>>(None);
        if (relativePath is null) return ctx.Fail(ctx.Base + groupAddress, "path is null");
        long current = groupAddress;
        string path = groupPath;
        if (relativePath.StartsWith('/'))
        {
            current = ctx.RootAddress;
            path = "/";
        }
        var segments = relativePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (segments.Length > H5Limits.MaxPathSegments) return ctx.Fail(ctx.Base + groupAddress, "path has too many segments");
        foreach (var segment in segments)
        {
            if (segment == ".") continue;
            if (!H5ObjectHeader.Get(ctx, current).TryGet(out var header, out var fault)) return fault;
            if (!header.IsGroup) return missing;
            if (!H5Groups.Links(ctx, current).TryGet(out var links, out fault)) return fault;
            if (!links.TryGetValue(segment, out var link)) return missing;
            switch (link.Kind)
            {
                case H5LinkKind.Hard:
                    if (link.Address == H5Context.Undefined) return ctx.Fail(ctx.Base + current, $"link '{segment}' has an undefined address");
                    current = link.Address;
                    break;
                case H5LinkKind.Soft:
                {
                    if (++hops > H5Limits.MaxSoftLinkHops)
                        return ctx.Fail(ctx.Base + current, $"soft link '{segment}' -> '{link.Target}': too many soft link hops (a cycle?)");
                    if (!Resolve(ctx, current, path, link.Target, ref hops).TryGet(out var target, out fault)) return fault;
                    if (!target.TryGet(out var found)) return missing;
                    current = found.Address;
                    break;
                }
                default:
                    return ctx.Fail(ctx.Base + current, $"external link '{segment}' -> '{link.Target}' is not supported");
            }
            path = Join(path, segment);
        }
        return Some((current, path));
    }
}

/// <summary>Attribute messages (0x0C) v1-v3 in an object header.</summary>
internal static class H5Attributes
{
    internal sealed record Decoded(string Name, H5Dataspace Space, H5Datatype Type, long DataAbs, long DataLength, long At);

    public static Either<Error, Seq<string>> Names(H5Context ctx, long address, string path) =>
        H5Guard.Run<Seq<string>>(ctx, path, () =>
        {
            if (!Messages(ctx, address).TryGet(out var messages, out var fault)) return fault;
            var names = new List<string>();
            foreach (var m in messages)
            {
                if (!Header(ctx, m).TryGet(out var h, out fault)) return fault;
                names.Add(h.Name);
            }
            names.Sort(StringComparer.Ordinal);
            return names.ToArray().ToSeq().Strict();
        });

    public static Either<Error, Option<H5Attribute>> Find(H5Context ctx, long address, string path, string name) =>
        H5Guard.Run<Option<H5Attribute>>(ctx, path + "@" + name, () =>
        {
            if (!Messages(ctx, address).TryGet(out var messages, out var fault)) return fault;
            foreach (var m in messages)
            {
                if (!Header(ctx, m).TryGet(out var h, out fault)) return fault;
                if (h.Name != name) continue;
                return from d in Decode(ctx, m)
                       from shape in d.Space.Shape(ctx, d.At)
                       select Some(new H5Attribute(ctx, d, shape, path));
            }
            return Option<H5Attribute>.None;
        });

    private static Either<H5Fault, List<H5Message>> Messages(H5Context ctx, long address)
    {
        if (!H5ObjectHeader.Get(ctx, address).TryGet(out var header, out var fault)) return fault;
        if (header.First(H5Message.AttributeInfo) is { } ai)
        {
            if (!H5Decode.DenseHeapAddress(ctx, ai, attributeInfo: true).TryGet(out var dense, out fault)) return fault;
            if (dense != H5Context.Undefined) return ctx.Fail(ai.Offset, "dense attribute storage (fractal heap) is not supported");
        }
        var list = new List<H5Message>();
        foreach (var m in header.Messages)
        {
            if (m.Type != H5Message.Attribute) continue;
            if (m.IsShared) return ctx.Fail(m.Offset, "shared attribute messages are not supported");
            list.Add(m);
        }
        return list;
    }

    private static Either<H5Fault, (string Name, int Flags, int Version, int DtSize, int DsSize, H5Cursor Cursor)> Header(H5Context ctx, H5Message m)
    {
        if (!m.Body(ctx).TryGet(out var c, out var fault)) return fault;
        long at = c.Pos;
        if (!c.U8("attribute version").TryGet(out var version, out fault)) return fault;
        if (version is < 1 or > 3) return ctx.Fail(at, $"unsupported attribute message version {version}");
        if (!c.U8("attribute flags").TryGet(out var flags, out fault)
            || !c.U16("attribute name size").TryGet(out var nameSize, out fault)
            || !c.U16("attribute datatype size").TryGet(out var dtSize, out fault)
            || !c.U16("attribute dataspace size").TryGet(out var dsSize, out fault)
            || (version == 3 && !c.U8("attribute name charset").TryGet(out _, out fault))
            || !c.Bytes(nameSize, "attribute name").TryGet(out var raw, out fault)
            || (version == 1 && !c.Skip(Pad8(nameSize), "attribute name padding").TryGet(out _, out fault)))
            return fault;
        return (NulTerminated(raw.Span), version == 1 ? 0 : flags, version, dtSize, dsSize, c);
    }

    private static string NulTerminated(ReadOnlySpan<byte> raw)
    {
        int nul = raw.IndexOf((byte)0);
        return H5Decode.Utf8(nul >= 0 ? raw[..nul] : raw);
    }

    private static int Pad8(int n) => (8 - n % 8) % 8;

    private static Either<H5Fault, Decoded> Decode(H5Context ctx, H5Message m)
    {
        if (!Header(ctx, m).TryGet(out var h, out var fault)) return fault;
        var (name, flags, version, dtSize, dsSize, c) = h;
        long at = m.Offset;
        return from dt in c.Sub(dtSize, "attribute datatype")
               from type in (flags & 1) != 0 ? H5Decode.SharedDatatype(ctx, dt, 0) : H5Datatype.Decode(dt)
               from typePadding in version == 1 ? c.Skip(Pad8(dtSize), "attribute datatype padding") : unit
               from unshared in (flags & 2) != 0 ? ctx.Fail(at, "shared attribute dataspaces are not supported") : Right<H5Fault, Unit>(unit)
               from ds in c.Sub(dsSize, "attribute dataspace")
               from space in H5Dataspace.Decode(ds)
               from spacePadding in version == 1 ? c.Skip(Math.Min(Pad8(dsSize), c.Remaining), "attribute dataspace padding") : unit
               select new Decoded(name, space, type, c.Pos, c.Remaining, at);
    }
}
