using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>Shape arithmetic shared by every stage. Shapes never include the batch dimension.</summary>
public static class Shapes
{
    public static int Product(ReadOnlySpan<int> shape)
    {
        long p = 1;
        foreach (var d in shape)
        {
            p *= d;
            if (p > int.MaxValue) throw new OverflowException("shape too large");
        }
        return (int)p;
    }

    public static int Product(Arr<int> shape) => Product(shape.ToArray());
    public static string Show(Arr<int> shape) => "(" + string.Join(", ", shape) + ")";
    public static string Show(IEnumerable<int> shape) => "(" + string.Join(", ", shape) + ")";
    public static string Show(IEnumerable<string> shape) => "(" + string.Join(", ", shape) + ")";

    /// <summary>Row-major strides of a shape.</summary>
    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var s = new int[shape.Length];
        var acc = 1;
        for (var i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>A Reshape target with at most one unknown (-1) dimension resolved for <paramref name="size"/> values; None if impossible.</summary>
    public static Option<int[]> ResolveReshape(IEnumerable<int> target, int size)
    {
        var t = target.ToArray();
        var unknown = t.Count(d => d < 0);
        var known = t.Where(d => d >= 0).Aggregate(1L, (a, b) => a * b);
        if (unknown > 1 || known == 0 || (unknown == 0 ? known != size : size % known != 0)) return None;
        return t.Select(d => d < 0 ? (int)(size / known) : d).ToArray();
    }

    /// <summary>Normalizes a possibly negative axis against a rank.</summary>
    public static int Axis(int axis, int rank) => axis < 0 ? axis + rank : axis;

    /// <summary>
    /// For a tensor of <paramref name="shape"/> permuted by <paramref name="perm"/> (numpy transpose),
    /// the flat source index of every flat destination index.
    /// </summary>
    public static int[] TransposeIndex(int[] shape, int[] perm)
    {
        var outShape = perm.Select(p => shape[p]).ToArray();
        var inStrides = Strides(shape);
        var n = Product(shape);
        var index = new int[n];
        var coord = new int[outShape.Length];
        for (var o = 0; o < n; o++)
        {
            var src = 0;
            for (var d = 0; d < coord.Length; d++) src += coord[d] * inStrides[perm[d]];
            index[o] = src;
            for (var d = coord.Length - 1; d >= 0; d--)
            {
                if (++coord[d] < outShape[d]) break;
                coord[d] = 0;
            }
        }
        return index;
    }

    /// <summary>TF/Keras output length of one spatial dimension.</summary>
    public static int ConvOut(int input, int kernel, int stride, int dilation, Padding padding)
    {
        var effective = (kernel - 1) * dilation + 1;
        return padding == Padding.Same ? (input + stride - 1) / stride : (input - effective) / stride + 1;
    }

    /// <summary>TF 'same' padding before a dimension (the extra cell goes after).</summary>
    public static int PadBefore(int input, int output, int kernel, int stride, int dilation, Padding padding)
    {
        if (padding == Padding.Valid) return 0;
        var effective = (kernel - 1) * dilation + 1;
        var total = Math.Max((output - 1) * stride + effective - input, 0);
        return total / 2;
    }
}
