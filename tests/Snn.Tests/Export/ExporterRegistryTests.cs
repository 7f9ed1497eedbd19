using LanguageExt;
using Snn.Compiler;
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

    /// <summary>The library's export: the format's refusal comes before conversion, the mode and readout reach the file.</summary>
    [Fact]
    public void ExportConvertsInTheRequestedModeAndWrites()
    {
        var model = Loaded.Open(TestModels.Fixture("tfjs", "dense_mlp", "model.json")).Ok();
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        var nengo = Exporters.Find("nengo").IfNone(() => throw new Xunit.Sdk.XunitException("nengo"));
        var request = new ExportRequest(nengo, RunRequest.Of(CompileOptions.Default) with
        {
            Sim = new SimRequest(Steps: LanguageExt.Prelude.Some(7), Readout: LanguageExt.Prelude.Some(new ReadoutChoice(Snn.Runtime.Readout.MeanLast, 3))),
        }, Spiking: true, LanguageExt.Prelude.None, "test");
        var warnings = new List<string>();
        var (lines, _) = Exporters.Export(request, model, dir, warnings.Add).Ok();
        Assert.Contains(lines, l => l.StartsWith("wrote " + Path.Combine(dir, "model.py"), StringComparison.Ordinal));
        var script = File.ReadAllText(Path.Combine(dir, "model.py"));
        Assert.Contains("spiking network", script);
        Assert.Contains("7 steps, readout mean:3", script);
        Directory.Delete(dir, recursive: true);

        var nir = Exporters.Find("nir").IfNone(() => throw new Xunit.Sdk.XunitException("nir"));
        var fallback = Loaded.Open(TestModels.Fixture("tfjs", "fallback_layers", "model.json")).Ok();
        var refused = Exporters.Export(request with { Format = nir }, fallback, Path.Combine(dir, "x.nir"), warnings.Add);
        Assert.Equal(Errors.UnsupportedLayerCode / 1000, refused.Err().Code / 1000);
        Assert.False(File.Exists(Path.Combine(dir, "x.nir")));
    }
}
