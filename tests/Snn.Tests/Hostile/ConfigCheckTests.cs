using System.Text.Json.Nodes;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Hostile;

/// <summary>
/// A layer's config is checked against itself and its weights when the model is read: real TF.js fixtures (written by
/// tfjs-layers 4.22) with one setting edited so it disagrees. Each is a model error (exit 3) naming the layer and both
/// values, in every command; before these checks each was accepted and gave a wrong answer or an internal failure.
/// </summary>
public sealed class ConfigCheckTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("snn-config-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>A copy of fixture <paramref name="name"/> with <paramref name="edit"/> applied to layer <paramref name="layer"/>'s config.</summary>
    string Edited(string name, int layer, Action<JsonObject> edit)
    {
        var target = Path.Combine(dir, name + layer);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(TestModels.Fixture("tfjs", name)))
            File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        var path = Path.Combine(target, "model.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        edit(json["modelTopology"]!["config"]!["layers"]![layer]!["config"]!.AsObject());
        File.WriteAllText(path, json.ToJsonString());
        return path;
    }

    static void Refused(string path, params string[] expected)
    {
        foreach (var command in new[] { new[] { "inspect", path }, new[] { "verify", path } })
        {
            var (code, _, err) = CliRunner.Run(command);
            Assert.True(code == 3, $"snn {command[0]}: exit {code}, expected 3: {err}");
            foreach (var e in expected) Assert.Contains(e, err);
        }
    }

    [Fact]
    public void The_unedited_fixtures_are_accepted()
    {
        foreach (var name in new[] { "dense_mlp", "conv_valid_same", "avgpool_same_overlap", "padding_cropping_upsampling", "depthwise_separable", "conv_transpose", "conv_dilated" })
            Assert.Equal(0, CliRunner.Run("inspect", TestModels.Fixture("tfjs", name, "model.json")).Code);
    }

    [Fact]
    public void Dense_units_that_disagree_with_the_kernel() =>
        Refused(Edited("dense_mlp", 1, c => c["units"] = 64), "dense_Dense1", "units is 64 but the kernel's last axis is 5");

    [Fact]
    public void Use_bias_false_with_a_stored_bias() =>
        Refused(Edited("dense_mlp", 2, c => c["use_bias"] = false), "dense_Dense2", "use_bias is false but the weights hold a bias");

    [Fact]
    public void Use_bias_true_with_no_bias_in_the_weights_manifest() =>
        Refused(Edited("dense_mlp", 3, c => c["use_bias"] = true), "dense_Dense3", "use_bias is true but the weights have no bias");

    [Fact]
    public void Conv_filters_that_disagree_with_the_kernel() =>
        Refused(Edited("conv_valid_same", 0, c => c["filters"] = 16), "conv2d_Conv2D1", "filters is 16 but the kernel's last axis is 4");

    [Fact]
    public void Kernel_size_that_disagrees_with_the_kernel() =>
        Refused(Edited("conv_valid_same", 0, c => c["kernel_size"] = new JsonArray(5, 5)), "kernel_size is (5, 5) but the kernel is (3, 3, 2, 4)");

    [Fact]
    public void Zero_strides_and_dilations_and_pool_sizes()
    {
        Refused(Edited("conv_valid_same", 1, c => c["strides"] = new JsonArray(0, 0)), "strides (0, 0) must be positive");
        Refused(Edited("conv_valid_same", 2, c => c["dilation_rate"] = new JsonArray(0, 1)), "dilation_rate (0, 1) must be positive");
        Refused(Edited("avgpool_same_overlap", 0, c => c["pool_size"] = new JsonArray(0, 3)), "pool_size (0, 3) must be positive");
    }

    [Fact]
    public void A_dilation_that_would_overflow_the_kernel_extent() =>
        Refused(Edited("conv_valid_same", 0, c => c["dilation_rate"] = new JsonArray(2147483647, 1)), "wider than any input can be");

    [Fact]
    public void Negative_padding_and_cropping()
    {
        Refused(Edited("padding_cropping_upsampling", 0, c => c["padding"] = JsonNode.Parse("[[1, -2], [0, 1]]")), "padding (1, -2, 0, 1) must not be negative");
        Refused(Edited("padding_cropping_upsampling", 1, c => c["cropping"] = JsonNode.Parse("[[-1, 0], [2, 1]]")), "cropping (-1, 0, 2, 1) must not be negative");
    }

    /// <summary>
    /// Found by the structural fuzz: an UpSampling2D size that overflows the output shape (7 rows x 2^30) was reported as
    /// a nonsensical shape downstream ("input (-1073741824, 4, 2) is smaller than the kernel"), or in another fixture
    /// accepted with an empty output; one that does not overflow but is huge (4096 x 4096) built a gather index per output
    /// value (61 s and 1.9 GB, then out of memory). Both are now refused before allocation by legalize (inspect) and by
    /// the reference evaluator (verify runs it first), naming the layer and the output shape; the input to this layer
    /// is 7 x 2 x 2 after the fixture's padding and cropping.
    /// </summary>
    [Theory]
    [InlineData(1073741824, 2, "(7516192768, 4, 2)")]
    [InlineData(4096, 4096, "(28672, 8192, 2)")]
    public void An_upsampling_size_past_the_per_sample_limit(int rows, int cols, string output) =>
        Refused(Edited("padding_cropping_upsampling", 2, c => c["size"] = new JsonArray(rows, cols)),
            "up_sampling2d_UpSampling2D", $"size ({rows}, {cols}) makes the output {output} larger than 67108864 elements per sample");

    /// <summary>
    /// The same for ZeroPadding2D (found the same way): padding 2^31-1 on both sides of the 5 rows wrapped to 3 rows and
    /// was accepted (verify "matched": both sides computed the same wrong shape); 4096 on every side built a gather of
    /// 134 million indices (inspect ran past 60 s at 2.2 GB).
    /// </summary>
    [Theory]
    [InlineData("[[2147483647, 2147483647], [0, 0]]", "padding (2147483647, 2147483647, 0, 0) makes the output (4294967299, 4, 2)")]
    [InlineData("[[4096, 4096], [4096, 4096]]", "padding (4096, 4096, 4096, 4096) makes the output (8197, 8196, 2)")]
    public void A_zero_padding_past_the_per_sample_limit(string padding, string expected) =>
        Refused(Edited("padding_cropping_upsampling", 0, c => c["padding"] = JsonNode.Parse(padding)),
            "zero_padding2d_ZeroPadding2D", expected + " larger than 67108864 elements per sample");

    [Fact]
    public void Every_disagreement_is_reported_at_once()
    {
        var path = Edited("dense_mlp", 1, c => c["units"] = 64);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        json["modelTopology"]!["config"]!["layers"]![3]!["config"]!["use_bias"] = true;
        File.WriteAllText(path, json.ToJsonString());
        Refused(path, "2 problems", "units is 64", "use_bias is true but the weights have no bias");
    }
}
