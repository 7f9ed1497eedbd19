using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Training;

/// <summary>
/// Options of <see cref="KerasWriteBack"/>: the <see cref="Legalize"/> options the network was converted with (the same
/// split_shared_weights, fallback, temporal and custom converters; default when null), and what to do with a bias that
/// training left untied within a channel: refuse (the default) or write the channel's mean (<see cref="AverageUntiedBiases"/>).
/// </summary>
public sealed record KerasWriteBackOptions(LegalizeOptions? Legalize = null, bool AverageUntiedBiases = false)
{
    public static readonly KerasWriteBackOptions Default = new();

    /// <summary>The memory the Keras file may take to read (<see cref="MemoryBudget"/>).</summary>
    public long MaxMemory { get; init; } = MemoryBudget.DefaultBytes;

    internal LegalizeOptions LegalizeOrDefault => Legalize ?? LegalizeOptions.Default;
}

/// <summary>
/// Writes a trained network's parameters back into the Keras model it was converted from (issue 19 item 3,
/// <c>snn fit --keras OUT</c>), by inverting, parameter by parameter, the maps the conversion applied, relative to the
/// network as converted (before training):
/// <list type="bullet">
/// <item><b>Kernels.</b> A Dense or Conv connection holds the layer's kernel in Keras layout (a depthwise kernel
/// [k…, C, M] as the grouped [k…, 1, C·M], same memory order); firing-rate scales and calibration act on the neurons'
/// gains, never on kernels. When legalize folded BatchNormalization (or another affine) into the layer, column c was
/// multiplied by the fold's scale s_c = γ_c/√(σ²_c+ε), so the Keras kernel is the trained one divided by s_c. The folded
/// BatchNormalization layer keeps its moving statistics and γ: the user's model keeps its structure and Keras computes
/// the trained network with it in inference mode. Values training left unchanged are written back as they were, bit for
/// bit (no division); a changed column whose s_c is 0 cannot be represented and is refused.</item>
/// <item><b>Biases.</b> The network holds each Keras bias per neuron: an ensemble's bias is o_i + g_i·b_c(i), with g_i its
/// gain times its per-neuron scale and o_i an offset calibration may have added (bias shift, bias correction); a constant
/// node holds b itself (g = 1). The channel's change Δ_c = (Bias_i − Bias⁰_i)/g_i must be the same for every neuron of
/// the channel (<see cref="BiasTying"/> keeps it so); when it is not (training moved the biases per neuron) the write-back
/// is refused, or with <see cref="KerasWriteBackOptions.AverageUntiedBiases"/> the mean over the channel is written
/// (the Keras model then computes a different function from the trained network). The Keras bias becomes b + Δ. With a
/// folded BatchNormalization, Δ lands after the normalization: it goes into the BatchNormalization's β (the folded
/// shift is β − s·μ, so β + Δ shifts it by Δ); when that layer has no β (center=False) it goes into the layer's bias as
/// Δ/s.</item>
/// <item><b>Unfolded BatchNormalization</b> (after an activation, say) becomes a per-element scale (s_c) and a constant
/// shift (t_c = β − s_c·μ). Both must stay tied per channel (<see cref="Ties"/> ties them; <see cref="BiasTying.Of"/>
/// cannot, as the network alone does not tell the normalized axis); the new values are γ' = γ + Δs·√(σ²+ε) and β' = β + Δt + μ·Δs.</item>
/// <item>Every other parameter (an Add/Average's weights, Rescaling's and Normalization's constants, ensembles without a
/// Keras bias) holds no trainable Keras weight: if training changed it, the write-back is refused naming it (freeze it).</item>
/// </list>
/// Every problem is reported at once.
/// </summary>
public static class KerasWriteBack
{
    /// <summary>
    /// The new Keras weights, keyed by layer (<see cref="KerasNode.Layer"/>) and variable, for <see cref="KerasWeightsWriter"/>.
    /// <paramref name="converted"/> is the network as converted from <paramref name="model"/> (calibrated or not, before
    /// training), <paramref name="trained"/> the same network with parameters changed by training. Every Keras variable
    /// that a changed parameter maps to is given, whole (the elements training left unchanged exactly as stored); the
    /// others are absent (the writer keeps them).
    /// </summary>
    public static Either<Error, Map<string, Map<string, Tensor>>> Weights(KerasWriteBackOptions options, KerasModel model, Network converted, Network trained, string label)
    {
        var same = SameStructure(converted, trained, label);
        if (!same.IsEmpty) return Errors.Many(same);
        return Legalize.Run(options.LegalizeOrDefault, model).ToEither().MapLeft(Errors.Many)
            .Bind(legal => new Plan(options, model, legal, converted, trained, label).Run());
    }

