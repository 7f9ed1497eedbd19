using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// Looks up the weights of one layer. <paramref name="path"/> is the chain of enclosing model
/// names (outermost first, the top-level model excluded), <paramref name="layer"/> the layer name and
/// <paramref name="config"/> its configuration.
/// Returns the weights keyed by Keras variable name ("kernel", "bias", "gamma", ...).
/// </summary>
public delegate Either<Error, Map<string, Tensor>> WeightSource(Seq<string> path, string layer, string className, LayerConfig config);

/// <summary>
/// Reads a Keras model configuration (<c>{"class_name", "config"}</c>) in any dialect we meet:
/// Sequential as a bare list (Keras 2.0), with a first layer carrying <c>batch_input_shape</c>, or with an
/// InputLayer (<c>batch_shape</c>, Keras 3); Functional/Model with Keras 2 list-form or Keras 3
/// <c>__keras_tensor__</c> inbound nodes; nested models, which are inlined. Shared by every container format.
/// </summary>
public static class KerasConfigReader
{
    sealed class ImportFailure(Error error) : Exception(error.Message)
    {
        public Error Error { get; } = error;
    }

    static readonly System.Collections.Generic.HashSet<string> ModelClasses = new() { "Sequential", "Functional", "Model" };

    public static bool IsModelClass(string className) => ModelClasses.Contains(className);

    public static Either<Error, KerasModel> Read(JsonElement modelConfig, WeightSource weights, string source)
    {
        try
        {
            var ctx = new Context(weights, source);
            var className = Str(modelConfig, "class_name", source, "model");
            if (!IsModelClass(className))
                throw Fail(source, $"top-level class '{className}' is not a Sequential or Functional model");
            var config = Prop(modelConfig, "config", source, "model");
            var name = config.ValueKind == JsonValueKind.Object && config.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                ? n.GetString()! : "model";
            var (inputs, outputs) = ReadModel(ctx, className, config, Seq<string>(), "", None);
            if (ctx.Nodes.Count == 0) throw Fail(source, "the model has no layers");
            return new KerasModel(name, ctx.Nodes.ToSeq().Strict(), inputs, ctx.InputShapes.ToSeq().Strict(), outputs, source);
        }
        catch (ImportFailure f)
        {
            return f.Error;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Malformed configs surface as JSON accessor or collection exceptions: report them as data errors.
            return Errors.ModelJson(source, $"malformed model configuration ({e.Message})");
        }
    }

    sealed class Context(WeightSource weights, string source)
    {
        public readonly WeightSource Weights = weights;
        public readonly string Source = source;
        public readonly List<KerasNode> Nodes = new();
        public readonly List<Arr<int>> InputShapes = new();
        public readonly System.Collections.Generic.HashSet<string> Ids = new();
    }

    static ImportFailure Fail(string source, string message) => new(Errors.ModelJson(source, message));

