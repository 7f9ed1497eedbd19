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
/// Snn's interpreter against the real Nengo (the reference simulator vendored in ../shared/vendor/nengo, not the
/// stub): a model built here is converted, run step by step in the interpreter, exported with the Nengo exporter,
/// and its model.py network is run in <c>nengo.Simulator</c>; every output at every step must agree within float32
/// rounding. Issue 18's case: Dense(16, relu), <c>scale_firing_rates</c> 200, synapse 0.005, initial voltage 0.5,
/// 30 steps, where the filtered output probe read one step apart from Nengo's (Nengo copies a probe's filter before
/// the filter's update in the step: nengo/builder/probe.py <c>signal_probe</c>).
/// </summary>
[Trait("Category", "Slow")]
public sealed class NengoReferenceTests : IDisposable
{
    const int Steps = 30;

    /// <summary>|nengo − snn| ≤ Tolerance · max(1, |snn|): float32 sums in another order; a one-step slip of the
    /// filter changes a value by a factor exp(−dt/τ) ≈ 0.82, a missed spike by amplitude·(1 − exp(−dt/τ)) ≥ 0.03.</summary>
    const float Tolerance = 1e-5f;

    readonly string dir = Path.Combine(Path.GetTempPath(), "snn-tests", "nengo-ref-" + Guid.NewGuid().ToString("N"));

    /// <summary>Removes the folder this test wrote.</summary>
    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    /// <summary>Imports the exported model.py, builds its network and runs each row for the given steps in the real
    /// nengo.Simulator (32-bit, as model.py runs it), saving every probe's full record (N, T, size).</summary>
    const string Driver = """
        import importlib.util, os, sys
        import numpy as np
        import nengo
        script, x_path, out_prefix, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
        assert os.path.realpath(nengo.__file__).startswith(os.path.realpath(os.environ["PYTHONPATH"])), nengo.__file__
        print("nengo", nengo.__version__, nengo.__file__)
        spec = importlib.util.spec_from_file_location("exported_model", script)
        m = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(m)
        nengo.rc.set("precision", "bits", "32")
        with np.load(os.path.join(os.path.dirname(script), "weights.npz")) as archive:
            w = {name: archive[name] for name in archive.files}
        x = np.load(x_path)
        feeds = [m.InputFeed(x.shape[1])]
        net, probes, stateful = m.build(w, feeds)
        records = [[] for _ in probes]
        with nengo.Simulator(net, dt=m.DT, progress_bar=False) as sim:
            for row in x:
                feeds[0].set(row)
                for node in stateful:
                    node.reset()
                sim.reset()
                sim.run_steps(steps)
                for k, p in enumerate(probes):
                    records[k].append(np.asarray(sim.data[p], dtype=np.float32))
        for k, r in enumerate(records):
            np.save(f"{out_prefix}{k}.npy", np.stack(r))
        """;

    sealed record Case(string Name, bool Head, Option<float> Synapse, ProbeTiming Timing = ProbeTiming.Nengo);

    /// <summary>Converts, exports and runs the case; returns snn's per-step outputs (N, T, size) and Nengo's records
    /// (N, T + extra, size), plus the export folder.</summary>
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
        var x = TestModels.Random(new[] { 3, 8 }, 185, 0f, 1.5f);

        var perStep = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Steps, Readout.Last),
            Enumerable.Range(1, Steps).ToArray()).Ok();
        var size = perStep[0].Head.Length / 3;
        var snn = new float[3 * Steps * size];
        for (var t = 0; t < Steps; t++)
            for (var r = 0; r < 3; r++)
                perStep[t].Head.Span.Slice(r * size, size).CopyTo(snn.AsSpan((r * Steps + t) * size, size));

        var folder = Path.Combine(dir, c.Name);
        var export = NengoScript.Generate(new NengoScriptOptions(c.Name, "spiking", Steps, "last", None, false, "test", "snn test",
            ProbesAfterUpdate: c.Timing == ProbeTiming.AfterUpdate), compiled.Network).Ok();
        Snn.Export.NengoExporter.WriteFolder(folder, false, export).Ok();
        var xPath = Path.Combine(folder, "x.npy");
        Npy.WriteFloat32(xPath, x);
        var prefix = Path.Combine(folder, "record_");
        var (code, output, err) = Python.Run(new[] { "-c", Driver, Path.Combine(folder, "model.py"), xPath, prefix, (Steps + extraNengoSteps).ToString() },
            Python.RealNengo);
        Assert.True(code == 0, err);
        Assert.Contains("nengo 4.", output);
        return (Tensor.Own(new[] { 3, Steps, size }, snn), Npy.Read(prefix + "0.npy").Ok(), folder, xPath);
    }

    /// <summary>Every snn value at step t (1-based) against Nengo's record at step t + shift.</summary>
    static void SameEveryStep(string name, Tensor snn, Tensor nengo, int shift = 0)
    {
        int n = snn.Shape[0], steps = snn.Shape[1], size = snn.Shape[2];
        Assert.Equal(n, nengo.Shape[0]);
        Assert.Equal(size, nengo.Shape[2]);
        var nonzero = 0;
        for (var r = 0; r < n; r++)
            for (var t = 0; t < steps; t++)
                for (var k = 0; k < size; k++)
                {
                    var s = snn[(r * steps + t) * size + k];
                    var g = nengo[(r * nengo.Shape[1] + t + shift) * size + k];
                    if (!(Math.Abs(s - g) <= Tolerance * Math.Max(1f, Math.Abs(s))))
                        throw new Xunit.Sdk.XunitException($"{name}: row {r}, step {t + 1}, output {k}: snn {s:R}, nengo {g:R}");
                    if (s != 0) nonzero++;
                }
        Assert.True(nonzero > n * size, $"{name}: almost every output is zero, the comparison would prove little");
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
                Assert.True(Math.Abs(snn[(r * steps + steps - 1) * size + k] - last[r * size + k]) <= Tolerance * Math.Max(1f, Math.Abs(last[r * size + k])),
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
