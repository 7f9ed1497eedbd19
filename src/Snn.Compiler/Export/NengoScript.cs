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
/// snn command line that produced it (for the docstring). <see cref="ProbesAfterUpdate"/>: snn was lowered with
/// <c>ProbeTiming.AfterUpdate</c>, so the script reads filtered probes one step late by default to give snn's numbers.
/// </summary>
public sealed record NengoScriptOptions(
    string ModelName, string Mode, int Steps, string Readout, Option<float> InputScale, bool Temporal, string Command, string Producer,
    bool ProbesAfterUpdate = false);

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
public static partial class NengoScript
{
    public const string Format = "Nengo";

    public static Either<Error, NengoExport> Generate(NengoScriptOptions options, Network net)
    {
        var functions = net.Nodes.OfType<FunctionNode>().Map(f => Errors.UnsupportedLayer(f.Layer, "FunctionNode",
            $"it runs C# code ({f.Description}) in a function node, which cannot be exported to {Format}")).ToSeq();
        if (!functions.IsEmpty) return Errors.Many(functions);
        var g = new Gen(options, net);
        g.Build();
        if (g.Errors.Count > 0) return Errors.Many(g.Errors.ToSeq());
        return new NengoExport(g.Script(), g.Arrays.ToSeq(), g.Warnings.ToSeq());
    }

    // ------------------------------------------------------------------ the generator

    sealed partial class Gen(NengoScriptOptions options, Network net)
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

        // Each array's key in weights.npz is a safe, unique name (SafeNames); the script reads it under that name.
        readonly SafeNames names = new();

        string Array(string name, int[] shape, float[] values)
        {
            var safe = names.Take(name);
            Arrays.Add(new NengoArray(safe, shape, values));
            return $"w[{Py(safe)}]";
        }

        string IntArray(string name, int[] shape, int[] values)
        {
            var safe = names.Take(name);
            Arrays.Add(new NengoArray(safe, shape, null, values));
            return $"w[{Py(safe)}]";
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
                probeLag.Add(p.Synapse.IsSome && options.ProbesAfterUpdate ? 1 : 0);
                var note = $"output {p.Output}: {target.Layer}, shape {Shapes.Show(p.Shape)}" + (p.Softmax ? ", softmax applied in the readout" : "");
                Line($"    nengo.Probe(obj[{Py(p.Target)}], synapse={Synapse(p.Synapse)}),  # {Comment(note)}");
            }
            Line("]");
        }

        // ---------------------------------------------------------------- objects

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
            sb.Append("# filter updates in the step (Nengo's operator order), as snn does by default; 1 where snn was lowered to read\n");
            sb.Append("# it after the update (ProbeTiming.AfterUpdate), one step ahead of Nengo.\n");
            sb.Append($"PROBE_LAG = [{string.Join(", ", probeLag)}]\n\n");
            foreach (var c in NeuronTypes.NengoClasses.Filter(c => helpers.Contains(c.Name))) sb.Append("\n").Append(c.Source).Append('\n');
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

    static readonly string[] HelperOrder = { "CountMaxPool", "GateMaxPool", "SameStepFilter", "WindowMax" };

    // ------------------------------------------------------------------ Python literals

    static readonly JsonSerializerOptions JsonString = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// A Python string literal (a JSON string is one; JSON escapes C0 controls), with DEL, C1 and bidi controls also
    /// written as <c>\uNNNN</c> so that no editor shows the code around a name reordered.
    /// </summary>
    static string Py(string s)
    {
        var json = JsonSerializer.Serialize(s, JsonString);
        if (!json.Any(Names.Escaped)) return json;
        var sb = new StringBuilder(json.Length + 16);
        foreach (var c in json)
            if (Names.Escaped(c)) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        return sb.ToString();
    }

    /// <summary>
    /// Text for a comment: one line, <see cref="Names.Printable"/> (no NUL, which Python refuses in source, no line
    /// break that would end the comment, no bidi control that would reorder the code shown around it).
    /// </summary>
    static string Comment(string s) => Names.Printable(s);

    /// <summary>Text for the docstring, whose value (argparse prints its first line) is <see cref="Comment"/>'s: backslashes doubled, no quote runs.</summary>
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

}
