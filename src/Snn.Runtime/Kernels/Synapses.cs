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
}
