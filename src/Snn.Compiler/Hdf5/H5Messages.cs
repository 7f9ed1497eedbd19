using System.Text;
using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Hdf5;

/// <summary>Dataspace message (0x01), versions 1 and 2: scalar, simple or null.</summary>
internal sealed class H5Dataspace
{
    public H5Dataspace(long[] dims, bool isNull)
    {
        Dims = dims;
        IsNull = isNull;
    }

    public long[] Dims { get; }
    public bool IsNull { get; }
    public int Rank => Dims.Length;

    /// <summary>Number of elements (0 for a null dataspace, 1 for a scalar); checked against overflow.</summary>
    public Either<H5Fault, long> Count(H5Context ctx, long at)
    {
        if (IsNull) return 0L;
        long n = 1;
        foreach (var d in Dims)
        {
            if (d == 0) return 0L;
            if (n > long.MaxValue / d) return ctx.Fail(at, "dataspace element count overflows");
            n *= d;
        }
        return n;
    }

    public Either<H5Fault, int[]> Shape(H5Context ctx, long at)
    {
        var shape = new int[Dims.Length];
        for (int i = 0; i < Dims.Length; i++)
        {
            if (Dims[i] > int.MaxValue) return ctx.Fail(at, $"dimension {i} ({Dims[i]}) is too large");
            shape[i] = (int)Dims[i];
        }
        return shape;
    }

    public static Either<H5Fault, H5Dataspace> Decode(H5Cursor c)
    {
        var ctx = c.Context;
        long at = c.Pos;
        if (!c.U8("dataspace version").TryGet(out var version, out var fault)
            || !c.U8("dataspace rank").TryGet(out var rank, out fault)
            || !c.U8("dataspace flags").TryGet(out _, out fault))
            return fault;
        if (rank > H5Limits.MaxRank) return ctx.Fail(at, $"dataspace rank {rank} exceeds {H5Limits.MaxRank}");
        bool isNull = false;
        if (version == 1)
        {
            if (!c.Skip(5).TryGet(out _, out fault)) return fault;
        }
        else if (version == 2)
        {
            if (!c.U8("dataspace type").TryGet(out var type, out fault)) return fault;
            if (type > 2) return ctx.Fail(at, $"unknown dataspace type {type}");
            isNull = type == 2;
            if (type == 0 && rank != 0) return ctx.Fail(at, "scalar dataspace with nonzero rank");
        }
        else
        {
            return ctx.Fail(at, $"unsupported dataspace version {version}");
        }
        var dims = new long[rank];
        for (int i = 0; i < rank; i++)
            if (!c.Len("dataspace dimension").TryGet(out dims[i], out fault)) return fault;
        // Maximum dimensions (flag bit 0) and permutation indices (bit 1) follow; not needed for reading.
        return new H5Dataspace(dims, isNull);
    }
}

internal enum H5TypeClass
{
    FixedPoint = 0,
    FloatingPoint = 1,
    Time = 2,
    String = 3,
    Bitfield = 4,
    Opaque = 5,
    Compound = 6,
    Reference = 7,
    Enum = 8,
    VariableLength = 9,
    Array = 10,
}

/// <summary>Datatype message (0x03): the classes this reader converts, with their properties.</summary>
internal sealed class H5Datatype
{
    public H5TypeClass Class { get; private init; }
    public int Size { get; private init; }
    public bool BigEndian { get; private init; }
    public bool Signed { get; private init; }
    public int BitOffset { get; private init; }
    public int Precision { get; private init; }
    public int ExponentLocation { get; private init; }
    public int ExponentSize { get; private init; }
    public int MantissaLocation { get; private init; }
    public int MantissaSize { get; private init; }
    public uint ExponentBias { get; private init; }
    public bool Vax { get; private init; }
    public int StringPadding { get; private init; }
    public int CharacterSet { get; private init; }
    public bool IsVariableLengthString { get; private init; }
    public H5Datatype? Base { get; private init; }

    public bool IsString => Class == H5TypeClass.String || IsVariableLengthString;

    public bool IsNumeric => Class is H5TypeClass.FixedPoint or H5TypeClass.FloatingPoint or H5TypeClass.Bitfield
        || (Class == H5TypeClass.Enum && Base is { IsNumeric: true });

