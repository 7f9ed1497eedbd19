using System.Text.Json;
using System.Text.RegularExpressions;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Cli;

/// <summary><c>snn report</c>: one self-contained HTML file with Plotly charts, the tables, the data as JSON, and escaped text.</summary>
public class ReportTests
{
    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Class labels (N,) from a fixture's recorded outputs, written as .npy: the ANN gets them all right.</summary>
    internal static string LabelsFrom(string expectedNpy, string dir)
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

    /// <summary>Nothing is fetched: no script, stylesheet, image or font comes from anywhere but the file itself.</summary>
    internal static void SelfContained(string html)
    {
        Assert.DoesNotMatch(new Regex("<script[^>]*\\ssrc\\s*=", RegexOptions.IgnoreCase), html);
        Assert.DoesNotMatch(new Regex("<link[\\s>]", RegexOptions.IgnoreCase), html);
        Assert.DoesNotMatch(new Regex("<img[\\s>]", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("@import", html, StringComparison.OrdinalIgnoreCase);
        // plotly.js itself, inline: its banner, and every chart drawn by it.
        Assert.Matches(new Regex("<script type=\"text/javascript\" charset=\"utf-8\">/\\*\\*\\s*\\* plotly\\.js v2\\."), html);
        Assert.Contains("Plotly.newPlot(", html);
    }

    /// <summary>The page's text as a reader sees it: scripts and styles dropped, tags removed, entities decoded.</summary>
    internal static string VisibleText(string html)
    {
        var body = Regex.Replace(html, "<(script|style)[^>]*>.*?</\\1>", " ", RegexOptions.Singleline | RegexOptions.IgnoreCase);
        return System.Net.WebUtility.HtmlDecode(Regex.Replace(body, "<[^>]+>", " "));
    }

    /// <summary>The JSON the page embeds in its report-data block.</summary>
    internal static JsonElement Data(string html)
    {
        var m = Regex.Match(html, "<script type=\"application/json\" id=\"report-data\">(.*?)</script>", RegexOptions.Singleline);
        Assert.True(m.Success, "the page has no report-data block");
        return JsonDocument.Parse(m.Groups[1].Value).RootElement.Clone();
    }

    static List<(string Label, double[] Accuracy)> Curves(JsonElement data) =>
        data.GetProperty("curves").EnumerateArray().Select(c => (c.GetProperty("label").GetString()!,
            c.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("accuracy").GetDouble()).ToArray())).ToList();

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
        var text = VisibleText(html);
        foreach (var layer in InspectLayers(model)) Assert.Contains(layer, text);

        // Default checkpoints 1, 2, 4, 8, 16, 32: every curve has one point per checkpoint.
        var data = Data(html);
        var curves = Curves(data);
        var names = curves.Select(c => c.Label).ToList();
        foreach (var method in new[] { "count", "gate", "pre", "avg" }) Assert.Contains(names, n => n.StartsWith($"max-pool {method}"));
        Assert.Contains("NengoDL baseline", names);
        Assert.Single(names, n => n.Contains("your options"));
        Assert.All(curves, c => Assert.Equal(6, c.Accuracy.Length));
        Assert.Equal(new[] { 1, 2, 4, 8, 16, 32 }, data.GetProperty("checkpoints").EnumerateArray().Select(c => c.GetInt32()));

        // The ANN is right on every sample (the labels are its own predictions), and the report says so, to 0.01% as the CLI's four decimals.
        Assert.Equal(1.0, data.GetProperty("ann").GetDouble());
        Assert.Contains("ANN (100.00%)", html);
        Assert.Contains(Snn.OperationCounts.Source, text);
        Assert.Contains("Spikes per neuron per step, over all samples and steps", text);
        // One chart for accuracy, one histogram per spiking layer, one for energy.
        var layers = data.GetProperty("layers").GetArrayLength();
        Assert.True(layers >= 1);
        Assert.Equal(2 + layers, Regex.Matches(html, "<div class=\"chart\" id=\"chart-").Count);
        Assert.Contains("id=\"chart-accuracy\"", html);
        Assert.Contains("id=\"chart-energy\"", html);
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
        var text = VisibleText(html);
        Assert.Contains(Evil, InspectLayers(model));
        foreach (var layer in InspectLayers(model)) Assert.Contains(layer, text);
        Assert.Contains(Data(html).GetProperty("layers").EnumerateArray(), l => l.GetProperty("layer").GetString() == Evil);

        var curves = Curves(Data(html));
        Assert.Equal(new[] { "NengoDL baseline", "spiking (your options)" }, curves.Select(c => c.Label).Order());
        Assert.All(curves, c => Assert.Equal(3, c.Accuracy.Length));   // 1, 2, 4
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
        var html = File.ReadAllText(outPath);
        var text = VisibleText(html);
        Assert.Contains("Agreement with the ANN against simulation steps", text);
        Assert.Contains("No labels were given", text);
        Assert.Contains("ANN agreement", text);
        Assert.Contains("ANN (100.00%)", html);
        Assert.Equal("agreement", Data(html).GetProperty("metric").GetString());
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
