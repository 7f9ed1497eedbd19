using LanguageExt;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Convert;

/// <summary>A Nengo-style object: an input node, a passthrough node, a constant node, an ensemble or a function node.</summary>
public abstract record NetNode(string Id, string Layer, int Size)
{
    /// <summary>How many values incoming connections deliver (the output size unless the node transforms).</summary>
    public virtual int SizeIn => Size;

    /// <summary>NengoDL's per-object trainable flag; recorded for exporters, no effect on simulation.</summary>
    public bool Trainable { get; init; }
}

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
    : NetNode(Id, Layer, Size)
{
    /// <summary>
    /// Per-neuron refinement of the firing-rate scale (per-channel calibration): neuron i's incoming current is
    /// multiplied by NeuronScale[i] on top of <see cref="Gain"/> and its output divided by it, so rates are unchanged
    /// while each channel fires at its own rate. <see cref="Bias"/> already includes it. None: 1 for every neuron.
    /// </summary>
    public Option<Tensor> NeuronScale { get; init; }

    /// <summary>The per-neuron gains <c>Gain × NeuronScale[i]</c> (None without per-neuron scales).</summary>
    public Option<Tensor> NeuronGains => NeuronScale.Map(r => r.Map(v => Gain * v));

    /// <summary>The factor on each neuron's output as it leaves the ensemble, <c>1 / NeuronScale[i]</c> (None without per-neuron scales).</summary>
    public Option<Tensor> OutputScale => NeuronScale.Map(r => r.Map(v => 1f / v));
}

/// <summary>
/// Max pooling of spike trains, beyond NengoDL. The rate meaning is the exact max of the input; spiking
/// behaviour follows <see cref="Method"/> (see <see cref="MaxPoolMethod"/>).
/// </summary>
public sealed record MaxPoolNode(string Id, string Layer, PoolSpec Spec, MaxPoolMethod Method) : NetNode(Id, Layer, Shapes.Product(Spec.OutputShape))
{
    public override int SizeIn => Shapes.Product(Spec.InputShape);
}

/// <summary>
/// A keras_spiking Lowpass or Alpha filter as an object: its output is the filtered sum of its inputs, updated in the
/// same step (no synaptic delay, as in Keras). <see cref="Tau"/> has one value or one per element; the output starts
/// at <see cref="InitialLevel"/>. The network's dt discretizes it (zero-order hold). Rate meaning: the identity.
/// </summary>
public sealed record FilterNode(string Id, string Layer, int Size, FilterKind Kind, Tensor Tau, Tensor InitialLevel) : NetNode(Id, Layer, Size);

/// <summary>
/// A node whose output is a function of its input, evaluated per sample by the interpreter: fallback layers
/// (evaluated with the reference kernel), custom converters and hand-written nodes. The node holds data only:
/// <see cref="Function"/> names its code in the <see cref="NodeFunctions"/> that travel beside the network (the
/// converter's and the compile result's <c>Functions</c>), <see cref="Description"/> says what the code is (its
/// <see cref="INodeFunction.Name"/>), and <see cref="FallbackClass"/> is the Keras class a fallback layer evaluates.
/// </summary>
public sealed record FunctionNode(string Id, string Layer, int In, int Size, string Function, string Description) : NetNode(Id, Layer, Size)
{
    public override int SizeIn => In;

    /// <summary>For a fallback layer (a Keras layer run by the reference kernel): its Keras class.</summary>
    public Option<string> FallbackClass { get; init; }
}

/// <summary>What a connection does to the presynaptic output before it reaches the post object.</summary>
public abstract record Transform(int InSize, int OutSize)
{
    /// <summary>Multiply-accumulates of one application on a dense input (an element's copy counts one).</summary>
    public static double Macs(Transform t) => t switch
    {
        DenseT d => (double)d.Kernel.Length * d.Rows,
        ConvT c => c.Spec.Macs,
        PoolT p => Shapes.Product(p.Spec.InputShape),
        _ => t.OutSize,
    };

    /// <summary>Case analysis over the six transforms: the one function that matches this transform, applied to it.</summary>
    public abstract R Match<R>(Func<IdentityT, R> identity, Func<ScaleT, R> scale, Func<DenseT, R> dense, Func<ConvT, R> conv,
        Func<PoolT, R> pool, Func<GatherT, R> gather);
}

/// <summary>NoTransform: the values pass unchanged.</summary>
public sealed record IdentityT(int Size) : Transform(Size, Size)
{
    public override R Match<R>(Func<IdentityT, R> identity, Func<ScaleT, R> scale, Func<DenseT, R> dense, Func<ConvT, R> conv,
        Func<PoolT, R> pool, Func<GatherT, R> gather) => identity(this);
}

