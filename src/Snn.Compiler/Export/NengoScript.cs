using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Export;

/// <summary>
/// What the generated script says about itself and how it runs by default.
/// <see cref="Steps"/> and <see cref="Readout"/> (last, mean, mean:K or count) are the defaults of its command line;
/// <see cref="InputScale"/> multiplies every input value (e.g. 1/255 for uint8 images); <see cref="Command"/> is the
/// snn command line that produced it (for the docstring).
/// </summary>
public sealed record NengoScriptOptions(
    string ModelName, string Mode, int Steps, string Readout, Option<float> InputScale, bool Temporal, string Command, string Producer);

/// <summary>One array of <c>weights.npz</c>: float32 values, or int32 values (<see cref="Ints"/>), in C order.</summary>
public sealed record NengoArray(string Name, int[] Shape, float[]? Floats, int[]? Ints = null);

/// <summary>
/// The exported network: the Python source of <c>model.py</c>, the arrays of <c>weights.npz</c> it loads,
/// and warnings for the user (objects that are not hardware-native).
/// </summary>
public sealed record NengoExport(string Script, Seq<NengoArray> Arrays, Seq<string> Warnings);

/// <summary>
/// Writes a converted <see cref="Network"/> as a plain Python script that builds the same network with the
/// <c>nengo</c> package (3.1 to 4.x) and runs it in <c>nengo.Simulator</c>, one input row at a time:
/// <list type="bullet">
/// <item>input nodes → <c>nengo.Node</c> whose output is the current row (the same every step, or the row's
/// time slice for temporal models); passthrough and bias nodes → <c>nengo.Node(size_in=n)</c> and
/// <c>nengo.Node(value)</c>;</item>
/// <item>ensembles → <c>nengo.Ensemble(n, 1, neuron_type, gain=Choice([g]), bias=b)</c>, connected through
/// <c>.neurons</c> (Nengo multiplies what arrives by the gain), with the converted initial voltages as the neuron
/// type's <c>initial_state</c>; neuron types Nengo lacks are small <c>NeuronType</c> subclasses in the script;</item>
/// <item>transforms → none (identity), <c>nengo.Dense</c> (Dense on a vector, elementwise scales),
/// <c>nengo.Convolution</c> (1-D/2-D convolutions without dilation or groups, and Dense over the last axis as a
/// 1×1 convolution), <c>nengo.Sparse</c> (everything else that is linear: dilated, grouped or 3-D convolutions,
/// average pooling, index maps and concatenation);</item>
/// <item>max pooling → <c>nengo.Node</c> running the same rule in numpy (not hardware-native, with a warning);</item>
/// <item>probes → <c>nengo.Probe</c> with the probe synapse; softmax and the readout are applied in numpy.</item>
/// </list>
/// Function nodes (fallback layers, custom converters) run C# code and are refused, all listed in one error;
/// any other object, neuron or transform type this generator does not know is refused with "cannot export".
/// </summary>
public static class NengoScript
{
    public const string Format = "Nengo";

    public static Either<Error, NengoExport> Generate(NengoScriptOptions options, Network net)
    {
        var functions = net.Nodes.OfType<FunctionNode>().Map(f => Errors.UnsupportedLayer(f.Layer, "FunctionNode",
            $"it runs C# code ({f.Function.Name}) in a function node, which cannot be exported to {Format}")).ToSeq();
        if (!functions.IsEmpty) return Errors.Many(functions);
        var g = new Gen(options, net);
        g.Build();
        if (g.Errors.Count > 0) return Errors.Many(g.Errors.ToSeq());
        return new NengoExport(g.Script(), g.Arrays.ToSeq(), g.Warnings.ToSeq());
    }

    // ------------------------------------------------------------------ the generator

    sealed class Gen(NengoScriptOptions options, Network net)
    {
        public readonly List<Error> Errors = new();
        public readonly List<NengoArray> Arrays = new();
        public readonly List<string> Warnings = new();
        readonly StringBuilder body = new();
        readonly System.Collections.Generic.HashSet<string> helpers = new();   // Python classes the script needs
        readonly List<string> nonNative = new();
        readonly List<int> probeLag = new();
        int neurons;

        string Array(string name, Tensor t) => Array(name, t.Shape.ToArray(), t.ToArray());

        string Array(string name, int[] shape, float[] values)
        {
            Arrays.Add(new NengoArray(name, shape, values));
            return $"w[{Py(name)}]";
        }

        string IntArray(string name, int[] shape, int[] values)
        {
            Arrays.Add(new NengoArray(name, shape, null, values));
            return $"w[{Py(name)}]";
        }

        void Line(string s) => body.Append("        ").Append(s).Append('\n');

        void Fail(string what, string why) =>
            Errors.Add(Snn.Errors.Unexportable(Format, what, why));

        public void Build()
        {
            foreach (var node in net.Nodes) Object(node);
            foreach (var c in net.Connections) Connect(c);
            Line("probes = [");
            foreach (var p in net.Probes.OrderBy(p => p.Output))
            {
                var target = net.Node(p.Target);
                probeLag.Add(p.Synapse.IsSome ? 1 : 0);
                var note = $"output {p.Output}: {target.Layer}, shape {Shapes.Show(p.Shape)}" + (p.Softmax ? ", softmax applied in the readout" : "");
                Line($"    nengo.Probe(obj[{Py(p.Target)}], synapse={Synapse(p.Synapse)}),  # {Comment(note)}");
            }
            Line("]");
        }

        // ---------------------------------------------------------------- objects

