using System.Buffers.Binary;
using System.IO.Compression;
using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Hdf5;

/// <summary>Everything needed to read a dataset's values, decoded from its object header.</summary>
internal sealed class H5DatasetInfo
{
    private H5DatasetInfo(H5Dataspace space, H5Datatype type, H5Layout layout, List<H5Filter> filters, byte[] fill, long at)
    {
        Space = space;
        Type = type;
        Layout = layout;
        Filters = filters;
        Fill = fill;
        At = at;
    }

    public H5Dataspace Space { get; }
    public H5Datatype Type { get; }
    public H5Layout Layout { get; }
    public List<H5Filter> Filters { get; }
    /// <summary>The fill value's bytes; empty when it is undefined or the default (zeros).</summary>
    public byte[] Fill { get; }

    /// <summary>Absolute offset of the object header, for error messages.</summary>
    public long At { get; }

    public static Either<H5Fault, H5DatasetInfo> Load(H5Context ctx, H5ObjectHeader header)
    {
        long at = ctx.Base + header.Address;
        return from space in H5Decode.Dataspace(ctx, header, at)
               from type in H5Decode.Datatype(ctx, header, at)
               from layout in header.First(H5Message.Layout) is not { } lm ? ctx.Fail(at, "dataset has no layout message")
                   : lm.IsShared ? ctx.Fail(lm.Offset, "shared layout messages are not supported")
                   : lm.Body(ctx).Bind(H5Layout.Decode)
               from filters in header.First(H5Message.FilterPipeline) is not { } fm ? new List<H5Filter>()
                   : fm.IsShared ? ctx.Fail(fm.Offset, "shared filter pipeline messages are not supported")
                   : fm.Body(ctx).Bind(H5Filter.DecodePipeline)
               from local in header.Has(H5Message.ExternalFiles) ? ctx.Fail(at, "external raw data storage is not supported") : Right<H5Fault, Unit>(unit)
               from fill in H5Decode.FillValue(ctx, header)
               select new H5DatasetInfo(space, type, layout, filters, fill, at);
    }
}

/// <summary>Reads the raw (file-order, row-major) bytes of datasets and attributes.</summary>
internal static class H5RawData
{
    private readonly record struct Chunk(long[] Offset, long Address, long Size, uint FilterMask, long At);

    /// <summary>Number of bytes <paramref name="count"/> elements of <paramref name="elementSize"/> take, bounded by the file's budget.</summary>
    public static Either<H5Fault, long> CheckedBytes(H5Context ctx, long count, int elementSize, long at)
    {
        if (count == 0) return 0L;
        if (elementSize <= 0) return ctx.Fail(at, $"datatype size {elementSize} is invalid");
        // Both the raw bytes and the converted output (up to 8 bytes per element) must stay within the limit.
        if (count > ctx.MaxDecodedBytes / Math.Max(elementSize, 8))
            return ctx.Fail(at, $"data of {count} elements x {elementSize} bytes exceeds the read limit of {ctx.MaxDecodedBytes} bytes");
        return count * elementSize;
    }

    public static Either<H5Fault, byte[]> Read(H5Context ctx, H5DatasetInfo info)
    {
        long at = info.At;
        int es = info.Type.Size;
        if (!info.Space.Count(ctx, at).Bind(count => CheckedBytes(ctx, count, es, at)).Bind(n => ctx.Decoded(n, at).Map(_ => n))
                .TryGet(out var total, out var fault)) return fault;
        if (total == 0) return System.Array.Empty<byte>();
        var layout = info.Layout;
        switch (layout.Class)
        {
            case H5Layout.Compact:
            {
                if (total > layout.CompactSize)
                    return ctx.Fail(layout.CompactOffset, $"compact data holds {layout.CompactSize} bytes, dataset needs {total}");
                return ctx.Data.AsSpan((int)layout.CompactOffset, (int)total).ToArray();
            }
            case H5Layout.Contiguous:
            {
                if (layout.Address == H5Context.Undefined) return Filled(total, info.Fill, es);
                if (layout.Size >= 0 && layout.Size < total)
                    return ctx.Fail(at, $"contiguous storage holds {layout.Size} bytes, dataset needs {total}");
                return ctx.Abs(layout.Address, total, "contiguous raw data").Map(abs => ctx.Data.AsSpan((int)abs, (int)total).ToArray());
            }
            case H5Layout.Chunked:
                return ReadChunked(ctx, info, total);
            default:
                return ctx.Fail(at, $"layout class {layout.Class} is not supported");
        }
    }