    public string Describe() => Class switch
    {
        H5TypeClass.FixedPoint => $"{(Signed ? "int" : "uint")}{Size * 8}{(BigEndian ? " big-endian" : "")}",
        H5TypeClass.FloatingPoint => $"float{Size * 8}{(BigEndian ? " big-endian" : "")}",
        H5TypeClass.String => $"fixed-length string ({Size} bytes)",
        H5TypeClass.VariableLength => IsVariableLengthString ? "variable-length string" : "variable-length sequence",
        H5TypeClass.Enum => $"enum of {Base?.Describe()}",
        _ => $"datatype class {(int)Class} ({Class})",
    };

    public static Either<H5Fault, H5Datatype> Decode(H5Cursor c, int depth = 0)
    {
        var ctx = c.Context;
        long at = c.Pos;
        if (depth > H5Limits.MaxDatatypeDepth) return ctx.Fail(at, "datatype nesting too deep");
        if (!c.U8("datatype class and version").TryGet(out var b0, out var fault)) return fault;
        int cls = b0 & 0x0F;
        int version = b0 >> 4;
        if (version is < 1 or > 5) return ctx.Fail(at, $"unsupported datatype version {version}");
        if (!c.U8().TryGet(out var bf0, out fault) || !c.U8().TryGet(out var bf1, out fault) || !c.U8().TryGet(out _, out fault)
            || !c.U32("datatype size").TryGet(out var size, out fault))
            return fault;
        if (size > int.MaxValue / 2) return ctx.Fail(at, $"datatype size {size} is implausibly large");
        int s = (int)size;
        switch ((H5TypeClass)cls)
        {
            case H5TypeClass.FixedPoint:
            case H5TypeClass.Bitfield:
            {
                if (!c.U16("bit offset").TryGet(out var offset, out fault) || !c.U16("bit precision").TryGet(out var precision, out fault)) return fault;
                return new H5Datatype
                {
                    Class = (H5TypeClass)cls, Size = s, BigEndian = (bf0 & 1) != 0,
                    Signed = cls == 0 && (bf0 & 8) != 0, BitOffset = offset, Precision = precision,
                };
            }
            case H5TypeClass.FloatingPoint:
            {
                if (!c.U16("bit offset").TryGet(out var offset, out fault) || !c.U16("bit precision").TryGet(out var precision, out fault)
                    || !c.U8().TryGet(out var expLoc, out fault) || !c.U8().TryGet(out var expSize, out fault)
                    || !c.U8().TryGet(out var mantLoc, out fault) || !c.U8().TryGet(out var mantSize, out fault)
                    || !c.U32("exponent bias").TryGet(out var bias, out fault))
                    return fault;
                return new H5Datatype
                {
                    Class = H5TypeClass.FloatingPoint, Size = s, BigEndian = (bf0 & 1) != 0, Vax = (bf0 & 0x40) != 0,
                    BitOffset = offset, Precision = precision, ExponentLocation = expLoc, ExponentSize = expSize,
                    MantissaLocation = mantLoc, MantissaSize = mantSize, ExponentBias = bias,
                };
            }
            case H5TypeClass.String:
                return new H5Datatype { Class = H5TypeClass.String, Size = s, StringPadding = bf0 & 0x0F, CharacterSet = bf0 >> 4 };
            case H5TypeClass.Enum:
                // Member names and values follow; only the base type is needed to read values.
                return Decode(c, depth + 1).Map(baseType => new H5Datatype { Class = H5TypeClass.Enum, Size = s, Base = baseType });
            case H5TypeClass.VariableLength:
                return Decode(c, depth + 1).Map(baseType => new H5Datatype
                {
                    Class = H5TypeClass.VariableLength, Size = s, IsVariableLengthString = (bf0 & 0x0F) == 1,
                    StringPadding = bf0 >> 4, CharacterSet = bf1 & 0x0F, Base = baseType,
                });
            default:
                // Compound, array, reference, opaque, time: recognised but not convertible.
                return new H5Datatype { Class = (H5TypeClass)cls, Size = s };
        }
    }
}

/// <summary>Data layout message (0x08), versions 1 to 4.</summary>
internal sealed class H5Layout
{
    public const int Compact = 0, Contiguous = 1, Chunked = 2, Virtual = 3;

    public int Version { get; private init; }
    public int Class { get; private init; }
    public long Address { get; private init; } = H5Context.Undefined;
    public long Size { get; private init; }
    public long CompactOffset { get; private init; }
    public int CompactSize { get; private init; }

