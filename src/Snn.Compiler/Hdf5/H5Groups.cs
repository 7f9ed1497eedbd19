using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Hdf5;

/// <summary>
/// Link tables of groups: "old-style" symbol-table groups (v1 B-tree type 0, SNOD, local heap) and
/// "compact new-style" groups (link messages in the header). Dense groups (fractal heap) are rejected.
/// </summary>
internal static class H5Groups
{
    /// <summary>The (cached) links of the group whose header is at <paramref name="address"/>.</summary>
    public static Either<H5Fault, Dictionary<string, H5Link>> Links(H5Context ctx, long address)
    {
        if (ctx.LinkTables.TryGetValue(address, out var cached)) return cached;
        if (!H5ObjectHeader.Get(ctx, address).TryGet(out var header, out var fault)) return fault;
        var table = new Dictionary<string, H5Link>(StringComparer.Ordinal);
        if (header.First(H5Message.SymbolTable) is { } st)
        {
            var read =
                from c in st.Body(ctx)
                from btree in c.Addr("symbol table B-tree address")
                from heap in c.Addr("symbol table local heap address")
                from links in ReadSymbolTable(ctx, btree, heap, table)
                select links;
            if (!read.TryGet(out _, out fault)) return fault;
        }
        else
        {
            if (header.First(H5Message.LinkInfo) is { } li)
            {
                if (!H5Decode.DenseHeapAddress(ctx, li, attributeInfo: false).TryGet(out var dense, out fault)) return fault;
                if (dense != H5Context.Undefined) return ctx.Fail(li.Offset, "dense link storage (fractal heap / v2 B-tree group) is not supported");
            }
            foreach (var m in header.Messages)
            {
                if (m.Type != H5Message.Link) continue;
                if (!H5Decode.Link(ctx, m).TryGet(out var link, out fault)) return fault;
                if (!table.TryAdd(link.Name, link)) return ctx.Fail(m.Offset, $"duplicate link name '{link.Name}'");
            }
        }
        ctx.LinkTables[address] = table;
        return table;
    }

    private static Either<H5Fault, Unit> ReadSymbolTable(H5Context ctx, long btreeAddress, long heapAddress, Dictionary<string, H5Link> table)
    {
        if (!LocalHeap.Read(ctx, heapAddress).TryGet(out var heap, out var fault)) return fault;
        if (btreeAddress == H5Context.Undefined) return unit;
        var nodeSeen = new System.Collections.Generic.HashSet<long>();
        var snodSeen = new System.Collections.Generic.HashSet<long>();
        var stack = new Stack<(long Address, int ExpectedLevel)>();
        stack.Push((btreeAddress, -1));
        while (stack.Count > 0)
        {
            var (addr, expected) = stack.Pop();
            if (!nodeSeen.Add(addr)) return ctx.Fail(ctx.Base + addr, "group B-tree nodes form a cycle");
            if (!BTreeV1.Read(ctx, addr, nodeType: 0, keySize: ctx.LengthSize).TryGet(out var node, out fault)) return fault;
            if (expected >= 0 && node.Level != expected)
                return ctx.Fail(node.AbsOffset, $"group B-tree node level {node.Level}, expected {expected}");
            if (node.Level > H5Limits.MaxBTreeDepth) return ctx.Fail(node.AbsOffset, "group B-tree too deep");
            if (node.Level > 0)
            {
                for (int i = node.Children.Length - 1; i >= 0; i--) stack.Push((node.Children[i], node.Level - 1));
                continue;
            }
            foreach (var snod in node.Children)
            {
                if (!snodSeen.Add(snod)) return ctx.Fail(node.AbsOffset, "symbol table node referenced twice");
                if (!ReadSnod(ctx, snod, heap, table).TryGet(out _, out fault)) return fault;
            }
        }
        return unit;
    }

    private static Either<H5Fault, Unit> ReadSnod(H5Context ctx, long address, LocalHeap heap, Dictionary<string, H5Link> table)
    {
        var prefix =
            from node in ctx.AtOpen(address, "symbol table node")
            from signature in node.Expect("SNOD")
            from version in node.U8("SNOD version")
            from supported in version != 1 ? ctx.Fail(node.Pos - 1, $"unsupported symbol table node version {version}") : Right<H5Fault, Unit>(unit)
            from reserved in node.U8()
            from count in node.U16("number of symbols")
            from charged in ctx.Charge(8 + count * (2L * ctx.OffsetSize + 24), node.Start)
            select (Cursor: node, Count: (int)count);
        if (!prefix.TryGet(out var p, out var fault)) return fault;
        var c = p.Cursor;
        for (int i = 0; i < p.Count; i++)
        {
            if (!SymbolTableEntry.Read(c).TryGet(out var e, out fault) || !heap.Name(ctx, e.NameOffset).TryGet(out var name, out fault)) return fault;
            string target = "";
            if (e.CacheType == 2 && !heap.Name(ctx, e.SoftLinkOffset).TryGet(out target, out fault)) return fault;
            var link = e.CacheType == 2
                ? new H5Link(name, H5LinkKind.Soft, H5Context.Undefined, target)
                : new H5Link(name, H5LinkKind.Hard, e.ObjectAddress, "");
            if (!table.TryAdd(name, link)) return ctx.Fail(c.Pos, $"duplicate link name '{name}'");
        }
        return unit;
    }
}

