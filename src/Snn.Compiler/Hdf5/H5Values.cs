using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Hdf5;

/// <summary>Converts raw element bytes to numbers and strings.</summary>
internal static class H5Values
{
    private enum FloatKind { Half, Single, Double }

    public static Either<H5Fault, double[]> ToDoubles(H5Context ctx, byte[] raw, long count, H5Datatype t, long at)
    {
        var result = new double[count];
        if (count == 0) return result;
        if (!Decoder(ctx, t, at).TryGet(out var decode, out var fault)) return fault;
        int es = t.Size;
        for (long i = 0; i < count; i++) result[i] = decode(raw.AsSpan((int)(i * es), es));
        return result;
    }

    public static Either<H5Fault, float[]> ToFloats(H5Context ctx, byte[] raw, long count, H5Datatype t, long at)
    {
        var result = new float[count];
        if (count == 0) return result;
        if (t.Class == H5TypeClass.FloatingPoint && t.Size == 4 && IsIeee(t, FloatKind.Single))
        {
            // Fast path: float32 in either byte order.
            MemoryMarshal.Cast<byte, float>(raw.AsSpan(0, (int)(count * 4))).CopyTo(result);
            if (t.BigEndian != !BitConverter.IsLittleEndian)
            {
                var ints = MemoryMarshal.Cast<float, int>(result.AsSpan());
                BinaryPrimitives.ReverseEndianness(ints, ints);
            }
            return result;
        }
        if (!Decoder(ctx, t, at).TryGet(out var decode, out var fault)) return fault;
        int es = t.Size;
        for (long i = 0; i < count; i++) result[i] = (float)decode(raw.AsSpan((int)(i * es), es));
        return result;
    }

    private delegate double ElementDecoder(ReadOnlySpan<byte> b);

    private static Either<H5Fault, ElementDecoder> Decoder(H5Context ctx, H5Datatype t, long at)
    {
        switch (t.Class)
        {
            case H5TypeClass.FixedPoint:
            case H5TypeClass.Bitfield:
                return IntegerDecoder(ctx, t, at);
            case H5TypeClass.Enum when t.Base is { Class: H5TypeClass.FixedPoint } b:
                if (b.Size != t.Size) return ctx.Fail(at, "enum base type size differs from the enum size");
                return IntegerDecoder(ctx, b, at);
            case H5TypeClass.FloatingPoint:
                return FloatDecoder(ctx, t, at);
            default:
                return ctx.Fail(at, $"{t.Describe()} cannot be read as numbers");
        }
    }

    private static Either<H5Fault, ElementDecoder> IntegerDecoder(H5Context ctx, H5Datatype t, long at)
    {
        int size = t.Size;
        if (size is < 1 or > 8) return ctx.Fail(at, $"integer of {size} bytes is not supported");
        int bits = size * 8;
        if (t.Precision < 1 || t.BitOffset < 0 || t.BitOffset + t.Precision > bits)
            return ctx.Fail(at, $"integer bit offset {t.BitOffset} / precision {t.Precision} invalid for {size} bytes");
        bool big = t.BigEndian, signed = t.Signed;
        int offset = t.BitOffset, precision = t.Precision;
        ulong mask = precision == 64 ? ulong.MaxValue : (1UL << precision) - 1;
        return new ElementDecoder(b =>
        {
            ulong v = 0;
            if (big) for (int i = 0; i < size; i++) v = (v << 8) | b[i];
            else for (int i = size - 1; i >= 0; i--) v = (v << 8) | b[i];
            v = (v >> offset) & mask;
            if (signed && precision < 64 && (v & (1UL << (precision - 1))) != 0) v |= ~mask;
            return signed ? (double)(long)v : (double)v;
        });
    }

    private static bool IsIeee(H5Datatype t, FloatKind kind)
    {
        var (size, exp, mant, bias) = kind switch
        {
            FloatKind.Half => (2, 5, 10, 15u),
            FloatKind.Single => (4, 8, 23, 127u),
            _ => (8, 11, 52, 1023u),
        };
        return !t.Vax && t.Size == size && t.BitOffset == 0 && t.Precision == size * 8 && t.ExponentSize == exp
            && t.ExponentLocation == mant && t.MantissaSize == mant && t.MantissaLocation == 0 && t.ExponentBias == bias;
    }

