namespace Snn;

/// <summary>How a spiking neuron's voltage starts (nengo-semantics.md §2.1).</summary>
public enum InitialVoltage
{
    /// <summary>Nengo's default: Uniform(0, 1), drawn with numpy's MT19937 RandomState from the seed.</summary>
    Uniform,
    /// <summary>Half the threshold (0.5).</summary>
    Half,
    /// <summary>Zero.</summary>
    Zero,
}

/// <summary>
/// Neuron types with Nengo's step math (nengo-semantics.md §2.1). Amplitude scales the output;
/// <c>scale_firing_rates</c> divides it.
/// </summary>
public abstract record NeuronType
{
    public abstract bool Spiking { get; }
    public abstract string Name { get; }

    /// <summary>Whether the type has an amplitude that firing-rate scaling can divide.</summary>
    public virtual bool HasAmplitude => true;

    /// <summary>The output per unit of rate (a spike is worth amplitude/dt); 1 for types without an amplitude.</summary>
    public virtual float OutputAmplitude => 1f;
    public abstract NeuronType ScaleAmplitude(float factor);

    /// <summary>
    /// The type NengoDL's <c>scale_firing_rates</c> gives for scale s (gain and bias are multiplied by s
    /// separately): amplitude ÷ s, and for the ReLU family also threshold and clip × s, so that
    /// rate(s·x)·amplitude/s equals the original rate.
    /// </summary>
    public virtual NeuronType ForFiringRateScale(float s) => ScaleAmplitude(1f / s);

    /// <summary>The spiking counterpart used in spiking mode (itself when already spiking or when none exists).</summary>
    public virtual NeuronType SpikingVersion => this;

    /// <summary>The rate (non-spiking) counterpart, used by the rate-mode evaluator.</summary>
    public abstract NeuronType RateVersion { get; }

    /// <summary>The steady-state output for input current J (the rate function).</summary>
    public abstract float Rate(float j);

    /// <summary>
    /// The type's name and output amplitude. Sealed, so records do not synthesize one that prints
    /// <see cref="SpikingVersion"/> and <see cref="RateVersion"/>, which may be the neuron itself (endless recursion).
    /// </summary>
    public sealed override string ToString() =>
        $"{Name}(amplitude {OutputAmplitude.ToString("G6", System.Globalization.CultureInfo.InvariantCulture)})";
}

public sealed record RectifiedLinear(float Amplitude = 1f) : NeuronType
{
    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => false;
    public override string Name => "RectifiedLinear";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => this;
    public override NeuronType SpikingVersion => new SpikingRectifiedLinear(Amplitude);
    public override float Rate(float j) => Amplitude * MathF.Max(0f, j);
}

public sealed record SpikingRectifiedLinear(float Amplitude = 1f) : NeuronType
{
    public override float OutputAmplitude => Amplitude;
    /// <summary>Reset to zero after a spike instead of subtracting the spikes (Nengo subtracts).</summary>
    public bool ResetToZero { get; init; }
    public override bool Spiking => true;
    public override string Name => "SpikingRectifiedLinear";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => new RectifiedLinear(Amplitude);
    public override float Rate(float j) => Amplitude * MathF.Max(0f, j);
}

public sealed record LifRate(float TauRc = 0.02f, float TauRef = 0.002f, float Amplitude = 1f) : NeuronType
{
    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => false;
    public override string Name => "LIFRate";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => this;
    public override NeuronType SpikingVersion => new Lif(TauRc, TauRef, 0f, Amplitude);
    public override float Rate(float j) => LifRates(j, TauRc, TauRef, Amplitude);

    internal static float LifRates(float j, float tauRc, float tauRef, float amplitude)
    {
        var x = j - 1f;
        return x > 0 ? amplitude / (tauRef + tauRc * (float)Math.Log(1.0 + 1.0 / x)) : 0f;
    }
}

public sealed record Lif(float TauRc = 0.02f, float TauRef = 0.002f, float MinVoltage = 0f, float Amplitude = 1f) : NeuronType
{
    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => true;
    public override string Name => "LIF";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => new LifRate(TauRc, TauRef, Amplitude);
    public override float Rate(float j) => LifRate.LifRates(j, TauRc, TauRef, Amplitude);
}

/// <summary>Nengo Sigmoid(tau_ref): (1/tau_ref)/(1+exp(-J)); the converter uses tau_ref = 1.</summary>
public sealed record Sigmoid(float TauRef = 1f) : NeuronType
{
    public override bool Spiking => false;
    public override string Name => "Sigmoid";
    public override bool HasAmplitude => false;
    public override NeuronType ScaleAmplitude(float f) => this;
    public override NeuronType RateVersion => this;
    public override float Rate(float j) => 1f / TauRef / (1f + MathF.Exp(-j));
}

