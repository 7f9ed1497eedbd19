using System.Text.Json.Nodes;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Hostile;

/// <summary>
/// Only what the user named is read. A pipe given as the model, a weight shard or the data used to block forever (it is
/// now read as the empty file it reports itself to be, and refused as what it is not); a weight shard that is a
/// symbolic link to a file outside the model's folder was read (and <c>snn convert</c> embedded that file in the saved
/// network). Each is now refused at once with the documented exit code; a link that stays inside the folder still works.
/// </summary>
public sealed class NamedFilesTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-named-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Fifo(string name) => SpecialFiles.Fifo(Path.Combine(dir, name));

    /// <summary>A copy of the tfjs-layers fixture <c>dense_mlp</c> whose weight shard is replaced by <paramref name="shard"/>(path).</summary>
    string ModelWithShard(Action<string> shard)
    {
        var model = Path.Combine(dir, "model");
        Directory.CreateDirectory(model);
        foreach (var f in Directory.GetFiles(TestModels.Fixture("tfjs", "dense_mlp")))
            File.Copy(f, Path.Combine(model, Path.GetFileName(f)));
        var json = Path.Combine(model, "model.json");
        var name = JsonNode.Parse(File.ReadAllText(json))!["weightsManifest"]![0]!["paths"]![0]!.GetValue<string>();
        shard(Path.Combine(model, name));
        return json;
    }

    static (int Code, string Err) Bounded(params string[] args)
    {
        var r = BoundedRun.Snn(TimeSpan.FromSeconds(60), 1L << 30, args);
        Assert.False(r.TimedOut, $"snn {string.Join(' ', args)} blocked past 60 s");
        return (r.Code, r.Err);
    }

    [Fact]
    public void A_pipe_as_the_model_is_refused_without_blocking()
    {
        var (code, err) = Bounded("inspect", Fifo("model.h5"));
        Assert.Equal(3, code);
        Assert.Contains("not an HDF5 file", err);
    }

    [Fact]
    public void A_pipe_as_the_data_is_refused_without_blocking()
    {
        var (code, err) = Bounded("evaluate", TestModels.Fixture("tfjs", "dense_mlp", "model.json"), "--data", Fifo("x.npy"), "--mode", "keras");
        Assert.Equal(4, code);
        Assert.Contains("not a .npy file", err);
    }

    [Fact]
    public void A_pipe_as_a_weight_shard_is_refused_without_blocking()
    {
        var model = ModelWithShard(shard => { File.Delete(shard); SpecialFiles.Fifo(shard); });
        var (code, err) = Bounded("inspect", model);
        Assert.Equal(3, code);
        Assert.Contains("is larger than the weight data", err);
    }

    [Fact]
    public void A_weight_shard_linked_to_a_file_outside_the_model_folder_is_refused()
    {
        var outside = Path.Combine(dir, "secret.bin");
        var model = ModelWithShard(shard =>
        {
            File.Move(shard, outside);
            File.CreateSymbolicLink(shard, outside);
        });
        var (code, _, err) = CliRunner.Run("convert", model, "--out", Path.Combine(dir, "net.snnz"));
        Assert.Equal(3, code);
        Assert.Contains("leads outside the model's folder", err);
        Assert.False(File.Exists(Path.Combine(dir, "net.snnz")));
    }

    [Fact]
    public void A_weight_shard_linked_within_the_model_folder_is_read()
    {
        var model = ModelWithShard(shard =>
        {
            var moved = Path.Combine(Path.GetDirectoryName(shard)!, "real.bin");
            File.Move(shard, moved);
            File.CreateSymbolicLink(shard, "real.bin");
        });
        Assert.Equal(0, CliRunner.Run("inspect", model).Code);
    }

    [Fact]
    public void A_link_that_leads_nowhere_is_refused()
    {
        var data = Path.Combine(dir, "x.npy");
        File.CreateSymbolicLink(data, Path.Combine(dir, "missing.npy"));
        var (code, _, err) = CliRunner.Run("evaluate", TestModels.Fixture("tfjs", "dense_mlp", "model.json"), "--data", data, "--mode", "keras");
        Assert.Equal(4, code);
        Assert.Contains("does not exist", err);
    }
}
