namespace Snn;

/// <summary>A first-order lowpass synapse, discretized with zero-order hold (nengo-semantics.md §2.4).</summary>
public sealed record Lowpass(float Tau)
{
    /// <summary>ZOH coefficients: state = a*state + b*input.</summary>
    public (float A, float B) Discretize(double dt)
    {
        var a = Math.Exp(-dt / Tau);
        return ((float)a, (float)(1 - a));
    }
}

/// <summary>An alpha filter, H(s) = 1/(τs + 1)², discretized with zero-order hold (keras_spiking's Alpha layer).</summary>
public sealed record Alpha(float Tau)
{
    /// <summary>
    /// ZOH in the state [y', y] (A = [[−2/τ, −1/τ²], [1, 0]], B = [1/τ², 0]): A_d = e^{−dt/τ}·[[1 − dt/τ, −dt/τ²],
    /// [dt, 1 + dt/τ]], B_d = [e^{−dt/τ}·dt/τ², 1 − e^{−dt/τ}·(1 + dt/τ)], computed in double and rounded to float32.
    /// </summary>
    public (float A00, float A01, float A10, float A11, float B0, float B1) Discretize(double dt)
    {
        var r = dt / Tau;
        var e = Math.Exp(-r);
        return ((float)(e * (1 - r)), (float)(-e * r / Tau), (float)(e * dt), (float)(e * (1 + r)), (float)(e * r / Tau), (float)(1 - e * (1 + r)));
    }
}
