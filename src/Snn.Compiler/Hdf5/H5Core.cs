using System.Buffers.Binary;
using System.Text;
using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Hdf5;

/// <summary>
/// A malformed or unsupported structure found while parsing: its absolute byte offset (user block included) and what is
/// wrong. Every parse step returns its value or a fault (<c>Either&lt;H5Fault, T&gt;</c>); the public API
/// (<see cref="H5File"/> and friends) turns a fault into <c>Errors.Hdf5</c>, naming the object path.
/// </summary>
internal readonly record struct H5Fault(long Offset, string Message);

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

    /// <param name="maxMemory">The memory budget (<c>--max-memory</c>) for the file and all the data decoded from it.</param>
    public H5Context(byte[] data, string fileName, long maxMemory = long.MaxValue)
    {
        Data = data;
        FileName = fileName;
        MaxDecodedBytes = Math.Min(H5Limits.MaxDecodedBytesCap,
            Math.Max(H5Limits.MinDecodedBytes, data.LongLength * H5Limits.MaxExpansionPerFileByte));
        MaxMemory = maxMemory;
        DecodeLimit = Math.Min(MaxDecodedBytes, Math.Max(0, maxMemory - data.LongLength));
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

    /// <summary>The memory budget the file and its decoded data share (<c>--max-memory</c>).</summary>
    public long MaxMemory { get; }

    /// <summary>Most bytes of data the whole file may decode to: <see cref="MaxDecodedBytes"/>, or less to stay within <see cref="MaxMemory"/>.</summary>
    public long DecodeLimit { get; }

    /// <summary>Last absolute offset a cursor was opened at: the best offset to report for unexpected faults.</summary>
    public long LastOffset { get; set; }

    public object Sync { get; } = new();
    public Dictionary<long, H5ObjectHeader> Headers { get; } = new();
    public Dictionary<long, Dictionary<string, H5Link>> LinkTables { get; } = new();
    public Dictionary<long, Dictionary<int, (long Start, long Length)>> GlobalHeaps { get; } = new();

    public H5Fault Fail(long absOffset, string message) => new(absOffset, message);

    /// <summary>
    /// Metadata bytes a single public call may still parse. Every structure is charged as it is parsed, so
    /// overlapping or looping structures in a hostile file end in an error instead of quadratic work.
    /// </summary>
    public long Budget { get; private set; }

    public void ResetBudget() => Budget = 8 * Length + (1L << 20);

    long decoded, decodedStrings;

    /// <summary>
    /// Counts <paramref name="bytes"/> of data decoded from the file against a budget for the whole file (the per-read
    /// limit, <see cref="MaxDecodedBytes"/>, less when the memory budget leaves less beside the file): storage that many
    /// links, references or names share counts each time it is read, so a small file cannot make the reader
    /// materialize it hundreds of times.
    /// </summary>
    public Either<H5Fault, Unit> Decoded(long bytes, long absOffset)
    {
        if (DecodeLimit < MaxDecodedBytes && MemoryBudget.Add(decoded, bytes) > DecodeLimit)
            return Fail(absOffset, $"the data read from this file would reach {MemoryBudget.Add(decoded, bytes)} bytes; with the file's {Length} bytes that is " +
                MemoryBudget.Over(MemoryBudget.Add(MemoryBudget.Add(decoded, bytes), Length), MaxMemory));
        return Count(ref decoded, bytes, MaxDecodedBytes, absOffset, "the data read from this file",
            "storage shared by several links or references counts each time it is read");
    }

    /// <summary>The most bytes of variable-length strings the whole file may decode to: a few times the file, plus 16 MiB.</summary>
    public long MaxStringBytes => 4 * Length + (1L << 24);

    /// <summary>Like <see cref="Decoded"/>, for variable-length strings (names and metadata, never large in a real file).</summary>
    public Either<H5Fault, Unit> DecodedStrings(long bytes, long absOffset) =>
        Count(ref decodedStrings, bytes, MaxStringBytes, absOffset, "variable-length strings read from this file",
            "strings that share heap storage count each time they are read");

    Either<H5Fault, Unit> Count(ref long total, long bytes, long limit, long absOffset, string what, string why)
    {
        total += bytes;
        return total > limit
            ? Fail(absOffset, $"{what} would reach {total} bytes, over the limit of {limit} bytes for a file of {Length} bytes ({why})")
            : unit;
    }

    public Either<H5Fault, Unit> Charge(long bytes, long absOffset)
    {
        Budget -= Math.Max(bytes, 1);
        if (Budget < 0) return Fail(absOffset, "metadata walk exceeds its work budget (structures overlap or loop)");
        return unit;
    }

    /// <summary>Absolute offset of <paramref name="length"/> bytes at relative address <paramref name="address"/>; a fault when outside the file.</summary>
    public Either<H5Fault, long> Abs(long address, long length, string what)
    {
        if (address == Undefined) return Fail(LastOffset, $"{what} has an undefined address");
        if (address < 0 || length < 0) return Fail(LastOffset, $"{what} has an invalid address or length");
        long abs = Base + address;
        if (abs < 0 || abs > Length || length > Length - abs)
            return Fail(LastOffset, $"{what} at address {address} (+{length} bytes) lies outside the file ({Length} bytes)");
        return abs;
    }

    /// <summary>A cursor over <paramref name="length"/> bytes at relative address <paramref name="address"/>.</summary>
    public Either<H5Fault, H5Cursor> At(long address, long length, string what) =>
        Abs(address, length, what).Bind(abs => H5Cursor.Over(this, abs, length));

    /// <summary>A cursor from relative address <paramref name="address"/> to the end of the file.</summary>
    public Either<H5Fault, H5Cursor> AtOpen(long address, string what) =>
        Abs(address, 0, what).Bind(abs => H5Cursor.Over(this, abs, Length - abs));

    public bool IsUndefined(ulong raw, int size) => size >= 8 ? raw == ulong.MaxValue : raw == (1UL << (size * 8)) - 1;
}