        void Object(NetNode node)
        {
            var id = Py(node.Id);
            switch (node)
            {
                case InputNode i:
                    Line($"# {Comment(node.Layer)}: model input {i.Index}, shape {Shapes.Show(i.Shape)}");
                    Line($"obj[{id}] = nengo.Node(feeds[{i.Index}], size_out={i.Size}, label={id})");
                    break;
                case PassNode:
                    Line($"obj[{id}] = nengo.Node(size_in={node.Size}, label={id})  # {Comment(node.Layer)}");
                    break;
                case ConstNode k:
                    Line($"obj[{id}] = nengo.Node({Array(node.Id + ".value", k.Value.Reshape(k.Value.Length))}, label={id})  # {Comment(node.Layer)}: bias");
                    break;
                case Ensemble e:
                    EnsembleObject(e);
                    break;
                case MaxPoolNode m:
                    MaxPoolObject(m);
                    break;
                case FilterNode f:
                {
                    // keras_spiking Lowpass/Alpha applied in the same step: a Nengo synapse would run one step late.
                    helpers.Add("SameStepFilter");
                    var what = $"keras_spiking {f.Kind} filter applied in the same step (a Nengo synapse would delay it one step)";
                    NonNative(f.Layer, what);
                    var coefficients = Snn.Compiler.Lower.Lower.FilterCoefficients(f, net.Dt);
                    Line($"# {Comment(f.Layer)}: {what}; NOT hardware-native (a Python nengo.Node)");
                    Line($"stateful.append(SameStepFilter({Array(f.Id + ".coefficients", coefficients)}, {Array(f.Id + ".initial_level", f.InitialLevel.Reshape(f.Size))}, alpha={(f.Kind == FilterKind.Alpha ? "True" : "False")}))");
                    Line($"obj[{id}] = nengo.Node(stateful[-1], size_in={f.Size}, size_out={f.Size}, label={id})");
                    break;
                }
                default:
                    Fail($"network object {node.GetType().Name} ('{node.Id}', layer '{node.Layer}')", "the Nengo exporter has no mapping for it");
                    break;
            }
        }

        void EnsembleObject(Ensemble e)
        {
            var neuron = NeuronType(e);
            if (neuron is null) return;
            neurons += e.Size;
            var id = Py(e.Id);
            Line($"# {Comment(e.Layer)}: {e.Size} {e.Neuron.Name} neurons, J = bias + gain * input");
            Line($"ens[{id}] = nengo.Ensemble(");
            Line($"    {e.Size}, 1, label={id}, neuron_type={neuron},");
            var gain = e.NeuronGains.Match(r => Array(e.Id + ".gain", r.Reshape(e.Size)), () => $"nengo.dists.Choice([{Num(e.Gain)}])");
            Line($"    gain={gain}, bias={Array(e.Id + ".bias", e.Bias.Reshape(e.Size))})");
            if (e.OutputScale.TryGet(out var unscale))
            {
                // Per-channel calibration: what leaves the ensemble is each neuron's output divided by its scale.
                var diagonal = Enumerable.Range(0, e.Size).ToList();
                Line($"obj[{id}] = nengo.Node(size_in={e.Size}, label={Py(e.Id + ":unscaled")})  # per-neuron output scale");
                Line($"nengo.Connection(ens[{id}].neurons, obj[{id}], synapse=None,");
                Line($"                 transform={Sparse(e.Id + ".unscale", e.Size, e.Size, diagonal, diagonal, unscale.Span.ToArray().ToList())})");
            }
            else Line($"obj[{id}] = ens[{id}].neurons");
        }

        /// <summary>The Python expression of the ensemble's neuron type, or null (after recording why) if there is none.</summary>
        string? NeuronType(Ensemble e)
        {
            string Voltage()
            {
                var v0 = e.InitialVoltage.IfNone(() => Tensor.Filled(new[] { e.Size }, 0f));
                return $"initial_state={{\"voltage\": {Array(e.Id + ".initial_voltage", v0.Reshape(e.Size))}}}";
            }
            string Slope(Tensor slope) =>
                slope.Length == 1 ? $"[{Num(slope[0])}]" : Array(e.Id + ".slope", slope.Reshape(slope.Length));
            switch (e.Neuron)
            {
                case RectifiedLinear r:
                    return $"nengo.RectifiedLinear(amplitude={Num(r.Amplitude)})";
                case SpikingRectifiedLinear { ResetToZero: false } s:
                    return $"nengo.SpikingRectifiedLinear(amplitude={Num(s.Amplitude)}, {Voltage()})";
                case SpikingRectifiedLinear s:
                    helpers.Add("SnnIntegrateAndFire");
                    return $"SnnIntegrateAndFire(amplitude={Num(s.Amplitude)}, clip_current=True, reset_to_zero=True, {Voltage()})";
                case IntegrateAndFire { NegativeSpikes: true } f:
                    helpers.Add("SnnIntegrateAndFire");
                    helpers.Add("SnnSignedIntegrateAndFire");
                    return $"SnnSignedIntegrateAndFire(amplitude={Num(f.Amplitude)}, {Voltage()})";
                case IntegrateAndFire f:
                    helpers.Add("SnnIntegrateAndFire");
                    return $"SnnIntegrateAndFire(amplitude={Num(f.Amplitude)}, clip_current=False, reset_to_zero={(f.ResetToZero ? "True" : "False")}, {Voltage()})";
                case LifRate l:
                    return $"nengo.LIFRate(tau_rc={Num(l.TauRc)}, tau_ref={Num(l.TauRef)}, amplitude={Num(l.Amplitude)})";
                case Lif l:
                    return $"nengo.LIF(tau_rc={Num(l.TauRc)}, tau_ref={Num(l.TauRef)}, min_voltage={Num(l.MinVoltage)}, amplitude={Num(l.Amplitude)}, {Voltage()})";
                case Sigmoid s:
                    return $"nengo.Sigmoid(tau_ref={Num(s.TauRef)})";
                case Tanh t:
                    return $"nengo.Tanh(tau_ref={Num(t.TauRef)})";
                case LeakyRectifiedLinear l:
                    helpers.Add("SnnLeakyReLU");
                    return $"SnnLeakyReLU(slope={Slope(l.Slope)}, threshold={Num(l.Threshold)}, max_value={Num(l.MaxValue)}, amplitude={Num(l.Amplitude)})";
                case SpikingLeakyRectifiedLinear l:
                    helpers.Add("SnnLeakyReLU");
                    helpers.Add("SnnSpikingLeakyReLU");
                    return $"SnnSpikingLeakyReLU(slope={Slope(l.Slope)}, threshold={Num(l.Threshold)}, max_value={Num(l.MaxValue)}, amplitude={Num(l.Amplitude)}, {Voltage()})";
                case RegularSpiking { Base: RectifiedLinear or Sigmoid or Tanh } rs:
                {
                    var baseType = rs.Base switch
                    {
                        RectifiedLinear r => $"nengo.RectifiedLinear(amplitude={Num(r.Amplitude)})",
                        Sigmoid sg => $"nengo.Sigmoid(tau_ref={Num(sg.TauRef)})",
                        Tanh th => $"nengo.Tanh(tau_ref={Num(th.TauRef)})",
                        _ => throw new InvalidOperationException(),
                    };
                    return $"nengo.RegularSpiking({baseType}, amplitude={Num(rs.Amplitude)}, {Voltage()})";
                }
                default:
                    Fail($"neuron type {e.Neuron.Name} (layer '{e.Layer}')", "the Nengo exporter has no mapping for it");
                    return null;
            }
        }

