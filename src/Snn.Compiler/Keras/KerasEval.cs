using System.Numerics.Tensors;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// The reference evaluator: a Keras-semantics forward pass over the imported graph, independent of
/// legalize, convert, lower and interpret. It is the meaning of stage 1 and what <c>verify</c> and
/// <c>--mode keras</c> use. It evaluates one sample at a time (samples in parallel) in float32.
/// </summary>
public static class KerasEval
{
    /// <summary>One sample's value: shape without batch, and data.</summary>
    public readonly record struct Value(int[] Shape, float[] Data)
    {
        public int Rank => Shape.Length;
    }

    sealed class EvalFailure(Error error) : Exception(error.Message)
    {
        public Error Error { get; } = error;
    }

    /// <summary>Runs the model on a batch. Each input tensor has shape (batch, ...input shape).</summary>
    public static Either<Error, Seq<Tensor>> Run(KerasModel model, Seq<Tensor> inputs)
    {
        if (inputs.Count != model.Inputs.Count)
            return Errors.Shape("model inputs", $"the model has {model.Inputs.Count} inputs but {inputs.Count} were given");
        var batch = inputs.Head.Shape[0];
        for (var i = 0; i < inputs.Count; i++)
        {
            var expected = model.InputShapes[i];
            var got = inputs[i].Shape.Skip(1).ToArr();
            if (inputs[i].Shape[0] != batch || !ShapeMatches(expected, got))
                return Errors.Shape($"input {i}", $"expected (batch, {string.Join(", ", expected.Map(d => d < 0 ? "None" : d.ToString()))}), got {Shapes.Show(inputs[i].Shape)}");
        }
        // Check every layer on the first sample before fanning out, so errors surface once.
        var first = Try(() => RunSample(model, inputs, 0));
        if (first.IsLeft) return first.Match(_ => default!, e => Left<Error, Seq<Tensor>>(e));
        var firstOut = first.Match(v => v, _ => default!);
        var results = new Value[batch][];
        results[0] = firstOut;
        Error? failure = null;
        Parallel.For(1, batch, b =>
        {
            try { results[b] = RunSample(model, inputs, b); }
            catch (EvalFailure f) { failure = f.Error; }
            catch (Exception e) when (e is not OutOfMemoryException) { failure = Errors.Graph($"the model cannot be evaluated ({e.Message})"); }
        });
        if (failure is { } err) return err;
        return Enumerable.Range(0, model.Outputs.Count).Select(o =>
        {
            var shape = firstOut[o].Shape;
            var size = firstOut[o].Data.Length;
            var data = new float[batch * size];
            for (var b = 0; b < batch; b++) results[b][o].Data.CopyTo(data, b * size);
            return Tensor.Own(new[] { batch }.Concat(shape).ToArray(), data);
        }).ToSeq().Strict();
    }

    static bool ShapeMatches(Arr<int> expected, Arr<int> got) =>
        expected.Count == got.Count && expected.Zip(got).ForAll(p => p.Item1 < 0 || p.Item1 == p.Item2);