    static string Str(JsonElement e, string key, string source, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString()! : throw Fail(source, $"{where}: missing string '{key}'");

    static JsonElement Prop(JsonElement e, string key, string source, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v)
            ? v : throw Fail(source, $"{where}: missing '{key}'");

    /// <summary>
    /// Inlines one model. <paramref name="boundInputs"/> is None for the top-level model (its inputs
    /// become InputLayer nodes) and Some(values) for a nested call. Returns (inputs, outputs).
    /// </summary>
    static (Seq<KerasValue> Inputs, Seq<KerasValue> Outputs) ReadModel(
        Context ctx, string className, JsonElement config, Seq<string> path, string prefix, Option<Seq<KerasValue>> boundInputs) =>
        className == "Sequential"
            ? ReadSequential(ctx, config, path, prefix, boundInputs)
            : ReadFunctional(ctx, config, path, prefix, boundInputs);

    static (Seq<KerasValue>, Seq<KerasValue>) ReadSequential(
        Context ctx, JsonElement config, Seq<string> path, string prefix, Option<Seq<KerasValue>> boundInputs)
    {
        var layers = config.ValueKind == JsonValueKind.Array ? config : Prop(config, "layers", ctx.Source, "Sequential config");
        if (layers.ValueKind != JsonValueKind.Array) throw Fail(ctx.Source, "Sequential 'layers' is not a list");
        var list = layers.EnumerateArray().ToList();
        if (list.Count == 0) throw Fail(ctx.Source, "Sequential model has no layers");

        KerasValue current;
        Seq<KerasValue> inputs;
        var start = 0;
        var firstClass = Str(list[0], "class_name", ctx.Source, "layer 0");
        var firstConfig = Prop(list[0], "config", ctx.Source, "layer 0");
        if (boundInputs.IsSome)
        {
            var bound = boundInputs.IfNone(Seq<KerasValue>());
            if (bound.Count != 1) throw Fail(ctx.Source, $"a nested Sequential model was called with {bound.Count} inputs");
            current = bound.Head;
            inputs = bound;
            if (firstClass == "InputLayer") start = 1;
        }
        else
        {
            var cfg = new LayerConfig(firstConfig);
            var shape = BatchShape(cfg)
                .IfNone(() => new LayerConfig(config.ValueKind == JsonValueKind.Object ? config : default).Dims("build_input_shape")
                .IfNone(() => throw Fail(ctx.Source, "Sequential model has no input shape (no InputLayer, batch_input_shape or build_input_shape)")));
            var inputName = firstClass == "InputLayer" ? cfg.String("name").IfNone("input") : "input";
            current = AddInput(ctx, prefix + inputName, shape);
            inputs = Seq1(current);
            if (firstClass == "InputLayer") start = 1;
        }

        for (var i = start; i < list.Count; i++)
        {
            var entry = list[i];
            var cls = Str(entry, "class_name", ctx.Source, $"layer {i}");
            var cfgEl = Prop(entry, "config", ctx.Source, $"layer {i}");
            var name = new LayerConfig(cfgEl).String("name").IfNone($"layer_{i}");
            if (cls == "InputLayer") continue;
            if (IsModelClass(cls))
            {
                var (_, outs) = ReadModel(ctx, cls, cfgEl, path.Add(name), prefix + name + "/", Some(Seq1(current)));
                if (outs.Count != 1) throw Fail(ctx.Source, $"nested model '{name}' in a Sequential model must have one output");
                current = outs.Head;
            }
            else
            {
                current = AddLayerNode(ctx, path, prefix, name, 0, cls, cfgEl, Seq1(current), entry);
            }
        }
        return (inputs, Seq1(current));
    }

    static KerasValue AddInput(Context ctx, string id, Arr<int> batchShape)
    {
        if (batchShape.Count < 2) throw Fail(ctx.Source, $"input '{id}' has shape {Shapes.Show(batchShape)}; expected (batch, ...)");
        var shape = batchShape.Skip(1).ToArr();
        var cfg = LayerConfig.Parse(JsonSerializer.Serialize(new { name = id, batch_input_shape = batchShape.Select(d => d < 0 ? (int?)null : d) }));
        AddNode(ctx, new KerasNode(id, id, "InputLayer", cfg, Map<string, Tensor>(), Seq<KerasValue>()));
        ctx.InputShapes.Add(shape);
        return new KerasValue(id);
    }

    static void AddNode(Context ctx, KerasNode node)
    {
        if (!ctx.Ids.Add(node.Id)) throw Fail(ctx.Source, $"duplicate layer name '{node.Id}'");
        ctx.Nodes.Add(node);
    }

    static Option<Arr<int>> BatchShape(LayerConfig cfg) =>
        cfg.Dims("batch_input_shape") || cfg.Dims("batch_shape");

    static KerasValue AddLayerNode(
        Context ctx, Seq<string> path, string prefix, string name, int call, string cls, JsonElement cfgEl, Seq<KerasValue> inputs, JsonElement entry)
    {
        var layerId = prefix + name;
        var id = call == 0 ? layerId : $"{layerId}#{call}";
        var cfg = new LayerConfig(cfgEl);
        var weights = ctx.Weights(path, name, cls, cfg).Match(w => w, e => throw new ImportFailure(e));
        // Keras 3 custom classes carry registered_name; keep it visible to legalize.
        if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("registered_name", out var rn) && rn.ValueKind == JsonValueKind.String
            && rn.GetString() is { } reg && reg.Contains('>'))
            cls = reg;
        AddNode(ctx, new KerasNode(id, layerId, cls, cfg, weights, inputs));
        return new KerasValue(id);
    }

    /// <summary>A reference (layer, node index, tensor index) as written in the config.</summary>
    readonly record struct Ref(string Layer, int Node, int Tensor);

