using System.Runtime.Intrinsics.X86;

namespace Snn.Kernels;

/// <summary>
/// Width-generic SIMD operations used by the GEMM-style kernels (in Snn.Runtime) and the neuron kernels. Implemented by <see cref="V256"/>
/// (AVX/AVX2, 8 lanes) and <see cref="V512"/> (AVX-512F, 16 lanes). Kernels are generic over a
/// struct implementing this interface, so the JIT specializes and inlines every call.
/// </summary>
/// <remarks>
/// <see cref="Madd"/> is fused (one rounding) whenever the hardware has FMA and unfused
/// (<c>a*b + c</c>, two roundings) otherwise; <see cref="KernelMath.Madd(float, float, float)"/> makes the
/// same choice, so a given output element is computed identically by the vector, masked-tail and
/// scalar code paths on one machine.
/// </remarks>
internal unsafe interface IVecOps<TV> where TV : struct
{
    static abstract int Width { get; }
    static abstract TV Zero { get; }
    static abstract TV Load(float* p);
    static abstract TV Broadcast(float* p);
    static abstract TV Madd(TV a, TV b, TV c);
    /// <summary><c>*p = v</c> (all lanes).</summary>
    static abstract void Store(float* p, TV v);
    /// <summary><c>*p += v</c> (all lanes).</summary>
    static abstract void AddStore(float* p, TV v);
    /// <summary>Mask whose first <paramref name="count"/> lanes are selected (0 &lt; count &lt; Width).</summary>
    static abstract TV Mask(int count);
    /// <summary>Loads the selected lanes, zero elsewhere; unselected lanes are never touched in memory.</summary>
    static abstract TV LoadMasked(float* p, TV mask);
    /// <summary><c>*p += v</c> on the selected lanes only.</summary>
    static abstract void AddStoreMasked(float* p, TV mask, TV v);
    /// <summary>Every lane <paramref name="value"/>.</summary>
    static abstract TV Create(float value);
    /// <summary>Lane by lane a + b, a·b, a − b (IEEE single operations, never fused), floor and the IEEE maximum.</summary>
    static abstract TV Add(TV a, TV b);
    static abstract TV Multiply(TV a, TV b);
    static abstract TV Subtract(TV a, TV b);
    static abstract TV Floor(TV a);
    static abstract TV Max(TV a, TV b);
    static abstract TV Negate(TV a);
}

internal unsafe struct V256 : IVecOps<Vector256<float>>
{
    public static int Width => 8;
    public static Vector256<float> Zero => Vector256<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* p) => Vector256.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Broadcast(float* p) => Vector256.Create(*p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Madd(Vector256<float> a, Vector256<float> b, Vector256<float> c)
        => Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : (a * b) + c;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* p, Vector256<float> v) => Vector256.Store(v, p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddStore(float* p, Vector256<float> v) => Vector256.Store(Vector256.Load(p) + v, p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Mask(int count)
        => Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> LoadMasked(float* p, Vector256<float> mask) => Avx.MaskLoad(p, mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddStoreMasked(float* p, Vector256<float> mask, Vector256<float> v)
        => Avx.MaskStore(p, mask, Avx.MaskLoad(p, mask) + v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Create(float value) => Vector256.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Add(Vector256<float> a, Vector256<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Multiply(Vector256<float> a, Vector256<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Subtract(Vector256<float> a, Vector256<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Floor(Vector256<float> a) => Vector256.Floor(a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Max(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Negate(Vector256<float> a) => -a;
}

internal unsafe struct V512 : IVecOps<Vector512<float>>
{
    public static int Width => 16;
    public static Vector512<float> Zero => Vector512<float>.Zero;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Load(float* p) => Vector512.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Broadcast(float* p) => Vector512.Create(*p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Madd(Vector512<float> a, Vector512<float> b, Vector512<float> c)
        => Avx512F.FusedMultiplyAdd(a, b, c);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* p, Vector512<float> v) => Vector512.Store(v, p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddStore(float* p, Vector512<float> v) => Vector512.Store(Vector512.Load(p) + v, p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Mask(int count)
        => Vector512.LessThan(
            Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
            Vector512.Create(count)).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadMasked(float* p, Vector512<float> mask)
        => Avx512F.MaskLoad(p, mask, Vector512<float>.Zero);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddStoreMasked(float* p, Vector512<float> mask, Vector512<float> v)
        => Avx512F.MaskStore(p, mask, Avx512F.MaskLoad(p, mask, Vector512<float>.Zero) + v);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Create(float value) => Vector512.Create(value);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Add(Vector512<float> a, Vector512<float> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Multiply(Vector512<float> a, Vector512<float> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Subtract(Vector512<float> a, Vector512<float> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Floor(Vector512<float> a) => Vector512.Floor(a);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Max(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Negate(Vector512<float> a) => -a;
}

/// <summary>Which SIMD path the GEMM-style kernels take on this machine.</summary>
internal enum SimdPath
{
    /// <summary>Portable scalar loops (no x86 AVX, e.g. Arm64 or a JIT with SIMD disabled).</summary>
    Scalar,
    /// <summary>AVX/AVX2 8-lane vectors (with FMA when the CPU has it).</summary>
    Avx256,
    /// <summary>AVX-512F 16-lane vectors with FMA.</summary>
    Avx512,
}

internal static class KernelMath
{
    /// <summary>The path chosen once per process from the hardware flags.</summary>
    public static readonly SimdPath Path =
        Avx512F.IsSupported && Vector512.IsHardwareAccelerated ? SimdPath.Avx512
        : Avx.IsSupported && Vector256.IsHardwareAccelerated ? SimdPath.Avx256
        : SimdPath.Scalar;

    /// <summary>Scalar twin of <see cref="IVecOps{TV}.Madd"/>: fused exactly when the vector path is.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Madd(float a, float b, float c) => Fma.IsSupported ? MathF.FusedMultiplyAdd(a, b, c) : (a * b) + c;

    public static void CheckLength(int actual, long expected, string paramName)
    {
        if (actual != expected)
        {
            throw new ArgumentException($"Length {actual} does not match the expected {expected}.", paramName);
        }
    }

    public static void CheckNonNegative(int value, string paramName)
    {
        if (value < 0)
        {
            throw new ArgumentException($"Must be non-negative, got {value}.", paramName);
        }
    }
}
