using System.Diagnostics;
using System.Text;
using System.Text.Json;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Export;
using Snn.Compiler.Lower;
using Snn.Runtime;
using Xunit;

namespace Snn.Tests.Support;

/// <summary>
/// One long-lived python3 that imports the real Nengo (../shared/vendor/nengo) once and then runs exported model.py
/// networks on request, so that many small networks cost one Python start. Requests and replies are JSON lines on its
/// standard input and output; anything the scripts print goes to its standard error, kept for error messages.
/// </summary>
public sealed class NengoWorker : IDisposable
{
    /// <summary>
    /// The worker. For each request it imports the script, builds its network with <c>build(w, feeds)</c>, runs every
    /// input row for <c>steps</c> steps in <c>nengo.Simulator</c> (32-bit, as model.py runs it; the row's stateful
    /// nodes and the simulator reset first) and saves each probe's full record (rows, steps, size) as
    /// <c>{prefix}{k}.npy</c>; with <c>main</c> it then also runs the script's own command line with those arguments.
    /// </summary>
    const string Source = """
        import importlib.util, json, os, sys, traceback
        import numpy as np
        import nengo

        proto = os.fdopen(os.dup(1), "w")
        os.dup2(2, 1)  # prints of nengo or a script go to stderr, never into the replies


        def reply(**fields):
            proto.write(json.dumps(fields) + "\n")
            proto.flush()


        def run(req, n):
            spec = importlib.util.spec_from_file_location(f"exported_model_{n}", req["script"])
            m = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(m)
            nengo.rc.set("precision", "bits", "32")
            with np.load(os.path.join(os.path.dirname(req["script"]), "weights.npz")) as archive:
                w = {name: archive[name] for name in archive.files}
            xs = [np.load(p).astype(np.float32) for p in req["inputs"]]
            steps = req["steps"]
            feeds = [m.InputFeed(int(np.prod(shape))) for shape in m.INPUT_SHAPES]
            net, probes, stateful = m.build(w, feeds)
            records = [[] for _ in probes]
            with nengo.Simulator(net, dt=m.DT, progress_bar=False) as sim:
                for r in range(xs[0].shape[0]):
                    for feed, x in zip(feeds, xs):
                        feed.set(x[r].reshape(-1))
                    for node in stateful:
                        node.reset()
                    sim.reset()
                    sim.run_steps(steps)
                    for k, p in enumerate(probes):
                        records[k].append(np.asarray(sim.data[p], dtype=np.float32).reshape(steps, -1))
            for k, r in enumerate(records):
                np.save(f"{req['prefix']}{k}.npy", np.stack(r))
            if req.get("main"):
                m.main(req["main"])
            return len(probes)


        reply(ready=True, version=nengo.__version__, file=os.path.realpath(nengo.__file__), root=os.path.realpath(os.environ["PYTHONPATH"]))
        for n, line in enumerate(sys.stdin):
            try:
                reply(ok=True, probes=run(json.loads(line), n))
            except BaseException as e:  # SystemExit from the script's argparse or sys.exit too
                reply(ok=False, error="".join(traceback.format_exception(e)))
        """;

    static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);

    readonly Process process;
    readonly StringBuilder errors = new();

    /// <summary>The Nengo version the worker imported (from ../shared/vendor/nengo, checked).</summary>
    public string Version { get; }

    public NengoWorker()
    {
        var path = Python.RealNengo ?? throw new InvalidOperationException(Python.RealNengoMissing ?? "no real Nengo");
        var info = Python.StartInfo(new[] { "-c", Source }, path);
        info.RedirectStandardInput = true;
        process = Process.Start(info) ?? throw new InvalidOperationException("python3 did not start");
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (errors)
            {
                errors.AppendLine(e.Data);
                if (errors.Length > 40_000) errors.Remove(0, errors.Length - 20_000);
            }
        };
        process.BeginErrorReadLine();
        using var ready = Receive();
        Version = ready.RootElement.GetProperty("version").GetString()!;
        // Both sides resolved by Python: ../shared may be reached through a symbolic link (as CI's clone does).
        var file = ready.RootElement.GetProperty("file").GetString()!;
        var root = ready.RootElement.GetProperty("root").GetString()!;
        Assert.True(file.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal), $"nengo was imported from {file}, not from {path} ({root})");
        Assert.StartsWith("4.", Version);
    }

    /// <summary>
    /// Runs the network of <paramref name="script"/> (its weights.npz beside it) on the input arrays for
    /// <paramref name="steps"/> steps per row and returns each probe's record (rows, steps, size); with
    /// <paramref name="main"/>, also runs the script's command line with those arguments.
    /// </summary>
    public Tensor[] Run(string script, IReadOnlyList<string> inputs, int steps, IReadOnlyList<string>? main = null)
    {
        var prefix = Path.Combine(Path.GetDirectoryName(script)!, "nengo_record_");
        var request = JsonSerializer.Serialize(new { script, inputs, steps, prefix, main });
        int probes;
        lock (process)
        {
            process.StandardInput.WriteLine(request);
            process.StandardInput.Flush();
            using var answer = Receive();
            if (!answer.RootElement.GetProperty("ok").GetBoolean())
                throw new Xunit.Sdk.XunitException($"Nengo failed on {script}:\n{answer.RootElement.GetProperty("error").GetString()}\n{Errors()}");
            probes = answer.RootElement.GetProperty("probes").GetInt32();
        }
        return Enumerable.Range(0, probes).Select(k => Npy.Read($"{prefix}{k}.npy").Ok()).ToArray();
    }

    JsonDocument Receive()
    {
        var line = process.StandardOutput.ReadLineAsync();
        if (!line.Wait(Patience))
        {
            process.Kill();
            throw new Xunit.Sdk.XunitException($"the Nengo worker gave no answer in {Patience.TotalMinutes} minutes\n{Errors()}");
        }
        if (line.Result is not { } text)
        {
            process.WaitForExit(5000);
            throw new Xunit.Sdk.XunitException($"the Nengo worker ended (exit {(process.HasExited ? process.ExitCode : -1)})\n{Errors()}");
        }
        return JsonDocument.Parse(text);
    }

    string Errors()
    {
        lock (errors) return errors.ToString();
    }

    public void Dispose()
    {
        try
        {
            process.StandardInput.Close();
            if (!process.WaitForExit(10_000)) process.Kill();
        }
        catch (InvalidOperationException)
        {
            // already gone
        }
        process.Dispose();
    }
}