    /// <summary>Chunk dimensions including the trailing element-size dimension.</summary>
    public long[] ChunkDims { get; private init; } = [];

    /// <summary>0 = version-1 B-tree (layout v1-v3); 1 single chunk, 2 implicit, 3 fixed array, 4 extensible array, 5 v2 B-tree.</summary>
    public int IndexType { get; private init; }
    public int Flags { get; private init; }
    public long SingleChunkFilteredSize { get; private init; }
    public uint SingleChunkFilterMask { get; private init; }

    public string Describe() => Class switch
    {
        Compact => $"compact (layout v{Version})",
        Contiguous => $"contiguous (layout v{Version})",
        Chunked => $"chunked (layout v{Version}, {IndexName(IndexType)})",
        _ => $"layout class {Class}",
    };

    public static string IndexName(int t) => t switch
    {
        0 => "v1 B-tree index",
        1 => "single-chunk index",
        2 => "implicit index",
        3 => "fixed-array index",
        4 => "extensible-array index",
        5 => "v2 B-tree index",
        _ => $"chunk index type {t}",
    };

    public static Either<H5Fault, H5Layout> Decode(H5Cursor c)
    {
        var ctx = c.Context;
        long at = c.Pos;
        if (!c.U8("layout version").TryGet(out var version, out var fault)) return fault;
        if (version is 1 or 2) return DecodeV1(c, version, at);
        if (version is not (3 or 4 or 5)) return ctx.Fail(at, $"unsupported layout message version {version}");
        if (!c.U8("layout class").TryGet(out var cls, out fault)) return fault;
        switch (cls)
        {
            case Compact:
                return from size in c.U16("compact data size")
                       from fits in size > c.Remaining ? ctx.Fail(at, "compact data overruns the layout message") : Right<H5Fault, Unit>(unit)
                       select new H5Layout { Version = version, Class = Compact, CompactOffset = c.Pos, CompactSize = size };
            case Contiguous:
                return from address in c.Addr("raw data address")
                       from size in c.Len("raw data size")
                       select new H5Layout { Version = version, Class = Contiguous, Address = address, Size = size };
            case Chunked when version == 3:
            {
                var prefix =
                    from rank in c.U8("chunk dimensionality")
                    from valid in rank < 1 || rank > H5Limits.MaxRank + 1 ? ctx.Fail(at, $"chunk dimensionality {rank} invalid") : Right<H5Fault, Unit>(unit)
                    from address in c.Addr("chunk B-tree address")
                    select (Rank: (int)rank, Address: address);
                if (!prefix.TryGet(out var p, out fault)) return fault;
                var dims = new long[p.Rank];
                for (int i = 0; i < p.Rank; i++)
                {
                    if (!c.U32("chunk dimension").TryGet(out var d, out fault)) return fault;
                    dims[i] = d;
                }
                return new H5Layout { Version = 3, Class = Chunked, Address = p.Address, ChunkDims = dims, IndexType = 0 };
            }
            case Chunked:
                return DecodeChunkedV4(c, version, at);
            case Virtual:
                return ctx.Fail(at, "virtual dataset layout is not supported");
            default:
                return ctx.Fail(at, $"unknown layout class {cls}");
        }
    }

    /// <summary>Layout message versions 1 and 2 (after the version byte).</summary>
    private static Either<H5Fault, H5Layout> DecodeV1(H5Cursor c, int version, long at)
    {
        var ctx = c.Context;
        var prefix =
            from rank in c.U8("layout dimensionality")
            from cls in c.U8("layout class")
            from reserved in c.Skip(5)
            from valid in rank > H5Limits.MaxRank + 1 ? ctx.Fail(at, $"layout dimensionality {rank} too large") : Right<H5Fault, Unit>(unit)
            from address in cls != Compact ? c.Addr("raw data address") : H5Context.Undefined
            select (Rank: (int)rank, Class: (int)cls, Address: address);
        if (!prefix.TryGet(out var p, out var fault)) return fault;
        var dims = new long[p.Rank];
        for (int i = 0; i < p.Rank; i++)
        {
            if (!c.U32("layout dimension").TryGet(out var d, out fault)) return fault;
            dims[i] = d;
        }
        return p.Class switch
        {
            Compact => from size in c.U32("compact data size")
                       from fits in size > c.Remaining ? ctx.Fail(at, "compact data overruns the layout message") : Right<H5Fault, Unit>(unit)
                       select new H5Layout { Version = version, Class = Compact, CompactOffset = c.Pos, CompactSize = (int)size },
            Contiguous => new H5Layout { Version = version, Class = Contiguous, Address = p.Address, Size = -1 },
            Chunked => new H5Layout { Version = version, Class = Chunked, Address = p.Address, ChunkDims = dims, IndexType = 0 },
            _ => ctx.Fail(at, $"unknown layout class {p.Class}"),
        };
    }