    static (Seq<KerasValue>, Seq<KerasValue>) ReadFunctional(
        Context ctx, JsonElement config, Seq<string> path, string prefix, Option<Seq<KerasValue>> boundInputs)
    {
        var layers = Prop(config, "layers", ctx.Source, "Functional config");
        if (layers.ValueKind != JsonValueKind.Array) throw Fail(ctx.Source, "Functional 'layers' is not a list");
        var entries = new Dictionary<string, JsonElement>();
        var order = new List<string>();
        foreach (var e in layers.EnumerateArray())
        {
            var name = e.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                ? n.GetString()! : new LayerConfig(Prop(e, "config", ctx.Source, "layer")).String("name").IfNone(() => throw Fail(ctx.Source, "layer without a name"));
            if (!entries.TryAdd(name, e)) throw Fail(ctx.Source, $"duplicate layer name '{name}'");
            order.Add(name);
        }

        var inputRefs = Refs(Prop(config, "input_layers", ctx.Source, "Functional config"), ctx.Source);
        var outputRefs = Refs(Prop(config, "output_layers", ctx.Source, "Functional config"), ctx.Source);

        // Calls of each layer, as lists of input refs.
        var calls = order.ToDictionary(n => n, n => InboundNodes(entries[n], ctx.Source, n));
        var values = new Dictionary<Ref, KerasValue>();

        // Bind inputs.
        var bound = boundInputs.IfNone(Seq<KerasValue>());
        if (boundInputs.IsSome && bound.Count != inputRefs.Count)
            throw Fail(ctx.Source, $"nested model called with {bound.Count} inputs but declares {inputRefs.Count}");
        var modelInputs = new List<KerasValue>();
        for (var i = 0; i < inputRefs.Count; i++)
        {
            var r = inputRefs[i];
            if (!entries.TryGetValue(r.Layer, out var inputEntry)) throw Fail(ctx.Source, $"unknown input layer '{r.Layer}'");
            KerasValue v;
            if (boundInputs.IsSome) v = bound[i];
            else
            {
                var cfg = new LayerConfig(Prop(inputEntry, "config", ctx.Source, r.Layer));
                var shape = BatchShape(cfg).IfNone(() => throw Fail(ctx.Source, $"input layer '{r.Layer}' has no batch_input_shape or batch_shape"));
                v = AddInput(ctx, prefix + r.Layer, shape);
            }
            values[new Ref(r.Layer, 0, 0)] = v;
            modelInputs.Add(v);
        }

        // Resolve calls until nothing changes (the config is usually topological already).
        var pending = new List<(string Layer, int Call)>();
        foreach (var n in order)
        {
            var cls = Str(entries[n], "class_name", ctx.Source, n);
            if (cls == "InputLayer") continue;
            for (var c = 0; c < calls[n].Count; c++) pending.Add((n, c));
        }

        KerasValue Lookup(Ref r) => values.TryGetValue(r, out var v) ? v
            : values.TryGetValue(r with { Node = r.Node - 1 }, out var shifted) && IsNestedModel(entries, r.Layer) ? shifted
            : throw new KeyNotFoundException();

        bool Ready(Ref r) => values.ContainsKey(r) || (IsNestedModel(entries, r.Layer) && values.ContainsKey(r with { Node = r.Node - 1 }));

        var guard = 0;
        while (pending.Count > 0)
        {
            if (++guard > 100000) throw Fail(ctx.Source, "graph too large");
            var progressed = false;
            for (var i = 0; i < pending.Count; i++)
            {
                var (layer, call) = pending[i];
                var refs = calls[layer][call];
                if (!refs.ForAll(Ready)) continue;
                var ins = refs.Map(Lookup).Strict();
                var entry = entries[layer];
                var cls = Str(entry, "class_name", ctx.Source, layer);
                var cfgEl = Prop(entry, "config", ctx.Source, layer);
                if (IsModelClass(cls))
                {
                    var sub = call == 0 ? prefix + layer + "/" : $"{prefix}{layer}#{call}/";
                    var (_, outs) = ReadModel(ctx, cls, cfgEl, path.Add(layer), sub, Some(ins));
                    for (var t = 0; t < outs.Count; t++) values[new Ref(layer, call, t)] = outs[t];
                }
                else
                {
                    values[new Ref(layer, call, 0)] = AddLayerNode(ctx, path, prefix, layer, call, cls, cfgEl, ins, entry);
                }
                pending.RemoveAt(i--);
                progressed = true;
            }
            if (!progressed)
                throw Fail(ctx.Source, "the layer graph has a cycle or refers to unknown layers: " +
                                       string.Join(", ", pending.Take(5).Select(p => p.Layer)));
        }

        var outputs = outputRefs.Map(r => Ready(r) ? Lookup(r) : throw Fail(ctx.Source, $"unknown output layer '{r.Layer}'")).Strict();
        return (modelInputs.ToSeq().Strict(), outputs);
    }

