using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.KerasFiles;

/// <summary>
/// Cases the import fuzzer found (KerasImportFuzzTests), pinned as edits of a fixture's config.json: each must be an
/// <see cref="Snn.Errors"/> value from import or legalize and exit code 3 from the CLI, never an exception
/// (which the CLI reports as an "internal failure").
/// </summary>
public class KerasImportRegressionTests
{
    /// <summary>Copies a fixture archive with its config.json edited, to a fresh temp file.</summary>
    static string Rewrite(string fixture, Action<JsonNode> edit)
    {
        var source = KerasFileFixtures.PathOf(fixture);
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var target = Path.Combine(dir, fixture);
        using var input = ZipFile.OpenRead(source);
        using var output = new FileStream(target, FileMode.CreateNew);
        using var zip = new ZipArchive(output, ZipArchiveMode.Create);
        foreach (var e in input.Entries)
        {
            using var s = e.Open();
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            var data = ms.ToArray();
            if (e.FullName == "config.json")
            {
                var node = JsonNode.Parse(data)!;
                edit(node);
                // "__HUGE__" stands for a number no JsonNode can hold.
                data = Encoding.UTF8.GetBytes(node.ToJsonString().Replace("\"__HUGE__\"", "1e400"));
            }
            using var w = zip.CreateEntry(e.FullName, CompressionLevel.NoCompression).Open();
            w.Write(data);
        }
        return target;
    }

    static void ImportOrLegalizeIsAnError(string path) => NoException(path, errorRequired: true);

    /// <summary>Import, then legalize: a model or an error, never an exception; the CLI agrees (exit 0 or 3).</summary>
    static void NoException(string path, bool errorRequired)
    {
        string error;
        try
        {
            error = ModelFile.Import(path).Match(
                m => Legalize.Run(LegalizeOptions.Default, m).Match(Succ: _ => "", Fail: es => Errors.Many(es).Message),
                e => e.Message);
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"threw {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
        }
        if (errorRequired) Assert.True(error.Length > 0, "expected an error, but the model legalized");

        var (code, output, err) = CliRunner.Run("inspect", path);
        Assert.True(code == (error.Length > 0 ? 3 : 0), $"exit {code}\n{output}\n{err}");
        Assert.DoesNotContain("internal failure", err);
        Assert.DoesNotContain("   at ", err);
    }

    static JsonArray Layers(JsonNode config) => config["config"]!["layers"]!.AsArray();

    // Found: KerasArchive.AssignGroups reads config.json with JsonElement.GetProperty, whose KeyNotFoundException
    // escaped (FromConfig caught only InvalidOperationException).
    [Theory]
    [InlineData("root class_name")]
    [InlineData("root config")]
    [InlineData("layers")]
    [InlineData("layer class_name")]
    [InlineData("layer config")]
    [InlineData("layer class renamed to Functional")]
    public void ArchiveConfigMissingAKeyIsAnError(string what)
    {
        ImportOrLegalizeIsAnError(Rewrite("keras_sequential.keras", c =>
        {
            switch (what)
            {
                case "root class_name": c.AsObject().Remove("class_name"); break;
                case "root config": c.AsObject().Remove("config"); break;
                case "layers": c["config"]!.AsObject().Remove("layers"); break;
                case "layer class_name": Layers(c)[1]!.AsObject().Remove("class_name"); break;
                case "layer config": Layers(c)[1]!.AsObject().Remove("config"); break;
                default: Layers(c)[1]!["class_name"] = "Functional"; break;   // a "nested model" without layers
            }
        }));
    }

    [Fact]
    public void ArchiveConfigThatIsTheMetadataIsAnError() =>
        ImportOrLegalizeIsAnError(Rewrite("keras_sequential.keras", c =>
        {
            var o = c.AsObject();
            foreach (var k in o.Select(p => p.Key).ToList()) o.Remove(k);
            o["keras_version"] = "3.8.0";
            o["date_saved"] = "2025-02-03@16:35:44";
        }));

    // Found: KerasConfigReader.CollectKerasTensors indexes keras_history[2] unchecked: IndexOutOfRangeException, which
    // KerasConfigReader.Read did not catch.
    [Theory]
    [InlineData(2)]
    [InlineData(1)]
    [InlineData(0)]
    public void ShortKerasHistoryIsAnError(int length) =>
        ImportOrLegalizeIsAnError(Rewrite("keras_functional_add.keras", c =>
        {
            var history = Layers(c)[3]!["inbound_nodes"]![0]!["args"]![0]![0]!["config"]!["keras_history"]!.AsArray();
            while (history.Count > length) history.RemoveAt(history.Count - 1);
        }));

