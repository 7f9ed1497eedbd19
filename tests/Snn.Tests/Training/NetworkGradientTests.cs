using LanguageExt;
using Snn.Compiler.Convert;
using Snn.Tests.Support;
using Snn.Training;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Training;

/// <summary>
/// What <see cref="NetworkGradient"/> refuses and how it names parameters, on small hand-built networks whose gradients
/// are worked out by hand (the central-difference checks on generated networks are in the properties project).
/// </summary>
public class NetworkGradientTests
{
    /// <summary>A neuron type nothing knows the rate derivative of.</summary>
    sealed record Cube : NeuronType
    {
        public override bool Spiking => false;
        public override string Name => "Cube";
        public override NeuronType ScaleAmplitude(float factor) => this;
        public override NeuronType RateVersion => this;
        public override float Rate(float j) => j * j * j;
    }

    /// <summary>x(2) → [w: 2×2] → e(2, relu, gain g, bias b) → out(2), probe out; a second ensemble hangs off x unprobed.</summary>
    static Network Small(NeuronType neuron, float gain = 2f)
    {
        var b = new NetworkBuilder();
        var x = b.Input("x", 2);
        var e = b.Ensemble("e", 2, neuron, gain, Tensor.Vector(0.5f, -0.25f));
        var side = b.Ensemble("side", 2, new RectifiedLinear(), 1f, Tensor.Vector(1f, 1f));
        var o = b.Node("out", 2);
        b.Connect(x, e, new DenseT(Tensor.Own(new[] { 2, 2 }, new[] { 1f, 0f, 0f, 1f }), 1));
        b.Connect(x, side, new DenseT(Tensor.Own(new[] { 2, 2 }, new[] { 1f, 2f, 3f, 4f }), 1));
        b.Connect(e, o, new ScaleT(2, Tensor.Scalar(3f)));
        b.Probe(o);
        return b.Build().Ok();
    }

    [Fact]
    public void Mse_gradient_of_a_relu_ensemble_is_the_chain_rule_by_hand()
    {
        // x = (1, 1): J = b + g·x = (2.5, 1.75), e = relu(J) = (2.5, 1.75), out = 3e = (7.5, 5.25).
        // target (7.5, 4.25): L = mean((out − t)²) = (0 + 1)/2 = 0.5; dL/dout = (0, 1).
        // dL/de = 3·(0, 1) = (0, 3); dL/dJ = (0, 3); d bias = (0, 3); d scale = Σ dout·e = 1.75;
        // d W[i, o] = x_i · g · dJ_o = (0, 6; 0, 6). The unprobed ensemble's parameters get 0.
        var r = NetworkGradient.Run(new GradientOptions(Loss.MeanSquaredError), Small(new RectifiedLinear()),
            Seq1(Tensor.Own(new[] { 1, 2 }, new[] { 1f, 1f })), Tensor.Own(new[] { 1, 2 }, new[] { 7.5f, 4.25f })).Ok();
        Assert.Equal(0.5, r.Loss, 12);
        Assert.Equal(new[] { 0f, 3f }, r.Gradients["e"].ToArray());
        Assert.Equal(new[] { 0f, 6f, 0f, 6f }, r.Gradients["x->e#0"].ToArray());
        Assert.Equal(new[] { 1.75f }, r.Gradients["e->out#2"].ToArray());
        Assert.Equal(new[] { 0f, 0f }, r.Gradients["side"].ToArray());
        Assert.Equal(new[] { 0f, 0f, 0f, 0f }, r.Gradients["x->side#1"].ToArray());
        Assert.Equal(new[] { 2, 2 }, r.Gradients["x->e#0"].Shape);
    }

