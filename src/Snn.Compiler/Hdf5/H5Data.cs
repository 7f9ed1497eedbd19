using System.Buffers.Binary;
using System.IO.Compression;

namespace Snn.Compiler.Hdf5;

/// <summary>Everything needed to read a dataset's values, decoded from its object header.</summary>
internal sealed class H5DatasetInfo
{
    private H5DatasetInfo(H5Dataspace space, H5Datatype type, H5Layout layout, List<H5Filter> filters, byte[]? fill, long at)
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
    public byte[]? Fill { get; }

    /// <summary>Absolute offset of the object header, for error messages.</summary>
    public long At { get; }

    public static H5DatasetInfo Load(H5Context ctx, H5ObjectHeader header)
    {
        long at = ctx.Base + header.Address;
        var space = H5Decode.Dataspace(ctx, header, at);
        var type = H5Decode.Datatype(ctx, header, at);
        var lm = header.First(H5Message.Layout) ?? throw ctx.Fail(at, "dataset has no layout message");
        if (lm.IsShared) throw ctx.Fail(lm.Offset, "shared layout messages are not supported");
        var layout = H5Layout.Decode(lm.Body(ctx));
        var filters = header.First(H5Message.FilterPipeline) is { } fm
            ? (fm.IsShared ? throw ctx.Fail(fm.Offset, "shared filter pipeline messages are not supported") : H5Filter.DecodePipeline(fm.Body(ctx)))
            : [];
        if (header.Has(H5Message.ExternalFiles)) throw ctx.Fail(at, "external raw data storage is not supported");
        return new H5DatasetInfo(space, type, layout, filters, H5Decode.FillValue(ctx, header), at);
    }
}

/// <summary>Reads the raw (file-order, row-major) bytes of datasets and attributes.</summary>
internal static class H5RawData
{
    private readonly record struct Chunk(long[] Offset, long Address, long Size, uint FilterMask, long At);

    /// <summary>Number of bytes <paramref name="count"/> elements of <paramref name="elementSize"/> take, bounded by the file's budget.</summary>
    public static long CheckedBytes(H5Context ctx, long count, int elementSize, long at)
    {
        if (count == 0) return 0;
        if (elementSize <= 0) throw ctx.Fail(at, $"datatype size {elementSize} is invalid");
        // Both the raw bytes and the converted output (up to 8 bytes per element) must stay within the limit.
        if (count > ctx.MaxDecodedBytes / Math.Max(elementSize, 8))
            throw ctx.Fail(at, $"data of {count} elements x {elementSize} bytes exceeds the read limit of {ctx.MaxDecodedBytes} bytes");
        return count * elementSize;
    }

    public static byte[] Read(H5Context ctx, H5DatasetInfo info)
    {
        long at = info.At;
        long count = info.Space.Count(ctx, at);
        int es = info.Type.Size;
        long total = CheckedBytes(ctx, count, es, at);
        if (total == 0) return [];
        var layout = info.Layout;
        switch (layout.Class)
        {
            case H5Layout.Compact:
            {
                if (total > layout.CompactSize)
                    throw ctx.Fail(layout.CompactOffset, $"compact data holds {layout.CompactSize} bytes, dataset needs {total}");
                return ctx.Data.AsSpan((int)layout.CompactOffset, (int)total).ToArray();
            }
            case H5Layout.Contiguous:
            {
                if (layout.Address == H5Context.Undefined) return Filled(total, info.Fill, es);
                if (layout.Size >= 0 && layout.Size < total)
                    throw ctx.Fail(at, $"contiguous storage holds {layout.Size} bytes, dataset needs {total}");
                long abs = ctx.Abs(layout.Address, total, "contiguous raw data");
                return ctx.Data.AsSpan((int)abs, (int)total).ToArray();
            }
            case H5Layout.Chunked:
                return ReadChunked(ctx, info, total);
            default:
                throw ctx.Fail(at, $"layout class {layout.Class} is not supported");
        }
    }

