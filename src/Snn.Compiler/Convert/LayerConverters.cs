using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Convert;

/// <summary>
/// A user-supplied conversion for one Keras class (NengoDL's <c>LayerConverter</c>): it states the output
/// shape (or why the layer cannot be converted) and builds network objects for one call of the layer.
/// </summary>
public interface ILayerConverter
{
    Either<Error, Arr<int>> OutputShape(KerasNode layer, Seq<Arr<int>> inputShapes);

    /// <summary>Builds the objects for <paramref name="layer"/>; returns the id of the object that outputs its value.</summary>
    Either<Error, string> Convert(KerasNode layer, LayerBuilder builder);
}

/// <summary>
/// An immutable registry of custom converters keyed by Keras class name (or registered_name such as
/// "my_pkg&gt;MyLayer"). <see cref="Register"/> returns a new registry; re-registering a class overwrites it
/// and records NengoDL's warning.
/// </summary>
public sealed record ConverterRegistry(Map<string, ILayerConverter> Converters, Seq<string> Warnings)
{
    public static readonly ConverterRegistry Empty = new(Map<string, ILayerConverter>(), Seq<string>());

    public ConverterRegistry Register(string className, ILayerConverter converter) =>
        new(Converters.AddOrUpdate(className, converter),
            Converters.ContainsKey(className) ? Warnings.Add($"Layer '{className}' already has a converter. Overwriting.") : Warnings);

    public Option<ILayerConverter> Find(string className) => Converters.Find(className);

    /// <summary>The converter registered under <paramref name="key"/>, or the error that there is none (for a layer of <paramref name="layer"/>).</summary>
    public Either<Error, ILayerConverter> Resolve(string layer, string key) =>
        Find(key).ToEither(() => Errors.UnsupportedLayer(layer, key, $"{key} does not have a registered converter"));
}

/// <summary>What a custom converter may build: objects and connections, named under the layer's id.</summary>
public sealed class LayerBuilder
{
    readonly Func<NetNode, NetNode> addNode;
    readonly Action<string, INodeFunction> addFunction;
    readonly Action<string, string, Transform, Option<Arr<int>>> connect;

    internal LayerBuilder(string prefix, Seq<string> inputs, Seq<Arr<int>> inputShapes,
        Func<NetNode, NetNode> addNode, Action<string, INodeFunction> addFunction, Action<string, string, Transform, Option<Arr<int>>> connect)
    {
        Prefix = prefix;
        Inputs = inputs;
        InputShapes = inputShapes;
        this.addNode = addNode;
        this.addFunction = addFunction;
        this.connect = connect;
    }

    public string Prefix { get; }

    /// <summary>The ids of the objects holding the layer's inputs.</summary>
    public Seq<string> Inputs { get; }
    public Seq<Arr<int>> InputShapes { get; }

    string Name(string name) => $"{Prefix}.{name}";

    public string AddPassNode(string name, int size) => addNode(new PassNode(Name(name), Prefix, size)).Id;
    public string AddConstNode(string name, Tensor value) => addNode(new ConstNode(Name(name), Prefix, value)).Id;

    public string AddEnsemble(string name, int size, NeuronType neuron, float gain, Tensor bias, Option<Tensor> initialVoltage = default) =>
        addNode(new Ensemble(Name(name), Prefix, size, neuron, gain, bias,
            neuron.Spiking ? initialVoltage.IfNone(() => Tensor.Filled(new[] { size }, 0.5f)) : None)).Id;

    /// <summary>
    /// Adds a function node running <paramref name="function"/> on each sample's input (of <paramref name="sizeIn"/>
    /// values) to give its output (of <paramref name="size"/>). The network holds the node's name; the function goes
    /// into the conversion's <see cref="NodeFunctions"/> under that name.
    /// </summary>
    public string AddFunction(string name, int sizeIn, int size, INodeFunction function)
    {
        var id = Name(name);
        addFunction(id, function);
        return addNode(new FunctionNode(id, Prefix, sizeIn, size, id, function.Name)).Id;
    }

    /// <summary>As above, for a function written as a method that fills its output array from its input array.</summary>
    public string AddFunction(string name, int sizeIn, int size, Action<float[], float[]> body) =>
        AddFunction(name, sizeIn, size, new DelegateFunction(Name(name), body));

    /// <summary>Connects two objects; the converter's synapse is applied when <paramref name="pre"/> is an ensemble.</summary>
    public void Connect(string pre, string post, Transform transform, Option<Arr<int>> postIndex = default) =>
        connect(pre, post, transform, postIndex);
}

/// <summary>
/// A Keras layer evaluated with the reference evaluator: the fallback for layers without a native conversion. Total:
/// when the reference evaluator cannot evaluate the layer (legalize checked it can, on zeros) the error comes back.
/// </summary>
public sealed record KerasLayerFunction(KerasNode Layer, Seq<Arr<int>> InputShapes, Arr<int> OutputShape) : INodeFunction
{
    public string Name => $"{Layer.ClassName} '{Layer.Id}' (reference kernel)";

    public Fin<Unit> Apply(ReadOnlySpan<float> input, Span<float> output)
    {
        var values = new KerasEval.Value[InputShapes.Count];
        var offset = 0;
        for (var i = 0; i < values.Length; i++)
        {
            var size = Shapes.Product(InputShapes[i]);
            values[i] = new KerasEval.Value(InputShapes[i].ToArray(), input.Slice(offset, size).ToArray());
            offset += size;
        }
        var result = KerasEval.EvaluateLayer(Layer, values);
        if (result.Case is not KerasEval.Value value) return Errors.FunctionNode(Layer.Id, ((Error)result.Case!).Message);
        if (value.Data.Length != output.Length)
            return Errors.FunctionNode(Layer.Id, $"the reference kernel gave {value.Data.Length} values for an output of {output.Length}");
        value.Data.CopyTo(output);
        return unit;
    }
}

/// <summary>
/// A hand-written function node: <see cref="Body"/> fills its output array from its input array. Total: an exception
/// the body throws comes back as the node's error.
/// </summary>
public sealed class DelegateFunction(string name, Action<float[], float[]> body) : INodeFunction
{
    public string Name => name;

    public Action<float[], float[]> Body => body;

    public Fin<Unit> Apply(ReadOnlySpan<float> input, Span<float> output)
    {
        var x = input.ToArray();
        var y = new float[output.Length];
        var ran = Try(() => { body(x, y); return unit; }).Try();
        if (ran.IsFaulted) return Errors.FunctionNode(name, ran.Match(_ => "", e => e.Message));
        y.CopyTo(output);
        return unit;
    }
}
