using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Snn.Runtime.Kernels;

/// <summary>
/// Neuron step math (Nengo <c>step</c> functions, nengo-semantics.md §2.1) in float32, elementwise
/// over spans of equal length (batch*n flattened). Outputs and states may alias the input J
/// exactly (same span) but must not partially overlap it.
/// </summary>
/// <remarks>
/// <para>Every operation is the float32 operation numpy performs on float32 arrays (Python scalars
/// such as dt or tau_rc are rounded to float first), in the same order and without contraction to
/// FMA. The one exception is a scalar expression that Nengo evaluates in Python double,
/// <c>amplitude / dt</c>: it is computed here in float from the float arguments, as NengoDL does
/// (<c>alpha = amplitude / signals.dt</c> in float32). For dt = 0.001f that gives 999.99994f where
/// Nengo core has 1000.</para>
/// <para><c>expm1</c> and <c>log1p</c> are evaluated in double (vectorized, accurate to a few double
/// ulps) and rounded to float, i.e. correctly rounded float results except in very rare
/// double-rounding cases.</para>
/// <para>The vector loops process 8 lanes; tails are padded into an 8-lane buffer and run through the
/// same vector code, so every element gets the same arithmetic wherever it sits.</para>
/// </remarks>
public static class Neurons
{
    /// <summary><c>out = amplitude * max(0, J)</c>.</summary>
    public static void RectifiedLinear(ReadOnlySpan<float> j, float amplitude, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        TensorPrimitives.Max(j, 0f, output);
        if (amplitude != 1f)
        {
            TensorPrimitives.Multiply(output, amplitude, output);
        }
    }

    /// <summary>
    /// <c>v += max(J, 0) * dt; n = floor(v); out = (amplitude / dt) * n; v -= n</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SpikingRectifiedLinear(ReadOnlySpan<float> j, float dt, float amplitude, Span<float> voltage, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        float alpha = amplitude / dt;
        var dtV = Vector256.Create(dt);
        var alphaV = Vector256.Create(alpha);
        int n = j.Length;
        int i = 0;
        ref float rj = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(j);
        ref float rv = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(voltage);
        ref float ro = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(output);
        for (; i + 8 <= n; i += 8)
        {
            var jv = Vector256.LoadUnsafe(ref rj, (nuint)i);
            var v = Vector256.LoadUnsafe(ref rv, (nuint)i);
            SrlStep(jv, dtV, alphaV, ref v, out var o);
            v.StoreUnsafe(ref rv, (nuint)i);
            o.StoreUnsafe(ref ro, (nuint)i);
        }