        void MaxPoolObject(MaxPoolNode m)
        {
            var (cls, what) = m.Method switch
            {
                MaxPoolMethod.Count => ("CountMaxPool", "count max pooling of spike trains (running max of spike counts)"),
                MaxPoolMethod.Gate => ("GateMaxPool", "gated max pooling of spike trains (the input with the most spikes so far)"),
                _ => ((string?)null, ""),
            };
            if (cls is null)
            {
                Fail($"max pooling method {m.Method} (layer '{m.Layer}')", "the Nengo exporter has no mapping for it");
                return;
            }
            helpers.Add(cls);
            var id = Py(m.Id);
            var windows = Windows(m.Id + ".windows", m.Spec);
            NonNative(m.Layer, what);
            Line($"# {Comment(m.Layer)}: {what}; NOT hardware-native (a Python nengo.Node)");
            Line($"stateful.append({cls}({windows}))");
            Line($"obj[{id}] = nengo.Node(stateful[-1], size_in={m.SizeIn}, size_out={m.Size}, label={id})");
        }

        void NonNative(string layer, string what)
        {
            nonNative.Add($"layer '{layer}': {what}");
            Warnings.Add($"layer '{layer}' ({what}) is exported as a nengo.Node running numpy code: it is not hardware-native " +
                         "(use --max-pool avg for a fully native network)");
        }

        /// <summary>The (outputs, window size) table of each pooling window's input indices, −1 for padding.</summary>
        string Windows(string name, PoolSpec spec)
        {
            var (offsets, indices) = spec.Windows();
            var outs = offsets.Length - 1;
            var width = Math.Max(1, Enumerable.Range(0, outs).Select(o => offsets[o + 1] - offsets[o]).DefaultIfEmpty(0).Max());
            var table = new int[outs * width];
            System.Array.Fill(table, -1);
            for (var o = 0; o < outs; o++)
                for (var k = offsets[o]; k < offsets[o + 1]; k++) table[o * width + k - offsets[o]] = indices[k];
            return IntArray(name, new[] { outs, width }, table);
        }

        // ---------------------------------------------------------------- connections

        void Connect(Connection c)
        {
            var pre = $"obj[{Py(c.Pre)}]";
            // Into an ensemble means into its neurons (obj[...] is what leaves it, which differs with a per-neuron scale).
            var post = net.Node(c.Post) is Ensemble ? $"ens[{Py(c.Post)}].neurons" : $"obj[{Py(c.Post)}]";
            var synapse = Synapse(c.Synapse);
            if (c.PostIndex.TryGet(out var postIndex))
            {
                // Scatter into the post object's input (concatenation): a sparse matrix of ones, composed with the
                // transform when that is an index map too.
                var gather = c.Transform switch
                {
                    Convert.IdentityT t => Some(Enumerable.Range(0, t.InSize).ToArray()),
                    GatherT g => Some(g.Index.ToArray()),
                    _ => None,
                };
                if (gather.IsNone)
                {
                    Fail($"connection '{c.Id}' ({c.Transform.GetType().Name} scattered into part of '{c.Post}')", "the Nengo exporter has no mapping for it");
                    return;
                }
                var index = gather.IfNone(System.Array.Empty<int>());
                var rows = new List<int>();
                var cols = new List<int>();
                for (var i = 0; i < index.Length; i++)
                    if (index[i] >= 0) { rows.Add(postIndex[i]); cols.Add(index[i]); }
                var size = net.Node(c.Post).SizeIn;
                Line($"nengo.Connection({pre}, {post}, synapse={synapse},  # {Comment($"into part of {c.Post}")}");
                Line($"                 transform={Sparse(c.Id, size, c.Transform.InSize, rows, cols, null)})");
                return;
            }
            switch (c.Transform)
            {
                case Convert.IdentityT:
                    Line($"nengo.Connection({pre}, {post}, synapse={synapse})");
                    return;
                case PoolT { Spec.Kind: PoolKind.Max } p:
                {
                    // No Nengo primitive computes a max: a stateless Python node does, between pre and post.
                    var layer = net.Node(c.Post).Layer;
                    helpers.Add("WindowMax");
                    var id = Py(c.Id + ":max");
                    var what = "max pooling (the window max of its input each step)";
                    NonNative(layer, what);
                    Line($"# {Comment(layer)}: {what}; NOT hardware-native (a Python nengo.Node)");
                    Line($"obj[{id}] = nengo.Node(WindowMax({Windows(c.Id + ".windows", p.Spec)}), size_in={p.InSize}, size_out={p.OutSize}, label={id})");
                    Line($"nengo.Connection({pre}, obj[{id}], synapse=None)");
                    Line($"nengo.Connection(obj[{id}], {post}, synapse={synapse})");
                    return;
                }
            }
            var transform = Transform(c);
            if (transform is null) return;
            Line($"nengo.Connection({pre}, {post}, synapse={synapse},");
            Line($"                 transform={transform})");
        }

