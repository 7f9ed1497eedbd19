using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Training;

/// <summary>
/// Knowledge distillation (Hinton, Vinyals and Dean 2015) as the training targets: a teacher network's softened output
/// distribution <c>softmax(z_teacher/τ)</c>, which a student trained with <see cref="GradientOptions.Temperature"/> τ
/// learns to reproduce. Here the teacher is usually the network as converted, in rate mode (the ANN's function), and the
/// student the same network trained for few steps, so no labels are needed: the calibration images alone will do.
/// </summary>
public static class Distillation
{
    /// <summary>
    /// The soft targets [samples, classes] of <paramref name="teacher"/> for <paramref name="inputs"/>: the logits of the
    /// probe <paramref name="options"/> names (the probed object's values, before the probe's softmax), evaluated in the
    /// options' method in batches of <paramref name="batch"/>, divided by <paramref name="temperature"/> and put through
    /// a softmax (in double, one row at a time).
    /// </summary>
    public static Fin<Tensor> Targets(GradientOptions options, Network teacher, Seq<Tensor> inputs, float temperature, int batch)
    {
        if (!(temperature > 0) || float.IsInfinity(temperature)) return Errors.Usage($"the distillation temperature must be a positive number, not {temperature}");
        if (batch < 1) return Errors.Usage($"the batch size must be at least 1, not {batch}");
        if (options.Probe < 0 || options.Probe >= teacher.Probes.Count) return Errors.Usage($"the loss reads probe {options.Probe}, but the network has {teacher.Probes.Count} probe(s)");
        if (inputs.IsEmpty || inputs.Head.Shape.Count == 0) return Errors.Usage("distillation needs inputs");
        var probe = teacher.Probes[options.Probe];
        var classes = probe.Shape.Count == 0 ? 1 : probe.Shape[probe.Shape.Count - 1];
        var n = inputs.Head.Shape[0];
        var size = Shapes.Product(probe.Shape);
        var soft = new float[(long)n * size];
        for (var start = 0; start < n; start += batch)
        {
            var count = Math.Min(batch, n - start);
            var pass = NetworkGradient.ForwardPass(options, teacher, inputs.Map(x => x.Rows(start, count)).Strict());
            if (pass.Case is not NetworkGradient.Pass p) return (Error)pass.Case!;
            var logits = p.Values[probe.Target];
            for (var r = 0; r < count * size / classes; r++)
            {
                var row = logits.AsSpan(r * classes, classes);
                double max = double.NegativeInfinity, sum = 0;
                foreach (var z in row) max = Math.Max(max, z / (double)temperature);
                var e = new double[classes];
                for (var k = 0; k < classes; k++) sum += e[k] = Math.Exp(row[k] / (double)temperature - max);
                for (var k = 0; k < classes; k++) soft[(long)start * size + r * classes + k] = (float)(e[k] / sum);
            }
        }
        return Tensor.Own(new[] { n }.Concat(probe.Shape).ToArray(), soft);
    }
}
