using System.Numerics.Tensors;

namespace Snn.Runtime.Kernels;

/// <summary>
/// Reverse-mode kernels (vector-Jacobian products) of the forward kernels, the foundation of training.
/// </summary>
/// <remarks>
/// <para><b>What each function computes.</b> Every gradient is <em>added</em> to its output (as the forward kernels add to
/// y), so a graph executor sums the contributions of several consumers by calling each one on the same buffer.
/// With L a scalar loss, dY = ∂L/∂y and the forward <c>y = f(x, w)</c>:</para>
/// <list type="bullet">
/// <item><see cref="DenseInputGradient"/>: <c>dX += dY · Wᵀ</c> ([batch, in] += [batch, out] · [out, in]).</item>
/// <item><see cref="DenseWeightGradient"/>: <c>dW += Xᵀ · dY</c> ([in, out], Keras layout), <c>db += Σ_batch dY</c>.</item>
/// <item><see cref="ConvInputGradient"/>: the transposed convolution, <c>dX[in(p, t), grp·cg + c] += Σ_n dY[p, grp·ng + n] ·
/// W[t, c, grp·ng + n]</c>: with stride 1 on every axis and wide groups (depthwise, or 16+ input channels per group) a
/// forward convolution of dY with the flipped, transposed kernel (padding (k − 1)·d − pad) on <see cref="Conv.Accumulate"/>;
/// otherwise a GEMM <c>Z = dY_grp · W_grpᵀ</c> ([pixels, taps·cg]) and a scatter of Z through the
/// geometry's indirection table (col2im); depthwise (one channel in and out per group) scatters channel vectors directly.</item>
/// <item><see cref="ConvKernelGradient"/>: the correlation of X with dY, <c>dW[t, c, grp·ng + n] += Σ_b Σ_p X[b, in(p, t),
/// grp·cg + c] · dY[b, p, grp·ng + n]</c>, done as a GEMM of the transposed im2col of X ([taps·cg, pixels], built per
/// sample) with dY; <c>db[o] += Σ_b Σ_p dY[b, p, o]</c>.</item>
/// <item><see cref="AveragePoolGradient"/>, <see cref="MaxPoolGradient"/> (global pooling is a
/// <see cref="PoolGeometry"/> with one window over all cells), the activations, the straight-through quantizer, the
/// affine (unfolded batch normalization) and the losses: see each function.</item>
/// <item>Add, concatenate, flatten and reshape need no kernel of their own: an add passes dY on to both inputs
/// (<see cref="Elementwise.MultiplyAccumulate"/> with a = 1, or the same buffer), a reshape/flatten is the identity on the
/// flat buffer, and a concatenation's inputs take their slices back with <see cref="Elementwise.Gather"/> (the index the
/// forward scattered through).</item>
/// </list>
/// <para><b>Layouts.</b> As the forward kernels: data is [batch, sample] row-major, each sample channels-last
/// ([spatial..., C]) or channels-first ([C, spatial...]) per the geometry; dense weights [in, out]; convolution kernels
/// in Keras layout [k0, (k1, (k2)), Cin/groups, Cout].</para>
/// <para><b>Accumulation order and determinism.</b> Gradients of data (dX) are per sample: samples are independent and
/// any split of the batch over threads gives the same bits. Gradients of parameters (dW, db) are sums over the batch:
/// the batch is cut into chunks of <see cref="ReductionChunk"/> consecutive samples (a constant, not a function of the
/// thread count); each chunk's sum is formed on its own from +0 (samples in ascending order, within a sample the GEMM's
/// order: every element's terms summed in registers and added once), and the chunk sums are then added, in ascending chunk
/// order, to a zeroed total that is added to the output once. Pooling, activation, affine and loss gradients run on one
/// thread, in the order each function states. So the same inputs give the same bytes for any <c>threads</c>; threads only decide how many
/// chunks are in flight at once (and the scratch memory: one chunk's partial sums per thread).</para>
/// </remarks>
public static partial class Backward
{
    /// <summary>Samples per chunk of a parameter-gradient reduction (fixed: the sums' order must not depend on threads).</summary>
    public const int ReductionChunk = 16;

