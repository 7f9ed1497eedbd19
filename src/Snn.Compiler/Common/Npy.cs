using System.Buffers.Binary;
using System.Text;
using System.Text.RegularExpressions;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

/// <summary>
/// numpy .npy files (format 1.0-3.0), C order. Reads bool, (u)int8/16/32/64, float16/32/64 in either
/// byte order into a float32 tensor; writes float32. Sizes in the header are checked against the file.
/// </summary>
public static partial class Npy
{
    const int MaxHeader = 1 << 16;

    public static Either<Error, Tensor> Read(string path)
    {
        if (Directory.Exists(path)) return Errors.Data(path, DataFile.IsDirectory);
        return InputFile.Read(path, DataFile.MaxBytes, why => Errors.Data(path, why)).Bind(bytes => Read(bytes, path));
    }

    /// <summary>A parsed .npy header: dtype (e.g. <c>&lt;f4</c>), dimensions, where the data starts and how many values it holds.</summary>
    sealed record Header(char Order, char Kind, int Size, int[] Dims, int DataStart, long Count);

    static Either<Error, Header> ReadHeader(byte[] bytes, string source) =>
        ParseHeader(bytes, source).Bind(h => bytes.Length - h.DataStart < h.Count * h.Size
            ? Left<Error, Header>(Errors.Data(source, $"truncated: the header promises {h.Count * h.Size} data bytes for shape ({string.Join(", ", h.Dims)}), the file has {bytes.Length - h.DataStart}"))
            : Right<Error, Header>(h));

    /// <summary>
    /// A .npy stream's header, read from its first bytes only (the magic, the version, the header length and the header):
    /// the bytes read (the header, perhaps the first data bytes), the shape and element size the header declares and the
    /// whole size it implies (header and data), so that a caller can check them before it reads (or inflates) the data.
    /// </summary>
    public static Either<Error, (byte[] Read, int[] Dims, int ElementBytes, long Total)> Declared(Stream stream, string source)
    {
        var start = ReadUpTo(stream, 12);
        if (start.Length < 10) return Errors.Data(source, "not a .npy file (missing the \\x93NUMPY magic)");
        var length = start[6] switch
        {
            1 => 10 + (long)BinaryPrimitives.ReadUInt16LittleEndian(start.AsSpan(8)),
            2 or 3 when start.Length == 12 => 12 + (long)BinaryPrimitives.ReadUInt32LittleEndian(start.AsSpan(8)),
            _ => start.Length,
        };
        if (length - 12 > MaxHeader) return Errors.Data(source, $"header of {length - 12} bytes is too large");
        var prefix = length <= start.Length ? start[..(int)length] : start.Concat(ReadUpTo(stream, (int)length - start.Length)).ToArray();
        var rest = start.Length > length ? start[(int)length..] : System.Array.Empty<byte>();
        return ParseHeader(prefix, source).Map(h => (prefix.Concat(rest).ToArray(), h.Dims, h.Size, h.DataStart + h.Count * h.Size));
    }

    /// <summary>Up to <paramref name="count"/> bytes of <paramref name="stream"/> (fewer only at its end).</summary>
    static byte[] ReadUpTo(Stream stream, int count)
    {
        var buffer = new byte[count];
        var read = 0;
        int n;
        while (read < count && (n = stream.Read(buffer, read, count - read)) > 0) read += n;
        return read == count ? buffer : buffer[..read];
    }

