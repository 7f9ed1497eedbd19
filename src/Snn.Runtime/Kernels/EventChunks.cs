using System.Runtime.CompilerServices;

namespace Snn.Runtime.Kernels;

/// <summary>Column chunk of the event-driven kernels: 1 to 8 vectors (convolutions use up to 4), the last one masked or not.</summary>
internal interface IEventChunk
{
    static abstract int Vectors { get; }
    static abstract bool Masked { get; }
}

internal struct E1 : IEventChunk { public static int Vectors => 1; public static bool Masked => false; }
internal struct E1M : IEventChunk { public static int Vectors => 1; public static bool Masked => true; }
internal struct E2 : IEventChunk { public static int Vectors => 2; public static bool Masked => false; }
internal struct E2M : IEventChunk { public static int Vectors => 2; public static bool Masked => true; }
internal struct E3 : IEventChunk { public static int Vectors => 3; public static bool Masked => false; }
internal struct E3M : IEventChunk { public static int Vectors => 3; public static bool Masked => true; }
internal struct E4 : IEventChunk { public static int Vectors => 4; public static bool Masked => false; }
internal struct E4M : IEventChunk { public static int Vectors => 4; public static bool Masked => true; }
internal struct E5 : IEventChunk { public static int Vectors => 5; public static bool Masked => false; }
internal struct E5M : IEventChunk { public static int Vectors => 5; public static bool Masked => true; }
internal struct E6 : IEventChunk { public static int Vectors => 6; public static bool Masked => false; }
internal struct E6M : IEventChunk { public static int Vectors => 6; public static bool Masked => true; }
internal struct E7 : IEventChunk { public static int Vectors => 7; public static bool Masked => false; }
internal struct E7M : IEventChunk { public static int Vectors => 7; public static bool Masked => true; }
internal struct E8 : IEventChunk { public static int Vectors => 8; public static bool Masked => false; }
internal struct E8M : IEventChunk { public static int Vectors => 8; public static bool Masked => true; }

/// <summary>
/// Vector k of a column chunk (at p + k * Width): the chunk's last vector is masked when TN is, the others are whole.
/// </summary>
internal static unsafe class Chunk
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Load<TV, TOps, TN>(float* p, int k, TV mask)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
        => TN.Masked && k == TN.Vectors - 1 ? TOps.LoadMasked(p + (k * TOps.Width), mask) : TOps.Load(p + (k * TOps.Width));

    /// <summary><c>p[k * Width ..] += v</c> on the vector's lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddStore<TV, TOps, TN>(float* p, int k, TV mask, TV v)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IEventChunk
        => AddStore<TV, TOps>(p + (k * TOps.Width), !(TN.Masked && k == TN.Vectors - 1), mask, v);

    /// <summary><c>*p += v</c> on all lanes when <paramref name="full"/>, else on the mask's.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddStore<TV, TOps>(float* p, bool full, TV mask, TV v)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        if (full)
        {
            TOps.AddStore(p, v);
        }
        else
        {
            TOps.AddStoreMasked(p, mask, v);
        }
    }
}