    private static byte[] Filled(long total, byte[]? fill, int es)
    {
        var buf = new byte[total];
        if (fill is { Length: > 0 } && fill.Length == es && fill.AsSpan().IndexOfAnyExcept((byte)0) >= 0)
            for (long i = 0; i < total; i += es) fill.CopyTo(buf, (int)i);
        return buf;
    }

    private static byte[] ReadChunked(H5Context ctx, H5DatasetInfo info, long total)
    {
        long at = info.At;
        var layout = info.Layout;
        int rank = info.Space.Rank;
        int es = info.Type.Size;
        if (rank == 0) throw ctx.Fail(at, "chunked layout with a scalar dataspace");
        if (layout.ChunkDims.Length != rank + 1)
            throw ctx.Fail(at, $"chunk dimensionality {layout.ChunkDims.Length} does not match dataspace rank {rank} + 1");
        if (layout.ChunkDims[rank] != es)
            throw ctx.Fail(at, $"chunk element size {layout.ChunkDims[rank]} differs from the datatype size {es}");
        var dims = info.Space.Dims;
        var chunk = layout.ChunkDims[..rank];
        long chunkElems = 1, grid = 1;
        for (int i = 0; i < rank; i++)
        {
            if (chunk[i] < 1) throw ctx.Fail(at, "chunk dimension 0");
            chunkElems = checked(chunkElems * chunk[i]);
            grid = checked(grid * ((dims[i] + chunk[i] - 1) / chunk[i]));
            if (chunkElems > ctx.MaxDecodedBytes) throw ctx.Fail(at, "chunk too large");
        }
        long chunkBytes = CheckedBytes(ctx, chunkElems, es, at);
        if (grid > ctx.MaxDecodedBytes / chunkBytes)
            throw ctx.Fail(at, $"{grid} chunks of {chunkBytes} bytes exceed the read limit of {ctx.MaxDecodedBytes} bytes");

        var output = Filled(total, info.Fill, es);
        var done = new HashSet<long>();
        foreach (var ch in Chunks(ctx, info, rank, chunk, dims, grid, chunkBytes))
        {
            bool inside = true;
            for (int i = 0; i < rank; i++)
            {
                if (ch.Offset[i] < 0 || ch.Offset[i] % chunk[i] != 0)
                    throw ctx.Fail(ch.At, $"chunk offset {ch.Offset[i]} is not a multiple of the chunk size {chunk[i]}");
                if (ch.Offset[i] >= dims[i]) inside = false;
            }
            if (!inside) continue; // chunks beyond the current extent are ignored, as the library does
            long linear = 0;
            for (int i = 0; i < rank; i++) linear = linear * ((dims[i] + chunk[i] - 1) / chunk[i]) + ch.Offset[i] / chunk[i];
            if (!done.Add(linear)) throw ctx.Fail(ch.At, "the same chunk is stored twice");
            var data = DecodeChunk(ctx, info, ch, chunkBytes);
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

    private static IEnumerable<Chunk> Chunks(H5Context ctx, H5DatasetInfo info, int rank, long[] chunk, long[] dims, long grid, long chunkBytes)
    {
        var layout = info.Layout;
        if (layout.Address == H5Context.Undefined) return [];
        return layout.IndexType switch
        {
            0 => BTreeChunks(ctx, layout.Address, rank),
            1 => [new Chunk(new long[rank], layout.Address,
                (layout.Flags & 2) != 0 ? layout.SingleChunkFilteredSize : chunkBytes,
                (layout.Flags & 2) != 0 ? layout.SingleChunkFilterMask : 0, info.At)],
            2 => ImplicitChunks(ctx, info, rank, chunk, dims, grid, chunkBytes),
            3 => FixedArrayChunks(ctx, layout.Address, rank, chunk, dims, grid, chunkBytes, info.Filters.Count > 0),
            _ => throw ctx.Fail(info.At, $"chunked dataset with {H5Layout.IndexName(layout.IndexType)} is not supported"),
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

    private static IEnumerable<Chunk> ImplicitChunks(H5Context ctx, H5DatasetInfo info, int rank, long[] chunk, long[] dims, long grid, long chunkBytes)
    {
        if (info.Filters.Count > 0) throw ctx.Fail(info.At, "implicit chunk index with filters");
        ctx.Abs(info.Layout.Address, checked(grid * chunkBytes), "implicitly indexed chunks");
        for (long i = 0; i < grid; i++)
            yield return new Chunk(OffsetOf(i, rank, chunk, dims), info.Layout.Address + i * chunkBytes, chunkBytes, 0, info.At);
    }

    private static IEnumerable<Chunk> BTreeChunks(H5Context ctx, long root, int rank)
    {
        int keySize = 8 + 8 * (rank + 1);
        var seen = new HashSet<long>();
        var stack = new Stack<(long Address, int Expected)>();
        stack.Push((root, -1));
        while (stack.Count > 0)
        {
            var (addr, expected) = stack.Pop();
            if (!seen.Add(addr)) throw ctx.Fail(ctx.Base + addr, "chunk B-tree nodes form a cycle");
            var node = BTreeV1.Read(ctx, addr, nodeType: 1, keySize);
            if (expected >= 0 && node.Level != expected)
                throw ctx.Fail(node.AbsOffset, $"chunk B-tree node level {node.Level}, expected {expected}");
            if (node.Level > H5Limits.MaxBTreeDepth) throw ctx.Fail(node.AbsOffset, "chunk B-tree too deep");
            if (node.Level > 0)
            {
                for (int i = node.Children.Length - 1; i >= 0; i--) stack.Push((node.Children[i], node.Level - 1));
                continue;
            }
            for (int i = 0; i < node.Children.Length; i++)
            {
                var k = new H5Cursor(ctx, node.KeyOffsets[i], keySize);
                long size = k.U32("chunk size");
                uint mask = k.U32("filter mask");
                var off = new long[rank];
                for (int d = 0; d < rank; d++)
                {
                    ulong o = k.U64("chunk offset");
                    if (o > long.MaxValue / 2) throw ctx.Fail(node.KeyOffsets[i], "chunk offset too large");
                    off[d] = (long)o;
                }
                yield return new Chunk(off, node.Children[i], size, mask, node.KeyOffsets[i]);
            }
        }
    }

    private static IEnumerable<Chunk> FixedArrayChunks(H5Context ctx, long headerAddress, int rank, long[] chunk, long[] dims,
        long grid, long chunkBytes, bool filtered)
    {
        var h = ctx.AtOpen(headerAddress, "fixed array header");
        long habs = h.Start;
        h.Expect("FAHD");
        int version = h.U8("fixed array version");
        if (version != 0) throw ctx.Fail(habs + 4, $"unsupported fixed array version {version}");
        int client = h.U8("fixed array client id");
        int entrySize = h.U8("fixed array entry size");
        int pageBits = h.U8("fixed array page bits");
        long entries = h.Len("fixed array entry count");
        long dblock = h.Addr("fixed array data block address");
        Lookup3.Verify(ctx, habs, h.Pos, "fixed array header");
        ctx.Charge(h.Pos - habs + 4, habs);
        int o = ctx.OffsetSize;
        if (client != (filtered ? 1 : 0)) throw ctx.Fail(habs + 5, $"fixed array client id {client} does not match the filter pipeline");
        if (filtered ? entrySize < o + 5 || entrySize > o + 12 : entrySize != o)
            throw ctx.Fail(habs + 6, $"fixed array entry size {entrySize} invalid");
        if (pageBits is < 1 or > 31) throw ctx.Fail(habs + 7, $"fixed array page bits {pageBits} invalid");
        if (entries < 0 || entries > grid) throw ctx.Fail(habs, $"fixed array holds {entries} entries for {grid} chunks");
        if (dblock == H5Context.Undefined) yield break;

        long dsize = checked(entries * entrySize);
        var d = ctx.AtOpen(dblock, "fixed array data block");
        long dabs = d.Start;
        d.Expect("FADB");
        if (d.U8("fixed array data block version") != 0) throw ctx.Fail(dabs + 4, "unsupported fixed array data block version");
        if (d.U8("fixed array data block client id") != client) throw ctx.Fail(dabs + 5, "fixed array data block client id mismatch");
        if (d.Addr("fixed array header address") != headerAddress) throw ctx.Fail(dabs + 6, "fixed array data block points at another header");
        long pageSize = 1L << pageBits;
        if (entries <= pageSize)
        {
            if (dsize > d.Remaining - 4) throw ctx.Fail(dabs, "fixed array data block overruns the file");
            long elems = d.Pos;
            Lookup3.Verify(ctx, dabs, elems + dsize, "fixed array data block");
            ctx.Charge(elems + dsize - dabs, dabs);
            for (long i = 0; i < entries; i++)
                if (Entry(ctx, elems + i * entrySize, entrySize, filtered, chunkBytes, i, rank, chunk, dims) is { } c) yield return c;
            yield break;
        }
        long pages = (entries + pageSize - 1) / pageSize;
        var bitmap = d.Bytes((pages + 7) / 8, "fixed array page bitmap").ToArray();
        Lookup3.Verify(ctx, dabs, d.Pos, "fixed array data block");
        long pageAbs = d.Pos + 4;
        for (long p = 0; p < pages; p++)
        {
            long n = Math.Min(pageSize, entries - p * pageSize);
            long bytes = n * entrySize;
            bool initialised = (bitmap[p / 8] & (0x80 >> (int)(p % 8))) != 0;
            if (initialised)
            {
                if (pageAbs < 0 || pageAbs > ctx.Length || bytes + 4 > ctx.Length - pageAbs)
                    throw ctx.Fail(pageAbs, "fixed array page overruns the file");
                Lookup3.Verify(ctx, pageAbs, pageAbs + bytes, "fixed array data block page");
                ctx.Charge(bytes + 4, pageAbs);
                for (long i = 0; i < n; i++)
                    if (Entry(ctx, pageAbs + i * entrySize, entrySize, filtered, chunkBytes, p * pageSize + i, rank, chunk, dims) is { } c)
                        yield return c;
            }
            pageAbs += bytes + 4;
        }
    }

    private static Chunk? Entry(H5Context ctx, long abs, int entrySize, bool filtered, long chunkBytes, long index, int rank, long[] chunk, long[] dims)
    {
        var c = new H5Cursor(ctx, abs, entrySize);
        long address = c.Addr("chunk address");
        if (address == H5Context.Undefined) return null;
        long size = chunkBytes;
        uint mask = 0;
        if (filtered)
        {
            size = (long)c.UInt(entrySize - ctx.OffsetSize - 4, "filtered chunk size");
            mask = c.U32("filter mask");
        }
        return new Chunk(OffsetOf(index, rank, chunk, dims), address, size, mask, abs);
    }

    private static byte[] DecodeChunk(H5Context ctx, H5DatasetInfo info, Chunk ch, long chunkBytes)
    {
        long abs = ctx.Abs(ch.Address, ch.Size, "chunk");
        var filters = info.Filters;
        if (filters.Count == 0)
        {
            if (ch.Size < chunkBytes) throw ctx.Fail(abs, $"chunk holds {ch.Size} bytes, expected {chunkBytes}");
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
            data = f.Id switch
            {
                H5Filter.Deflate => Inflate(ctx, data, inSize[k], abs),
                H5Filter.Shuffle => Unshuffle(data, f.ClientData.Length > 0 && f.ClientData[0] > 0 ? (int)Math.Min(f.ClientData[0], 1u << 20) : info.Type.Size),
                H5Filter.Fletcher32 => data.Length >= 4 ? data[..^4] : throw ctx.Fail(abs, "fletcher32 chunk shorter than its checksum"),
                _ => throw ctx.Fail(abs, $"filter {f.Id}{(f.Name.Length > 0 ? $" ({f.Name})" : "")} is not supported"),
            };
        }
        if (data.Length != chunkBytes)
            throw ctx.Fail(abs, $"chunk decodes to {data.Length} bytes, expected {chunkBytes}");
        return data;
    }

    private static byte[] Inflate(H5Context ctx, byte[] input, long expected, long at)
    {
        var output = new byte[expected];
        try
        {
            using var z = new ZLibStream(new MemoryStream(input, writable: false), CompressionMode.Decompress);
            int got = z.ReadAtLeast(output, output.Length, throwOnEndOfStream: false);
            if (got != output.Length) throw ctx.Fail(at, $"deflate chunk decodes to {got} bytes, expected {expected}");
            Span<byte> extra = stackalloc byte[1];
            if (z.Read(extra) != 0) throw ctx.Fail(at, $"deflate chunk decodes to more than the expected {expected} bytes");
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            throw ctx.Fail(at, $"corrupt deflate stream: {e.Message}");
        }
        return output;
    }

    private static byte[] Unshuffle(byte[] input, int es)
    {
        if (es <= 1 || input.Length < es) return input;
        int n = input.Length / es;
        var output = new byte[input.Length];
        for (int b = 0; b < es; b++)
        {
            int src = b * n;
            for (int i = 0; i < n; i++) output[i * es + b] = input[src + i];
        }
        Array.Copy(input, n * es, output, n * es, input.Length - n * es);
        return output;
    }
}

/// <summary>Global heap collections (GCOL) holding variable-length data.</summary>
internal static class H5GlobalHeap
{
    public static ReadOnlySpan<byte> Object(H5Context ctx, long collection, int index, long at)
    {
        if (!ctx.GlobalHeaps.TryGetValue(collection, out var objects))
        {
            objects = Parse(ctx, collection);
            ctx.GlobalHeaps[collection] = objects;
        }
        if (!objects.TryGetValue(index, out var o))
            throw ctx.Fail(at, $"global heap object {index} not found in collection at address {collection}");
        return ctx.Data.AsSpan((int)o.Start, (int)o.Length);
    }

    private static long Align8(long n) => (n + 7) & ~7L;

    private static Dictionary<int, (long, long)> Parse(H5Context ctx, long address)
    {
        var h = ctx.AtOpen(address, "global heap collection");
        long abs = h.Start;
        h.Expect("GCOL");
        int version = h.U8("global heap version");
        if (version != 1) throw ctx.Fail(abs + 4, $"unsupported global heap version {version}");
        h.Skip(3);
        long size = h.Len("global heap collection size");
        var c = ctx.At(address, size, "global heap collection");
        ctx.Charge(size, abs);
        // The collection header and each object header are padded to multiples of 8 bytes.
        c.Skip(Align8(8 + ctx.LengthSize), "global heap header");
        var objects = new Dictionary<int, (long, long)>();
        long objHeader = Align8(8 + ctx.LengthSize);
        while (c.Remaining >= objHeader)
        {
            int index = c.U16("heap object index");
            c.U16(); // reference count
            c.U32();
            long osize = c.Len("heap object size");
            c.Skip(objHeader - 8 - ctx.LengthSize);
            if (index == 0) break; // free space: the rest of the collection
            if (osize > c.Remaining) throw ctx.Fail(c.Pos, "global heap object overruns its collection");
            objects.TryAdd(index, (c.Pos, osize));
            long padded = Align8(osize);
            c.Skip(Math.Min(padded, c.Remaining));
        }
        return objects;
    }
}
