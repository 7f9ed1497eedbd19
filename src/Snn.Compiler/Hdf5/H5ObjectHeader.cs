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

    public H5Cursor Body(H5Context ctx) => new(ctx, Offset, Size);
}

/// <summary>A parsed object header (version 1 or 2) with the messages of all its continuation blocks.</summary>
internal sealed class H5ObjectHeader
{
    private static readonly HashSet<int> KnownTypes =
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
    public static H5ObjectHeader Get(H5Context ctx, long address)
    {
        if (ctx.Headers.TryGetValue(address, out var cached)) return cached;
        var header = Parse(ctx, address);
        ctx.Headers[address] = header;
        return header;
    }

    private static H5ObjectHeader Parse(H5Context ctx, long address)
    {
        long abs = ctx.Abs(address, 4, "object header");
        var d = ctx.Data;
        if (d[abs] == 'O' && d[abs + 1] == 'H' && d[abs + 2] == 'D' && d[abs + 3] == 'R')
            return ParseV2(ctx, address, abs);
        if (d[abs] == 1) return ParseV1(ctx, address, abs);
        throw ctx.Fail(abs, $"unknown object header version {d[abs]}");
    }

    private static H5ObjectHeader ParseV1(H5Context ctx, long address, long abs)
    {
        var c = ctx.At(address, 16, "object header");
        c.U8(); // version 1
        c.U8(); // reserved
        c.U16(); // number of messages: not trusted, the blocks are parsed to their end
        c.U32(); // reference count
        long size = c.U32("object header size");
        var messages = new List<H5Message>();
        var blocks = new Queue<(long Abs, long Length)>();
        var seen = new HashSet<long>();
        blocks.Enqueue((abs + 16, size));
        seen.Add(abs + 16);
        while (blocks.Count > 0)
        {
            var (start, length) = blocks.Dequeue();
            var b = new H5Cursor(ctx, start, length);
            ctx.Charge(length, start);
            while (b.Remaining >= 8)
            {
                long at = b.Pos;
                int type = b.U16();
                int msize = b.U16();
                byte flags = b.U8();
                b.Skip(3);
                if (msize > b.Remaining) throw ctx.Fail(at, $"header message of {msize} bytes overruns its block");
                var msg = new H5Message(type, flags, b.Pos, msize);
                Check(ctx, msg, at);
                if (type == H5Message.Continuation) Enqueue(ctx, msg, blocks, seen, 0);
                else messages.Add(msg);
                b.Skip(msize);
            }
        }
        return new H5ObjectHeader(address, 1, messages);
    }

    private static H5ObjectHeader ParseV2(H5Context ctx, long address, long abs)
    {
        var c = ctx.AtOpen(address, "object header");
        c.Expect("OHDR");
        int version = c.U8("object header version");
        if (version != 2) throw ctx.Fail(abs + 4, $"unsupported OHDR version {version}");
        byte flags = c.U8();
        if ((flags & 0x20) != 0) c.Skip(16, "object times");
        if ((flags & 0x10) != 0) c.Skip(4, "attribute phase change values");
        long chunk0 = (long)c.UInt(1 << (flags & 3), "size of chunk #0");
        if (chunk0 > c.Remaining - 4) throw ctx.Fail(c.Pos, "object header chunk #0 overruns the file");
        long dataStart = c.Pos;
        ctx.Charge(chunk0, abs);
        Lookup3.Verify(ctx, abs, dataStart + chunk0, "object header");
        bool creationOrder = (flags & 0x04) != 0;
        var messages = new List<H5Message>();
        var blocks = new Queue<(long Abs, long Length)>();
        var seen = new HashSet<long> { abs };
        ParseV2Block(ctx, new H5Cursor(ctx, dataStart, chunk0), creationOrder, messages, blocks, seen);
        while (blocks.Count > 0)
        {
            var (start, length) = blocks.Dequeue();
            if (length < 8) throw ctx.Fail(start, "object header continuation block too small");
            var b = new H5Cursor(ctx, start, length);
            ctx.Charge(length, start);
            b.Expect("OCHK");
            Lookup3.Verify(ctx, start, start + length - 4, "object header continuation block");
            ParseV2Block(ctx, new H5Cursor(ctx, start + 4, length - 8), creationOrder, messages, blocks, seen);
        }
        return new H5ObjectHeader(address, 2, messages);
    }

    private static void ParseV2Block(H5Context ctx, H5Cursor b, bool creationOrder, List<H5Message> messages,
        Queue<(long, long)> blocks, HashSet<long> seen)
    {
        int headerSize = creationOrder ? 6 : 4;
        while (b.Remaining >= headerSize)
        {
            long at = b.Pos;
            int type = b.U8();
            int msize = b.U16();
            byte flags = b.U8();
            if (creationOrder) b.U16();
            if (msize > b.Remaining) throw ctx.Fail(at, $"header message of {msize} bytes overruns its block");
            var msg = new H5Message(type, flags, b.Pos, msize);
            Check(ctx, msg, at);
            if (type == H5Message.Continuation) Enqueue(ctx, msg, blocks, seen, 2);
            else messages.Add(msg);
            b.Skip(msize);
        }
    }

    private static void Check(H5Context ctx, H5Message msg, long at)
    {
        // Bit 3: fail if unknown and the file is opened for writing; bit 7: fail if unknown, always.
        if ((msg.Flags & 0x80) != 0 && !KnownTypes.Contains(msg.Type))
            throw ctx.Fail(at, $"unknown header message type 0x{msg.Type:x} is marked 'fail if unknown'");
    }

    private static void Enqueue(H5Context ctx, H5Message msg, Queue<(long, long)> blocks, HashSet<long> seen, int version)
    {
        var c = msg.Body(ctx);
        long offset = c.Addr("continuation address");
        long length = c.Len("continuation length");
        long abs = ctx.Abs(offset, length, "object header continuation block");
        if (!seen.Add(abs)) throw ctx.Fail(msg.Offset, "object header continuation blocks form a cycle");
        if (version == 0 && length == 0) return;
        blocks.Enqueue((abs, length));
    }
}
