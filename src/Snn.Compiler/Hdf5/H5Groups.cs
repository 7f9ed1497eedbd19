namespace Snn.Compiler.Hdf5;

/// <summary>
/// Link tables of groups: "old-style" symbol-table groups (v1 B-tree type 0, SNOD, local heap) and
/// "compact new-style" groups (link messages in the header). Dense groups (fractal heap) are rejected.
/// </summary>
internal static class H5Groups
{
    /// <summary>The (cached) links of the group whose header is at <paramref name="address"/>.</summary>
    public static Dictionary<string, H5Link> Links(H5Context ctx, long address)
    {
        if (ctx.LinkTables.TryGetValue(address, out var cached)) return cached;
        var header = H5ObjectHeader.Get(ctx, address);
        var table = new Dictionary<string, H5Link>(StringComparer.Ordinal);
        if (header.First(H5Message.SymbolTable) is { } st)
        {
            var c = st.Body(ctx);
            long btree = c.Addr("symbol table B-tree address");
            long heap = c.Addr("symbol table local heap address");
            ReadSymbolTable(ctx, btree, heap, table);
        }
        else
        {
            if (header.First(H5Message.LinkInfo) is { } li
                && H5Decode.DenseHeapAddress(ctx, li, attributeInfo: false) != H5Context.Undefined)
                throw ctx.Fail(li.Offset, "dense link storage (fractal heap / v2 B-tree group) is not supported");
            foreach (var m in header.Messages)
            {
                if (m.Type != H5Message.Link) continue;
                var link = H5Decode.Link(ctx, m);
                if (!table.TryAdd(link.Name, link)) throw ctx.Fail(m.Offset, $"duplicate link name '{link.Name}'");
            }
        }
        ctx.LinkTables[address] = table;
        return table;
    }

    private static void ReadSymbolTable(H5Context ctx, long btreeAddress, long heapAddress, Dictionary<string, H5Link> table)
    {
        var heap = LocalHeap.Read(ctx, heapAddress);
        if (btreeAddress == H5Context.Undefined) return;
        var nodeSeen = new HashSet<long>();
        var snodSeen = new HashSet<long>();
        var stack = new Stack<(long Address, int ExpectedLevel)>();
        stack.Push((btreeAddress, -1));
        while (stack.Count > 0)
        {
            var (addr, expected) = stack.Pop();
            if (!nodeSeen.Add(addr)) throw ctx.Fail(ctx.Base + addr, "group B-tree nodes form a cycle");
            var node = BTreeV1.Read(ctx, addr, nodeType: 0, keySize: ctx.LengthSize);
            if (expected >= 0 && node.Level != expected)
                throw ctx.Fail(node.AbsOffset, $"group B-tree node level {node.Level}, expected {expected}");
            if (node.Level > H5Limits.MaxBTreeDepth) throw ctx.Fail(node.AbsOffset, "group B-tree too deep");
            if (node.Level > 0)
            {
                for (int i = node.Children.Length - 1; i >= 0; i--) stack.Push((node.Children[i], node.Level - 1));
                continue;
            }
            foreach (var snod in node.Children)
            {
                if (!snodSeen.Add(snod)) throw ctx.Fail(node.AbsOffset, "symbol table node referenced twice");
                ReadSnod(ctx, snod, heap, table);
            }
        }
    }

    private static void ReadSnod(H5Context ctx, long address, LocalHeap heap, Dictionary<string, H5Link> table)
    {
        var c = ctx.AtOpen(address, "symbol table node");
        c.Expect("SNOD");
        int version = c.U8("SNOD version");
        if (version != 1) throw ctx.Fail(c.Pos - 1, $"unsupported symbol table node version {version}");
        c.U8();
        int count = c.U16("number of symbols");
        long entrySize = 2L * ctx.OffsetSize + 24;
        ctx.Charge(8 + count * entrySize, c.Start);
        for (int i = 0; i < count; i++)
        {
            var e = SymbolTableEntry.Read(c);
            string name = heap.Name(ctx, e.NameOffset);
            H5Link link = e.CacheType == 2
                ? new H5Link(name, H5LinkKind.Soft, H5Context.Undefined, heap.Name(ctx, e.SoftLinkOffset))
                : new H5Link(name, H5LinkKind.Hard, e.ObjectAddress, "");
            if (!table.TryAdd(name, link)) throw ctx.Fail(c.Pos, $"duplicate link name '{name}'");
        }
    }
}

