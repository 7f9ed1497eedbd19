using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
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

    static readonly System.Collections.Generic.HashSet<string> Identities = new()
    {
        "Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
        "AlphaDropout", "ActivityRegularization",
    };

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
                if (!IsKnownClass(node.ClassName) && options.Converters.Find(node.ClassName).IsNone)
                    errors.Add(Errors.UnsupportedLayer(node.Id, node.ClassName, UnknownReason(node.ClassName)));
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

    sealed record Lowered(Seq<LegalOp> Ops, string Output, Conversion Conversion, string Note = "");

    /// <summary>Largest per-sample tensor we accept anywhere (2^26 floats = 256 MiB).</summary>
    public const long MaxElements = 1L << 26;

    /// <summary>
    /// Temporal models run one time step per simulation step: inputs lose their time axis, TimeDistributed
    /// becomes the layer it wraps, and Reshape targets lose their time dimension.
    /// </summary>
    static KerasNode Unwrap(LegalizeOptions o, KerasNode n)
    {
        if (!o.Temporal) return n;
        // A TimeDistributed without its wrapped layer stays as it is (and is refused as TimeDistributed later).
        if (n.ClassName == "TimeDistributed") return KerasEval.Inner(n).IfNone(n);
        if (n.ClassName == "Reshape" && n.Config.Dims("target_shape").TryGet(out var target) && target.Count > 1)
            return n with { Config = LayerConfig.Parse(System.Text.Json.JsonSerializer.Serialize(new { name = n.Layer, target_shape = target.Skip(1).Map(d => d < 0 ? (int?)null : d) })) };
        return n;
    }

    static Lowered Native(params LegalOp[] ops) => new(ops.ToSeq().Strict(), ops[^1].Id, Conversion.Native);

    static Either<Error, Lowered> Layer(LegalizeOptions o, KerasNode n, Seq<string> ins, Dictionary<string, Arr<int>> shapes, int inputIndex, KerasModel model)
    {
        var inputShapes = ins.Map(i => shapes[i]).ToSeq().Strict();
        if (o.Converters.Find(n.ClassName).TryGet(out var custom))
            return custom.OutputShape(n, inputShapes).Map(shape =>
                new Lowered(Seq1<LegalOp>(new LCustom(n.Id, n.Layer, ins, shape, n, inputShapes, n.ClassName)), n.Id, Conversion.Custom, "custom converter"));
        try
        {
            return LayerOrThrow(o, n, ins, shapes, inputIndex, model);
        }
        catch (LegalizeFailure f) when (f.Error.Code is Errors.UnsupportedLayerCode or Errors.UnsupportedArgCode
                                        && n.ClassName != "TimeDistributed" && KerasSpiking.ClassOf(n.ClassName).IsNone)
        {
            return Fallback(o, n, ins, inputShapes, f.Error);
        }
        catch (LegalizeFailure f)
        {
            return f.Error;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A configuration value of the wrong kind or range (e.g. groups 0, a fractional axis).
            return Errors.UnsupportedLayer(n.Id, n.ClassName, $"invalid configuration ({e.Message})");
        }
    }

    /// <summary>
    /// A layer without a native conversion becomes a function node evaluated by the reference kernel (NengoDL's
    /// TensorNode fallback), when fallback is allowed and the reference evaluator knows the layer.
    /// </summary>
    static Either<Error, Lowered> Fallback(LegalizeOptions o, KerasNode n, Seq<string> ins, Seq<Arr<int>> inputShapes, Error reason)
    {
        var detail = reason.Message;
        if (!o.AllowFallback)
            return Error.New(reason.Code, $"{detail}. Unable to convert layer '{n.Id}' to native objects; drop --no-fallback (allow_fallback) " +
                                          "to evaluate it in a fallback node instead, or register a custom converter for this layer type.");
        var probe = inputShapes.Map(s => new KerasEval.Value(s.ToArray(), new float[Shapes.Product(s)])).ToArray();
        return KerasEval.EvaluateLayer(n, probe).Match(
            Right: v => Right<Error, Lowered>(new Lowered(
                Seq1<LegalOp>(new LFallback(n.Id, n.Layer, ins, v.Shape.ToArr(), n, inputShapes, detail)), n.Id, Conversion.Fallback,
                "fallback: " + detail)),
            Left: _ => Left<Error, Lowered>(reason));
    }

    sealed class LegalizeFailure(Error error) : Exception(error.Message)
    {
        public Error Error { get; } = error;
    }

    static LegalizeFailure Unsupported(KerasNode n, string reason) => new(Errors.UnsupportedLayer(n.Id, n.ClassName, reason));
    static LegalizeFailure Arg(KerasNode n, string arg, string value, string supported) => new(Errors.UnsupportedArg(n.Id, arg, value, supported));
    static LegalizeFailure ShapeError(KerasNode n, string message) => new(Errors.Shape(n.Id, message));

    static Lowered LayerOrThrow(LegalizeOptions options, KerasNode n, Seq<string> ins, Dictionary<string, Arr<int>> shapes, int inputIndex, KerasModel model)
    {
        var c = n.Config;
        string In() => ins.Count == 1 ? ins.Head : throw Unsupported(n, $"expects one input, got {ins.Count}");
        Arr<int> InShape() => shapes[In()];
        var pre = n.Id + ":pre";

        switch (n.ClassName)
        {
            case "InputLayer":
            {
                var full = model.InputShapes[inputIndex];
                var shape = options.Temporal ? full.Skip(1).ToArr() : full;
                if (shape.Fold(1L, (p, d) => Math.Min(p * Math.Max(d, 1), long.MaxValue / 4)) > MaxElements)
                    throw ShapeError(n, $"input shape {Shapes.Show(shape)} has more than {MaxElements} elements per sample");
                if (shape.Exists(d => d < 0))
                    throw ShapeError(n, $"Input shapes must be fully specified; got {Shapes.Show(full.Map(d => d < 0 ? "None" : d.ToString()))}" +
                                        (options.Temporal ? "" : ". If inputs contain None in the first axis to indicate a variable number of timesteps, set temporal_model (--temporal-model)"));
                return Native(new LInput(n.Id, n.Layer, shape, inputIndex));
            }

            case "Dense":
            {
                var x = InShape();
                var k = Weight(n, "kernel");
                if (k.Rank != 2 || x[x.Count - 1] != k.Shape[0])
                    throw ShapeError(n, $"kernel {Shapes.Show(k.Shape)} does not fit input {Shapes.Show(x)}");
                var shape = x.Take(x.Count - 1).Append(k.Shape[1]).ToArr();
                return Activation(n, new LDense(pre, n.Layer, In(), shape, k, Bias(n)));
            }

            case "Conv1D" or "Conv2D" or "Conv3D":
            {
                if (c.String("padding").IfNone("valid") == "causal") throw Arg(n, "padding", "'causal'", "'valid' or 'same'");
                var k = Weight(n, "kernel");
                var spec = Conv(n, InShape(), k.Shape, c.Ints("groups").Map(g => g[0]).IfNone(1));
                return Activation(n, new LConv(pre, n.Layer, In(), spec, k, Bias(n)));
            }

            case "DepthwiseConv1D" or "DepthwiseConv2D":
            {
                var dk = Weight(n, "depthwise_kernel");
                var grouped = Depthwise(dk);
                var spec = Conv(n, InShape(), grouped.Shape, dk.Shape[^2]);
                return Activation(n, new LConv(pre, n.Layer, In(), spec, grouped, Bias(n)));
            }

            case "SeparableConv1D" or "SeparableConv2D":
            {
                var dk = Weight(n, "depthwise_kernel");
                var grouped = Depthwise(dk);
                var depthSpec = Conv(n, InShape(), grouped.Shape, dk.Shape[^2]);
                var depth = new LConv(n.Id + ":depthwise", n.Layer, In(), depthSpec, grouped, None);
                var pk = Weight(n, "pointwise_kernel");
                var rank = pk.Rank - 2;
                var ones = Enumerable.Repeat(1, rank).ToArr();
                var pointSpec = new ConvSpec(depthSpec.OutputShape, pk.Shape[^1], ones, ones, ones, Padding.Valid, depthSpec.ChannelsLast, 1);
                var point = new LConv(pre, n.Layer, depth.Id, pointSpec, pk, Bias(n));
                var act = Activation(n, point);
                return act with { Ops = Seq1<LegalOp>(depth).Concat(act.Ops).ToSeq().Strict() };
            }

            case "AveragePooling1D" or "AveragePooling2D" or "AveragePooling3D" or "AvgPool1D" or "AvgPool2D" or "AvgPool3D":
                return Native(new LPool(n.Id, n.Layer, In(), Pool(n, InShape(), PoolKind.Average)));

            case "MaxPooling1D" or "MaxPooling2D" or "MaxPooling3D" or "MaxPool1D" or "MaxPool2D" or "MaxPool3D":
                return Native(new LPool(n.Id, n.Layer, In(), Pool(n, InShape(), PoolKind.Max)));

            case "GlobalAveragePooling1D" or "GlobalAveragePooling2D" or "GlobalAveragePooling3D" or "GlobalAvgPool1D" or "GlobalAvgPool2D" or "GlobalAvgPool3D"
                or "GlobalMaxPooling1D" or "GlobalMaxPooling2D" or "GlobalMaxPooling3D" or "GlobalMaxPool1D" or "GlobalMaxPool2D" or "GlobalMaxPool3D":
            {
                var x = InShape();
                var last = c.String("data_format").IfNone("channels_last") != "channels_first";
                var spatial = last ? x.Take(x.Count - 1).ToArr() : x.Skip(1).ToArr();
                var kind = n.ClassName.Contains("Max") ? PoolKind.Max : PoolKind.Average;
                var pool = new LPool(pre, n.Layer, In(), new PoolSpec(kind, x, spatial, spatial.Map(_ => 1), Padding.Valid, last));
                if (c.Bool("keepdims").IfNone(false)) return Native(pool with { Id = n.Id });
                return new Lowered(Seq<LegalOp>(pool, new LReshape(n.Id, n.Layer, pool.Id, Arr.create(pool.Spec.Channels))), n.Id, Conversion.Native);
            }

            case "Flatten":
            {
                var x = InShape();
                var flat = Arr.create(Shapes.Product(x));
                if (c.String("data_format").IfNone("channels_last") == "channels_first" && x.Count > 1)
                {
                    var perm = RefKernels.FirstToLast(x.Count);
                    var t = Transpose(pre, n, In(), x, perm);
                    return new Lowered(Seq<LegalOp>(t, new LReshape(n.Id, n.Layer, t.Id, flat)), n.Id, Conversion.Native, "channels_first: transposed to channels_last");
                }
                return Native(new LReshape(n.Id, n.Layer, In(), flat));
            }

            case "Reshape":
            {
                var x = InShape();
                var target = c.Dims("target_shape").IfNone(() => throw Unsupported(n, "missing target_shape"));
                return Native(new LReshape(n.Id, n.Layer, In(), ResolveReshape(n, target, Shapes.Product(x))));
            }

            case "Permute":
            {
                var dims = c.Ints("dims").IfNone(() => throw Unsupported(n, "missing dims")).Map(d => d - 1).ToArray();
                return Native(Transpose(n.Id, n, In(), InShape(), dims));
            }

            case "Activation":
            {
                var name = c.Activation().IfNone("linear");
                if (name == "linear") return new Lowered(Seq<LegalOp>(), In(), Conversion.Removed, "linear activation is the identity");
                return Native(new LActivation(n.Id, n.Layer, In(), InShape(), ActOf(n, name)));
            }

            case "ReLU":
            {
                var slope = (float)c.Number("negative_slope").IfNone(0);
                var threshold = (float)c.Number("threshold").IfNone(0);
                var max = (float)c.Number("max_value").IfNone(double.PositiveInfinity);
                return Native(new LActivation(n.Id, n.Layer, In(), InShape(), new Relu(slope, threshold, max)));
            }

            case "PReLU":
            {
                var x = InShape();
                var alpha = Weight(n, "alpha");
                var full = new float[Shapes.Product(x)];
                var ap = alpha.Shape.ToArray();
                if (ap.Length != x.Count) throw ShapeError(n, $"alpha {Shapes.Show(alpha.Shape)} does not fit input {Shapes.Show(x)}");
                var coord = new int[x.Count];
                var aStrides = Shapes.Strides(ap);
                for (var i = 0; i < full.Length; i++)
                {
                    RefKernels.Unravel(i, x.ToArray(), coord);
                    var k = 0;
                    for (var d = 0; d < coord.Length; d++) k += (ap[d] == 1 ? 0 : coord[d]) * aStrides[d];
                    full[i] = alpha[k];
                }
                return Native(new LActivation(n.Id, n.Layer, In(), x, new PRelu(Tensor.Own(new[] { full.Length }, full))));
            }

            case "Softmax":
            {
                var axis = c.Int("axis", -1);
                var x = InShape();
                if (axis != -1 && axis != x.Count) throw Arg(n, "axis", axis.ToString(), "-1 (the last axis)");
                return Native(new LActivation(n.Id, n.Layer, In(), x, new SoftmaxAct()));
            }

            case "ZeroPadding1D" or "ZeroPadding2D" or "ZeroPadding3D" or "Cropping1D" or "Cropping2D" or "Cropping3D":
                return Native(PadOrCrop(n, In(), InShape(), crop: n.ClassName.StartsWith("Cropping", StringComparison.Ordinal)));

            case "UpSampling1D" or "UpSampling2D" or "UpSampling3D":
                return Native(UpSample(n, In(), InShape()));

            case "Rescaling":
            {
                var x = InShape();
                var scale = (float)c.Number("scale").IfNone(1.0);
                var offset = (float)c.Number("offset").IfNone(0.0);
                if (c.Get("scale").Exists(v => v.ValueKind != System.Text.Json.JsonValueKind.Number) || c.Get("offset").Exists(v => v.ValueKind != System.Text.Json.JsonValueKind.Number))
                    throw Arg(n, "scale/offset", "a per-channel list", "a number");
                var last = x[x.Count - 1];
                return Native(new LAffine(n.Id, n.Layer, In(), x, x.Count - 1, Tensor.Filled(new[] { last }, scale), Tensor.Filled(new[] { last }, offset)));
            }

            case "Normalization":
            {
                var x = InShape();
                if (c.Bool("invert").IfNone(false)) throw Arg(n, "invert", "True", "False");
                var mean = Weight(n, "mean");
                var variance = Weight(n, "variance");
                var last = x[x.Count - 1];
                if (mean.Length != 1 && mean.Length != last) throw Arg(n, "axis", "not the last axis", "-1");
                var scale = new float[last];
                var shift = new float[last];
                for (var i = 0; i < last; i++)
                {
                    var k = mean.Length == 1 ? 0 : i;
                    scale[i] = 1f / MathF.Max(MathF.Sqrt(variance[k]), 1e-7f);
                    shift[i] = -mean[k] * scale[i];
                }
                return Native(new LAffine(n.Id, n.Layer, In(), x, x.Count - 1, Tensor.Own(new[] { last }, scale), Tensor.Own(new[] { last }, shift)));
            }

            case "Conv1DTranspose" or "Conv2DTranspose" or "Conv3DTranspose":
                return ConvTranspose(n, In(), InShape());

            case "LeakyReLU":
            {
                var slope = (float)(c.Number("negative_slope") || c.Number("alpha")).IfNone(0.3);
                return Native(new LActivation(n.Id, n.Layer, In(), InShape(), new Relu(slope)));
            }

            case "Add" or "Average" or "Subtract":
            {
                if (ins.Count < 2 || (n.ClassName == "Subtract" && ins.Count != 2)) throw Unsupported(n, $"wrong number of inputs ({ins.Count})");
                var shape = shapes[ins.Head];
                if (!ins.ForAll(i => shapes[i] == shape))
                    throw ShapeError(n, $"inputs {string.Join(", ", ins.Map(i => Shapes.Show(shapes[i])))} differ");
                var weights = n.ClassName switch
                {
                    "Average" => ins.Map(_ => 1f / ins.Count).ToArr(),
                    "Subtract" => Arr.create(1f, -1f),
                    _ => ins.Map(_ => 1f).ToArr(),
                };
                return Native(new LSum(n.Id, n.Layer, ins, shape, weights));
            }

            case "Concatenate":
            {
                var first = shapes[ins.Head];
                var axisRaw = c.Int("axis", -1);
                if (axisRaw == 0) throw Unsupported(n, "Cannot concatenate along batch dimension (axis 0)");
                var axis = axisRaw < 0 ? axisRaw + first.Count : axisRaw - 1;
                if (axis < 0 || axis >= first.Count) throw Arg(n, "axis", axisRaw.ToString(), $"an axis in 1..{first.Count}");
                if (!ins.ForAll(i => shapes[i].Count == first.Count && Enumerable.Range(0, first.Count).All(d => d == axis || shapes[i][d] == first[d])))
                    throw ShapeError(n, $"inputs {string.Join(", ", ins.Map(i => Shapes.Show(shapes[i])))} cannot be concatenated on axis {axisRaw}");
                var shape = first.SetItem(axis, ins.Sum(i => shapes[i][axis]));
                return Native(new LConcat(n.Id, n.Layer, ins, shape, axis));
            }

            case "BatchNormalization":
            {
                var x = InShape();
                var axes = c.Ints("axis").IfNone(Arr.create(-1));
                if (axes.Count != 1) throw Arg(n, "axis", Shapes.Show(axes), "a single axis");
                var axis = Shapes.Axis(axes[0], x.Count + 1) - 1;
                if (axis < 0 || axis >= x.Count) throw Arg(n, "axis", axes[0].ToString(), "a non-batch axis");
                var (scale, shift) = BatchNormAffineOrThrow(n);
                if (scale.Length != x[axis]) throw ShapeError(n, $"{scale.Length} parameters for axis {axes[0]} of size {x[axis]}");
                return Native(new LAffine(n.Id, n.Layer, In(), x, axis, Tensor.Own(new[] { scale.Length }, scale), Tensor.Own(new[] { shift.Length }, shift)));
            }
        }

        if (Identities.Contains(n.ClassName))
            return new Lowered(Seq<LegalOp>(), In(), Conversion.Removed, "identity at inference");

        if (n.ClassName == "TimeDistributed")
            throw new LegalizeFailure(Errors.UnsupportedLayer(n.Id, n.ClassName, "TimeDistributed layers can only be converted when temporal_model=True (--temporal-model)"));

        if (KerasSpiking.ClassOf(n.ClassName).TryGet(out var spiking))
            return Native(OverTime(options, n, In(), InShape(), spiking));

        throw Unsupported(n, UnknownReason(n.ClassName));
    }

    /// <summary>
    /// keras_spiking layers (nengo-semantics.md §1.5): SpikingActivation becomes a regular-spiking activation with the
    /// layer's own starting voltages, Lowpass and Alpha a filter applied in the same step. Only the time axis of a
    /// temporal model gives them their meaning, and a per-step fallback would not, so they never fall back.
    /// </summary>
    static LegalOp OverTime(LegalizeOptions options, KerasNode n, string input, Arr<int> shape, string layer)
    {
        if (!options.Temporal)
            throw Unsupported(n, $"{layer} layers run along the time axis and can only be converted when temporal_model=True (--temporal-model)");
        if (KerasSpiking.UnsupportedOption(n).TryGet(out var bad)) throw Arg(n, bad.Arg, bad.Value, bad.Supported);
        var size = Shapes.Product(shape);
        var dt = KerasSpiking.Dt(n);
        if (!(dt > 0)) throw Arg(n, "dt", dt.ToString(System.Globalization.CultureInfo.InvariantCulture), "a positive time step");
        if (layer == KerasSpiking.SpikingActivation)
        {
            var name = n.Config.Activation().IfNone("linear");
            Act act = name switch
            {
                "relu" => new Relu(),
                "sigmoid" => new SigmoidAct(),
                "tanh" => new TanhAct(),
                _ => throw Unsupported(n, $"SpikingActivation activation type ({name}) does not have a native equivalent (relu, sigmoid and tanh do)"),
            };
            return new LActivation(n.Id, n.Layer, input, shape, act)
            {
                Spiking = Some(new SpikingState(Tensor.Own(new[] { size }, KerasSpiking.InitialVoltage(n, size)), dt)),
            };
        }
        var tau = KerasSpiking.Tau(n);
        if (tau.Length == 0) throw Unsupported(n, "missing the time constant tau");
        if (tau.Length != 1 && tau.Length != size) throw ShapeError(n, $"{tau.Length} time constants do not fit {size} elements");
        if (tau.Any(t => !(t > 0) || float.IsInfinity(t))) throw Unsupported(n, "time constants must be positive and finite");
        var level = KerasSpiking.InitialLevel(n, size);
        if (level.Length != size) throw ShapeError(n, $"initial_level has {level.Length} values for {size} elements");
        return new LFilter(n.Id, n.Layer, input, shape, layer == KerasSpiking.Lowpass ? FilterKind.Lowpass : FilterKind.Alpha,
            Tensor.Own(new[] { tau.Length }, tau), Tensor.Own(new[] { size }, level), dt);
    }

    static readonly System.Collections.Generic.HashSet<string> KnownClasses = new()
    {
        "InputLayer", "Dense", "Conv1D", "Conv2D", "Conv3D", "DepthwiseConv1D", "DepthwiseConv2D", "SeparableConv1D", "SeparableConv2D",
        "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D",
        "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
        "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D",
        "Flatten", "Reshape", "Permute", "Activation", "ReLU", "LeakyReLU", "Add", "Average", "Subtract", "Concatenate", "BatchNormalization",
        "PReLU", "Softmax", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D", "Cropping1D", "Cropping2D", "Cropping3D",
        "UpSampling1D", "UpSampling2D", "UpSampling3D", "Rescaling", "Normalization", "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose",
    };

    static bool IsKnownClass(string className) => KnownClasses.Contains(className) || Identities.Contains(className) || KerasSpiking.ClassOf(className).IsSome;

    static string UnknownReason(string className) => className switch
    {
        "Lambda" => "Lambda layers hold Python code, which is never executed; rebuild the model without it or register a converter",
        "TFSMLayer" => "TFSMLayer wraps a TensorFlow SavedModel, which cannot be converted; save the original Keras model instead",
        _ when className.Contains('>') => $"custom class '{className}' has no registered converter",
        _ => $"Layer type {className} does not have a registered converter",
    };

    /// <summary>A gather whose index for each output element comes from <paramref name="source"/> (null → zero).</summary>
    static LGather IndexMap(string id, KerasNode n, string input, Arr<int> inShape, int[] outShape, Func<int[], int[]?> source, string kind)
    {
        var inStrides = Shapes.Strides(inShape.ToArray());
        var index = new int[Shapes.Product(outShape)];
        var coord = new int[outShape.Length];
        for (var o = 0; o < index.Length; o++)
        {
            RefKernels.Unravel(o, outShape, coord);
            var src = source(coord);
            index[o] = src is null ? -1 : src.Select((c, d) => c * inStrides[d]).Sum();
        }
        return new LGather(id, n.Layer, input, outShape.ToArr(), index.ToArr(), kind);
    }

    static bool ChannelsLastLayout(KerasNode n) =>
        n.ClassName.EndsWith("1D", StringComparison.Ordinal) || n.Config.String("data_format").IfNone("channels_last") != "channels_first";

    static LGather PadOrCrop(KerasNode n, string input, Arr<int> x, bool crop)
    {
        var rank = x.Count - 1;
        var key = crop ? "cropping" : "padding";
        var pairs = n.Config.Pairs(key, rank).IfNone(() => throw Unsupported(n, $"cannot read {key}"));
        var offset = ChannelsLastLayout(n) ? 0 : 1;
        var outShape = x.ToArray();
        for (var d = 0; d < rank; d++)
            outShape[d + offset] += crop ? -(pairs[d].Before + pairs[d].After) : pairs[d].Before + pairs[d].After;
        if (outShape.Any(d => d <= 0)) throw ShapeError(n, $"cropping {Shapes.Show(x)} leaves nothing");
        return IndexMap(n.Id, n, input, x, outShape, coord =>
        {
            var src = (int[])coord.Clone();
            for (var d = 0; d < rank; d++)
            {
                src[d + offset] += crop ? pairs[d].Before : -pairs[d].Before;
                if (src[d + offset] < 0 || src[d + offset] >= x[d + offset]) return null;
            }
            return src;
        }, crop ? "crop" : "zero-pad");
    }

    static LGather UpSample(KerasNode n, string input, Arr<int> x)
    {
        if (n.Config.String("interpolation").IfNone("nearest") != "nearest") throw Arg(n, "interpolation", n.Config.String("interpolation").IfNone(""), "'nearest'");
        var rank = x.Count - 1;
        var raw = n.Config.Ints("size").IfNone(Arr.create(2));
        var size = raw.Count == rank ? raw.ToArray() : Enumerable.Repeat(raw[0], rank).ToArray();
        var offset = ChannelsLastLayout(n) ? 0 : 1;
        var outShape = x.ToArray();
        for (var d = 0; d < rank; d++) outShape[d + offset] *= size[d];
        return IndexMap(n.Id, n, input, x, outShape, coord =>
        {
            var src = (int[])coord.Clone();
            for (var d = 0; d < rank; d++) src[d + offset] /= size[d];
            return src;
        }, "upsample");
    }

    /// <summary>
    /// A transposed convolution as native ops: a gather that spreads the input by the strides and pads it,
    /// then a stride-1 valid convolution with the kernel flipped and its channel axes swapped.
    /// </summary>
    static Lowered ConvTranspose(KerasNode n, string input, Arr<int> x)
    {
        var c = n.Config;
        var k = Weight(n, "kernel");                 // [k..., out, in]
        var rank = k.Rank - 2;
        if (x.Count != rank + 1) throw ShapeError(n, $"a {rank}-d transposed convolution got input {Shapes.Show(x)}");
        if (c.Get("output_padding").IsSome) throw Arg(n, "output_padding", c.Get("output_padding").Map(v => v.GetRawText()).IfNone(""), "None");
        var dil = c.Ints("dilation_rate").IfNone(Arr.create(1));
        if (dil.Exists(d => d != 1)) throw Arg(n, "dilation_rate", Shapes.Show(dil), "1");
        var last = ChannelsLastLayout(n);
        var strides = c.Ints("strides").Map(s => s.Count == rank ? s : Enumerable.Repeat(s[0], rank).ToArr()).IfNone(Enumerable.Repeat(1, rank).ToArr());
        var same = c.String("padding").IfNone("valid") == "same";
        var kernel = k.Shape.Take(rank).ToArray();
        var outCh = k.Shape[rank];
        var inCh = k.Shape[rank + 1];
        var inSp = last ? x.Take(rank).ToArray() : x.Skip(1).ToArray();
        if ((last ? x[rank] : x[0]) != inCh) throw ShapeError(n, $"kernel {Shapes.Show(k.Shape)} expects {inCh} input channels, input is {Shapes.Show(x)}");
        var outSp = new int[rank];
        var padBefore = new int[rank];
        var spread = new int[rank];
        for (var d = 0; d < rank; d++)
        {
            outSp[d] = same ? inSp[d] * strides[d] : (inSp[d] - 1) * strides[d] + kernel[d];
            var forwardPad = same ? Math.Max(kernel[d] - strides[d], 0) / 2 : 0;
            padBefore[d] = kernel[d] - 1 - forwardPad;
            spread[d] = outSp[d] + kernel[d] - 1;      // length of the padded, spread input
        }
        var spreadShape = last ? spread.Append(inCh).ToArray() : new[] { inCh }.Concat(spread).ToArray();
        var offset = last ? 0 : 1;
        var gather = IndexMap(n.Id + ":spread", n, input, x, spreadShape, coord =>
        {
            var src = (int[])coord.Clone();
            for (var d = 0; d < rank; d++)
            {
                var p = coord[d + offset] - padBefore[d];
                if (p < 0 || p % strides[d] != 0 || p / strides[d] >= inSp[d]) return null;
                src[d + offset] = p / strides[d];
            }
            return src;
        }, "transposed-conv spread");
        // Flip spatially and swap the channel axes: w'[k..., in, out] = w[flip(k)..., out, in].
        var flipped = new float[k.Length];
        var kStrides = Shapes.Strides(k.Shape.ToArray());
        var kCount = Shapes.Product(kernel);
        var kc = new int[rank];
        for (var t = 0; t < kCount; t++)
        {
            RefKernels.Unravel(t, kernel, kc);
            var src = 0;
            for (var d = 0; d < rank; d++) src += (kernel[d] - 1 - kc[d]) * kStrides[d];
            for (var i = 0; i < inCh; i++)
                for (var o = 0; o < outCh; o++)
                    flipped[(t * inCh + i) * outCh + o] = k[src + o * inCh + i];
        }
        var ones = Enumerable.Repeat(1, rank).ToArr();
        var spec = new ConvSpec(spreadShape.ToArr(), outCh, kernel.ToArr(), ones, ones, Padding.Valid, last, 1);
        var conv = new LConv(n.Id + ":pre", n.Layer, gather.Id, spec, Tensor.Own(kernel.Append(inCh).Append(outCh).ToArray(), flipped), Bias(n));
        var act = Activation(n, conv);
        return act with { Ops = Seq1<LegalOp>(gather).Concat(act.Ops).ToSeq().Strict() };
    }

    static Tensor Weight(KerasNode n, string name) =>
        n.Weight(name).IfNone(() => throw new LegalizeFailure(Errors.UnsupportedLayer(n.Id, n.ClassName, $"missing weight '{name}'")));

    static Option<Tensor> Bias(KerasNode n) =>
        n.Config.Bool("use_bias").IfNone(true) ? n.Weight("bias") : None;

    static (float[], float[]) BatchNormAffineOrThrow(KerasNode n)
    {
        foreach (var w in new[] { "moving_mean", "moving_variance" }) Weight(n, w);
        if (n.Config.Bool("scale").IfNone(true)) Weight(n, "gamma");
        if (n.Config.Bool("center").IfNone(true)) Weight(n, "beta");
        return KerasEval.BatchNormAffine(n);
    }

    /// <summary>A depthwise kernel [k..., C, M] as a grouped-convolution kernel [k..., 1, C*M] (same memory order).</summary>
    static Tensor Depthwise(Tensor dk) =>
        dk.Reshape(dk.Shape.Take(dk.Rank - 2).Append(1).Append(dk.Shape[^2] * dk.Shape[^1]).ToArr());

    static ConvSpec Conv(KerasNode n, Arr<int> input, Arr<int> kernelShape, int groups)
    {
        if (input.Count != kernelShape.Count - 1)
            throw ShapeError(n, $"a {kernelShape.Count - 2}-d convolution got input {Shapes.Show(input)}");
        try { return KerasEval.ConvSpecOf(n, input, kernelShape, groups); }
        catch (Exception e) when (e is not LegalizeFailure) { throw ShapeError(n, e.Message); }
    }

    static PoolSpec Pool(KerasNode n, Arr<int> input, PoolKind kind)
    {
        try { return KerasEval.PoolSpecOf(n, input, kind); }
        catch (Exception e) when (e is not LegalizeFailure) { throw ShapeError(n, e.Message); }
    }

    static Act ActOf(KerasNode n, string name) => name switch
    {
        "relu" => new Relu(),
        "sigmoid" => new SigmoidAct(),
        "tanh" => new TanhAct(),
        "softmax" => new SoftmaxAct(),
        _ => throw Unsupported(n, $"Unsupported activation type ({name})"),
    };

    /// <summary>The op's fused activation split out; the final value takes the node's id.</summary>
    static Lowered Activation(KerasNode n, LegalOp linear)
    {
        var name = n.Config.Activation().IfNone("linear");
        return name == "linear"
            ? new Lowered(Seq1<LegalOp>(RenameOp(linear, n.Id)), n.Id, Conversion.Native)
            : new Lowered(Seq1<LegalOp>(linear).Add(new LActivation(n.Id, n.Layer, linear.Id, linear.Shape, ActOf(n, name))), n.Id, Conversion.Native);
    }

    static LegalOp RenameOp(LegalOp op, string id) => op with { Id = id };

    static LGather Transpose(string id, KerasNode n, string input, Arr<int> shape, int[] perm)
    {
        var index = Shapes.TransposeIndex(shape.ToArray(), perm);
        return new LGather(id, n.Layer, input, perm.Select(p => shape[p]).ToArr(), index.ToArr(), "transpose(" + string.Join(",", perm) + ")");
    }

    static Arr<int> ResolveReshape(KerasNode n, Arr<int> target, int size) =>
        Shapes.ResolveReshape(target, size).Map(r => r.ToArr())
            .IfNone(() => throw ShapeError(n, $"cannot reshape {size} values to {Shapes.Show(target)}"));

    /// <summary>
    /// Folds an affine (BatchNormalization) on the channel axis into the Dense or Conv that feeds it,
    /// when that op feeds nothing else and is not a model output.
    /// </summary>
    internal static LegalGraph FoldAffines(LegalGraph g)
    {
        var ops = g.Ops.ToList();
        var layers = g.Layers.ToList();
        var changed = true;
        while (changed)
        {
            changed = false;
            for (var i = 0; i < ops.Count; i++)
            {
                if (ops[i] is not LAffine a) continue;
                var pIndex = ops.FindIndex(o => o.Id == a.Inputs.Head);
                var p = ops[pIndex];
                var consumers = ops.Count(o => o.Inputs.Contains(p.Id));
                if (consumers != 1 || g.Outputs.Contains(p.Id)) continue;
                LegalOp? folded = p switch
                {
                    LDense d when a.Axis == d.Shape.Count - 1 =>
                        d with { Id = a.Id, Kernel = ScaleColumns(d.Kernel, a.Scale), Bias = Some(FoldBias(d.Bias, a.Scale, a.Shift)) },
                    LConv cv when a.Axis == (cv.Spec.ChannelsLast ? cv.Shape.Count - 1 : 0) =>
                        cv with { Id = a.Id, Kernel = ScaleColumns(cv.Kernel, a.Scale), Bias = Some(FoldBias(cv.Bias, a.Scale, a.Shift)) },
                    _ => null,
                };
                if (folded is null) continue;
                ops[pIndex] = folded;
                ops.RemoveAt(i);
                // The affine's value id is its layer call's id (BatchNormalization, Rescaling, Normalization).
                var folds = layers.FindIndex(l => l.Layer == a.Id);
                if (folds >= 0) layers[folds] = layers[folds] with { Conversion = Conversion.Folded, Note = $"folded into {p.Layer}" };
                changed = true;
                break;
            }
        }
        return g with { Ops = ops.ToSeq().Strict(), Layers = layers.ToSeq().Strict() };
    }

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
