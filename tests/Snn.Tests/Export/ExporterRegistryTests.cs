using Snn.Export;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Export;

/// <summary><c>snn export</c> knows the formats only through the registry: adding one there is all the CLI needs.</summary>
public class ExporterRegistryTests
{
    [Fact]
    public void EveryRegisteredFormatIsReachedByItsName()
    {
        var model = TestModels.Fixture("tfjs", "dense_mlp", "model.json");
        Assert.Equal(3, Exporters.All.Length);
        foreach (var exporter in Exporters.All)
        {
            Assert.Same(exporter, Exporters.Find(exporter.Name).IfNone(() => throw new Xunit.Sdk.XunitException(exporter.Name)));
            // Without --out the command stops at the format's own message: the format was dispatched by its name.
            var (code, _, err) = CliRunner.Run("export", model, "--format", exporter.Name);
            Assert.Equal(2, code);
            Assert.Contains(exporter.NeedsOut, err);
        }
        var (unknownCode, _, unknown) = CliRunner.Run("export", model, "--format", "onnx", "--out", "x");
        Assert.Equal(2, unknownCode);
        Assert.Contains($"--format supports {Exporters.Names}, got 'onnx'", unknown);
        Assert.Contains("npz, nengo or nir", Exporters.Names);
    }
}
