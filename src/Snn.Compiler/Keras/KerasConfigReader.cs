using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;
using static Snn.Compiler.EitherExtensions;

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
    static readonly System.Collections.Generic.HashSet<string> ModelClasses = new() { "Sequential", "Functional", "Model" };

    public static bool IsModelClass(string className) => ModelClasses.Contains(className);

    public static Either<Error, KerasModel> Read(JsonElement modelConfig, WeightSource weights, string source)
    {
        try
        {
            var ctx = new Context(weights, source);
            return from className in Str(modelConfig, "class_name", source, "model")
                   from _ in IsModelClass(className) ? Ok : Fail(source, $"top-level class '{className}' is not a Sequential or Functional model")
                   from config in Prop(modelConfig, "config", source, "model")
                   let name = config.ValueKind == JsonValueKind.Object && config.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                       ? n.GetString()! : "model"
                   from model in ReadModel(ctx, className, config, Seq<string>(), "", None)
                   from __ in ctx.Nodes.Count == 0 ? Fail(source, "the model has no layers") : Ok
                   from ___ in Snn.Compiler.Layers.ConfigChecks.Run(ctx.Nodes.ToSeq(), source)
                   select new KerasModel(name, ctx.Nodes.ToSeq().Strict(), model.Inputs, ctx.InputShapes.ToSeq().Strict(), model.Outputs, source);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Boundary for what System.Text.Json throws on an element of the wrong kind, which the reader leaves to it:
            // InvalidOperationException (GetInt32 of a string, TryGetProperty of a list, Clone of a default element) and
            // FormatException (a number that is not an Int32). Reported as the data errors they are.
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

    static Error Fail(string source, string message) => Errors.ModelJson(source, message);

    static Either<Error, string> Str(JsonElement e, string key, string source, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String
            ? Right<Error, string>(v.GetString()!) : Fail(source, $"{where}: missing string '{key}'");

    static Either<Error, JsonElement> Prop(JsonElement e, string key, string source, string where) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v)
            ? v : Fail(source, $"{where}: missing '{key}'");

    /// <summary>
    /// Inlines one model. <paramref name="boundInputs"/> is None for the top-level model (its inputs
    /// become InputLayer nodes) and Some(values) for a nested call. Returns (inputs, outputs).
    /// </summary>
    static Either<Error, (Seq<KerasValue> Inputs, Seq<KerasValue> Outputs)> ReadModel(
        Context ctx, string className, JsonElement config, Seq<string> path, string prefix, Option<Seq<KerasValue>> boundInputs) =>
        className == "Sequential"
            ? ReadSequential(ctx, config, path, prefix, boundInputs)
            : ReadFunctional(ctx, config, path, prefix, boundInputs);

    static Either<Error, (Seq<KerasValue> Inputs, Seq<KerasValue> Outputs)> ReadSequential(
        Context ctx, JsonElement config, Seq<string> path, string prefix, Option<Seq<KerasValue>> boundInputs) =>
        from layers in config.ValueKind == JsonValueKind.Array ? config : Prop(config, "layers", ctx.Source, "Sequential config")
        from list in layers.ValueKind != JsonValueKind.Array ? Fail(ctx.Source, "Sequential 'layers' is not a list")
            : layers.EnumerateArray().ToList() is { Count: > 0 } l ? Right<Error, List<JsonElement>>(l)
            : Fail(ctx.Source, "Sequential model has no layers")
        from firstClass in Str(list[0], "class_name", ctx.Source, "layer 0")
        from firstConfig in Prop(list[0], "config", ctx.Source, "layer 0")
        from inputs in boundInputs.Match(
            bound => bound.Count != 1 ? Fail(ctx.Source, $"a nested Sequential model was called with {bound.Count} inputs") : Right<Error, Seq<KerasValue>>(bound),
            () => SequentialInput(ctx, config, firstClass, new LayerConfig(firstConfig), prefix))
        let start = firstClass == "InputLayer" ? 1 : 0
        from output in Enumerable.Range(start, list.Count - start).Aggregate(Right<Error, KerasValue>(inputs.Head),
            (current, i) => current.Bind(c => SequentialLayer(ctx, list[i], i, path, prefix, c)))
        select (inputs, Seq1(output));

    static Either<Error, Seq<KerasValue>> SequentialInput(Context ctx, JsonElement config, string firstClass, LayerConfig cfg, string prefix) =>
        from shape in (BatchShape(cfg) || new LayerConfig(config.ValueKind == JsonValueKind.Object ? config : default).Dims("build_input_shape"))
            .ToEither(Fail(ctx.Source, "Sequential model has no input shape (no InputLayer, batch_input_shape or build_input_shape)"))
        let inputName = firstClass == "InputLayer" ? cfg.String("name").IfNone("input") : "input"
        from input in AddInput(ctx, prefix + inputName, shape)
        select Seq1(input);

    /// <summary>Layer <paramref name="i"/> of a Sequential model applied to <paramref name="current"/>; its output.</summary>
    static Either<Error, KerasValue> SequentialLayer(Context ctx, JsonElement entry, int i, Seq<string> path, string prefix, KerasValue current) =>
        from cls in Str(entry, "class_name", ctx.Source, $"layer {i}")
        from cfgEl in Prop(entry, "config", ctx.Source, $"layer {i}")
        let name = new LayerConfig(cfgEl).String("name").IfNone($"layer_{i}")
        from output in cls == "InputLayer" ? current
            : IsModelClass(cls)
                ? ReadModel(ctx, cls, cfgEl, path.Add(name), prefix + name + "/", Some(Seq1(current))).Bind(m => m.Outputs.Count != 1
                    ? Fail(ctx.Source, $"nested model '{name}' in a Sequential model must have one output")
                    : Right<Error, KerasValue>(m.Outputs.Head))
                : AddLayerNode(ctx, path, prefix, name, 0, cls, cfgEl, Seq1(current), entry)
        select output;

    static Either<Error, KerasValue> AddInput(Context ctx, string id, Arr<int> batchShape)
    {
        if (batchShape.Count < 2) return Fail(ctx.Source, $"input '{id}' has shape {Shapes.Show(batchShape)}; expected (batch, ...)");
        var shape = batchShape.Skip(1).ToArr();
        var cfg = LayerConfig.Parse(JsonSerializer.Serialize(new { name = id, batch_input_shape = batchShape.Select(d => d < 0 ? (int?)null : d) }));
        return AddNode(ctx, new KerasNode(id, id, "InputLayer", cfg, Map<string, Tensor>(), Seq<KerasValue>()))
            .Map(_ =>
            {
                ctx.InputShapes.Add(shape);
                return new KerasValue(id);
            });
    }

    static Either<Error, Unit> AddNode(Context ctx, KerasNode node)
    {
        if (!ctx.Ids.Add(node.Id)) return Fail(ctx.Source, $"duplicate layer name '{node.Id}'");
        ctx.Nodes.Add(node);
        return unit;
    }

    static Option<Arr<int>> BatchShape(LayerConfig cfg) =>
        cfg.Dims("batch_input_shape") || cfg.Dims("batch_shape");

    static Either<Error, KerasValue> AddLayerNode(
        Context ctx, Seq<string> path, string prefix, string name, int call, string cls, JsonElement cfgEl, Seq<KerasValue> inputs, JsonElement entry)
    {
        var layerId = prefix + name;
        var id = call == 0 ? layerId : $"{layerId}#{call}";
        var cfg = new LayerConfig(cfgEl);
        // Keras 3 custom classes carry registered_name; keep it visible to legalize.
        var shown = entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("registered_name", out var rn) && rn.ValueKind == JsonValueKind.String
            && rn.GetString() is { } reg && reg.Contains('>') ? reg : cls;
        return from weights in ctx.Weights(path, name, cls, cfg)
               from _ in AddNode(ctx, new KerasNode(id, layerId, shown, cfg, weights, inputs))
               select new KerasValue(id);
    }

    /// <summary>A reference (layer, node index, tensor index) as written in the config.</summary>
    readonly record struct Ref(string Layer, int Node, int Tensor);

    /// <summary>A Functional model's layer entries by name, and their names in the order written.</summary>
    sealed record LayerTable(Dictionary<string, JsonElement> Entries, List<string> Order);

    static Either<Error, (Seq<KerasValue> Inputs, Seq<KerasValue> Outputs)> ReadFunctional(
        Context ctx, JsonElement config, Seq<string> path, string prefix, Option<Seq<KerasValue>> boundInputs) =>
        from layers in Prop(config, "layers", ctx.Source, "Functional config")
        from table in layers.ValueKind != JsonValueKind.Array ? Fail(ctx.Source, "Functional 'layers' is not a list") : Layers(ctx.Source, layers)
        from inputRefs in Prop(config, "input_layers", ctx.Source, "Functional config").Bind(e => Refs(e, ctx.Source))
        from outputRefs in Prop(config, "output_layers", ctx.Source, "Functional config").Bind(e => Refs(e, ctx.Source))
        // Calls of each layer, as lists of input refs.
        from calls in table.Order.Collect(n => InboundNodes(table.Entries[n], ctx.Source, n).Map(inbound => (Layer: n, Calls: inbound)))
        from model in Wire(ctx, table, calls.ToDictionary(c => c.Layer, c => c.Calls), inputRefs, outputRefs, path, prefix, boundInputs)
        select model;

    static Either<Error, LayerTable> Layers(string source, JsonElement layers)
    {
        var table = new LayerTable(new Dictionary<string, JsonElement>(), new List<string>());
        foreach (var e in layers.EnumerateArray())
        {
            var name = e.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                ? Right<Error, string>(n.GetString()!)
                : Prop(e, "config", source, "layer").Bind(c => new LayerConfig(c).String("name").ToEither(Fail(source, "layer without a name")));
            if (!name.TryGet(out var found, out var error)) return error;
            if (!table.Entries.TryAdd(found, e)) return Fail(source, $"duplicate layer name '{found}'");
            table.Order.Add(found);
        }
        return table;
    }

    /// <summary>Binds a Functional model's inputs, then resolves its layer calls in dependency order; (inputs, outputs).</summary>
    static Either<Error, (Seq<KerasValue> Inputs, Seq<KerasValue> Outputs)> Wire(Context ctx, LayerTable table,
        Dictionary<string, Seq<Seq<Ref>>> calls, Seq<Ref> inputRefs, Seq<Ref> outputRefs, Seq<string> path, string prefix,
        Option<Seq<KerasValue>> boundInputs)
    {
        var entries = table.Entries;
        var values = new Dictionary<Ref, KerasValue>();

        // Bind inputs.
        var bound = boundInputs.IfNone(Seq<KerasValue>());
        if (boundInputs.IsSome && bound.Count != inputRefs.Count)
            return Fail(ctx.Source, $"nested model called with {bound.Count} inputs but declares {inputRefs.Count}");
        var modelInputs = new List<KerasValue>();
        for (var i = 0; i < inputRefs.Count; i++)
        {
            var r = inputRefs[i];
            if (!entries.TryGetValue(r.Layer, out var inputEntry)) return Fail(ctx.Source, $"unknown input layer '{r.Layer}'");
            var input = boundInputs.IsSome
                ? bound[i]
                : from cfgEl in Prop(inputEntry, "config", ctx.Source, r.Layer)
                  from shape in BatchShape(new LayerConfig(cfgEl)).ToEither(Fail(ctx.Source, $"input layer '{r.Layer}' has no batch_input_shape or batch_shape"))
                  from v in AddInput(ctx, prefix + r.Layer, shape)
                  select v;
            if (!input.TryGet(out var value, out var error)) return error;
            values[new Ref(r.Layer, 0, 0)] = value;
            modelInputs.Add(value);
        }

        // Resolve the calls in dependency order, the earliest in the config first among those ready (so a config that
        // is topological already, as Keras writes them, resolves in its own order). Linear in calls and references: a
        // call is checked again only when a call of a layer it refers to resolves.
        var pending = new List<(string Layer, int Call)>();
        foreach (var n in table.Order)
        {
            if (!Str(entries[n], "class_name", ctx.Source, n).TryGet(out var cls, out var error)) return error;
            if (cls == "InputLayer") continue;
            for (var c = 0; c < calls[n].Count; c++) pending.Add((n, c));
        }

        // A nested model's calls are numbered from 1 in Keras 2 configs: ref node k is its call k - 1.
        Option<KerasValue> Lookup(Ref r) => values.TryGetValue(r, out var v) ? v
            : IsNestedModel(entries, r.Layer) && values.TryGetValue(r with { Node = r.Node - 1 }, out var shifted) ? shifted
            : None;
        bool Ready(int k) => calls[pending[k].Layer][pending[k].Call].ForAll(r => Lookup(r).IsSome);

        var waiting = new Dictionary<string, List<int>>();
        for (var k = 0; k < pending.Count; k++)
            foreach (var layer in calls[pending[k].Layer][pending[k].Call].Map(r => r.Layer).Distinct())
                (waiting.TryGetValue(layer, out var list) ? list : waiting[layer] = new List<int>()).Add(k);
        var queued = new bool[pending.Count];
        var ready = new PriorityQueue<int, int>();
        for (var k = 0; k < pending.Count; k++)
            if (Ready(k)) { queued[k] = true; ready.Enqueue(k, k); }
        var resolved = 0;
        while (ready.TryDequeue(out var k, out _))
        {
            var (layer, call) = pending[k];
            var ins = calls[layer][call].Choose(Lookup).Strict();
            var entry = entries[layer];
            var step =
                from cls in Str(entry, "class_name", ctx.Source, layer)
                from cfgEl in Prop(entry, "config", ctx.Source, layer)
                from outs in IsModelClass(cls)
                    ? ReadModel(ctx, cls, cfgEl, path.Add(layer), call == 0 ? prefix + layer + "/" : $"{prefix}{layer}#{call}/", Some(ins))
                        .Map(m => m.Outputs)
                    : AddLayerNode(ctx, path, prefix, layer, call, cls, cfgEl, ins, entry).Map(Seq1)
                select outs;
            if (!step.TryGet(out var outputs, out var error)) return error;
            for (var t = 0; t < outputs.Count; t++) values[new Ref(layer, call, t)] = outputs[t];
            resolved++;
            if (waiting.TryGetValue(layer, out var waiters))
                foreach (var w in waiters)
                    if (!queued[w] && Ready(w)) { queued[w] = true; ready.Enqueue(w, w); }
        }
        if (resolved < pending.Count)
            return Fail(ctx.Source, "the layer graph has a cycle or refers to unknown layers: " +
                                    string.Join(", ", pending.Where((_, k) => !queued[k]).Take(5).Select(p => p.Layer)));

        return outputRefs.Collect(r => Lookup(r).ToEither(Fail(ctx.Source, $"unknown output layer '{r.Layer}'")))
            .Map(outputs => (modelInputs.ToSeq().Strict(), outputs));
    }

    static bool IsNestedModel(Dictionary<string, JsonElement> entries, string layer) =>
        entries.TryGetValue(layer, out var e) && e.TryGetProperty("class_name", out var c) && c.ValueKind == JsonValueKind.String
        && IsModelClass(c.GetString()!);

    /// <summary>input_layers/output_layers: ["name", 0, 0] or a (nested) list of such triples.</summary>
    static Either<Error, Seq<Ref>> Refs(JsonElement e, string source)
    {
        var result = new List<Ref>();
        Either<Error, Unit> Walk(JsonElement x)
        {
            if (x.ValueKind == JsonValueKind.Array && x.GetArrayLength() >= 3 && x[0].ValueKind == JsonValueKind.String)
            {
                result.Add(new Ref(x[0].GetString()!, x[1].GetInt32(), x[2].GetInt32()));
                return unit;
            }
            if (x.ValueKind == JsonValueKind.Array) return x.EnumerateArray().Each(Walk);
            if (x.ValueKind == JsonValueKind.Object) return x.EnumerateObject().Each(p => Walk(p.Value));
            return Fail(source, $"cannot read layer reference {x.GetRawText()}");
        }
        return Walk(e).Map(_ => result.ToSeq().Strict());
    }

    /// <summary>Each call of a layer as its list of input refs, in either dialect.</summary>
    static Either<Error, Seq<Seq<Ref>>> InboundNodes(JsonElement entry, string source, string layer)
    {
        if (!entry.TryGetProperty("inbound_nodes", out var nodes) || nodes.ValueKind != JsonValueKind.Array) return Seq<Seq<Ref>>();
        return nodes.EnumerateArray().Collect(node =>
        {
            var refs = new List<Ref>();
            Either<Error, Unit> read = node.ValueKind switch
            {
                // Keras 3: {"args": [...], "kwargs": {...}} with __keras_tensor__ leaves anywhere inside.
                JsonValueKind.Object =>
                    from _ in node.TryGetProperty("args", out var args) ? CollectKerasTensors(args, refs, source) : Ok
                    from __ in node.TryGetProperty("kwargs", out var kwargs) ? CollectKerasTensors(kwargs, refs, source) : Ok
                    select unit,
                // Keras 2: [[layer, node, tensor, kwargs?], ...]
                JsonValueKind.Array => node.EnumerateArray().Each(r =>
                {
                    if (r.ValueKind != JsonValueKind.Array || r.GetArrayLength() < 3 || r[0].ValueKind != JsonValueKind.String)
                        return Fail(source, $"layer '{layer}': cannot read inbound node {r.GetRawText()}");
                    refs.Add(new Ref(r[0].GetString()!, r[1].GetInt32(), r[2].GetInt32()));
                    return Ok;
                }),
                _ => Fail(source, $"layer '{layer}': cannot read inbound node {node.GetRawText()}"),
            };
            return read.Map(_ => refs.ToSeq().Strict());
        });
    }

    static Either<Error, Unit> CollectKerasTensors(JsonElement e, List<Ref> refs, string source)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                if (e.TryGetProperty("class_name", out var cn) && cn.ValueKind == JsonValueKind.String && cn.GetString() == "__keras_tensor__")
                {
                    if (!e.TryGetProperty("config", out var kc) || kc.ValueKind != JsonValueKind.Object || !kc.TryGetProperty("keras_history", out var h)
                        || h.ValueKind != JsonValueKind.Array || h.GetArrayLength() < 3 || h[0].ValueKind != JsonValueKind.String
                        || !h[1].TryGetInt32(out var node) || !h[2].TryGetInt32(out var tensor))
                        return Fail(source, $"malformed model configuration (a __keras_tensor__ without a valid keras_history: {e.GetRawText()})");
                    refs.Add(new Ref(h[0].GetString()!, node, tensor));
                    return Ok;
                }
                return e.EnumerateObject().Each(p => CollectKerasTensors(p.Value, refs, source));
            case JsonValueKind.Array:
                return e.EnumerateArray().Each(x => CollectKerasTensors(x, refs, source));
            default:
                return Ok;
        }
    }
}