    // Found: legalize refuses a BatchNormalization axis that is not one non-batch axis and falls back to
    // KerasEval.EvaluateLayer as a probe, whose BatchNormalization case indexes x.Shape[axis] unchecked
    // (KerasEval.Affine; `a[0]` of an empty axis list): IndexOutOfRangeException.
    [Theory]
    [InlineData("2147483647")]
    [InlineData("5")]
    [InlineData("0")]
    [InlineData("[0, 0]")]
    [InlineData("[]")]
    public void BatchNormOnAMissingOrBatchAxisIsAnError(string axis) =>
        ImportOrLegalizeIsAnError(Rewrite("keras_bn_no_scale.keras", c => Layers(c)[2]!["config"]!["axis"] = JsonNode.Parse(axis)));

    // Found: LayerConfig.IntsOf / Number call JsonElement.GetInt32 / GetDouble on any JSON number: FormatException for
    // 0.5 or 1e400 (out of double range) where an int or a finite number is expected; KerasEval's and Legalize's `a[0]`
    // on an empty list: IndexOutOfRangeException. Both escaped legalize (also through the fallback probe).
    // A model or an error are both acceptable here.
    [Theory]
    [InlineData(1, "groups", "0.5")]
    [InlineData(1, "groups", "\"__HUGE__\"")]
    [InlineData(1, "groups", "[]")]
    [InlineData(1, "strides", "[0.5, 1]")]
    [InlineData(2, "epsilon", "\"__HUGE__\"")]
    [InlineData(2, "axis", "0.5")]
    public void NumbersOfTheWrongKindGiveAModelOrAnError(int layer, string key, string value) =>
        NoException(Rewrite("keras_bn_no_center.keras", c => Layers(c)[layer]!["config"]![key] = JsonNode.Parse(value)), errorRequired: false);

    // Found: ZipArchive does not check CRC-32 when reading, so KerasArchive.ReadEntry returned corrupted bytes as they
    // were: one flipped bit in a stored kernel gave a model with a silently different weight. Python's zipfile (which
    // Keras loads with) refuses the same archive ("Bad CRC-32 for file 'model.weights.h5'").
    [Fact]
    public void CorruptedEntryIsRefusedByItsCrc()
    {
        var source = KerasFileFixtures.PathOf("keras_sequential.keras");
        var kernel = ModelFile.Import(source).Ok().Node("dense").Bind(n => n.Weight("kernel"))
            .IfNone(() => throw new Xunit.Sdk.XunitException("no kernel"));
        var pattern = System.Runtime.InteropServices.MemoryMarshal.AsBytes(kernel.Span).ToArray();
        var bytes = File.ReadAllBytes(source);
        var at = bytes.AsSpan().IndexOf(pattern);
        Assert.True(at > 0);
        bytes[at] ^= 1;   // lowest mantissa bit of kernel[0, 0]
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var path = Path.Combine(dir, "corrupt.keras");
        File.WriteAllBytes(path, bytes);

        var result = ModelFile.Import(path);
        Assert.True(result.IsLeft, "a corrupted model.weights.h5 was read without error (its CRC-32 is not checked)");
        Assert.Contains("CRC", result.Err().Message);
        Assert.Equal(3, Errors.ExitCode(result.Err()));
    }

    // Found: Legalize.Fallback sizes its probe with Shapes.Product(input shape): OverflowException ("shape too large")
    // for an input of more than 2^31 elements (and a multi-GB allocation for a large one below that), and -1 for an
    // unknown (None) or negative dimension.
    [Theory]
    [InlineData(-2147483648)]
    [InlineData(-5)]
    [InlineData(null)]
    [InlineData(1 << 30)]
    [InlineData(int.MaxValue)]
    public void UnusableInputDimensionIsAnError(int? dim) =>
        ImportOrLegalizeIsAnError(Rewrite("keras_lambda.keras", c =>
            Layers(c)[0]!["config"]!["batch_shape"] = new JsonArray(null, dim, 4)));
}
