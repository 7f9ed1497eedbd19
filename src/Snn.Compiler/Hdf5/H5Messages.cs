using System.Text;

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
    public long Count(H5Context ctx, long at)
    {
        if (IsNull) return 0;
        long n = 1;
        foreach (var d in Dims)
        {
            if (d == 0) return 0;
            if (n > long.MaxValue / d) throw ctx.Fail(at, "dataspace element count overflows");
            n *= d;
        }
        return n;
    }

    public int[] Shape(H5Context ctx, long at)
    {
        var shape = new int[Dims.Length];
        for (int i = 0; i < Dims.Length; i++)
        {
            if (Dims[i] > int.MaxValue) throw ctx.Fail(at, $"dimension {i} ({Dims[i]}) is too large");
            shape[i] = (int)Dims[i];
        }
        return shape;
    }

    public static H5Dataspace Decode(H5Cursor c)
    {
        var ctx = c.Context;
        long at = c.Pos;
        int version = c.U8("dataspace version");
        int rank = c.U8("dataspace rank");
        int flags = c.U8("dataspace flags");
        if (rank > H5Limits.MaxRank) throw ctx.Fail(at, $"dataspace rank {rank} exceeds {H5Limits.MaxRank}");
        bool isNull = false;
        if (version == 1)
        {
            c.Skip(5);
        }
        else if (version == 2)
        {
            int type = c.U8("dataspace type");
            if (type > 2) throw ctx.Fail(at, $"unknown dataspace type {type}");
            isNull = type == 2;
            if (type == 0 && rank != 0) throw ctx.Fail(at, "scalar dataspace with nonzero rank");
        }
        else
        {
            throw ctx.Fail(at, $"unsupported dataspace version {version}");
        }
        var dims = new long[rank];
        for (int i = 0; i < rank; i++) dims[i] = c.Len("dataspace dimension");
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

    public static H5Datatype Decode(H5Cursor c, int depth = 0)
    {
        var ctx = c.Context;
        long at = c.Pos;
        if (depth > H5Limits.MaxDatatypeDepth) throw ctx.Fail(at, "datatype nesting too deep");
        int b0 = c.U8("datatype class and version");
        int cls = b0 & 0x0F;
        int version = b0 >> 4;
        if (version is < 1 or > 5) throw ctx.Fail(at, $"unsupported datatype version {version}");
        int bf0 = c.U8(), bf1 = c.U8();
        c.U8();
        uint size = c.U32("datatype size");
        if (size > int.MaxValue / 2) throw ctx.Fail(at, $"datatype size {size} is implausibly large");
        int s = (int)size;
        switch ((H5TypeClass)cls)
        {
            case H5TypeClass.FixedPoint:
            case H5TypeClass.Bitfield:
            {
                int offset = c.U16("bit offset");
                int precision = c.U16("bit precision");
                return new H5Datatype
                {
                    Class = (H5TypeClass)cls, Size = s, BigEndian = (bf0 & 1) != 0,
                    Signed = cls == 0 && (bf0 & 8) != 0, BitOffset = offset, Precision = precision,
                };
            }
            case H5TypeClass.FloatingPoint:
            {
                int offset = c.U16("bit offset");
                int precision = c.U16("bit precision");
                int expLoc = c.U8(), expSize = c.U8(), mantLoc = c.U8(), mantSize = c.U8();
                uint bias = c.U32("exponent bias");
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
            {
                var baseType = Decode(c, depth + 1);
                // Member names and values follow; only the base type is needed to read values.
                return new H5Datatype { Class = H5TypeClass.Enum, Size = s, Base = baseType };
            }
            case H5TypeClass.VariableLength:
            {
                var baseType = Decode(c, depth + 1);
                return new H5Datatype
                {
                    Class = H5TypeClass.VariableLength, Size = s, IsVariableLengthString = (bf0 & 0x0F) == 1,
                    StringPadding = bf0 >> 4, CharacterSet = bf1 & 0x0F, Base = baseType,
                };
            }
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

    public static H5Layout Decode(H5Cursor c)
    {
        var ctx = c.Context;
        long at = c.Pos;
        int version = c.U8("layout version");
        if (version is 1 or 2)
        {
            int rank = c.U8("layout dimensionality");
            int cls = c.U8("layout class");
            c.Skip(5);
            if (rank > H5Limits.MaxRank + 1) throw ctx.Fail(at, $"layout dimensionality {rank} too large");
            long address = cls != Compact ? c.Addr("raw data address") : H5Context.Undefined;
            var dims = new long[rank];
            for (int i = 0; i < rank; i++) dims[i] = c.U32("layout dimension");
            if (cls == Compact)
            {
                uint size = c.U32("compact data size");
                if (size > c.Remaining) throw ctx.Fail(at, "compact data overruns the layout message");
                return new H5Layout { Version = version, Class = Compact, CompactOffset = c.Pos, CompactSize = (int)size };
            }
            if (cls == Contiguous) return new H5Layout { Version = version, Class = Contiguous, Address = address, Size = -1 };
            if (cls == Chunked) return new H5Layout { Version = version, Class = Chunked, Address = address, ChunkDims = dims, IndexType = 0 };
            throw ctx.Fail(at, $"unknown layout class {cls}");
        }
        if (version is 3 or 4 or 5)
        {
            int cls = c.U8("layout class");
            switch (cls)
            {
                case Compact:
                {
                    int size = c.U16("compact data size");
                    if (size > c.Remaining) throw ctx.Fail(at, "compact data overruns the layout message");
                    return new H5Layout { Version = version, Class = Compact, CompactOffset = c.Pos, CompactSize = size };
                }
                case Contiguous:
                {
                    long address = c.Addr("raw data address");
                    long size = c.Len("raw data size");
                    return new H5Layout { Version = version, Class = Contiguous, Address = address, Size = size };
                }
                case Chunked when version == 3:
                {
                    int rank = c.U8("chunk dimensionality");
                    if (rank < 1 || rank > H5Limits.MaxRank + 1) throw ctx.Fail(at, $"chunk dimensionality {rank} invalid");
                    long address = c.Addr("chunk B-tree address");
                    var dims = new long[rank];
                    for (int i = 0; i < rank; i++) dims[i] = c.U32("chunk dimension");
                    return new H5Layout { Version = 3, Class = Chunked, Address = address, ChunkDims = dims, IndexType = 0 };
                }
                case Chunked:
                {
                    int flags = c.U8("chunk layout flags");
                    int rank = c.U8("chunk dimensionality");
                    int enc = c.U8("chunk dimension width");
                    if (rank < 1 || rank > H5Limits.MaxRank + 1) throw ctx.Fail(at, $"chunk dimensionality {rank} invalid");
                    if (enc is < 1 or > 8) throw ctx.Fail(at, $"chunk dimension width {enc} invalid");
                    var dims = new long[rank];
                    for (int i = 0; i < rank; i++)
                    {
                        ulong d = c.UInt(enc, "chunk dimension");
                        if (d > int.MaxValue) throw ctx.Fail(at, $"chunk dimension {d} too large");
                        dims[i] = (long)d;
                    }
                    int index = c.U8("chunk index type");
                    long filteredSize = 0;
                    uint mask = 0;
                    switch (index)
                    {
                        case 1:
                            if ((flags & 2) != 0)
                            {
                                filteredSize = c.Len("filtered chunk size");
                                mask = c.U32("filter mask");
                            }
                            break;
                        case 2: break;
                        case 3: c.Skip(1, "fixed array page bits"); break;
                        case 4: c.Skip(5, "extensible array parameters"); break;
                        case 5: c.Skip(6, "v2 B-tree parameters"); break;
                        default: throw ctx.Fail(at, $"unknown chunk index type {index}");
                    }
                    long address = c.Addr("chunk index address");
                    return new H5Layout
                    {
                        Version = version, Class = Chunked, Flags = flags, ChunkDims = dims, IndexType = index,
                        Address = address, SingleChunkFilteredSize = filteredSize, SingleChunkFilterMask = mask,
                    };
                }
                case Virtual:
                    throw ctx.Fail(at, "virtual dataset layout is not supported");
                default:
                    throw ctx.Fail(at, $"unknown layout class {cls}");
            }
        }
        throw ctx.Fail(at, $"unsupported layout message version {version}");
    }
}

internal sealed record H5Filter(int Id, int Flags, uint[] ClientData, string Name)
{
    public const int Deflate = 1, Shuffle = 2, Fletcher32 = 3;

    /// <summary>Filter pipeline message (0x0B), versions 1 and 2.</summary>
    public static List<H5Filter> DecodePipeline(H5Cursor c)
    {
        var ctx = c.Context;
        long at = c.Pos;
        int version = c.U8("filter pipeline version");
        int count = c.U8("number of filters");
        if (count > H5Limits.MaxFilters) throw ctx.Fail(at, $"{count} filters exceed the limit of {H5Limits.MaxFilters}");
        if (version == 1) c.Skip(6);
        else if (version != 2) throw ctx.Fail(at, $"unsupported filter pipeline version {version}");
        var filters = new List<H5Filter>(count);
        for (int i = 0; i < count; i++)
        {
            int id = c.U16("filter id");
            int nameLength = version == 1 || id >= 256 ? c.U16("filter name length") : 0;
            int flags = c.U16("filter flags");
            int nvalues = c.U16("number of client data values");
            string name = "";
            if (nameLength > 0)
            {
                var raw = c.Bytes(nameLength, "filter name");
                int nul = raw.IndexOf((byte)0);
                name = Encoding.UTF8.GetString(nul >= 0 ? raw[..nul] : raw);
            }
            var values = new uint[nvalues];
            for (int v = 0; v < nvalues; v++) values[v] = c.U32("filter client data");
            if (version == 1 && nvalues % 2 == 1) c.Skip(4, "filter padding");
            filters.Add(new H5Filter(id, flags, values, name));
        }
        return filters;
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

    /// <summary>Fill value (0x05 v1-v3, or old 0x04): the fill bytes, or null when undefined/default (zeros).</summary>
    public static byte[]? FillValue(H5Context ctx, H5ObjectHeader header)
    {
        if (header.First(H5Message.FillValue) is { } m)
        {
            if (m.IsShared) return null;
            var c = m.Body(ctx);
            long at = c.Pos;
            int version = c.U8("fill value version");
            bool defined;
            switch (version)
            {
                case 1:
                    c.Skip(2);
                    c.U8();
                    defined = true;
                    break;
                case 2:
                    c.Skip(2);
                    defined = c.U8() != 0;
                    break;
                case 3:
                    defined = (c.U8() & 0x20) != 0;
                    break;
                default:
                    throw ctx.Fail(at, $"unsupported fill value message version {version}");
            }
            if (!defined) return null;
            uint size = c.U32("fill value size");
            if (size > c.Remaining) throw ctx.Fail(at, "fill value overruns its message");
            return size == 0 ? null : c.Bytes(size).ToArray();
        }
        if (header.First(H5Message.FillValueOld) is { } old && !old.IsShared)
        {
            var c = old.Body(ctx);
            uint size = c.U32("fill value size");
            if (size > c.Remaining) throw ctx.Fail(old.Offset, "fill value overruns its message");
            return size == 0 ? null : c.Bytes(size).ToArray();
        }
        return null;
    }

    /// <summary>
    /// The datatype of a header: decoded in place, or, for a shared (committed) datatype, from the
    /// object header the shared-message reference points at.
    /// </summary>
    public static H5Datatype Datatype(H5Context ctx, H5ObjectHeader header, long at)
    {
        var m = header.First(H5Message.Datatype) ?? throw ctx.Fail(at, "object has no datatype message");
        if (!m.IsShared) return H5Datatype.Decode(m.Body(ctx));
        return SharedDatatype(ctx, m.Body(ctx), 0);
    }

    public static H5Datatype SharedDatatype(H5Context ctx, H5Cursor c, int depth)
    {
        long at = c.Pos;
        if (depth > 4) throw ctx.Fail(at, "shared datatype chain too long");
        int version = c.U8("shared message version");
        int type = c.U8("shared message type");
        long address;
        switch (version)
        {
            case 1:
                c.Skip(6);
                c.Skip(ctx.LengthSize, "shared message heap address");
                address = c.Addr("shared message object address");
                break;
            case 2:
                address = c.Addr("shared message object address");
                break;
            case 3:
                if (type != 2) throw ctx.Fail(at, "shared messages in the shared-message heap are not supported");
                address = c.Addr("shared message object address");
                break;
            default:
                throw ctx.Fail(at, $"unsupported shared message version {version}");
        }
        var target = H5ObjectHeader.Get(ctx, address);
        var m = target.First(H5Message.Datatype) ?? throw ctx.Fail(at, "shared datatype target has no datatype message");
        return m.IsShared ? SharedDatatype(ctx, m.Body(ctx), depth + 1) : H5Datatype.Decode(m.Body(ctx));
    }

    public static H5Dataspace Dataspace(H5Context ctx, H5ObjectHeader header, long at)
    {
        var m = header.First(H5Message.Dataspace) ?? throw ctx.Fail(at, "object has no dataspace message");
        if (m.IsShared) throw ctx.Fail(m.Offset, "shared dataspace messages are not supported");
        return H5Dataspace.Decode(m.Body(ctx));
    }

    /// <summary>Link message (0x06).</summary>
    public static H5Link Link(H5Context ctx, H5Message m)
    {
        var c = m.Body(ctx);
        long at = c.Pos;
        int version = c.U8("link version");
        if (version != 1) throw ctx.Fail(at, $"unsupported link message version {version}");
        int flags = c.U8("link flags");
        int linkType = (flags & 0x08) != 0 ? c.U8("link type") : 0;
        if ((flags & 0x04) != 0) c.Skip(8, "link creation order");
        if ((flags & 0x10) != 0) c.U8("link name charset");
        long nameLength = (long)c.UInt(1 << (flags & 3), "link name length");
        if (nameLength < 1 || nameLength > c.Remaining) throw ctx.Fail(at, "link name length invalid");
        string name = Utf8(c.Bytes(nameLength, "link name"));
        switch (linkType)
        {
            case 0:
                return new H5Link(name, H5LinkKind.Hard, c.Addr("link target address"), "");
            case 1:
            {
                int len = c.U16("soft link length");
                return new H5Link(name, H5LinkKind.Soft, H5Context.Undefined, Utf8(c.Bytes(len, "soft link value")));
            }
            case 64:
            {
                int len = c.U16("external link length");
                var raw = c.Bytes(len, "external link value");
                string text = raw.Length > 1 ? Utf8(raw[1..]).Replace('\0', ':').TrimEnd(':') : "";
                return new H5Link(name, H5LinkKind.External, H5Context.Undefined, text);
            }
            default:
                return new H5Link(name, H5LinkKind.External, H5Context.Undefined, $"user-defined link type {linkType}");
        }
    }

    /// <summary>Link info (0x02) or attribute info (0x15): the fractal heap address of dense storage, or undefined.</summary>
    public static long DenseHeapAddress(H5Context ctx, H5Message m, bool attributeInfo)
    {
        var c = m.Body(ctx);
        long at = c.Pos;
        int version = c.U8("info message version");
        if (version != 0) throw ctx.Fail(at, $"unsupported {(attributeInfo ? "attribute" : "link")} info version {version}");
        int flags = c.U8("info flags");
        if ((flags & 1) != 0) c.Skip(attributeInfo ? 2 : 8, "maximum creation index");
        return c.Addr("fractal heap address");
    }
}