    /// <summary>Work on samples [b0, b1) with a private partial-sum buffer (zeroed) and scratch.</summary>
    internal unsafe delegate void ChunkBody(int b0, int b1, float* partial, float* scratch);

    /// <summary>
    /// <c>target += Σ_chunks partial(chunk)</c> in ascending chunk order, each chunk's partial formed by
    /// <paramref name="body"/> from zeros; up to <paramref name="threads"/> chunks run at once.
    /// </summary>
    internal static unsafe void ReduceOverBatch(int batch, int threads, int size, int scratchSize, ChunkBody body, float* target)
    {
        int chunks = (batch + ReductionChunk - 1) / ReductionChunk;
        if (chunks == 0 || size == 0)
        {
            return;
        }

        int slots = Math.Clamp(threads, 1, chunks);
        var partials = new float[checked((long)slots * size)];
        var scratch = new float[Math.Max(1, checked((long)slots * scratchSize))];
        fixed (float* pp = partials, ps = scratch)
        {
            nint pBase = (nint)pp, sBase = (nint)ps;
            for (int k0 = 0; k0 < chunks; k0 += slots)
            {
                int n = Math.Min(slots, chunks - k0);
                int first = k0;
                RunSlots(n, slots, i =>
                {
                    float* partial = (float*)pBase + ((nint)i * size);
                    new Span<float>(partial, size).Clear();
                    int b0 = (first + i) * ReductionChunk;
                    body(b0, Math.Min(batch, b0 + ReductionChunk), partial, (float*)sBase + ((nint)i * scratchSize));
                });
                for (int i = 0; i < n; i++)
                {
                    var t = new Span<float>(target, size);
                    TensorPrimitives.Add(t, new ReadOnlySpan<float>(pp + ((nint)i * size), size), t);
                }
            }
        }
    }

    /// <summary>Runs <paramref name="body"/> on samples [b0, b1) for chunks of <see cref="ReductionChunk"/>, up to <paramref name="threads"/> at once, each with its own scratch.</summary>
    internal static unsafe void ForEachChunk(int batch, int threads, int scratchSize, ChunkBody body)
    {
        int chunks = (batch + ReductionChunk - 1) / ReductionChunk;
        if (chunks == 0)
        {
            return;
        }

        int slots = Math.Clamp(threads, 1, chunks);
        var scratch = new float[Math.Max(1, checked((long)slots * scratchSize))];
        fixed (float* ps = scratch)
        {
            nint sBase = (nint)ps;
            for (int k0 = 0; k0 < chunks; k0 += slots)
            {
                int n = Math.Min(slots, chunks - k0);
                int first = k0;
                RunSlots(n, slots, i =>
                {
                    int b0 = (first + i) * ReductionChunk;
                    body(b0, Math.Min(batch, b0 + ReductionChunk), null, (float*)sBase + ((nint)i * scratchSize));
                });
            }
        }
    }

