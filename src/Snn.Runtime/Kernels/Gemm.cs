using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>
/// Supplies the A operand of a GEMM micro-kernel as rows of contiguous floats, split into
/// segments. For segment <c>s</c>, row <c>r</c> contributes <c>Length(s)</c> consecutive values
/// starting at <c>Row(s, r)</c>, multiplied with the same number of consecutive B rows starting at
/// <c>B(s)</c> (row stride <see cref="Ldb"/>). Dense uses one segment (a K block of x); convolution uses
/// one segment per kernel tap (an indirection into the input, or a zero row for padding).
/// Row(s, r) must return a valid pointer for every r below the micro-kernel's row count, even past
/// the tile's real rows (duplicate a real row there; those results are discarded).
/// </summary>
internal unsafe interface IRowSource
{
    int Ldb { get; }
    int Segments { get; }
    int Length(int s);
    float* B(int s);
    float* Row(int s, int r);
}

/// <summary>Compile-time row count of a micro-kernel (specialized per struct type).</summary>
internal interface IRowCount
{
    static abstract int Value { get; }
}

/// <summary>Compile-time vector count of a micro-kernel; Masked means one partial vector.</summary>
internal interface IColCount
{
    static abstract int Value { get; }
    static abstract bool Masked { get; }
}

internal struct R1 : IRowCount { public static int Value => 1; }
internal struct R4 : IRowCount { public static int Value => 4; }
internal struct R6 : IRowCount { public static int Value => 6; }
internal struct R8 : IRowCount { public static int Value => 8; }
internal struct R12 : IRowCount { public static int Value => 12; }

internal struct N1 : IColCount { public static int Value => 1; public static bool Masked => false; }
internal struct N1M : IColCount { public static int Value => 1; public static bool Masked => true; }
internal struct N2 : IColCount { public static int Value => 2; public static bool Masked => false; }
internal struct N4 : IColCount { public static int Value => 4; public static bool Masked => false; }

/// <summary>A operand for Dense: <c>rows</c> rows of x with stride lda, one K block.</summary>
internal unsafe struct DenseRows : IRowSource
{
    private readonly float* _a;
    private readonly nint _lda;
    private readonly int _rows;
    private readonly int _len;
    private readonly float* _b;
    private readonly int _ldb;

    public DenseRows(float* a, int lda, int rows, int len, float* b, int ldb)
    {
        _a = a;
        _lda = lda;
        _rows = rows;
        _len = len;
        _b = b;
        _ldb = ldb;
    }

    public int Ldb => _ldb;
    public int Segments => 1;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Length(int s) => _len;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* B(int s) => _b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float* Row(int s, int r) => _a + ((r < _rows ? r : 0) * _lda);
}

/// <summary>
/// Register-blocked GEMM core: <c>C[rows, n] += A[rows, K] * B[K, n]</c> with A given by an
/// <see cref="IRowSource"/>. The micro-kernel keeps a (rows x vectors) block of C in registers and,
/// for every k, broadcasts one A value per row and issues one FMA per (row, vector).
/// </summary>
/// <remarks>
/// Accumulation order (what Dense documents): every output element is computed as
/// <c>acc = +0; for each segment, for k ascending: acc = Madd(a[k], b[k], acc)</c>, then
/// <c>c += acc</c> once. The vector width, the micro-kernel shape and the masked tails do not change
/// this per-element order, and <see cref="KernelMath.Madd(float,float,float)"/> mirrors the vector Madd,
/// so the result of an element does not depend on where it falls in the tiling.
/// </remarks>
internal static unsafe class Gemm
{
    /// <summary>Rows per micro-tile for the current path (the micro-kernel's largest row count).</summary>
    public static int RowTile => KernelMath.Path switch
    {
        SimdPath.Avx512 => 8,
        SimdPath.Avx256 => 6,
        _ => 4,
    };

    /// <summary><c>c[r*ldc + j] += sum_k A[r,k] B[k,j]</c> for r &lt; rows (&lt;= RowTile), j &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Tile<TR>(ref TR src, int rows, int n, float* c, int ldc)
        where TR : struct, IRowSource
    {
        switch (KernelMath.Path)
        {
            case SimdPath.Avx512:
                if (rows > 4)
                {
                    Cols<Vector512<float>, V512, TR, R8>(ref src, rows, n, c, ldc);
                }
                else if (rows > 1)
                {
                    Cols<Vector512<float>, V512, TR, R4>(ref src, rows, n, c, ldc);
                }
                else
                {
                    Cols<Vector512<float>, V512, TR, R1>(ref src, rows, n, c, ldc);
                }

                break;
            case SimdPath.Avx256:
                if (rows > 4)
                {
                    Cols<Vector256<float>, V256, TR, R6>(ref src, rows, n, c, ldc);
                }
                else if (rows > 1)
                {
                    Cols<Vector256<float>, V256, TR, R4>(ref src, rows, n, c, ldc);
                }
                else
                {
                    Cols<Vector256<float>, V256, TR, R1>(ref src, rows, n, c, ldc);
                }

                break;
            default:
                ScalarTile(ref src, rows, n, c, ldc);
                break;
        }
    }