/// <summary>Symbol table entry (superblock root entry, SNOD entries).</summary>
internal readonly record struct SymbolTableEntry(long NameOffset, long ObjectAddress, uint CacheType, long BTree, long Heap, long SoftLinkOffset)
{
    public static Either<H5Fault, SymbolTableEntry> Read(H5Cursor c)
    {
        if (!c.UInt(c.Context.OffsetSize, "link name offset").TryGet(out var nameOffset, out var fault)
            || !c.Addr("object header address").TryGet(out var obj, out fault)
            || !c.U32("cache type").TryGet(out var cache, out fault)
            || !c.U32().TryGet(out _, out fault)
            || !c.Sub(16, "scratch pad").TryGet(out var scratch, out fault))
            return fault;
        long btree = H5Context.Undefined, heap = H5Context.Undefined, soft = 0;
        if (cache == 1 && c.Context.OffsetSize <= 8)
        {
            if (!scratch.Addr("cached B-tree address").TryGet(out btree, out fault) || !scratch.Addr("cached heap address").TryGet(out heap, out fault))
                return fault;
        }
        else if (cache == 2)
        {
            if (!scratch.U32("soft link offset").TryGet(out var offset, out fault)) return fault;
            soft = offset;
        }
        return new SymbolTableEntry((long)nameOffset, obj, cache, btree, heap, soft);
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

    public static Either<H5Fault, LocalHeap> Read(H5Context ctx, long address) =>
        from c in ctx.AtOpen(address, "local heap")
        from signature in c.Expect("HEAP")
        from version in c.U8("local heap version")
        from supported in version != 0 ? ctx.Fail(c.Pos - 1, $"unsupported local heap version {version}") : Right<H5Fault, Unit>(unit)
        from reserved in c.Skip(3)
        from size in c.Len("local heap data size")
        from freeList in c.Len("free list offset")
        from dataAddress in c.Addr("local heap data address")
        from charged in ctx.Charge(32, c.Start)
        from dataAbs in ctx.Abs(dataAddress, size, "local heap data segment")
        select new LocalHeap(dataAbs, size);

    /// <summary>The NUL-terminated string at <paramref name="offset"/> of the data segment.</summary>
    public Either<H5Fault, string> Name(H5Context ctx, long offset)
    {
        if (offset < 0 || offset >= DataSize) return ctx.Fail(DataAbs, $"link name offset {offset} outside the local heap ({DataSize} bytes)");
        var span = ctx.Data.AsSpan((int)(DataAbs + offset), (int)(DataSize - offset));
        int nul = span.IndexOf((byte)0);
        if (!ctx.Charge(nul < 0 ? span.Length : nul + 1, DataAbs + offset).TryGet(out _, out var fault)) return fault;
        if (nul < 0) return ctx.Fail(DataAbs + offset, "unterminated link name in the local heap");
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

    public static Either<H5Fault, BTreeV1> Read(H5Context ctx, long address, int nodeType, int keySize)
    {
        var prefix =
            from node in ctx.AtOpen(address, "B-tree node")
            from signature in node.Expect("TREE")
            from type in node.U8("B-tree node type")
            from expected in type != nodeType ? ctx.Fail(node.Start + 4, $"B-tree node type {type}, expected {nodeType}") : Right<H5Fault, Unit>(unit)
            from depth in node.U8("B-tree node level")
            from used in node.U16("B-tree entries used")
            from left in node.Addr("left sibling")
            from right in node.Addr("right sibling")
            select (Cursor: node, Level: (int)depth, Entries: (int)used);
        if (!prefix.TryGet(out var p, out var fault)) return fault;
        var (c, level, entries) = p;
        long abs = c.Start;
        long need = (long)entries * (keySize + ctx.OffsetSize) + keySize;
        if (need > c.Remaining) return ctx.Fail(abs, $"B-tree node with {entries} entries overruns the file");
        if (!ctx.Charge(need + 24, abs).TryGet(out _, out fault)) return fault;
        var children = new long[entries];
        var keys = new long[entries + 1];
        for (int i = 0; i < entries; i++)
        {
            keys[i] = c.Pos;
            if (!c.Skip(keySize, "B-tree key").Bind(_ => c.Addr("B-tree child address")).TryGet(out children[i], out fault)) return fault;
            if (children[i] == H5Context.Undefined) return ctx.Fail(c.Pos, "B-tree child with undefined address");
        }
        keys[entries] = c.Pos;
        return new BTreeV1 { Level = level, AbsOffset = abs, Children = children, KeyOffsets = keys };
    }
}
