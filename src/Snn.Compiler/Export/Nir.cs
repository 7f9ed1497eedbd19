using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using Snn.Compiler.Hdf5;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Export;

/// <summary>One NIR node: its primitive (<c>type</c>), its fields and its metadata, each an HDF5 value.</summary>
public sealed record NirNode(string Type, Map<string, H5Value> Fields, Map<string, H5Value> Metadata);

/// <summary>A NIR graph: named nodes, edges [source, target] in creation order, graph-level metadata.</summary>
public sealed record NirGraph(Map<string, NirNode> Nodes, Seq<(string From, string To)> Edges, Map<string, H5Value> Metadata);

/// <summary>Options of the NIR export: extra graph-level metadata (e.g. the source model, calibration settings).</summary>
public sealed record NirOptions(Map<string, H5Value> Metadata = default)
{
    public static readonly NirOptions Default = new();
}

/// <summary>A converter setting that removes a NIR refusal (the command line's option in brackets).</summary>
public enum NirFix
{
    /// <summary>One calibration scale per layer (<c>--per-layer</c>).</summary>
    PerLayer,
    /// <summary>Max pooling replaced by average pooling (<c>--max-pool avg</c>).</summary>
    AveragePooling,
    /// <summary>Integrate-and-fire without negative spikes (<c>--neuron if</c>).</summary>
    IntegrateAndFire,
    /// <summary>No lowpass synapse (no <c>--synapse</c>).</summary>
    NoSynapse,
}

/// <summary>
/// Why a network cannot be exported to NIR: every refusal in one <see cref="Error"/>, the converter settings that remove
/// some of them, and whether those remove all (<see cref="FixesAll"/>).
/// </summary>
public sealed record NirRefusal(Error Error, Set<NirFix> Fixes, bool FixesAll);

/// <summary>
/// Export of a converted network as a NIR graph (Neuromorphic Intermediate Representation, neuromorphs/NIR 1.0
/// file layout; nir-format.md). The mapping, stated precisely in README "Export to NIR":
/// <list type="bullet">
/// <item>Every Affine/Linear/Conv output that feeds neurons is the converted network's input current
/// J = bias + gain·(W·x); neurons are IF (SpikingRectifiedLinear, IntegrateAndFire) or LIF with r = 1,
/// v_threshold = 1, v_reset = 0, so dv/dt = J as in the simulator (forward Euler with the network's dt).</item>
/// <item>A spike (one event) stands for the value <c>spike_value = float32(amplitude / dt)</c>; it is folded into
/// the weights of every consumer: weight = float32(weight_scale × Keras kernel) with
/// weight_scale = gain × spike_value of the input (gain 1 and spike value 1 for real-valued inputs).</item>
/// <item>Tensors are channels-first (NIR's convention): convolution kernels (k…, in, out) become (out, in, k…), the
/// Input node takes the channels-first version of the Keras input, and a flatten's order change is folded into
/// the next Dense's weight columns (no permutation node). Only when nothing consumes a permuted value (a model
/// output) is a Linear permutation node written.</item>
/// <item>Reset mode, dt, amplitude, gain, the exact discrete step and the initial voltages go to node metadata.</item>
/// </list>
/// Max pooling and everything else NIR cannot express exactly is refused, every such layer named in one error.
/// </summary>
public static class Nir
{
    public const string FormatName = "NIR";

    /// <summary>The NIR version written to <c>/version</c>: the 1.0.x file layout of the reference writer.</summary>
    public const string Version = "1.0.6";

    /// <summary>
    /// Most weights of a grouped convolution written ungrouped (nir.read's type check reads C_in from the weight, so it
    /// refuses grouped convolutions); larger ones are written grouped (16 Mi floats = 64 MiB).
    /// </summary>
    public const long MaxGroupedExpansion = 1L << 24;

    /// <summary>Largest matrix side of a diagonal or permutation Affine/Linear the export writes.</summary>
    public const int MaxDenseSide = 4096;

    /// <summary>
    /// Builds the NIR graph of <paramref name="network"/>, converted from <paramref name="legal"/> (the graph the
    /// converter converted: with <see cref="MaxPoolMethod.Pre"/> that is <see cref="Converter.MaxPoolBeforeActivation"/>'s).
    /// </summary>
    public static Either<Error, NirGraph> Build(NirOptions options, LegalGraph legal, Network network) =>
        Try(options, legal, network).MapLeft(r => r.Error);

    /// <summary><see cref="Build"/>, with the converter settings that remove the refusals when it refuses.</summary>
    public static Either<NirRefusal, NirGraph> Try(NirOptions options, LegalGraph legal, Network network) =>
        new NirBuilder(legal, network).Run(options);

    /// <summary>The HDF5 tree of a NIR graph: /version, /node/type, /node/nodes/NAME/{type, fields, metadata/}, /node/edges.</summary>
    public static H5GroupNode ToHdf5(NirGraph graph)
    {
        var nodes = H5GroupNode.Empty;
        foreach (var (name, node) in graph.Nodes) nodes = nodes.With(name, NodeGroup(node.Type, node.Fields, node.Metadata));
        var edges = graph.Edges.SelectMany(e => new[] { e.From, e.To }).ToArr();
        var root = NodeGroup("NIRGraph", Map(("edges", (H5Value)new H5String(Arr.create(graph.Edges.Count, 2), edges))), graph.Metadata)
            .With("nodes", nodes);
        return H5GroupNode.Empty.With("version", H5Value.Text(Version)).With("node", root);
    }

