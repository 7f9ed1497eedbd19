using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Convert;

/// <summary>
/// Builds a network by hand (NengoDL's Layer/TensorNode style): inputs, ensembles with any neuron type,
/// passthrough, constant and function nodes, connections with transforms and synapses, probes, and
/// per-object trainable flags. <see cref="Build"/> checks the result with the network verifier; the network
/// then goes through the same lower, optimize and interpret stages as a converted one. Function nodes hold names; the
/// code they run is in <see cref="Functions"/>, which goes to the simulator with the program.
/// </summary>
public sealed class NetworkBuilder(float dt = 0.001f)
{
    readonly List<NetNode> nodes = new();
    readonly List<Connection> connections = new();
    readonly List<Probe> probes = new();

    /// <summary>The code of the function nodes added so far, by name (each node's id).</summary>
    public NodeFunctions Functions { get; private set; } = NodeFunctions.Empty;

    T Add<T>(T node) where T : NetNode
    {
        nodes.Add(node);
        return node;
    }

    public InputNode Input(string id, params int[] shape) => Add(new InputNode(id, id, shape.ToArr(), nodes.OfType<InputNode>().Count()));

    public Ensemble Ensemble(string id, int size, NeuronType neuron, float gain = 1f, Tensor? bias = null, Tensor? initialVoltage = null, bool trainable = true) =>
        Add(new Ensemble(id, id, size, neuron, gain, bias ?? Tensor.Filled(new[] { size }, 0f),
            neuron.Spiking ? Some(initialVoltage ?? Tensor.Filled(new[] { size }, 0f)) : None) { Trainable = trainable });

    public PassNode Node(string id, int size) => Add(new PassNode(id, id, size));
    public ConstNode Constant(string id, Tensor value) => Add(new ConstNode(id, id, value));
    public FunctionNode Function(string id, int sizeIn, int size, INodeFunction function)
    {
        Functions = Functions.Add(id, function);
        return Add(new FunctionNode(id, id, sizeIn, size, id, function.Name));
    }

    public FunctionNode Function(string id, int sizeIn, int size, Action<float[], float[]> body) =>
        Function(id, sizeIn, size, new DelegateFunction(id, body));

    /// <summary>Connects two objects; the transform defaults to the identity.</summary>
    public Connection Connect(NetNode pre, NetNode post, Transform? transform = null, Lowpass? synapse = null, bool trainable = false)
    {
        var c = new Connection($"{pre.Id}->{post.Id}#{connections.Count}", pre.Id, post.Id, transform ?? new IdentityT(pre.Size),
            synapse is null ? None : Some(synapse), None) { Trainable = trainable };
        connections.Add(c);
        return c;
    }

    public Probe Probe(NetNode target, Lowpass? synapse = null, bool softmax = false) =>
        Probe(target, new[] { target.Size }, synapse, softmax);

    public Probe Probe(NetNode target, int[] shape, Lowpass? synapse = null, bool softmax = false)
    {
        var p = new Probe($"probe{probes.Count}", target.Id, synapse is null ? None : Some(synapse), softmax, shape.ToArr(), probes.Count);
        probes.Add(p);
        return p;
    }

    public Either<Error, Network> Build() =>
        NetVerify.Run(new Network(nodes.ToSeq(), connections.ToSeq(), probes.ToSeq(), dt, Seq<Legalize.LayerStatus>(), Seq<string>()));
}