        /// <summary>The Python expression of a connection's transform, or null (after recording why) if there is none.</summary>
        string? Transform(Connection c)
        {
            switch (c.Transform)
            {
                case ScaleT s:
                    return s.Scale.Length == 1
                        ? $"nengo.Dense(({s.Size}, {s.Size}), init={Num(s.Scale[0])})"
                        : $"nengo.Dense(({s.Size}, {s.Size}), init={Array(c.Id + ".scale", s.Scale.Reshape(s.Scale.Length))})";
                case DenseT { Rows: 1 } d:
                {
                    // Keras kernel (in, out) → Nengo's (out, in) matrix.
                    var (inSize, outSize) = (d.Kernel.Shape[0], d.Kernel.Shape[1]);
                    var w = new float[outSize * inSize];
                    for (var i = 0; i < inSize; i++)
                        for (var o = 0; o < outSize; o++) w[o * inSize + i] = d.Kernel[i * outSize + o];
                    return $"nengo.Dense(({outSize}, {inSize}), init={Array(c.Id + ".dense", new[] { outSize, inSize }, w)})";
                }
                case DenseT d:
                {
                    // Dense along the last axis of (rows, in): a 1-D convolution with kernel size 1.
                    var (inSize, outSize) = (d.Kernel.Shape[0], d.Kernel.Shape[1]);
                    var kernel = Array(c.Id + ".kernel", new[] { 1, inSize, outSize }, d.Kernel.ToArray());
                    return $"nengo.Convolution({outSize}, ({d.Rows}, {inSize}), kernel_size=(1,), strides=(1,), padding=\"valid\", channels_last=True, init={kernel})";
                }
                case ConvT cv when NativeConv(cv.Spec):
                {
                    var s = cv.Spec;
                    var kernel = Array(c.Id + ".kernel", s.KernelShape.ToArray(), cv.Kernel.ToArray());
                    return $"nengo.Convolution({s.Filters}, {Tuple(s.InputShape)}, kernel_size={Tuple(s.Kernel)}, strides={Tuple(s.Strides)}, " +
                           $"padding=\"{(s.Padding == Padding.Same ? "same" : "valid")}\", channels_last={(s.ChannelsLast ? "True" : "False")}, init={kernel})";
                }
                case ConvT cv:
                {
                    var (rows, cols, values) = ConvEntries(cv.Spec, cv.Kernel);
                    return Sparse(c.Id, cv.OutSize, cv.InSize, rows, cols, values);
                }
                case PoolT { Spec.Kind: PoolKind.Average } p:
                {
                    // The mean of each window's real cells (padding excluded, as TensorFlow does).
                    var (offsets, indices) = p.Spec.Windows();
                    var (rows, cols, values) = (new List<int>(), new List<int>(), new List<float>());
                    for (var o = 0; o + 1 < offsets.Length; o++)
                    {
                        var count = offsets[o + 1] - offsets[o];
                        for (var k = offsets[o]; k < offsets[o + 1]; k++) { rows.Add(o); cols.Add(indices[k]); values.Add(1f / count); }
                    }
                    return Sparse(c.Id, p.OutSize, p.InSize, rows, cols, values);
                }
                case GatherT g:
                {
                    var (rows, cols) = (new List<int>(), new List<int>());
                    for (var i = 0; i < g.Index.Count; i++)
                        if (g.Index[i] >= 0) { rows.Add(i); cols.Add(g.Index[i]); }
                    return Sparse(c.Id, g.OutSize, g.InSize, rows, cols, null);
                }
                default:
                    Fail($"transform {c.Transform.GetType().Name} (connection '{c.Id}')", "the Nengo exporter has no mapping for it");
                    return null;
            }
        }

        /// <summary>
        /// What nengo.Convolution expresses in every Nengo from 3.1: 1-D and 2-D (the reference simulator's limit), no
        /// dilation, one group (groups arrived in Nengo 4.0); TF 'same' padding is Nengo's.
        /// </summary>
        static bool NativeConv(ConvSpec s) => s.SpatialRank <= 2 && s.Groups == 1 && s.Dilation.ForAll(d => d == 1);

        string Sparse(string id, int outSize, int inSize, List<int> rows, List<int> cols, List<float>? values)
        {
            var indices = new int[rows.Count * 2];
            for (var i = 0; i < rows.Count; i++) { indices[2 * i] = rows[i]; indices[2 * i + 1] = cols[i]; }
            var ix = IntArray(id + ".indices", new[] { rows.Count, 2 }, indices);
            var init = values is null ? "1.0" : Array(id + ".values", new[] { values.Count }, values.ToArray());
            return $"nengo.Sparse(({outSize}, {inSize}), indices={ix}, init={init})";
        }

        /// <summary>The nonzero pattern of a convolution (any rank, dilation, groups, layout) as (row, column, weight) lists.</summary>
        static (List<int> Rows, List<int> Cols, List<float> Values) ConvEntries(ConvSpec s, Tensor kernel)
        {
            var rank = s.SpatialRank;
            var inSp = s.InSpatial.ToArray();
            var outSp = s.OutSpatial.ToArray();
            var k = s.Kernel.ToArray();
            var pad = s.PadBefore.ToArray();
            var (cin, filters, groups) = (s.InChannels, s.Filters, s.Groups);
            var (cpg, fpg) = (cin / groups, filters / groups);
            var inPixels = Shapes.Product(inSp);
            var outPixels = Shapes.Product(outSp);
            var taps = Shapes.Product(k);
            var inStrides = Shapes.Strides(inSp);
            var (rows, cols, values) = (new List<int>(), new List<int>(), new List<float>());
            var oc = new int[rank];
            var kc = new int[rank];
            for (var o = 0; o < outPixels; o++)
            {
                Unravel(o, outSp, oc);
                for (var f = 0; f < filters; f++)
                {
                    var row = s.ChannelsLast ? o * filters + f : f * outPixels + o;
                    var group = f / fpg;
                    for (var t = 0; t < taps; t++)
                    {
                        Unravel(t, k, kc);
                        var pixel = 0;
                        var inside = true;
                        for (var d = 0; d < rank && inside; d++)
                        {
                            var p = oc[d] * s.Strides[d] + kc[d] * s.Dilation[d] - pad[d];
                            inside = p >= 0 && p < inSp[d];
                            pixel += p * inStrides[d];
                        }
                        if (!inside) continue;
                        for (var ci = 0; ci < cpg; ci++)
                        {
                            var channel = group * cpg + ci;
                            rows.Add(row);
                            cols.Add(s.ChannelsLast ? pixel * cin + channel : channel * inPixels + pixel);
                            values.Add(kernel[(t * cpg + ci) * filters + f]);
                        }
                    }
                }
            }
            return (rows, cols, values);
        }