    /// <summary>Writes the graph to a NIR (HDF5) file.</summary>
    public static Either<Error, Unit> Write(string path, NirGraph graph) => H5Writer.Write(path, ToHdf5(graph));

    static H5GroupNode NodeGroup(string type, Map<string, H5Value> fields, Map<string, H5Value> metadata)
    {
        var g = H5GroupNode.Empty.With("type", H5Value.Text(type));
        foreach (var (k, v) in fields) g = g.With(k, v);
        if (!metadata.IsEmpty)
            g = g.With("metadata", metadata.Fold(H5GroupNode.Empty, (m, kv) => m.With(kv.Key, kv.Value)));
        return g;
    }
}

/// <summary>The stateful walk behind <see cref="Nir.Build"/> (private to it; the public function is pure).</summary>
internal sealed class NirBuilder
{
    /// <summary>A contribution to a value: the output of NIR node <see cref="Node"/> times <see cref="Scale"/>.</summary>
    sealed record Term(string Node, double Scale);

    /// <summary>
    /// How a Keras value is carried in NIR: the sum of <see cref="Terms"/> (NIR sums the edges into a node), laid out
    /// with <see cref="NirShape"/>, where NIR flat element i holds Keras flat element <see cref="Perm"/>[i].
    /// <see cref="Current"/>: the value is already a neuron input current (a Dense/Conv fused with its activation).
    /// </summary>
    sealed record Val(Seq<Term> Terms, Arr<int> KerasShape, int[] NirShape, int[] Perm, bool Current = false, bool Softmax = false);

    readonly LegalGraph _legal;
    readonly Network _net;
    readonly Dictionary<string, NetNode> _netNodes;
    readonly Dictionary<string, Val?> _vals = new();
    readonly List<(string Name, NirNode Node)> _nodes = new();
    readonly List<(string, string)> _edges = new();
    readonly System.Collections.Generic.HashSet<string> _names = new(StringComparer.Ordinal);
    readonly List<Error> _errors = new();
    readonly System.Collections.Generic.HashSet<NirFix> _fixes = new();
    int _unfixable;
    readonly bool _channelsFirst;
    readonly float _dt;

    public NirBuilder(LegalGraph legal, Network network)
    {
        _legal = legal;
        _net = network;
        _netNodes = network.Nodes.ToDictionary(n => n.Id);
        _dt = network.Dt;
        _channelsFirst = legal.Ops.Exists(o => o is LConv { Spec.ChannelsLast: false } or LPool { Spec.ChannelsLast: false });
    }

    public Either<NirRefusal, NirGraph> Run(NirOptions options)
    {
        if (_channelsFirst)
            foreach (var op in _legal.Ops.Filter(o => o is LConv { Spec.ChannelsLast: true } or LPool { Spec.ChannelsLast: true }))
                Refuse(op, "it is channels_last while other layers of the model are channels_first; NIR export needs one layout");
        CheckSynapses();
        var outputNames = _legal.Outputs.Count == 1
            ? Seq1(Unique("output"))
            : _legal.Outputs.Map((i, _) => Unique($"output_{i}")).ToSeq().Strict();
        foreach (var op in _legal.Ops) _vals[op.Id] = Op(op);
        for (var i = 0; i < _legal.Outputs.Count; i++) Output(_legal.Outputs[i], outputNames[i]);
        if (_errors.Count > 0) return new NirRefusal(Errors.Many(_errors.ToSeq().Strict()), toSet(_fixes), _unfixable == 0);

        var metadata = Map(
            ("producer", H5Value.Text("snn " + typeof(Nir).Assembly.GetName().Version?.ToString(3))),
            ("dt", H5Value.Scalar((double)_dt)),
            ("layout", H5Value.Text("channels_first")),
            ("input_encoding", H5Value.Text("constant: the input value is presented unchanged at every step")),
            ("mapping", H5Value.Text("IF/LIF input I = converted network current J = bias + gain*(W x); r = 1, v_threshold = 1, v_reset = 0; " +
                "Euler step dt: v += dt*r*I; one spike stands for spike_value = amplitude/dt, folded into the consumers' weights " +
                "(weight = float32(weight_scale * kernel)); see each neuron node's metadata 'step' for the exact discrete update")));
        foreach (var (k, v) in options.Metadata) metadata = metadata.AddOrUpdate(k, v);
        return new NirGraph(toMap(_nodes.Select(n => (n.Name, n.Node))), _edges.Select(e => (e.Item1, e.Item2)).ToSeq().Strict(), metadata);
    }

    // ------------------------------------------------------------------ helpers

    string ClassOf(string layer) => _legal.Layers.Find(l => l.Layer == layer).Map(l => l.ClassName).IfNone("layer");

    /// <summary>Records a refusal of <paramref name="op"/>, and the converter setting that removes it, if one does.</summary>
    void Refuse(LegalOp op, string reason, NirFix? fix = null) => Refuse(op.Layer, reason, fix);

    void Refuse(string layer, string reason, NirFix? fix)
    {
        _errors.Add(Errors.NotExportable(Nir.FormatName, layer, ClassOf(layer), reason));
        if (fix is { } f) _fixes.Add(f);
        else _unfixable++;
    }