    static bool IsNestedModel(Dictionary<string, JsonElement> entries, string layer) =>
        entries.TryGetValue(layer, out var e) && e.TryGetProperty("class_name", out var c) && c.ValueKind == JsonValueKind.String
        && IsModelClass(c.GetString()!);

    /// <summary>input_layers/output_layers: ["name", 0, 0] or a (nested) list of such triples.</summary>
    static Seq<Ref> Refs(JsonElement e, string source)
    {
        var result = new List<Ref>();
        void Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array && x.GetArrayLength() >= 3 && x[0].ValueKind == JsonValueKind.String)
                result.Add(new Ref(x[0].GetString()!, x[1].GetInt32(), x[2].GetInt32()));
            else if (x.ValueKind == JsonValueKind.Array)
                foreach (var y in x.EnumerateArray()) Walk(y);
            else if (x.ValueKind == JsonValueKind.Object)
                foreach (var p in x.EnumerateObject()) Walk(p.Value);
            else throw Fail(source, $"cannot read layer reference {x.GetRawText()}");
        }
        Walk(e);
        return result.ToSeq().Strict();
    }

    /// <summary>Each call of a layer as its list of input refs, in either dialect.</summary>
    static List<Seq<Ref>> InboundNodes(JsonElement entry, string source, string layer)
    {
        var result = new List<Seq<Ref>>();
        if (!entry.TryGetProperty("inbound_nodes", out var nodes) || nodes.ValueKind != JsonValueKind.Array) return result;
        foreach (var node in nodes.EnumerateArray())
        {
            var refs = new List<Ref>();
            if (node.ValueKind == JsonValueKind.Object)
            {
                // Keras 3: {"args": [...], "kwargs": {...}} with __keras_tensor__ leaves anywhere inside.
                if (node.TryGetProperty("args", out var args)) CollectKerasTensors(args, refs);
                if (node.TryGetProperty("kwargs", out var kwargs)) CollectKerasTensors(kwargs, refs);
            }
            else if (node.ValueKind == JsonValueKind.Array)
            {
                // Keras 2: [[layer, node, tensor, kwargs?], ...]
                foreach (var r in node.EnumerateArray())
                {
                    if (r.ValueKind != JsonValueKind.Array || r.GetArrayLength() < 3 || r[0].ValueKind != JsonValueKind.String)
                        throw Fail(source, $"layer '{layer}': cannot read inbound node {r.GetRawText()}");
                    refs.Add(new Ref(r[0].GetString()!, r[1].GetInt32(), r[2].GetInt32()));
                }
            }
            else throw Fail(source, $"layer '{layer}': cannot read inbound node {node.GetRawText()}");
            result.Add(refs.ToSeq().Strict());
        }
        return result;
    }

    static void CollectKerasTensors(JsonElement e, List<Ref> refs)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                if (e.TryGetProperty("class_name", out var cn) && cn.ValueKind == JsonValueKind.String && cn.GetString() == "__keras_tensor__")
                {
                    if (!e.TryGetProperty("config", out var kc) || kc.ValueKind != JsonValueKind.Object || !kc.TryGetProperty("keras_history", out var h)
                        || h.ValueKind != JsonValueKind.Array || h.GetArrayLength() < 3 || h[0].ValueKind != JsonValueKind.String
                        || !h[1].TryGetInt32(out var node) || !h[2].TryGetInt32(out var tensor))
                        throw new FormatException($"a __keras_tensor__ without a valid keras_history: {e.GetRawText()}");
                    refs.Add(new Ref(h[0].GetString()!, node, tensor));
                    return;
                }
                foreach (var p in e.EnumerateObject()) CollectKerasTensors(p.Value, refs);
                return;
            case JsonValueKind.Array:
                foreach (var x in e.EnumerateArray()) CollectKerasTensors(x, refs);
                return;
        }
    }
}