    /// <summary>A chunked layout of message version 4 or 5 (after the class byte).</summary>
    private static Either<H5Fault, H5Layout> DecodeChunkedV4(H5Cursor c, int version, long at)
    {
        var ctx = c.Context;
        var prefix =
            from flags in c.U8("chunk layout flags")
            from rank in c.U8("chunk dimensionality")
            from enc in c.U8("chunk dimension width")
            from validRank in rank < 1 || rank > H5Limits.MaxRank + 1 ? ctx.Fail(at, $"chunk dimensionality {rank} invalid") : Right<H5Fault, Unit>(unit)
            from validWidth in enc is < 1 or > 8 ? ctx.Fail(at, $"chunk dimension width {enc} invalid") : Right<H5Fault, Unit>(unit)
            select (Flags: (int)flags, Rank: (int)rank, Width: (int)enc);
        if (!prefix.TryGet(out var p, out var fault)) return fault;
        var dims = new long[p.Rank];
        for (int i = 0; i < p.Rank; i++)
        {
            if (!c.UInt(p.Width, "chunk dimension").TryGet(out var d, out fault)) return fault;
            if (d > int.MaxValue) return ctx.Fail(at, $"chunk dimension {d} too large");
            dims[i] = (long)d;
        }
        if (!c.U8("chunk index type").TryGet(out var index, out fault)) return fault;
        Either<H5Fault, (long FilteredSize, uint Mask)> parameters = index switch
        {
            1 => (p.Flags & 2) != 0
                ? from size in c.Len("filtered chunk size")
                  from mask in c.U32("filter mask")
                  select (FilteredSize: size, Mask: mask)
                : (0L, 0u),
            2 => (0L, 0u),
            3 => c.Skip(1, "fixed array page bits").Map(_ => (0L, 0u)),
            4 => c.Skip(5, "extensible array parameters").Map(_ => (0L, 0u)),
            5 => c.Skip(6, "v2 B-tree parameters").Map(_ => (0L, 0u)),
            _ => Left<H5Fault, (long FilteredSize, uint Mask)>(ctx.Fail(at, $"unknown chunk index type {index}")),
        };
        return from single in parameters
               from address in c.Addr("chunk index address")
               select new H5Layout
               {
                   Version = version, Class = Chunked, Flags = p.Flags, ChunkDims = dims, IndexType = index,
                   Address = address, SingleChunkFilteredSize = single.FilteredSize, SingleChunkFilterMask = single.Mask,
               };
    }
}

internal sealed record H5Filter(int Id, int Flags, uint[] ClientData, string Name)
{
    public const int Deflate = 1, Shuffle = 2, Fletcher32 = 3;

    /// <summary>Filter pipeline message (0x0B), versions 1 and 2.</summary>
    public static Either<H5Fault, List<H5Filter>> DecodePipeline(H5Cursor c)
    {
        var ctx = c.Context;
        long at = c.Pos;
        var prefix =
            from version in c.U8("filter pipeline version")
            from count in c.U8("number of filters")
            from limited in count > H5Limits.MaxFilters ? ctx.Fail(at, $"{count} filters exceed the limit of {H5Limits.MaxFilters}") : Right<H5Fault, Unit>(unit)
            from reserved in version == 1 ? c.Skip(6)
                : version != 2 ? ctx.Fail(at, $"unsupported filter pipeline version {version}")
                : Right<H5Fault, Unit>(unit)
            select (Version: (int)version, Count: (int)count);
        if (!prefix.TryGet(out var p, out var fault)) return fault;
        var filters = new List<H5Filter>(p.Count);
        for (int i = 0; i < p.Count; i++)
        {
            if (!Filter(c, p.Version).TryGet(out var filter, out fault)) return fault;
            filters.Add(filter);
        }
        return filters;
    }

