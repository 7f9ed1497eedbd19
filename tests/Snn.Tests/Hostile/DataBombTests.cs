using System.IO.Compression;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Hostile;

/// <summary>
/// Small files that declare huge data or models (issue 17), run by the built <c>snn</c> in a bounded child process (a
/// 2 GiB GC heap) with its peak resident memory measured. The fixtures are written here: an .npz and a gzip IDX file of
/// about 1 MB that inflate to 1,100,000 images of 28×28 uint8 (862 MB; 3.4 GB more as float32, past the default 4 GiB
/// budget), and a config of an 8192×8192 input with 12 ReLUs. Before the budget the data bombs inflated and converted
/// until the heap ran out (reported as a model error, exit 3) and the config took over 8 GB under <c>verify</c>; now
/// each is refused from what its header or config declares: exit 4 for data, 3 for the model, naming the sizes and
/// the budget, with peak memory a fraction of what they declare.
/// </summary>
[Trait("Category", "Slow")]
public sealed class DataBombTests : IClassFixture<DataBombTests.Files>
{
    const long Images = 1_100_000;
    const long Bytes = Images * 28 * 28;
    const long HeapLimit = 2L << 30;
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);
    const long PeakBound = 600L << 20;

    /// <summary>The fixtures, written once for the class.</summary>
    public sealed class Files : IDisposable
    {
        public string Dir { get; } = Directory.CreateTempSubdirectory("snn-bombs-").FullName;
        public string Model { get; }
        public string Npz { get; }
        public string Idx { get; }
        public string Relus { get; }

        public Files()
        {
            var images = Directory.CreateDirectory(Path.Combine(Dir, "images")).FullName;
            Model = Path.Combine(images, "model.json");
            File.WriteAllText(Model, """
                {"format": "layers-model", "modelTopology": {"class_name": "Sequential", "config": {"name": "images", "layers": [
                  {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 28, 28, 1], "dtype": "float32", "name": "in"}},
                  {"class_name": "Flatten", "config": {"name": "flat"}}]}},
                 "weightsManifest": [{"paths": [], "weights": []}]}
                """);
            Npz = Path.Combine(Dir, "bomb.npz");
            MemoryBudgetTests.Npz(Npz, MemoryBudgetTests.NpyHeader("|u1", [Images, 28, 28, 1]), Bytes);
            // IDX (LeCun's format): 0, 0, type 0x08 (uint8), rank 3, big-endian dims, then the values; gzip-compressed.
            Idx = Path.Combine(Dir, "bomb-idx3-ubyte.gz");
            using (var gz = new GZipStream(File.Create(Idx), CompressionLevel.SmallestSize))
            {
                gz.Write([0, 0, 0x08, 3]);
                foreach (var d in new[] { (int)Images, 28, 28 }) gz.Write([(byte)(d >> 24), (byte)(d >> 16), (byte)(d >> 8), (byte)d]);
                var chunk = new byte[1 << 20];
                for (var left = Bytes; left > 0; left -= chunk.Length) gz.Write(chunk, 0, (int)Math.Min(chunk.Length, left));
            }
            var relus = Directory.CreateDirectory(Path.Combine(Dir, "relus")).FullName;
            Relus = Path.Combine(relus, "model.json");
            var layers = new[] { """{"class_name": "InputLayer", "config": {"batch_input_shape": [null, 8192, 8192, 1], "dtype": "float32", "name": "in"}}""" }
                .Concat(Enumerable.Range(0, 12).Select(i => $$$"""{"class_name": "ReLU", "config": {"name": "r{{{i}}}"}}"""));
            File.WriteAllText(Relus,
                $$$"""{"format": "layers-model", "modelTopology": {"class_name": "Sequential", "config": {"name": "relus", "layers": [{{{string.Join(", ", layers)}}}]}}, "weightsManifest": [{"paths": [], "weights": []}]}""");
        }

        public void Dispose() => Directory.Delete(Dir, recursive: true);
    }

    readonly Files files;

    public DataBombTests(Files files) => this.files = files;

    [Fact]
    public void The_fixtures_are_small_files_that_declare_gigabytes()
    {
        Assert.True(new FileInfo(files.Npz).Length < 2_000_000, $"{new FileInfo(files.Npz).Length} bytes");
        Assert.True(new FileInfo(files.Idx).Length < 2_000_000, $"{new FileInfo(files.Idx).Length} bytes");
        Assert.True(new FileInfo(files.Relus).Length < 1_000, $"{new FileInfo(files.Relus).Length} bytes");
    }

    void AssertRefused(BoundedRun.Result r, int code, string declared)
    {
        Assert.False(r.TimedOut, $"ran past {Bound.TotalSeconds} s");
        Assert.True(r.Code == code, $"exit {r.Code}: {r.Err}");
        Assert.Contains(declared, r.Err);
        Assert.Contains("more than the memory budget of 4.0 GiB", r.Err);
        Assert.Contains("--max-memory", r.Err);
        Assert.True(r.PeakBytes < PeakBound, $"peak resident memory {r.PeakBytes >> 20} MiB, expected under {PeakBound >> 20} MiB");
    }

    [Theory]
    [InlineData("npz", "predict")]
    [InlineData("npz", "evaluate")]
    [InlineData("idx", "evaluate")]
    public void A_data_bomb_is_refused_from_its_header_as_a_data_error(string kind, string command)
    {
        var data = kind == "npz" ? files.Npz : files.Idx;
        string[] args = command == "predict"
            ? ["predict", files.Model, "--input", data, "--output", Path.Combine(files.Dir, "out"), "--no-progress"]
            : ["evaluate", files.Model, "--data", data, "--mode", "keras", "--no-progress"];
        var r = BoundedRun.Snn(Bound, HeapLimit, args);
        // 862,400,000 bytes stored and 3,449,600,000 as float32.
        AssertRefused(r, 4, $"shape ({Images}, 28, 28{(kind == "npz" ? ", 1" : "")}) of 1-byte values");
        Assert.Contains($"({Bytes * 5} bytes)", r.Err);
    }

    [Fact]
    public void A_data_bomb_that_does_not_fit_the_model_is_refused_by_its_shape_before_the_budget()
    {
        // dense_mlp takes (N, 2, 2): the shape check comes first, from the header, whatever the budget.
        var r = BoundedRun.Snn(Bound, HeapLimit, "evaluate", TestModels.Fixture("tfjs", "dense_mlp", "model.json"), "--data", files.Npz,
            "--mode", "keras", "--max-memory", "1T", "--no-progress");
        Assert.False(r.TimedOut);
        Assert.True(r.Code == 4, $"exit {r.Code}: {r.Err}");
        Assert.Contains($"array of shape ({Images}, 28, 28, 1) does not fit the model input (N, 2, 2)", r.Err);
        Assert.True(r.PeakBytes < PeakBound, $"peak resident memory {r.PeakBytes >> 20} MiB");
    }

    [Theory]
    [InlineData("verify")]
    [InlineData("inspect")]
    public void A_config_declaring_an_8192_square_input_is_refused_before_it_is_converted_or_evaluated(string command)
    {
        // 13 layer outputs of 8192×8192 values at 16 bytes each: 13 GiB. verify makes its two samples of ones first
        // (512 MiB, within the budget), then compiles before it evaluates.
        var r = BoundedRun.Snn(Bound, HeapLimit, command, files.Relus, "--no-progress");
        AssertRefused(r with { PeakBytes = command == "verify" ? Math.Max(0, r.PeakBytes - (512L << 20)) : r.PeakBytes }, 3, "shape (8192, 8192, 1)");
        Assert.Contains("Converting model 'relus'", r.Err);
    }
}
