using LanguageExt;

namespace Snn.Compiler.Keras;

/// <summary>A value in the Keras graph: output <see cref="Index"/> of node <see cref="Node"/>.</summary>
public sealed record KerasValue(string Node, int Index = 0)
{
    public override string ToString() => Index == 0 ? Node : $"{Node}:{Index}";
}

/// <summary>
/// One call of a Keras layer. Nested models are inlined at import, so a node id is a path
/// ("outer/inner/dense"); a layer applied several times gives several nodes with the same
/// <see cref="Layer"/> and the same weights.
/// </summary>
public sealed record KerasNode(
    string Id, string Layer, string ClassName, LayerConfig Config, Map<string, Tensor> Weights, Seq<KerasValue> Inputs)
{
    /// <summary>A weight by its Keras variable name ("kernel", "bias", "gamma", "moving_mean", ...).</summary>
    public Option<Tensor> Weight(string name) => Weights.Find(name);
}

/// <summary>
/// Stage 1 IR: the imported Keras graph (layers, configs, weights and edges) in topological order.
/// Input shapes exclude the batch dimension.
/// </summary>
public sealed record KerasModel(
    string Name, Seq<KerasNode> Nodes, Seq<KerasValue> Inputs, Seq<Arr<int>> InputShapes, Seq<KerasValue> Outputs, string Source)
{
    public Option<KerasNode> Node(string id) => Nodes.Find(n => n.Id == id);
}
