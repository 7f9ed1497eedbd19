using System.Buffers.Binary;
using System.Text;

namespace Snn.Compiler.Hdf5;

/// <summary>
/// A malformed or unsupported structure found while parsing. Internal only: the public API
/// (<see cref="H5File"/> and friends) converts it to <c>Errors.Hdf5</c>.
/// </summary>
internal sealed class H5FormatException(long offset, string message) : Exception(message)
{
    /// <summary>Absolute byte offset in the file (user block included).</summary>
    public long Offset { get; } = offset;
}

/// <summary>Hard limits that keep hostile files from exhausting time or memory.</summary>
internal static class H5Limits
{
    /// <summary>Most bytes one dataset or attribute read may produce (decompressed/fill-expanded data included).</summary>
    public const long MaxDecodedBytesCap = 1L << 30;

    /// <summary>deflate cannot expand more than ~1032:1; a chunked read may produce at most this multiple of the file size.</summary>
    public const long MaxExpansionPerFileByte = 1040;

    /// <summary>Smallest budget for decoded bytes, so that tiny files with fill-value-only datasets still read.</summary>
    public const long MinDecodedBytes = 1L << 24;

    public const int MaxRank = 32;
    public const int MaxDatatypeDepth = 8;
    public const int MaxSoftLinkHops = 32;
    public const int MaxBTreeDepth = 64;
    public const int MaxFilters = 32;
    public const int MaxPathSegments = 256;
}

/// <summary>Per-file parse state: the bytes, the superblock facts, caches of decoded structures.</summary>
internal sealed class H5Context
{
    public const long Undefined = -1;

    public H5Context(byte[] data, string fileName)
    {
        Data = data;
        FileName = fileName;
        MaxDecodedBytes = Math.Min(H5Limits.MaxDecodedBytesCap,
            Math.Max(H5Limits.MinDecodedBytes, data.LongLength * H5Limits.MaxExpansionPerFileByte));
    }

    public byte[] Data { get; }
    public string FileName { get; }
    public long Length => Data.LongLength;

    /// <summary>Absolute offset of the superblock; every file address is relative to it.</summary>
    public long Base { get; set; }
    public int OffsetSize { get; set; } = 8;
    public int LengthSize { get; set; } = 8;
    public int SuperblockVersion { get; set; }
    public long RootAddress { get; set; }
    public long MaxDecodedBytes { get; }

    /// <summary>Last absolute offset a cursor was opened at: the best offset to report for unexpected faults.</summary>
    public long LastOffset { get; set; }

    public object Sync { get; } = new();
    public Dictionary<long, H5ObjectHeader> Headers { get; } = new();
    public Dictionary<long, Dictionary<string, H5Link>> LinkTables { get; } = new();
    public Dictionary<long, Dictionary<int, (long Start, long Length)>> GlobalHeaps { get; } = new();

    public H5FormatException Fail(long absOffset, string message) => new(absOffset, message);

    /// <summary>
    /// Metadata bytes a single public call may still parse. Every structure is charged as it is parsed, so
    /// overlapping or looping structures in a hostile file end in an error instead of quadratic work.
    /// </summary>
    public long Budget { get; private set; }

    public void ResetBudget() => Budget = 8 * Length + (1L << 20);

    public void Charge(long bytes, long absOffset)
    {
        Budget -= Math.Max(bytes, 1);
        if (Budget < 0)
            throw Fail(absOffset, "metadata walk exceeds its work budget (structures overlap or loop)");
    }

    /// <summary>Absolute offset of <paramref name="length"/> bytes at relative address <paramref name="address"/>; throws when outside the file.</summary>
    public long Abs(long address, long length, string what)
    {
        if (address == Undefined) throw Fail(LastOffset, $"{what} has an undefined address");
        if (address < 0 || length < 0) throw Fail(LastOffset, $"{what} has an invalid address or length");
        long abs = Base + address;
        if (abs < 0 || abs > Length || length > Length - abs)
            throw Fail(LastOffset, $"{what} at address {address} (+{length} bytes) lies outside the file ({Length} bytes)");
        return abs;
    }

