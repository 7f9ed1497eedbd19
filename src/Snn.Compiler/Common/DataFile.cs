using System.Buffers.Binary;
using System.IO.Compression;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

/// <summary>An array read from a data file: its values as float32 and the element type it was stored as (numpy's name).</summary>
public sealed record DataArray(Tensor Values, string DType)
{
    /// <summary>Stored as 8-bit unsigned integers, as raw image pixels usually are (0..255).</summary>
    public bool Uint8 => DType == "uint8";
}

/// <summary>
/// What a data array may be, checked against what its file declares before anything is decoded or inflated: the memory
/// it may take (<see cref="Budget"/> bytes for the stored values and their float32 copy together) and, when given, the
/// shapes that fit (<see cref="Shape"/>: the model's input, with the same error a decoded array would get).
/// <see cref="Taken"/>: what the arrays read before it for the same run already hold.
/// </summary>
public sealed record DataLimits(long Budget, Func<int[], Either<Error, Unit>>? Shape = null, long Taken = 0)
{
    public static readonly DataLimits Default = new(MemoryBudget.DefaultBytes);
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
    public static Either<Error, DataArray> ReadArray(string spec) => ReadArray(spec, DataLimits.Default);

    /// <summary>
    /// <see cref="ReadArray(string)"/> within <paramref name="limits"/>: the shape and size an array declares (a .npy
    /// header, inside an .npz before its entry is inflated; an IDX header, before a .gz is inflated) are checked first,
    /// and inflating past what was declared is an error.
    /// </summary>
    public static Either<Error, DataArray> ReadArray(string spec, DataLimits limits)
    {
        var (path, key) = Split(spec);
        try
        {
            if (Directory.Exists(path)) return Errors.Data(spec, IsDirectory);
            Error Fail(string why) => Errors.Data(spec, why);
            Either<Error, Unit> Admit(int[] dims, int elementBytes) => Admitted(spec, dims, elementBytes, limits);
            Either<Error, byte[]> Bytes() => InputFile.Read(path, Math.Min(MaxBytes, Math.Max(1, limits.Budget - limits.Taken)), Fail);
            var lower = path.ToLowerInvariant();
            if (lower.EndsWith(".npz")) return InputFile.Check(path, MaxBytes, Fail).Bind(file => ReadNpz(file.FullName, key, spec, Admit));
            if (key is not null) return Errors.Data(spec, "':key' selects an array only inside .npz files");
            if (lower.EndsWith(".npy")) return Bytes().Bind(b => Npy.ReadArray(b, path, Admit));
            if (lower.EndsWith(".gz")) return Bytes().Bind(b => Gunzip(b, spec, Admit)).Bind(b => ReadIdxArray(b, spec, Admit));
            if (lower.Contains("ubyte") || lower.EndsWith(".idx") || IdxRx(lower)) return Bytes().Bind(b => ReadIdxArray(b, spec, Admit));
            if (!File.Exists(path)) return Fail("file not found");
            return Errors.Data(spec, "unknown data format (expected .npy, .npz, or an IDX file, raw or .gz)");
        }
        catch (IOException e) { return Errors.Data(spec, e.Message); }
        catch (UnauthorizedAccessException e) { return Errors.Data(spec, e.Message); }
        catch (InvalidDataException e) { return Errors.Data(spec, $"damaged archive ({e.Message})"); }
    }

    /// <summary>
    /// An array of shape <paramref name="dims"/> stored in <paramref name="elementBytes"/>-byte values, as its file declares
    /// it: refused when it does not fit the limits' shape, or when its stored bytes and its float32 copy together pass the
    /// budget (sizes multiplied with overflow checks).
    /// </summary>
    static Either<Error, Unit> Admitted(string spec, int[] dims, int elementBytes, DataLimits limits)
    {
        var fits = limits.Shape is { } shape ? shape(dims) : Right<Error, Unit>(unit);
        if (fits.IsLeft) return fits;
        var stored = MemoryBudget.Bytes(dims, elementBytes);
        var floats = MemoryBudget.Bytes(dims, sizeof(float));
        var needed = stored.IsSome && floats.IsSome ? MemoryBudget.Add((long)stored, (long)floats) : long.MaxValue;
        var total = MemoryBudget.Add(needed, limits.Taken);
        return total <= limits.Budget
            ? unit
            : Errors.Data(spec, $"it declares an array of shape {Shapes.Show(dims)} of {elementBytes}-byte values, which with their float32 copy need " +
                                (limits.Taken > 0 ? $"{MemoryBudget.Show(needed)}, and with the {MemoryBudget.Show(limits.Taken)} of the arrays read before it " : "") +
                                MemoryBudget.Over(total, limits.Budget));
    }

    /// <summary>What a data option naming a folder is told.</summary>
    public const string IsDirectory = "it is a directory, not a data file (give a .npy, .npz or IDX file)";

    static bool IdxRx(string lower) => lower.EndsWith("idx1") || lower.EndsWith("idx3") || lower.Contains(".idx");

    static (string Path, string? Key) Split(string spec)
    {
        var i = spec.LastIndexOf(".npz:", StringComparison.OrdinalIgnoreCase);
        return i < 0 ? (spec, null) : (spec[..(i + 4)], spec[(i + 5)..]);
    }

