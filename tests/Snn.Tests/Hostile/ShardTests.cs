using System.Text.Json.Nodes;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Hostile;

/// <summary>
/// TF.js weight shards are read once each and exactly: on a copy of the real tfjs-layers fixture <c>dense_mlp</c>, a
/// shard listed again (before: read and held once per listing, 3.1 GB for 3,000 listings) and bytes after the last
/// weight (before: ignored, so a file appended to a shard travelled into saved networks) are model errors (exit 3).
/// </summary>
public sealed class ShardTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-shards-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string Copy()
    {
        foreach (var f in Directory.GetFiles(TestModels.Fixture("tfjs", "dense_mlp")))
            File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return Path.Combine(dir, "model.json");
    }

    [Fact]
    public void The_unedited_copy_is_accepted() => Assert.Equal(0, CliRunner.Run("inspect", Copy()).Code);

    [Fact]
    public void A_shard_listed_twice_is_refused()
    {
        var path = Copy();
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        var paths = json["weightsManifest"]![0]!["paths"]!.AsArray();
        paths.Add(paths[0]!.GetValue<string>());
        File.WriteAllText(path, json.ToJsonString());
        var (code, _, err) = CliRunner.Run("inspect", path);
        Assert.Equal(3, code);
        Assert.Contains("is listed more than once", err);
    }

    [Fact]
    public void Bytes_after_the_last_weight_are_refused()
    {
        var path = Copy();
        var shard = Path.Combine(dir, JsonNode.Parse(File.ReadAllText(path))!["weightsManifest"]![0]!["paths"]![0]!.GetValue<string>());
        var before = new FileInfo(shard).Length;
        File.AppendAllText(shard, "secret: not a weight");
        var (code, _, err) = CliRunner.Run("inspect", path);
        Assert.Equal(3, code);
        Assert.Contains($"hold 20 bytes after the last weight of their group ({before + 20} bytes, the weights take {before})", err);
    }
}