    /// <summary>
    /// The names of <paramref name="converted"/>'s parameters (<see cref="Parameter.Name"/>) whose changes
    /// <paramref name="model"/> can hold: Dense/Conv/depthwise/separable kernels, the biases of layers that have a bias (or a
    /// folded BatchNormalization with a beta) as <see cref="BiasTying"/> ties them, an unfolded BatchNormalization's scale
    /// (with gamma) and shift (with beta). A training run that must stay writable (<c>snn fit --keras</c>) trains only these
    /// and freezes the rest (the weights of an Add or Average, activation layers' zero biases, Rescaling's constants, a
    /// transposed convolution's reordered kernel).
    /// </summary>
    public static Either<Error, Set<string>> Writable(KerasWriteBackOptions options, KerasModel model, Network converted, string label) =>
        Legalize.Run(options.LegalizeOrDefault, model).ToEither().MapLeft(Errors.Many).Bind(legal =>
        {
            var plan = new Plan(options, model, legal, converted, converted, label);
            return plan.Run().Map(_ => toSet(plan.Writable));
        });

    /// <summary>
    /// <see cref="BiasTying.Of"/>, plus what only the model tells: each unfolded BatchNormalization's per-element scale
    /// (a <see cref="ScaleT"/> connection's weights) and shift (a constant node) tied per channel of its axis, with
    /// factor 1 (the network holds γ/√(σ²+ε) and β − μ·γ/√(σ²+ε) themselves). Training every parameter through these ties
    /// keeps the network writable into <paramref name="model"/> (see <see cref="Writable"/> for what else to freeze).
    /// </summary>
    public static Either<Error, Map<string, TiedBias>> Ties(KerasWriteBackOptions options, KerasModel model, Network converted) =>
        Legalize.Run(options.LegalizeOrDefault, model).ToEither().MapLeft(Errors.Many).Map(legal =>
        {
            var ties = BiasTying.Of(converted);
            var ones = (int n) => Tensor.Filled(new[] { n }, 1f);
            foreach (var a in legal.Ops.OfType<LAffine>())
            {
                if (!model.Nodes.Exists(n => n.Layer == a.Layer && n.ClassName == "BatchNormalization")) continue;
                var (scale, shift, channelOf) = AffineParts(converted, a);
                if (scale.TryGet(out var c) && c.Transform is ScaleT { Scale.Length: var length } st && length == a.Size)
                    ties = ties.AddOrUpdate(c.Id, BiasTying.Tied(c.Id, ParameterKind.Weights, channelOf, ones(a.Size), st.Scale));
                if (shift.TryGet(out var k) && converted.Nodes.Find(n => n.Id == k).Case is ConstNode { Size: var size } node && size == a.Size)
                    ties = ties.AddOrUpdate(k, BiasTying.Tied(k, ParameterKind.Constant, channelOf, ones(a.Size), node.Value));
            }
            return ties;
        });

    /// <summary>An unfolded affine's scale connection and shift constant in the network, and the channel of each element.</summary>
    static (Option<Connection> Scale, Option<string> Shift, int[] ChannelOf) AffineParts(Network net, LAffine a)
    {
        var scale = net.Connections.Find(c => c.Post == a.Id && c.Transform is ScaleT);
        var shift = net.Connections.Find(c => c.Post == a.Id && net.Nodes.Exists(n => n.Id == c.Pre && n is ConstNode)).Map(c => c.Pre);
        var size = a.Shape[a.Axis];
        var inner = a.Shape.Skip(a.Axis + 1).Aggregate(1, (p, d) => p * d);
        return (scale, shift, Enumerable.Range(0, a.Size).Select(i => i / inner % size).ToArray());
    }