/// <summary>
/// A bounds-checked little-endian reader over a window of the file. Each read returns the value and moves on, or
/// returns the fault (naming the field) and stays where it is.
/// </summary>
internal sealed class H5Cursor
{
    private readonly H5Context _ctx;
    private readonly byte[] _data;

    private H5Cursor(H5Context ctx, long absStart, long length)
    {
        _ctx = ctx;
        _data = ctx.Data;
        Start = absStart;
        Pos = absStart;
        End = absStart + length;
        ctx.LastOffset = absStart;
    }

    /// <summary>A cursor over <paramref name="length"/> bytes at absolute offset <paramref name="absStart"/>; a fault when outside the file.</summary>
    public static Either<H5Fault, H5Cursor> Over(H5Context ctx, long absStart, long length)
    {
        if (absStart < 0 || length < 0 || absStart > ctx.Data.LongLength || length > ctx.Data.LongLength - absStart)
            return ctx.Fail(absStart, "structure lies outside the file");
        return new H5Cursor(ctx, absStart, length);
    }

    public long Start { get; }
    public long Pos { get; private set; }
    public long End { get; }
    public long Remaining => End - Pos;
    public H5Context Context => _ctx;

    /// <summary>The fault when fewer than <paramref name="n"/> bytes are left.</summary>
    private H5Fault? Short(long n, string what) =>
        n < 0 || n > End - Pos ? _ctx.Fail(Pos, $"truncated structure: {what} needs {n} bytes, {End - Pos} left") : null;

    public Either<H5Fault, byte> U8(string what = "field")
    {
        if (Short(1, what) is { } fault) return fault;
        return _data[Pos++];
    }

    public Either<H5Fault, ushort> U16(string what = "field")
    {
        if (Short(2, what) is { } fault) return fault;
        var v = BinaryPrimitives.ReadUInt16LittleEndian(_data.AsSpan((int)Pos, 2));
        Pos += 2;
        return v;
    }

