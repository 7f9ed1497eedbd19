using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Keras;
using Snn.Compiler.Lower;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Export;

/// <summary>
/// Snn's interpreter against the real Nengo (the reference simulator vendored in ../shared/vendor/nengo): a model built here is converted, run step by step in the interpreter, exported with the Nengo exporter,
/// and its model.py network is run in <c>nengo.Simulator</c>; every output at every step must agree within float32
/// rounding. Issue 18's case: Dense(16, relu), <c>scale_firing_rates</c> 200, synapse 0.005, initial voltage 0.5,
/// 30 steps, where the filtered output probe read one step apart from Nengo's (Nengo copies a probe's filter before
/// the filter's update in the step: nengo/builder/probe.py <c>signal_probe</c>).
/// </summary>
[Trait("Category", "Slow")]
public sealed class NengoReferenceTests(RealNengoFixture nengo) : IClassFixture<RealNengoFixture>, IDisposable
{
    const int Steps = 30;

    readonly string dir = Path.Combine(Path.GetTempPath(), "snn-tests", "nengo-ref-" + Guid.NewGuid().ToString("N"));

    /// <summary>Removes the folder this test wrote.</summary>
    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    sealed record Case(string Name, bool Head, Option<float> Synapse, ProbeTiming Timing = ProbeTiming.Nengo);

    /// <summary>Converts, exports and runs the case; returns snn's per-step outputs (N, T, size) and Nengo's records
    /// (N, T + extra, size), plus the export folder and the input file.</summary>
    (Tensor Snn, Tensor Nengo, string Folder, string X) Run(Case c, int extraNengoSteps = 0)
    {
        var model = TestModels.DenseRelu16(c.Head);
        var convert = (ConvertOptions.Default with
        {
            ScaleFiringRates = Some(200f),
            Synapse = c.Synapse.Map(t => new Lowpass(t)),
            InitialVoltage = InitialVoltage.Half,
        }).AsSpiking();
        var options = CompileOptions.Default with { Convert = convert, Lower = LowerOptions.Default with { ProbeTiming = c.Timing } };
        var compiled = Compile.Run(options, model, verify: true).Ok();
        var x = Seq1(TestModels.Random(new[] { 3, 8 }, 185, 0f, 1.5f));
        var folder = Path.Combine(dir, c.Name);
        var script = NengoCompare.Export(compiled, folder, new NengoScriptOptions(c.Name, "spiking", Steps, "last", None, false, "test", "snn test",
            ProbesAfterUpdate: c.Timing == ProbeTiming.AfterUpdate));
        var inputs = NengoCompare.WriteInputs(folder, x);
        var records = nengo.Worker.Run(script, inputs, Steps + extraNengoSteps);
        return (NengoCompare.SnnPerStep(compiled, x, Steps)[0], records[0], folder, inputs[0]);
    }

    /// <summary>Every snn value at step t (1-based) against Nengo's record at step t + shift; most must be nonzero.</summary>
    static void SameEveryStep(string name, Tensor snn, Tensor nengo, int shift = 0)
    {
        var nonzero = NengoCompare.SameEveryStep(name, snn, nengo, shift);
        Assert.True(nonzero > snn.Shape[0] * snn.Shape[2], $"{name}: almost every output is zero, the comparison would prove little");
    }

    /// <summary>Issue 18: the output probe on Dense(16, relu) neurons with synapse 0.005 records what Nengo's does.</summary>
    [RealNengoFact]
    public void ProbeSynapseOnNeurons_MatchesNengoEveryStep()
    {
        var c = new Case("probe_synapse", Head: false, Synapse: Some(0.005f));
        var (snn, nengo, folder, x) = Run(c);
        SameEveryStep(c.Name, snn, nengo);
        // model.py itself (its own runner and readout) gives snn's last step.
        var output = Path.Combine(folder, "out.npy");
        var (code, _, err) = Python.Run(new[] { Path.Combine(folder, "model.py"), "--input", x, "--output", output }, Python.RealNengo);
        Assert.True(code == 0, err);
        var last = Npy.Read(output).Ok();
        int steps = snn.Shape[1], size = snn.Shape[2];
        for (var r = 0; r < 3; r++)
            for (var k = 0; k < size; k++)
                Assert.True(Math.Abs(snn[(r * steps + steps - 1) * size + k] - last[r * size + k]) <= NengoCompare.Tolerance * Math.Max(1f, Math.Abs(last[r * size + k])),
                    $"model.py row {r} output {k}: {last[r * size + k]:R}, snn {snn[(r * steps + steps - 1) * size + k]:R}");
    }

    /// <summary>The synapse on the connection Dense(16, relu) → Dense(4); the probe on the linear node is unfiltered.</summary>
    [RealNengoFact]
    public void ConnectionSynapse_MatchesNengoEveryStep()
    {
        var c = new Case("connection_synapse", Head: true, Synapse: Some(0.005f));
        var (snn, nengo, _, _) = Run(c);
        SameEveryStep(c.Name, snn, nengo);
    }

    /// <summary>No synapse: the probe reads the spikes (amplitude / dt) as Nengo's does.</summary>
    [RealNengoFact]
    public void NoSynapse_MatchesNengoEveryStep()
    {
        foreach (var head in new[] { false, true })
        {
            var c = new Case(head ? "no_synapse_head" : "no_synapse", head, None);
            var (snn, nengo, _, _) = Run(c);
            SameEveryStep(c.Name, snn, nengo);
        }
    }

    /// <summary>
    /// <see cref="ProbeTiming.AfterUpdate"/> (snn's former reading) is exactly one step ahead of Nengo: snn's step t is
    /// Nengo's step t + 1, and model.py (PROBE_LAG 1) reads Nengo one step late to give snn's numbers.
    /// </summary>
    [RealNengoFact]
    public void ProbeTimingAfterUpdate_IsNengoOneStepLater()
    {
        var c = new Case("after_update", Head: false, Synapse: Some(0.005f), Timing: ProbeTiming.AfterUpdate);
        var (snn, nengo, folder, x) = Run(c, extraNengoSteps: 1);
        SameEveryStep(c.Name, snn, nengo, shift: 1);
        Assert.Contains("PROBE_LAG = [1]", File.ReadAllText(Path.Combine(folder, "model.py")));
    }
}