    /// <summary>
    /// Reads the Keras model at <paramref name="modelPath"/>, computes <see cref="Weights"/> and writes the model with them
    /// to <paramref name="outPath"/> (<see cref="KerasWeightsWriter.Write"/>: .keras, or .h5/.hdf5, as the source is; TF.js
    /// is refused).
    /// </summary>
    public static Either<Error, Unit> Write(KerasWriteBackOptions options, string modelPath, string outPath, Network converted, Network trained) =>
        from read in ModelFile.ImportWithSource(modelPath, options.MaxMemory)
        // The writer's refusal of formats it cannot write (TF.js) comes first, before any mapping problem.
        from _ in read.Source.Format == "tfjs" ? KerasWeightsWriter.Write(outPath, read.Source, Map<string, Map<string, Tensor>>(), modelPath, options.MaxMemory) : unit
        from weights in Weights(options, read.Model, converted, trained, modelPath)
        from written in KerasWeightsWriter.Write(outPath, read.Source, weights, modelPath, options.MaxMemory)
        select written;

    /// <summary>The problems that make <paramref name="trained"/> not the same network as <paramref name="converted"/> with other parameters.</summary>
    static Seq<Error> SameStructure(Network converted, Network trained, string label)
    {
        var problems = new List<Error>();
        Error Bad(string m) => Errors.WriteBack(label, $"the trained network is not the converted one with new parameters: {m}");
        if (converted.Nodes.Count != trained.Nodes.Count || converted.Connections.Count != trained.Connections.Count)
            return Seq1(Bad($"it has {trained.Nodes.Count} objects and {trained.Connections.Count} connections, the converted network {converted.Nodes.Count} and {converted.Connections.Count}"));
        foreach (var (a, b) in converted.Nodes.Zip(trained.Nodes))
        {
            var same = (a, b) switch
            {
                (Ensemble x, Ensemble y) => x.Id == y.Id && x.Size == y.Size && x.Neuron == y.Neuron && x.Gain.Equals(y.Gain) &&
                                            x.NeuronScale.Match(r => y.NeuronScale.Exists(s => Bits(r, s)), () => y.NeuronScale.IsNone),
                _ => a.GetType() == b.GetType() && a.Id == b.Id && a.Size == b.Size,
            };
            if (!same) problems.Add(Bad($"object '{Names.Printable(a.Id)}' differs in more than its parameters (type, size, neuron type, gain or per-neuron scale)"));
        }
        foreach (var (a, b) in converted.Connections.Zip(trained.Connections))
            if (a.Id != b.Id || a.Pre != b.Pre || a.Post != b.Post || a.Transform.GetType() != b.Transform.GetType() ||
                a.Transform.InSize != b.Transform.InSize || a.Transform.OutSize != b.Transform.OutSize)
                problems.Add(Bad($"connection '{Names.Printable(a.Id)}' differs in more than its weights"));
        return problems.ToSeq().Strict();
    }

    static bool Bits(Tensor a, Tensor b)
    {
        if (a.Length != b.Length) return false;
        var x = a.Span;
        var y = b.Span;
        for (var i = 0; i < x.Length; i++)
            if (BitConverter.SingleToInt32Bits(x[i]) != BitConverter.SingleToInt32Bits(y[i])) return false;
        return true;
    }

    /// <summary>One write-back: collects the new Keras values and every problem.</summary>
    sealed class Plan(KerasWriteBackOptions options, KerasModel model, LegalGraph legal, Network converted, Network trained, string label)
    {
        readonly Dictionary<string, Tensor> before = NetworkParameters.Read(converted, false).ToDictionary(p => p.Name, p => p.Value);
        readonly Dictionary<string, Tensor> after = NetworkParameters.Read(trained, false).ToDictionary(p => p.Name, p => p.Value);
        readonly System.Collections.Generic.HashSet<string> claimed = new();

        /// <summary>The parameters whose changes this model can hold (found while running).</summary>
        public readonly System.Collections.Generic.HashSet<string> Writable = new();
        readonly List<Error> problems = new();
        // (layer, variable) -> the values its uses give, with the parameter each comes from.
        readonly Dictionary<(string Layer, string Variable), List<(Tensor Value, string From)>> values = new();
        readonly Dictionary<string, NetNode> nodes = converted.Nodes.ToDictionary(n => n.Id);

        void Problem(string m) => problems.Add(Errors.WriteBack(label, m));

        bool Changed(string name) => !Bits(before[name], after[name]);

        static string P(string s) => Names.Printable(s);

