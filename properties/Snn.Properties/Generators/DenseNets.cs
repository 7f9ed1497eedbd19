using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;

namespace Snn.Properties.Generators;

/// <summary>
/// Input(n) → Dense(h, relu, bias) → Dense(m, linear, optional bias), with a firing-rate scale s chosen so
/// the hidden neurons fire at roughly 10..1000 Hz at dt = 0.001 (J = s·a with a = O(1), s in [100, 400]).
/// Kernels are row-major [in, out] as in Keras.
/// </summary>
public sealed record DenseNet(int Seed, int In, int Hidden, int Out, float[] W1, float[] B1, float[] W2, float[] B2, bool Bias2, float Scale, Tensor X)
{
    public int Batch => X.Shape[0];

    public KerasModel Model
    {
        get
        {
            var input = new KerasNode("input", "input", "InputLayer",
                LayerConfig.Parse($"{{\"batch_shape\": [null, {In}]}}"), Map<string, Tensor>(), Seq<KerasValue>());
            var hidden = new KerasNode("hidden", "hidden", "Dense",
                LayerConfig.Parse($"{{\"units\": {Hidden}, \"activation\": \"relu\", \"use_bias\": true}}"),
                Map(("kernel", Tensor.Copy(new[] { In, Hidden }, W1)), ("bias", Tensor.Copy(new[] { Hidden }, B1))),
                Seq1(new KerasValue("input")));
            var outWeights = Bias2
                ? Map(("kernel", Tensor.Copy(new[] { Hidden, Out }, W2)), ("bias", Tensor.Copy(new[] { Out }, B2)))
                : Map(("kernel", Tensor.Copy(new[] { Hidden, Out }, W2)));
            var output = new KerasNode("readout", "readout", "Dense",
                LayerConfig.Parse($"{{\"units\": {Out}, \"activation\": \"linear\", \"use_bias\": {(Bias2 ? "true" : "false")}}}"),
                outWeights, Seq1(new KerasValue("hidden")));
            return new KerasModel($"dense{Seed}", Seq(input, hidden, output), Seq1(new KerasValue("input")),
                Seq1(Arr.create(In)), Seq1(new KerasValue("readout")), "generated");
        }
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"DenseNets.Build(seed: {Seed}): {In} -> {Hidden} (relu) -> {Out}, scale {Scale}, bias2 {Bias2}, batch {Batch}");
}

/// <summary>Many networks at once, for claims about a sample as a whole.</summary>
public sealed record DenseNetSample(DenseNet[] Nets)
{
    public override string ToString() =>
        $"{Nets.Length} networks, DenseNets.Build(seed) with seeds {string.Join(", ", Nets.Select(n => n.Seed.ToString(CultureInfo.InvariantCulture)))}";
}

/// <summary>Random dense networks; the FsCheck.Xunit registration for <see cref="DenseNet"/> and <see cref="DenseNetSample"/>.</summary>
public static class DenseNets
{
    /// <summary>How many networks a <see cref="DenseNetSample"/> holds.</summary>
    public const int SampleSize = 150;

    public static Gen<DenseNet> Generator => Gen.Choose(0, int.MaxValue).Select(Build);

    public static Arbitrary<DenseNet> Arbitrary => Arb.From(Generator);

    public static Arbitrary<DenseNetSample> Samples => Arb.From(Generator.ArrayOf(SampleSize).Select(nets => new DenseNetSample(nets)));

    public static DenseNet Build(int seed)
    {
        var r = new System.Random(seed);
        int Int(int lo, int hi) => r.Next(lo, hi + 1);
        float U(double lo, double hi) => (float)(lo + r.NextDouble() * (hi - lo));
        var (n, h, m) = (Int(1, 8), Int(1, 8), Int(1, 8));
        var w1 = Enumerable.Range(0, n * h).Select(_ => U(-1, 1) * (float)(1.5 / Math.Sqrt(n))).ToArray();
        var b1 = Enumerable.Range(0, h).Select(_ => U(-0.3, 1.0)).ToArray();
        var w2 = Enumerable.Range(0, h * m).Select(_ => U(-1, 1) * (float)(1.5 / Math.Sqrt(h))).ToArray();
        var bias2 = r.NextDouble() < 0.7;
        var b2 = Enumerable.Range(0, m).Select(_ => U(-0.5, 0.5)).ToArray();
        var scale = U(100, 400);
        var batch = Int(1, 4);
        var x = Enumerable.Range(0, batch * n).Select(_ => U(0, 1)).ToArray();
        return new DenseNet(seed, n, h, m, w1, b1, w2, b2, bias2, scale, Tensor.Own(new[] { batch, n }, x));
    }
}
