
namespace Snn.Kernels;

/// <summary>
/// The transcendental functions of the neuron kernels, lane by lane: <c>expm1</c>, <c>log1p</c> and <c>tanh</c> evaluated in
/// double (vectorized, accurate to a few double ulps) and rounded to float, i.e. correctly rounded float results except in
/// very rare double-rounding cases.
/// </summary>
internal static class NeuronMath
{
    /// <summary>tanh of each lane: <c>sign(x) * -expm1(-2|x|) / (2 + expm1(-2|x|))</c> in double, rounded to float.</summary>
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
}