/// <summary>Elementwise multiply by Scale (length 1 or Size).</summary>
public sealed record ScaleT(int Size, Tensor Scale) : Transform(Size, Size)
{
    public override R Match<R>(Func<IdentityT, R> identity, Func<ScaleT, R> scale, Func<DenseT, R> dense, Func<ConvT, R> conv,
        Func<PoolT, R> pool, Func<GatherT, R> gather) => scale(this);
}

/// <summary>y = x·Kernel per row of the input; Kernel is [in, out] (Keras layout); Rows rows of length in.</summary>
public sealed record DenseT(Tensor Kernel, int Rows) : Transform(Kernel.Shape[0] * Rows, Kernel.Shape[1] * Rows)
{
    public override R Match<R>(Func<IdentityT, R> identity, Func<ScaleT, R> scale, Func<DenseT, R> dense, Func<ConvT, R> conv,
        Func<PoolT, R> pool, Func<GatherT, R> gather) => dense(this);
}

public sealed record ConvT(ConvSpec Spec, Tensor Kernel) : Transform(Shapes.Product(Spec.InputShape), Shapes.Product(Spec.OutputShape))
{
    public override R Match<R>(Func<IdentityT, R> identity, Func<ScaleT, R> scale, Func<DenseT, R> dense, Func<ConvT, R> conv,
        Func<PoolT, R> pool, Func<GatherT, R> gather) => conv(this);
}

/// <summary>Average pooling (linear) or max pooling (rate semantics: the exact max of the input).</summary>
public sealed record PoolT(PoolSpec Spec) : Transform(Shapes.Product(Spec.InputShape), Shapes.Product(Spec.OutputShape))
{
    public override R Match<R>(Func<IdentityT, R> identity, Func<ScaleT, R> scale, Func<DenseT, R> dense, Func<ConvT, R> conv,
        Func<PoolT, R> pool, Func<GatherT, R> gather) => pool(this);
}

/// <summary>y[i] = x[Index[i]], or 0 where Index[i] &lt; 0 (a Sparse transform with ones).</summary>
public sealed record GatherT(int In, Arr<int> Index, string Kind) : Transform(In, Index.Count)
{
    public override R Match<R>(Func<IdentityT, R> identity, Func<ScaleT, R> scale, Func<DenseT, R> dense, Func<ConvT, R> conv,
        Func<PoolT, R> pool, Func<GatherT, R> gather) => gather(this);
}

/// <summary>
/// A connection from Pre's output to Post's input. A synapse filters the transformed values
/// (and delays them one step). PostIndex, when set, scatters the values into Post (concatenation).
/// </summary>
public sealed record Connection(string Id, string Pre, string Post, Transform Transform, Option<Lowpass> Synapse, Option<Arr<int>> PostIndex)
{
    /// <summary>NengoDL's per-connection trainable flag; recorded, no effect on simulation.</summary>
    public bool Trainable { get; init; }
}

/// <summary>Reads an object's output as model output <see cref="Output"/>, optionally filtered, optionally through softmax.</summary>
public sealed record Probe(string Id, string Target, Option<Lowpass> Synapse, bool Softmax, Arr<int> Shape, int Output);

/// <summary>Stage 3 IR: the spiking (or rate) network.</summary>
public sealed record Network(
    Seq<NetNode> Nodes, Seq<Connection> Connections, Seq<Probe> Probes, float Dt, Seq<LayerStatus> Layers, Seq<string> Warnings)
{
    public NetNode Node(string id) => Nodes.Find(n => n.Id == id).IfNone(() => throw new KeyNotFoundException(id));

    /// <summary>The objects ordered so every connection goes forward (ties keep list order); None if there is a cycle.</summary>
    public Option<Seq<NetNode>> TopologicalOrder()
    {
        var index = Nodes.Map((n) => n.Id).Zip(Enumerable.Range(0, Nodes.Count)).ToDictionary(p => p.Item1, p => p.Item2);
        var indegree = new int[Nodes.Count];
        var next = Enumerable.Range(0, Nodes.Count).Select(_ => new List<int>()).ToArray();
        foreach (var c in Connections)
        {
            if (!index.TryGetValue(c.Pre, out var a) || !index.TryGetValue(c.Post, out var b)) return None;
            next[a].Add(b);
            indegree[b]++;
        }
        var ready = new SortedSet<int>(Enumerable.Range(0, Nodes.Count).Where(i => indegree[i] == 0));
        var order = new List<NetNode>();
        while (ready.Count > 0)
        {
            var i = ready.Min;
            ready.Remove(i);
            order.Add(Nodes[i]);
            foreach (var j in next[i])
                if (--indegree[j] == 0) ready.Add(j);
        }
        return order.Count == Nodes.Count ? Some(order.ToSeq()) : None;
    }
    public int InputCount => Nodes.Count(n => n is InputNode);
}