/// <summary>Nengo Tanh(tau_ref): (1/tau_ref)*tanh(J); the converter uses tau_ref = 1.</summary>
public sealed record Tanh(float TauRef = 1f) : NeuronType
{
    public override bool Spiking => false;
    public override string Name => "Tanh";
    public override bool HasAmplitude => false;
    public override NeuronType ScaleAmplitude(float f) => this;
    public override NeuronType RateVersion => this;
    public override float Rate(float j) => MathF.Tanh(j) / TauRef;
}

/// <summary>
/// Nengo's RegularSpiking(base): the base rate type's output r = base(J) drives v += r·dt; n = floor(v) spikes
/// (negative for negative rates); out = amplitude/dt·n; v −= n. It is what keras_spiking's SpikingActivation
/// computes and NengoDL converts it to. The layer spikes in every mode, as in Keras, so its rate version is itself;
/// its steady-state rate (the rate-mode meaning used by the evaluators) is amplitude·base(J).
/// </summary>
public sealed record RegularSpiking(NeuronType Base, float Amplitude = 1f) : NeuronType
{
    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => true;
    public override string Name => $"RegularSpiking({Base.Name})";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => this;
    public override float Rate(float j) => Amplitude * Base.Rate(j);
}

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

/// <summary>
/// The Keras ReLU family as one rate neuron: f(J) = min(J ≥ Threshold ? J : Slope·(J − Threshold), MaxValue) × amplitude.
/// Covers LeakyReLU (NengoDL's <c>nengo_dl.LeakyReLU</c>), ReLU with threshold, ReLU6 (MaxValue 6) and PReLU
/// (<see cref="Slope"/> per neuron; length 1 or the ensemble size).
/// </summary>
public sealed record LeakyRectifiedLinear(Tensor Slope, float Threshold = 0f, float MaxValue = float.PositiveInfinity, float Amplitude = 1f) : NeuronType
{
    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => false;
    public override string Name => "LeakyReLU";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType ForFiringRateScale(float s) => this with { Amplitude = Amplitude / s, Threshold = Threshold * s, MaxValue = MaxValue * s };
    public override NeuronType RateVersion => this;
    public override NeuronType SpikingVersion => new SpikingLeakyRectifiedLinear(Slope, Threshold, MaxValue, Amplitude);
    public override float Rate(float j) => Amplitude * Activations.Relu(j, Slope[0], Threshold, MaxValue);
    public float Rate(float j, int neuron) => Amplitude * Activations.Relu(j, Slope[Slope.Length == 1 ? 0 : neuron], Threshold, MaxValue);
}

/// <summary>
/// Spiking counterpart of <see cref="LeakyRectifiedLinear"/> (Nengo's SpikingLeakyReLU generalized): v += f(J)·dt;
/// n = trunc(v) (signed spikes for negative values); out = amplitude/dt·n; v −= n.
/// </summary>
public sealed record SpikingLeakyRectifiedLinear(Tensor Slope, float Threshold = 0f, float MaxValue = float.PositiveInfinity, float Amplitude = 1f) : NeuronType
{
    public override float OutputAmplitude => Amplitude;
    public override bool Spiking => true;
    public override string Name => "SpikingLeakyReLU";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType ForFiringRateScale(float s) => this with { Amplitude = Amplitude / s, Threshold = Threshold * s, MaxValue = MaxValue * s };
    public override NeuronType RateVersion => new LeakyRectifiedLinear(Slope, Threshold, MaxValue, Amplitude);
    public override float Rate(float j) => Amplitude * Activations.Relu(j, Slope[0], Threshold, MaxValue);
}

/// <summary>
/// Integrate-and-fire as ANN-to-SNN conversion uses it (Rueckauer et al. 2017): the voltage integrates the signed
/// current, v += J·dt (it may go below zero, which Nengo's SpikingRectifiedLinear prevents by clipping J at 0);
/// n = floor(v) spikes when v ≥ 1; reset by subtraction (v −= n) or to zero; out = amplitude/dt·n.
/// Its rate is ReLU, like SpikingRectifiedLinear's.
/// <para>
/// With <see cref="NegativeSpikes"/> (signed spikes with memory, after Wang et al. 2022's signed neuron with memory,
/// here with several spikes per step) the neuron also counts its net spikes c and, when its voltage is below zero,
/// takes spikes back: n = max(floor(v), −c); v −= n; c += n. Its net count after every step is then exactly
/// max(0, floor(v₀ + Σ J·dt)), the ReLU of its integrated input quantized to whole spikes, whatever order the input
/// came in; plain IF instead keeps spikes it fired early on input that later turned negative. Needs reset by subtraction.
/// </para>
/// </summary>
public sealed record IntegrateAndFire(float Amplitude = 1f) : NeuronType
{
    public override float OutputAmplitude => Amplitude;
    public bool ResetToZero { get; init; }

    /// <summary>Negative spikes take back earlier spikes while the voltage is below zero (never below a net count of zero).</summary>
    public bool NegativeSpikes { get; init; }
    public override bool Spiking => true;
    public override string Name => NegativeSpikes ? "SignedIF" : "IF";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => new RectifiedLinear(Amplitude);
    public override float Rate(float j) => Amplitude * MathF.Max(0f, j);
}