    /// <summary>A cursor over <paramref name="length"/> bytes at relative address <paramref name="address"/>.</summary>
    public H5Cursor At(long address, long length, string what) => new(this, Abs(address, length, what), length);

    /// <summary>A cursor from relative address <paramref name="address"/> to the end of the file.</summary>
    public H5Cursor AtOpen(long address, string what)
    {
        long abs = Abs(address, 0, what);
        return new H5Cursor(this, abs, Length - abs);
    }

    public bool IsUndefined(ulong raw, int size) => size >= 8 ? raw == ulong.MaxValue : raw == (1UL << (size * 8)) - 1;
}

/// <summary>A bounds-checked little-endian reader over a window of the file.</summary>
internal sealed class H5Cursor
{
    private readonly H5Context _ctx;
    private readonly byte[] _data;

    public H5Cursor(H5Context ctx, long absStart, long length)
    {
        _ctx = ctx;
        _data = ctx.Data;
        if (absStart < 0 || length < 0 || absStart > _data.LongLength || length > _data.LongLength - absStart)
            throw ctx.Fail(absStart, "structure lies outside the file");
        Start = absStart;
        Pos = absStart;
        End = absStart + length;
        ctx.LastOffset = absStart;
    }

    public long Start { get; }
    public long Pos { get; private set; }
    public long End { get; }
    public long Remaining => End - Pos;
    public H5Context Context => _ctx;

    private void Need(long n, string what)
    {
        if (n < 0 || n > End - Pos)
            throw _ctx.Fail(Pos, $"truncated structure: {what} needs {n} bytes, {End - Pos} left");
    }

    public byte U8(string what = "field")
    {
        Need(1, what);
        return _data[Pos++];
    }

    public ushort U16(string what = "field")
    {
        Need(2, what);
        var v = BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan((int)Pos, 2));
        Pos += 2;
        return v;
    }

    public uint U32(string what = "field")
    {
        Need(4, what);
        var v = BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan((int)Pos, 4));
        Pos += 4;
        return v;
    }

    public ulong U64(string what = "field")
    {
        Need(8, what);
        var v = BinaryPrimitives.ReadUInt64LittleEndian(_data.AsSpan((int)Pos, 8));
        Pos += 8;
        return v;
    }

    /// <summary>An unsigned little-endian integer of 1..8 bytes.</summary>
    public ulong UInt(int size, string what = "field")
    {
        if (size < 1 || size > 8) throw _ctx.Fail(Pos, $"{what}: unsupported field width {size}");
        Need(size, what);
        ulong v = 0;
        for (int i = size - 1; i >= 0; i--) v = (v << 8) | _data[Pos + i];
        Pos += size;
        return v;
    }

    /// <summary>A file address (size of offsets); <see cref="H5Context.Undefined"/> for the all-ones value.</summary>
    public long Addr(string what = "address")
    {
        long at = Pos;
        ulong raw = UInt(_ctx.OffsetSize, what);
        if (_ctx.IsUndefined(raw, _ctx.OffsetSize)) return H5Context.Undefined;
        if (raw > (ulong)_ctx.Length) throw _ctx.Fail(at, $"{what} {raw} lies outside the file ({_ctx.Length} bytes)");
        return (long)raw;
    }

    /// <summary>A length (size of lengths), rejected when it cannot be a size inside this file's reach.</summary>
    public long Len(string what = "length")
    {
        long at = Pos;
        ulong raw = UInt(_ctx.LengthSize, what);
        if (raw > long.MaxValue / 2) throw _ctx.Fail(at, $"{what} {raw} is implausibly large");
        return (long)raw;
    }

    public void Skip(long n, string what = "field")
    {
        Need(n, what);
        Pos += n;
    }

    public void Seek(long absPos)
    {
        if (absPos < Start || absPos > End) throw _ctx.Fail(Pos, "seek outside structure");
        Pos = absPos;
    }

    public ReadOnlySpan<byte> Bytes(long n, string what = "bytes")
    {
        Need(n, what);
        var s = _data.AsSpan((int)Pos, (int)n);
        Pos += n;
        return s;
    }

    /// <summary>A sub-cursor over the next <paramref name="n"/> bytes; this cursor moves past them.</summary>
    public H5Cursor Sub(long n, string what = "structure")
    {
        Need(n, what);
        var c = new H5Cursor(_ctx, Pos, n);
        Pos += n;
        return c;
    }

    public void Expect(string signature)
    {
        long at = Pos;
        var got = Bytes(signature.Length, signature + " signature");
        for (int i = 0; i < signature.Length; i++)
            if (got[i] != (byte)signature[i])
                throw _ctx.Fail(at, $"expected signature '{signature}', found '{Printable(got)}'");
    }

    /// <summary>Skips padding so that the position is a multiple of <paramref name="alignment"/> relative to <paramref name="origin"/>.</summary>
    public void Align(long origin, int alignment)
    {
        long rel = Pos - origin;
        long pad = (alignment - rel % alignment) % alignment;
        Skip(Math.Min(pad, Remaining));
    }

    private static string Printable(ReadOnlySpan<byte> b)
    {
        var sb = new StringBuilder();
        foreach (var x in b) sb.Append(x is >= 32 and < 127 ? (char)x : '?');
        return sb.ToString();
    }
}