    private static byte[] Filled(long total, byte[] fill, int es)
    {
        var buf = new byte[total];
        if (fill is { Length: > 0 } && fill.Length == es && fill.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
            for (long i = 0; i < total; i += es) fill.CopyTo(buf, (int)i);
        return buf;
    }

    private static Either<H5Fault, byte[]> ReadChunked(H5Context ctx, H5DatasetInfo info, long total)
    {
        long at = info.At;
        var layout = info.Layout;
        int rank = info.Space.Rank;
        int es = info.Type.Size;
        if (rank == 0) return ctx.Fail(at, "chunked layout with a scalar dataspace");
        if (layout.ChunkDims.Length != rank + 1)
            return ctx.Fail(at, $"chunk dimensionality {layout.ChunkDims.Length} does not match dataspace rank {rank} + 1");
        if (layout.ChunkDims[rank] != es)
            return ctx.Fail(at, $"chunk element size {layout.ChunkDims[rank]} differs from the datatype size {es}");
        var dims = info.Space.Dims;
        var chunk = layout.ChunkDims[..rank];
        long chunkElems = 1, grid = 1;
        for (int i = 0; i < rank; i++)
        {
            if (chunk[i] < 1) return ctx.Fail(at, "chunk dimension 0");
            chunkElems = checked(chunkElems * chunk[i]);
            grid = checked(grid * ((dims[i] + chunk[i] - 1) / chunk[i]));
            if (chunkElems > ctx.MaxDecodedBytes) return ctx.Fail(at, "chunk too large");
        }
        if (!CheckedBytes(ctx, chunkElems, es, at).TryGet(out var chunkBytes, out var fault)) return fault;
        if (grid > ctx.MaxDecodedBytes / chunkBytes)
            return ctx.Fail(at, $"{grid} chunks of {chunkBytes} bytes exceed the read limit of {ctx.MaxDecodedBytes} bytes");

        if (!Chunks(ctx, info, rank, chunk, dims, grid, chunkBytes).TryGet(out var chunks, out fault)) return fault;
        var output = Filled(total, info.Fill, es);
        var done = new System.Collections.Generic.HashSet<long>();
        foreach (var next in chunks)
        {
            if (!next.TryGet(out var ch, out fault)) return fault;
            bool inside = true;
            for (int i = 0; i < rank; i++)
            {
                if (ch.Offset[i] < 0 || ch.Offset[i] % chunk[i] != 0)
                    return ctx.Fail(ch.At, $"chunk offset {ch.Offset[i]} is not a multiple of the chunk size {chunk[i]}");
                if (ch.Offset[i] >= dims[i]) inside = false;
            }
            if (!inside) continue; // chunks beyond the current extent are ignored, as the library does
            long linear = 0;
            for (int i = 0; i < rank; i++) linear = linear * ((dims[i] + chunk[i] - 1) / chunk[i]) + ch.Offset[i] / chunk[i];
            if (!done.Add(linear)) return ctx.Fail(ch.At, "the same chunk is stored twice");
            if (!DecodeChunk(ctx, info, ch, chunkBytes).TryGet(out var data, out fault)) return fault;
            CopyChunk(data, output, ch.Offset, chunk, dims, es);
        }
        return output;
    }

    private static void CopyChunk(byte[] src, byte[] dst, long[] offset, long[] chunk, long[] dims, int es)
    {
        int rank = dims.Length;
        var extent = new long[rank];
        for (int i = 0; i < rank; i++) extent[i] = Math.Min(chunk[i], dims[i] - offset[i]);
        var srcStride = new long[rank];
        var dstStride = new long[rank];
        srcStride[rank - 1] = dstStride[rank - 1] = 1;
        for (int i = rank - 2; i >= 0; i--)
        {
            srcStride[i] = srcStride[i + 1] * chunk[i + 1];
            dstStride[i] = dstStride[i + 1] * dims[i + 1];
        }
        long run = extent[rank - 1] * es;
        var idx = new long[rank];
        while (true)
        {
            long s = 0, d = 0;
            for (int i = 0; i < rank; i++)
            {
                s += idx[i] * srcStride[i];
                d += (offset[i] + idx[i]) * dstStride[i];
            }
            Buffer.BlockCopy(src, (int)(s * es), dst, (int)(d * es), (int)run);
            int k = rank - 2;
            while (k >= 0)
            {
                if (++idx[k] < extent[k]) break;
                idx[k] = 0;
                k--;
            }
            if (k < 0) break;
        }
    }

    /// <summary>
    /// The stored chunks, read from the index as they are consumed (so that a fault in the index comes after the chunks
    /// before it); the enumeration ends at the first fault it yields.
    /// </summary>
    private static Either<H5Fault, IEnumerable<Either<H5Fault, Chunk>>> Chunks(H5Context ctx, H5DatasetInfo info, int rank, long[] chunk, long[] dims,
        long grid, long chunkBytes)
    {
        var layout = info.Layout;
        if (layout.Address == H5Context.Undefined) return Right<H5Fault, IEnumerable<Either<H5Fault, Chunk>>>([]);
        return layout.IndexType switch
        {
            0 => Right<H5Fault, IEnumerable<Either<H5Fault, Chunk>>>(BTreeChunks(ctx, layout.Address, rank)),
            1 => Right<H5Fault, IEnumerable<Either<H5Fault, Chunk>>>([new Chunk(new long[rank], layout.Address,
                (layout.Flags & 2) != 0 ? layout.SingleChunkFilteredSize : chunkBytes,
                (layout.Flags & 2) != 0 ? layout.SingleChunkFilterMask : 0, info.At)]),
            2 => Right<H5Fault, IEnumerable<Either<H5Fault, Chunk>>>(ImplicitChunks(ctx, info, rank, chunk, dims, grid, chunkBytes)),
            3 => Right<H5Fault, IEnumerable<Either<H5Fault, Chunk>>>(FixedArrayChunks(ctx, layout.Address, rank, chunk, dims, grid, chunkBytes, info.Filters.Count > 0)),
            _ => ctx.Fail(info.At, $"chunked dataset with {H5Layout.IndexName(layout.IndexType)} is not supported"),
        };
    }

    private static long[] OffsetOf(long linear, int rank, long[] chunk, long[] dims)
    {
        var off = new long[rank];
        for (int i = rank - 1; i >= 0; i--)
        {
            long n = (dims[i] + chunk[i] - 1) / chunk[i];
            off[i] = linear % n * chunk[i];
            linear /= n;
        }
        return off;
    }

    private static IEnumerable<Either<H5Fault, Chunk>> ImplicitChunks(H5Context ctx, H5DatasetInfo info, int rank, long[] chunk, long[] dims,
        long grid, long chunkBytes)
    {
        if (info.Filters.Count > 0)
        {
            yield return ctx.Fail(info.At, "implicit chunk index with filters");
            yield break;
        }
        // checked: an overflow is reported by H5Guard's boundary, as it always was.
        if (!ctx.Abs(info.Layout.Address, checked(grid * chunkBytes), "implicitly indexed chunks").TryGet(out _, out var fault))
        {
            yield return fault;
            yield break;
        }
        for (long i = 0; i < grid; i++)
            yield return new Chunk(OffsetOf(i, rank, chunk, dims), info.Layout.Address + i * chunkBytes, chunkBytes, 0, info.At);
    }

    private static IEnumerable<Either<H5Fault, Chunk>> BTreeChunks(H5Context ctx, long root, int rank)
    {
        int keySize = 8 + 8 * (rank + 1);
        var seen = new System.Collections.Generic.HashSet<long>();
        var stack = new Stack<(long Address, int Expected)>();
        stack.Push((root, -1));
        while (stack.Count > 0)
        {
            var (addr, expected) = stack.Pop();
            var read = !seen.Add(addr)
                ? ctx.Fail(ctx.Base + addr, "chunk B-tree nodes form a cycle")
                : BTreeV1.Read(ctx, addr, nodeType: 1, keySize).Bind(node =>
                    expected >= 0 && node.Level != expected ? ctx.Fail(node.AbsOffset, $"chunk B-tree node level {node.Level}, expected {expected}")
                    : node.Level > H5Limits.MaxBTreeDepth ? ctx.Fail(node.AbsOffset, "chunk B-tree too deep")
                    : Right<H5Fault, BTreeV1>(node));
            if (!read.TryGet(out var node, out var fault))
            {
                yield return fault;
                yield break;
            }
            if (node.Level > 0)
            {
                for (int i = node.Children.Length - 1; i >= 0; i--) stack.Push((node.Children[i], node.Level - 1));
                continue;
            }
            for (int i = 0; i < node.Children.Length; i++)
            {
                var key = Key(ctx, node, i, keySize, rank);
                yield return key;
                if (key.IsLeft) yield break;
            }
        }
    }

    /// <summary>The chunk of child <paramref name="i"/> of a leaf of the chunk B-tree, from its key.</summary>
    private static Either<H5Fault, Chunk> Key(H5Context ctx, BTreeV1 node, int i, int keySize, int rank)
    {
        long at = node.KeyOffsets[i];
        if (!H5Cursor.Over(ctx, at, keySize).TryGet(out var k, out var fault)
            || !k.U32("chunk size").TryGet(out var size, out fault) || !k.U32("filter mask").TryGet(out var mask, out fault))
            return fault;
        var off = new long[rank];
        for (int d = 0; d < rank; d++)
        {
            if (!k.U64("chunk offset").TryGet(out var o, out fault)) return fault;
            if (o > long.MaxValue / 2) return ctx.Fail(at, "chunk offset too large");
            off[d] = (long)o;
        }
        return new Chunk(off, node.Children[i], size, mask, at);
    }

    /// <summary>A fixed array header (FAHD): where its data block is and the shape of its entries.</summary>
    private readonly record struct FixedArray(long DataBlock, int Client, int EntrySize, int PageBits, long Entries);

    private static Either<H5Fault, FixedArray> FixedArrayHeader(H5Context ctx, long headerAddress, long grid, bool filtered)
    {
        var read =
            from h in ctx.AtOpen(headerAddress, "fixed array header")
            from signature in h.Expect("FAHD")
            from version in h.U8("fixed array version")
            from supported in version != 0 ? ctx.Fail(h.Start + 4, $"unsupported fixed array version {version}") : Right<H5Fault, Unit>(unit)
            from client in h.U8("fixed array client id")
            from entrySize in h.U8("fixed array entry size")
            from pageBits in h.U8("fixed array page bits")
            from entries in h.Len("fixed array entry count")
            from dblock in h.Addr("fixed array data block address")
            from verified in Lookup3.Verify(ctx, h.Start, h.Pos, "fixed array header")
            from charged in ctx.Charge(h.Pos - h.Start + 4, h.Start)
            select (Abs: h.Start, Array: new FixedArray(dblock, client, entrySize, pageBits, entries));
        if (!read.TryGet(out var r, out var fault)) return fault;
        var (habs, a) = r;
        int o = ctx.OffsetSize;
        if (a.Client != (filtered ? 1 : 0)) return ctx.Fail(habs + 5, $"fixed array client id {a.Client} does not match the filter pipeline");
        if (filtered ? a.EntrySize < o + 5 || a.EntrySize > o + 12 : a.EntrySize != o)
            return ctx.Fail(habs + 6, $"fixed array entry size {a.EntrySize} invalid");
        if (a.PageBits is < 1 or > 31) return ctx.Fail(habs + 7, $"fixed array page bits {a.PageBits} invalid");
        if (a.Entries < 0 || a.Entries > grid) return ctx.Fail(habs, $"fixed array holds {a.Entries} entries for {grid} chunks");
        return a;
    }

    /// <summary>The fixed array data block (FADB) after its prefix, checked against its header.</summary>
    private static Either<H5Fault, H5Cursor> FixedArrayDataBlock(H5Context ctx, long headerAddress, FixedArray a) =>
        from d in ctx.AtOpen(a.DataBlock, "fixed array data block")
        from signature in d.Expect("FADB")
        from version in d.U8("fixed array data block version")
        from supported in version != 0 ? ctx.Fail(d.Start + 4, "unsupported fixed array data block version") : Right<H5Fault, Unit>(unit)
        from client in d.U8("fixed array data block client id")
        from same in client != a.Client ? ctx.Fail(d.Start + 5, "fixed array data block client id mismatch") : Right<H5Fault, Unit>(unit)
        from header in d.Addr("fixed array header address")
        from back in header != headerAddress ? ctx.Fail(d.Start + 6, "fixed array data block points at another header") : Right<H5Fault, Unit>(unit)
        select d;

    private static IEnumerable<Either<H5Fault, Chunk>> FixedArrayChunks(H5Context ctx, long headerAddress, int rank, long[] chunk, long[] dims,
        long grid, long chunkBytes, bool filtered)
    {
        if (!FixedArrayHeader(ctx, headerAddress, grid, filtered).TryGet(out var a, out var fault))
        {
            yield return fault;
            yield break;
        }
        if (a.DataBlock == H5Context.Undefined) yield break;

        // checked: an overflow is reported by H5Guard's boundary, as it always was.
        long dsize = checked(a.Entries * a.EntrySize);
        if (!FixedArrayDataBlock(ctx, headerAddress, a).TryGet(out var d, out fault))
        {
            yield return fault;
            yield break;
        }
        long dabs = d.Start;
        long pageSize = 1L << a.PageBits;
        if (a.Entries <= pageSize)
        {
            long elems = d.Pos;
            var block = dsize > d.Remaining - 4
                ? ctx.Fail(dabs, "fixed array data block overruns the file")
                : Lookup3.Verify(ctx, dabs, elems + dsize, "fixed array data block").Bind(_ => ctx.Charge(elems + dsize - dabs, dabs));
            if (!block.TryGet(out _, out fault))
            {
                yield return fault;
                yield break;
            }
            for (long i = 0; i < a.Entries; i++)
            {
                var entry = Entry(ctx, elems + i * a.EntrySize, a.EntrySize, filtered, chunkBytes, i, rank, chunk, dims);
                if (!entry.TryGet(out var c, out fault))
                {
                    yield return fault;
                    yield break;
                }
                if (c.TryGet(out var found)) yield return found;
            }
            yield break;
        }
        long pages = (a.Entries + pageSize - 1) / pageSize;
        var bitmap = d.Bytes((pages + 7) / 8, "fixed array page bitmap").Bind(b =>
            Lookup3.Verify(ctx, dabs, d.Pos, "fixed array data block").Map(_ => b.ToArray()));
        if (!bitmap.TryGet(out var initialisedPages, out fault))
        {
            yield return fault;
            yield break;
        }
        long pageAbs = d.Pos + 4;
        for (long p = 0; p < pages; p++)
        {
            long n = Math.Min(pageSize, a.Entries - p * pageSize);
            long bytes = n * a.EntrySize;
            bool initialised = (initialisedPages[p / 8] & (0x80 >> (int)(p % 8))) != 0;
            if (initialised)
            {
                var page = pageAbs < 0 || pageAbs > ctx.Length || bytes + 4 > ctx.Length - pageAbs
                    ? ctx.Fail(pageAbs, "fixed array page overruns the file")
                    : Lookup3.Verify(ctx, pageAbs, pageAbs + bytes, "fixed array data block page").Bind(_ => ctx.Charge(bytes + 4, pageAbs));
                if (!page.TryGet(out _, out fault))
                {
                    yield return fault;
                    yield break;
                }
                for (long i = 0; i < n; i++)
                {
                    var entry = Entry(ctx, pageAbs + i * a.EntrySize, a.EntrySize, filtered, chunkBytes, p * pageSize + i, rank, chunk, dims);
                    if (!entry.TryGet(out var c, out fault))
                    {
                        yield return fault;
                        yield break;
                    }
                    if (c.TryGet(out var found)) yield return found;
                }
            }
            pageAbs += bytes + 4;
        }
    }

    /// <summary>The chunk of fixed array entry <paramref name="index"/>; None when it is not allocated.</summary>
    private static Either<H5Fault, Option<Chunk>> Entry(H5Context ctx, long abs, int entrySize, bool filtered, long chunkBytes, long index, int rank,
        long[] chunk, long[] dims)
    {
        if (!H5Cursor.Over(ctx, abs, entrySize).TryGet(out var c, out var fault) || !c.Addr("chunk address").TryGet(out var address, out fault))
            return fault;
        if (address == H5Context.Undefined) return Option<Chunk>.None;
        long size = chunkBytes;
        uint mask = 0;
        if (filtered)
        {
            if (!c.UInt(entrySize - ctx.OffsetSize - 4, "filtered chunk size").TryGet(out var filteredSize, out fault)
                || !c.U32("filter mask").TryGet(out mask, out fault))
                return fault;
            size = (long)filteredSize;
        }
        return Some(new Chunk(OffsetOf(index, rank, chunk, dims), address, size, mask, abs));
    }

    private static Either<H5Fault, byte[]> DecodeChunk(H5Context ctx, H5DatasetInfo info, Chunk ch, long chunkBytes)
    {
        if (!ctx.Abs(ch.Address, ch.Size, "chunk").TryGet(out var abs, out var fault)) return fault;
        var filters = info.Filters;
        if (filters.Count == 0)
        {
            if (ch.Size < chunkBytes) return ctx.Fail(abs, $"chunk holds {ch.Size} bytes, expected {chunkBytes}");
            return ctx.Data.AsSpan((int)abs, (int)chunkBytes).ToArray();
        }
        // Size of the data entering each filter when it was written (= what its decoder must produce).
        var inSize = new long[filters.Count];
        long s = chunkBytes;
        for (int k = 0; k < filters.Count; k++)
        {
            inSize[k] = s;
            bool applied = (ch.FilterMask & (1u << k)) == 0;
            if (applied && filters[k].Id == H5Filter.Fletcher32) s += 4;
        }
        byte[] data = ctx.Data.AsSpan((int)abs, (int)ch.Size).ToArray();
        for (int k = filters.Count - 1; k >= 0; k--)
        {
            if ((ch.FilterMask & (1u << k)) != 0) continue;
            var f = filters[k];
            var decoded = f.Id switch
            {
                H5Filter.Deflate => Inflate(ctx, data, inSize[k], abs),
                H5Filter.Shuffle => Unshuffle(data, f.ClientData.Length > 0 && f.ClientData[0] > 0 ? (int)Math.Min(f.ClientData[0], 1u << 20) : info.Type.Size),
                H5Filter.Fletcher32 => data.Length >= 4 ? data[..^4] : ctx.Fail(abs, "fletcher32 chunk shorter than its checksum"),
                _ => ctx.Fail(abs, $"filter {f.Id}{(f.Name.Length > 0 ? $" ({f.Name})" : "")} is not supported"),
            };
            if (!decoded.TryGet(out data, out fault)) return fault;
        }
        if (data.Length != chunkBytes)
            return ctx.Fail(abs, $"chunk decodes to {data.Length} bytes, expected {chunkBytes}");
        return data;
    }

    private static Either<H5Fault, byte[]> Inflate(H5Context ctx, byte[] input, long expected, long at)
    {
        var output = new byte[expected];
        int got, more = 0;
        try
        {
            // Boundary: ZLibStream reports a corrupt stream by throwing InvalidDataException (or IOException).
            using var z = new ZLibStream(new MemoryStream(input, writable: false), CompressionMode.Decompress);
            got = z.ReadAtLeast(output, output.Length, throwOnEndOfStream: false);
            Span<byte> extra = stackalloc byte[1];
            if (got == output.Length) more = z.Read(extra);
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            return ctx.Fail(at, $"corrupt deflate stream: {e.Message}");
        }
        if (got != output.Length) return ctx.Fail(at, $"deflate chunk decodes to {got} bytes, expected {expected}");
        if (more != 0) return ctx.Fail(at, $"deflate chunk decodes to more than the expected {expected} bytes");
        return output;
    }

    private static Either<H5Fault, byte[]> Unshuffle(byte[] input, int es)
    {
        if (es <= 1 || input.Length < es) return input;
        int n = input.Length / es;
        var output = new byte[input.Length];
        for (int b = 0; b < es; b++)
        {
            int src = b * n;
            for (int i = 0; i < n; i++) output[i * es + b] = input[src + i];
        }
        System.Array.Copy(input, n * es, output, n * es, input.Length - n * es);
        return output;
    }
}

/// <summary>Global heap collections (GCOL) holding variable-length data.</summary>
internal static class H5GlobalHeap
{
    public static Either<H5Fault, ReadOnlyMemory<byte>> Object(H5Context ctx, long collection, int index, long at)
    {
        if (!ctx.GlobalHeaps.TryGetValue(collection, out var objects))
        {
            if (!Parse(ctx, collection).TryGet(out objects, out var fault)) return fault;
            ctx.GlobalHeaps[collection] = objects;
        }
        if (!objects.TryGetValue(index, out var o))
            return ctx.Fail(at, $"global heap object {index} not found in collection at address {collection}");
        return (ReadOnlyMemory<byte>)ctx.Data.AsMemory((int)o.Start, (int)o.Length);
    }

