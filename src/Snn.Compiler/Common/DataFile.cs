using System.Buffers.Binary;
using System.IO.Compression;
using LanguageExt;
using LanguageExt.Common;

namespace Snn.Compiler;

/// <summary>An array read from a data file: its values as float32 and the element type it was stored as (numpy's name).</summary>
public sealed record DataArray(Tensor Values, string DType)
{
    /// <summary>Stored as 8-bit unsigned integers, as raw image pixels usually are (0..255).</summary>
    public bool Uint8 => DType == "uint8";
}

/// <summary>
/// Reads data arrays as float32 tensors from <c>.npy</c>, <c>.npz</c> (<c>file.npz</c> takes <c>arr_0</c> or the
/// only array; <c>file.npz:key</c> names one) and IDX files (raw or <c>.gz</c>, as MNIST and the Debian
/// Fashion-MNIST package ship them). Sizes are checked against the file; archives are read in memory.
/// </summary>
public static class DataFile
{
    /// <summary>Largest decompressed array we accept (4 GiB of float32 would not fit a .NET array anyway).</summary>
    public const long MaxBytes = 1L << 31;

    public static Either<Error, Tensor> Read(string spec) => ReadArray(spec).Map(a => a.Values);

    /// <summary>Reads <paramref name="spec"/> as <see cref="Read"/> does, with the element type the file stores.</summary>
    public static Either<Error, DataArray> ReadArray(string spec)
    {
        var (path, key) = Split(spec);
        try
        {
            if (Directory.Exists(path)) return Errors.Data(spec, IsDirectory);
            Error Fail(string why) => Errors.Data(spec, why);
            Either<Error, byte[]> Bytes() => InputFile.Read(path, MaxBytes, Fail);
            var lower = path.ToLowerInvariant();
            if (lower.EndsWith(".npz")) return InputFile.Check(path, MaxBytes, Fail).Bind(file => ReadNpz(file.FullName, key, spec));
            if (key is not null) return Errors.Data(spec, "':key' selects an array only inside .npz files");
            if (lower.EndsWith(".npy")) return Bytes().Bind(b => Npy.ReadArray(b, path));
            if (lower.EndsWith(".gz")) return Bytes().Bind(b => Gunzip(b, spec)).Bind(b => ReadIdxArray(b, spec));
            if (lower.Contains("ubyte") || lower.EndsWith(".idx") || IdxRx(lower)) return Bytes().Bind(b => ReadIdxArray(b, spec));
            if (!File.Exists(path)) return Fail("file not found");
            return Errors.Data(spec, "unknown data format (expected .npy, .npz, or an IDX file, raw or .gz)");
        }
        catch (IOException e) { return Errors.Data(spec, e.Message); }
        catch (UnauthorizedAccessException e) { return Errors.Data(spec, e.Message); }
        catch (InvalidDataException e) { return Errors.Data(spec, $"damaged archive ({e.Message})"); }
    }

    /// <summary>What a data option naming a folder is told.</summary>
    public const string IsDirectory = "it is a directory, not a data file (give a .npy, .npz or IDX file)";

    static bool IdxRx(string lower) => lower.EndsWith("idx1") || lower.EndsWith("idx3") || lower.Contains(".idx");

    static (string Path, string? Key) Split(string spec)
    {
        var i = spec.LastIndexOf(".npz:", StringComparison.OrdinalIgnoreCase);
        return i < 0 ? (spec, null) : (spec[..(i + 4)], spec[(i + 5)..]);
    }

