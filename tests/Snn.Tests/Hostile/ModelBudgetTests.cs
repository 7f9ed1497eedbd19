using System.IO.Compression;
using Snn.Compiler.Keras;
using Snn.Tests.Support;
using Xunit;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Hostile;

/// <summary>
/// The memory budget (<c>--max-memory</c>, issue 17) while a model file is imported: the files read, the entries a
/// .keras archive inflates and the data an HDF5 file decodes to all count against it. The oracles are the sizes of the
/// fixtures' files on disk, the entry sizes their zip directories declare (as Python's zipfile lists them) and the
/// weight shapes tests/fixtures/keras/generate.py wrote with h5py.
/// </summary>
public sealed class ModelBudgetTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-model-budget-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>The bytes of a model's files: one file, or a TF.js folder's model.json and its .bin weight shards.</summary>
    static long Size(string path) =>
        Directory.Exists(path)
            ? Directory.GetFiles(path).Where(f => Path.GetFileName(f) == "model.json" || f.EndsWith(".bin")).Sum(f => new FileInfo(f).Length)
            : new FileInfo(path).Length;

    static void AssertOver(int code, string err, long needed, long budget)
    {
        Assert.True(code == 3, $"exit {code}: {err}");
        Assert.Contains($"({needed} bytes), more than the memory budget of", err);
        Assert.Contains($"({budget} bytes)", err);
        Assert.Contains("--max-memory", err);
        Assert.DoesNotContain("   at ", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Theory]
    [InlineData("keras", "legacy_keras38.h5")]
    [InlineData("keras", "keras_sequential.keras")]
    [InlineData("tfjs", "dense_mlp")]
    public void A_model_whose_files_pass_the_budget_is_a_model_error_and_reads_within_the_default(string folder, string name)
    {
        // A budget one byte short of the model's files (for TF.js, model.json and weights.bin together: the shard is
        // refused with the bytes of model.json read before it). Before, the budget did not reach model files: exit 0.
        var model = Fixture(folder, name);
        var bytes = Size(model);
        var (code, _, err) = CliRunner.Run("inspect", model, "--max-memory", (bytes - 1).ToString());
        AssertOver(code, err, bytes, bytes - 1);
        var ok = CliRunner.Run("inspect", model);
        Assert.True(ok.Code == 0, ok.Err);
    }

    [Fact]
    public void The_weights_an_h5_file_decodes_to_count_beside_the_file()
    {
        // legacy_keras38.h5 holds a (4, 3) and a (3, 2) float32 kernel with biases of 3 and 2: 23 values, 92 bytes.
        // With the file that is 92 bytes more than the file; one byte less is refused, exactly that much reads.
        var model = Fixture("keras", "legacy_keras38.h5");
        var file = new FileInfo(model).Length;
        var needed = file + 92;
        var (code, _, err) = CliRunner.Run("inspect", model, "--max-memory", (needed - 1).ToString());
        AssertOver(code, err, needed, needed - 1);
        Assert.Contains("the data read from this file would reach 92 bytes", err);
        var ok = CliRunner.Run("inspect", model, "--max-memory", needed.ToString());
        Assert.True(ok.Code == 0, ok.Err);
    }

    [Fact]
    public void A_keras_archives_inflated_entries_count_together()
    {
        // keras_sequential.keras stores config.json (2,345 bytes) and model.weights.h5 (14,388 bytes) uncompressed;
        // deflated again, the archive is far smaller than the 16,733 bytes its entries inflate to.
        var deflated = Path.Combine(dir, "deflated.keras");
        using (var source = ZipFile.OpenRead(Fixture("keras", "keras_sequential.keras")))
        using (var target = ZipFile.Open(deflated, ZipArchiveMode.Create))
            foreach (var entry in source.Entries)
            {
                using var from = entry.Open();
                using var to = target.CreateEntry(entry.FullName, CompressionLevel.SmallestSize).Open();
                from.CopyTo(to);
            }
        const long inflated = 2345 + 14388;
        Assert.True(new FileInfo(deflated).Length < inflated - 1);
        var (code, _, err) = CliRunner.Run("inspect", deflated, "--max-memory", (inflated - 1).ToString());
        AssertOver(code, err, inflated, inflated - 1);
        Assert.Contains("'model.weights.h5' declares 14388 bytes", err);
        var ok = CliRunner.Run("inspect", deflated);
        Assert.True(ok.Code == 0, ok.Err);
    }

    [Fact]
    public void Convert_reads_the_model_within_the_budget()
    {
        var model = Fixture("tfjs", "dense_mlp");
        var bytes = Size(model);
        var (code, _, err) = CliRunner.Run("convert", model, "--out", Path.Combine(dir, "net.snnz"), "--max-memory", (bytes - 1).ToString());
        AssertOver(code, err, bytes, bytes - 1);
        Assert.False(File.Exists(Path.Combine(dir, "net.snnz")));
    }

    [Fact]
    public void An_embedded_model_is_imported_within_the_budget()
    {
        var source = ModelFile.ImportWithSource(Fixture("keras", "legacy_keras38.h5")).Ok().Source;
        Assert.Equal(new FileInfo(Fixture("keras", "legacy_keras38.h5")).Length, source.Bytes);
        var refused = ModelFile.FromSource(source, "embedded", source.Bytes - 1).Err();
        Assert.Equal(Errors.MemoryCode, refused.Code);
        Assert.Contains($"({source.Bytes} bytes), more than the memory budget of", refused.Message);
        Assert.True(ModelFile.FromSource(source, "embedded").IsRight);
    }
    [Fact]
    public void A_saved_network_and_its_inflated_entries_count_together()
    {
        // A .snnz converted with the default budget, then read with less: one byte short of the file itself, then the
        // file plus a few bytes (less than snnz.json, which its zip directory lists at several KiB), then the file plus
        // every entry's declared size, which reads.
        var net = Path.Combine(dir, "net.snnz");
        var made = CliRunner.Run("convert", Fixture("tfjs", "dense_mlp"), "--out", net);
        Assert.True(made.Code == 0, made.Err);
        var file = new FileInfo(net).Length;
        long entries;
        using (var zip = ZipFile.OpenRead(net))
        {
            entries = zip.Entries.Sum(e => e.Length);
            Assert.True(zip.GetEntry("snnz.json")!.Length > 100);
        }

        var (code, _, err) = CliRunner.Run("inspect", net, "--max-memory", (file - 1).ToString());
        AssertOver(code, err, file, file - 1);

        (code, _, err) = CliRunner.Run("inspect", net, "--max-memory", (file + 10).ToString());
        Assert.True(code == 3, $"exit {code}: {err}");
        Assert.Contains("declares", err);
        Assert.Contains("more than the memory budget of", err);
        Assert.Contains($"({file + 10} bytes); if the file is trusted", err);

        var ok = CliRunner.Run("inspect", net, "--max-memory", (file + entries).ToString());
        Assert.True(ok.Code == 0, ok.Err);
    }
}