    static Either<Error, A> Try<A>(Func<A> f)
    {
        try { return f(); }
        catch (EvalFailure e) { return e.Error; }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Errors.Graph($"the model cannot be evaluated ({e.GetType().Name}: {e.Message})");
        }
    }

    static Value[] RunSample(KerasModel model, Seq<Tensor> inputs, int b)
    {
        var values = new Dictionary<KerasValue, Value>();
        for (var i = 0; i < model.Inputs.Count; i++)
        {
            var t = inputs[i];
            var size = t.Length / t.Shape[0];
            values[model.Inputs[i]] = new Value(t.Shape.Skip(1).ToArray(), t.Span.Slice(b * size, size).ToArray());
        }
        foreach (var node in model.Nodes)
        {
            if (node.ClassName == "InputLayer") continue;
            var ins = node.Inputs.Map(v => values.TryGetValue(v, out var x) ? x
                : throw new EvalFailure(Errors.Graph($"layer '{node.Id}' reads '{v}', which is not computed before it"))).ToArray();
            values[new KerasValue(node.Id)] = Layer(node, ins);
        }
        return model.Outputs.Map(o => values[o]).ToArray();
    }

    static EvalFailure Unsupported(KerasNode n, string reason) => new(Errors.UnsupportedLayer(n.Id, n.ClassName, reason));

    static Tensor W(KerasNode n, string name) =>
        n.Weight(name).IfNone(() => throw Unsupported(n, $"missing weight '{name}'"));

    static Value Single(KerasNode n, Value[] ins) =>
        ins.Length == 1 ? ins[0] : throw Unsupported(n, $"expects one input, got {ins.Length}");

    static bool ChannelsFirst(KerasNode n) => n.Config.String("data_format").IfNone("channels_last") == "channels_first";

    /// <summary>Evaluates one layer call on one sample, or reports why it cannot.</summary>
    public static Either<Error, Value> EvaluateLayer(KerasNode n, Value[] ins) => Try(() => Layer(n, ins));

    /// <summary>Evaluates one layer call on one sample.</summary>
    static Value Layer(KerasNode n, Value[] ins)
    {
        var c = n.Config;
        switch (n.ClassName)
        {
            case "Dense":
            {
                var x = Single(n, ins);
                var k = W(n, "kernel");
                var inSize = k.Shape[0];
                var outSize = k.Shape[1];
                if (x.Shape[^1] != inSize) throw Shape(n, $"kernel expects last dimension {inSize}, input is {Shapes.Show(x.Shape)}");
                var y = new float[x.Data.Length / inSize * outSize];
                RefKernels.Dense(x.Data, k.Span, Bias(n), inSize, outSize, y);
                return Activate(n, new Value(x.Shape[..^1].Append(outSize).ToArray(), y));
            }
            case "Conv1D" or "Conv2D" or "Conv3D":
            {
                var x = Single(n, ins);
                if (c.String("padding").IfNone("valid") == "causal") throw Unsupported(n, "padding='causal' is not supported");
                var k = W(n, "kernel");
                return Activate(n, Conv(n, x, k, Bias(n), c.Int("groups", 1)));
            }
            case "DepthwiseConv1D" or "DepthwiseConv2D":
            {
                var x = Single(n, ins);
                var k = W(n, "depthwise_kernel");
                var cin = k.Shape[^2];
                var mult = k.Shape[^1];
                var grouped = k.Reshape(k.Shape.Take(k.Rank - 2).Append(1).Append(cin * mult).ToArr());
                return Activate(n, Conv(n, x, grouped, Bias(n), cin));
            }
            case "SeparableConv1D" or "SeparableConv2D":
            {
                var x = Single(n, ins);
                var dk = W(n, "depthwise_kernel");
                var cin = dk.Shape[^2];
                var mult = dk.Shape[^1];
                var grouped = dk.Reshape(dk.Shape.Take(dk.Rank - 2).Append(1).Append(cin * mult).ToArr());
                var mid = Conv(n, x, grouped, ReadOnlySpan<float>.Empty, cin);
                var pk = W(n, "pointwise_kernel");
                var spatial = pk.Rank - 2;
                var pointwise = new ConvSpec(mid.Shape.ToArr(), pk.Shape[^1], Enumerable.Repeat(1, spatial).ToArr(),
                    Enumerable.Repeat(1, spatial).ToArr(), Enumerable.Repeat(1, spatial).ToArr(), Padding.Valid, !ChannelsFirst(n), 1);
                var y = new float[Shapes.Product(pointwise.OutputShape)];
                RefKernels.Conv(pointwise, pk.Span, Bias(n), mid.Data, y);
                return Activate(n, new Value(pointwise.OutputShape.ToArray(), y));
            }
            case "AveragePooling1D" or "AveragePooling2D" or "AveragePooling3D" or "AvgPool1D" or "AvgPool2D" or "AvgPool3D":
                return Pool(n, Single(n, ins), PoolKind.Average);
            case "MaxPooling1D" or "MaxPooling2D" or "MaxPooling3D" or "MaxPool1D" or "MaxPool2D" or "MaxPool3D":
                return Pool(n, Single(n, ins), PoolKind.Max);
            case "GlobalAveragePooling1D" or "GlobalAveragePooling2D" or "GlobalAveragePooling3D" or "GlobalAvgPool1D" or "GlobalAvgPool2D" or "GlobalAvgPool3D":
                return GlobalPool(n, Single(n, ins), PoolKind.Average);
            case "GlobalMaxPooling1D" or "GlobalMaxPooling2D" or "GlobalMaxPooling3D" or "GlobalMaxPool1D" or "GlobalMaxPool2D" or "GlobalMaxPool3D":
                return GlobalPool(n, Single(n, ins), PoolKind.Max);
            case "Flatten":
            {
                var x = Single(n, ins);
                var data = ChannelsFirst(n) && x.Rank > 1 ? RefKernels.Transpose(x.Data, x.Shape, RefKernels.FirstToLast(x.Rank)) : x.Data;
                return new Value(new[] { data.Length }, data);
            }
            case "Reshape":
            {
                var x = Single(n, ins);
                var target = c.Dims("target_shape").IfNone(() => throw Unsupported(n, "missing target_shape")).ToArray();
                return new Value(ResolveReshape(n, target, x.Data.Length), x.Data);
            }
            case "Permute":
            {
                var x = Single(n, ins);
                var dims = c.Ints("dims").IfNone(() => throw Unsupported(n, "missing dims")).Map(d => d - 1).ToArray();
                var y = RefKernels.Transpose(x.Data, x.Shape, dims);
                return new Value(dims.Select(d => x.Shape[d]).ToArray(), y);
            }
            case "Activation":
                return Activate(n, Single(n, ins));
            case "ReLU":
            {
                var x = Single(n, ins);
                var maxValue = (float)c.Number("max_value").IfNone(double.PositiveInfinity);
                var slope = (float)c.Number("negative_slope").IfNone(0);
                var threshold = (float)c.Number("threshold").IfNone(0);
                return Map(x, v => Activations.Relu(v, slope, threshold, maxValue));
            }
            case "LeakyReLU":
            {
                var slope = (float)(c.Number("negative_slope") || c.Number("alpha")).IfNone(0.3);
                return Map(Single(n, ins), v => v < 0 ? slope * v : v);
            }
            case "ELU":
            {
                var alpha = (float)c.Number("alpha").IfNone(1.0);
                return Map(Single(n, ins), v => v > 0 ? v : alpha * (MathF.Exp(v) - 1f));
            }
            case "ThresholdedReLU":
            {
                var theta = (float)c.Number("theta").IfNone(1.0);
                return Map(Single(n, ins), v => v > theta ? v : 0f);
            }
            case "Softmax":
            {
                var x = Single(n, ins);
                var axis = Shapes.Axis(c.Int("axis", -1), x.Rank + 1) - 1;
                if (axis != x.Rank - 1) throw Unsupported(n, "softmax is supported on the last axis only");
                var y = (float[])x.Data.Clone();
                Activations.Apply("softmax", y, x.Shape[^1]);
                return x with { Data = y };
            }
            case "PReLU":
            {
                var x = Single(n, ins);
                var alpha = W(n, "alpha");
                var y = new float[x.Data.Length];
                for (var i = 0; i < y.Length; i++)
                {
                    var v = x.Data[i];
                    y[i] = v >= 0 ? v : alpha[BroadcastIndex(i, x.Shape, alpha.Shape.ToArray())] * v;
                }
                return x with { Data = y };
            }
            case "Add": return Merge(n, ins, (a, b) => a + b);
            case "Subtract":
                if (ins.Length != 2) throw Unsupported(n, "Subtract needs exactly two inputs");
                return Merge(n, ins, (a, b) => a - b);
            case "Multiply": return Merge(n, ins, (a, b) => a * b);
            case "Maximum": return Merge(n, ins, MathF.Max);
            case "Minimum": return Merge(n, ins, MathF.Min);
            case "Average":
            {
                var s = Merge(n, ins, (a, b) => a + b);
                return Map(s, v => v / ins.Length);
            }
            case "Concatenate": return Concatenate(n, ins, c.Int("axis", -1));
            case "Dropout" or "SpatialDropout1D" or "SpatialDropout2D" or "SpatialDropout3D" or "GaussianNoise"
                or "GaussianDropout" or "AlphaDropout" or "ActivityRegularization":
                return Single(n, ins);
            case "BatchNormalization":
            {
                var x = Single(n, ins);
                var axes = c.Ints("axis").IfNone(Arr.create(-1));
                if (axes.Count != 1) throw Unsupported(n, $"axis {Shapes.Show(axes)} must be a single axis");
                var axis = Shapes.Axis(axes[0], x.Rank + 1) - 1;
                if (axis < 0 || axis >= x.Rank) throw Unsupported(n, $"axis {axes[0]} is not a feature axis of input {Shapes.Show(x.Shape)}");
                var (scale, shift) = BatchNormAffine(n);
                return Affine(x, axis, scale, shift);
            }
            case "Rescaling":
            {
                var scale = (float)c.Number("scale").IfNone(1.0);
                var offset = (float)c.Number("offset").IfNone(0.0);
                return Map(Single(n, ins), v => v * scale + offset);
            }
            case "Normalization":
            {
                var x = Single(n, ins);
                if (c.Bool("invert").IfNone(false)) throw Unsupported(n, "invert=True is not supported");
                var mean = W(n, "mean");
                var variance = W(n, "variance");
                var last = x.Shape[^1];
                var y = new float[x.Data.Length];
                for (var i = 0; i < y.Length; i++)
                {
                    var k = mean.Length == 1 ? 0 : i % last;
                    y[i] = (x.Data[i] - mean[k]) / MathF.Max(MathF.Sqrt(variance[k]), 1e-7f);
                }
                return x with { Data = y };
            }
            case "Conv1DTranspose" or "Conv2DTranspose" or "Conv3DTranspose":
                return Activate(n, ConvTranspose(n, Single(n, ins)));
            case "TimeDistributed":
            {
                // The wrapped layer applied to every time slice (axis 0 of the sample).
                var x = Single(n, ins);
                var inner = Inner(n).IfNone(() => throw new EvalFailure(Errors.UnsupportedLayer(n.Id, n.ClassName, "missing the wrapped 'layer'")));
                var steps = x.Shape[0];
                var size = x.Data.Length / Math.Max(1, steps);
                var slices = Enumerable.Range(0, steps)
                    .Select(t => Layer(inner, new[] { new Value(x.Shape[1..], x.Data.AsSpan(t * size, size).ToArray()) })).ToArray();
                var outShape = new[] { steps }.Concat(slices.Length > 0 ? slices[0].Shape : System.Array.Empty<int>()).ToArray();
                return new Value(outShape, slices.SelectMany(v => v.Data).ToArray());
            }
            case var cls when KerasSpiking.ClassOf(cls).TryGet(out var spiking):
                return OverTime(n, spiking, Single(n, ins));
            case "ZeroPadding1D" or "ZeroPadding2D" or "ZeroPadding3D":
                return Pad(n, Single(n, ins), crop: false);
            case "Cropping1D" or "Cropping2D" or "Cropping3D":
                return Pad(n, Single(n, ins), crop: true);
            case "UpSampling1D" or "UpSampling2D" or "UpSampling3D":
                return UpSample(n, Single(n, ins));
        }
        throw Unsupported(n, n.ClassName is "Lambda" or "TFSMLayer"
            ? "layers that run Python code cannot be evaluated; the code in the file is never executed"
            : "layer type is not supported by the reference evaluator");
    }

    static EvalFailure Shape(KerasNode n, string message) => new(Errors.Shape(n.Id, message));

    /// <summary>
    /// A keras_spiking layer run along the sample's time axis (axis 0), with keras_spiking's inference math in float32:
    /// SpikingActivation v += act(x)·dt, n = floor(v), v −= n, y = n/dt; Lowpass (ZOH) y = (1−a)·x + a·y with
    /// a = exp(−dt/τ); Alpha the ZOH-discretized H(s) = 1/(τs+1)² with state [y', y]. Filters start at initial_level.
    /// </summary>
    static Value OverTime(KerasNode n, string layer, Value x)
    {
        if (KerasSpiking.UnsupportedOption(n).TryGet(out var bad) && bad.Arg != "return_sequences")
            throw Unsupported(n, $"{bad.Arg}={bad.Value} is not supported");
        if (x.Rank < 2) throw Shape(n, $"expects (time, ...) per sample, got {Shapes.Show(x.Shape)}");
        var steps = x.Shape[0];
        var size = x.Data.Length / Math.Max(1, steps);
        var dt = KerasSpiking.Dt(n);
        var y = new float[x.Data.Length];
        if (layer == KerasSpiking.SpikingActivation)
        {
            var rates = Activate(n, x).Data;
            var v = KerasSpiking.InitialVoltage(n, size);
            for (var t = 0; t < steps; t++)
                for (var i = 0; i < size; i++)
                {
                    var k = t * size + i;
                    v[i] += rates[k] * dt;
                    var spikes = MathF.Floor(v[i]);
                    v[i] -= spikes;
                    y[k] = spikes / dt;
                }
        }
        else
        {
            var tau = KerasSpiking.Tau(n);
            if (tau.Length != 1 && tau.Length != size) throw Shape(n, $"{tau.Length} time constants for {size} elements");
            if (tau.Any(v => !(v > 0))) throw Unsupported(n, "time constants must be positive");
            var level = KerasSpiking.InitialLevel(n, size);
            if (level.Length != size) throw Shape(n, $"initial_level has {level.Length} values for {size} elements");
            var state = (float[])level.Clone();
            var rate = new float[size];
            for (var t = 0; t < steps; t++)
                for (var i = 0; i < size; i++)
                {
                    var k = t * size + i;
                    var tu = tau[tau.Length == 1 ? 0 : i];
                    if (layer == KerasSpiking.Lowpass)
                    {
                        var a = MathF.Exp(-dt / tu);
                        state[i] = (1 - a) * x.Data[k] + a * state[i];
                    }
                    else
                    {
                        var (a00, a01, a10, a11, b0, b1) = new Alpha(tu).Discretize(dt);
                        var d = rate[i];
                        rate[i] = a00 * d + a01 * state[i] + b0 * x.Data[k];
                        state[i] = a10 * d + a11 * state[i] + b1 * x.Data[k];
                    }
                    y[k] = state[i];
                }
        }
        return n.Config.Bool("return_sequences").IfNone(true) ? x with { Data = y } : new Value(x.Shape[1..], y[^size..]);
    }


    /// <summary>The layer a TimeDistributed wrapper applies: its class and config, with the wrapper's weights.</summary>
    public static Option<KerasNode> Inner(KerasNode wrapper) =>
        wrapper.Config.Get("layer").Map(layer =>
        {
            var cls = layer.TryGetProperty("class_name", out var cn) && cn.ValueKind == System.Text.Json.JsonValueKind.String ? cn.GetString()! : "";
            var cfg = layer.TryGetProperty("config", out var c) ? new LayerConfig(c) : LayerConfig.Empty;
            return wrapper with { ClassName = cls, Config = cfg };
        });

    static ReadOnlySpan<float> Bias(KerasNode n) =>
        n.Config.Bool("use_bias").IfNone(true) ? n.Weight("bias").Map(b => b.Span.ToArray()).IfNone(System.Array.Empty<float>()) : ReadOnlySpan<float>.Empty;

    /// <summary>A single int setting (a one-element list counts); the fallback when absent, empty or a list of several.</summary>
    internal static int Int(this LayerConfig c, string key, int fallback) => c.Ints(key).Map(a => a.Count == 1 ? a[0] : fallback).IfNone(fallback);

    static Value Activate(KerasNode n, Value x)
    {
        var name = n.Config.Activation().IfNone("linear");
        var y = (float[])x.Data.Clone();
        if (!Activations.Apply(name, y, x.Shape[^1])) throw Unsupported(n, $"activation '{name}' is not supported");
        return x with { Data = y };
    }

    static Value Map(Value x, Func<float, float> f)
    {
        var y = new float[x.Data.Length];
        for (var i = 0; i < y.Length; i++) y[i] = f(x.Data[i]);
        return x with { Data = y };
    }

    /// <summary>Spatial tuple parameters (kernel_size, strides, pool_size, ...) padded to the spatial rank.</summary>
    static Arr<int> Tuple(KerasNode n, string key, int rank, Arr<int> fallback)
    {
        var v = n.Config.Ints(key).IfNone(fallback);
        return v.Count == rank ? v : v.Count == 1 ? Enumerable.Repeat(v[0], rank).ToArr() : throw Unsupported(n, $"{key} {Shapes.Show(v)} does not match {rank} spatial dimensions");
    }

    internal static ConvSpec ConvSpecOf(KerasNode n, Arr<int> inputShape, Arr<int> kernelShape, int groups)
    {
        var rank = inputShape.Count - 1;
        var ones = Enumerable.Repeat(1, rank).ToArr();
        var padding = n.Config.String("padding").IfNone("valid") == "same" ? Padding.Same : Padding.Valid;
        var spec = new ConvSpec(inputShape, kernelShape[^1], kernelShape.Take(rank).ToArr(),
            Tuple(n, "strides", rank, ones), Tuple(n, "dilation_rate", rank, ones), padding,
            n.Config.String("data_format").IfNone("channels_last") != "channels_first", groups);
        if (spec.InChannels != kernelShape[rank] * groups)
            throw new EvalFailure(Errors.Shape(n.Id, $"kernel {Shapes.Show(kernelShape)} expects {kernelShape[rank] * groups} input channels, input is {Shapes.Show(inputShape)}"));
        if (spec.OutSpatial.Exists(d => d <= 0))
            throw new EvalFailure(Errors.Shape(n.Id, $"input {Shapes.Show(inputShape)} is smaller than the kernel {Shapes.Show(spec.Kernel)}"));
        return spec;
    }

    static Value Conv(KerasNode n, Value x, Tensor kernel, ReadOnlySpan<float> bias, int groups)
    {
        if (x.Rank != kernel.Rank - 1) throw Shape(n, $"a {kernel.Rank - 2}-d convolution got input {Shapes.Show(x.Shape)}");
        var spec = ConvSpecOf(n, x.Shape.ToArr(), kernel.Shape, groups);
        var y = new float[Shapes.Product(spec.OutputShape)];
        RefKernels.Conv(spec, kernel.Span, bias, x.Data, y);
        return new Value(spec.OutputShape.ToArray(), y);
    }

    /// <summary>
    /// Transposed convolution by its definition (the gradient of a strided convolution): every input cell
    /// scatters kernel × value into the output, at stride s, shifted by the forward convolution's padding.
    /// </summary>
    static Value ConvTranspose(KerasNode n, Value x)
    {
        var k = W(n, "kernel");               // [k..., out, in]
        var rank = k.Rank - 2;
        if (x.Rank != rank + 1) throw Shape(n, $"a {rank}-d transposed convolution got input {Shapes.Show(x.Shape)}");
        if (n.Config.Get("output_padding").IsSome) throw Unsupported(n, "output_padding is not supported");
        var channelsLast = !ChannelsFirst(n) || n.ClassName == "Conv1DTranspose";
        var data = channelsLast ? x.Data : RefKernels.Transpose(x.Data, x.Shape, RefKernels.FirstToLast(x.Rank));
        var shape = channelsLast ? x.Shape : x.Shape.Skip(1).Append(x.Shape[0]).ToArray();
        var strides = Tuple(n, "strides", rank, Enumerable.Repeat(1, rank).ToArr()).ToArray();
        var same = n.Config.String("padding").IfNone("valid") == "same";
        var kernel = k.Shape.Take(rank).ToArray();
        var outCh = k.Shape[rank];
        var inCh = k.Shape[rank + 1];
        if (shape[^1] != inCh) throw Shape(n, $"kernel {Shapes.Show(k.Shape)} expects {inCh} input channels");
        var inSp = shape[..^1];
        var outSp = inSp.Select((d, i) => same ? d * strides[i] : (d - 1) * strides[i] + kernel[i]).ToArray();
        var pad = kernel.Select((kd, i) => same ? Math.Max(kd - strides[i], 0) / 2 : 0).ToArray();
        var y = new float[Shapes.Product(outSp) * outCh];
        var bias = Bias(n);
        var outStrides = Shapes.Strides(outSp);
        var kCount = Shapes.Product(kernel);
        var pc = new int[rank];
        var kc = new int[rank];
        for (var p = 0; p < Shapes.Product(inSp); p++)
        {
            RefKernels.Unravel(p, inSp, pc);
            for (var t = 0; t < kCount; t++)
            {
                RefKernels.Unravel(t, kernel, kc);
                var q = 0;
                var inside = true;
                for (var d = 0; d < rank; d++)
                {
                    var o = pc[d] * strides[d] + kc[d] - pad[d];
                    if (o < 0 || o >= outSp[d]) { inside = false; break; }
                    q += o * outStrides[d];
                }
                if (!inside) continue;
                for (var oc = 0; oc < outCh; oc++)
                {
                    var acc = 0f;
                    for (var ic = 0; ic < inCh; ic++) acc += data[p * inCh + ic] * k[(t * outCh + oc) * inCh + ic];
                    y[q * outCh + oc] += acc;
                }
            }
        }
        if (!bias.IsEmpty)
            for (var i = 0; i < y.Length; i++) y[i] += bias[i % outCh];
        var outShape = outSp.Append(outCh).ToArray();
        return channelsLast ? new Value(outShape, y)
            : new Value(new[] { outCh }.Concat(outSp).ToArray(), RefKernels.Transpose(y, outShape, RefKernels.LastToFirst(outShape.Length)));
    }

    internal static PoolSpec PoolSpecOf(KerasNode n, Arr<int> inputShape, PoolKind kind)
    {
        var rank = inputShape.Count - 1;
        var pool = Tuple(n, "pool_size", rank, Enumerable.Repeat(2, rank).ToArr());
        var strides = n.Config.Has("strides") ? Tuple(n, "strides", rank, pool) : pool;
        var padding = n.Config.String("padding").IfNone("valid") == "same" ? Padding.Same : Padding.Valid;
        var spec = new PoolSpec(kind, inputShape, pool, strides, padding, n.Config.String("data_format").IfNone("channels_last") != "channels_first");
        if (spec.OutSpatial.Exists(d => d <= 0))
            throw new EvalFailure(Errors.Shape(n.Id, $"input {Shapes.Show(inputShape)} is smaller than the pool {Shapes.Show(pool)}"));
        return spec;
    }

    static Value Pool(KerasNode n, Value x, PoolKind kind)
    {
        var spec = PoolSpecOf(n, x.Shape.ToArr(), kind);
        var y = new float[Shapes.Product(spec.OutputShape)];
        RefKernels.Pool(spec, x.Data, y);
        return new Value(spec.OutputShape.ToArray(), y);
    }

    static Value GlobalPool(KerasNode n, Value x, PoolKind kind)
    {
        var channelsLast = !ChannelsFirst(n);
        var spatial = channelsLast ? x.Shape[..^1] : x.Shape[1..];
        var spec = new PoolSpec(kind, x.Shape.ToArr(), spatial.ToArr(), spatial.Select(_ => 1).ToArr(), Padding.Valid, channelsLast);
        var y = new float[spec.Channels];
        RefKernels.Pool(spec, x.Data, y);
        var keep = n.Config.Bool("keepdims").IfNone(false);
        return new Value(keep ? spec.OutputShape.ToArray() : new[] { spec.Channels }, y);
    }

    static int[] ResolveReshape(KerasNode n, int[] target, int size) =>
        Shapes.ResolveReshape(target, size).IfNone(() => throw Shape(n, $"cannot reshape {size} values to {Shapes.Show(target)}"));

    static int BroadcastIndex(int flat, int[] shape, int[] paramShape)
    {
        // paramShape has the same rank as shape with 1s on shared axes.
        var idx = 0;
        var stride = 1;
        for (var d = shape.Length - 1; d >= 0; d--)
        {
            var coord = flat % shape[d];
            flat /= shape[d];
            var pd = d - (shape.Length - paramShape.Length);
            if (pd < 0) continue;
            if (paramShape[pd] != 1) idx += coord * stride;
            stride *= paramShape[pd];
        }
        return idx;
    }

    static Value Merge(KerasNode n, Value[] ins, Func<float, float, float> f)
    {
        if (ins.Length < 1) throw Unsupported(n, "needs at least one input");
        var shape = ins[0].Shape;
        foreach (var x in ins)
            if (!x.Shape.SequenceEqual(shape)) throw Shape(n, $"inputs {string.Join(" and ", ins.Select(i => Shapes.Show(i.Shape)))} differ (broadcasting is not supported)");
        var y = (float[])ins[0].Data.Clone();
        for (var k = 1; k < ins.Length; k++)
            for (var i = 0; i < y.Length; i++) y[i] = f(y[i], ins[k].Data[i]);
        return new Value(shape, y);
    }

    static Value Concatenate(KerasNode n, Value[] ins, int axis)
    {
        var rank = ins[0].Rank;
        var a = axis < 0 ? axis + rank : axis - 1;
        if (a < 0 || a >= rank) throw Unsupported(n, $"cannot concatenate along axis {axis} (the batch axis or out of range)");
        foreach (var x in ins)
            if (x.Rank != rank || Enumerable.Range(0, rank).Any(d => d != a && x.Shape[d] != ins[0].Shape[d]))
                throw Shape(n, $"inputs {string.Join(", ", ins.Select(i => Shapes.Show(i.Shape)))} cannot be concatenated on axis {axis}");
        var outShape = (int[])ins[0].Shape.Clone();
        outShape[a] = ins.Sum(x => x.Shape[a]);
        var outer = ins[0].Shape.Take(a).Aggregate(1, (p, d) => p * d);
        var y = new float[Shapes.Product(outShape)];
        var pos = 0;
        for (var o = 0; o < outer; o++)
            foreach (var x in ins)
            {
                var block = x.Data.Length / outer;
                System.Array.Copy(x.Data, o * block, y, pos, block);
                pos += block;
            }
        return new Value(outShape, y);
    }

    internal static (float[] Scale, float[] Shift) BatchNormAffine(KerasNode n)
    {
        var c = n.Config;
        var eps = (float)c.Number("epsilon").IfNone(1e-3);
        var mean = W(n, "moving_mean");
        var variance = W(n, "moving_variance");
        var size = mean.Length;
        var gamma = c.Bool("scale").IfNone(true) ? W(n, "gamma").ToArray() : Enumerable.Repeat(1f, size).ToArray();
        var beta = c.Bool("center").IfNone(true) ? W(n, "beta").ToArray() : new float[size];
        var scale = new float[size];
        var shift = new float[size];
        for (var i = 0; i < size; i++)
        {
            scale[i] = gamma[i] / MathF.Sqrt(variance[i] + eps);
            shift[i] = beta[i] - scale[i] * mean[i];
        }
        return (scale, shift);
    }

    static Value Affine(Value x, int axis, float[] scale, float[] shift)
    {
        var inner = x.Shape.Skip(axis + 1).Aggregate(1, (p, d) => p * d);
        var size = x.Shape[axis];
        if (size != scale.Length) throw new EvalFailure(Errors.Shape("BatchNormalization", $"{scale.Length} parameters for axis of size {size}"));
        var y = new float[x.Data.Length];
        for (var i = 0; i < y.Length; i++)
        {
            var ch = i / inner % size;
            y[i] = x.Data[i] * scale[ch] + shift[ch];
        }
        return x with { Data = y };
    }

    static Value Pad(KerasNode n, Value x, bool crop)
    {
        var channelsLast = !ChannelsFirst(n) || n.ClassName.EndsWith("1D");
        var rank = x.Rank - 1;
        var key = crop ? "cropping" : "padding";
        var pairs = n.Config.Pairs(key, rank).IfNone(() => throw Unsupported(n, $"cannot read {key}"));
        var spatialOffset = channelsLast ? 0 : 1;
        var outShape = (int[])x.Shape.Clone();
        for (var d = 0; d < rank; d++)
            outShape[d + spatialOffset] += crop ? -(pairs[d].Before + pairs[d].After) : pairs[d].Before + pairs[d].After;
        if (outShape.Any(d => d <= 0)) throw Shape(n, $"cropping {Shapes.Show(x.Shape)} leaves nothing");
        var y = new float[Shapes.Product(outShape)];
        var coord = new int[x.Rank];
        var outStrides = Shapes.Strides(outShape);
        for (var i = 0; i < x.Data.Length; i++)
        {
            RefKernels.Unravel(i, x.Shape, coord);
            var o = 0;
            var inside = true;
            for (var d = 0; d < x.Rank; d++)
            {
                var sd = d - spatialOffset;
                var p = coord[d];
                if (sd >= 0 && sd < rank) p += crop ? -pairs[sd].Before : pairs[sd].Before;
                if (p < 0 || p >= outShape[d]) { inside = false; break; }
                o += p * outStrides[d];
            }
            if (inside) y[o] = x.Data[i];
        }
        return new Value(outShape, y);
    }

    static Value UpSample(KerasNode n, Value x)
    {
        if (n.Config.String("interpolation").IfNone("nearest") != "nearest") throw Unsupported(n, "only nearest interpolation is supported");
        var channelsLast = !ChannelsFirst(n) || n.ClassName == "UpSampling1D";
        var rank = x.Rank - 1;
        var size = n.ClassName == "UpSampling1D" ? Tuple(n, "size", 1, Arr.create(2)) : Tuple(n, "size", rank, Enumerable.Repeat(2, rank).ToArr());
        var offset = channelsLast ? 0 : 1;
        var outShape = (int[])x.Shape.Clone();
        for (var d = 0; d < rank; d++) outShape[d + offset] *= size[d];
        var y = new float[Shapes.Product(outShape)];
        var coord = new int[x.Rank];
        var inStrides = Shapes.Strides(x.Shape);
        for (var o = 0; o < y.Length; o++)
        {
            RefKernels.Unravel(o, outShape, coord);
            var i = 0;
            for (var d = 0; d < x.Rank; d++)
            {
                var sd = d - offset;
                var p = sd >= 0 && sd < rank ? coord[d] / size[sd] : coord[d];
                i += p * inStrides[d];
            }
            y[o] = x.Data[i];
        }
        return new Value(outShape, y);
    }
}
