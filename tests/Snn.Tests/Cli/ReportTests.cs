using System.Text.Json;
using System.Xml.Linq;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Cli;

/// <summary><c>snn report</c>: one self-contained HTML file with SVG charts, the tables, and escaped text.</summary>
public class ReportTests
{
    const string SvgNs = "xmlns=\"http://www.w3.org/2000/svg\"";

    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Class labels (N,) from a fixture's recorded outputs, written as .npy: the ANN gets them all right.</summary>
    static string LabelsFrom(string expectedNpy, string dir)
    {
        var t = Npy.Read(expectedNpy).Match(x => x, e => throw new InvalidOperationException(e.Message));
        var n = t.Shape[0];
        var c = t.Length / n;
        var labels = Enumerable.Range(0, n).Select(i => (float)System.Numerics.Tensors.TensorPrimitives.IndexOfMax(t.Span.Slice(i * c, c))).ToArray();
        var path = Path.Combine(dir, "labels.npy");
        Npy.WriteFloat32(path, Tensor.Vector(labels));
        return path;
    }

    static string[] InspectLayers(string model)
    {
        var (code, output, err) = CliRunner.Run("inspect", model, "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        return doc.RootElement.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("name").GetString()!).ToArray();
    }

    /// <summary>Parses the report as XML (it is written well-formed), so every element, every svg included, is closed.</summary>
    static XDocument Parse(string html)
    {
        Assert.StartsWith("<!DOCTYPE html>", html);
        return XDocument.Parse(html["<!DOCTYPE html>".Length..]);
    }

    static void SelfContained(string html)
    {
        var rest = html.Replace(SvgNs, "");
        Assert.DoesNotContain("http://", rest);
        Assert.DoesNotContain("https://", rest);
        Assert.DoesNotContain("<script", rest, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", rest, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", rest, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("url(", rest, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("@import", rest, StringComparison.OrdinalIgnoreCase);
    }

    static IEnumerable<XElement> Named(XDocument doc, string name) => doc.Descendants().Where(e => e.Name.LocalName == name);

    static int PointCount(XElement polyline) =>
        polyline.Attribute("points")!.Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;

    [Fact]
    public void MaxPoolModelGetsOneCurvePerMethodAndTheBaseline()
    {
        var dir = TempDir();
        var model = TestModels.Fixture("tfjs", "conv1d", "model.json");
        var labels = LabelsFrom(TestModels.Fixture("tfjs", "conv1d", "expected_0.npy"), dir);
        var outPath = Path.Combine(dir, "sub", "report.html");
        var (code, output, err) = CliRunner.Run("report", model, "--data", TestModels.Fixture("tfjs", "conv1d", "input_0.npy"),
            "--labels", labels, "--out", outPath);
        Assert.True(code == 0, err);
        Assert.Equal(outPath, output.Trim());
        Assert.True(File.Exists(outPath));

        var html = File.ReadAllText(outPath);
        SelfContained(html);
        var doc = Parse(html);
        Assert.True(Named(doc, "svg").Count() >= 2);
        var text = doc.Root!.Value;
        foreach (var layer in InspectLayers(model)) Assert.Contains(layer, text);

        // Default checkpoints 1, 2, 4, 8, 16, 32: every curve has one point per checkpoint.
        var curves = Named(doc, "polyline").Where(p => (string?)p.Attribute("class") == "curve").ToList();
        var names = curves.Select(c => (string)c.Attribute("data-curve")!).ToList();
        foreach (var method in new[] { "count", "gate", "pre", "avg" }) Assert.Contains(names, n => n.StartsWith($"max-pool {method}"));
        Assert.Contains("NengoDL baseline", names);
        Assert.Single(names, n => n.Contains("your options"));
        Assert.All(curves, c => Assert.Equal(6, PointCount(c)));

        // The ANN is right on every sample (the labels are its own predictions), and the report says so.
        Assert.Contains("ANN (100.0%)", text);
        Assert.Contains(Snn.OperationCounts.Source, text);
        Assert.Contains("spikes per neuron per step", text);
        Assert.True(Named(doc, "svg").Count(s => ((string?)s.Attribute("class") ?? "").Contains("histogram")) >= 1);
    }

    [Fact]
    public void ModelWithoutMaxPoolingGetsOneCurveAndTheBaseline_AndLayerNamesAreEscaped()
    {
        // A layer name with markup in it: the report must show it as text, never as markup.
        var dir = TempDir();
        var src = TestModels.Fixture("tfjs", "dense_mlp");
        const string Evil = "evil<i>&\"x";
        File.WriteAllText(Path.Combine(dir, "model.json"), File.ReadAllText(Path.Combine(src, "model.json")).Replace("dense_Dense1", "evil<i>&\\\"x"));
        File.Copy(Path.Combine(src, "weights.bin"), Path.Combine(dir, "weights.bin"));
        var model = Path.Combine(dir, "model.json");
        var labels = LabelsFrom(Path.Combine(src, "expected_0.npy"), dir);
        var outPath = Path.Combine(dir, "report.html");
        var (code, output, err) = CliRunner.Run("report", model, "--data", Path.Combine(src, "input_0.npy"), "--labels", labels,
            "--out", outPath, "--steps", "4", "--scale-firing-rates", "10");
        Assert.True(code == 0, err);
        Assert.Equal(outPath, output.Trim());

        var html = File.ReadAllText(outPath);
        SelfContained(html);
        Assert.DoesNotContain("<i>", html);
        var doc = Parse(html);
        var text = doc.Root!.Value;
        Assert.Contains(Evil, InspectLayers(model));
        foreach (var layer in InspectLayers(model)) Assert.Contains(layer, text);

        var curves = Named(doc, "polyline").Where(p => (string?)p.Attribute("class") == "curve").ToList();
        Assert.Equal(new[] { "NengoDL baseline", "spiking (your options)" }, curves.Select(c => (string)c.Attribute("data-curve")!).Order());
        Assert.All(curves, c => Assert.Equal(3, PointCount(c)));   // 1, 2, 4
        Assert.Contains("scale 10", text);
    }

    [Fact]
    public void WithoutLabelsTheReportMeasuresAgreementWithTheAnn()
    {
        var dir = TempDir();
        var src = TestModels.Fixture("tfjs", "dense_mlp");
        var outPath = Path.Combine(dir, "report.html");
        var (code, _, err) = CliRunner.Run("report", Path.Combine(src, "model.json"), "--data", Path.Combine(src, "input_0.npy"),
            "--out", outPath, "--steps", "4", "--scale-firing-rates", "10");
        Assert.True(code == 0, err);
        var text = Parse(File.ReadAllText(outPath)).Root!.Value;
        Assert.Contains("Agreement with the ANN against simulation steps", text);
        Assert.Contains("No labels were given", text);
        Assert.Contains("ANN agreement", text);
        Assert.Contains("ANN (100.0%)", text);
    }

    [Theory]
    [InlineData("--data X --labels Y")]                        // no --out
    [InlineData("--labels Y --out r.html")]                    // no --data
    [InlineData("--data X --labels Y --out r.html --mode rate")]
    [InlineData("--data X --labels Y --out r.html --steps 0")]
    [InlineData("--data X --labels Y --out r.html --max-pool fastest")]
    public void UsageErrorsExitTwo(string options)
    {
        var args = new[] { "report", TestModels.Fixture("tfjs", "dense_mlp", "model.json") }.Concat(options.Split(' ')).ToArray();
        var (code, _, err) = CliRunner.Run(args);
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void LabelsThatDoNotMatchTheDataAreADataError()
    {
        var dir = TempDir();
        var labels = Path.Combine(dir, "labels.npy");
        Npy.WriteFloat32(labels, Tensor.Vector(0, 1, 2, 3, 4, 5, 6));
        var outPath = Path.Combine(dir, "report.html");
        var (code, _, err) = CliRunner.Run("report", TestModels.Fixture("tfjs", "dense_mlp", "model.json"),
            "--data", TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy"), "--labels", labels, "--out", outPath);
        Assert.Equal(4, code);
        Assert.StartsWith("error: ", err);
        Assert.False(File.Exists(outPath));
    }
}