    private static long Align8(long n) => (n + 7) & ~7L;

    private static Either<H5Fault, Dictionary<int, (long Start, long Length)>> Parse(H5Context ctx, long address)
    {
        long objHeader = Align8(8 + ctx.LengthSize);
        var collection =
            from h in ctx.AtOpen(address, "global heap collection")
            from signature in h.Expect("GCOL")
            from version in h.U8("global heap version")
            from supported in version != 1 ? ctx.Fail(h.Start + 4, $"unsupported global heap version {version}") : Right<H5Fault, Unit>(unit)
            from reserved in h.Skip(3)
            from size in h.Len("global heap collection size")
            from body in ctx.At(address, size, "global heap collection")
            from charged in ctx.Charge(size, h.Start)
            // The collection header and each object header are padded to multiples of 8 bytes.
            from header in body.Skip(objHeader, "global heap header")
            select body;
        if (!collection.TryGet(out var c, out var fault)) return fault;
        var objects = new Dictionary<int, (long, long)>();
        while (c.Remaining >= objHeader)
        {
            if (!c.U16("heap object index").TryGet(out var index, out fault)
                || !c.U16().TryGet(out _, out fault) // reference count
                || !c.U32().TryGet(out _, out fault)
                || !c.Len("heap object size").TryGet(out var osize, out fault)
                || !c.Skip(objHeader - 8 - ctx.LengthSize).TryGet(out _, out fault))
                return fault;
            if (index == 0) break; // free space: the rest of the collection
            if (osize > c.Remaining) return ctx.Fail(c.Pos, "global heap object overruns its collection");
            objects.TryAdd(index, (c.Pos, osize));
            long padded = Align8(osize);
            if (!c.Skip(Math.Min(padded, c.Remaining)).TryGet(out _, out fault)) return fault;
        }
        return objects;
    }
}