        static void Unravel(int index, int[] shape, int[] coord)
        {
            for (var d = shape.Length - 1; d >= 0; d--)
            {
                coord[d] = index % shape[d];
                index /= shape[d];
            }
        }

        static string Synapse(Option<Lowpass> s) => s.Match(l => $"nengo.Lowpass({Num(l.Tau)})", () => "None");

        // ---------------------------------------------------------------- the script

        public string Script()
        {
            var o = options;
            var sb = new StringBuilder();
            var inputs = net.Nodes.OfType<InputNode>().OrderBy(i => i.Index).ToList();
            var probes = net.Probes.OrderBy(p => p.Output).ToList();
            var ensembles = net.Nodes.OfType<Ensemble>().ToList();
            var custom = helpers.Where(h => h.StartsWith("Snn", StringComparison.Ordinal)).OrderBy(h => h).ToList();
            sb.Append("#!/usr/bin/env python3\n");
            sb.Append("\"\"\"").Append(Doc(o.ModelName)).Append(" as a Nengo network, exported by ").Append(Doc(o.Producer)).Append(".\n\n");
            sb.Append("    ").Append(Doc(o.Command)).Append("\n\n");
            sb.Append("It builds the network NengoDL's Converter would build for this model, with the parameters snn\n");
            sb.Append("converted (gains, biases, firing-rate scales, initial voltages), and runs it in nengo.Simulator\n");
            sb.Append("one input row at a time. It imports only numpy and nengo (3.1 or later):\n\n");
            sb.Append("    pip install nengo\n");
            sb.Append("    python3 model.py --input X.npy --output OUT.npy [--steps N] [--readout last|mean|mean:K|count]\n\n");
            sb.Append($"Defaults: {o.Mode} network, dt {Short(net.Dt)} s, {o.Steps} steps, readout {o.Readout}");
            sb.Append(o.InputScale.Match(s => $", inputs multiplied by {Short(s)}", () => "")).Append(o.Temporal ? ", temporal model (inputs (N, T, ...))" : "").Append(".\n");
            sb.Append($"{ensembles.Count} ensembles ({neurons} neurons), {net.Nodes.Count - ensembles.Count} nodes, {net.Connections.Count} connections, {probes.Count} probe(s).\n");
            sb.Append("The result equals `snn predict` with the same options within float32 rounding (see --precision and\n");
            sb.Append("--probe-timing).\n");
            if (custom.Count > 0)
                sb.Append("\nNeuron types Nengo lacks are defined below as nengo.neurons.NeuronType subclasses (").Append(string.Join(", ", custom))
                  .Append(");\nNengo's reference simulator runs them through their step() method; other backends may not.\n");
            if (nonNative.Count > 0)
            {
                sb.Append("\nWARNING: not hardware-native. These layers have no Nengo primitive and run as Python nengo.Node\n");
                sb.Append("functions (exact, but only on simulators that run Python nodes); --max-pool avg avoids them:\n");
                foreach (var n in nonNative) sb.Append("  - ").Append(Doc(n)).Append('\n');
            }
            else sb.Append("\nEvery object is a native Nengo object (no Python nodes besides the inputs).\n");
            sb.Append("\"\"\"\n\n");
            sb.Append(Header);
            sb.Append($"DT = {Num(net.Dt)}  # the simulation step (the float32 value snn uses, written exactly)\n");
            sb.Append($"STEPS = {o.Steps}\n");
            sb.Append($"READOUT = {Py(o.Readout)}\n");
            sb.Append($"INPUT_SCALE = {o.InputScale.Match(s => Num(s), () => "None")}\n");
            sb.Append($"TEMPORAL = {(o.Temporal ? "True" : "False")}\n");
            sb.Append($"INPUT_SHAPES = [{string.Join(", ", inputs.Select(i => Tuple(i.Shape)))}]\n");
            sb.Append($"OUTPUT_SHAPES = [{string.Join(", ", probes.Select(p => Tuple(p.Shape)))}]\n");
            sb.Append($"SOFTMAX = [{string.Join(", ", probes.Select(p => p.Softmax ? "True" : "False"))}]\n");
            sb.Append("# Steps by which each probe's data is read late. A probe with a synapse copies its filter's value before the\n");
            sb.Append("# filter updates in the step (Nengo's operator order), one step behind snn, which reads it after the update.\n");
            sb.Append($"PROBE_LAG = [{string.Join(", ", probeLag)}]\n\n");
            foreach (var h in HelperOrder.Where(helpers.Contains)) sb.Append("\n").Append(HelperSource[h]).Append('\n');
            sb.Append("\ndef build(w, feeds):\n");
            sb.Append("    \"\"\"The network; w holds the arrays of weights.npz, feeds[i] gives model input i each step.\n\n");
            sb.Append("    Returns the network, its output probes and the Python nodes that keep state between steps.\n    \"\"\"\n");
            sb.Append("    obj = {}  # object id -> what connections attach to (a Node, or an Ensemble's neurons)\n");
            sb.Append("    ens = {}\n");
            sb.Append("    stateful = []\n");
            sb.Append($"    with nengo.Network(label={Py(o.ModelName)}) as net:\n");
            sb.Append(body);
            sb.Append("    return net, probes, stateful\n\n\n");
            sb.Append(Runner);
            return sb.ToString();
        }
    }

