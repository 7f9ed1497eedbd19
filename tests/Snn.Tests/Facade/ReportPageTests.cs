using System.Text.Json;
using System.Text.RegularExpressions;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Tests.Cli;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Facade;

/// <summary>
/// The report page a program makes without the CLI (<see cref="ReportHtml.Render"/>): plotly.js inline, the data it embeds
/// equal to the curves the facade computed, the accuracy axis fitted to them, and per-channel calibration scales.
/// </summary>
public class ReportPageTests
{
    /// <summary>The hidden layer's kernel: positive, so every unit is active on positive inputs.</summary>
    static readonly Tensor Kernel = TestModels.Random(new[] { 3, 4 }, 1, 0.1f, 1f);

    /// <summary>A two-layer Dense model on 3 inputs, 4 hidden ReLU units and 2 outputs.</summary>
    static Loaded Model() => Loaded.Of("m.keras", TestModels.Sequential(new[] { 3 },
        new TestModels.L("Dense", "hidden", new { units = 4, activation = "relu" }, ("kernel", Kernel), ("bias", Tensor.Filled(new[] { 4 }, 0.1f))),
        new TestModels.L("Dense", "out", new { units = 2 }, ("kernel", TestModels.Random(new[] { 4, 2 }, 2)), ("bias", Tensor.Filled(new[] { 2 }, 0f)))));

    static readonly Seq<Tensor> Inputs = Seq1(TestModels.Random(new[] { 8, 3 }, 3, 0f, 1f));

    /// <summary>The curves of a report on <see cref="Model"/> and the page of them.</summary>
    static (Seq<ReportCurve> Curves, ReportPage Page) Page(RunRequest request)
    {
        var model = Model();
        var labels = new[] { 0, 1, 0, 1, 0, 1, 1, 0 };
        var curves = Reports.Curves(new ReportOptions(8, [1, 2, 4, 8]), request, model, Inputs, labels, _ => { }, null, _ => null).Ok();
        var ann = Metrics.Accuracy(Reports.Ann(model, Inputs).Ok(), labels);
        return (curves, new ReportPage("m.keras", "a program", labels.Length, 8, [1, 2, 4, 8], ann, curves));
    }

    static RunRequest Scaled() => RunRequest.Of(CompileOptions.Default with { Convert = ConvertOptions.Default with { ScaleFiringRates = Some(100f) } });