    /// <summary>The header of <paramref name="bytes"/> (which may hold only its start): dtype, shape, where the data starts.</summary>
    static Either<Error, Header> ParseHeader(byte[] bytes, string source)
    {
        Error Bad(string m) => Errors.Data(source, m);
        if (bytes.Length < 10 || bytes[0] != 0x93 || Encoding.ASCII.GetString(bytes, 1, 5) != "NUMPY")
            return Bad("not a .npy file (missing the \\x93NUMPY magic)");
        var major = bytes[6];
        int headerLength, start;
        if (major == 1) { headerLength = BinaryPrimitives.ReadUInt16LittleEndian(bytes.AsSpan(8)); start = 10; }
        else if (major is 2 or 3)
        {
            if (bytes.Length < 12) return Bad("truncated header");
            var h = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(8));
            if (h > MaxHeader) return Bad($"header of {h} bytes is too large");
            headerLength = (int)h;
            start = 12;
        }
        else return Bad($"unsupported .npy version {major}");
        if (start + headerLength > bytes.Length) return Bad("truncated header");
        var header = Encoding.Latin1.GetString(bytes, start, headerLength);
        var descr = DescrRx().Match(header);
        var fortran = FortranRx().Match(header);
        var shapeMatch = ShapeRx().Match(header);
        if (!descr.Success || !shapeMatch.Success) return Bad($"cannot parse header {header.Trim()}");
        if (fortran.Success && fortran.Groups[1].Value == "True") return Bad("Fortran-order arrays are not supported; save with np.ascontiguousarray");
        var dims = new List<int>();
        long count = 1;
        foreach (var part in shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part.TrimEnd('L'), out var d) || d < 0) return Bad($"bad dimension '{part}' in shape");
            dims.Add(d);
            count *= d;
            if (count > int.MaxValue) return Bad("array is too large");
        }
        var type = descr.Groups[1].Value;
        if (!int.TryParse(type[2..], out var size)) return Bad($"unsupported dtype '{type}'");
        var dataStart = start + headerLength;
        return new Header(type[0], type[1], size, dims.ToArray(), dataStart, count);
    }

    /// <summary>Reads an int32 array (exactly little-endian <c>&lt;i4</c>, as <see cref="NpzWriter.AddInt32"/> writes it), e.g. an index map.</summary>
    public static Either<Error, (int[] Shape, int[] Values)> ReadInt32(byte[] bytes, string source) =>
        ReadHeader(bytes, source).Bind(h =>
        {
            if (h.Order is not ('<' or '|') || h.Kind != 'i' || h.Size != 4)
                return Left<Error, (int[], int[])>(Errors.Data(source, $"expected an int32 array ('<i4'), got dtype '{h.Order}{h.Kind}{h.Size}'"));
            var values = new int[h.Count];
            for (var i = 0; i < values.Length; i++) values[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(h.DataStart + i * 4));
            return Right<Error, (int[], int[])>((h.Dims, values));
        });

    public static Either<Error, Tensor> Read(byte[] bytes, string source) => ReadHeader(bytes, source).Bind(h => Decode(bytes, source, h));

    /// <summary>The array as float32 values and its stored element type (numpy's name: uint8, float32, ...).</summary>
    public static Either<Error, DataArray> ReadArray(byte[] bytes, string source) => ReadArray(bytes, source, (_, _) => unit);

    /// <summary>
    /// <see cref="ReadArray(byte[], string)"/>, with <paramref name="admit"/> asked about the declared shape and element
    /// size before anything is decoded (a shape that does not fit the model, or an array past the memory budget).
    /// </summary>
    public static Either<Error, DataArray> ReadArray(byte[] bytes, string source, Func<int[], int, Either<Error, Unit>> admit) =>
        from h in ReadHeader(bytes, source)
        from _ in admit(h.Dims, h.Size)
        from t in Decode(bytes, source, h)
        select new DataArray(t, DTypeName(h.Kind, h.Size));

    static string DTypeName(char kind, int size) => kind switch
    {
        'f' => $"float{size * 8}",
        'u' => $"uint{size * 8}",
        'i' => $"int{size * 8}",
        'b' => "bool",
        _ => $"{kind}{size}",
    };

    static Either<Error, Tensor> Decode(byte[] bytes, string source, Header h)
    {
        Error Bad(string m) => Errors.Data(source, m);
        var (kind, size, count, dims, dataStart) = (h.Kind, h.Size, h.Count, h.Dims, h.DataStart);
        var type = $"{h.Order}{h.Kind}{h.Size}";
        var big = h.Order == '>';
        var needed = count * size;
        var data = bytes.AsSpan(dataStart, (int)needed);
        var known = (kind, size) is ('f', 2 or 4 or 8) or ('u' or 'i', 1 or 2 or 4 or 8) or ('b', 1);
        if (!known) return Bad($"unsupported dtype '{type}' (use float32, float64, uint8 or int32)");
        var values = new float[count];
        for (var i = 0; i < count; i++)
        {
            var s = data.Slice(i * size, size);
            values[i] = (kind, size) switch
            {
                ('f', 4) => big ? BinaryPrimitives.ReadSingleBigEndian(s) : BinaryPrimitives.ReadSingleLittleEndian(s),
                ('f', 8) => (float)(big ? BinaryPrimitives.ReadDoubleBigEndian(s) : BinaryPrimitives.ReadDoubleLittleEndian(s)),
                ('f', 2) => (float)(big ? BinaryPrimitives.ReadHalfBigEndian(s) : BinaryPrimitives.ReadHalfLittleEndian(s)),
                ('u', 1) or ('b', 1) => s[0],
                ('i', 1) => (sbyte)s[0],
                ('u', 2) => big ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s),
                ('i', 2) => big ? BinaryPrimitives.ReadInt16BigEndian(s) : BinaryPrimitives.ReadInt16LittleEndian(s),
                ('u', 4) => big ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s),
                ('i', 4) => big ? BinaryPrimitives.ReadInt32BigEndian(s) : BinaryPrimitives.ReadInt32LittleEndian(s),
                ('u', 8) => big ? BinaryPrimitives.ReadUInt64BigEndian(s) : BinaryPrimitives.ReadUInt64LittleEndian(s),
                ('i', 8) => big ? BinaryPrimitives.ReadInt64BigEndian(s) : BinaryPrimitives.ReadInt64LittleEndian(s),
                _ => float.NaN,
            };
        }
        return Tensor.Own(dims.ToArray(), values);
    }

    /// <summary>Writes a float32 little-endian C-order .npy (format 1.0) through <see cref="OutputFile"/>.</summary>
    public static Either<Error, Unit> WriteFloat32(string path, Tensor t) => OutputFile.Write(Part(path, t, "the array"));

    /// <summary>The .npy file <paramref name="path"/> holding <paramref name="t"/>, as one part of an output.</summary>
    public static OutputPart Part(string path, Tensor t, string what) => new(path, what, s => s.Write(ToBytes(t)));

    public static byte[] ToBytes(Tensor t)
    {
        var shape = t.Rank == 1 ? $"({t.Shape[0]},)" : "(" + string.Join(", ", t.Shape) + ")";
        var header = $"{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}";
        var total = 10 + header.Length + 1;
        var pad = (64 - total % 64) % 64;
        header = header + new string(' ', pad) + "\n";
        var bytes = new byte[10 + header.Length + t.Length * 4];
        bytes[0] = 0x93;
        Encoding.ASCII.GetBytes("NUMPY").CopyTo(bytes, 1);
        bytes[6] = 1;
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(8), (ushort)header.Length);
        Encoding.ASCII.GetBytes(header).CopyTo(bytes, 10);
        for (var i = 0; i < t.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(10 + header.Length + i * 4), t[i]);
        return bytes;
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([<>|=][a-z]\d+)'")]
    private static partial Regex DescrRx();
    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranRx();
    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRx();
}