/// <summary>One <see cref="NengoWorker"/> shared by a test class's tests (xunit class fixture), started on first use.</summary>
public sealed class RealNengoFixture : IDisposable
{
    readonly Lazy<NengoWorker> worker = new(() => new NengoWorker());

    public NengoWorker Worker => worker.Value;

    public void Dispose()
    {
        if (worker.IsValueCreated) worker.Value.Dispose();
    }
}

/// <summary>Snn's interpreter and the real Nengo on the same exported network, step by step.</summary>
public static class NengoCompare
{
    /// <summary>
    /// |nengo − snn| ≤ Tolerance · max(1, the largest |value| of that output in that row over all steps): float32
    /// rounding of the same sums taken in another order (a value can be a small difference of terms as large as the
    /// row's largest). Far below any semantic slip: a filter read one step apart changes a value by (1 − exp(−dt/τ))
    /// of the distance to its input (≥ 5 % for τ ≤ 20 ms), a spike gained or lost changes a neuron's output by
    /// amplitude/dt and its consumers by weight·amplitude/dt.
    /// </summary>
    public const float Tolerance = 1e-5f;

    static string ReadoutName(Readout r) => r switch { Readout.Mean => "mean", Readout.Count => "count", _ => "last" };

    /// <summary>
    /// Exports <paramref name="compiled"/> into <paramref name="folder"/>, runs it on the inputs in the interpreter and
    /// in the real Nengo (through model.py's <c>build</c>) and requires every output at every step to agree; then runs
    /// model.py's command line with <paramref name="readout"/> and requires the interpreter's readout. Returns how many
    /// snn outputs were nonzero over all steps.
    /// </summary>
    public static int Check(NengoWorker worker, string name, Compiled compiled, Seq<Tensor> x, int steps, string folder,
        Readout readout = Readout.Last, ProbeTiming timing = ProbeTiming.Nengo)
    {
        var how = ReadoutName(readout);
        var mode = compiled.Network.Nodes.OfType<Snn.Compiler.Convert.Ensemble>().Any(e => e.Neuron.Spiking) ? "spiking" : "rate";
        var script = Export(compiled, folder, new NengoScriptOptions("generated", mode, steps, how, LanguageExt.Prelude.None, false,
            name, "snn test", ProbesAfterUpdate: timing == ProbeTiming.AfterUpdate));
        var inputs = WriteInputs(folder, x);
        var snn = SnnPerStep(compiled, x, steps);
        var outs = snn.Select((_, k) => Path.Combine(folder, $"out{k}.npy")).ToArray();
        var main = inputs.SelectMany(i => new[] { "--input", i }).Concat(outs.SelectMany(o => new[] { "--output", o }))
            .Concat(new[] { "--steps", steps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--readout", how }).ToList();
        var nengo = worker.Run(script, inputs, steps, main);
        Assert.True(snn.Length == nengo.Length, $"{name}: snn has {snn.Length} outputs, model.py {nengo.Length} probes");
        var active = 0;
        for (var k = 0; k < snn.Length; k++) active += SameEveryStep($"{name}, output {k}", snn[k], nengo[k]);
        var read = Interpreter.Run(compiled.Program, compiled.Functions, x, new SimOptions(steps, readout)).Ok();
        // The largest a readout can be: the row's largest per-step value (times steps · dt for a count).
        var factor = readout == Readout.Count ? steps * compiled.Program.Dt : 1f;
        for (var k = 0; k < snn.Length; k++)
            SameReadout($"{name}, output {k}, model.py --readout {how}", read[k], Npy.Read(outs[k]).Ok(), RowScale(snn[k]).Select(v => v * factor).ToArray());
        return active;
    }

    /// <summary>Writes the network's model.py and weights.npz into <paramref name="folder"/>; returns model.py's path.</summary>
    public static string Export(Compiled compiled, string folder, NengoScriptOptions options)
    {
        var export = NengoScript.Generate(options, compiled.Network).Ok();
        Snn.Export.NengoExporter.WriteFolder(folder, false, export).Ok();
        return Path.Combine(folder, "model.py");
    }

    /// <summary>Writes each input as float32 .npy in the folder; returns the paths.</summary>
    public static string[] WriteInputs(string folder, Seq<Tensor> inputs) =>
        inputs.Map((i, x) =>
        {
            var path = Path.Combine(folder, $"x{i}.npy");
            Npy.WriteFloat32(path, x).Ok();
            return path;
        }).ToArray();

    /// <summary>The interpreter's outputs after every step 1..steps, per output as (rows, steps, size).</summary>
    public static Tensor[] SnnPerStep(Compiled compiled, Seq<Tensor> inputs, int steps)
    {
        var perStep = Interpreter.Run(compiled.Program, compiled.Functions, inputs, new SimOptions(steps, Readout.Last),
            Enumerable.Range(1, steps).ToArray()).Ok();
        return perStep[0].Map((k, first) =>
        {
            var rows = first.Shape[0];
            var size = first.Length / rows;
            var values = new float[rows * steps * size];
            for (var t = 0; t < steps; t++)
                for (var r = 0; r < rows; r++)
                    perStep[t][k].Span.Slice(r * size, size).CopyTo(values.AsSpan((r * steps + t) * size, size));
            return Tensor.Own(new[] { rows, steps, size }, values);
        }).ToArray();
    }

    /// <summary>The largest |value| of each row of a (rows, steps, size) record.</summary>
    public static float[] RowScale(Tensor record)
    {
        int rows = record.Shape[0], each = record.Length / rows;
        return Enumerable.Range(0, rows).Select(r =>
        {
            var m = 0f;
            foreach (var v in record.Span.Slice(r * each, each)) m = Math.Max(m, Math.Abs(v));
            return m;
        }).ToArray();
    }

    /// <summary>
    /// Every snn value at step t (1-based) against Nengo's record at step t + <paramref name="shift"/>, within
    /// <see cref="Tolerance"/>; returns how many snn values are nonzero.
    /// </summary>
    public static int SameEveryStep(string name, Tensor snn, Tensor nengo, int shift = 0)
    {
        int n = snn.Shape[0], steps = snn.Shape[1], size = snn.Shape[2];
        Assert.True(n == nengo.Shape[0] && size == nengo.Shape[2] && steps + shift <= nengo.Shape[1],
            $"{name}: snn record ({n}, {steps}, {size}), nengo record ({string.Join(", ", nengo.Shape.ToArray())})");
        var scale = RowScale(snn);
        var nonzero = 0;
        for (var r = 0; r < n; r++)
            for (var t = 0; t < steps; t++)
                for (var k = 0; k < size; k++)
                {
                    var s = snn[(r * steps + t) * size + k];
                    var g = nengo[(r * nengo.Shape[1] + t + shift) * size + k];
                    if (!(Math.Abs(s - g) <= Tolerance * Math.Max(1f, scale[r])))
                        throw new Xunit.Sdk.XunitException($"{name}: row {r}, step {t + 1}, element {k}: snn {s:R}, nengo {g:R} (row's largest |value| {scale[r]:R})");
                    if (s != 0) nonzero++;
                }
        return nonzero;
    }

    /// <summary>One readout per row (rows, ...) against another, within <see cref="Tolerance"/> · max(1, the row's scale).</summary>
    public static void SameReadout(string name, Tensor snn, Tensor nengo, float[] rowScale)
    {
        Assert.True(snn.Length == nengo.Length, $"{name}: snn has {snn.Length} values, nengo {nengo.Length}");
        int rows = rowScale.Length, size = snn.Length / rows;
        for (var i = 0; i < snn.Length; i++)
            if (!(Math.Abs(snn[i] - nengo[i]) <= Tolerance * Math.Max(1f, rowScale[i / size])))
                throw new Xunit.Sdk.XunitException($"{name}: row {i / size}, element {i % size}: snn {snn[i]:R}, nengo {nengo[i]:R}");
    }
}