/// <summary>Symbol table entry (superblock root entry, SNOD entries).</summary>
internal readonly record struct SymbolTableEntry(long NameOffset, long ObjectAddress, uint CacheType, long BTree, long Heap, long SoftLinkOffset)
{
    public static SymbolTableEntry Read(H5Cursor c)
    {
        long nameOffset = (long)c.UInt(c.Context.OffsetSize, "link name offset");
        long obj = c.Addr("object header address");
        uint cache = c.U32("cache type");
        c.U32();
        var scratch = c.Sub(16, "scratch pad");
        long btree = H5Context.Undefined, heap = H5Context.Undefined, soft = 0;
        if (cache == 1 && c.Context.OffsetSize <= 8)
        {
            btree = scratch.Addr("cached B-tree address");
            heap = scratch.Addr("cached heap address");
        }
        else if (cache == 2)
        {
            soft = scratch.U32("soft link offset");
        }
        return new SymbolTableEntry(nameOffset, obj, cache, btree, heap, soft);
    }
}

/// <summary>Local heap (HEAP): the data segment holding a group's link names.</summary>
internal sealed class LocalHeap
{
    private LocalHeap(long dataAbs, long dataSize)
    {
        DataAbs = dataAbs;
        DataSize = dataSize;
    }

    public long DataAbs { get; }
    public long DataSize { get; }

    public static LocalHeap Read(H5Context ctx, long address)
    {
        var c = ctx.AtOpen(address, "local heap");
        c.Expect("HEAP");
        int version = c.U8("local heap version");
        if (version != 0) throw ctx.Fail(c.Pos - 1, $"unsupported local heap version {version}");
        c.Skip(3);
        long size = c.Len("local heap data size");
        c.Len("free list offset");
        long dataAddress = c.Addr("local heap data address");
        ctx.Charge(32, c.Start);
        return new LocalHeap(ctx.Abs(dataAddress, size, "local heap data segment"), size);
    }

    /// <summary>The NUL-terminated string at <paramref name="offset"/> of the data segment.</summary>
    public string Name(H5Context ctx, long offset)
    {
        if (offset < 0 || offset >= DataSize) throw ctx.Fail(DataAbs, $"link name offset {offset} outside the local heap ({DataSize} bytes)");
        var span = ctx.Data.AsSpan((int)(DataAbs + offset), (int)(DataSize - offset));
        int nul = span.IndexOf((byte)0);
        ctx.Charge(nul < 0 ? span.Length : nul + 1, DataAbs + offset);
        if (nul < 0) throw ctx.Fail(DataAbs + offset, "unterminated link name in the local heap");
        return H5Decode.Utf8(span[..nul]);
    }
}

/// <summary>Version 1 B-tree node (TREE): type 0 (group nodes) or type 1 (raw data chunks).</summary>
internal sealed class BTreeV1
{
    public int Level { get; private init; }
    public long AbsOffset { get; private init; }
    public long[] Children { get; private init; } = [];

    /// <summary>Absolute offsets of the keys; key i is the left key of child i.</summary>
    public long[] KeyOffsets { get; private init; } = [];

    public static BTreeV1 Read(H5Context ctx, long address, int nodeType, int keySize)
    {
        var c = ctx.AtOpen(address, "B-tree node");
        long abs = c.Start;
        c.Expect("TREE");
        int type = c.U8("B-tree node type");
        if (type != nodeType) throw ctx.Fail(abs + 4, $"B-tree node type {type}, expected {nodeType}");
        int level = c.U8("B-tree node level");
        int entries = c.U16("B-tree entries used");
        c.Addr("left sibling");
        c.Addr("right sibling");
        long need = (long)entries * (keySize + ctx.OffsetSize) + keySize;
        if (need > c.Remaining) throw ctx.Fail(abs, $"B-tree node with {entries} entries overruns the file");
        ctx.Charge(need + 24, abs);
        var children = new long[entries];
        var keys = new long[entries + 1];
        for (int i = 0; i < entries; i++)
        {
            keys[i] = c.Pos;
            c.Skip(keySize, "B-tree key");
            children[i] = c.Addr("B-tree child address");
            if (children[i] == H5Context.Undefined) throw ctx.Fail(c.Pos, "B-tree child with undefined address");
        }
        keys[entries] = c.Pos;
        return new BTreeV1 { Level = level, AbsOffset = abs, Children = children, KeyOffsets = keys };
    }
}