/// <summary>Bob Jenkins' lookup3 <c>hashlittle</c>, the checksum of HDF5 version-2 metadata (initial value 0).</summary>
internal static class Lookup3
{
    public static uint Hash(ReadOnlySpan<byte> key, uint initval = 0)
    {
        uint a, b, c;
        a = b = c = 0xdeadbeef + (uint)key.Length + initval;
        int i = 0, len = key.Length;
        while (len > 12)
        {
            a += BinaryPrimitives.ReadUInt32LittleEndian(key[i..]);
            b += BinaryPrimitives.ReadUInt32LittleEndian(key[(i + 4)..]);
            c += BinaryPrimitives.ReadUInt32LittleEndian(key[(i + 8)..]);
            Mix(ref a, ref b, ref c);
            i += 12;
            len -= 12;
        }
        if (len == 0) return c;
        Span<byte> tail = stackalloc byte[12];
        tail.Clear();
        key.Slice(i, len).CopyTo(tail);
        a += BinaryPrimitives.ReadUInt32LittleEndian(tail);
        b += BinaryPrimitives.ReadUInt32LittleEndian(tail[4..]);
        c += BinaryPrimitives.ReadUInt32LittleEndian(tail[8..]);
        Final(ref a, ref b, ref c);
        return c;
    }

    private static uint Rot(uint x, int k) => (x << k) | (x >> (32 - k));

    private static void Mix(ref uint a, ref uint b, ref uint c)
    {
        a -= c; a ^= Rot(c, 4); c += b;
        b -= a; b ^= Rot(a, 6); a += c;
        c -= b; c ^= Rot(b, 8); b += a;
        a -= c; a ^= Rot(c, 16); c += b;
        b -= a; b ^= Rot(a, 19); a += c;
        c -= b; c ^= Rot(b, 4); b += a;
    }

    private static void Final(ref uint a, ref uint b, ref uint c)
    {
        c ^= b; c -= Rot(b, 14);
        a ^= c; a -= Rot(c, 11);
        b ^= a; b -= Rot(a, 25);
        c ^= b; c -= Rot(b, 16);
        a ^= c; a -= Rot(c, 4);
        b ^= a; b -= Rot(a, 14);
        c ^= b; c -= Rot(b, 24);
    }

    /// <summary>Verifies the 4-byte little-endian checksum stored right after [absStart, absEnd).</summary>
    public static void Verify(H5Context ctx, long absStart, long absEnd, string what)
    {
        if (absStart < 0 || absEnd < absStart || absEnd > ctx.Length - 4)
            throw ctx.Fail(absStart, $"{what}: checksum lies outside the file");
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(ctx.Data.AsSpan((int)absEnd, 4));
        uint actual = Hash(ctx.Data.AsSpan((int)absStart, (int)(absEnd - absStart)));
        if (stored != actual)
            throw ctx.Fail(absEnd, $"{what}: checksum mismatch (stored 0x{stored:x8}, computed 0x{actual:x8})");
    }
}
