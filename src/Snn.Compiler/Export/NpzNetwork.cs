using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using Snn.Compiler.Legalize;
using Snn.Compiler.Saved;
using static LanguageExt.Prelude;
using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Compiler.Export;

/// <summary>Where an exported network came from: the Keras model's name, its file, and whether it is the spiking form.</summary>
public sealed record NpzSource(string Model, string File, bool Spiking);

/// <summary>
/// The <c>snn-network</c> format (version 2, specified in tests/bench/README.md): the legalized network with the
/// converter's neuron parameters (gain, per-neuron gains and output factors of per-channel calibration, bias, neuron type
/// and amplitude, initial voltages) as a numpy .npz archive, so that another simulator (tests/bench/torch_peer.py) can
/// rebuild the same spiking network: one .npy array per weight and a <c>structure.json</c> entry describing the ops.
/// </summary>
public static class NpzNetwork
{
    public const string FormatName = "snn-network";
    public const int FormatVersion = 2;

    /// <summary>Writes the network to <paramref name="path"/>; returns the number of arrays besides structure.json.</summary>
    public static Either<Error, int> Write(string path, bool compress, NpzSource source, CompileOptions options, Option<SavedCalibration> calibration,
        Network net, LegalGraph legal) =>
        from _e in InNpzFormat(legal)
        from doc in Describe(source, options, calibration, net, legal)
        from _w in Npz.Write(path, compress, w => Fill(w, doc.Json, doc.Arrays))
        select doc.Arrays.Count;

    /// <summary>Fallback and custom layers run C# code that an archive cannot carry: refuse them, naming every one.</summary>
    public static Either<Error, Unit> Exportable(LegalGraph g)
    {
        var bad = CodeLayers(g);
        return bad.IsEmpty ? unit : Errors.Many(bad);
    }

    static Seq<Error> CodeLayers(LegalGraph g) =>
        g.Ops.Choose(op => op switch
        {
            LFallback f => Some(Errors.UnsupportedLayer(f.Layer, f.Node.ClassName,
                $"it has no native conversion ({f.Reason}) and runs as a fallback function node, which export cannot represent")),
            LCustom c => Some(Errors.UnsupportedLayer(c.Layer, c.Node.ClassName,
                "it is converted by a custom converter, which export cannot represent")),
            _ => Option<Error>.None,
        }).ToSeq().Strict();

    /// <summary>
    /// Everything the npz format (and the PyTorch peer) cannot hold, all at once: <see cref="Exportable"/>'s layers and
    /// keras_spiking layers.
    /// </summary>
    public static Either<Error, Unit> InNpzFormat(LegalGraph g)
    {
        var bad = CodeLayers(g) + g.Ops.Choose(op => op is LFilter or LActivation { Spiking.IsSome: true }
            ? Some(Errors.UnsupportedLayer(op.Layer, op is LFilter ? "Lowpass/Alpha" : "SpikingActivation",
                $"keras_spiking layers are not part of the {FormatName} v{FormatVersion} format (--format nengo exports them)"))
            : None).ToSeq();
        return bad.IsEmpty ? unit : Errors.Many(bad);
    }

    static void Fill(NpzWriter w, byte[] json, List<(string Name, object Value, int[] Shape)> arrays)
    {
        w.AddBytes("structure.json", json);
        foreach (var (name, value, shape) in arrays)
        {
            switch (value)
            {
                case Tensor t: w.AddFloat32(name, shape, t.Span); break;
                case float[] f: w.AddFloat32(name, shape, f); break;
                case int[] i: w.AddInt32(name, shape, i); break;
                default: throw new InvalidOperationException(value.GetType().Name);
            }
        }
    }

    // ------------------------------------------------------------------ the structure document

    /// <summary>The arrays of the archive; each gets a safe, unique entry name (<see cref="SafeNames"/>), which Add returns for the document.</summary>
    sealed class Doc
    {
        public readonly List<(string Name, object Value, int[] Shape)> Arrays = new();
        readonly SafeNames names = new();
        public string Add(string name, Tensor t) => Add(name, t, t.Shape.ToArray());
        public string Add(string name, Tensor t, int[] shape) => Add(name, (object)t, shape);
        public string Add(string name, int[] values) => Add(name, values, new[] { values.Length });

        string Add(string name, object value, int[] shape)
        {
            var safe = names.Take(name);
            Arrays.Add((safe, value, shape));
            return safe;
        }
    }

