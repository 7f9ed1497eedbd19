using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Layers;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Legalize;

/// <summary>
/// Legalize options: NengoDL's <c>split_shared_weights</c>, <c>allow_fallback</c> and <c>temporal_model</c>
/// (axis 1 of every input is time: the network sees one time step per simulation step, so every layer is
/// legalized on per-step shapes and TimeDistributed unwraps), and the registry of custom converters consulted
/// before the built-in rules.
/// </summary>
public sealed record LegalizeOptions(bool SplitSharedWeights = false, bool AllowFallback = true, ConverterRegistry? Registry = null, bool Temporal = false)
{
    public static readonly LegalizeOptions Default = new();
    public ConverterRegistry Converters => Registry ?? ConverterRegistry.Empty;
}

/// <summary>
/// Pass 2: rewrites the Keras graph into the canonical op subset and reports every unsupported
/// layer or argument at once. Drops inference-time identities (Dropout, noise layers), splits fused
/// activations out of Dense and Conv, transposes channels_first data before Flatten as Keras does,
/// turns BatchNormalization into an affine and folds it into the preceding Dense or Conv when that op
/// feeds nothing else. Regularizers, constraints and trainable flags are ignored.
/// </summary>
public static class Legalize
{
    public const string Name = "legalize";

    public static Validation<Error, LegalGraph> Run(LegalizeOptions options, KerasModel model)
    {
        var errors = new List<Error>();
        var ops = new List<LegalOp>();
        var status = new List<LayerStatus>();
        var alias = new Dictionary<KerasValue, string>();   // Keras value -> legal value id
        var shapes = new Dictionary<string, Arr<int>>();

        // Shared layers with weights need split_shared_weights (NengoDL semantics).
        foreach (var group in model.Nodes.Where(n => !n.Weights.IsEmpty).GroupBy(n => n.Layer).Where(g => g.Count() > 1))
            if (!options.SplitSharedWeights) errors.Add(Errors.SharedWeights(group.Key));

        var inputIndex = 0;
        foreach (var node in model.Nodes)
        {
            var ins = node.Inputs.Map(v => alias.TryGetValue(v, out var id) ? id : null).ToArr();
            if (ins.Exists(i => i is null))
            {
                // An input failed to legalize (its error is recorded). Shapes are unknown from here on,
                // but a layer type we cannot convert at all is still worth reporting now.
                if (!LayerRegistry.Find(node.ClassName).Exists(r => r.Known) && options.Converters.Find(node.ClassName).IsNone)
                    errors.Add(Errors.UnsupportedLayer(node.Id, node.ClassName, LayerRegistry.NotConvertible(node.ClassName)));
                continue;
            }
            var inputIds = ins.Map(i => i!).ToSeq().Strict();
            var result = Layer(options, Unwrap(options, node), inputIds, shapes, node.ClassName == "InputLayer" ? inputIndex++ : -1, model);
            result.Match(
                Right: r =>
                {
                    foreach (var op in r.Ops)
                    {
                        ops.Add(op);
                        shapes[op.Id] = op.Shape;
                    }
                    alias[new KerasValue(node.Id)] = r.Output;
                    status.Add(new LayerStatus(node.Id, node.ClassName, r.Conversion, shapes[r.Output], r.Note));
                },
                Left: e => errors.Add(e));
        }

        var outputs = model.Outputs.Map(o => alias.TryGetValue(o, out var id) ? id : "").ToSeq().Strict();
        if (errors.Count > 0) return Validation<Error, LegalGraph>.Fail(errors.ToSeq().Strict());

        var graph = new LegalGraph(ops.ToSeq().Strict(), model.Inputs.Map(v => alias[v]).ToSeq().Strict(), outputs, status.ToSeq().Strict()) { Warnings = options.Converters.Warnings };
        graph = FoldAffines(graph);
        return CheckSoftmax(graph).Match(
            Succ: g => Success<Error, LegalGraph>(g),
            Fail: es => Validation<Error, LegalGraph>.Fail(es));
    }