    private static void RunSlots(int n, int slots, Action<int> work)
    {
        if (slots == 1 || n == 1)
        {
            for (int i = 0; i < n; i++)
            {
                work(i);
            }

            return;
        }

        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = slots }, work);
    }

    private static void CheckThreads(int threads)
    {
        if (threads < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be at least 1.");
        }
    }

    /// <summary>
    /// <c>dx[b, i] += Σ_o dy[b, o] · w[i, o]</c> (dX = dY · Wᵀ) for the dense layer <c>y = x · w</c>; dy is [batch, outSize],
    /// w [inSize, outSize] (Keras layout), dx [batch, inSize]. W is transposed once and the product runs on
    /// <see cref="Dense.Accumulate"/> (its blocked order per element), samples split over <paramref name="threads"/>.
    /// </summary>
    public static void DenseInputGradient(ReadOnlySpan<float> dy, int batch, int inSize, ReadOnlySpan<float> w, int outSize, Span<float> dx, int threads = 1)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckNonNegative(inSize, nameof(inSize));
        KernelMath.CheckNonNegative(outSize, nameof(outSize));
        KernelMath.CheckLength(dy.Length, (long)batch * outSize, nameof(dy));
        KernelMath.CheckLength(w.Length, (long)inSize * outSize, nameof(w));
        KernelMath.CheckLength(dx.Length, (long)batch * inSize, nameof(dx));
        CheckThreads(threads);
        if (batch == 0 || inSize == 0 || outSize == 0)
        {
            return;
        }

        var wt = new float[w.Length];
        unsafe
        {
            fixed (float* pw = w, pwt = wt, pdy = dy, pdx = dx)
            {
                Conv.Transpose(pw, inSize, outSize, pwt);
                nint wtBase = (nint)pwt, dyBase = (nint)pdy, dxBase = (nint)pdx;
                ForEachChunk(batch, threads, 0, (b0, b1, _, _) =>
                {
                    int rows = b1 - b0;
                    Dense.Accumulate(
                        new ReadOnlySpan<float>((float*)dyBase + ((nint)b0 * outSize), rows * outSize),
                        rows,
                        outSize,
                        new ReadOnlySpan<float>((float*)wtBase, inSize * outSize),
                        inSize,
                        new Span<float>((float*)dxBase + ((nint)b0 * inSize), rows * inSize));
                });
            }
        }
    }

    /// <summary>
    /// <c>dw[i, o] += Σ_b x[b, i] · dy[b, o]</c> (dW = Xᵀ · dY) and, unless <paramref name="db"/> is empty,
    /// <c>db[o] += Σ_b dy[b, o]</c>, for the dense layer <c>y = x · w + bias</c>. Summed per chunk of
    /// <see cref="ReductionChunk"/> samples (a GEMM of the chunk's transposed x with its dy), chunks added in order: the
    /// bits do not depend on <paramref name="threads"/>.
    /// </summary>
    public static void DenseWeightGradient(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, int batch, int inSize, int outSize, Span<float> dw, Span<float> db, int threads = 1)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        KernelMath.CheckNonNegative(inSize, nameof(inSize));
        KernelMath.CheckNonNegative(outSize, nameof(outSize));
        KernelMath.CheckLength(x.Length, (long)batch * inSize, nameof(x));
        KernelMath.CheckLength(dy.Length, (long)batch * outSize, nameof(dy));
        KernelMath.CheckLength(dw.Length, (long)inSize * outSize, nameof(dw));
        if (!db.IsEmpty)
        {
            KernelMath.CheckLength(db.Length, outSize, nameof(db));
        }

        CheckThreads(threads);
        if (batch == 0 || outSize == 0)
        {
            return;
        }

        int wSize = inSize * outSize;
        bool bias = !db.IsEmpty;
        int size = wSize + (bias ? outSize : 0);
        var sum = new float[size];
        unsafe
        {
            fixed (float* px = x, pdy = dy, psum = sum)
            {
                nint xBase = (nint)px, dyBase = (nint)pdy;
                ReduceOverBatch(batch, threads, size, inSize * ReductionChunk, (b0, b1, partial, scratch) =>
                {
                    int rows = b1 - b0;
                    float* xc = (float*)xBase + ((nint)b0 * inSize);
                    float* dyc = (float*)dyBase + ((nint)b0 * outSize);
                    Conv.Transpose(xc, rows, inSize, scratch);
                    Dense.Accumulate(
                        new ReadOnlySpan<float>(scratch, inSize * rows),
                        inSize,
                        rows,
                        new ReadOnlySpan<float>(dyc, rows * outSize),
                        outSize,
                        new Span<float>(partial, wSize));
                    if (bias)
                    {
                        var pb = new Span<float>(partial + wSize, outSize);
                        for (int r = 0; r < rows; r++)
                        {
                            TensorPrimitives.Add(pb, new ReadOnlySpan<float>(dyc + ((nint)r * outSize), outSize), pb);
                        }
                    }
                }, psum);
            }
        }

        var s = sum.AsSpan();
        TensorPrimitives.Add(dw, s[..wSize], dw);
        if (bias)
        {
            TensorPrimitives.Add(db, s.Slice(wSize, outSize), db);
        }
    }
}