    static Either<Error, (byte[] Json, List<(string Name, object Value, int[] Shape)> Arrays)> Describe(
        NpzSource source, CompileOptions options, Option<SavedCalibration> calibration, Network net, LegalGraph legal)
    {
        var nodes = net.Nodes.ToDictionary(n => n.Id);
        var doc = new Doc();
        var buffer = new MemoryStream();
        Option<Error> failure = None;
        using (var j = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            j.WriteStartObject();
            j.WriteString("format", FormatName);
            j.WriteNumber("version", FormatVersion);
            j.WriteString("producer", "snn " + typeof(NpzNetwork).Assembly.GetName().Version?.ToString(3));
            j.WriteString("model", source.Model);
            j.WriteString("source", source.File);
            j.WriteString("mode", source.Spiking ? "spiking" : "rate");
            Num(j, "dt", net.Dt);
            j.WriteBoolean("temporal", options.Legalize.Temporal);
            j.WritePropertyName("synapse");
            if (options.Convert.Synapse.TryGet(out var syn)) Num(j, syn.Tau); else j.WriteNullValue();
            j.WriteString("max_pool", options.Convert.MaxPool.ToString().ToLowerInvariant());
            j.WriteString("initial_voltage", options.Convert.InitialVoltage.ToString().ToLowerInvariant());
            j.WriteNumber("seed", options.Convert.Seed);
            j.WritePropertyName("calibration");
            if (calibration.TryGet(out var cal))
            {
                // What the network was calibrated with (the command line's, or the saved network's).
                j.WriteStartObject();
                j.WriteString("data", cal.Data);
                Num(j, "percentile", cal.Options.Percentile);
                Num(j, "resolution", cal.Options.Resolution);
                j.WriteNumber("samples", cal.Options.Samples);
                j.WriteNumber("bias_shift_steps", cal.Options.BiasShiftSteps);
                j.WritePropertyName("input_scale");
                if (cal.InputScale.TryGet(out var inputScale)) Num(j, inputScale); else j.WriteNullValue();
                j.WriteStartArray("layers");
                foreach (var s in cal.Scales)
                {
                    j.WriteStartObject();
                    j.WriteString("layer", s.Layer);
                    Num(j, "activation", s.Activation);
                    Num(j, "scale", s.Scale);
                    Num(j, "resolution", s.Resolution);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteEndObject();
            }
            else j.WriteNullValue();
            Strings(j, "inputs", legal.Inputs);
            j.WriteStartArray("outputs");
            foreach (var o in legal.Outputs)
            {
                var op = legal.Op(o);
                j.WriteStartObject();
                j.WriteString("op", o);
                Ints(j, "shape", op.Shape);
                j.WriteBoolean("softmax", op is LActivation { Act: SoftmaxAct });
                j.WriteEndObject();
            }
            j.WriteEndArray();

            j.WriteStartArray("ops");
            foreach (var op in legal.Ops)
            {
                j.WriteStartObject();
                j.WriteString("id", op.Id);
                j.WriteString("layer", op.Layer);
                j.WriteString("type", TypeName(op));
                Strings(j, "inputs", op.Inputs);
                Ints(j, "shape", op.Shape);
                failure = WriteOp(j, doc, op, legal, nodes, options.Convert);
                if (failure.IsSome) break;
                j.WriteEndObject();
            }
            j.WriteEndArray();

            j.WriteStartArray("layers");
            foreach (var l in legal.Layers)
            {
                j.WriteStartObject();
                j.WriteString("name", l.Layer);
                j.WriteString("class", l.ClassName);
                j.WriteString("conversion", l.Conversion.ToString().ToLowerInvariant());
                Ints(j, "output_shape", l.OutputShape);
                j.WriteString("note", l.Note);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            Strings(j, "warnings", net.Warnings);
            j.WriteEndObject();
        }
        if (failure.TryGet(out var error)) return error;
        return (buffer.ToArray(), doc.Arrays);
    }

    static string TypeName(LegalOp op) => op switch
    {
        LInput => "input",
        LDense => "dense",
        LConv => "conv",
        LPool => "pool",
        LActivation => "activation",
        LAffine => "affine",
        LSum => "sum",
        LConcat => "concat",
        LReshape => "reshape",
        LGather => "gather",
        _ => op.GetType().Name,
    };

    /// <summary>The parameters of one op; the activation ops also carry their neurons.</summary>
    static Option<Error> WriteOp(Utf8JsonWriter j, Doc doc, LegalOp op, LegalGraph legal, Dictionary<string, NetNode> nodes, ConvertOptions convert)
    {
        switch (op)
        {
            case LInput i:
                j.WriteNumber("index", i.Index);
                break;

            case LDense d:
                j.WriteString("kernel", doc.Add(op.Id + ".kernel", d.Kernel));
                Bias(j, doc, op, d.Bias);
                Folded(j, op, legal, nodes);
                break;

            case LConv c:
            {
                var s = c.Spec;
                Ints(j, "input_shape", s.InputShape);
                j.WriteNumber("filters", s.Filters);
                Ints(j, "kernel_size", s.Kernel);
                Ints(j, "strides", s.Strides);
                Ints(j, "dilation", s.Dilation);
                j.WriteString("padding", s.Padding == Padding.Same ? "same" : "valid");
                Ints(j, "pad_before", s.PadBefore);
                Ints(j, "pad_after", PadAfter(s.InSpatial, s.OutSpatial, s.Kernel, s.Strides, s.Dilation, s.PadBefore));
                j.WriteNumber("groups", s.Groups);
                j.WriteBoolean("channels_last", s.ChannelsLast);
                j.WriteString("kernel", doc.Add(op.Id + ".kernel", c.Kernel, s.KernelShape.ToArray()));
                Bias(j, doc, op, c.Bias);
                Folded(j, op, legal, nodes);
                break;
            }

            case LPool p:
            {
                var s = p.Spec;
                j.WriteString("kind", s.Kind == PoolKind.Max ? "max" : "avg");
                Ints(j, "input_shape", s.InputShape);
                Ints(j, "pool_size", s.Pool);
                Ints(j, "strides", s.Strides);
                j.WriteString("padding", s.Padding == Padding.Same ? "same" : "valid");
                Ints(j, "pad_before", s.PadBefore);
                Ints(j, "pad_after", PadAfter(s.InSpatial, s.OutSpatial, s.Pool, s.Strides, s.Pool.Map(_ => 1), s.PadBefore));
                j.WriteBoolean("channels_last", s.ChannelsLast);
                // How the network computes it: 'avg' (average of real cells), 'exact' (max of real values),
                // or a spiking max-pool method ('count', 'gate') when the input is a spike train.
                var method = nodes.GetValueOrDefault(op.Id) switch
                {
                    MaxPoolNode m => m.Method.ToString().ToLowerInvariant(),
                    _ when s.Kind == PoolKind.Average || convert.MaxPool == MaxPoolMethod.Avg => "avg",
                    _ => "exact",
                };
                j.WriteString("method", method);
                break;
            }

            case LActivation act:
                return WriteActivation(j, doc, act, nodes);

            case LAffine af:
                j.WriteNumber("axis", af.Axis);
                j.WriteString("scale", doc.Add(op.Id + ".scale", af.Scale));
                j.WriteString("shift", doc.Add(op.Id + ".shift", af.Shift));
                break;

            case LSum s:
                j.WriteStartArray("weights");
                foreach (var w in s.Weights) Num(j, w);
                j.WriteEndArray();
                break;

            case LConcat c:
                j.WriteNumber("axis", c.Axis);
                break;

            case LReshape:
                break;

            case LGather g:
                j.WriteString("kind", g.Kind);
                j.WriteNumber("input_size", legal.Op(g.Inputs.Head).Size);
                j.WriteString("index", doc.Add(op.Id + ".index", g.Index.ToArray()));
                break;

            default:
                return Errors.UnsupportedLayer(op.Layer, op.GetType().Name, "export cannot represent this op");
        }
        return None;
    }

    static void Bias(Utf8JsonWriter j, Doc doc, LegalOp op, Option<Tensor> bias)
    {
        j.WritePropertyName("bias");
        if (bias.TryGet(out var b)) j.WriteStringValue(doc.Add(op.Id + ".bias", b));
        else j.WriteNullValue();
    }

    /// <summary>
    /// A Dense/Conv whose only consumer is an activation is fused into that activation's neurons: its bias is then
    /// already part of the neurons' bias (scaled by the gain) and must not be added again.
    /// </summary>
    static void Folded(Utf8JsonWriter j, LegalOp op, LegalGraph legal, Dictionary<string, NetNode> nodes)
    {
        j.WritePropertyName("bias_folded_into");
        if (!nodes.ContainsKey(op.Id) && legal.Ops.Find(o => o is LActivation && o.Inputs.Head == op.Id && nodes.GetValueOrDefault(o.Id) is Ensemble).TryGet(out var act))
            j.WriteStringValue(act.Id);
        else j.WriteNullValue();
    }

    static Option<Error> WriteActivation(Utf8JsonWriter j, Doc doc, LActivation act, Dictionary<string, NetNode> nodes)
    {
        j.WriteStartObject("activation");
        switch (act.Act)
        {
            case Relu r:
                j.WriteString("kind", "relu");
                Num(j, "negative_slope", r.NegativeSlope);
                Num(j, "threshold", r.Threshold);
                Num(j, "max_value", r.MaxValue);
                break;
            case PRelu p:
                j.WriteString("kind", "prelu");
                j.WriteString("alpha", doc.Add(act.Id + ".alpha", p.Alpha, act.Shape.ToArray()));
                break;
            case SigmoidAct:
                j.WriteString("kind", "sigmoid");
                break;
            case TanhAct:
                j.WriteString("kind", "tanh");
                break;
            case SoftmaxAct:
                j.WriteString("kind", "softmax");
                j.WriteNumber("axis", -1);
                break;
        }
        j.WriteEndObject();

        if (act.Act is SoftmaxAct)
        {
            // Applied by the readout to the averaged output, not per step.
            j.WriteBoolean("applied_in_readout", true);
            j.WriteNull("neurons");
            return None;
        }
        if (nodes.GetValueOrDefault(act.Id) is not Ensemble e)
            return Errors.Invariant("export", $"activation '{act.Id}' has no ensemble in the converted network");
        var shape = act.Shape.ToArray();
        j.WriteStartObject("neurons");
        WriteNeuron(j, doc, act.Id, e.Neuron, shape);
        Num(j, "gain", e.Gain);
        // Per-channel calibration: the per-neuron gains and the factor on what leaves the ensemble, the constants the
        // runtime uses.
        j.WritePropertyName("neuron_gain");
        if (e.NeuronGains.TryGet(out var gains)) j.WriteStringValue(doc.Add(act.Id + ".neuron_gain", gains, shape));
        else j.WriteNullValue();
        j.WritePropertyName("output_scale");
        if (e.OutputScale.TryGet(out var unscale)) j.WriteStringValue(doc.Add(act.Id + ".output_scale", unscale, shape));
        else j.WriteNullValue();
        j.WriteString("bias", doc.Add(act.Id + ".neuron_bias", e.Bias, shape));
        j.WritePropertyName("initial_voltage");
        if (e.InitialVoltage.TryGet(out var v0)) j.WriteStringValue(doc.Add(act.Id + ".initial_voltage", v0, shape));
        else j.WriteNullValue();
        j.WriteEndObject();
        return None;
    }

    static void WriteNeuron(Utf8JsonWriter j, Doc doc, string id, NeuronType n, int[] shape)
    {
        j.WriteString("type", n.Name);
        j.WriteBoolean("spiking", n.Spiking);
        foreach (var f in n.Npz)
        {
            switch (f.Value)
            {
                case NeuronValue.Number v: Num(j, f.Key, v.Value); break;
                case NeuronValue.Flag v: j.WriteBoolean(f.Key, v.Value); break;
                case NeuronValue.Text v: j.WriteString(f.Key, v.Value); break;
                case NeuronValue.PerNeuron { Value: var t } when t.Length == 1: Num(j, f.Key, t[0]); break;
                case NeuronValue.PerNeuron v: j.WriteString(f.Key, doc.Add(id + "." + f.Key, v.Value, shape)); break;
                default: throw new InvalidOperationException($"{n.Name} exports field '{f.Key}' of a kind the npz format has no entry for");
            }
        }
    }

    static Arr<int> PadAfter(Arr<int> input, Arr<int> output, Arr<int> kernel, Arr<int> strides, Arr<int> dilation, Arr<int> before) =>
        Enumerable.Range(0, input.Count)
            .Select(d => Math.Max(0, (output[d] - 1) * strides[d] + (kernel[d] - 1) * dilation[d] + 1 - input[d] - before[d])).ToArr();

    // ------------------------------------------------------------------ JSON helpers

    /// <summary>float32 values are written as the double they equal, so parsing the number and rounding to float32 is exact.</summary>
    static void Num(Utf8JsonWriter j, float v)
    {
        if (float.IsFinite(v)) j.WriteNumberValue((double)v);
        else j.WriteNullValue();   // +inf max_value: no clip
    }

    static void Num(Utf8JsonWriter j, string name, float v)
    {
        j.WritePropertyName(name);
        Num(j, v);
    }

    static void Num(Utf8JsonWriter j, string name, double v) => j.WriteNumber(name, v);

    static void Ints(Utf8JsonWriter j, string name, IEnumerable<int> values)
    {
        j.WriteStartArray(name);
        foreach (var v in values) j.WriteNumberValue(v);
        j.WriteEndArray();
    }

    static void Strings(Utf8JsonWriter j, string name, IEnumerable<string> values)
    {
        j.WriteStartArray(name);
        foreach (var v in values) j.WriteStringValue(v);
        j.WriteEndArray();
    }
}