    /// <summary>Largest per-sample tensor we accept anywhere (2^26 floats = 256 MiB).</summary>
    public const long MaxElements = 1L << 26;

    /// <summary>
    /// Temporal models run one time step per simulation step: inputs lose their time axis, TimeDistributed
    /// becomes the layer it wraps, and Reshape targets lose their time dimension.
    /// </summary>
    static KerasNode Unwrap(LegalizeOptions o, KerasNode n) =>
        o.Temporal ? LayerRegistry.Find(n.ClassName).Bind(r => r.PerStep).Match(perStep => perStep(n), () => n) : n;

    static Either<Error, Lowered> Layer(LegalizeOptions o, KerasNode n, Seq<string> ins, Dictionary<string, Arr<int>> shapes, int inputIndex, KerasModel model)
    {
        var inputShapes = ins.Map(i => shapes[i]).ToSeq().Strict();
        if (o.Converters.Find(n.ClassName).TryGet(out var custom))
            return custom.OutputShape(n, inputShapes).Map(shape =>
                new Lowered(Seq1<LegalOp>(new LCustom(n.Id, n.Layer, ins, shape, n, inputShapes, n.ClassName)), n.Id, Conversion.Custom, "custom converter"));
        var rule = LayerRegistry.Find(n.ClassName);
        Either<Error, Lowered> lowered;
        try
        {
            lowered = rule.Bind(r => r.Legalize).Match(
                legalize => legalize(new LegalizeInput(o, n, ins, inputShapes, inputIndex, model)),
                () => Left<Error, Lowered>(Errors.UnsupportedLayer(n.Id, n.ClassName, LayerRegistry.NotConvertible(n.ClassName))));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The pass boundary. Rules return their refusals; what still throws is the BCL and LanguageExt on configuration
            // values of the wrong kind or range that the rules do not check (IndexOutOfRangeException from an empty
            // groups list or a weight of the wrong rank, ArgumentOutOfRangeException from Enumerable.Repeat with a
            // negative rank, Tensor.Reshape's ArgumentException), reported as an invalid configuration.
            return Errors.UnsupportedLayer(n.Id, n.ClassName, $"invalid configuration ({e.Message})");
        }
        return lowered.Match(
            Right: r => Right<Error, Lowered>(r),
            Left: e => e.Code is Errors.UnsupportedLayerCode or Errors.UnsupportedArgCode && rule.Map(r => r.FallsBack).IfNone(true)
                ? Fallback(o, n, ins, inputShapes, e)
                : Left<Error, Lowered>(e));
    }

    /// <summary>
    /// A layer without a native conversion becomes a function node evaluated by the reference kernel (NengoDL's
    /// TensorNode fallback), when fallback is allowed and the reference evaluator knows the layer.
    /// </summary>
    static Either<Error, Lowered> Fallback(LegalizeOptions o, KerasNode n, Seq<string> ins, Seq<Arr<int>> inputShapes, Error reason)
    {
        var detail = reason.Message;
        // A layer the reference evaluator cannot run has no fallback either: its refusal stands, with or without --no-fallback.
        var probe = inputShapes.Map(s => new KerasEval.Value(s.ToArray(), new float[Shapes.Product(s)])).ToArray();
        return KerasEval.EvaluateLayer(n, probe).Match(
            Right: v => o.AllowFallback
                ? Right<Error, Lowered>(new Lowered(
                    Seq1<LegalOp>(new LFallback(n.Id, n.Layer, ins, v.Shape.ToArr(), n, inputShapes, detail)), n.Id, Conversion.Fallback,
                    "fallback: " + detail))
                : Left<Error, Lowered>(Error.New(reason.Code, $"{detail}. Unable to convert layer '{Names.Printable(n.Id)}' to native objects; drop --no-fallback (allow_fallback) " +
                                                              "to evaluate it in a fallback node instead, or register a custom converter for this layer type.")),
            Left: _ => Left<Error, Lowered>(reason));
    }

