using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Facade;

/// <summary>
/// <see cref="Evaluation.Layers(Snn.Compiler.Convert.Network, Activity)"/>: each layer's mean and 99th percentile of spikes per neuron per step equal numpy's
/// np.mean and np.percentile(rates, 99) (method 'linear') of the per-neuron rates, on spike counts with ties and silent neurons.
/// </summary>
public class FiringStatisticsTests
{
    [PythonFact]
    public void MeanAndP99AreNumpys()
    {
        var model = Sequential(new[] { 4 },
            new L("Dense", "h", new { units = 203, activation = "relu" }, ("kernel", TestModels.Random(new[] { 4, 203 }, 1)), ("bias", TestModels.Random(new[] { 203 }, 2))),
            new L("Dense", "o", new { units = 3 }, ("kernel", TestModels.Random(new[] { 203, 3 }, 3)), ("bias", TestModels.Random(new[] { 3 }, 4))));
        var net = Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() }, model).Ok().Network;
        var ensemble = net.Nodes.OfType<Ensemble>().Single();
        var rng = new Random(5);
        // Spike totals over 7 samples and 30 steps: a fifth silent, some ties, the top ones distinct (so the percentile
        // interpolates between two neurons: a nearest-rank rule would give another value).
        var totals = Enumerable.Range(0, ensemble.Size).Select(i => rng.Next(5) == 0 ? 0.0 : i % 2 == 0 ? rng.Next(0, 8) * 13.0 : rng.Next(0, 3000)).ToArray();
        var activity = new Activity();
        activity.Add(new[] { ensemble.Id }, new[] { totals }, samples: 7, steps: 30);
        var layer = Evaluation.Layers(net, activity).Single();

        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var (code, stdout, stderr) = Python.Run("""
import sys, numpy as np
r = np.array([float(x) for x in sys.argv[1].split()]) / 7 / 30
print(repr(float(np.mean(r))), repr(float(np.percentile(r, 99))))
""", string.Join(" ", totals.Select(t => t.ToString("R", inv))));
        Assert.True(code == 0, stderr);
        var numpy = stdout.Split(' ').Select(s => double.Parse(s, inv)).ToArray();
        Assert.Equal(numpy[0], layer.MeanSpikesPerStep, 12);
        Assert.Equal(numpy[1], layer.P99SpikesPerStep, 12);
    }
}