        public Either<Error, Map<string, Map<string, Tensor>>> Run()
        {
            foreach (var op in legal.Ops)
            {
                switch (op)
                {
                    case LDense d: Linear(op, d.Kernel, d.Bias, d.Folded); break;
                    case LConv c: Linear(op, c.Kernel, c.Bias, c.Folded); break;
                    case LAffine a: Affine(a); break;
                }
            }
            foreach (var name in before.Keys.Where(n => !claimed.Contains(n) && Changed(n)))
                Problem($"training changed parameter '{P(name)}' (of layer '{P(LayerOf(name))}'), which holds no trainable Keras weight " +
                        "(the weights of an Add or Average, Rescaling's or Normalization's constants, the bias of an activation layer); freeze it to write the model back");
            var result = new Dictionary<string, Map<string, Tensor>>();
            foreach (var ((layer, variable), uses) in values)
            {
                var first = uses[0];
                var other = uses.Skip(1).FirstOrDefault(u => !Bits(u.Value, first.Value));
                if (other.Value is not null)
                {
                    Problem($"layer '{P(layer)}' is shared, and training gave its '{P(variable)}' different values in '{P(first.From)}' and '{P(other.From)}'");
                    continue;
                }
                result[layer] = (result.TryGetValue(layer, out var m) ? m : Map<string, Tensor>()).AddOrUpdate(variable, first.Value);
            }
            if (problems.Count > 0) return Errors.Many(problems.ToSeq().Strict());
            return toMap(result.Select(kv => (kv.Key, kv.Value)));
        }

        string LayerOf(string parameter) =>
            nodes.TryGetValue(parameter, out var n) ? n.Layer
            : converted.Connections.Find(c => c.Id == parameter).Map(c => nodes[c.Post].Layer).IfNone(parameter);

        void Add(string layer, string variable, Tensor value, string from)
        {
            if (!values.TryGetValue((layer, variable), out var list)) values[(layer, variable)] = list = new();
            list.Add((value, from));
        }

        Option<KerasNode> NodeOf(string layer) => model.Nodes.Find(n => n.Layer == layer && !n.Weights.IsEmpty);

        /// <summary>The Keras variable holding a Dense or Conv op's kernel (None: a layer whose kernel the conversion reorders).</summary>
        static Option<string> KernelVariable(KerasNode n, LegalOp op) => n.ClassName switch
        {
            "Dense" or "Conv1D" or "Conv2D" or "Conv3D" => "kernel",
            "DepthwiseConv1D" or "DepthwiseConv2D" => "depthwise_kernel",
            "SeparableConv1D" or "SeparableConv2D" => op.Id.EndsWith(":depthwise", StringComparison.Ordinal) ? "depthwise_kernel" : "pointwise_kernel",
            _ => None,
        };