    [Fact]
    public void TheEmbeddedDataIsTheCurvesTheFacadeComputed()
    {
        var (curves, page) = Page(Scaled());
        var html = ReportHtml.Render(page);
        var data = ReportTests.Data(html);
        Assert.Equal(page.Ann, data.GetProperty("ann").GetDouble());
        var embedded = data.GetProperty("curves").EnumerateArray().ToList();
        Assert.Equal(curves.Count, embedded.Count);
        foreach (var (curve, json) in curves.Zip(embedded))
        {
            Assert.Equal(curve.Label, json.GetProperty("label").GetString());
            Assert.Equal(curve.Main, json.GetProperty("main").GetBoolean());
            var points = curve.Run.Map(r => r.Points).IfNone([]);
            Assert.Equal(points.Select(p => p.Steps), json.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("steps").GetInt32()));
            Assert.Equal(points.Select(p => p.Accuracy), json.GetProperty("points").EnumerateArray().Select(p => p.GetProperty("accuracy").GetDouble()));
            Assert.Equal(curve.Run.Map(r => r.Operations.SnnEnergyPj * 1e-6).IfNone(double.NaN), json.GetProperty("energyUj").GetDouble());
        }
        // Firing statistics of the main run, layer by layer.
        var main = curves.Find(c => c.Main).Bind(c => c.Run).IfNone(() => throw new InvalidOperationException("no main run"));
        Assert.Equal(main.Layers.Map(l => l.MeanSpikesPerStep), data.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("mean").GetDouble()));
        Assert.Equal(main.Layers.Map(l => l.Neurons), data.GetProperty("layers").EnumerateArray().Select(l => l.GetProperty("neurons").GetInt32()));
        // Each histogram counts every neuron once: silent ones plus the bins.
        foreach (var (layer, json) in main.Layers.Zip(data.GetProperty("layers").EnumerateArray()))
        {
            var h = json.GetProperty("histogram");
            Assert.Equal(layer.Neurons, h.GetProperty("silent").GetInt32() + h.GetProperty("counts").EnumerateArray().Sum(c => c.GetInt32()));
            Assert.Equal(layer.Rates.Count(r => r <= 0), h.GetProperty("silent").GetInt32());
        }
    }

    [Fact]
    public void PlotlyJsIsInlineAndNothingIsFetched()
    {
        var html = ReportHtml.Render(Page(Scaled()).Page);
        ReportTests.SelfContained(html);
        Assert.DoesNotContain("<script src=\"http", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("cdn.plot.ly/plotly", Regex.Replace(html, "<script type=\"text/javascript\" charset=\"utf-8\">.*?</script>", "", RegexOptions.Singleline));
        // The whole library (megabytes), once, before the charts.
        var library = html.IndexOf("* plotly.js v2.", StringComparison.Ordinal);
        Assert.True(library > 0 && library < html.IndexOf("id=\"chart-accuracy\"", StringComparison.Ordinal));
        Assert.Equal(library, html.LastIndexOf("* plotly.js v2.", StringComparison.Ordinal));
        Assert.True(html.Length > 2_000_000, $"the page is {html.Length} characters: plotly.js is not inline");
        // The encoding is declared before the library, where a browser looks for it.
        Assert.True(html.IndexOf("<meta charset=\"utf-8\"/>", StringComparison.Ordinal) is > 0 and < 200);
    }

    /// <summary>
    /// LeNet-5's calibrated curves end between 98% and 99%: on the old 0-100% axis they were a few pixels apart. The
    /// fitted axis puts a 1-point difference at a fifth of its height or more, and its range is what the page draws.
    /// </summary>
    [Fact]
    public void TheAccuracyAxisIsFittedToTheCurves()
    {
        var (curves, page) = Page(Scaled());
        double[] high = [0.9812, 0.9850, 0.9877, 0.9903];
        double[] low = [0.10, 0.12, 0.11, 0.10];
        var near = curves.Map(c => c with
        {
            Run = c.Run.Map(r => r with { Points = r.Points.Select((p, k) => (p.Steps, c.Baseline ? low[k] : high[k])).ToArray() }),
        }).Strict();
        var fitted = page with { Curves = near, Ann = 0.9914 };

        var (lo, hi) = ReportHtml.AccuracyRange(fitted);
        Assert.True(lo <= 0.9812 && hi >= 0.9914, $"the axis [{lo}, {hi}] cuts off a compared value");
        Assert.True(0.01 / (hi - lo) >= 0.2, $"one point is only {0.01 / (hi - lo):P0} of the axis [{lo}, {hi}]");
        // The baseline (at chance here) is still one click away, and the zoom near the ANN keeps every compared value.
        var (allLo, allHi) = ReportHtml.FullRange(fitted);
        Assert.True(allLo <= 0.10 && allHi >= 0.9914);
        var (nearLo, _) = ReportHtml.NearAnnRange(fitted);
        Assert.True(nearLo <= 0.9812);

        var html = ReportHtml.Render(fitted);
        var data = ReportTests.Data(html);
        Assert.Equal(new[] { lo, hi }, data.GetProperty("accuracyAxis").EnumerateArray().Select(v => v.GetDouble()));
        // The accuracy chart's layout sets that range on its y axis.
        var chart = html[html.IndexOf("id=\"chart-accuracy\"", StringComparison.Ordinal)..];
        var layout = Regex.Match(chart, @"var layout = (\{.*?\});\r?\n", RegexOptions.Singleline);
        Assert.True(layout.Success);
        using var parsed = JsonDocument.Parse(layout.Groups[1].Value);
        Assert.Equal(new[] { lo, hi }, parsed.RootElement.GetProperty("yaxis").GetProperty("range").EnumerateArray().Select(v => v.GetDouble()));
        // Values to 0.01%, as the CLI's four decimals: in the table and on hover.
        Assert.Contains("<td class=\"num\">99.03%</td>", html);
        Assert.Contains("%{y:.2%}", chart);
    }

    /// <summary>
    /// Per-channel calibration (the default) sets one firing-rate scale per channel: the hidden layer's 4 units get their
    /// own, spread between min and max; with one scale per layer the spread is nil. The page shows both as min/median/max.
    /// At the 100th percentile a unit's scale is inversely proportional to its largest activation on the calibration data
    /// (computed here with plain loops), so max/min scale is the ratio of the largest to the smallest of those.
    /// </summary>
    [Fact]
    public void TheCalibrationSummaryShowsOneScalePerChannel()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var calib = Path.Combine(dir, "calib.npy");
        var x = TestModels.Random(new[] { 64, 3 }, 5, 0f, 1f);
        Npy.WriteFloat32(calib, x);
        var largest = Enumerable.Range(0, 4).Select(u => Enumerable.Range(0, 64)
            .Max(n => Math.Max(0.0, 0.1 + Enumerable.Range(0, 3).Sum(i => (double)x[n * 3 + i] * Kernel[i * 4 + u])))).ToArray();
        RunRequest Calibrated(bool perChannel) => Scaled() with
        {
            Calibration = Some(new CalibrationRequest(calib, None, CalibrateOptions.Default with { PerChannel = perChannel, Percentile = 100 })),
        };

        var perChannel = Page(Calibrated(true)).Page;
        var scales = ReportHtml.Scales(perChannel.Main.Run.Map(r => r.Converted).IfNone(() => throw new InvalidOperationException()));
        var hidden = scales.Find(s => s.Layer == "hidden").IfNone(() => throw new InvalidOperationException("hidden is not calibrated"));
        Assert.Equal(4, hidden.Scales);   // one per unit (a Dense layer's channels)
        Assert.True(hidden.Min < hidden.Median && hidden.Median < hidden.Max, $"{hidden}");
        Assert.Equal(largest.Max() / largest.Min(), hidden.Max / hidden.Min, 4);
        // Per channel at the 100th percentile: each unit's scale makes its largest activation on the data fire the resolution.
        var html = ReportHtml.Render(perChannel);
        var row = ReportTests.Data(html).GetProperty("calibration").EnumerateArray().Single(s => s.GetProperty("layer").GetString() == "hidden");
        Assert.Equal(hidden.Min, row.GetProperty("min").GetDouble());
        Assert.Equal(hidden.Max, row.GetProperty("max").GetDouble());
        Assert.Contains("median scale", ReportTests.VisibleText(html));

        var perLayer = ReportHtml.Scales(Page(Calibrated(false)).Page.Main.Run.Map(r => r.Converted).IfNone(() => throw new InvalidOperationException()));
        var one = perLayer.Find(s => s.Layer == "hidden").IfNone(() => throw new InvalidOperationException());
        Assert.Equal(1, one.Scales);
        Assert.Equal(one.Min, one.Max);
    }

    /// <summary>The conversion table's total is the facade's one count of neurons (<see cref="Inspection.Neurons"/>).</summary>
    [Fact]
    public void TheNeuronTotalIsTheInspectionsCount()
    {
        var page = Page(Scaled()).Page;
        var inspection = Inspection.Of(page.Main.Run.Map(r => r.Converted).IfNone(() => throw new InvalidOperationException()));
        Assert.Equal(4, inspection.Neurons);   // the hidden layer's ReLU units; the linear output is no ensemble
        Assert.Contains($"{inspection.Neurons} neurons, {inspection.Connections} connections", ReportTests.VisibleText(ReportHtml.Render(page)));
    }
}
