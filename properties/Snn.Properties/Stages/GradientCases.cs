using LanguageExt;
using Snn.Compiler.Convert;
using Snn.Properties.Support;
using Snn.Training;
using Xunit;
using Xunit.Abstractions;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;
using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Properties.Stages;

/// <summary>
/// Hand-built networks for what the converted models do not draw: leaky and parametric ReLUs with threshold and cap,
/// LIFRate, per-neuron scales, max-pool objects, gathers with empty slots, class labels. Each goes through the same
/// central-difference check as the properties (<see cref="GradientCheck"/>), for several seeds.
/// </summary>
public sealed class GradientCases(ITestOutputHelper output) : PropertyTests(output)
{
    static Tensor Random(System.Random r, double lo, double hi, params int[] shape)
    {
        var n = shape.Aggregate(1, (a, b) => a * b);
        return Tensor.Own(shape, Enumerable.Range(0, n).Select(_ => (float)(lo + r.NextDouble() * (hi - lo))).ToArray());
    }

    /// <summary>input(6) → dense → ensemble(neuron) → dense (+ constant bias) → out(3), optionally per-neuron scales.</summary>
    static Network Chain(int seed, NeuronType neuron, float gain, bool perNeuronScale, bool softmax)
    {
        var r = new System.Random(seed);
        var b = new NetworkBuilder();
        var x = b.Input("x", 6);
        var e = b.Ensemble("e", 5, neuron, gain, Random(r, 0.5, 1.5, 5));
        var o = b.Node("out", 3);
        var k = b.Constant("out.bias", Random(r, -0.5, 0.5, 3));
        b.Connect(x, e, new DenseT(Random(r, -1, 1, 6, 5), 1));
        b.Connect(e, o, new DenseT(Random(r, -1, 1, 5, 3), 1));
        b.Connect(k, o);
        b.Probe(o, softmax: softmax);
        var net = b.Build().Get("build");
        if (!perNeuronScale) return net;
        var scale = Random(r, 0.5, 2, 5);
        return net with { Nodes = net.Nodes.Map(n => n is Ensemble en ? en with { NeuronScale = Some(scale) } : n) };
    }