        void Linear(LegalOp op, Tensor kernel, Option<Tensor> bias, Seq<FoldedAffine> folded)
        {
            // The object holding the op's value: a passthrough node of the op's id, or the ensemble of the activation it fused with.
            var posts = legal.Ops.Filter(o => o is LActivation && o.Inputs.Head == op.Id).Map(o => o.Id).Add(op.Id).ToHashSet();
            var feeds = converted.Connections.Filter(c => posts.Contains(c.Post) && c.Transform is DenseT or ConvT).ToList();
            if (feeds.Count != 1 || !NetworkParameters.Weights(feeds[0].Transform).Exists(k => Bits(k, kernel)))
            {
                Problem($"the network does not hold layer '{P(op.Layer)}' as converted from this model (convert the model with the same options, and give the network as converted, before training)");
                return;
            }
            var conn = feeds[0];
            claimed.Add(conn.Id);
            if (!NodeOf(op.Layer).TryGet(out var node))
            {
                Problem($"the model has no layer '{P(op.Layer)}' with weights");
                return;
            }
            var channels = kernel.Shape[^1];
            // The product of the folded affines' scales per output channel (1 without folds).
            var scale = Enumerable.Range(0, channels).Select(c => folded.Fold(1f, (s, f) => s * f.Scale[c])).ToArray();
            var kernelVariable = KernelVariable(node, op).Bind(v => node.Weight(v).Filter(w => w.Length == kernel.Length).Map(w => (Name: v, Stored: w)));
            if (kernelVariable.IsSome) Writable.Add(conn.Id);
            if (Changed(conn.Id))
            {
                if (!kernelVariable.TryGet(out var variable))
                    Problem($"training changed the kernel of layer '{P(op.Layer)}' ({P(node.ClassName)}), whose kernel the conversion reorders; writing it back is not supported: freeze the layer");
                else Kernel(op.Layer, variable.Name, variable.Stored, before[conn.Id], after[conn.Id], scale, conn.Id);
            }

            var post = nodes[conn.Post];
            var holder = post switch
            {
                Ensemble e => Some((Name: e.Id, Factor: e.NeuronGains.IfNone(() => Tensor.Filled(new[] { e.Size }, e.Gain)))),
                _ => converted.Connections.Find(c => c.Post == post.Id && nodes[c.Pre] is ConstNode && c.Transform is Compiler.Convert.IdentityT)
                    .Map(c => (Name: c.Pre, Factor: Tensor.Filled(new[] { post.Size }, 1f))),
            };
            if (!holder.TryGet(out var h)) return;
            claimed.Add(h.Name);
            var channelOf = Compiler.Calibrate.Calibrate.ChannelsOf(converted, post);
            // Where a change of the bias goes: the beta of the last folded BatchNormalization, else the layer's own bias.
            var last = folded.LastOrNone().Bind(f => NodeOf(f.Layer)).Filter(n => n.ClassName == "BatchNormalization");
            var beta = last.Bind(n => n.Weight("beta").Filter(b => b.Length == channels).Map(b => (n.Layer, Value: b)));
            var own = bias.IsSome ? node.Weight("bias").Filter(b => b.Length == channels) : None;
            if (channelOf.IsSome && (beta.IsSome || own.IsSome)) Writable.Add(h.Name);
            if (!Changed(h.Name)) return;
            if (!channelOf.TryGet(out var of))
            {
                Problem($"the bias of layer '{P(op.Layer)}' ('{P(h.Name)}') has no channel layout in the network");
                return;
            }
            if (!Delta($"the bias of layer '{P(op.Layer)}'", of, channels, h.Factor, before[h.Name], after[h.Name], out var delta)) return;
            if (beta.TryGet(out var bn)) Add(bn.Layer, "beta", Plus(bn.Value, delta, 1f), h.Name);
            else if (own.TryGet(out var b0))
            {
                if (Enumerable.Range(0, channels).Any(c => delta[c] != 0f && scale[c] == 0f))
                    Problem($"training changed the bias of layer '{P(op.Layer)}' in a channel that a folded normalization multiplies by 0");
                else Add(op.Layer, "bias", Tensor.Own(b0.Shape, b0.Span.ToArray().Select((b, c) => delta[c] == 0f ? b : b + delta[c] / scale[c]).ToArray()), h.Name);
            }
            else Problem($"training changed the bias of layer '{P(op.Layer)}' ({P(node.ClassName)}), which has none (use_bias=False) and no folded BatchNormalization with a beta to hold it; freeze '{P(h.Name)}'");
        }

        /// <summary>The Keras kernel: the stored value where training left the network's unchanged, else the trained value ÷ the folded scale.</summary>
        void Kernel(string layer, string variable, Tensor stored, Tensor was, Tensor now, float[] scale, string from)
        {
            var w = stored.ToArray();
            var n = scale.Length;
            var zero = false;
            for (var j = 0; j < w.Length; j++)
            {
                if (BitConverter.SingleToInt32Bits(was[j]) == BitConverter.SingleToInt32Bits(now[j])) continue;
                if (scale[j % n] == 0f) zero = true;
                else w[j] = scale[j % n] == 1f ? now[j] : now[j] / scale[j % n];
            }
            if (zero) Problem($"training changed the kernel of layer '{P(layer)}' in a channel that a folded normalization multiplies by 0");
            else Add(layer, variable, Tensor.Own(stored.Shape, w), from);
        }