    static readonly string[] HelperOrder = { "SnnIntegrateAndFire", "SnnSignedIntegrateAndFire", "SnnLeakyReLU", "SnnSpikingLeakyReLU", "CountMaxPool", "GateMaxPool", "SameStepFilter", "WindowMax" };

    // ------------------------------------------------------------------ Python literals

    static readonly JsonSerializerOptions JsonString = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>A Python string literal (a JSON string is one).</summary>
    static string Py(string s) => JsonSerializer.Serialize(s, JsonString);

    /// <summary>Text for a comment or docstring: one line, no quote runs.</summary>
    static string Comment(string s) => s.Replace('\n', ' ').Replace('\r', ' ');

    static string Doc(string s) => Comment(s).Replace("\\", "\\\\").Replace("\"\"\"", "\\\"\\\"\\\"");

    /// <summary>A float32 value as the exact Python float it equals; infinities as numpy's.</summary>
    static string Num(float v)
    {
        if (float.IsPositiveInfinity(v)) return "np.inf";
        if (float.IsNegativeInfinity(v)) return "-np.inf";
        if (float.IsNaN(v)) return "np.nan";
        var s = ((double)v).ToString("R", CultureInfo.InvariantCulture);
        return s.Contains('.') || s.Contains('E') ? s.Replace("E", "e") : s + ".0";
    }

    /// <summary>The shortest text of a float32 value, for prose.</summary>
    static string Short(float v) => v.ToString("R", CultureInfo.InvariantCulture);

    static string Tuple(IEnumerable<int> values)
    {
        var v = values.ToList();
        return v.Count == 1 ? $"({v[0]},)" : "(" + string.Join(", ", v) + ")";
    }

    // ------------------------------------------------------------------ fixed parts of the script

    const string Header = """
        import argparse
        import os
        import sys

        import numpy as np

        import nengo


        """;