    private static void Cols<TV, TOps, TR, TM>(ref TR src, int rows, int n, float* c, int ldc)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TR : struct, IRowSource
        where TM : struct, IRowCount
    {
        int w = TOps.Width;
        int j = 0;
        for (; j + (2 * w) <= n; j += 2 * w)
        {
            Micro<TV, TOps, TR, TM, N2>(ref src, c + j, ldc, j, rows, TOps.Zero);
        }

        if (j + w <= n)
        {
            Micro<TV, TOps, TR, TM, N1>(ref src, c + j, ldc, j, rows, TOps.Zero);
            j += w;
        }

        if (j < n)
        {
            Micro<TV, TOps, TR, TM, N1M>(ref src, c + j, ldc, j, rows, TOps.Mask(n - j));
        }
    }

    /// <summary>
    /// Portable path, same per-element order as the vector path: per row and chunk of columns, the
    /// partial sums live in a stack buffer and B rows are read contiguously.
    /// </summary>
    private static void ScalarTile<TR>(ref TR src, int rows, int n, float* c, int ldc)
        where TR : struct, IRowSource
    {
        const int Chunk = 256;
        float* acc = stackalloc float[Chunk];
        int ldb = src.Ldb;
        int segments = src.Segments;
        for (int r = 0; r < rows; r++)
        {
            float* cr = c + (r * (nint)ldc);
            for (int j0 = 0; j0 < n; j0 += Chunk)
            {
                int jc = Math.Min(Chunk, n - j0);
                new Span<float>(acc, jc).Clear();
                for (int s = 0; s < segments; s++)
                {
                    float* p = src.Row(s, r);
                    float* b = src.B(s) + j0;
                    int len = src.Length(s);
                    for (int k = 0; k < len; k++, b += ldb)
                    {
                        float a = p[k];
                        for (int j = 0; j < jc; j++)
                        {
                            acc[j] = KernelMath.Madd(a, b[j], acc[j]);
                        }
                    }
                }

                for (int j = 0; j < jc; j++)
                {
                    cr[j0 + j] += acc[j];
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TV, TOps, TN>(float* c, TV mask, TV v0, TV v1, TV v2, TV v3)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TN : struct, IColCount
    {
        if (TN.Masked)
        {
            TOps.AddStoreMasked(c, mask, v0);
            return;
        }

        TOps.AddStore(c, v0);
        if (TN.Value > 1)
        {
            TOps.AddStore(c + TOps.Width, v1);
        }

        if (TN.Value > 2)
        {
            TOps.AddStore(c + (2 * TOps.Width), v2);
        }

        if (TN.Value > 3)
        {
            TOps.AddStore(c + (3 * TOps.Width), v3);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro<TV, TOps, TR, TM, TN>(ref TR src, float* c, int ldc, int col, int rows, TV mask)
        where TV : struct
        where TOps : struct, IVecOps<TV>
        where TR : struct, IRowSource
        where TM : struct, IRowCount
        where TN : struct, IColCount
    {
        TV c00 = TOps.Zero, c01 = TOps.Zero, c02 = TOps.Zero, c03 = TOps.Zero;
        TV c10 = TOps.Zero, c11 = TOps.Zero, c12 = TOps.Zero, c13 = TOps.Zero;
        TV c20 = TOps.Zero, c21 = TOps.Zero, c22 = TOps.Zero, c23 = TOps.Zero;
        TV c30 = TOps.Zero, c31 = TOps.Zero, c32 = TOps.Zero, c33 = TOps.Zero;
        TV c40 = TOps.Zero, c41 = TOps.Zero, c42 = TOps.Zero, c43 = TOps.Zero;
        TV c50 = TOps.Zero, c51 = TOps.Zero, c52 = TOps.Zero, c53 = TOps.Zero;
        TV c60 = TOps.Zero, c61 = TOps.Zero, c62 = TOps.Zero, c63 = TOps.Zero;
        TV c70 = TOps.Zero, c71 = TOps.Zero, c72 = TOps.Zero, c73 = TOps.Zero;
        TV c80 = TOps.Zero, c81 = TOps.Zero, c82 = TOps.Zero, c83 = TOps.Zero;
        TV c90 = TOps.Zero, c91 = TOps.Zero, c92 = TOps.Zero, c93 = TOps.Zero;
        TV c100 = TOps.Zero, c101 = TOps.Zero, c102 = TOps.Zero, c103 = TOps.Zero;
        TV c110 = TOps.Zero, c111 = TOps.Zero, c112 = TOps.Zero, c113 = TOps.Zero;
        int ldb = src.Ldb;
        int segments = src.Segments;
        for (int s = 0; s < segments; s++)
        {
            int len = src.Length(s);
            float* b = src.B(s) + col;
            float* p0 = src.Row(s, 0);
            float* p1 = TM.Value > 1 ? src.Row(s, 1) : null;
            float* p2 = TM.Value > 2 ? src.Row(s, 2) : null;
            float* p3 = TM.Value > 3 ? src.Row(s, 3) : null;
            float* p4 = TM.Value > 4 ? src.Row(s, 4) : null;
            float* p5 = TM.Value > 5 ? src.Row(s, 5) : null;
            float* p6 = TM.Value > 6 ? src.Row(s, 6) : null;
            float* p7 = TM.Value > 7 ? src.Row(s, 7) : null;
            float* p8 = TM.Value > 8 ? src.Row(s, 8) : null;
            float* p9 = TM.Value > 9 ? src.Row(s, 9) : null;
            float* p10 = TM.Value > 10 ? src.Row(s, 10) : null;
            float* p11 = TM.Value > 11 ? src.Row(s, 11) : null;
            for (int k = 0; k < len; k++)
            {
                TV b0 = TN.Masked ? TOps.LoadMasked(b, mask) : TOps.Load(b);
                TV b1 = TN.Value > 1 ? TOps.Load(b + (1 * TOps.Width)) : TOps.Zero;
                TV b2 = TN.Value > 2 ? TOps.Load(b + (2 * TOps.Width)) : TOps.Zero;
                TV b3 = TN.Value > 3 ? TOps.Load(b + (3 * TOps.Width)) : TOps.Zero;
                TV a;
                a = TOps.Broadcast(p0 + k);
                c00 = TOps.Madd(a, b0, c00);
                if (TN.Value > 1) c01 = TOps.Madd(a, b1, c01);
                if (TN.Value > 2) c02 = TOps.Madd(a, b2, c02);
                if (TN.Value > 3) c03 = TOps.Madd(a, b3, c03);
                if (TM.Value > 1)
                {
                    a = TOps.Broadcast(p1 + k);
                    c10 = TOps.Madd(a, b0, c10);
                    if (TN.Value > 1) c11 = TOps.Madd(a, b1, c11);
                    if (TN.Value > 2) c12 = TOps.Madd(a, b2, c12);
                    if (TN.Value > 3) c13 = TOps.Madd(a, b3, c13);
                }
                if (TM.Value > 2)
                {
                    a = TOps.Broadcast(p2 + k);
                    c20 = TOps.Madd(a, b0, c20);
                    if (TN.Value > 1) c21 = TOps.Madd(a, b1, c21);
                    if (TN.Value > 2) c22 = TOps.Madd(a, b2, c22);
                    if (TN.Value > 3) c23 = TOps.Madd(a, b3, c23);
                }
                if (TM.Value > 3)
                {
                    a = TOps.Broadcast(p3 + k);
                    c30 = TOps.Madd(a, b0, c30);
                    if (TN.Value > 1) c31 = TOps.Madd(a, b1, c31);
                    if (TN.Value > 2) c32 = TOps.Madd(a, b2, c32);
                    if (TN.Value > 3) c33 = TOps.Madd(a, b3, c33);
                }
                if (TM.Value > 4)
                {
                    a = TOps.Broadcast(p4 + k);
                    c40 = TOps.Madd(a, b0, c40);
                    if (TN.Value > 1) c41 = TOps.Madd(a, b1, c41);
                    if (TN.Value > 2) c42 = TOps.Madd(a, b2, c42);
                    if (TN.Value > 3) c43 = TOps.Madd(a, b3, c43);
                }
                if (TM.Value > 5)
                {
                    a = TOps.Broadcast(p5 + k);
                    c50 = TOps.Madd(a, b0, c50);
                    if (TN.Value > 1) c51 = TOps.Madd(a, b1, c51);
                    if (TN.Value > 2) c52 = TOps.Madd(a, b2, c52);
                    if (TN.Value > 3) c53 = TOps.Madd(a, b3, c53);
                }
                if (TM.Value > 6)
                {
                    a = TOps.Broadcast(p6 + k);
                    c60 = TOps.Madd(a, b0, c60);
                    if (TN.Value > 1) c61 = TOps.Madd(a, b1, c61);
                    if (TN.Value > 2) c62 = TOps.Madd(a, b2, c62);
                    if (TN.Value > 3) c63 = TOps.Madd(a, b3, c63);
                }
                if (TM.Value > 7)
                {
                    a = TOps.Broadcast(p7 + k);
                    c70 = TOps.Madd(a, b0, c70);
                    if (TN.Value > 1) c71 = TOps.Madd(a, b1, c71);
                    if (TN.Value > 2) c72 = TOps.Madd(a, b2, c72);
                    if (TN.Value > 3) c73 = TOps.Madd(a, b3, c73);
                }
                if (TM.Value > 8)
                {
                    a = TOps.Broadcast(p8 + k);
                    c80 = TOps.Madd(a, b0, c80);
                    if (TN.Value > 1) c81 = TOps.Madd(a, b1, c81);
                    if (TN.Value > 2) c82 = TOps.Madd(a, b2, c82);
                    if (TN.Value > 3) c83 = TOps.Madd(a, b3, c83);
                }
                if (TM.Value > 9)
                {
                    a = TOps.Broadcast(p9 + k);
                    c90 = TOps.Madd(a, b0, c90);
                    if (TN.Value > 1) c91 = TOps.Madd(a, b1, c91);
                    if (TN.Value > 2) c92 = TOps.Madd(a, b2, c92);
                    if (TN.Value > 3) c93 = TOps.Madd(a, b3, c93);
                }
                if (TM.Value > 10)
                {
                    a = TOps.Broadcast(p10 + k);
                    c100 = TOps.Madd(a, b0, c100);
                    if (TN.Value > 1) c101 = TOps.Madd(a, b1, c101);
                    if (TN.Value > 2) c102 = TOps.Madd(a, b2, c102);
                    if (TN.Value > 3) c103 = TOps.Madd(a, b3, c103);
                }
                if (TM.Value > 11)
                {
                    a = TOps.Broadcast(p11 + k);
                    c110 = TOps.Madd(a, b0, c110);
                    if (TN.Value > 1) c111 = TOps.Madd(a, b1, c111);
                    if (TN.Value > 2) c112 = TOps.Madd(a, b2, c112);
                    if (TN.Value > 3) c113 = TOps.Madd(a, b3, c113);
                }

                b += ldb;
            }
        }

        Store<TV, TOps, TN>(c + (0 * (nint)ldc), mask, c00, c01, c02, c03);
        if (TM.Value <= 1 || rows <= 1) return;
        Store<TV, TOps, TN>(c + (1 * (nint)ldc), mask, c10, c11, c12, c13);
        if (TM.Value <= 2 || rows <= 2) return;
        Store<TV, TOps, TN>(c + (2 * (nint)ldc), mask, c20, c21, c22, c23);
        if (TM.Value <= 3 || rows <= 3) return;
        Store<TV, TOps, TN>(c + (3 * (nint)ldc), mask, c30, c31, c32, c33);
        if (TM.Value <= 4 || rows <= 4) return;
        Store<TV, TOps, TN>(c + (4 * (nint)ldc), mask, c40, c41, c42, c43);
        if (TM.Value <= 5 || rows <= 5) return;
        Store<TV, TOps, TN>(c + (5 * (nint)ldc), mask, c50, c51, c52, c53);
        if (TM.Value <= 6 || rows <= 6) return;
        Store<TV, TOps, TN>(c + (6 * (nint)ldc), mask, c60, c61, c62, c63);
        if (TM.Value <= 7 || rows <= 7) return;
        Store<TV, TOps, TN>(c + (7 * (nint)ldc), mask, c70, c71, c72, c73);
        if (TM.Value <= 8 || rows <= 8) return;
        Store<TV, TOps, TN>(c + (8 * (nint)ldc), mask, c80, c81, c82, c83);
        if (TM.Value <= 9 || rows <= 9) return;
        Store<TV, TOps, TN>(c + (9 * (nint)ldc), mask, c90, c91, c92, c93);
        if (TM.Value <= 10 || rows <= 10) return;
        Store<TV, TOps, TN>(c + (10 * (nint)ldc), mask, c100, c101, c102, c103);
        if (TM.Value <= 11 || rows <= 11) return;
        Store<TV, TOps, TN>(c + (11 * (nint)ldc), mask, c110, c111, c112, c113);
    }
}