        /// <summary>An unfolded BatchNormalization: a per-element scale connection and a constant shift, tied per channel.</summary>
        void Affine(LAffine a)
        {
            var (scaleConn, shiftNode, channelOf) = AffineParts(converted, a);
            scaleConn.IfSome(c => claimed.Add(c.Id));
            shiftNode.IfSome(k => claimed.Add(k));
            var bn = NodeOf(a.Layer).Filter(n => n.ClassName == "BatchNormalization");
            if (bn.Exists(n => n.Weight("beta").IsSome)) shiftNode.IfSome(k => Writable.Add(k));
            if (bn.Exists(n => n.Weight("gamma").IsSome && (n.Weight("beta").IsSome || n.Weight("moving_mean").ForAll(m => m.Span.ToArray().All(v => v == 0f)))))
                scaleConn.IfSome(c => Writable.Add(c.Id));
            var scaleChanged = scaleConn.Exists(c => Changed(c.Id));
            var shiftChanged = shiftNode.Exists(Changed);
            if (!scaleChanged && !shiftChanged) return;
            var what = $"layer '{P(a.Layer)}'";
            if (!bn.TryGet(out var node))
            {
                Problem($"training changed the constants of {what}, which are not trainable Keras weights; freeze it");
                return;
            }
            var size = a.Shape[a.Axis];
            var ones = Tensor.Filled(new[] { a.Size }, 1f);
            var ds = new float[size];
            if (scaleChanged && scaleConn.TryGet(out var sc))
            {
                if (!Delta($"the scale of {what}", channelOf, size, ones, before[sc.Id], after[sc.Id], out ds)) return;
                if (!node.Weight("gamma").TryGet(out var gamma))
                {
                    Problem($"training changed the scale of {what}, which has no gamma (scale=False); freeze it");
                    return;
                }
                var eps = (float)node.Config.Number("epsilon").IfNone(1e-3);
                var variance = node.Weight("moving_variance").IfNone(() => Tensor.Filled(new[] { size }, 1f));
                Add(a.Layer, "gamma", Tensor.Own(gamma.Shape, gamma.Span.ToArray().Select((g, c) => ds[c] == 0f ? g : g + ds[c] * MathF.Sqrt(variance[c] + eps)).ToArray()), sc.Id);
            }
            var dt = new float[size];
            if (shiftChanged && shiftNode.TryGet(out var k) &&
                !Delta($"the shift of {what}", channelOf, size, ones, before[k], after[k], out dt)) return;
            var mean = node.Weight("moving_mean").IfNone(() => Tensor.Filled(new[] { size }, 0f));
            var dBeta = Enumerable.Range(0, size).Select(c => dt[c] + mean[c] * ds[c]).ToArray();
            if (dBeta.All(v => v == 0f)) return;
            if (!node.Weight("beta").TryGet(out var beta))
                Problem($"training changed the shift of {what}, which has no beta (center=False); freeze it");
            else Add(a.Layer, "beta", Plus(beta, dBeta, 1f), shiftNode.IfNone(a.Id));
        }

        static Tensor Plus(Tensor t, float[] delta, float divide) =>
            Tensor.Own(t.Shape, t.Span.ToArray().Select((v, c) => delta[c] == 0f ? v : v + delta[c] / divide).ToArray());

        /// <summary>
        /// Per channel, the change Δ_c = (now_i − was_i)/factor_i, which must be the same for every element i of the channel
        /// (up to float32 rounding of the per-element values); else a problem, or the mean with AverageUntiedBiases.
        /// </summary>
        bool Delta(string what, int[] channelOf, int channels, Tensor factor, Tensor was, Tensor now, out float[] delta)
        {
            var sum = new double[channels];
            var count = new int[channels];
            var d = new double[channelOf.Length];
            var tolerance = new double[channelOf.Length];
            for (var i = 0; i < channelOf.Length; i++)
            {
                d[i] = ((double)now[i] - was[i]) / factor[i];
                // Each per-element value is a float32 rounding of o_i + g_i·b: a few units in its last place, in Keras units.
                tolerance[i] = 4e-6 * (Math.Abs((double)now[i]) + Math.Abs((double)was[i])) / Math.Abs((double)factor[i]);
                sum[channelOf[i]] += d[i];
                count[channelOf[i]]++;
            }
            var mean = Enumerable.Range(0, channels).Select(c => count[c] == 0 ? 0.0 : sum[c] / count[c]).ToArray();
            var worst = (Channel: -1, Spread: 0.0);
            for (var i = 0; i < channelOf.Length; i++)
            {
                var off = Math.Abs(d[i] - mean[channelOf[i]]);
                if (off > tolerance[i] + 1e-6 * Math.Abs(mean[channelOf[i]]) && off > worst.Spread) worst = (channelOf[i], off);
            }
            delta = mean.Select(m => (float)m).ToArray();
            // A channel training left unchanged stays exactly as stored.
            for (var c = 0; c < channels; c++)
                if (Enumerable.Range(0, channelOf.Length).All(i => channelOf[i] != c || d[i] == 0)) delta[c] = 0f;
            if (worst.Channel < 0 || options.AverageUntiedBiases) return true;
            Problem($"{what} is not tied per channel: training moved the neurons of channel {worst.Channel} by amounts up to {worst.Spread:G3} apart " +
                    "(in Keras units), and Keras holds one value per channel; train with the biases tied (BiasTying), or write the channel means (AverageUntiedBiases)");
            return false;
        }
    }
}
