using LanguageExt;

namespace Snn;

/// <summary>
/// An immutable float32 tensor (row-major, C order) with value equality, so IR records that hold
/// weights compare structurally. The buffer is owned by the tensor and never exposed for writing.
/// </summary>
public sealed class Tensor : IEquatable<Tensor>
{
    readonly float[] data;

    Tensor(Arr<int> shape, float[] data)
    {
        Shape = shape;
        this.data = data;
    }

    public Arr<int> Shape { get; }
    public int Length => data.Length;
    public int Rank => Shape.Count;
    public ReadOnlySpan<float> Span => data;
    public ReadOnlyMemory<float> Memory => data;
    public float this[int i] => data[i];

    /// <summary>Takes ownership of <paramref name="data"/>; the caller must not modify it afterwards.</summary>
    public static Tensor Own(int[] shape, float[] data)
    {
        if (Shapes.Product(shape) != data.Length)
            throw new ArgumentException($"shape ({string.Join(",", shape)}) does not match {data.Length} values");
        return new Tensor(shape.ToArr(), data);
    }

    public static Tensor Own(Arr<int> shape, float[] data) => Own(shape.ToArray(), data);
    public static Tensor Copy(int[] shape, ReadOnlySpan<float> data) => Own(shape, data.ToArray());
    public static Tensor Scalar(float v) => Own(System.Array.Empty<int>(), new[] { v });
    public static Tensor Vector(params float[] v) => Own(new[] { v.Length }, v);
    public static Tensor Filled(int[] shape, float v)
    {
        var d = new float[Shapes.Product(shape)];
        System.Array.Fill(d, v);
        return Own(shape, d);
    }

    public float[] ToArray() => (float[])data.Clone();

    /// <summary>Rows [start, start + count) of a batch (the first axis): a copy.</summary>
    public Tensor Rows(int start, int count)
    {
        var size = data.Length / Shape[0];
        return Own(new[] { count }.Concat(Shape.Skip(1)).ToArray(), data.AsSpan(start * size, count * size).ToArray());
    }
    public Tensor Reshape(params int[] shape) => Own(shape, data);
    public Tensor Reshape(Arr<int> shape) => Own(shape.ToArray(), data);

    /// <summary>A new tensor with f applied to every value.</summary>
    public Tensor Map(Func<float, float> f)
    {
        var d = new float[data.Length];
        for (var i = 0; i < d.Length; i++) d[i] = f(data[i]);
        return new Tensor(Shape, d);
    }

    public bool Equals(Tensor? other) =>
        other is not null && Shape == other.Shape && data.AsSpan().SequenceEqual(other.data);

    public override bool Equals(object? obj) => Equals(obj as Tensor);

    // Cheap hash: shape, length and a few samples (weights can be large).
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var s in Shape) h.Add(s);
        h.Add(data.Length);
        for (var i = 0; i < data.Length; i += Math.Max(1, data.Length / 8)) h.Add(data[i]);
        return h.ToHashCode();
    }

    public override string ToString() => $"Tensor[{string.Join(",", Shape)}]";
}