    private static Either<H5Fault, H5Filter> Filter(H5Cursor c, int version)
    {
        var header =
            from id in c.U16("filter id")
            from nameLength in version == 1 || id >= 256 ? c.U16("filter name length") : (ushort)0
            from flags in c.U16("filter flags")
            from nvalues in c.U16("number of client data values")
            from name in nameLength > 0
                ? c.Bytes(nameLength, "filter name").Map(raw =>
                {
                    var span = raw.Span;
                    int nul = span.IndexOf((byte)0);
                    return Encoding.UTF8.GetString(nul >= 0 ? span[..nul] : span);
                })
                : Right<H5Fault, string>("")
            select (Id: (int)id, Flags: (int)flags, Values: (int)nvalues, Name: name);
        if (!header.TryGet(out var h, out var fault)) return fault;
        var values = new uint[h.Values];
        for (int v = 0; v < h.Values; v++)
            if (!c.U32("filter client data").TryGet(out values[v], out fault)) return fault;
        if (version == 1 && h.Values % 2 == 1 && !c.Skip(4, "filter padding").TryGet(out _, out fault)) return fault;
        return new H5Filter(h.Id, h.Flags, values, h.Name);
    }
}

/// <summary>A link (from a symbol table entry or a link message).</summary>
internal enum H5LinkKind
{
    Hard,
    Soft,
    External,
}

internal sealed record H5Link(string Name, H5LinkKind Kind, long Address, string Target);

/// <summary>Decoders for the smaller messages.</summary>
internal static class H5Decode
{
    public static string Utf8(ReadOnlySpan<byte> raw) => Encoding.UTF8.GetString(raw);

    /// <summary>Fill value (0x05 v1-v3, or old 0x04): the fill bytes, or none (empty) when undefined/default (zeros).</summary>
    public static Either<H5Fault, byte[]> FillValue(H5Context ctx, H5ObjectHeader header)
    {
        if (header.First(H5Message.FillValue) is { } m)
        {
            if (m.IsShared) return Right<H5Fault, byte[]>([]);
            if (!m.Body(ctx).TryGet(out var c, out var fault)) return fault;
            long at = c.Pos;
            var defined =
                from version in c.U8("fill value version")
                from d in version switch
                {
                    1 => from reserved in c.Skip(2)
                         from time in c.U8()
                         select true,
                    2 => from reserved in c.Skip(2)
                         from flag in c.U8()
                         select flag != 0,
                    3 => c.U8().Map(flags => (flags & 0x20) != 0),
                    _ => Left<H5Fault, bool>(ctx.Fail(at, $"unsupported fill value message version {version}")),
                }
                select d;
            if (!defined.TryGet(out var isDefined, out fault)) return fault;
            if (!isDefined) return Right<H5Fault, byte[]>([]);
            return Bytes(ctx, c, at);
        }
        if (header.First(H5Message.FillValueOld) is { } old && !old.IsShared)
            return old.Body(ctx).Bind(c => Bytes(ctx, c, old.Offset));
        return Right<H5Fault, byte[]>([]);

        static Either<H5Fault, byte[]> Bytes(H5Context ctx, H5Cursor c, long at) =>
            from size in c.U32("fill value size")
            from fits in size > c.Remaining ? ctx.Fail(at, "fill value overruns its message") : Right<H5Fault, Unit>(unit)
            from bytes in size == 0 ? Right<H5Fault, byte[]>([]) : c.Bytes(size).Map(b => b.ToArray())
            select bytes;
    }

    /// <summary>
    /// The datatype of a header: decoded in place, or, for a shared (committed) datatype, from the
    /// object header the shared-message reference points at.
    /// </summary>
    public static Either<H5Fault, H5Datatype> Datatype(H5Context ctx, H5ObjectHeader header, long at)
    {
        if (header.First(H5Message.Datatype) is not { } m) return ctx.Fail(at, "object has no datatype message");
        if (!m.IsShared) return m.Body(ctx).Bind(c => H5Datatype.Decode(c));
        return m.Body(ctx).Bind(c => SharedDatatype(ctx, c, 0));
    }

