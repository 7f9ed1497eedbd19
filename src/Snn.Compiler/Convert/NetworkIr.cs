using LanguageExt;
using Snn.Compiler.Legalize;

namespace Snn.Compiler.Convert;

/// <summary>A Nengo-style object: an input node, a passthrough node, a constant node or an ensemble.</summary>
public abstract record NetNode(string Id, string Layer, int Size);

/// <summary>The model input <see cref="Index"/>, fed from outside every step.</summary>
public sealed record InputNode(string Id, string Layer, Arr<int> Shape, int Index) : NetNode(Id, Layer, Shapes.Product(Shape));

/// <summary>Outputs the sum of its incoming connections (Nengo passthrough node).</summary>
public sealed record PassNode(string Id, string Layer, int Size) : NetNode(Id, Layer, Size);

/// <summary>Outputs a constant vector (bias nodes).</summary>
public sealed record ConstNode(string Id, string Layer, Tensor Value) : NetNode(Id, Layer, Value.Length);

/// <summary>
/// Neurons with input current J = Bias + Gain * (sum of incoming connections).
/// <see cref="InitialVoltage"/> holds the starting voltage per neuron for spiking types.
/// </summary>
public sealed record Ensemble(string Id, string Layer, int Size, NeuronType Neuron, float Gain, Tensor Bias, Option<Tensor> InitialVoltage)
    : NetNode(Id, Layer, Size);

/// <summary>What a connection does to the presynaptic output before it reaches the post object.</summary>
public abstract record Transform(int InSize, int OutSize);

/// <summary>NoTransform: the values pass unchanged.</summary>
public sealed record IdentityT(int Size) : Transform(Size, Size);

/// <summary>Elementwise multiply by Scale (length 1 or Size).</summary>
public sealed record ScaleT(int Size, Tensor Scale) : Transform(Size, Size);

/// <summary>y = x·Kernel per row of the input; Kernel is [in, out] (Keras layout); Rows rows of length in.</summary>
public sealed record DenseT(Tensor Kernel, int Rows) : Transform(Kernel.Shape[0] * Rows, Kernel.Shape[1] * Rows);

public sealed record ConvT(ConvSpec Spec, Tensor Kernel) : Transform(Shapes.Product(Spec.InputShape), Shapes.Product(Spec.OutputShape));

/// <summary>Average pooling (linear) or max pooling (rate semantics: the exact max of the input).</summary>
public sealed record PoolT(PoolSpec Spec) : Transform(Shapes.Product(Spec.InputShape), Shapes.Product(Spec.OutputShape));

/// <summary>y[i] = x[Index[i]], or 0 where Index[i] &lt; 0 (a Sparse transform with ones).</summary>
public sealed record GatherT(int In, Arr<int> Index, string Kind) : Transform(In, Index.Count);

/// <summary>
/// A connection from Pre's output to Post's input. A synapse filters the transformed values
/// (and delays them one step). PostIndex, when set, scatters the values into Post (concatenation).
/// </summary>
public sealed record Connection(string Id, string Pre, string Post, Transform Transform, Option<Lowpass> Synapse, Option<Arr<int>> PostIndex);

/// <summary>Reads an object's output as model output <see cref="Output"/>, optionally filtered, optionally through softmax.</summary>
public sealed record Probe(string Id, string Target, Option<Lowpass> Synapse, bool Softmax, Arr<int> Shape, int Output);

/// <summary>Stage 3 IR: the spiking (or rate) network.</summary>
public sealed record Network(
    Seq<NetNode> Nodes, Seq<Connection> Connections, Seq<Probe> Probes, float Dt, Seq<LayerStatus> Layers, Seq<string> Warnings)
{
    public NetNode Node(string id) => Nodes.Find(n => n.Id == id).IfNone(() => throw new KeyNotFoundException(id));
    public int InputCount => Nodes.Count(n => n is InputNode);
}
