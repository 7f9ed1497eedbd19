using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Hdf5;

/// <summary>One header message: its type, flags and where its body lies (absolute offset, size).</summary>
internal readonly record struct H5Message(int Type, byte Flags, long Offset, int Size)
{
    public const int Nil = 0x00;
    public const int Dataspace = 0x01;
    public const int LinkInfo = 0x02;
    public const int Datatype = 0x03;
    public const int FillValueOld = 0x04;
    public const int FillValue = 0x05;
    public const int Link = 0x06;
    public const int ExternalFiles = 0x07;
    public const int Layout = 0x08;
    public const int GroupInfo = 0x0A;
    public const int FilterPipeline = 0x0B;
    public const int Attribute = 0x0C;
    public const int Continuation = 0x10;
    public const int SymbolTable = 0x11;
    public const int AttributeInfo = 0x15;

    public bool IsShared => (Flags & 0x02) != 0;

    public Either<H5Fault, H5Cursor> Body(H5Context ctx) => H5Cursor.Over(ctx, Offset, Size);
}

/// <summary>A parsed object header (version 1 or 2) with the messages of all its continuation blocks.</summary>
internal sealed class H5ObjectHeader
{
    private static readonly System.Collections.Generic.HashSet<int> KnownTypes =
        [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18];

    private H5ObjectHeader(long address, int version, List<H5Message> messages)
    {
        Address = address;
        Version = version;
        Messages = messages;
    }

    public long Address { get; }
    public int Version { get; }
    public IReadOnlyList<H5Message> Messages { get; }

    public bool Has(int type) => Messages.Any(m => m.Type == type);

    public H5Message? First(int type)
    {
        foreach (var m in Messages)
            if (m.Type == type) return m;
        return null;
    }

    public bool IsGroup => Has(H5Message.SymbolTable) || Has(H5Message.LinkInfo) || Has(H5Message.Link) || Has(H5Message.GroupInfo);
    public bool IsDataset => Has(H5Message.Layout);

    /// <summary>The (cached) header at relative address <paramref name="address"/>.</summary>
    public static Either<H5Fault, H5ObjectHeader> Get(H5Context ctx, long address)
    {
        if (ctx.Headers.TryGetValue(address, out var cached)) return cached;
        return Parse(ctx, address).Map(header => ctx.Headers[address] = header);
    }

    private static Either<H5Fault, H5ObjectHeader> Parse(H5Context ctx, long address)
    {
        if (!ctx.Abs(address, 4, "object header").TryGet(out var abs, out var fault)) return fault;
        var d = ctx.Data;
        if (d[abs] == 'O' && d[abs + 1] == 'H' && d[abs + 2] == 'D' && d[abs + 3] == 'R')
            return ParseV2(ctx, address, abs);
        if (d[abs] == 1) return ParseV1(ctx, address, abs);
        return ctx.Fail(abs, $"unknown object header version {d[abs]}");
    }

    /// <summary>The blocks of a header still to parse, the continuation blocks already met, and the messages found.</summary>
    private sealed class Walk
    {
        public readonly List<H5Message> Messages = [];
        public readonly Queue<(long Abs, long Length)> Blocks = new();
        public readonly System.Collections.Generic.HashSet<long> Seen = [];
    }

    private static Either<H5Fault, H5ObjectHeader> ParseV1(H5Context ctx, long address, long abs)
    {
        var walk = new Walk();
        var prefix =
            from c in ctx.At(address, 16, "object header")
            from version in c.U8() // version 1
            from reserved in c.U8() // reserved
            from count in c.U16() // number of messages: not trusted, the blocks are parsed to their end
            from references in c.U32() // reference count
            from headerSize in c.U32("object header size")
            select (long)headerSize;
        if (!prefix.TryGet(out var size, out var fault)) return fault;
        walk.Blocks.Enqueue((abs + 16, size));
        walk.Seen.Add(abs + 16);
        while (walk.Blocks.Count > 0)
        {
            var (start, length) = walk.Blocks.Dequeue();
            if (!H5Cursor.Over(ctx, start, length).TryGet(out var b, out fault)) return fault;
            if (!ctx.Charge(length, start).TryGet(out _, out fault)) return fault;
            while (b.Remaining >= 8)
            {
                // Eight bytes are left: the message header's fields cannot fail.
                long at = b.Pos;
                if (!b.U16().TryGet(out var type, out fault) || !b.U16().TryGet(out var msize, out fault)
                    || !b.U8().TryGet(out var flags, out fault) || !b.Skip(3).TryGet(out _, out fault)
                    || !Message(ctx, b, type, msize, flags, at, walk, 0).TryGet(out _, out fault))
                    return fault;
            }
        }
        return new H5ObjectHeader(address, 1, walk.Messages);
    }