    private static Either<H5Fault, ElementDecoder> FloatDecoder(H5Context ctx, H5Datatype t, long at)
    {
        bool big = t.BigEndian;
        if (IsIeee(t, FloatKind.Half))
            return new ElementDecoder(b => (double)BitConverter.UInt16BitsToHalf(big ? BinaryPrimitives.ReadUInt16BigEndian(b) : BinaryPrimitives.ReadUInt16LittleEndian(b)));
        if (IsIeee(t, FloatKind.Single))
            return new ElementDecoder(b => big ? BinaryPrimitives.ReadSingleBigEndian(b) : BinaryPrimitives.ReadSingleLittleEndian(b));
        if (IsIeee(t, FloatKind.Double))
            return new ElementDecoder(b => big ? BinaryPrimitives.ReadDoubleBigEndian(b) : BinaryPrimitives.ReadDoubleLittleEndian(b));
        return ctx.Fail(at, $"floating-point layout not supported (size {t.Size}, precision {t.Precision}, exponent {t.ExponentSize} bits, mantissa {t.MantissaSize} bits{(t.Vax ? ", VAX order" : "")})");
    }

    /// <summary>Strings of a fixed-length or variable-length string datatype.</summary>
    public static Either<H5Fault, string[]> ToStrings(H5Context ctx, byte[] raw, long count, H5Datatype t, long at)
    {
        var result = new string[count];
        int es = t.Size;
        if (t.Class == H5TypeClass.String)
        {
            for (long i = 0; i < count; i++) result[i] = FixedString(raw.AsSpan((int)(i * es), es), t.StringPadding);
            return result;
        }
        if (t.IsVariableLengthString)
        {
            int o = ctx.OffsetSize;
            if (es < 8 + o) return ctx.Fail(at, $"variable-length element of {es} bytes is too small");
            long budget = ctx.MaxDecodedBytes; // many elements may point at one large heap object
            for (long i = 0; i < count; i++)
            {
                var e = raw.AsSpan((int)(i * es), es);
                uint length = BinaryPrimitives.ReadUInt32LittleEndian(e);
                ulong addrRaw = 0;
                for (int k = o - 1; k >= 0; k--) addrRaw = (addrRaw << 8) | e[4 + k];
                int index = BinaryPrimitives.ReadInt32LittleEndian(e[(4 + o)..]);
                if (length == 0)
                {
                    result[i] = "";
                    continue;
                }
                if (ctx.IsUndefined(addrRaw, o) || addrRaw > (ulong)ctx.Length)
                    return ctx.Fail(at, "variable-length string points outside the file");
                if (!H5GlobalHeap.Object(ctx, (long)addrRaw, index, at).TryGet(out var heapObject, out var fault)) return fault;
                var obj = heapObject.Span;
                if (length > obj.Length) return ctx.Fail(at, $"variable-length string of {length} bytes exceeds its heap object ({obj.Length} bytes)");
                budget -= length;
                if (budget < 0) return ctx.Fail(at, $"variable-length strings exceed the read limit of {ctx.MaxDecodedBytes} bytes");
                if (!ctx.DecodedStrings(length, at).TryGet(out _, out var tooMany)) return tooMany;
                var bytes = obj[..(int)length];
                int end = bytes.Length;
                while (end > 0 && bytes[end - 1] == 0) end--;
                result[i] = Encoding.UTF8.GetString(bytes[..end]);
            }
            return result;
        }
        return ctx.Fail(at, $"{t.Describe()} cannot be read as strings");
    }

    private static string FixedString(ReadOnlySpan<byte> b, int padding)
    {
        int end = b.IndexOf((byte)0);
        if (end < 0) end = b.Length;
        if (padding == 2)
            while (end > 0 && b[end - 1] == (byte)' ') end--;
        return Encoding.UTF8.GetString(b[..end]);
    }
}