    static readonly Dictionary<string, string> HelperSource = new()
    {
        ["SnnIntegrateAndFire"] = """"
            class SnnIntegrateAndFire(nengo.neurons.NeuronType):
                """Integrate-and-fire neuron of snn (Nengo has no such type).

                Each step: v += J * dt, with J clipped at 0 first when clip_current (as Nengo's SpikingRectifiedLinear
                does; conversion-style IF neurons integrate the signed current); n = floor(v) where v >= 1, else 0;
                output = (amplitude / dt) * n; then v -= n, or v = 0 where a spike was emitted when reset_to_zero.
                Its rate is amplitude * max(J, 0), as for RectifiedLinear.
                """

                state = {"voltage": nengo.dists.Uniform(low=0, high=1)}
                spiking = True
                negative = False

                amplitude = nengo.params.NumberParam("amplitude", low=0, low_open=True)
                clip_current = nengo.params.BoolParam("clip_current")
                reset_to_zero = nengo.params.BoolParam("reset_to_zero")

                def __init__(self, amplitude=1.0, clip_current=False, reset_to_zero=False, initial_state=None):
                    super().__init__(initial_state=initial_state)
                    self.amplitude = amplitude
                    self.clip_current = clip_current
                    self.reset_to_zero = reset_to_zero

                def rates(self, x, gain, bias):
                    return self.amplitude * np.maximum(self.current(x, gain, bias), 0)

                def max_rates_intercepts(self, gain, bias):
                    intercepts = -bias / gain  # informational only: gain and bias are given
                    return gain * (1 - intercepts), intercepts

                def step(self, dt, J, output, voltage):
                    voltage += (np.maximum(J, 0) if self.clip_current else J) * dt
                    n = np.where(voltage >= 1, np.floor(voltage), 0).astype(voltage.dtype)
                    output[...] = (self.amplitude / dt) * n
                    if self.reset_to_zero:
                        voltage[...] = np.where(n > 0, 0, voltage - n)
                    else:
                        voltage -= n
            """",
        ["SnnSignedIntegrateAndFire"] = """"
            class SnnSignedIntegrateAndFire(SnnIntegrateAndFire):
                """Integrate-and-fire neuron of snn with negative spikes (signed spikes with memory).

                Each step: v += J * dt; n = max(floor(v), -count); output = (amplitude / dt) * n; v -= n; count += n.
                count is the neuron's net spike count, never below 0: while v < 0 the neuron takes back spikes it fired
                earlier, so its net count is max(0, floor(v0 + sum(J * dt))) after every step.
                """

                state = {"voltage": nengo.dists.Uniform(low=0, high=1), "count": nengo.dists.Choice([0])}
                negative = True

                def __init__(self, amplitude=1.0, initial_state=None):
                    super().__init__(amplitude=amplitude, clip_current=False, reset_to_zero=False, initial_state=initial_state)

                def step(self, dt, J, output, voltage, count):
                    voltage += J * dt
                    n = np.maximum(np.floor(voltage), -count).astype(voltage.dtype)
                    output[...] = (self.amplitude / dt) * n
                    voltage -= n
                    count += n
            """",
        ["SnnLeakyReLU"] = """"
            class SnnLeakyReLU(nengo.neurons.NeuronType):
                """The Keras ReLU family as one rate neuron (LeakyReLU, ReLU with threshold or max_value, PReLU).

                f(J) = min(J if J >= threshold else slope * (J - threshold), max_value); output = amplitude * f(J).
                slope holds one value, or one per neuron (PReLU). NengoDL's LeakyReLU is the case threshold = 0,
                max_value = inf.
                """

                negative = True

                amplitude = nengo.params.NumberParam("amplitude", low=0, low_open=True)
                slope = nengo.params.NdarrayParam("slope", shape=("*",))
                threshold = nengo.params.NumberParam("threshold")
                max_value = nengo.params.NumberParam("max_value")

                def __init__(self, slope, threshold=0.0, max_value=np.inf, amplitude=1.0, initial_state=None):
                    super().__init__(initial_state=initial_state)
                    self.slope = np.asarray(slope, dtype=np.float32).reshape(-1)
                    self.threshold = threshold
                    self.max_value = max_value
                    self.amplitude = amplitude

                def f(self, J):
                    s = self.slope
                    if s.size > 1 and J.shape[-1] != s.size:
                        # Nengo's optimizer merged ensembles with equal parameters: repeat the slopes.
                        s = np.tile(s, J.shape[-1] // s.size)
                    return np.minimum(np.where(J >= self.threshold, J, s * (J - self.threshold)), self.max_value)

                def rates(self, x, gain, bias):
                    return self.amplitude * self.f(self.current(x, gain, bias))

                def max_rates_intercepts(self, gain, bias):
                    intercepts = -bias / gain  # informational only: gain and bias are given
                    return gain * (1 - intercepts), intercepts

                def step(self, dt, J, output):
                    output[...] = self.amplitude * self.f(J)
            """",
        ["SnnSpikingLeakyReLU"] = """"
            class SnnSpikingLeakyReLU(SnnLeakyReLU):
                """Spiking version of SnnLeakyReLU (Nengo's SpikingLeakyReLU generalized): v += f(J) * dt; n = trunc(v)
                (signed spikes for negative values); output = (amplitude / dt) * n; v -= n."""

                state = {"voltage": nengo.dists.Uniform(low=0, high=1)}
                spiking = True

                def step(self, dt, J, output, voltage):
                    voltage += self.f(J) * dt
                    n = np.trunc(voltage)
                    output[...] = (self.amplitude / dt) * n
                    voltage -= n
            """",
        ["CountMaxPool"] = """"
            class CountMaxPool:
                """Max pooling of spike trains by spike counts (snn --max-pool count). NOT hardware-native: a Python Node.

                A Node function runs after the node's input is summed and before anything reads its output, so each step:
                counts += x; m = the max of counts over each window; output = m - (the previous step's m, first 0).
                The cumulative output of a window is then the max of its inputs' cumulative values.
                windows: (outputs, window size) input indices of each window's cells, -1 for padding.
                """

                def __init__(self, windows):
                    self.windows = np.asarray(windows, dtype=np.int64)
                    self.reset()

                def reset(self):
                    self.counts = None
                    self.max = None

                def __call__(self, t, x):
                    if self.counts is None:
                        self.counts = np.zeros(x.shape, dtype=x.dtype)
                        self.max = np.zeros(len(self.windows), dtype=x.dtype)
                    self.counts += x
                    padded = np.concatenate([self.counts, np.full(1, -np.inf, dtype=x.dtype)])
                    m = padded[self.windows].max(axis=1)
                    y = m - self.max
                    self.max = m
                    return y
            """",
        ["GateMaxPool"] = """"
            class GateMaxPool:
                """Gated max pooling of spike trains (snn --max-pool gate, SNN Toolbox). NOT hardware-native: a Python Node.

                Each step: counts += x; output = this step's input of the window cell with the largest count so far
                (the first one on ties). windows: (outputs, window size) input indices, -1 for padding.
                """

                def __init__(self, windows):
                    self.windows = np.asarray(windows, dtype=np.int64)
                    self.reset()

                def reset(self):
                    self.counts = None

                def __call__(self, t, x):
                    if self.counts is None:
                        self.counts = np.zeros(x.shape, dtype=x.dtype)
                    self.counts += x
                    padded = np.concatenate([self.counts, np.full(1, -np.inf, dtype=x.dtype)])
                    best = np.argmax(padded[self.windows], axis=1)
                    chosen = self.windows[np.arange(len(self.windows)), best]
                    return np.concatenate([x, np.zeros(1, dtype=x.dtype)])[chosen]
            """",
        ["SameStepFilter"] = """"
            class SameStepFilter:
                """keras_spiking Lowpass / Alpha as Keras runs them: ZOH-discretized, applied in the same step (a Nengo
                synapse on a connection would add one step of delay). NOT hardware-native: a Python Node.

                coefficients: per element, Lowpass [a, b] (y = a*y + b*x), Alpha [A00, A01, A10, A11, B0, B1]
                ([d, y] = A [d, y] + B x), stored block by block; initial_level: the starting output.
                """

                def __init__(self, coefficients, initial_level, alpha):
                    self.level = np.asarray(initial_level, dtype=np.float32)
                    self.c = np.asarray(coefficients, dtype=np.float32).reshape(6 if alpha else 2, self.level.size)
                    self.alpha = alpha
                    self.reset()

                def reset(self):
                    self.y = self.level.copy()
                    self.d = np.zeros_like(self.level)

                def __call__(self, t, x):
                    x = np.asarray(x, dtype=np.float32)
                    c = self.c
                    if self.alpha:
                        d, y = self.d, self.y
                        self.d = c[0] * d + c[1] * y + c[4] * x
                        self.y = c[2] * d + c[3] * y + c[5] * x
                    else:
                        self.y = c[0] * self.y + c[1] * x
                    return self.y
            """",
        ["WindowMax"] = """"
            class WindowMax:
                """Max pooling of values (no Nengo primitive computes a max). NOT hardware-native: a Python Node.

                Each step: output = the max of the input over each window's real cells (padding is ignored).
                windows: (outputs, window size) input indices, -1 for padding.
                """

                def __init__(self, windows):
                    self.windows = np.asarray(windows, dtype=np.int64)

                def reset(self):
                    pass

                def __call__(self, t, x):
                    return np.concatenate([x, np.full(1, -np.inf, dtype=x.dtype)])[self.windows].max(axis=1)
            """",
    };

    const string Runner = """"
        class InputFeed:
            """The output of an input node: the current row, the same every step (constant-current input), or for a
            temporal model the row's time slice of the current step (the last slice after the end)."""

            def __init__(self, size):
                self.value = np.zeros(size, dtype=np.float32)
                self.series = None

            def set(self, row):
                if TEMPORAL:
                    self.series = row
                    self.value = row[0]
                else:
                    self.value = row

            def __call__(self, t):
                if self.series is None:
                    return self.value
                k = int(round(t / DT)) - 1
                return self.series[min(max(k, 0), len(self.series) - 1)]


        def load(path, scale):
            """An input array (.npy, or .npz as FILE.npz or FILE.npz:NAME) as float32, times the input scale."""
            name = None
            if ".npz:" in path:
                path, name = path.rsplit(":", 1)
            x = np.load(path)
            if hasattr(x, "files"):  # an .npz archive
                with x:
                    x = x[name if name is not None else x.files[0]]
            x = np.asarray(x).astype(np.float32)
            if scale is not None:
                x = x * np.float32(scale)
            return x


        def rows(x, shape, path):
            """(N, size) per-row inputs, or (N, T, size) for a temporal model; any layout with the right size fits."""
            size = int(np.prod(shape))
            lead = 2 if TEMPORAL else 1
            if x.ndim < lead or int(np.prod(x.shape[lead:])) != size:
                sys.exit(f"error: {path}: array of shape {x.shape} does not fit the model input "
                         f"({'N, T' if TEMPORAL else 'N'}, {', '.join(map(str, shape))})")
            return x.reshape(x.shape[:lead] + (size,))


        def readout(data, how):
            """One row's output from its probe data (steps, size), with snn's float32 arithmetic."""
            if how == "last":
                return data[-1].astype(np.float32)
            steps = len(data)
            window = steps
            if how.startswith("mean:"):
                window = min(int(how[5:]), steps)
            total = np.zeros(data.shape[1], dtype=np.float32)
            for values in data[steps - window:]:
                total += values
            if how == "count":
                return total * np.float32(DT)
            return total * (np.float32(1) / np.float32(window))


        def softmax(x):
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return (e * (1.0 / e.sum(axis=-1, keepdims=True, dtype=np.float64)).astype(np.float32)).astype(np.float32)


        def scale_arg(text):
            if "/" in text:
                a, b = text.split("/", 1)
                return float(np.float32(float(a) / float(b)))
            return float(np.float32(float(text)))


        def main(argv=None):
            here = os.path.dirname(os.path.abspath(__file__))
            p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
            p.add_argument("--input", action="append", required=True, metavar="X.npy",
                           help="model input rows (N, ...) or (N, T, ...) for a temporal model; once per model input")
            p.add_argument("--output", action="append", required=True, metavar="OUT.npy",
                           help="where to write each model output (float32); once per model output")
            p.add_argument("--steps", type=int, default=STEPS, help="simulation steps per row (default %(default)s)")
            p.add_argument("--readout", default=READOUT,
                           help="last, mean, mean:K (the last K steps) or count (sum times dt) (default %(default)s)")
            p.add_argument("--input-scale", type=scale_arg, default=INPUT_SCALE,
                           help="multiply inputs by this, e.g. 1/255 (default %(default)s)")
            p.add_argument("--weights", default=os.path.join(here, "weights.npz"), help="the weights archive")
            p.add_argument("--limit", type=int, default=None, help="only the first N rows")
            p.add_argument("--precision", type=int, choices=(32, 64), default=32,
                           help="Nengo's float precision in bits (default 32, as snn computes)")
            p.add_argument("--probe-timing", choices=("snn", "nengo"), default="snn",
                           help="read filtered probes as snn does (default) or as Nengo's probes record them")
            args = p.parse_args(argv)
            how = args.readout
            if how not in ("last", "mean", "count") and not (how.startswith("mean:") and how[5:].isdigit() and int(how[5:]) > 0):
                p.error(f"--readout must be last, mean, mean:K or count, got {how!r}")
            if args.steps < 1:
                p.error("--steps must be at least 1")
            if len(args.input) != len(INPUT_SHAPES):
                p.error(f"the model has {len(INPUT_SHAPES)} input(s); give --input once per input")
            if len(args.output) != len(OUTPUT_SHAPES):
                p.error(f"the model has {len(OUTPUT_SHAPES)} output(s); give --output once per output")

            nengo.rc.set("precision", "bits", str(args.precision))
            xs = [rows(load(path, args.input_scale), shape, path) for path, shape in zip(args.input, INPUT_SHAPES)]
            n = xs[0].shape[0]
            if any(x.shape[0] != n for x in xs) or n == 0:
                sys.exit("error: the input arrays must have the same, non-zero number of rows")
            if args.limit is not None:
                n = min(n, args.limit)
            steps = xs[0].shape[1] if TEMPORAL else args.steps
            lag = PROBE_LAG if args.probe_timing == "snn" else [0] * len(PROBE_LAG)

            with np.load(args.weights) as archive:
                w = {name: archive[name] for name in archive.files}
            feeds = [InputFeed(int(np.prod(shape))) for shape in INPUT_SHAPES]
            net, probes, stateful = build(w, feeds)
            outputs = [np.zeros((n,) + ((steps,) if TEMPORAL else ()) + tuple(shape), dtype=np.float32)
                       for shape in OUTPUT_SHAPES]
            with nengo.Simulator(net, dt=DT, progress_bar=False) as sim:
                for r in range(n):
                    for feed, x in zip(feeds, xs):
                        feed.set(x[r])
                    for node in stateful:
                        node.reset()
                    sim.reset()
                    sim.run_steps(steps + max(lag, default=0))
                    for k, probe in enumerate(probes):
                        data = np.asarray(sim.data[probe])[lag[k]:lag[k] + steps]
                        value = data if TEMPORAL else readout(data, how)
                        outputs[k][r] = value.reshape(outputs[k][r].shape)
            for out, path, soft in zip(outputs, args.output, SOFTMAX):
                np.save(path, softmax(out) if soft else out)


        if __name__ == "__main__":
            main()
        """";
}
