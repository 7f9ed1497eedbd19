using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>Synapse (linear filter) state updates (nengo-semantics.md §2.4).</summary>
public static class Synapses
{
    /// <summary>
    /// Lowpass zero-order-hold step (Nengo <c>OneX</c>): <c>state = a*state + b*input</c>, elementwise,
    /// two float products and one float add (no FMA), as numpy computes it. The caller supplies
    /// <c>a = exp(-dt/tau)</c> and <c>b = 1 - a</c>. The filter output is the new state.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Lowpass(ReadOnlySpan<float> input, float a, float b, Span<float> state)
    {
        KernelMath.CheckLength(state.Length, input.Length, nameof(state));
        int n = input.Length;
        int i = 0;
        ref float ri = ref MemoryMarshal.GetReference(input);
        ref float rs = ref MemoryMarshal.GetReference(state);
        if (Vector256.IsHardwareAccelerated)
        {
            var av = Vector256.Create(a);
            var bv = Vector256.Create(b);
            for (; i + 8 <= n; i += 8)
            {
                var s = Vector256.LoadUnsafe(ref rs, (nuint)i);
                var u = Vector256.LoadUnsafe(ref ri, (nuint)i);
                ((av * s) + (bv * u)).StoreUnsafe(ref rs, (nuint)i);
            }
        }

        for (; i < n; i++)
        {
            state[i] = (a * state[i]) + (b * input[i]);
        }
    }

    /// <summary>
    /// Lowpass with one coefficient pair per element, over a batch of rows of <paramref name="a"/>.Length elements:
    /// <c>state = a[i]*state + b[i]*input</c> (keras_spiking Lowpass, which may train one τ per element).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LowpassPerElement(ReadOnlySpan<float> input, ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> state)
    {
        KernelMath.CheckLength(state.Length, input.Length, nameof(state));
        KernelMath.CheckLength(b.Length, a.Length, nameof(b));
        var size = a.Length;
        for (var row = 0; row + size <= input.Length; row += size)
        {
            var u = input.Slice(row, size);
            var y = state.Slice(row, size);
            for (var i = 0; i < size; i++) y[i] = (a[i] * y[i]) + (b[i] * u[i]);
        }
    }

    /// <summary>
    /// Alpha filter ZOH step over a batch of rows: <c>[d, y] = A·[d, y] + B·u</c> per element, where
    /// <paramref name="coefficients"/> holds the blocks A00, A01, A10, A11, B0, B1 of one row's length each.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Alpha(ReadOnlySpan<float> input, ReadOnlySpan<float> coefficients, Span<float> derivative, Span<float> state)
    {
        KernelMath.CheckLength(state.Length, input.Length, nameof(state));
        KernelMath.CheckLength(derivative.Length, input.Length, nameof(derivative));
        var size = coefficients.Length / 6;
        var a00 = coefficients.Slice(0, size);
        var a01 = coefficients.Slice(size, size);
        var a10 = coefficients.Slice(2 * size, size);
        var a11 = coefficients.Slice(3 * size, size);
        var b0 = coefficients.Slice(4 * size, size);
        var b1 = coefficients.Slice(5 * size, size);
        for (var row = 0; row + size <= input.Length; row += size)
        {
            var u = input.Slice(row, size);
            var d = derivative.Slice(row, size);
            var y = state.Slice(row, size);
            for (var i = 0; i < size; i++)
            {
                var d0 = d[i];
                var y0 = y[i];
                d[i] = (a00[i] * d0) + (a01[i] * y0) + (b0[i] * u[i]);
                y[i] = (a10[i] * d0) + (a11[i] * y0) + (b1[i] * u[i]);
            }
        }
    }
}