    public Either<H5Fault, uint> U32(string what = "field")
    {
        if (Short(4, what) is { } fault) return fault;
        var v = BinaryPrimitives.ReadUInt32LittleEndian(_data.AsSpan((int)Pos, 4));
        Pos += 4;
        return v;
    }

    public Either<H5Fault, ulong> U64(string what = "field")
    {
        if (Short(8, what) is { } fault) return fault;
        var v = BinaryPrimitives.ReadUInt64LittleEndian(_data.AsSpan((int)Pos, 8));
        Pos += 8;
        return v;
    }

    /// <summary>An unsigned little-endian integer of 1..8 bytes.</summary>
    public Either<H5Fault, ulong> UInt(int size, string what = "field")
    {
        if (size < 1 || size > 8) return _ctx.Fail(Pos, $"{what}: unsupported field width {size}");
        if (Short(size, what) is { } fault) return fault;
        ulong v = 0;
        for (int i = size - 1; i >= 0; i--) v = (v << 8) | _data[Pos + i];
        Pos += size;
        return v;
    }

    /// <summary>A file address (size of offsets); <see cref="H5Context.Undefined"/> for the all-ones value.</summary>
    public Either<H5Fault, long> Addr(string what = "address")
    {
        long at = Pos;
        if (!UInt(_ctx.OffsetSize, what).TryGet(out var raw, out var fault)) return fault;
        if (_ctx.IsUndefined(raw, _ctx.OffsetSize)) return H5Context.Undefined;
        if (raw > (ulong)_ctx.Length) return _ctx.Fail(at, $"{what} {raw} lies outside the file ({_ctx.Length} bytes)");
        return (long)raw;
    }

    /// <summary>A length (size of lengths), rejected when it cannot be a size inside this file's reach.</summary>
    public Either<H5Fault, long> Len(string what = "length")
    {
        long at = Pos;
        if (!UInt(_ctx.LengthSize, what).TryGet(out var raw, out var fault)) return fault;
        if (raw > long.MaxValue / 2) return _ctx.Fail(at, $"{what} {raw} is implausibly large");
        return (long)raw;
    }

    public Either<H5Fault, Unit> Skip(long n, string what = "field")
    {
        if (Short(n, what) is { } fault) return fault;
        Pos += n;
        return unit;
    }

    /// <summary>The next <paramref name="n"/> bytes (a view of the file, not a copy).</summary>
    public Either<H5Fault, ReadOnlyMemory<byte>> Bytes(long n, string what = "bytes")
    {
        if (Short(n, what) is { } fault) return fault;
        ReadOnlyMemory<byte> s = _data.AsMemory((int)Pos, (int)n);
        Pos += n;
        return s;
    }

    /// <summary>A sub-cursor over the next <paramref name="n"/> bytes; this cursor moves past them.</summary>
    public Either<H5Fault, H5Cursor> Sub(long n, string what = "structure")
    {
        if (Short(n, what) is { } fault) return fault;
        if (!Over(_ctx, Pos, n).TryGet(out var c, out fault)) return fault;
        Pos += n;
        return c;
    }

    public Either<H5Fault, Unit> Expect(string signature)
    {
        long at = Pos;
        if (!Bytes(signature.Length, signature + " signature").TryGet(out var got, out var fault)) return fault;
        var span = got.Span;
        for (int i = 0; i < signature.Length; i++)
            if (span[i] != (byte)signature[i])
                return _ctx.Fail(at, $"expected signature '{signature}', found '{Printable(span)}'");
        return unit;
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
    public static Either<H5Fault, Unit> Verify(H5Context ctx, long absStart, long absEnd, string what)
    {
        if (absStart < 0 || absEnd < absStart || absEnd > ctx.Length - 4)
            return ctx.Fail(absStart, $"{what}: checksum lies outside the file");
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(ctx.Data.AsSpan((int)absEnd, 4));
        uint actual = Hash(ctx.Data.AsSpan((int)absStart, (int)(absEnd - absStart)));
        if (stored != actual)
            return ctx.Fail(absEnd, $"{what}: checksum mismatch (stored 0x{stored:x8}, computed 0x{actual:x8})");
        return unit;
    }
}
