namespace Snn.Compiler;

/// <summary>
/// numpy's legacy <c>RandomState</c>: MT19937 seeded with <c>init_genrand(seed)</c> and
/// <c>random_sample</c> built from two draws (53-bit resolution), so <c>Uniform(0,1)</c> voltages match
/// <c>np.random.RandomState(seed).uniform(0, 1, n)</c> value for value (in float64, then rounded to float32).
/// </summary>
// Kept over MathNet's MersenneTwister: its NextDouble has 32-bit resolution (one draw; 0.37454011430963874 for seed 42)
// where numpy's random_sample combines two draws (0.3745401188473625), so Nengo's initial voltages would not match bit for bit.
public sealed class NumpyRandom
{
    readonly uint[] mt = new uint[624];
    int index;

    public NumpyRandom(uint seed)
    {
        mt[0] = seed;
        for (var i = 1; i < 624; i++) mt[i] = unchecked(1812433253u * (mt[i - 1] ^ (mt[i - 1] >> 30)) + (uint)i);
        index = 624;
    }

    public uint NextUInt32()
    {
        if (index >= 624) Twist();
        var y = mt[index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    void Twist()
    {
        for (var i = 0; i < 624; i++)
        {
            var y = (mt[i] & 0x80000000u) | (mt[(i + 1) % 624] & 0x7fffffffu);
            mt[i] = mt[(i + 397) % 624] ^ (y >> 1) ^ ((y & 1u) != 0 ? 0x9908b0dfu : 0u);
        }
        index = 0;
    }

    /// <summary>numpy <c>random_sample()</c>: [0, 1) with 53 random bits.</summary>
    public double NextDouble()
    {
        var a = NextUInt32() >> 5;
        var b = NextUInt32() >> 6;
        return (a * 67108864.0 + b) / 9007199254740992.0;
    }

    /// <summary>numpy <c>uniform(low, high, n)</c>.</summary>
    public double[] Uniform(double low, double high, int n)
    {
        var r = new double[n];
        for (var i = 0; i < n; i++) r[i] = low + (high - low) * NextDouble();
        return r;
    }

    /// <summary>
    /// numpy <c>random_interval(max)</c> (legacy <c>rk_interval</c>): a uniform integer in [0, <paramref name="max"/>],
    /// drawn by masking 32-bit outputs to the smallest covering power of two and rejecting values above max.
    /// </summary>
    public uint Interval(uint max)
    {
        if (max == 0) return 0;
        var mask = max;
        mask |= mask >> 1; mask |= mask >> 2; mask |= mask >> 4; mask |= mask >> 8; mask |= mask >> 16;
        uint value;
        while ((value = NextUInt32() & mask) > max) { }
        return value;
    }

    /// <summary>
    /// numpy <c>RandomState(seed).permutation(n)</c>: the legacy Fisher-Yates shuffle of 0..n-1, swapping position i
    /// with <see cref="Interval"/>(i) for i from n-1 down to 1.
    /// </summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (var i = 0; i < n; i++) p[i] = i;
        for (var i = n - 1; i > 0; i--)
        {
            var j = (int)Interval((uint)i);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