    private static Either<H5Fault, H5ObjectHeader> ParseV2(H5Context ctx, long address, long abs)
    {
        var walk = new Walk();
        walk.Seen.Add(abs);
        var chunk0 =
            from c in ctx.AtOpen(address, "object header")
            from signature in c.Expect("OHDR")
            from version in c.U8("object header version")
            from supported in version != 2 ? ctx.Fail(abs + 4, $"unsupported OHDR version {version}") : Right<H5Fault, Unit>(unit)
            from flags in c.U8()
            from times in (flags & 0x20) != 0 ? c.Skip(16, "object times") : unit
            from phases in (flags & 0x10) != 0 ? c.Skip(4, "attribute phase change values") : unit
            from size in c.UInt(1 << (flags & 3), "size of chunk #0")
            from fits in (long)size > c.Remaining - 4 ? ctx.Fail(c.Pos, "object header chunk #0 overruns the file") : Right<H5Fault, Unit>(unit)
            select (Start: c.Pos, Size: (long)size, CreationOrder: (flags & 0x04) != 0);
        if (!chunk0.TryGet(out var chunk, out var fault)) return fault;
        var first =
            from charged in ctx.Charge(chunk.Size, abs)
            from verified in Lookup3.Verify(ctx, abs, chunk.Start + chunk.Size, "object header")
            from b in H5Cursor.Over(ctx, chunk.Start, chunk.Size)
            from parsed in ParseV2Block(ctx, b, chunk.CreationOrder, walk)
            select parsed;
        if (!first.TryGet(out _, out fault)) return fault;
        while (walk.Blocks.Count > 0)
        {
            var (start, length) = walk.Blocks.Dequeue();
            if (length < 8) return ctx.Fail(start, "object header continuation block too small");
            var block =
                from b in H5Cursor.Over(ctx, start, length)
                from charged in ctx.Charge(length, start)
                from signature in b.Expect("OCHK")
                from verified in Lookup3.Verify(ctx, start, start + length - 4, "object header continuation block")
                from messages in H5Cursor.Over(ctx, start + 4, length - 8)
                from parsed in ParseV2Block(ctx, messages, chunk.CreationOrder, walk)
                select parsed;
            if (!block.TryGet(out _, out fault)) return fault;
        }
        return new H5ObjectHeader(address, 2, walk.Messages);
    }

    private static Either<H5Fault, Unit> ParseV2Block(H5Context ctx, H5Cursor b, bool creationOrder, Walk walk)
    {
        int headerSize = creationOrder ? 6 : 4;
        while (b.Remaining >= headerSize)
        {
            long at = b.Pos;
            if (!b.U8().TryGet(out var type, out var fault) || !b.U16().TryGet(out var msize, out fault)
                || !b.U8().TryGet(out var flags, out fault) || (creationOrder && !b.U16().TryGet(out _, out fault))
                || !Message(ctx, b, type, msize, flags, at, walk, 2).TryGet(out _, out fault))
                return fault;
        }
        return unit;
    }

    /// <summary>Records the message whose body starts at the cursor (a continuation is queued instead) and moves past it.</summary>
    private static Either<H5Fault, Unit> Message(H5Context ctx, H5Cursor b, int type, int msize, byte flags, long at, Walk walk, int version)
    {
        if (msize > b.Remaining) return ctx.Fail(at, $"header message of {msize} bytes overruns its block");
        var msg = new H5Message(type, flags, b.Pos, msize);
        // Bit 3: fail if unknown and the file is opened for writing; bit 7: fail if unknown, always.
        if ((msg.Flags & 0x80) != 0 && !KnownTypes.Contains(msg.Type))
            return ctx.Fail(at, $"unknown header message type 0x{msg.Type:x} is marked 'fail if unknown'");
        if (type == H5Message.Continuation)
        {
            if (!Enqueue(ctx, msg, walk, version).TryGet(out _, out var fault)) return fault;
        }
        else walk.Messages.Add(msg);
        return b.Skip(msize);
    }

    private static Either<H5Fault, Unit> Enqueue(H5Context ctx, H5Message msg, Walk walk, int version)
    {
        var target =
            from c in msg.Body(ctx)
            from offset in c.Addr("continuation address")
            from length in c.Len("continuation length")
            from abs in ctx.Abs(offset, length, "object header continuation block")
            select (Abs: abs, Length: length);
        if (!target.TryGet(out var block, out var fault)) return fault;
        if (!walk.Seen.Add(block.Abs)) return ctx.Fail(msg.Offset, "object header continuation blocks form a cycle");
        if (version != 0 || block.Length != 0) walk.Blocks.Enqueue(block);
        return unit;
    }
}
