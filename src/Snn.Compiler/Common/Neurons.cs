namespace Snn.Compiler;

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
    public abstract NeuronType ScaleAmplitude(float factor);

    /// <summary>The rate (non-spiking) counterpart, used by the rate-mode evaluator.</summary>
    public abstract NeuronType RateVersion { get; }

    /// <summary>The steady-state output for input current J (the rate function).</summary>
    public abstract float Rate(float j);
}

public sealed record RectifiedLinear(float Amplitude = 1f) : NeuronType
{
    public override bool Spiking => false;
    public override string Name => "RectifiedLinear";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => this;
    public override float Rate(float j) => Amplitude * MathF.Max(0f, j);
}

public sealed record SpikingRectifiedLinear(float Amplitude = 1f) : NeuronType
{
    public override bool Spiking => true;
    public override string Name => "SpikingRectifiedLinear";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => new RectifiedLinear(Amplitude);
    public override float Rate(float j) => Amplitude * MathF.Max(0f, j);
}

public sealed record LifRate(float TauRc = 0.02f, float TauRef = 0.002f, float Amplitude = 1f) : NeuronType
{
    public override bool Spiking => false;
    public override string Name => "LIFRate";
    public override NeuronType ScaleAmplitude(float f) => this with { Amplitude = Amplitude * f };
    public override NeuronType RateVersion => this;
    public override float Rate(float j) => LifRates(j, TauRc, TauRef, Amplitude);

    internal static float LifRates(float j, float tauRc, float tauRef, float amplitude)
    {
        var x = j - 1f;
        return x > 0 ? amplitude / (tauRef + tauRc * (float)Math.Log(1.0 + 1.0 / x)) : 0f;
    }
}

public sealed record Lif(float TauRc = 0.02f, float TauRef = 0.002f, float MinVoltage = 0f, float Amplitude = 1f) : NeuronType
{
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
