using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Export;

/// <summary>The generator's object emitters: ensembles (with their Nengo neuron types), max pooling and nodes.</summary>
public static partial class NengoScript
{
    sealed partial class Gen
    {
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
                    Fail($"network object {node.GetType().Name} ('{Names.Printable(node.Id)}', layer '{Names.Printable(node.Layer)}')", "the Nengo exporter has no mapping for it");
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
            var mapping = e.Neuron.Nengo;
            if (mapping.Case is NengoNeuron n) return Expression(e, n);
            Fail($"neuron type {e.Neuron.Name} (layer '{Names.Printable(e.Layer)}')", (string)mapping.Case);
            return null;
        }

        /// <summary><c>Class(key=value, ...)</c>, the classes it needs recorded for the script to define.</summary>
        string Expression(Ensemble e, NengoNeuron n)
        {
            foreach (var c in n.Defines) helpers.Add(c.Name);
            return $"{n.Class}({string.Join(", ", n.Arguments.Map(a => (a.Key.Length == 0 ? "" : a.Key + "=") + Argument(e, a)))})";
        }

        string Argument(Ensemble e, NeuronField a) => a.Value switch
        {
            NeuronValue.Number v => Num(v.Value),
            NeuronValue.Flag v => v.Value ? "True" : "False",
            NeuronValue.Text v => Py(v.Value),
            NeuronValue.PerNeuron { Value: var t } => t.Length == 1 ? $"[{Num(t[0])}]" : Array(e.Id + "." + a.Key, t.Reshape(t.Length)),
            NeuronValue.Neuron v => v.Value.Nengo.Match(n => Expression(e, n), why => throw new InvalidOperationException($"nested neuron type {v.Value.Name}: {why}")),
            NeuronValue.InitialVoltage => $"{{\"voltage\": {Array(e.Id + ".initial_voltage", e.InitialVoltage.IfNone(() => Tensor.Filled(new[] { e.Size }, 0f)).Reshape(e.Size))}}}",
            _ => throw new InvalidOperationException($"neuron argument '{a.Key}' has no Python form"),
        };

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
                Fail($"max pooling method {m.Method} (layer '{Names.Printable(m.Layer)}')", "the Nengo exporter has no mapping for it");
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
            Warnings.Add($"layer '{Names.Printable(layer)}' ({what}) is exported as a nengo.Node running numpy code: it is not hardware-native " +
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

    }
}