    /// <summary>
    /// Folds an affine (BatchNormalization) on the channel axis into the Dense or Conv that feeds it,
    /// when that op feeds nothing else and is not a model output.
    /// </summary>
    internal static LegalGraph FoldAffines(LegalGraph g)
    {
        // One pass in order: an affine folds into the op that defines its input (which may itself hold earlier folds).
        var ops = g.Ops.Map(o => (LegalOp?)o).ToArray();
        var layers = g.Layers.ToArray();
        var slotOf = new Dictionary<string, int>();
        var consumers = new Dictionary<string, int>();
        for (var k = 0; k < ops.Length; k++)
        {
            slotOf.TryAdd(ops[k]!.Id, k);
            foreach (var input in ops[k]!.Inputs.Distinct()) consumers[input] = consumers.GetValueOrDefault(input) + 1;
        }
        var layerOf = new Dictionary<string, int>();
        for (var k = 0; k < layers.Length; k++) layerOf.TryAdd(layers[k].Layer, k);
        for (var i = 0; i < ops.Length; i++)
        {
            if (ops[i] is not LAffine a || !slotOf.TryGetValue(a.Inputs.Head, out var pIndex) || ops[pIndex] is not { } p) continue;
            if (consumers.GetValueOrDefault(p.Id) != 1 || g.Outputs.Contains(p.Id)) continue;
            LegalOp? folded = p switch
            {
                LDense d when a.Axis == d.Shape.Count - 1 =>
                    d with { Id = a.Id, Kernel = ScaleColumns(d.Kernel, a.Scale), Bias = Some(FoldBias(d.Bias, a.Scale, a.Shift)), Folded = d.Folded.Add(Fold(a)) },
                LConv cv when a.Axis == (cv.Spec.ChannelsLast ? cv.Shape.Count - 1 : 0) =>
                    cv with { Id = a.Id, Kernel = ScaleColumns(cv.Kernel, a.Scale), Bias = Some(FoldBias(cv.Bias, a.Scale, a.Shift)), Folded = cv.Folded.Add(Fold(a)) },
                _ => null,
            };
            if (folded is null) continue;
            ops[pIndex] = folded;
            ops[i] = null;
            slotOf[a.Id] = pIndex;
            // The affine's value id is its layer call's id (BatchNormalization, Rescaling, Normalization).
            if (layerOf.TryGetValue(a.Id, out var folds))
                layers[folds] = layers[folds] with { Conversion = Conversion.Folded, Note = $"folded into {p.Layer}" };
        }
        return g with { Ops = ops.Where(o => o is not null).Select(o => o!).ToSeq().Strict(), Layers = layers.ToSeq().Strict() };
    }

    static FoldedAffine Fold(LAffine a) => new(a.Id, a.Layer, a.Scale, a.Shift);

    /// <summary>Multiplies the last axis (output channels) of a kernel by a per-channel scale.</summary>
    static Tensor ScaleColumns(Tensor k, Tensor scale)
    {
        var d = k.ToArray();
        var n = scale.Length;
        for (var i = 0; i < d.Length; i++) d[i] *= scale[i % n];
        return Tensor.Own(k.Shape, d);
    }

    static Tensor FoldBias(Option<Tensor> bias, Tensor scale, Tensor shift)
    {
        var b = new float[scale.Length];
        for (var i = 0; i < b.Length; i++) b[i] = bias.Map(t => t[i]).IfNone(0f) * scale[i] + shift[i];
        return Tensor.Own(new[] { b.Length }, b);
    }

    /// <summary>Softmax is only legal on a model output that feeds nothing else.</summary>
    static Validation<Error, LegalGraph> CheckSoftmax(LegalGraph g)
    {
        var bad = g.Ops.Filter(o => o is LActivation { Act: SoftmaxAct } &&
                                    (!g.Outputs.Contains(o.Id) || g.Ops.Exists(c => c.Inputs.Contains(o.Id))))
            .Map(o => Errors.UnsupportedLayer(o.Layer, "softmax", "softmax is supported only as the final output activation"));
        return bad.IsEmpty ? Success<Error, LegalGraph>(g) : Validation<Error, LegalGraph>.Fail(bad);
    }
}