    public static Either<H5Fault, H5Datatype> SharedDatatype(H5Context ctx, H5Cursor c, int depth)
    {
        long at = c.Pos;
        if (depth > 4) return ctx.Fail(at, "shared datatype chain too long");
        var target =
            from version in c.U8("shared message version")
            from type in c.U8("shared message type")
            from address in version switch
            {
                1 => from reserved in c.Skip(6)
                     from heap in c.Skip(ctx.LengthSize, "shared message heap address")
                     from address in c.Addr("shared message object address")
                     select address,
                2 => c.Addr("shared message object address"),
                3 => type != 2
                    ? ctx.Fail(at, "shared messages in the shared-message heap are not supported")
                    : c.Addr("shared message object address"),
                _ => ctx.Fail(at, $"unsupported shared message version {version}"),
            }
            from shared in H5ObjectHeader.Get(ctx, address)
            select shared;
        if (!target.TryGet(out var header, out var fault)) return fault;
        if (header.First(H5Message.Datatype) is not { } m) return ctx.Fail(at, "shared datatype target has no datatype message");
        return m.IsShared ? m.Body(ctx).Bind(b => SharedDatatype(ctx, b, depth + 1)) : m.Body(ctx).Bind(b => H5Datatype.Decode(b));
    }

    public static Either<H5Fault, H5Dataspace> Dataspace(H5Context ctx, H5ObjectHeader header, long at)
    {
        if (header.First(H5Message.Dataspace) is not { } m) return ctx.Fail(at, "object has no dataspace message");
        if (m.IsShared) return ctx.Fail(m.Offset, "shared dataspace messages are not supported");
        return m.Body(ctx).Bind(H5Dataspace.Decode);
    }

    /// <summary>Link message (0x06).</summary>
    public static Either<H5Fault, H5Link> Link(H5Context ctx, H5Message m)
    {
        if (!m.Body(ctx).TryGet(out var c, out var fault)) return fault;
        long at = c.Pos;
        if (!c.U8("link version").TryGet(out var version, out fault)) return fault;
        if (version != 1) return ctx.Fail(at, $"unsupported link message version {version}");
        byte linkType = 0;
        if (!c.U8("link flags").TryGet(out var flags, out fault)
            || ((flags & 0x08) != 0 && !c.U8("link type").TryGet(out linkType, out fault))
            || ((flags & 0x04) != 0 && !c.Skip(8, "link creation order").TryGet(out _, out fault))
            || ((flags & 0x10) != 0 && !c.U8("link name charset").TryGet(out _, out fault))
            || !c.UInt(1 << (flags & 3), "link name length").TryGet(out var rawLength, out fault))
            return fault;
        long nameLength = (long)rawLength;
        if (nameLength < 1 || nameLength > c.Remaining) return ctx.Fail(at, "link name length invalid");
        if (!c.Bytes(nameLength, "link name").TryGet(out var nameBytes, out fault)) return fault;
        var linkName = Utf8(nameBytes.Span);
        switch (linkType)
        {
            case 0:
                return c.Addr("link target address").Map(address => new H5Link(linkName, H5LinkKind.Hard, address, ""));
            case 1:
                return from len in c.U16("soft link length")
                       from value in c.Bytes(len, "soft link value")
                       select new H5Link(linkName, H5LinkKind.Soft, H5Context.Undefined, Utf8(value.Span));
            case 64:
                return from len in c.U16("external link length")
                       from raw in c.Bytes(len, "external link value")
                       let text = raw.Length > 1 ? Utf8(raw.Span[1..]).Replace('\0', ':').TrimEnd(':') : ""
                       select new H5Link(linkName, H5LinkKind.External, H5Context.Undefined, text);
            default:
                return new H5Link(linkName, H5LinkKind.External, H5Context.Undefined, $"user-defined link type {linkType}");
        }
    }

    /// <summary>Link info (0x02) or attribute info (0x15): the fractal heap address of dense storage, or undefined.</summary>
    public static Either<H5Fault, long> DenseHeapAddress(H5Context ctx, H5Message m, bool attributeInfo)
    {
        if (!m.Body(ctx).TryGet(out var c, out var fault)) return fault;
        long at = c.Pos;
        return from version in c.U8("info message version")
               from supported in version != 0
                   ? ctx.Fail(at, $"unsupported {(attributeInfo ? "attribute" : "link")} info version {version}")
                   : Right<H5Fault, Unit>(unit)
               from flags in c.U8("info flags")
               from index in (flags & 1) != 0 ? c.Skip(attributeInfo ? 2 : 8, "maximum creation index") : unit
               from address in c.Addr("fractal heap address")
               select address;
    }
}
