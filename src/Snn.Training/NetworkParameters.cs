using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Training;

/// <summary>What a trainable parameter of the network IR is.</summary>
public enum ParameterKind
{
    /// <summary>A connection's weights: a DenseT or ConvT kernel (Keras layout) or a ScaleT's scale; named by the connection id.</summary>
    Weights,
    /// <summary>An ensemble's bias (its neurons' constant input current); named by the ensemble id.</summary>
    Bias,
    /// <summary>A constant node's value (the converter's layer biases arrive through these); named by the node id.</summary>
    Constant,
}

/// <summary>One trainable parameter: its stable name (a connection or object id), what it is, and its value.</summary>
public sealed record Parameter(string Name, ParameterKind Kind, Tensor Value);

/// <summary>
/// The trainable parameters of a rate-mode network, the ones NengoDL's <c>sim.fit</c> trains: connection weights
/// (dense, convolution and elementwise-scale transforms), ensemble biases and the values of constant nodes (which
/// carry the converted layers' biases). Identity, pooling and gather transforms have nothing to train.
/// </summary>
public static class NetworkParameters
{
    /// <summary>
    /// The network's parameters in a fixed order (objects in list order, then connections in list order). With
    /// <paramref name="trainableFlags"/> only the objects and connections whose <c>Trainable</c> flag is set (NengoDL's
    /// <c>trainable=False</c> excludes one); without it every parameter (the converter leaves the flags unset).
    /// </summary>
    public static Seq<Parameter> Read(Network net, bool trainableFlags)
    {
        var nodes = net.Nodes.Filter(n => !trainableFlags || n.Trainable).Choose(n => n switch
        {
            Ensemble e => Some(new Parameter(e.Id, ParameterKind.Bias, e.Bias)),
            ConstNode k => Some(new Parameter(k.Id, ParameterKind.Constant, k.Value)),
            _ => Option<Parameter>.None,
        });
        var weights = net.Connections.Filter(c => !trainableFlags || c.Trainable).Choose(c => Weights(c.Transform).Map(w => new Parameter(c.Id, ParameterKind.Weights, w)));
        return (nodes + weights).Strict();
    }

    /// <summary>The weights a transform holds (None for the ones without any).</summary>
    public static Option<Tensor> Weights(Transform t) => t.Match(
        identity: _ => Option<Tensor>.None,
        scale: s => Some(s.Scale),
        dense: d => Some(d.Kernel),
        conv: c => Some(c.Kernel),
        pool: _ => Option<Tensor>.None,
        gather: _ => Option<Tensor>.None);

    /// <summary>
    /// The network with the parameters named in <paramref name="values"/> replaced (each must name a parameter and keep
    /// its length; the shape of the old value is kept).
    /// </summary>
    public static Fin<Network> Write(Network net, Map<string, Tensor> values)
    {
        var known = Read(net, false).ToDictionary(p => p.Name, p => p.Value.Length);
        foreach (var (name, value) in values)
        {
            if (!known.TryGetValue(name, out var length)) return Errors.Usage($"the network has no trainable parameter '{Names.Printable(name)}'");
            if (value.Length != length) return Errors.Usage($"parameter '{Names.Printable(name)}' has {length} values, {value.Length} given");
        }
        Tensor Like(Tensor old, Tensor v) => Tensor.Copy(old.Shape.ToArray(), v.Span);
        var nodes = net.Nodes.Map(n => values.Find(n.Id).Match(v => n switch
        {
            Ensemble e => e with { Bias = Like(e.Bias, v) },
            ConstNode k => (NetNode)(k with { Value = Like(k.Value, v) }),
            _ => n,
        }, () => n));
        var connections = net.Connections.Map(c => values.Find(c.Id).Match(v => c with
        {
            Transform = c.Transform.Match<Transform>(
                identity: i => i,
                scale: s => s with { Scale = Like(s.Scale, v) },
                dense: d => d with { Kernel = Like(d.Kernel, v) },
                conv: k => k with { Kernel = Like(k.Kernel, v) },
                pool: p => p,
                gather: g => g),
        }, () => c));
        return net with { Nodes = nodes.Strict(), Connections = connections.Strict() };
    }

    /// <summary>
    /// The network with fresh parameters, as Keras initializes an untrained layer: every dense and convolution kernel
    /// Glorot-uniform (Glorot and Bengio 2010: uniform in ±√(6/(fan_in + fan_out)), fans from the Keras kernel layout,
    /// a convolution's multiplied by its window size), drawn in parameter order from numpy's
    /// <c>RandomState(seed).uniform</c>; ensemble biases and constant values 0; elementwise scales kept.
    /// </summary>
    public static Fin<Network> Reinitialize(uint seed, Network net)
    {
        var random = new Snn.Compiler.NumpyRandom(seed);
        var values = new List<(string, Tensor)>();
        foreach (var p in Read(net, false))
        {
            if (p.Kind != ParameterKind.Weights) values.Add((p.Name, Tensor.Own(p.Value.Shape, new float[p.Value.Length])));
            else if (p.Value.Shape.Count >= 2)
            {
                var shape = p.Value.Shape.ToArray();
                var window = 1;
                for (var i = 0; i < shape.Length - 2; i++) window *= shape[i];
                var (fanIn, fanOut) = ((double)shape[^2] * window, (double)shape[^1] * window);
                var limit = Math.Sqrt(6.0 / (fanIn + fanOut));
                values.Add((p.Name, Tensor.Own(shape, random.Uniform(-limit, limit, (int)p.Value.Length).Select(v => (float)v).ToArray())));
            }
        }
        return Write(net, toMap(values));
    }
}