    static Either<Error, DataArray> ReadNpz(string path, string? key, string spec, Func<int[], int, Either<Error, Unit>> admit)
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
        if (chosen.Length > MaxBytes) return Errors.Data(spec, $"'{chosen.FullName}' is larger than {MaxBytes} bytes");
        // The entry's .npy header first: its shape and size are checked before the data is inflated, and the data may
        // inflate to exactly what the header declares.
        using var entry = chosen.Open();
        return from declared in Npy.Declared(entry, spec)
               from _ in admit(declared.Dims, declared.ElementBytes)
               from bytes in ReadExactly(entry, declared.Read, declared.Total, spec)
               from array in Npy.ReadArray(bytes, spec)
               select array;
    }

    /// <summary>
    /// The <paramref name="total"/> bytes of a decompressing stream whose first bytes (<paramref name="start"/>) were read:
    /// a stream that ends early is truncated, one that inflates past <paramref name="total"/> is refused at once.
    /// </summary>
    static Either<Error, byte[]> ReadExactly(Stream s, byte[] start, long total, string spec)
    {
        if (start.Length > total) return Errors.Data(spec, $"decompresses to more data than its header declares ({total} bytes)");
        if (total > MaxBytes) return Errors.Data(spec, $"its header declares {total} bytes, more than the {MaxBytes} a data file may hold");
        var bytes = new byte[total];
        start.CopyTo(bytes, 0);
        var read = start.Length;
        int n;
        while (read < total && (n = s.Read(bytes, read, (int)Math.Min(1 << 20, total - read))) > 0) read += n;
        if (read < total) return Errors.Data(spec, $"truncated: its header declares {total} bytes, the stream holds {read}");
        return s.ReadByte() < 0 ? bytes : Errors.Data(spec, $"decompresses to more data than its header declares ({total} bytes)");
    }

    /// <summary>A gzip IDX file: its header inflated and checked first, then exactly the values it declares.</summary>
    static Either<Error, byte[]> Gunzip(byte[] gz, string spec, Func<int[], int, Either<Error, Unit>> admit)
    {
        using var s = new GZipStream(new MemoryStream(gz), CompressionMode.Decompress);
        var start = new byte[4];
        var got = s.ReadAtLeast(start, 4, throwOnEndOfStream: false);
        if (got < 4) return Errors.Data(spec, "not an IDX file (bad magic number)");
        var header = new byte[4 + 4 * start[3]];
        start.CopyTo(header, 0);
        got += s.ReadAtLeast(header.AsSpan(4), header.Length - 4, throwOnEndOfStream: false);
        return from h in IdxHeader(header[..got], spec)
               from _ in admit(h.Dims, h.Size)
               from bytes in ReadExactly(s, header[..got], h.Start + (long)h.Size * h.Count, spec)
               select bytes;
    }

    public static Either<Error, Tensor> ReadIdx(byte[] b, string spec) => ReadIdxArray(b, spec, (_, _) => unit).Map(a => a.Values);

    /// <summary>An IDX header: the element type and size, the dims, where the data starts and how many values it declares.</summary>
    sealed record Idx(byte Type, int Size, int[] Dims, int Start, long Count);

    /// <summary>IDX: two zero bytes, a type code, the rank, big-endian int32 dims (then big-endian data).</summary>
    static Either<Error, Idx> IdxHeader(byte[] b, string spec)
    {
        if (b.Length < 4 || b[0] != 0 || b[1] != 0) return Errors.Data(spec, "not an IDX file (bad magic number)");
        var type = b[2];
        var rank = b[3];
        var size = type switch { 0x08 or 0x09 => 1, 0x0B => 2, 0x0C or 0x0D => 4, 0x0E => 8, _ => 0 };
        if (size == 0) return Errors.Data(spec, $"unknown IDX element type 0x{type:X2}");
        if (rank == 0 || b.Length < 4 + 4 * rank) return Errors.Data(spec, "truncated IDX header");
        var dims = new int[rank];
        long count = 1;
        for (var d = 0; d < rank; d++)
        {
            dims[d] = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4 + 4 * d));
            if (dims[d] < 0) return Errors.Data(spec, "negative IDX dimension");
            count = MemoryBudget.Times(count, dims[d]);
        }
        return new Idx(type, size, dims, 4 + 4 * rank, count);
    }

    /// <summary>An IDX file's array, its header checked by <paramref name="admit"/> before the values are decoded.</summary>
    static Either<Error, DataArray> ReadIdxArray(byte[] b, string spec, Func<int[], int, Either<Error, Unit>> admit) =>
        IdxHeader(b, spec).Bind(h =>
        {
            var (type, size, dims, start) = (h.Type, h.Size, h.Dims, h.Start);
            // The data are the bytes after the header.
            var declared = MemoryBudget.Times(h.Count, size);
            if (declared != b.Length - start)
                return Errors.Data(spec, declared > b.Length - start
                    ? $"truncated: the header promises {Shapes.Show(dims)} values of {size} byte(s) ({declared} bytes), the file holds {b.Length - start} bytes after its {start}-byte header"
                    : $"the header promises {Shapes.Show(dims)} values of {size} byte(s) ({declared} bytes), the file holds {b.Length - start} bytes after its {start}-byte header");
            return admit(dims, size).Bind(_ => Decode(b, h));
        });

    static Either<Error, DataArray> Decode(byte[] b, Idx h)
    {
        var (type, size, start) = (h.Type, h.Size, h.Start);
        var values = new float[h.Count];
        for (var i = 0; i < values.Length; i++)
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
        return new DataArray(Tensor.Own(h.Dims, values), dtype);
    }
}
