using System.IO.Compression;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Hostile;

/// <summary>
/// The memory budget (<c>--max-memory</c>, issue 17) in process, on inputs small enough for the fast tier: how sizes are
/// written, the usage errors, a .npy inside an .npz that inflates past what its header declares, and the estimates from
/// shapes that refuse a model before its values are allocated. The oracles are the sizes the shapes imply (products of
/// the declared dimensions times 4 bytes) against the budget given; the bombs that need a bounded child process are in
/// <see cref="DataBombTests"/>.
/// </summary>
public sealed class MemoryBudgetTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-budget-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData("1000000", 1000000L)]
    [InlineData("512M", 512L << 20)]
    [InlineData("4G", 4L << 30)]
    [InlineData("4GiB", 4L << 30)]
    [InlineData("1.5g", 3L << 29)]
    [InlineData("2T", 2L << 40)]
    [InlineData("64k", 65536L)]
    public void Sizes_are_bytes_or_binary_units(string text, long bytes) =>
        Assert.Equal(Prelude.Some(bytes), MemoryBudget.Parse(text));

    [Theory]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("0G")]
    [InlineData("abc")]
    [InlineData("4X")]
    [InlineData("G")]
    [InlineData("1e9")]
    [InlineData("99999999999T")]
    public void Sizes_that_are_not_positive_or_not_sizes_are_refused(string text) =>
        Assert.True(MemoryBudget.Parse(text).IsNone);

    [Theory]
    [InlineData("0")]
    [InlineData("-5M")]
    [InlineData("lots")]
    public void A_bad_max_memory_is_a_usage_error_on_every_command_that_reads_a_model(string value)
    {
        var model = Fixture("tfjs", "dense_mlp", "model.json");
        foreach (var args in new[]
                 {
                     new[] { "inspect", model }, new[] { "verify", model },
                     new[] { "evaluate", model, "--data", Fixture("tfjs", "dense_mlp", "input_0.npy"), "--mode", "keras" },
                 })
        {
            var (code, _, err) = CliRunner.Run([.. args, "--max-memory", value]);
            Assert.True(code == 2, $"{args[0]}: exit {code}: {err}");
            Assert.Contains($"--max-memory expects a positive size", err);
            Assert.Contains($"'{value}'", err);
        }
    }

    /// <summary>A TF.js model of one Flatten over a (28, 28, 1) input: data of shape (N, 28, 28, 1) fits it.</summary>
    string ImageModel()
    {
        var folder = Directory.CreateDirectory(Path.Combine(dir, "images")).FullName;
        File.WriteAllText(Path.Combine(folder, "model.json"), """
            {"format": "layers-model", "modelTopology": {"class_name": "Sequential", "config": {"name": "images", "layers": [
              {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 28, 28, 1], "dtype": "float32", "name": "in"}},
              {"class_name": "Flatten", "config": {"name": "flat"}}]}},
             "weightsManifest": [{"paths": [], "weights": []}]}
            """);
        return Path.Combine(folder, "model.json");
    }

    /// <summary>A .npy header (format 1.0) for <paramref name="descr"/> and <paramref name="shape"/>, as numpy writes it.</summary>
    internal static byte[] NpyHeader(string descr, long[] shape)
    {
        var dims = shape.Length == 1 ? $"({shape[0]},)" : "(" + string.Join(", ", shape) + ")";
        var text = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}";
        text += new string(' ', (64 - (10 + text.Length + 1) % 64) % 64) + "\n";
        var header = new byte[10 + text.Length];
        header[0] = 0x93;
        System.Text.Encoding.ASCII.GetBytes("NUMPY").CopyTo(header, 1);
        header[6] = 1;
        BitConverter.GetBytes((ushort)text.Length).CopyTo(header, 8);
        System.Text.Encoding.ASCII.GetBytes(text).CopyTo(header, 10);
        return header;
    }

    /// <summary>An .npz holding x.npy: <paramref name="header"/>, then <paramref name="zeros"/> zero bytes, deflated.</summary>
    internal static void Npz(string path, byte[] header, long zeros)
    {
        using var file = File.Create(path);
        using var zip = new ZipArchive(file, ZipArchiveMode.Create);
        using var entry = zip.CreateEntry("x.npy", CompressionLevel.SmallestSize).Open();
        entry.Write(header);
        var chunk = new byte[1 << 20];
        for (var left = zeros; left > 0; left -= chunk.Length) entry.Write(chunk, 0, (int)Math.Min(chunk.Length, left));
    }

    [Fact]
    public void An_npz_entry_that_inflates_past_its_npy_header_is_a_data_error()
    {
        // The header declares one image (784 bytes); the entry inflates to 64 MiB. Before, the trailing bytes were
        // inflated and ignored, and the one image ran (exit 0).
        var path = Path.Combine(dir, "liar.npz");
        Npz(path, NpyHeader("|u1", [1, 28, 28, 1]), 64L << 20);
        var (code, _, err) = CliRunner.Run("predict", ImageModel(), "--input", path, "--output", Path.Combine(dir, "out"));
        Assert.True(code == 4, $"exit {code}: {err}");
        Assert.Contains("decompresses to more data than its header declares", err);
    }

    [Fact]
    public void An_npz_whose_declared_shape_does_not_fit_the_model_is_refused_before_it_is_inflated()
    {
        // (1000, 1000) does not fit (N, 28, 28, 1): refused from the header alone, whatever the budget.
        var path = Path.Combine(dir, "wrong.npz");
        Npz(path, NpyHeader("<f4", [1000, 1000]), 4_000_000);
        var (code, _, err) = CliRunner.Run("predict", ImageModel(), "--input", path, "--output", Path.Combine(dir, "out"), "--max-memory", "1T");
        Assert.True(code == 4, $"exit {code}: {err}");
        Assert.Contains("array of shape (1000, 1000) does not fit the model input (N, 28, 28, 1)", err);
    }

    [Fact]
    public void A_npy_past_the_budget_is_a_data_error_naming_both_sizes()
    {
        // 100 images of 28×28×1 as uint8: 78,400 bytes stored and 313,600 as float32, 392,000 in all; the budget is 300,000.
        var path = Path.Combine(dir, "x.npy");
        File.WriteAllBytes(path, NpyHeader("|u1", [100, 28, 28, 1]).Concat(new byte[78_400]).ToArray());
        var (code, _, err) = CliRunner.Run("predict", ImageModel(), "--input", path, "--output", Path.Combine(dir, "out"), "--max-memory", "300000");
        Assert.True(code == 4, $"exit {code}: {err}");
        Assert.Contains("shape (100, 28, 28, 1)", err);
        Assert.Contains("(392000 bytes)", err);
        Assert.Contains("memory budget of 293.0 KiB (300000 bytes)", err);
        Assert.Equal(0, CliRunner.Run("predict", ImageModel(), "--input", path, "--output", Path.Combine(dir, "out"), "--max-memory", "1000000").Code);
    }

    [Fact]
    public void The_arrays_of_one_run_share_the_budget()
    {
        // Two inputs of 100 uint8 images each: 78,400 bytes stored and 313,600 as float32. The first fits 600,000 bytes
        // (392,000); the second needs 392,000 more beside the first's 313,600 float32 values: 705,600.
        var x = Path.Combine(dir, "x.npy");
        File.WriteAllBytes(x, NpyHeader("|u1", [100, 28, 28, 1]).Concat(new byte[78_400]).ToArray());
        var shapes = Prelude.Seq(Arr.create(28, 28, 1), Arr.create(28, 28, 1));
        Assert.Equal(2, Snn.DataFiles.Inputs(Prelude.Seq(x, x), shapes, Prelude.None, 800_000).Ok().Count);
        var refused = Snn.DataFiles.Inputs(Prelude.Seq(x, x), shapes, Prelude.None, 600_000).Err();
        Assert.Equal(Errors.DataCode, refused.Code);
        Assert.Contains("(313600 bytes) of the arrays read before it", refused.Message);
        Assert.Contains("(705600 bytes), more than the memory budget of 585.9 KiB (600000 bytes)", refused.Message);
    }

    /// <summary>A model of <paramref name="relus"/> ReLUs over an input of <paramref name="shape"/>, written as TF.js.</summary>
    string Relus(int[] shape, int relus)
    {
        var folder = Directory.CreateDirectory(Path.Combine(dir, $"relus{relus}")).FullName;
        var layers = new[] { $$$"""{"class_name": "InputLayer", "config": {"batch_input_shape": [null, {{{string.Join(", ", shape)}}}], "dtype": "float32", "name": "in"}}""" }
            .Concat(Enumerable.Range(0, relus).Select(i => $$$"""{"class_name": "ReLU", "config": {"name": "r{{{i}}}"}}"""));
        File.WriteAllText(Path.Combine(folder, "model.json"),
            $$$"""{"format": "layers-model", "modelTopology": {"class_name": "Sequential", "config": {"name": "relus", "layers": [{{{string.Join(", ", layers)}}}]}}, "weightsManifest": [{"paths": [], "weights": []}]}""");
        return Path.Combine(folder, "model.json");
    }

    [Fact]
    public void A_small_config_declaring_huge_shapes_is_refused_before_it_is_converted()
    {
        // The 721-byte config: an 8192×8192 input and 12 ReLUs, 13 outputs of 67,108,864 values. At 16 bytes a
        // value that is 13 GiB, past the default 4 GiB; before, inspect converted it (each ReLU's bias alone 256 MiB).
        var (code, _, err) = CliRunner.Run("inspect", Relus([8192, 8192, 1], 12));
        Assert.True(code == 3, $"exit {code}: {err}");
        Assert.Contains("Converting model 'relus' (13 layer outputs", err);
        Assert.Contains("shape (8192, 8192, 1)", err);
        Assert.Contains($"({13L * 8192 * 8192 * 16} bytes), more than the memory budget of 4.0 GiB", err);
    }

    [Fact]
    public void The_benchmarks_random_inputs_are_checked_before_they_are_made()
    {
        // 1000 samples of 1000×1000 float32: 4,000,000,000 bytes, past a budget of 1 GiB (the network itself is 32 MB).
        var (code, _, err) = CliRunner.Run("bench", Relus([1000, 1000], 1), "--samples", "1000", "--steps", "1", "--max-memory", "1G");
        Assert.True(code == 3, $"exit {code}: {err}");
        Assert.Contains("The benchmark's inputs (1000 samples of (1000, 1000))", err);
        Assert.Contains("(4000000000 bytes), more than the memory budget of 1.0 GiB", err);
    }

    [Fact]
    public void The_reference_evaluator_refuses_at_the_layer_that_passes_the_budget_and_runs_within_it()
    {
        // 4 samples of 1000×1000: 16 MB of inputs. A budget of 20 MB leaves 4 MB for one sample's values: its input
        // (4 MB) fits, the first ReLU's output (4 MB more) does not.
        var model = ModelFile.Import(Relus([1000, 1000], 3)).Ok();
        var inputs = Prelude.Seq1(Tensor.Filled([4, 1000, 1000], -1f));
        var refused = KerasEval.Run(model, inputs, 20_000_000).Err();
        Assert.Equal(Errors.MemoryCode, refused.Code);
        Assert.Contains("at layer 'r0'", refused.Message);
        Assert.Equal(3, Errors.ExitCode(refused));
        // Inputs 16 MB, outputs 16 MB, one sample holds two values at a time (8 MB): 40 MB is enough.
        var outputs = KerasEval.Run(model, inputs, 40_000_000).Ok();
        Assert.Equal([4, 1000, 1000], outputs.Head.Shape.ToArray());
        Assert.All(outputs.Head.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void The_simulator_uses_fewer_workers_to_fit_and_refuses_when_one_sample_does_not()
    {
        var compiled = Compile.Run(CompileOptions.Default, ModelFile.Import(Relus([256, 256], 2)).Ok()).Ok();
        var program = compiled.Program;
        var inputs = Prelude.Seq1(Tensor.Filled([8, 256, 256], 1f));
        var inputBytes = 8L * 256 * 256 * 4;
        var outputBytes = 8L * 256 * 256 * 4;
        var options = new SimOptions(Steps: 1, BatchSize: 1, Threads: 4);
        Assert.Equal((1, 4), Interpreter.Fit(program, options, 8, 1, inputBytes).Ok());
        // Room for the inputs, the outputs and a little: not for one sample's signals (at least its 256 KiB output).
        var tight = options with { MaxMemory = inputBytes + outputBytes + 100_000 };
        var refused = Interpreter.Fit(program, tight, 8, 1, inputBytes).Err();
        Assert.Equal(Errors.MemoryCode, refused.Code);
        Assert.Contains("Simulating 8 sample(s)", refused.Message);
        Assert.Equal(Errors.MemoryCode, Interpreter.Run(program, inputs, tight).Err().Code);
        // Room for one worker but not four: the run takes one, with the same outputs.
        var one = Interpreter.Fit(program, options with { MaxMemory = long.MaxValue }, 8, 1, inputBytes).Ok();
        var perWorker = FitBound(program, options, inputBytes);
        var narrow = options with { MaxMemory = perWorker };
        Assert.Equal(1, Interpreter.Fit(program, narrow, 8, 1, inputBytes).Ok().Workers);
        Assert.Equal(4, one.Workers);
        Close(Interpreter.Run(program, inputs, options).Ok().Head, Interpreter.Run(program, inputs, narrow).Ok().Head, 0f);
    }

    /// <summary>The smallest budget at which <see cref="Interpreter.Fit"/> accepts one worker (found by bisection).</summary>
    static long FitBound(Snn.Ops.OpProgram program, SimOptions options, long inputBytes)
    {
        long lo = 1, hi = 1L << 40;
        while (lo < hi)
        {
            var mid = lo + (hi - lo) / 2;
            if (Interpreter.Fit(program, options with { MaxMemory = mid }, 8, 1, inputBytes).IsRight) hi = mid; else lo = mid + 1;
        }
        return lo;
    }
}
