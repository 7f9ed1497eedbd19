using System.Diagnostics;
using System.IO.Compression;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text.Json;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Keras;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using L = Snn.Tests.Support.TestModels.L;

namespace Snn.Tests.Hostile;

/// <summary>
/// Only what the user named is written. <c>predict</c> wrote through a link planted as DIR/output_0.npy, and the Nengo
/// export through a link planted as DIR/model.py (and made its target executable); an output was renamed over whatever
/// stood at the path (a named pipe became a regular file; as root, a device node was replaced); the Nengo export left
/// weights.npz behind when model.py could not be written; and layer names went into archive entry names unchanged
/// (<c>../../x.neuron_bias.npy</c>, names that differ only after a NUL). Each is now refused with the documented write
/// error (exit 4), leaving the planted entry as it was, or, for names, written under a safe and unique name that the
/// structure document and the script use too. The oracles are the file system itself (<c>stat</c>, the bytes and mode
/// of the planted target), the values we put into the model, and python3's zipfile and numpy.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed partial class OutputFilesTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-outputs-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int mkfifo(string path, uint mode);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int mknod(string path, uint mode, ulong dev);

    static string Mlp => TestModels.Fixture("tfjs", "dense_mlp", "model.json");
    static string MlpInput => TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy");

    /// <summary>What coreutils' stat says the entry itself is ("fifo", "character special file", "symbolic link", ...).</summary>
    static string Kind(string path)
    {
        var start = new ProcessStartInfo("stat") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "-c", "%F", "--", path }) start.ArgumentList.Add(a);
        using var p = Process.Start(start)!;
        var kind = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return kind;
    }

    /// <summary>A file outside the output folder that a planted link leads to: its path and its original bytes.</summary>
    (string Path, byte[] Bytes) Victim()
    {
        var path = Path.Combine(dir, "victim.txt");
        var bytes = System.Text.Encoding.ASCII.GetBytes("precious, not to be overwritten\n");
        File.WriteAllBytes(path, bytes);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        return (path, bytes);
    }

    static (int Code, string Err) Bounded(params string[] args)
    {
        var r = BoundedRun.Snn(TimeSpan.FromSeconds(60), 1L << 30, args);
        Assert.False(r.TimedOut, $"snn {string.Join(' ', args)} blocked past 60 s");
        return (r.Code, r.Err);
    }

    [Fact]
    public void Predict_does_not_write_through_a_link_planted_as_an_output()
    {
        var victim = Victim();
        var outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(outDir);
        var planted = Path.Combine(outDir, "output_0.npy");
        File.CreateSymbolicLink(planted, victim.Path);
        var (code, _, err) = CliRunner.Run("predict", Mlp, "--input", MlpInput, "--output", outDir, "--mode", "keras");
        Assert.Equal(4, code);
        Assert.Contains("output_0.npy", err);
        Assert.Contains("symbolic link", err);
        Assert.Equal(victim.Bytes, File.ReadAllBytes(victim.Path));
        Assert.Equal("symbolic link", Kind(planted));
        Assert.Equal(new[] { planted }, Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void Predict_with_several_outputs_writes_none_when_one_is_refused()
    {
        // batchnorm has three outputs; a pipe planted as the last one must keep the first two from being written.
        var model = TestModels.Fixture("tfjs", "batchnorm", "model.json");
        var outDir = Path.Combine(dir, "out");
        Directory.CreateDirectory(outDir);
        var fifo = Path.Combine(outDir, "output_2.npy");
        Assert.Equal(0, mkfifo(fifo, Convert.ToUInt32("600", 8)));
        var (code, err) = Bounded("predict", model, "--input", TestModels.Fixture("tfjs", "batchnorm", "input_0.npy"), "--output", outDir, "--mode", "keras");
        Assert.Equal(4, code);
        Assert.Contains("named pipe", err);
        Assert.Equal("fifo", Kind(fifo));
        Assert.Equal(new[] { fifo }, Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void Nengo_export_does_not_write_through_a_link_planted_as_model_py_nor_leave_weights()
    {
        var victim = Victim();
        var outDir = Path.Combine(dir, "nengo");
        Directory.CreateDirectory(outDir);
        var planted = Path.Combine(outDir, "model.py");
        File.CreateSymbolicLink(planted, victim.Path);
        var (code, _, err) = CliRunner.Run("export", Mlp, "--format", "nengo", "--out", outDir);
        Assert.Equal(4, code);
        Assert.Contains("model.py", err);
        Assert.Contains("symbolic link", err);
        Assert.Equal(victim.Bytes, File.ReadAllBytes(victim.Path));
        Assert.Equal(0, (int)(File.GetUnixFileMode(victim.Path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)));
        Assert.Equal(new[] { planted }, Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void Nengo_export_leaves_no_weights_when_model_py_cannot_be_written()
    {
        var outDir = Path.Combine(dir, "nengo");
        var blocker = Path.Combine(outDir, "model.py");
        Directory.CreateDirectory(blocker);
        var (code, _, err) = CliRunner.Run("export", Mlp, "--format", "nengo", "--out", outDir);
        Assert.Equal(4, code);
        Assert.Contains("is a directory", err);
        Assert.Equal(new[] { blocker }, Directory.GetFileSystemEntries(outDir));
    }

    [Fact]
    public void Nengo_export_still_writes_an_executable_script()
    {
        var outDir = Path.Combine(dir, "nengo");
        var (code, _, err) = CliRunner.Run("export", Mlp, "--format", "nengo", "--out", outDir);
        Assert.True(code == 0, err);
        Assert.NotEqual(0, (int)(File.GetUnixFileMode(Path.Combine(outDir, "model.py")) & UnixFileMode.UserExecute));
        Assert.Equal(new[] { "model.py", "weights.npz" }, Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName).Order().ToArray());
    }

    [Theory]
    [InlineData("npz", "net.npz")]
    [InlineData("snnz", "net.snnz")]
    [InlineData("nir", "net.nir")]
    public void A_pipe_named_as_the_output_stays_a_pipe(string format, string name)
    {
        var fifo = Path.Combine(dir, name);
        Assert.Equal(0, mkfifo(fifo, Convert.ToUInt32("600", 8)));
        var (code, err) = format == "snnz"
            ? Bounded("convert", Mlp, "--out", fifo)
            : Bounded("export", Mlp, "--format", format, "--out", fifo);
        Assert.Equal(4, code);
        Assert.Contains(fifo, err);
        Assert.Contains("named pipe (FIFO)", err);
        Assert.Equal("fifo", Kind(fifo));
        Assert.Equal(new[] { fifo }, Directory.GetFileSystemEntries(dir));
    }

    [Fact]
    public void A_device_named_as_the_output_is_not_replaced()
    {
        // A copy of /dev/null's node (character device 1:3) in the test's folder, so a regression cannot replace the real one.
        var device = Path.Combine(dir, "null.npz");
        const uint characterDevice = 0x2000;
        var made = mknod(device, characterDevice | Convert.ToUInt32("666", 8), (1UL << 8) | 3UL) == 0;
        if (!made)
        {
            // Without the right to make device nodes, a socket stands in: also not a regular file.
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Bind(new UnixDomainSocketEndPoint(device));
        }
        var (code, err) = Bounded("export", Mlp, "--format", "npz", "--out", device);
        Assert.Equal(4, code);
        Assert.Contains(made ? "character device" : "socket", err);
        Assert.Equal(made ? "character special file" : "socket", Kind(device));
    }

    [Fact]
    public void The_report_is_not_written_through_a_link()
    {
        var victim = Victim();
        var report = Path.Combine(dir, "report.html");
        File.CreateSymbolicLink(report, victim.Path);
        var (code, err) = Bounded("report", Mlp, "--data", MlpInput, "--out", report, "--steps", "2");
        Assert.Equal(4, code);
        Assert.Contains("symbolic link", err);
        Assert.Equal(victim.Bytes, File.ReadAllBytes(victim.Path));
    }

    [Fact]
    public void A_failed_part_leaves_nothing_behind_not_even_the_folders_made_for_it()
    {
        var outDir = Path.Combine(dir, "new", "deeper");
        var result = OutputFile.WriteAll(Seq(
            new OutputPart(Path.Combine(outDir, "a.bin"), "the first part", s => s.Write(new byte[] { 1, 2, 3 })),
            new OutputPart(Path.Combine(outDir, "b.bin"), "the second part", _ => throw new IOException("disk full (simulated)"))));
        var error = result.Err();
        Assert.Equal(Errors.WriteCode, error.Code);
        Assert.Contains("the second part", error.Message);
        Assert.Contains("disk full (simulated)", error.Message);
        Assert.False(Directory.Exists(Path.Combine(dir, "new")));
    }

    [Fact]
    public void A_regular_file_is_replaced_and_no_temporary_file_stays()
    {
        var path = Path.Combine(dir, "x.bin");
        File.WriteAllBytes(path, new byte[] { 9, 9, 9, 9 });
        OutputFile.Write(path, "the file", s => s.Write(new byte[] { 1, 2 })).Ok();
        Assert.Equal(new byte[] { 1, 2 }, File.ReadAllBytes(path));
        Assert.Equal(new[] { path }, Directory.GetFileSystemEntries(dir));
    }

    // ------------------------------------------------------------------ names that become entry names

    /// <summary>Names that leave the folder, differ only after a NUL, hide, or collide once sanitized (ignoring case).</summary>
    static readonly string[] Hostile = { "../../x", "a\0b", "a\0c", ".hidden", "A\0B", "a_b" };

    /// <summary>
    /// The same without NUL: a NUL in a layer name still reaches the comments of model.py raw, which Python refuses
    /// (escaping control characters in printed names is a separate part of issue 17).
    /// </summary>
    static readonly string[] HostileForScripts = { "../../x", "a/b", "a:b", ".hidden", "A:B", "a_b" };

    /// <summary>Dense layers named as an attacker would; each kernel distinct, so two arrays that collide would show.</summary>
    static (KerasModel Model, Dictionary<string, Tensor> Kernels) HostileModel(string[] names)
    {
        var kernels = new Dictionary<string, Tensor>();
        var layers = new List<L>();
        var width = 4;
        for (var i = 0; i < names.Length; i++)
        {
            var units = i == names.Length - 1 ? 3 : 4;
            var kernel = TestModels.Random(new[] { width, units }, 40 + i, -0.5f, 0.8f);
            kernels[names[i]] = kernel;
            layers.Add(new L("Dense", names[i], new { units, activation = i == names.Length - 1 ? "linear" : "relu", use_bias = true },
                ("kernel", kernel), ("bias", TestModels.Random(new[] { units }, 60 + i, 0f, 0.2f))));
            width = units;
        }
        return (TestModels.Sequential(new[] { 4 }, layers.ToArray()), kernels);
    }

    static Compiled CompileSpiking(KerasModel model) =>
        Compile.Run(CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { ScaleFiringRates = Some(20f) } }, model).Ok();

    static bool Safe(string entry) =>
        entry.Length > 0 && entry[0] != '.' && !entry.Contains("..") && entry.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-' or '.');

    [PythonFact]
    [Trait("Category", "Slow")]
    public void Npz_export_names_its_entries_safely_and_the_document_uses_those_names()
    {
        var (model, kernels) = HostileModel(Hostile);
        var compiled = CompileSpiking(model);
        var path = Path.Combine(dir, "net.npz");
        NpzNetwork.Write(path, false, new NpzSource("model", "memory", true), CompileOptions.Default, None, compiled.Network, compiled.Legal).Ok();
        // python3's zipfile lists the entries; numpy loads each kernel the document names for a dense op.
        const string script = """
            import json, sys, zipfile, numpy as np
            z = zipfile.ZipFile(sys.argv[1])
            doc = json.loads(z.read("structure.json"))
            arrays = np.load(sys.argv[1])
            kernels = {op["layer"]: arrays[op["kernel"]].ravel().tolist() for op in doc["ops"] if op["type"] == "dense"}
            print(json.dumps({"entries": z.namelist(), "kernels": kernels}))
            """;
        var (code, output, err) = Python.Run(script, path);
        Assert.True(code == 0, err);
        var root = JsonDocument.Parse(output).RootElement;
        var entries = root.GetProperty("entries").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.All(entries, e => Assert.True(Safe(e), $"unsafe entry name '{e}'"));
        Assert.Equal(entries.Count, entries.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        var read = root.GetProperty("kernels");
        foreach (var (layer, kernel) in kernels)
            Assert.Equal(kernel.ToArray(), read.GetProperty(layer).EnumerateArray().Select(v => v.GetSingle()).ToArray());
    }

    [RealNengoFact]
    [Trait("Category", "Slow")]
    public void Nengo_export_names_its_weights_safely_and_the_script_runs_as_the_interpreter()
    {
        var (model, _) = HostileModel(HostileForScripts);
        var compiled = CompileSpiking(model);
        var export = NengoScript.Generate(new NengoScriptOptions("hostile", "spiking", 20, "mean", None, false, "test", "snn test"), compiled.Network).Ok();
        var outDir = Path.Combine(dir, "nengo");
        Snn.Export.NengoExporter.WriteFolder(outDir, false, export).Ok();
        using (var zip = ZipFile.OpenRead(Path.Combine(outDir, "weights.npz")))
            Assert.All(zip.Entries, e => Assert.True(Safe(e.FullName), $"unsafe entry name '{e.FullName}'"));
        // model.py in the real Nengo gives what our interpreter gives: every array was found under its name.
        var x = TestModels.Random(new[] { 3, 4 }, 11, 0f, 1f);
        var input = Path.Combine(dir, "x.npy");
        Npy.WriteFloat32(input, x).Ok();
        var output = Path.Combine(dir, "out.npy");
        var (code, _, err) = Python.Run(new[] { Path.Combine(outDir, "model.py"), "--input", input, "--output", output, "--readout", "mean" }, Python.RealNengo);
        Assert.True(code == 0, err);
        var expected = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Steps: 20, Readout: Readout.Mean)).Ok().Head;
        var actual = Npy.Read(output).Ok();
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        for (var i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1e-4f * Math.Max(1f, Math.Abs(expected[i])), $"element {i}: {expected[i]} vs {actual[i]}");
        Assert.Contains(expected.ToArray(), v => v != 0);
    }

    [Fact]
    public void Names_are_sanitized_and_made_unique()
    {
        var names = new SafeNames();
        Assert.Equal("dense_1.kernel", names.Take("dense_1.kernel"));
        Assert.Equal("_._.__x.neuron_bias", names.Take("../../x.neuron_bias"));
        Assert.Equal("a_b", names.Take("a\0b"));
        Assert.Equal("a_c", names.Take("a\0c"));
        Assert.Equal("a_b_2", names.Take("a/b"));
        Assert.Equal("A_B_3", names.Take("A\0B"));
        Assert.Equal("_hidden", names.Take(".hidden"));
        Assert.Equal("_", names.Take(""));
        Assert.Equal(SafeNames.MaxLength, names.Take(new string('n', 5000)).Length);
        Assert.Equal(SafeNames.MaxLength, names.Take(new string('n', 5000)).Length);
    }
}