        if (i < n)
        {
            Span<float> t = stackalloc float[16];
            int rem = n - i;
            j.Slice(i).CopyTo(t);
            voltage.Slice(i).CopyTo(t.Slice(8));
            var v = Vector256.Create<float>(t.Slice(8));
            SrlStep(Vector256.Create<float>(t), dtV, alphaV, ref v, out var o);
            v.CopyTo(t.Slice(8));
            o.CopyTo(t);
            t.Slice(8, rem).CopyTo(voltage.Slice(i));
            t.Slice(0, rem).CopyTo(output.Slice(i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void SrlStep(Vector256<float> j, Vector256<float> dt, Vector256<float> alpha, ref Vector256<float> v, out Vector256<float> output)
    {
        v += Vector256.Max(j, Vector256<float>.Zero) * dt;
        var n = Vector256.Floor(v);
        output = alpha * n;
        v -= n;
    }

    /// <summary>
    /// Nengo's RegularSpiking on top of a base rate already in <paramref name="output"/>:
    /// <c>v += rate * dt; n = floor(v); out = (amplitude / dt) * n; v -= n</c> (n is negative for negative rates).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RegularSpiking(float dt, float amplitude, Span<float> voltage, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, output.Length, nameof(voltage));
        var alpha = amplitude / dt;
        for (var i = 0; i < output.Length; i++)
        {
            var v = voltage[i] + (output[i] * dt);
            var n = MathF.Floor(v);
            output[i] = alpha * n;
            voltage[i] = v - n;
        }
    }

    /// <summary>
    /// <c>j = J - 1; out = j &gt; 0 ? amplitude / (tau_ref + tau_rc * log1p(1 / j)) : 0</c>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LifRate(ReadOnlySpan<float> j, float tauRc, float tauRef, float amplitude, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var p = new LifParams(0f, tauRc, tauRef, 0f, amplitude);
        int n = j.Length;
        int i = 0;
        ref float rj = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(j);
        ref float ro = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(output);
        for (; i + 8 <= n; i += 8)
        {
            LifRateStep(Vector256.LoadUnsafe(ref rj, (nuint)i), in p).StoreUnsafe(ref ro, (nuint)i);
        }

        if (i < n)
        {
            Span<float> t = stackalloc float[8];
            j.Slice(i).CopyTo(t);
            LifRateStep(Vector256.Create<float>(t), in p).CopyTo(t);
            t.Slice(0, n - i).CopyTo(output.Slice(i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LifRateStep(Vector256<float> jIn, in LifParams p)
    {
        var j = jIn - Vector256<float>.One;
        var pos = Vector256.GreaterThan(j, Vector256<float>.Zero);
        if (pos == Vector256<float>.Zero)
        {
            return Vector256<float>.Zero;
        }

        var q = Log1P(Vector256<float>.One / j);
        var rate = p.Amplitude / (p.TauRef + (p.TauRc * q));
        return pos & rate;
    }

    /// <summary>
    /// Nengo <c>LIF.step</c>: <c>r -= dt; delta_t = clip(dt - r, 0, dt);
    /// v -= (J - v) * expm1(-delta_t / tau_rc); spiked = v &gt; 1; out = spiked * (amplitude / dt);
    /// t_spike = dt + tau_rc * log1p(-(v - 1) / (J - 1)) (spiked only); v[v &lt; min_voltage] = min_voltage;
    /// v[spiked] = 0; r[spiked] = tau_ref + t_spike</c>. <paramref name="refractory"/> holds Nengo's
    /// refractory_time (initially 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Lif(ReadOnlySpan<float> j, float dt, float tauRc, float tauRef, float minVoltage, float amplitude, Span<float> voltage, Span<float> refractory, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(refractory.Length, j.Length, nameof(refractory));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var p = new LifParams(dt, tauRc, tauRef, minVoltage, amplitude);
        int n = j.Length;
        int i = 0;
        ref float rj = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(j);
        ref float rv = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(voltage);
        ref float rr = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(refractory);
        ref float ro = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(output);
        for (; i + 8 <= n; i += 8)
        {
            var v = Vector256.LoadUnsafe(ref rv, (nuint)i);
            var r = Vector256.LoadUnsafe(ref rr, (nuint)i);
            var o = LifStep(Vector256.LoadUnsafe(ref rj, (nuint)i), in p, ref v, ref r);
            v.StoreUnsafe(ref rv, (nuint)i);
            r.StoreUnsafe(ref rr, (nuint)i);
            o.StoreUnsafe(ref ro, (nuint)i);
        }

        if (i < n)
        {
            int rem = n - i;
            Span<float> t = stackalloc float[24];
            j.Slice(i).CopyTo(t);
            voltage.Slice(i).CopyTo(t.Slice(8));
            refractory.Slice(i).CopyTo(t.Slice(16));
            var v = Vector256.Create<float>(t.Slice(8));
            var r = Vector256.Create<float>(t.Slice(16));
            var o = LifStep(Vector256.Create<float>(t), in p, ref v, ref r);
            o.CopyTo(t);
            v.CopyTo(t.Slice(8));
            r.CopyTo(t.Slice(16));
            t.Slice(0, rem).CopyTo(output.Slice(i));
            t.Slice(8, rem).CopyTo(voltage.Slice(i));
            t.Slice(16, rem).CopyTo(refractory.Slice(i));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LifStep(Vector256<float> j, in LifParams p, ref Vector256<float> v, ref Vector256<float> r)
    {
        r -= p.Dt;
        var deltaT = Vector256.Min(Vector256.Max(p.Dt - r, Vector256<float>.Zero), p.Dt);

        // expm1(-delta_t / tau_rc): delta_t == dt (not refractory) is by far the common case.
        var full = Vector256.Equals(deltaT, p.Dt);
        Vector256<float> e;
        if (full == Vector256<float>.AllBitsSet)
        {
            e = p.ExpM1Dt;
        }
        else
        {
            e = Vector256.ConditionalSelect(full, p.ExpM1Dt, ExpM1(-deltaT / p.TauRc));
        }

        v -= (j - v) * e;
        var spiked = Vector256.GreaterThan(v, Vector256<float>.One);
        var output = spiked & p.Alpha;
        if (spiked != Vector256<float>.Zero)
        {
            var tSpike = p.Dt + (p.TauRc * Log1P(-(v - Vector256<float>.One) / (j - Vector256<float>.One)));
            r = Vector256.ConditionalSelect(spiked, p.TauRef + tSpike, r);
        }

        v = Vector256.ConditionalSelect(Vector256.LessThan(v, p.MinVoltage), p.MinVoltage, v);
        v = Vector256.AndNot(v, spiked);
        return output;
    }

    /// <summary><c>out = (1 / tau_ref) / (1 + exp(-J))</c>.</summary>
    public static void Sigmoid(ReadOnlySpan<float> j, float tauRef, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        float scale = (float)(1.0 / tauRef);
        TensorPrimitives.Negate(j, output);
        TensorPrimitives.Exp(output, output);
        TensorPrimitives.Add(output, 1f, output);
        TensorPrimitives.Divide(scale, output, output);
    }

    /// <summary>
    /// <c>out = (1 / tau_ref) * tanh(J)</c>. tanh is evaluated in double as
    /// <c>sign(J) * -expm1(-2|J|) / (2 + expm1(-2|J|))</c> and rounded to float (TensorPrimitives.Tanh
    /// is not accurate enough near 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Tanh(ReadOnlySpan<float> j, float tauRef, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var scale = Vector256.Create((float)(1.0 / tauRef));
        int n = j.Length;
        int i = 0;
        ref float rj = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(j);
        ref float ro = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(output);
        for (; i + 8 <= n; i += 8)
        {
            (scale * Tanh(Vector256.LoadUnsafe(ref rj, (nuint)i))).StoreUnsafe(ref ro, (nuint)i);
        }

        if (i < n)
        {
            Span<float> t = stackalloc float[8];
            j.Slice(i).CopyTo(t);
            (scale * Tanh(Vector256.Create<float>(t))).CopyTo(t);
            t.Slice(0, n - i).CopyTo(output.Slice(i));
        }
    }

    internal static Vector256<float> Tanh(Vector256<float> x)
    {
        var (lo, hi) = Vector256.Widen(x);
        var r = Vector256.Narrow(TanhAbs(lo), TanhAbs(hi));
        var sign = Vector256.Create(-0f);
        return Vector256.AndNot(r, sign) | (x & sign);
    }

    private static Vector256<double> TanhAbs(Vector256<double> x)
    {
        var t = ExpM1(Vector256.Create(-2.0) * Vector256.Abs(x));
        return Vector256.Abs(t / (Vector256.Create(2.0) + t));
    }

    /// <summary>expm1 of each lane, computed in double and rounded to float.</summary>
    internal static Vector256<float> ExpM1(Vector256<float> x)
    {
        var (lo, hi) = Vector256.Widen(x);
        return Vector256.Narrow(ExpM1(lo), ExpM1(hi));
    }

    /// <summary>log1p of each lane, computed in double and rounded to float.</summary>
    internal static Vector256<float> Log1P(Vector256<float> x)
    {
        var (lo, hi) = Vector256.Widen(x);
        return Vector256.Narrow(Log1P(lo), Log1P(hi));
    }

    private static Vector256<double> ExpM1(Vector256<double> x)
    {
        // exp(x) - 1 loses relative accuracy as x -> 0; below 1e-5 the cubic Taylor polynomial is
        // exact to ~1e-21 relative.
        var e = Vector256.Exp(x) - Vector256<double>.One;
        var small = Vector256.LessThan(Vector256.Abs(x), Vector256.Create(1e-5));
        var poly = x + (x * x * (Vector256.Create(0.5) + (x * Vector256.Create(1.0 / 6.0))));
        return Vector256.ConditionalSelect(small, poly, e);
    }

    private static Vector256<double> Log1P(Vector256<double> x)
    {
        // Goldberg's trick: u = 1 + x rounded; log1p(x) = log(u) * x / (u - 1), exact to a few ulps.
        var u = Vector256<double>.One + x;
        var d = u - Vector256<double>.One;
        var r = Vector256.Log(u) * (x / d);
        r = Vector256.ConditionalSelect(Vector256.Equals(d, Vector256<double>.Zero), x, r);
        return Vector256.ConditionalSelect(Vector256.Equals(x, Vector256.Create(double.PositiveInfinity)), x, r);
    }

    private readonly struct LifParams
    {
        public readonly Vector256<float> Dt;
        public readonly Vector256<float> TauRc;
        public readonly Vector256<float> TauRef;
        public readonly Vector256<float> MinVoltage;
        public readonly Vector256<float> Alpha;
        public readonly Vector256<float> Amplitude;
        public readonly Vector256<float> ExpM1Dt;

        public LifParams(float dt, float tauRc, float tauRef, float minVoltage, float amplitude)
        {
            Dt = Vector256.Create(dt);
            TauRc = Vector256.Create(tauRc);
            TauRef = Vector256.Create(tauRef);
            MinVoltage = Vector256.Create(minVoltage);
            Amplitude = Vector256.Create(amplitude);
            Alpha = Vector256.Create(amplitude / dt);
            ExpM1Dt = ExpM1(-Dt / TauRc);
        }
    }
}

/// <summary>The Keras ReLU family (leaky, thresholded, clipped, per-neuron slopes) as rate and spiking steps.</summary>
public static class ReluFamily
{
    /// <summary>f(J) = min(J ≥ θ ? J : slope·(J − θ), max); slope has length 1 or n (the neuron count); j is [batch, n].</summary>
    static float F(float j, float slope, float threshold, float max) => MathF.Min(j >= threshold ? j : slope * (j - threshold), max);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Rate(ReadOnlySpan<float> j, ReadOnlySpan<float> slope, float threshold, float max, float amplitude, Span<float> output)
    {
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var n = slope.Length;
        for (var i = 0; i < j.Length; i++) output[i] = amplitude * F(j[i], slope[n == 1 ? 0 : i % n], threshold, max);
    }

    /// <summary>v += f(J)·dt; n = trunc(v); out = amplitude/dt·n; v −= n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Spiking(ReadOnlySpan<float> j, ReadOnlySpan<float> slope, float threshold, float max, float dt, float amplitude,
        Span<float> voltage, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var alpha = amplitude / dt;
        var n = slope.Length;
        for (var i = 0; i < j.Length; i++)
        {
            var v = voltage[i] + F(j[i], slope[n == 1 ? 0 : i % n], threshold, max) * dt;
            var spikes = MathF.Truncate(v);
            output[i] = alpha * spikes;
            voltage[i] = v - spikes;
        }
    }
}

/// <summary>Integrate-and-fire with signed integration, and the reset-to-zero variant of SpikingRectifiedLinear.</summary>
public static class IntegrateFire
{
    /// <summary>
    /// Integrate-and-fire with negative spikes (signed spikes with memory): v += J·dt; n = max(floor(v), −c);
    /// out = amplitude/dt·n; v −= n; c += n. <paramref name="count"/> holds each neuron's net spike count c (≥ 0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SignedStep(ReadOnlySpan<float> j, float dt, float amplitude, Span<float> voltage, Span<float> count, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(count.Length, j.Length, nameof(count));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        Signed(j, default, default, default, j.Length, dt, amplitude / dt, voltage, count, output, affine: false);
    }

    /// <summary>
    /// <see cref="SignedStep"/> on the currents J = x·gain + bias (one bias and scale per neuron, repeated for every sample of
    /// the block; gain empty, one value, or one per neuron), each output then multiplied by the neuron's
    /// <paramref name="scale"/> when one is given: <see cref="Elementwise.AffineSet"/>, <see cref="SignedStep"/> and the
    /// output scaling in one pass over the block, with the same operations in the same order (bit for bit).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SignedAffineStep(ReadOnlySpan<float> x, ReadOnlySpan<float> gain, ReadOnlySpan<float> bias, ReadOnlySpan<float> scale,
        float dt, float amplitude, Span<float> voltage, Span<float> count, Span<float> output)
    {
        var size = bias.Length;
        KernelMath.CheckLength(voltage.Length, x.Length, nameof(voltage));
        KernelMath.CheckLength(count.Length, x.Length, nameof(count));
        KernelMath.CheckLength(output.Length, x.Length, nameof(output));
        if (size == 0 ? x.Length != 0 : x.Length % size != 0) throw new ArgumentException($"Length {x.Length} is not a multiple of {size} neurons.", nameof(x));
        if (gain.Length is not (0 or 1) && gain.Length != size) throw new ArgumentException("gain must have 0, 1 or one value per neuron.", nameof(gain));
        if (scale.Length != 0 && scale.Length != size) throw new ArgumentException("scale must be empty or have one value per neuron.", nameof(scale));
        Signed(x, gain, bias, scale, size, dt, amplitude / dt, voltage, count, output, affine: true);
    }

    /// <summary>
    /// The signed step on rows of <paramref name="size"/> neurons: J = x (or, <paramref name="affine"/>, x·gain + bias),
    /// v += J·dt; n = max(floor(v), −c); out = alpha·n (× scale); v −= n; c += n. Vectors where the hardware has them,
    /// the same operations lane by lane (products and sums never fused), scalars for each row's tail.
    /// </summary>
    static unsafe void Signed(ReadOnlySpan<float> x, ReadOnlySpan<float> gain, ReadOnlySpan<float> bias, ReadOnlySpan<float> scale, int size,
        float dt, float alpha, Span<float> voltage, Span<float> count, Span<float> output, bool affine)
    {
        fixed (float* px = x, pg = gain, pb = bias, ps = scale, pv = voltage, pc = count, po = output)
        {
            var p = new SignedArgs(px, pg, gain.Length, pb, ps, scale.Length > 0, pv, pc, po, dt, alpha, affine);
            for (var row = 0; row < x.Length; row += size)
            {
                var i = KernelMath.Path switch
                {
                    SimdPath.Avx512 => SignedVectors<Vector512<float>, V512>(p, row, size),
                    SimdPath.Avx256 => SignedVectors<Vector256<float>, V256>(p, row, size),
                    _ => 0,
                };
                for (; i < size; i++)
                {
                    var k = row + i;
                    var j = affine ? (p.GainLength == 0 ? px[k] : px[k] * pg[p.GainLength == 1 ? 0 : i]) + pb[i] : px[k];
                    var v = pv[k] + j * dt;
                    var n = MathF.Max(MathF.Floor(v), -pc[k]);
                    var o = alpha * n;
                    po[k] = p.Scaled ? o * ps[i] : o;
                    pv[k] = v - n;
                    pc[k] += n;
                }
            }
        }
    }

    readonly unsafe struct SignedArgs(float* x, float* gain, int gainLength, float* bias, float* scale, bool scaled,
        float* voltage, float* count, float* output, float dt, float alpha, bool affine)
    {
        public readonly float* X = x, Gain = gain, Bias = bias, Scale = scale, Voltage = voltage, Count = count, Output = output;
        public readonly int GainLength = gainLength;
        public readonly float Dt = dt, Alpha = alpha;
        public readonly bool Scaled = scaled, Affine = affine;
    }

    /// <summary>The whole vectors of one row of <see cref="Signed"/>; returns where the scalar tail starts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    static unsafe int SignedVectors<TV, TOps>(SignedArgs p, int row, int size)
        where TV : struct
        where TOps : struct, IVecOps<TV>
    {
        var (dtV, alphaV) = (TOps.Create(p.Dt), TOps.Create(p.Alpha));
        var g0 = TOps.Create(p.GainLength == 1 ? *p.Gain : 0f);
        var i = 0;
        for (; i + TOps.Width <= size; i += TOps.Width)
        {
            var k = row + i;
            var x = TOps.Load(p.X + k);
            var j = !p.Affine ? x
                : TOps.Add(p.GainLength == 0 ? x : TOps.Multiply(x, p.GainLength == 1 ? g0 : TOps.Load(p.Gain + i)), TOps.Load(p.Bias + i));
            var v = TOps.Add(TOps.Load(p.Voltage + k), TOps.Multiply(j, dtV));
            var c = TOps.Load(p.Count + k);
            var n = TOps.Max(TOps.Floor(v), TOps.Negate(c));
            var o = TOps.Multiply(alphaV, n);
            TOps.Store(p.Output + k, p.Scaled ? TOps.Multiply(o, TOps.Load(p.Scale + i)) : o);
            TOps.Store(p.Voltage + k, TOps.Subtract(v, n));
            TOps.Store(p.Count + k, TOps.Add(c, n));
        }
        return i;
    }

    /// <summary>
    /// v += (clip ? max(J, 0) : J)·dt; n = v ≥ 1 ? floor(v) : 0; out = amplitude/dt·n; then v −= n, or v = 0 when
    /// <paramref name="resetToZero"/> and n &gt; 0.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Step(ReadOnlySpan<float> j, float dt, float amplitude, bool clipCurrent, bool resetToZero, Span<float> voltage, Span<float> output)
    {
        KernelMath.CheckLength(voltage.Length, j.Length, nameof(voltage));
        KernelMath.CheckLength(output.Length, j.Length, nameof(output));
        var alpha = amplitude / dt;
        var i = 0;
        if (System.Numerics.Vector.IsHardwareAccelerated)
        {
            var w = System.Numerics.Vector<float>.Count;
            var dtV = new System.Numerics.Vector<float>(dt);
            var alphaV = new System.Numerics.Vector<float>(alpha);
            var one = System.Numerics.Vector<float>.One;
            var zero = System.Numerics.Vector<float>.Zero;
            for (; i + w <= j.Length; i += w)
            {
                var jv = new System.Numerics.Vector<float>(j.Slice(i, w));
                if (clipCurrent) jv = System.Numerics.Vector.Max(jv, zero);
                var v = new System.Numerics.Vector<float>(voltage.Slice(i, w)) + jv * dtV;
                var fired = System.Numerics.Vector.GreaterThanOrEqual(v, one);
                var n = System.Numerics.Vector.ConditionalSelect(fired, System.Numerics.Vector.Floor(v), zero);
                (alphaV * n).CopyTo(output.Slice(i, w));
                var after = resetToZero ? System.Numerics.Vector.ConditionalSelect(fired, zero, v) : v - n;
                after.CopyTo(voltage.Slice(i, w));
            }
        }
        for (; i < j.Length; i++)
        {
            var v = voltage[i] + (clipCurrent ? MathF.Max(j[i], 0f) : j[i]) * dt;
            var n = v >= 1f ? MathF.Floor(v) : 0f;
            output[i] = alpha * n;
            voltage[i] = resetToZero && n > 0f ? 0f : v - n;
        }
    }
}
