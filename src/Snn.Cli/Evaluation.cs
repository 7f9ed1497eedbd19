using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Runtime;
using static LanguageExt.Prelude;

using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Cli;

/// <summary>Prints an <see cref="EvaluationResult"/> for people, or as JSON.</summary>
public static class EvaluationReport
{
    public static int Print(bool json, TextWriter stdout, EvaluationResult r)
    {
        static double R(double v) => Math.Round(v, 6);
        var agreement = r.RateAgreement.IsSome || !r.SpikingAgreement.IsEmpty;
        if (json)
        {
            var obj = new Dictionary<string, object> { ["steps"] = r.Steps, ["n"] = r.Samples, ["labels"] = r.Labelled };
            if (r.Labelled)
            {
                r.Keras.IfSome(k => obj["keras_accuracy"] = R(k));
                r.Rate.IfSome(k => obj["rate_accuracy"] = R(k));
                if (!r.Spiking.IsEmpty)
                {
                    obj["spiking_accuracy"] = R(r.Spiking.Last.Accuracy);
                    obj["spiking_by_steps"] = r.Spiking.Map(s => new { steps = s.Steps, accuracy = R(s.Accuracy) }).ToArray();
                }
            }
            if (agreement)
            {
                var against = new Dictionary<string, object>
                {
                    ["reference"] = "the Keras model's outputs (top-1 class; relative error = |y - y_ann| / |y_ann| over all outputs)",
                    ["spiking_by_steps"] = r.SpikingAgreement.Map(s => new { steps = s.Steps, agreement = R(s.Agreement), relative_error = s.Error }).ToArray(),
                };
                r.RateAgreement.IfSome(x => against["rate"] = new { agreement = R(x.Agreement), relative_error = x.Error });
                obj["agreement"] = against;
            }
            if (!r.Layers.IsEmpty)
                obj["layers"] = r.Layers.Map(l => new
                {
                    layer = l.Layer, neurons = l.Neurons, mean_spikes_per_step = l.MeanSpikesPerStep, p99_spikes_per_step = l.P99SpikesPerStep,
                    fraction_silent = l.FractionSilent, fraction_saturated = l.FractionSaturated,
                }).ToArray();
            if (!r.LayerErrors.IsEmpty)
                obj["layer_errors"] = r.LayerErrors.Map(l => new { layer = l.Layer, neurons = l.Neurons, error = l.Error, added_error = l.LocalError, ann_rms = l.AnnRms }).ToArray();
            r.Operations.IfSome(o => obj["operations"] = new
            {
                synaptic_accumulates = o.SynapticAccumulates, analog_macs = o.AnalogMacs, ann_macs = o.AnnMacs,
                snn_energy_uj = o.SnnEnergyPj * 1e-6, ann_energy_uj = o.AnnEnergyPj * 1e-6, energy_source = OperationCounts.Source,
            });
            if (!r.Scales.IsEmpty)
                obj["calibration"] = r.Scales.Map(s => new { layer = s.Layer, activation = s.Activation, scale = s.Scale, resolution = s.Resolution }).ToArray();
            stdout.WriteLine(JsonSerializer.Serialize(obj));
            return 0;
        }
        var rows = new List<string[]>();
        string Acc(double v) => $"{v:0.0000}";
        string[] Row(string mode, string steps, Option<double> accuracy, Option<(double Agreement, double Error)> against) =>
            new[] { mode, steps }
                .Concat(r.Labelled ? new[] { accuracy.Match(Acc, () => "-") } : System.Array.Empty<string>())
                .Concat(agreement ? new[] { against.Match(x => Acc(x.Agreement), () => "-"), against.Match(x => x.Error < 1e-4 ? $"{x.Error:0.0e+0}" : $"{x.Error:0.0000}", () => "-") } : System.Array.Empty<string>())
                .ToArray();
        if (r.Labelled) r.Keras.IfSome(k => rows.Add(Row("keras", "-", k, None)));
        r.Rate.IfSome(k => rows.Add(Row("rate", "1", k, r.RateAgreement)));
        rows.AddRange(r.Spiking.Map(s => Row("spiking", s.Steps.ToString(), s.Accuracy,
            r.SpikingAgreement.Find(x => x.Steps == s.Steps).Map(x => (x.Agreement, x.Error)))));
        var header = new[] { "mode", "steps" }
            .Concat(r.Labelled ? new[] { "accuracy" } : System.Array.Empty<string>())
            .Concat(agreement ? new[] { "agreement", "output error" } : System.Array.Empty<string>()).ToArray();
        if (!r.Labelled)
            stdout.WriteLine("No labels: compared with the ANN (the Keras model) on the same inputs. agreement = share of inputs with the ANN's top-1 class; output error = |y - y_ann| / |y_ann|.");
        stdout.WriteLine(Table.Render(header, rows));
        stdout.WriteLine($"({r.Samples} samples)");
        if (!r.Layers.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine("Firing (spikes per neuron per step, over all samples and steps):");
            stdout.WriteLine(Table.Render(new[] { "layer", "neurons", "mean", "p99", "silent", "saturated" },
                r.Layers.Map(l => new[] { l.Layer, l.Neurons.ToString(), $"{l.MeanSpikesPerStep:0.000}", $"{l.P99SpikesPerStep:0.000}", $"{l.FractionSilent:P1}", $"{l.FractionSaturated:P1}" })));
        }
        if (!r.LayerErrors.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine($"Error per layer after {r.Steps} steps (spiking output averaged over the steps against the ANN's activation, relative RMS;");
            stdout.WriteLine("added = against the ANN's function of this layer's own spiking input, the error that enters here):");
            stdout.WriteLine(Table.Render(new[] { "layer", "neurons", "error", "added", "ANN rms" },
                r.LayerErrors.Map(l => new[] { l.Layer, l.Neurons.ToString(), $"{l.Error:0.0000}", $"{l.LocalError:0.0000}", $"{l.AnnRms:G4}" })));
        }
        r.Operations.IfSome(o =>
        {
            stdout.WriteLine();
            stdout.WriteLine($"Per inference ({r.Steps} steps): {o.SynapticAccumulates:N0} synaptic accumulates (spikes), {o.AnalogMacs:N0} MACs on analog input; the ANN needs {o.AnnMacs:N0} MACs.");
            stdout.WriteLine($"Energy estimate: SNN {o.SnnEnergyPj * 1e-6:0.000} uJ vs ANN {o.AnnEnergyPj * 1e-6:0.000} uJ ({o.AddPj} pJ/add, {o.MacPj} pJ/MAC; {OperationCounts.Source}).");
        });
        if (!r.Scales.IsEmpty)
        {
            stdout.WriteLine();
            stdout.WriteLine(Table.Render(new[] { "layer", "calibrated activation", "firing-rate scale", "spikes per step at it" },
                r.Scales.Map(s => new[] { s.Layer, $"{s.Activation:G4}", $"{s.Scale:G4}", $"{s.Resolution:G4}" })));
        }
        return 0;
    }
}