    /// <summary>Records a broken invariant of the network (a bug, not a refusal) and gives no value.</summary>
    Val? Broken(string message)
    {
        _errors.Add(Errors.Invariant("nir export", message));
        _unfixable++;
        return null;
    }

    string Unique(string wanted)
    {
        var chars = wanted.Select(c => char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_').ToArray();
        var name = chars.Length == 0 ? "node" : new string(chars);
        var candidate = name;
        for (var k = 1; !_names.Add(candidate); k++) candidate = $"{name}_{k}";
        return candidate;
    }

    string AddNode(string wanted, string type, Map<string, H5Value> fields, Map<string, H5Value> metadata)
    {
        var name = Unique(wanted);
        _nodes.Add((name, new NirNode(type, fields, metadata)));
        return name;
    }

    void Edge(string from, string to) => _edges.Add((from, to));

    static Map<string, H5Value> Fields(params (string, H5Value)[] f) => toMap(f);

    static H5Value Ints(params int[] v) => new H5Int64(Arr.create(v.Length), v.Select(x => (long)x).ToArr());
    static H5Value Int(long v) => H5Value.Scalar(v);
    static H5Value Floats(int[] shape, float[] v) => new H5Float32(shape.ToArr(), v.ToArr());
    static H5Value Filled(int[] shape, float v) => Floats(shape, Enumerable.Repeat(v, Shapes.Product(shape)).ToArray());

    Map<string, H5Value> Meta(LegalOp op, params (string, H5Value)[] more) =>
        toMap(new[] { ("keras_layer", H5Value.Text(Names.Printable(op.Layer))) }.Concat(more));   // HDF5 strings hold no NUL

    /// <summary>The NIR layout of a Keras value that NIR convolutions and pools expect: channels first.</summary>
    (int[] Shape, int[] Perm) Standard(Arr<int> keras)
    {
        var s = keras.ToArray();
        if (s.Length <= 1 || _channelsFirst) return (s, Enumerable.Range(0, Shapes.Product(s)).ToArray());
        var perm = RefKernels.LastToFirst(s.Length);
        return (perm.Select(p => s[p]).ToArray(), Shapes.TransposeIndex(s, perm));
    }

    bool IsStandard(Val v)
    {
        var (shape, perm) = Standard(v.KerasShape);
        return shape.SequenceEqual(v.NirShape) && perm.SequenceEqual(v.Perm);
    }

    /// <summary>
    /// Connects the terms of <paramref name="v"/> to <paramref name="target"/> (NIR sums a node's input edges) and
    /// returns the common scale the target must apply; terms with another scale first pass a Scale node.
    /// </summary>
    double ConnectAll(Val v, string target)
    {
        var common = v.Terms.Head.Scale;
        foreach (var t in v.Terms)
        {
            if (t.Scale == common) Edge(t.Node, target);
            else
            {
                var scale = AddNode(target + "_in", "Scale", Fields(("scale", Filled(v.NirShape, (float)(t.Scale / common)))),
                    toMap(new[] { ("purpose", H5Value.Text("relative weight of one input of a sum")) }));
                Edge(t.Node, scale);
                Edge(scale, target);
            }
        }
        return common;
    }

    Val? Input(LegalOp op, int i = 0) => _vals.TryGetValue(op.Inputs[i], out var v) ? v : null;

    // ------------------------------------------------------------------ checks on the whole network

    void CheckSynapses()
    {
        var filtered = _net.Connections.Filter(c => c.Synapse.IsSome).Map(c => c.Pre)
            .Concat(_net.Probes.Filter(p => p.Synapse.IsSome).Map(p => p.Target)).Distinct();
        foreach (var pre in filtered)
        {
            var layer = _netNodes.TryGetValue(pre, out var n) ? n.Layer : pre;
            Refuse(layer, "its spikes pass a lowpass synapse, which the export does not write; convert without --synapse", NirFix.NoSynapse);
        }
    }

    // ------------------------------------------------------------------ ops

    Val? Op(LegalOp op) => op switch
    {
        LInput i => InputNode(i),
        LDense d => Dense(d),
        LConv c => Conv(c),
        LPool p => Pool(p),
        LActivation a => Activation(a),
        LAffine a => Affine(a),
        LSum s => Sum(s),
        LReshape r => Reshape(r),
        LGather g => Gather(g),
        LConcat => Refused(op, "NIR has no concatenation primitive"),
        LFilter f => Refused(op, $"keras_spiking {f.Kind} filters are applied in the same step, which no NIR primitive expresses"),
        LFallback f => Refused(op, $"it has no native conversion ({f.Reason}) and runs as a fallback function node, which NIR cannot represent"),
        LCustom => Refused(op, "it is converted by a custom converter, which NIR cannot represent"),
        _ => Refused(op, $"no NIR mapping for {op.GetType().Name}"),
    };

    Val? Refused(LegalOp op, string reason, NirFix? fix = null)
    {
        Refuse(op, reason, fix);
        return null;
    }

    Val InputNode(LInput i)
    {
        var (shape, perm) = Standard(i.Shape);
        var name = AddNode(_legal.Inputs.Count == 1 ? "input" : $"input_{i.Index}", "Input", Fields(("shape", Ints(shape))),
            Meta(i, ("keras_shape", Ints(i.Shape.ToArray())), ("index", Int(i.Index))));
        return new Val(Seq1(new Term(name, 1)), i.Shape, shape, perm);
    }

    /// <summary>The ensemble a Dense/Conv is fused into (its only consumer is that activation), or None.</summary>
    Option<Ensemble> FusedInto(LegalOp linear)
    {
        if (_netNodes.ContainsKey(linear.Id)) return None;
        var ensemble = _legal.Ops.Find(o => o is LActivation && o.Inputs.Head == linear.Id)
            .Bind(a => _netNodes.TryGetValue(a.Id, out var n) && n is Ensemble e ? Some(e) : None);
        if (ensemble.IsNone) Broken($"'{linear.Id}' has no network node and feeds no ensemble");
        return ensemble;
    }

    /// <summary>A per-channel bias from a per-neuron one (channels-first flat order over <paramref name="nirShape"/>); all neurons of a channel must agree.</summary>
    static Option<float[]> PerChannel(float[] perNeuronNir, int[] nirShape)
    {
        var channels = nirShape[0];
        var inner = Shapes.Product(nirShape) / Math.Max(1, channels);
        var b = new float[channels];
        for (var c = 0; c < channels; c++)
        {
            b[c] = perNeuronNir[c * inner];
            for (var k = 1; k < inner; k++)
                if (BitConverter.SingleToInt32Bits(perNeuronNir[c * inner + k]) != BitConverter.SingleToInt32Bits(b[c])) return None;
        }
        return b;
    }

    static float[] ToNir(ReadOnlySpan<float> keras, int[] perm)
    {
        var r = new float[perm.Length];
        for (var i = 0; i < perm.Length; i++) r[i] = keras[perm[i]];
        return r;
    }

    Val? Dense(LDense d)
    {
        var v = Input(d);
        if (v is null) return null;
        var fused = FusedInto(d);
        var gain = fused.Map(e => (double)e.Gain).IfNone(1.0);
        var inSize = d.Kernel.Shape[0];
        var outSize = d.Kernel.Shape[1];
        if (v.KerasShape.Count > 1)
        {
            // Dense along the last axis of an image or sequence: a 1x1 convolution over channels.
            if (_channelsFirst || v.KerasShape.Count > 3)
                return Refused(d, $"a Dense layer on a {v.KerasShape.Count}-D input ({Shapes.Show(v.KerasShape)}) has no NIR equivalent here");
            if (!IsStandard(v)) return Refused(d, "its input is not in channels-first layout (a permutation cannot be folded into a convolution)");
            var rank = v.KerasShape.Count - 1;
            var ones = Enumerable.Repeat(1, rank).ToArr();
            var spec = new ConvSpec(v.KerasShape, outSize, ones, ones, ones, Padding.Valid, true, 1);
            var conv = ConvNode(d, v, spec, (o, ci, _) => d.Kernel[ci * outSize + o], fused, d.Bias);
            if (conv is null) return null;
            var (cs, cp) = Standard(d.Shape);
            return new Val(Seq1(new Term(conv, 1)), d.Shape, cs, cp, Current: fused.IsSome);
        }

        var target = Unique(d.Id);
        var common = ConnectAll(v, target);
        var factor = gain * common;
        var w = new float[outSize * inSize];
        for (var o = 0; o < outSize; o++)
            for (var i = 0; i < inSize; i++)
                w[o * inSize + i] = (float)(factor * d.Kernel[v.Perm[i] * outSize + o]);
        var bias = fused.Match(e => e.Bias.ToArray(), () => d.Bias.Map(b => b.ToArray()).IfNone(() => new float[outSize]));
        var hasBias = d.Bias.IsSome || bias.Any(b => b != 0f);
        var fields = hasBias
            ? Fields(("weight", Floats(new[] { outSize, inSize }, w)), ("bias", Floats(new[] { outSize }, bias)))
            : Fields(("weight", Floats(new[] { outSize, inSize }, w)));
        AddNodeNamed(target, hasBias ? "Affine" : "Linear", fields, Meta(d, ("weight_scale", H5Value.Scalar(factor))));
        return new Val(Seq1(new Term(target, 1)), d.Shape, new[] { outSize }, Enumerable.Range(0, outSize).ToArray(), Current: fused.IsSome);
    }

    Val? Conv(LConv c)
    {
        var v = Input(c);
        var rank = c.Spec.SpatialRank;
        if (rank > 2) return Refused(c, $"{rank}-D convolution has no NIR primitive (NIR has Conv1d and Conv2d)");
        if (v is null) return null;
        if (!IsStandard(v)) return Refused(c, "its input is not in channels-first layout (a permutation cannot be folded into a convolution)");
        var fused = FusedInto(c);
        var s = c.Spec;
        var cin = s.InChannels / s.Groups;
        var name = ConvNode(c, v, s, (o, ci, tap) => c.Kernel[(tap * cin + ci) * s.Filters + o], fused, c.Bias);
        if (name is null) return null;
        var (shape, perm) = Standard(c.Shape);
        return new Val(Seq1(new Term(name, 1)), c.Shape, shape, perm, Current: fused.IsSome);
    }

    /// <summary>
    /// A Conv1d/Conv2d node for <paramref name="s"/> with weight[o, ci, taps] = float32(gain × input scale × kernel(o, ci, tap)).
    /// TF's asymmetric 'same' padding (one more cell after) becomes symmetric padding with zero taps added to the
    /// kernel on the side that has less padding, which computes exactly the same outputs.
    /// </summary>
    string? ConvNode(LegalOp op, Val v, ConvSpec s, Func<int, int, int, float> kernel, Option<Ensemble> fused, Option<Tensor> layerBias)
    {
        var rank = s.SpatialRank;
        var cin = s.InChannels / s.Groups;
        var before = s.PadBefore.ToArray();
        var after = Enumerable.Range(0, rank).Select(d =>
            Math.Max(0, (s.OutSpatial[d] - 1) * s.Strides[d] + (s.Kernel[d] - 1) * s.Dilation[d] + 1 - s.InSpatial[d] - before[d])).ToArray();
        var pad = new int[rank];
        var lead = new int[rank];
        var size = new int[rank];
        for (var d = 0; d < rank; d++)
        {
            var diff = Math.Abs(after[d] - before[d]);
            if (diff % s.Dilation[d] != 0)
            {
                Refuse(op, $"asymmetric padding ({before[d]} before, {after[d]} after) with dilation {s.Dilation[d]} cannot be written as NIR's symmetric padding");
                return null;
            }
            pad[d] = Math.Max(before[d], after[d]);
            lead[d] = after[d] > before[d] ? diff / s.Dilation[d] : 0;
            size[d] = s.Kernel[d] + diff / s.Dilation[d];
            var nirOut = (s.InSpatial[d] + 2 * pad[d] - s.Dilation[d] * (size[d] - 1) - 1) / s.Strides[d] + 1;
            if (nirOut != s.OutSpatial[d])
            {
                Broken($"'{op.Id}': NIR output size {nirOut} != {s.OutSpatial[d]}");
                return null;
            }
        }
        if (rank == 2 && size[0] != size[1]) SquareKernel(s, size, lead, pad);

        // NIR 1.0's Conv nodes take their input channels from the weight (C_in / groups), so nir.read's type check
        // refuses a grouped convolution; up to MaxGroupedExpansion weights it is written ungrouped (groups 1, zero
        // weights between groups: the same outputs), above that grouped (correct NIR, read with type_check=False).
        var taps = Shapes.Product(size);
        var groups = s.Groups > 1 && (long)s.Filters * s.InChannels * taps <= Nir.MaxGroupedExpansion ? 1 : s.Groups;
        var perGroup = s.Filters / s.Groups;
        var wIn = s.InChannels / groups;

        var target = Unique(op.Id);
        var common = ConnectAll(v, target);
        var gain = fused.Map(e => (double)e.Gain).IfNone(1.0);
        var factor = gain * common;
        var weight = new float[s.Filters * wIn * taps];
        var coord = new int[rank];
        var kernelShape = s.Kernel.ToArray();
        var kernelStrides = Shapes.Strides(kernelShape);
        for (var o = 0; o < s.Filters; o++)
            for (var ci = 0; ci < cin; ci++)
                for (var t = 0; t < taps; t++)
                {
                    RefKernels.Unravel(t, size, coord);
                    var src = 0;
                    var inside = true;
                    for (var d = 0; d < rank; d++)
                    {
                        var k = coord[d] - lead[d];
                        if (k < 0 || k >= kernelShape[d]) inside = false;
                        src += k * kernelStrides[d];
                    }
                    // Ungrouped: input channel ci of group o / perGroup is column (o / perGroup)·cin + ci.
                    var column = groups == s.Groups ? ci : o / perGroup * cin + ci;
                    if (inside) weight[(o * wIn + column) * taps + t] = (float)(factor * kernel(o, ci, src));
                }

        var (outShape, outPerm) = Standard(s.OutputShape);
        float[] bias;
        if (fused.TryGet(out var e))
        {
            var perChannel = PerChannel(ToNir(e.Bias.Span, outPerm), outShape);
            if (perChannel.IsNone)
            {
                Refuse(op, "its neurons' biases differ within a channel, and a NIR convolution has one bias per channel");
                return null;
            }
            bias = perChannel.IfNone(System.Array.Empty<float>());
        }
        else bias = layerBias.Map(b => b.ToArray()).IfNone(() => new float[s.Filters]);

        var spatialIn = s.InSpatial.ToArray();
        var fields = rank == 1
            ? Fields(("input_shape", Int(spatialIn[0])), ("weight", Floats(new[] { s.Filters, wIn, size[0] }, weight)),
                ("stride", Int(s.Strides[0])), ("padding", Int(pad[0])), ("dilation", Int(s.Dilation[0])), ("groups", Int(groups)),
                ("bias", Floats(new[] { s.Filters }, bias)))
            : Fields(("input_shape", Ints(spatialIn)), ("weight", Floats(new[] { s.Filters, wIn }.Concat(size).ToArray(), weight)),
                ("stride", Ints(s.Strides.ToArray())), ("padding", Ints(pad)), ("dilation", Ints(s.Dilation.ToArray())), ("groups", Int(groups)),
                ("bias", Floats(new[] { s.Filters }, bias)));
        var name = AddNodeNamed(target, rank == 1 ? "Conv1d" : "Conv2d", fields, Meta(op, ("weight_scale", H5Value.Scalar(factor)),
            ("keras_kernel_size", Ints(kernelShape)), ("keras_pad_before", Ints(before)), ("keras_pad_after", Ints(after)),
            ("zero_taps_before", Ints(lead)), ("keras_groups", Int(s.Groups))));
        return name;
    }

    /// <summary>
    /// Makes a non-square 2-D kernel square with zero taps (and more padding on that side), where the output size stays
    /// the same: NIR 1.0's type inference (nir.read) takes the kernel size of both axes from the weight's third
    /// dimension, so a (1, 3) kernel would make nir.read refuse the file. Output position o reads input o·stride −
    /// pad + tap·dilation, so <c>a</c> zero taps in front with pad + a·dilation read the same cells; the square side (the
    /// longer side, or one more) and <c>a</c> are chosen so that NIR's output size is unchanged. Left as it is when no
    /// choice keeps it (still a correct file, which nir.read reads with type_check=False).
    /// </summary>
    static void SquareKernel(ConvSpec s, int[] size, int[] lead, int[] pad)
    {
        var max = Math.Max(size[0], size[1]);
        for (var k = max; k <= max + 1; k++)
        {
            var add = new int[2];
            var ok = true;
            for (var d = 0; d < 2 && ok; d++)
            {
                var diff = k - size[d];
                ok = false;
                // The zero taps split evenly, else (an odd number) one more behind or one more in front.
                foreach (var a in new[] { diff / 2, (diff + 1) / 2 }.Distinct())
                {
                    var p = pad[d] + a * s.Dilation[d];
                    var nirOut = (s.InSpatial[d] + 2 * p - s.Dilation[d] * (k - 1) - 1) / s.Strides[d] + 1;
                    if (nirOut == s.OutSpatial[d]) { add[d] = a; ok = true; break; }
                }
            }
            if (!ok) continue;
            for (var d = 0; d < 2; d++)
            {
                pad[d] += add[d] * s.Dilation[d];
                lead[d] += add[d];
                size[d] = k;
            }
            return;
        }
    }

    /// <summary>Adds a node under a name already reserved with <see cref="Unique"/>.</summary>
    string AddNodeNamed(string name, string type, Map<string, H5Value> fields, Map<string, H5Value> metadata)
    {
        _nodes.Add((name, new NirNode(type, fields, metadata)));
        return name;
    }

    Val? Pool(LPool p)
    {
        var s = p.Spec;
        var v = Input(p);
        var avg = s.Kind == PoolKind.Average
            || (_netNodes.TryGetValue(p.Id, out var node) && node is PassNode
                && _net.Connections.Exists(c => c.Post == p.Id && c.Transform is PoolT { Spec.Kind: PoolKind.Average }));
        if (!avg)
            return Refused(p, "NIR has no max-pooling primitive; convert with --max-pool avg to replace max pooling by average pooling (NengoDL's max_to_avg_pool)",
                NirFix.AveragePooling);
        if (s.SpatialRank > 2) return Refused(p, $"{s.SpatialRank}-D pooling has no NIR primitive");
        var after = Enumerable.Range(0, s.SpatialRank).Select(d =>
            Math.Max(0, (s.OutSpatial[d] - 1) * s.Strides[d] + s.Pool[d] - s.InSpatial[d] - s.PadBefore[d])).ToArray();
        if (s.PadBefore.Exists(x => x != 0) || after.Any(x => x != 0))
            return Refused(p, "average pooling over padded windows divides by the number of real cells, which NIR's AvgPool2d/SumPool2d cannot express");
        if (v is null) return null;
        if (!IsStandard(v)) return Refused(p, "its input is not in channels-first layout (a permutation cannot be folded into pooling)");
        var (shape, perm) = Standard(p.Shape);
        if (s.SpatialRank == 2)
        {
            var target = Unique(p.Id);
            var common = ConnectAll(v, target);
            AddNodeNamed(target, "AvgPool2d",
                Fields(("kernel_size", Ints(s.Pool.ToArray())), ("stride", Ints(s.Strides.ToArray())), ("padding", Ints(0, 0))),
                Meta(p, ("keras_pool_size", Ints(s.Pool.ToArray()))));
            return new Val(Seq1(new Term(target, common)), p.Shape, shape, perm);
        }
        // 1-D average pooling: a Conv1d whose kernel averages each channel (no grouped convolution, which NIR's type
        // inference does not handle).
        var c = s.Channels;
        var k = s.Pool[0];
        var spec = new ConvSpec(s.InputShape, c, s.Pool, s.Strides, Arr.create(1), Padding.Valid, !_channelsFirst, 1);
        var name = ConvNode(p, v, spec, (o, ci, _) => o == ci ? 1f / k : 0f, None, None);
        return name is null ? null : new Val(Seq1(new Term(name, 1)), p.Shape, shape, perm);
    }

    Val? Activation(LActivation a)
    {
        var v = Input(a);
        if (a.Act is SoftmaxAct)
        {
            if (!_legal.Outputs.Contains(a.Id)) return Refused(a, "softmax inside the network has no NIR primitive (only as a model output, applied by the readout)");
            return v is null ? null : v with { KerasShape = a.Shape, Softmax = true };
        }
        if (!_netNodes.TryGetValue(a.Id, out var n) || n is not Ensemble e) return Broken($"activation '{a.Id}' has no ensemble");
        // Every refusal of the neurons at once (scales and neuron type), so one new command line removes them all.
        var neuron = e.Neuron;
        var mapping = neuron.Nir;
        if (e.NeuronScale.IsSome)
            Refuse(a, "per-channel calibration scales are not exported to NIR yet; calibrate per layer (--per-layer)", NirFix.PerLayer);
        if (mapping.Case is string why)
            Refuse(a, why, neuron is IntegrateAndFire { NegativeSpikes: true } ? NirFix.IntegrateAndFire : null);
        if (mapping.Case is not NirNeuron nir || e.NeuronScale.IsSome) return null;
        if (v is null) return null;

        var name = Unique(a.Id);
        if (v.Current)
        {
            // Fused Dense/Conv: the producer already outputs J (gain and bias included).
            foreach (var t in v.Terms) Edge(t.Node, name);
        }
        else
        {
            if (e.Bias.Span.ToArray().Any(b => b != 0f))
                return Refused(a, "its neurons have a bias but no Dense/Conv before them to carry it (NIR neurons have no bias)");
            var k = 0;
            foreach (var t in v.Terms)
            {
                var factor = e.Gain * t.Scale;
                if (factor == 1.0) Edge(t.Node, name);
                else
                {
                    var scale = AddNode($"{name}_in{k}", "Scale", Fields(("scale", Filled(v.NirShape, (float)factor))),
                        toMap(new[] { ("purpose", H5Value.Text("gain x spike value of the input: the neurons' input current J")) }));
                    Edge(t.Node, scale);
                    Edge(scale, name);
                }
                k++;
            }
        }

        var shape = v.NirShape;
        var spikeValue = neuron.OutputAmplitude / _dt;   // float32, as the simulator computes it
        var meta = Meta(a,
            ("neuron", H5Value.Text(neuron.Name)), ("dt", H5Value.Scalar((double)_dt)), ("amplitude", H5Value.Scalar((double)neuron.OutputAmplitude)),
            ("spike_value", H5Value.Scalar(spikeValue)), ("gain", H5Value.Scalar((double)e.Gain)), ("reset", H5Value.Text(nir.Reset)),
            ("clip_current", Int(nir.ClipCurrent ? 1 : 0)), ("step", H5Value.Text(nir.Step)));
        if (e.InitialVoltage.TryGet(out var v0)) meta = meta.AddOrUpdate("v_initial", Floats(shape, ToNir(v0.Span, v.Perm)));
        meta = nir.Metadata.Fold(meta, (m, kv) => m.AddOrUpdate(kv.Key, H5Value.Scalar(kv.Value)));
        var fields = toMap(nir.Fields.Map(f => (f.Key, Filled(shape, f.Value))));
        AddNodeNamed(name, nir.Type, fields, meta);
        return new Val(Seq1(new Term(name, spikeValue)), a.Shape, shape, v.Perm);
    }

    /// <summary>y = x·scale[c] + shift[c] along the channel axis: a diagonal Affine (vectors) or a diagonal 1x1 convolution.</summary>
    Val? Affine(LAffine af)
    {
        var v = Input(af);
        if (v is null) return null;
        var rank = af.Shape.Count;
        if (rank == 1)
        {
            var n = af.Size;
            if (n > Nir.MaxDenseSide) return Refused(af, $"an elementwise affine over {n} values would need a {n}x{n} Affine matrix");
            var target = Unique(af.Id);
            var common = ConnectAll(v, target);
            var w = new float[n * n];
            var b = new float[n];
            for (var i = 0; i < n; i++)
            {
                w[i * n + i] = (float)(common * af.Scale[v.Perm[i]]);
                b[i] = af.Shift[v.Perm[i]];
            }
            AddNodeNamed(target, "Affine", Fields(("weight", Floats(new[] { n, n }, w)), ("bias", Floats(new[] { n }, b))),
                Meta(af, ("weight_scale", H5Value.Scalar(common))));
            return new Val(Seq1(new Term(target, 1)), af.Shape, v.NirShape, v.Perm);
        }
        var channelAxis = _channelsFirst ? 0 : rank - 1;
        if (af.Axis != channelAxis || rank > 3) return Refused(af, "an elementwise affine along a non-channel axis has no NIR equivalent");
        if (!IsStandard(v)) return Refused(af, "its input is not in channels-first layout");
        var c = af.Shape[channelAxis];
        var ones = Enumerable.Repeat(1, rank - 1).ToArr();
        var spec = new ConvSpec(af.Shape, c, ones, ones, ones, Padding.Valid, !_channelsFirst, 1);
        var name = ConvNode(af, v, spec, (o, ci, _) => o == ci ? af.Scale[o] : 0f, None, Some(af.Shift));
        if (name is null) return null;
        var (shape, perm) = Standard(af.Shape);
        return new Val(Seq1(new Term(name, 1)), af.Shape, shape, perm);
    }

    Val? Sum(LSum s)
    {
        var inputs = s.Inputs.Map(i => _vals.TryGetValue(i, out var v) ? v : null).ToList();
        if (inputs.Any(v => v is null)) return null;
        var first = inputs[0]!;
        if (inputs.Any(v => !v!.NirShape.SequenceEqual(first.NirShape) || !v.Perm.SequenceEqual(first.Perm)))
            return Refused(s, "its inputs are laid out differently in NIR (a permutation cannot be folded into a sum)");
        var terms = inputs.SelectMany((v, i) => v!.Terms.Map(t => t with { Scale = t.Scale * s.Weights[i] })).ToSeq().Strict();
        return new Val(terms, s.Shape, first.NirShape, first.Perm);
    }

    Val? Reshape(LReshape r)
    {
        var v = Input(r);
        if (v is null) return null;
        if (r.Shape.Count == 1)
        {
            if (v.NirShape.Length == 1) return v with { KerasShape = r.Shape };
            var target = Unique(r.Id);
            var common = ConnectAll(v, target);
            AddNodeNamed(target, "Flatten", Fields(("start_dim", Int(0)), ("end_dim", Int(-1)), ("input_type", Ints(v.NirShape))),
                Meta(r, ("note", H5Value.Text("flattens the channels-first tensor in C order; the next Dense's weight columns are permuted to Keras's channels-last order"))));
            return new Val(Seq1(new Term(target, common)), r.Shape, new[] { r.Size }, v.Perm);
        }
        var (shape, perm) = Standard(r.Shape);
        if (shape.SequenceEqual(v.NirShape) && perm.SequenceEqual(v.Perm)) return v with { KerasShape = r.Shape };
        return Refused(r, $"reshaping {Shapes.Show(v.KerasShape)} to {Shapes.Show(r.Shape)} needs a reshape, which NIR does not have (only Flatten)");
    }

    Val? Gather(LGather g)
    {
        var inSize = _legal.Op(g.Inputs.Head).Size;
        var index = g.Index.ToArray();
        var inverse = new int[inSize];
        System.Array.Fill(inverse, -1);
        var permutation = index.Length == inSize;
        for (var j = 0; permutation && j < index.Length; j++)
        {
            if (index[j] < 0 || index[j] >= inSize || inverse[index[j]] >= 0) permutation = false;
            else inverse[index[j]] = j;
        }
        if (!permutation)
            return Refused(g, g.Kind == "transposed-conv spread"
                ? "transposed convolution has no NIR primitive"
                : $"its index map ({g.Kind}) has no NIR primitive (NIR has no padding, cropping, upsampling or gather)");
        var v = Input(g);
        if (v is null) return null;
        // No data moves in NIR: NIR element i, which held input element Perm[i], is output element inverse[Perm[i]].
        var perm = v.Perm.Select(p => inverse[p]).ToArray();
        if (g.Shape.Count == 1 && v.NirShape.Length > 1)
        {
            var target = Unique(g.Id);
            var common = ConnectAll(v, target);
            AddNodeNamed(target, "Flatten", Fields(("start_dim", Int(0)), ("end_dim", Int(-1)), ("input_type", Ints(v.NirShape))), Meta(g));
            return new Val(Seq1(new Term(target, common)), g.Shape, new[] { g.Size }, perm);
        }
        return v with { KerasShape = g.Shape, Perm = perm };
    }

    // ------------------------------------------------------------------ outputs

    void Output(string id, string name)
    {
        if (!_vals.TryGetValue(id, out var v) || v is null) return;
        var op = _legal.Op(id);
        var (shape, perm) = Standard(v.KerasShape);
        var meta = Meta(op, ("keras_shape", Ints(v.KerasShape.ToArray())), ("softmax", Int(v.Softmax ? 1 : 0)),
            ("index", Int(_legal.Outputs.ToList().IndexOf(id))));
        if (v.Softmax) meta = meta.AddOrUpdate("note", H5Value.Text("the model applies softmax to this output in its readout (not part of the graph)"));
        if (shape.SequenceEqual(v.NirShape) && perm.SequenceEqual(v.Perm))
        {
            AddNodeNamed(name, "Output", Fields(("shape", Ints(shape))), meta);
            var common = ConnectAll(v, name);
            if (common != 1.0)
            {
                // Redirect through a Scale node so the output equals the network's output value.
                var edgesInto = _edges.Where(e => e.Item2 == name).ToList();
                _edges.RemoveAll(e => e.Item2 == name);
                var scale = AddNode(name + "_scale", "Scale", Fields(("scale", Filled(shape, (float)common))),
                    toMap(new[] { ("purpose", H5Value.Text("spike value: the output equals the converted network's output")) }));
                foreach (var e in edgesInto) Edge(e.Item1, scale);
                Edge(scale, name);
            }
            return;
        }
        // A permuted output (e.g. a flattened image that nothing consumes): a Linear permutation matrix restores
        // Keras's order; nothing better exists in NIR.
        var n = Shapes.Product(v.NirShape);
        if (n > Nir.MaxDenseSide)
        {
            Refuse(op, $"its output of {n} values is permuted in NIR and would need a {n}x{n} permutation matrix");
            return;
        }
        var source = v;
        if (v.NirShape.Length > 1)
        {
            var flat = Unique(name + "_flatten");
            var c0 = ConnectAll(v, flat);
            AddNodeNamed(flat, "Flatten", Fields(("start_dim", Int(0)), ("end_dim", Int(-1)), ("input_type", Ints(v.NirShape))), Meta(op));
            source = v with { Terms = Seq1(new Term(flat, c0)), NirShape = new[] { n } };
        }
        var lin = Unique(name + "_permute");
        var scaleIn = ConnectAll(source, lin);
        var w = new float[n * n];
        for (var i = 0; i < n; i++) w[source.Perm[i] * n + i] = (float)scaleIn;
        AddNodeNamed(lin, "Linear", Fields(("weight", Floats(new[] { n, n }, w))),
            Meta(op, ("purpose", H5Value.Text("permutation to Keras's flat order (channels last)")), ("weight_scale", H5Value.Scalar(scaleIn))));
        AddNodeNamed(name, "Output", Fields(("shape", Ints(n))), meta.AddOrUpdate("layout", H5Value.Text("keras flat order")));
        Edge(lin, name);
    }
}
