using Snn.Compiler.Convert;
using Snn.Runtime.Kernels;

namespace Snn.Training;

/// <summary>
/// What the transform kernels of one <see cref="NetworkGradient.Run"/> call share: the thread count, each convolution's
/// and pooling's kernel geometry (built once per call instead of once per pass) and one scratch buffer for transform
/// results that cannot be added to their target in place. Made per call and dropped with it (no state outlives a call).
/// </summary>
internal sealed class TransformWork(int threads)
{
    readonly Dictionary<object, object> geometries = new(ReferenceEqualityComparer.Instance);
    float[] scratch = [];

    public int Threads { get; } = threads;

    public ConvGeometry Geometry(ConvT c)
    {
        if (!geometries.TryGetValue(c, out var g)) geometries[c] = g = ConvGeometry.Of(c.Spec);
        return (ConvGeometry)g;
    }

    public PoolGeometry Geometry(PoolT p)
    {
        if (!geometries.TryGetValue(p, out var g)) geometries[p] = g = PoolGeometry.Of(p.Spec);
        return (PoolGeometry)g;
    }

    /// <summary>A buffer of at least <paramref name="length"/> floats, its contents undefined; valid until the next call.</summary>
    public float[] Scratch(int length)
    {
        if (scratch.Length < length) scratch = new float[length];
        return scratch;
    }

    /// <summary>
    /// Runs <paramref name="body"/> on samples [b0, b1) for <see cref="Threads"/> contiguous parts of the batch at once.
    /// Only for work whose results per sample do not depend on which samples share a call (every forward kernel's):
    /// the bytes are then the same for any split.
    /// </summary>
    public void Samples(int batch, Action<int, int> body)
    {
        var parts = Math.Clamp(Threads, 1, Math.Max(batch, 1));
        if (parts == 1)
        {
            body(0, batch);
            return;
        }
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts },
            p => body((int)((long)batch * p / parts), (int)((long)batch * (p + 1) / parts)));
    }
}