    static Either<Error, DataArray> ReadNpz(string path, string? key, string spec)
    {
        using var stream = File.OpenRead(path);
        using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
        var arrays = zip.Entries.Where(e => e.FullName.EndsWith(".npy", StringComparison.Ordinal)).ToList();
        var names = arrays.Select(e => e.FullName[..^4]).ToList();
        var chosen = key is not null ? arrays.FirstOrDefault(e => e.FullName == key + ".npy")
            : arrays.Count == 1 ? arrays[0]
            : arrays.FirstOrDefault(e => e.FullName == "arr_0.npy");
        if (chosen is null)
            return Errors.Data(spec, key is not null
                ? $"no array '{key}' (it holds: {string.Join(", ", names)})"
                : $"holds several arrays ({string.Join(", ", names)}); choose one with {path}:NAME");
        return ReadBounded(chosen, spec).Bind(bytes => Npy.ReadArray(bytes, spec));
    }

    static Either<Error, byte[]> ReadBounded(ZipArchiveEntry entry, string spec)
    {
        if (entry.Length > MaxBytes) return Errors.Data(spec, $"'{entry.FullName}' is larger than {MaxBytes} bytes");
        using var s = entry.Open();
        return ReadLimited(s, entry.Length, spec);
    }

    static Either<Error, byte[]> Gunzip(byte[] gz, string spec)
    {
        using var s = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        return ReadLimited(s, MaxBytes, spec);
    }

    static Either<Error, byte[]> ReadLimited(Stream s, long limit, string spec)
    {
        using var m = new MemoryStream();
        var buffer = new byte[1 << 16];
        int read;
        while ((read = s.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (m.Length + read > limit) return Errors.Data(spec, "decompresses to more data than declared");
            m.Write(buffer, 0, read);
        }
        return m.ToArray();
    }

    public static Either<Error, Tensor> ReadIdx(byte[] b, string spec) => ReadIdxArray(b, spec).Map(a => a.Values);

    /// <summary>IDX: two zero bytes, a type code, the rank, big-endian int32 dims, then big-endian data.</summary>
    static Either<Error, DataArray> ReadIdxArray(byte[] b, string spec)
    {
        if (b.Length < 4 || b[0] != 0 || b[1] != 0) return Errors.Data(spec, "not an IDX file (bad magic number)");
        var type = b[2];
        var rank = b[3];
        var size = type switch { 0x08 or 0x09 => 1, 0x0B => 2, 0x0C or 0x0D => 4, 0x0E => 8, _ => 0 };
        if (size == 0) return Errors.Data(spec, $"unknown IDX element type 0x{type:X2}");
        if (rank == 0 || b.Length < 4 + 4 * rank) return Errors.Data(spec, "truncated IDX header");
        var dims = new int[rank];
        var start = 4 + 4 * rank;
        long count = 1;
        for (var d = 0; d < rank; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4 + 4 * d));
            if (dims[d] < 0) return Errors.Data(spec, "negative IDX dimension");
            count *= dims[d];
            // The data are the bytes after the header.
            if (count * size > b.Length - start)
                return Errors.Data(spec, $"truncated: the header promises {Shapes.Show(dims[..(d + 1)])}... values of {size} byte(s), the file holds {b.Length - start} bytes after its {start}-byte header");
        }
        if (count * size != b.Length - start)
            return Errors.Data(spec, $"the header promises {Shapes.Show(dims)} values of {size} byte(s) ({count * size} bytes), the file holds {b.Length - start} bytes after its {start}-byte header");
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            var s = b.AsSpan(start + i * size, size);
            values[i] = type switch
            {
                0x08 => s[0],
                0x09 => (sbyte)s[0],
                0x0B => BinaryPrimitives.ReadInt16BigEndian(s),
                0x0C => BinaryPrimitives.ReadInt32BigEndian(s),
                0x0D => BinaryPrimitives.ReadSingleBigEndian(s),
                _ => (float)BinaryPrimitives.ReadDoubleBigEndian(s),
            };
        }
        var dtype = type switch { 0x08 => "uint8", 0x09 => "int8", 0x0B => "int16", 0x0C => "int32", 0x0D => "float32", _ => "float64" };
        return new DataArray(Tensor.Own(dims, values), dtype);
    }
}