    static Seq<Tensor> Inputs(int seed, int batch, int size) => Seq1(Random(new System.Random(seed ^ 77), 0, 1, batch, size));

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Leaky_and_parametric_relus_with_threshold_and_cap(int seed)
    {
        var prelu = new LeakyRectifiedLinear(Tensor.Vector(0.1f, 0.2f, 0.3f, 0.05f, 0.5f), Threshold: 0.25f, MaxValue: 1.5f, Amplitude: 0.7f);
        GradientCheck.Run(Chain(seed, prelu, 1.3f, false, true), NodeFunctions.Empty, Inputs(seed, 5, 6), seed, Output);
        var leaky = new LeakyRectifiedLinear(Tensor.Scalar(0.3f), Amplitude: 2f);
        GradientCheck.Run(Chain(seed, leaky, 0.8f, true, false), NodeFunctions.Empty, Inputs(seed, 5, 6), seed, Output);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Lif_rates_and_spiking_types_in_their_rate_meaning(int seed)
    {
        // LIFRate fires above J = 1: bias 0.5..1.5 plus the input keeps most neurons above threshold.
        GradientCheck.Run(Chain(seed, new LifRate(0.02f, 0.002f, 0.01f), 3f, false, true), NodeFunctions.Empty, Inputs(seed, 4, 6), seed, Output);
        GradientCheck.Run(Chain(seed, new Lif(0.02f, 0.002f, 0f, 0.01f), 3f, true, false), NodeFunctions.Empty, Inputs(seed, 4, 6), seed, Output);
        GradientCheck.Run(Chain(seed, new SpikingRectifiedLinear(0.01f), 100f, true, true), NodeFunctions.Empty, Inputs(seed, 4, 6), seed, Output);
    }

    /// <summary>input(4×4×2) → conv → relu → max-pool object (2×2) → gather (with empty slots) → dense → out.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void Max_pool_objects_and_gathers(int seed)
    {
        var r = new System.Random(seed);
        var b = new NetworkBuilder();
        var x = b.Input("x", 4, 4, 2);
        var conv = new ConvSpec(Arr.create(4, 4, 2), 3, Arr.create(3, 3), Arr.create(1, 1), Arr.create(1, 1), Padding.Same, true, 1);
        var e = b.Ensemble("e", 48, new RectifiedLinear(), 1f, Random(r, -0.2, 0.5, 48));
        b.Connect(x, e, new ConvT(conv, Random(r, -1, 1, 3, 3, 2, 3)));
        var poolSpec = new PoolSpec(PoolKind.Max, Arr.create(4, 4, 3), Arr.create(2, 2), Arr.create(2, 2), Padding.Valid, true);
        var pool = new MaxPoolNode("pool", "pool", poolSpec, MaxPoolMethod.Count);
        var g = b.Node("g", 14);
        var o = b.Node("out", 4);
        var built = b.Build().Get("build");
        var index = Arr.create(Enumerable.Range(0, 14).Select(i => i < 12 ? 11 - i : -1).ToArray());
        var connections = built.Connections
            .Add(new Connection("e->pool", "e", "pool", new IdentityT(48), None, None))
            .Add(new Connection("pool->g", "pool", "g", new GatherT(12, index, "slice"), None, None))
            .Add(new Connection("g->out", "g", "out", new DenseT(Random(r, -1, 1, 14, 4), 1), None, None));
        var net = built with
        {
            Nodes = built.Nodes.Filter(n => n.Id != "g" && n.Id != "out").Add(pool).Add(built.Node("g")).Add(built.Node("out")),
            Connections = connections,
            Probes = Seq1(new Probe("p", "out", None, true, Arr.create(4), 0)),
        };
        Assert.True(NetVerify.Run(net).IsRight, NetVerify.Run(net).Match(_ => "", err => err.Message));
        GradientCheck.Run(net, NodeFunctions.Empty, Seq1(Random(new System.Random(seed), -1, 1, 3, 32)), seed, Output);
    }

    /// <summary>
    /// input(5×6×4) → convolution (strides, dilation, groups, depthwise; both layouts) → relu ensemble → average pool
    /// ('same', 3×3 stride 2) → dense → softmax probe: what the generated Keras models do not draw (dilation, groups).
    /// </summary>
    [Theory]
    [InlineData(1, 1, 2, 1, true)]
    [InlineData(2, 2, 1, 2, true)]
    [InlineData(3, 1, 1, 4, false)]   // depthwise: one input channel per group, 4 groups
    [InlineData(4, 2, 2, 2, false)]
    [InlineData(5, 1, 2, 4, true)]
    public void Convolutions_with_strides_dilation_and_groups(int seed, int stride, int dilation, int groups, bool channelsLast)
    {
        var r = new System.Random(seed);
        var inShape = channelsLast ? Arr.create(5, 6, 4) : Arr.create(4, 5, 6);
        var filters = groups == 4 ? 4 : 6;
        var conv = new ConvSpec(inShape, filters, Arr.create(3, 2), Arr.create(stride, stride), Arr.create(dilation, 1), Padding.Same, channelsLast, groups);
        var b = new NetworkBuilder();
        var x = b.Input("x", inShape.ToArray());
        var size = Shapes.Product(conv.OutputShape);
        var e = b.Ensemble("e", size, new RectifiedLinear(), 1f, Random(r, -0.2, 0.5, size));
        b.Connect(x, e, new ConvT(conv, Random(r, -1, 1, conv.KernelShape.ToArray())));
        var pool = new PoolSpec(PoolKind.Average, conv.OutputShape, Arr.create(3, 3), Arr.create(2, 2), Padding.Same, channelsLast);
        var pooled = b.Node("pooled", Shapes.Product(pool.OutputShape));
        b.Connect(e, pooled, new PoolT(pool));
        var o = b.Node("out", 3);
        b.Connect(pooled, o, new DenseT(Random(r, -1, 1, pooled.Size, 3), 1));
        b.Probe(o, softmax: true);
        GradientCheck.Run(b.Build().Get("build"), NodeFunctions.Empty, Seq1(Random(new System.Random(seed), -1, 1, 3, 120)), seed, Output);
    }

    /// <summary>Class labels give the gradient of the one-hot rows they stand for.</summary>
    [Fact]
    public void Labels_are_one_hot_rows()
    {
        var net = Chain(5, new RectifiedLinear(), 1f, false, true);
        var x = Inputs(5, 4, 6);
        var labels = Tensor.Vector(2, 0, 1, 2);
        var onehot = Tensor.Own(new[] { 4, 3 }, new float[] { 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1 });
        var a = NetworkGradient.Run(GradientOptions.Default, net, x, labels).Ok();
        var b = NetworkGradient.Run(GradientOptions.Default, net, x, onehot).Ok();
        Assert.Equal(b.Loss, a.Loss);
        foreach (var (name, g) in b.Gradients) Assert.True(g.Span.SequenceEqual(a.Gradients[name].Span), name);
    }
}
