using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

/// <summary>
/// Writes numpy .npz archives: a zip of C-order little-endian .npy arrays (float32 <c>&lt;f4</c> or int32
/// <c>&lt;i4</c>, format 1.0), stored (numpy's <c>savez</c>) or deflated (<c>savez_compressed</c>). Any other
/// entry (e.g. a JSON document) can be added as raw bytes; <c>np.load</c> returns such an entry as <c>bytes</c>.
/// Entries get a fixed timestamp, so the same content gives the same file.
/// </summary>
public sealed class NpzWriter : IDisposable
{
    static readonly DateTimeOffset Epoch = new(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
    readonly ZipArchive zip;
    readonly CompressionLevel level;
    readonly System.Collections.Generic.HashSet<string> names = new(StringComparer.Ordinal);

    /// <summary>Writes to <paramref name="stream"/> (left open when <paramref name="leaveOpen"/>).</summary>
    public NpzWriter(Stream stream, bool compress = false, bool leaveOpen = false)
    {
        zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen, Encoding.UTF8);
        level = compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression;
    }

    /// <summary>Adds array <paramref name="name"/> (stored as <c>name.npy</c>) with float32 values.</summary>
    public void AddFloat32(string name, Tensor t) => AddFloat32(name, t.Shape.ToArray(), t.Span);

    public void AddFloat32(string name, int[] shape, ReadOnlySpan<float> values)
    {
        Check(shape, values.Length);
        var header = Npz.Header("<f4", shape);
        var bytes = new byte[header.Length + values.Length * 4];
        header.CopyTo(bytes, 0);
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(header.Length + i * 4), values[i]);
        AddBytes(name + ".npy", bytes);
    }

    /// <summary>Adds array <paramref name="name"/> (stored as <c>name.npy</c>) with int32 values.</summary>
    public void AddInt32(string name, int[] shape, ReadOnlySpan<int> values)
    {
        Check(shape, values.Length);
        var header = Npz.Header("<i4", shape);
        var bytes = new byte[header.Length + values.Length * 4];
        header.CopyTo(bytes, 0);
        for (var i = 0; i < values.Length; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(header.Length + i * 4), values[i]);
        AddBytes(name + ".npy", bytes);
    }

    /// <summary>Adds a raw entry under its full name (e.g. <c>structure.json</c>).</summary>
    public void AddBytes(string entryName, ReadOnlySpan<byte> bytes)
    {
        if (string.IsNullOrEmpty(entryName)) throw new ArgumentException("an npz entry needs a name");
        if (!names.Add(entryName)) throw new ArgumentException($"duplicate npz entry '{entryName}'");
        var entry = zip.CreateEntry(entryName, level);
        entry.LastWriteTime = Epoch;
        using var s = entry.Open();
        s.Write(bytes);
    }

    static void Check(int[] shape, int count)
    {
        if (shape.Any(d => d < 0) || shape.Aggregate(1L, (p, d) => p * d) != count)
            throw new ArgumentException($"shape ({string.Join(", ", shape)}) does not match {count} values");
    }

    public void Dispose() => zip.Dispose();
}

public static class Npz
{
    /// <summary>The .npy 1.0 header (magic, version, length, dict padded to 64 bytes) for a C-order array.</summary>
    public static byte[] Header(string descr, int[] shape)
    {
        var dims = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}";
        var total = 10 + dict.Length + 1;
        dict = dict + new string(' ', (64 - total % 64) % 64) + "\n";
        var bytes = new byte[10 + dict.Length];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        bytes[7] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)dict.Length);
        Encoding.ASCII.GetBytes(dict).CopyTo(bytes, 10);
        return bytes;
    }

    /// <summary>The archive <paramref name="path"/>, filled by <paramref name="fill"/>, as one part of an output (see <see cref="OutputFile"/>).</summary>
    public static OutputPart Part(string path, bool compress, Action<NpzWriter> fill) =>
        new(path, "the archive", stream =>
        {
            using var w = new NpzWriter(stream, compress, leaveOpen: true);
            fill(w);
        });

    /// <summary>Writes an archive to <paramref name="path"/> through <paramref name="fill"/> (see <see cref="OutputFile"/>).</summary>
    public static Either<Error, Unit> Write(string path, bool compress, Action<NpzWriter> fill) => OutputFile.Write(Part(path, compress, fill));
}