    [Fact]
    public void Trainable_flags_choose_the_parameters_when_asked()
    {
        var net = Small(new RectifiedLinear());
        Assert.Equal(new[] { "e", "side", "x->e#0", "x->side#1", "e->out#2" }, NetworkParameters.Read(net, false).Map(p => p.Name).ToArray());
        // The builder marks ensembles trainable and connections not (NengoDL's defaults for hand-built objects differ; the flag is what counts).
        Assert.Equal(new[] { "e", "side" }, NetworkParameters.Read(net, true).Map(p => p.Name).ToArray());
        var r = NetworkGradient.Run(new GradientOptions(Loss.MeanSquaredError, TrainableFlags: true), net,
            Seq1(Tensor.Own(new[] { 1, 2 }, new[] { 1f, 1f })), Tensor.Own(new[] { 1, 2 }, new[] { 7.5f, 4.25f })).Ok();
        Assert.Equal(new[] { "e", "side" }, r.Gradients.Keys.OrderBy(k => k, StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void Write_replaces_a_parameter_and_refuses_unknown_names_and_lengths()
    {
        var net = Small(new RectifiedLinear());
        var changed = NetworkParameters.Write(net, Map(("e->out#2", Tensor.Scalar(5f)))).Ok();
        Assert.Equal(5f, ((ScaleT)changed.Connections[2].Transform).Scale[0]);
        Assert.Equal(Errors.UsageCode, NetworkParameters.Write(net, Map(("nope", Tensor.Scalar(1f)))).Match(_ => 0, e => e.Code));
        Assert.Equal(Errors.UsageCode, NetworkParameters.Write(net, Map(("e", Tensor.Scalar(1f)))).Match(_ => 0, e => e.Code));
    }

    /// <summary>A neuron type that brings its own rate derivative, as a new type's file does: r(J) = J³, r'(J) = 3J².</summary>
    sealed record DifferentiableCube : NeuronType
    {
        public override bool Spiking => false;
        public override string Name => "DifferentiableCube";
        public override NeuronType ScaleAmplitude(float factor) => this;
        public override NeuronType RateVersion => this;
        public override float Rate(float j) => j * j * j;
        public override bool Differentiable => true;
        public override double RateSlope(float j, int neuron) => 3.0 * j * j;
    }

    [Fact]
    public void A_neuron_type_brings_its_own_rate_derivative()
    {
        // x = (1, 1), gain 2: J = (2.5, 1.75), e = J³ = (15.625, 5.359375), out = 3e; target out − (0, 1): dL/dout = (0, 1).
        // dL/dJ = 3 · 3J² · (0, 1) = (0, 27.5625) = d bias.
        var r = NetworkGradient.Run(new GradientOptions(Loss.MeanSquaredError), Small(new DifferentiableCube()),
            Seq1(Tensor.Own(new[] { 1, 2 }, new[] { 1f, 1f })), Tensor.Own(new[] { 1, 2 }, new[] { 46.875f, 15.078125f })).Ok();
        Assert.Equal(new[] { 0f, 27.5625f }, r.Gradients["e"].ToArray());
    }

    [Fact]
    public void Refusals_are_errors_with_their_codes()
    {
        var x = Seq1(Tensor.Own(new[] { 1, 2 }, new[] { 1f, 1f }));
        var t = Tensor.Own(new[] { 1, 2 }, new[] { 0f, 1f });
        int Code(Fin<GradientResult> f) => f.Match(_ => 0, e => e.Code);

        var cube = NetworkGradient.Run(GradientOptions.Default, Small(new Cube()), x, t);
        Assert.Equal(Errors.UntrainableCode, Code(cube));
        Assert.Contains("Cube", cube.Match(_ => "", e => e.Message));

        var b = new NetworkBuilder();
        var input = b.Input("x", 2);
        var f = b.Function("f", 2, 2, (i, o) => i.CopyTo(o, 0));
        b.Connect(input, f);
        b.Probe(f);
        var withFunction = NetworkGradient.Run(GradientOptions.Default, b.Build().Ok(), x, t);
        Assert.Equal(Errors.UntrainableCode, Code(withFunction));
        Assert.Contains("function node 'f'", withFunction.Match(_ => "", e => e.Message));

        var net = Small(new RectifiedLinear());
        Assert.Equal(Errors.UsageCode, Code(NetworkGradient.Run(GradientOptions.Default with { Probe = 1 }, net, x, t)));
        Assert.Equal(Errors.UsageCode, Code(NetworkGradient.Run(GradientOptions.Default with { Threads = 0 }, net, x, t)));
        Assert.Equal(Errors.UsageCode, Code(NetworkGradient.Run(GradientOptions.Default, net, x + x, t)));
        Assert.Equal(Errors.ShapeCode, Code(NetworkGradient.Run(GradientOptions.Default, net, Seq1(Tensor.Own(new[] { 1, 3 }, new float[3])), t)));
        Assert.Equal(Errors.ShapeCode, Code(NetworkGradient.Run(GradientOptions.Default, net, x, Tensor.Vector(1f, 0f, 0f))));
        Assert.Equal(Errors.LabelsCode, Code(NetworkGradient.Run(GradientOptions.Default, net, x, Tensor.Vector(2f))));
        Assert.Equal(Errors.LabelsCode, Code(NetworkGradient.Run(GradientOptions.Default, net, x, Tensor.Vector(0.5f))));
        Assert.Equal(Errors.ShapeCode, Code(NetworkGradient.Run(new GradientOptions(Loss.MeanSquaredError), net, x, Tensor.Vector(1f))));
    }
}
