using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using LanguageExt;
using MathNet.Numerics.Statistics;
using Microsoft.FSharp.Collections;
using Microsoft.FSharp.Core;
using Plotly.NET;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;
using PlotlyChart = Plotly.NET.CSharp.Chart;
using ViewEngine = Giraffe.ViewEngine;

namespace Snn;

/// <summary>
/// What a report page shows: the model, the command that made it (any text; the CLI's argv), the samples, steps and
/// checkpoints, the ANN's accuracy and every curve (<see cref="Reports.Curves"/>). Without labels (<see cref="Labelled"/>
/// false) every accuracy is agreement with the ANN. <see cref="Saved"/>: the model is a saved network.
/// </summary>
public sealed record ReportPage(string ModelPath, string Command, int Samples, int Steps, int[] Checkpoints, double Ann, Seq<ReportCurve> Curves)
{
    public bool Labelled { get; init; } = true;
    public bool Saved { get; init; }

    /// <summary>The run with the given options (the first curve when none is marked main).</summary>
    public ReportCurve Main => Curves.Find(c => c.Main).IfNone(() => Curves.Head);

    /// <summary>What the curves measure, in words.</summary>
    public string Metric => Labelled ? "accuracy" : "agreement";
}

/// <summary>One layer's firing-rate scales after calibration: its calibrated activation and the per-channel scales' spread.</summary>
public sealed record ScaleSummary(string Layer, float Activation, float Resolution, int Scales, double Min, double Median, double Max);

/// <summary>
/// A report page as one self-contained HTML file: Plotly.NET charts (accuracy against steps, firing-rate histograms,
/// energy per inference) with plotly.js embedded inline (<see cref="PlotlyJSReference.Full"/>, so it needs no network),
/// the firing, operation, calibration and conversion tables, and the page's data as JSON in
/// <c>&lt;script type="application/json" id="report-data"&gt;</c>. Pure: the same page gives the same file but for
/// the charts' element ids.
/// </summary>
public static partial class ReportHtml
{
    /// <summary>The id of the JSON block that holds the page's data.</summary>
    public const string DataId = "report-data";

    static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
    const string BaselineColor = "#7f7f7f";
    const int Bins = 20;

    /// <summary>The colour of a curve: grey for the baseline, a max-pool method's own, else the first.</summary>
    public static string Color(ReportCurve c) =>
        c.Baseline ? BaselineColor : Palette[c.Variant.MaxPool.Map(m => Reports.Methods.IndexOf(m)).IfNone(0)];

    /// <summary>
    /// The accuracy axis as the page opens: fitted to the curves it compares (every curve but the NengoDL baseline, which
    /// often sits at chance) and the ANN, from the lowest value to the highest, padded by 5% of that span and at least
    /// half a point, within [0, 1]. A 0-100% axis put LeNet-5's 98% and 99% curves on top of each other. The chart's
    /// buttons switch to <see cref="FullRange"/> and <see cref="NearAnnRange"/>.
    /// </summary>
    public static (double Lo, double Hi) AccuracyRange(ReportPage p) =>
        Fit(p.Curves.Filter(c => !c.Baseline || p.Curves.ForAll(x => x.Baseline)), p.Ann);

    /// <summary>The accuracy axis over every curve, the baseline's too.</summary>
    public static (double Lo, double Hi) FullRange(ReportPage p) => Fit(p.Curves, p.Ann);

    /// <summary>The accuracy axis near the ANN: every value from 5 points below the ANN up, the rest below the axis.</summary>
    public static (double Lo, double Hi) NearAnnRange(ReportPage p) =>
        Fit(p.Curves, p.Ann, v => v >= p.Ann - 0.05);

    static (double Lo, double Hi) Fit(Seq<ReportCurve> curves, double ann, Func<double, bool>? keep = null)
    {
        var values = curves.Choose(c => c.Run).Bind(r => r.Points.Select(pt => pt.Accuracy).ToSeq()).Add(ann).Filter(keep ?? (_ => true)).ToList();
        double lo = values.Min(), hi = values.Max();
        var pad = Math.Max(0.005, 0.05 * (hi - lo));
        return (Math.Max(0, lo - pad), Math.Min(1, hi + pad));
    }

    /// <summary>
    /// Each calibrated layer's scales: the firing-rate scale of every neuron (the ensemble's gain times its per-channel
    /// factor, so one value per channel with per-channel calibration), as min, median and max, with the number of distinct scales.
    /// </summary>
    public static Seq<ScaleSummary> Scales(Converted net)
    {
        var ensembles = net.Network.Nodes.OfType<Ensemble>().ToList();
        return net.Scales.Map(s =>
        {
            var gains = ensembles.Where(e => e.Layer == s.Layer)
                .SelectMany(e => e.NeuronGains.Match(g => g.Span.ToArray().Select(v => (double)v), () => Enumerable.Repeat((double)e.Gain, 1)))
                .Order().ToArray();
            if (gains.Length == 0) gains = [s.Scale];
            return new ScaleSummary(s.Layer, s.Activation, s.Resolution, gains.Distinct().Count(), gains[0], SortedArrayStatistics.Median(gains), gains[^1]);
        }).Strict();
    }

    /// <summary>The page's data, as embedded in it: what the charts and tables show, in numbers.</summary>
    public static JsonObject Data(ReportPage p)
    {
        var (lo, hi) = AccuracyRange(p);
        var run = p.Main.Run;
        return new JsonObject
        {
            ["model"] = p.ModelPath,
            ["metric"] = p.Metric,
            ["labelled"] = p.Labelled,
            ["samples"] = p.Samples,
            ["steps"] = p.Steps,
            ["checkpoints"] = new JsonArray(p.Checkpoints.Select(c => (JsonNode)c).ToArray()),
            ["ann"] = p.Ann,
            ["accuracyAxis"] = new JsonArray(lo, hi),
            ["accuracyAxisAll"] = new JsonArray(FullRange(p).Lo, FullRange(p).Hi),
            ["accuracyAxisNearAnn"] = new JsonArray(NearAnnRange(p).Lo, NearAnnRange(p).Hi),
            ["curves"] = new JsonArray(p.Curves.Map(c => (JsonNode)new JsonObject
            {
                ["label"] = c.Label,
                ["settings"] = c.Settings,
                ["main"] = c.Main,
                ["baseline"] = c.Baseline,
                ["color"] = Color(c),
                ["failure"] = OrNull(c.Failure, f => f),
                ["points"] = new JsonArray(c.Run.Match(r => r.Points, () => []).Select(pt => (JsonNode)new JsonObject { ["steps"] = pt.Steps, ["accuracy"] = pt.Accuracy }).ToArray()),
                ["energyUj"] = OrNull(c.Run, r => r.Operations.SnnEnergyPj * 1e-6),
                ["synapticAccumulates"] = OrNull(c.Run, r => r.Operations.SynapticAccumulates),
                ["analogMacs"] = OrNull(c.Run, r => r.Operations.AnalogMacs),
            }).ToArray()),
            ["annEnergyUj"] = OrNull(run, r => r.Operations.AnnEnergyPj * 1e-6),
            ["layers"] = new JsonArray(run.Match(r => r.Layers, () => Seq<LayerActivity>()).Map(l => (JsonNode)new JsonObject
            {
                ["layer"] = l.Layer, ["ensemble"] = l.Ensemble, ["neurons"] = l.Neurons, ["mean"] = l.MeanSpikesPerStep, ["p99"] = l.P99SpikesPerStep,
                ["silent"] = l.FractionSilent, ["saturated"] = l.FractionSaturated,
                ["histogram"] = Histogram(l).Data,
            }).ToArray()),
            ["calibration"] = new JsonArray(run.Match(r => Scales(r.Converted), () => Seq<ScaleSummary>()).Map(s => (JsonNode)new JsonObject
            {
                ["layer"] = s.Layer, ["activation"] = s.Activation, ["resolution"] = s.Resolution, ["scales"] = s.Scales,
                ["min"] = s.Min, ["median"] = s.Median, ["max"] = s.Max,
            }).ToArray()),
        };
    }

    /// <summary>The value as JSON, or null (a JSON null) for None.</summary>
    static JsonNode? OrNull<T, TValue>(Option<T> o, Func<T, TValue> f) => o.Case is T v ? JsonValue.Create(f(v)) : null;

    // ---------------------------------------------------------------- page

    /// <summary>Text for the page: HTML-encoded, control and bidi characters (a NUL, an escape, U+202E in a layer name) shown escaped as the CLI shows them.</summary>
    static string E(string s) => WebUtility.HtmlEncode(Names.Terminal(s));
    static string F(double v, string format = "0.##") => v.ToString(format, CultureInfo.InvariantCulture);

    /// <summary>A share as a percentage to 0.01%: the precision of the CLI's four-decimal accuracies.</summary>
    public static string Pct(double v) => (v * 100).ToString("0.00", CultureInfo.InvariantCulture) + "%";

    const string Css = """
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222; background: #fff;
               max-width: 1100px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
        h1 { font-size: 1.6em; margin-bottom: 0.2em; }
        h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
        p.note, .muted { color: #666; font-size: 0.9em; }
        table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
        th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
        th { background: #f4f4f4; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        tr.failed td { color: #a00; }
        tr.fallback td { background: #fff8e1; }
        code { background: #f4f4f4; padding: 0.05em 0.3em; border-radius: 3px; word-break: break-all; }
        .swatch { display: inline-block; width: 1.6em; height: 0.35em; vertical-align: middle; margin-right: 0.4em; }
        .hists { display: flex; flex-wrap: wrap; gap: 0.5em; }
        .chart { margin: 0.5em 0; }
        """;

    /// <summary>The page as one HTML document.</summary>
    public static string Render(ReportPage p)
    {
        var sections = new List<ViewEngine.HtmlElements.XmlNode>();
        var sb = new StringBuilder();
        void Html(string s) => sb.Append(s);
        void Chart(string id, GenericChart chart) => AddChart(sections, sb, id, chart);

        var main = p.Main;
        var run = main.Run.IfNone(() => throw new ArgumentException("the main curve has no run", nameof(p)));
        Html($"<h1>Spiking conversion report</h1>\n<p class=\"muted\">{E(p.ModelPath)}</p>\n");
        Summary(sb, p, main, run);

        Html($"<h2>{(p.Labelled ? "Accuracy" : "Agreement with the ANN")} against simulation steps</h2>\n");
        if (!p.Labelled)
            Html("<p class=\"note\">No labels were given: each curve is the share of inputs whose top-1 class is the ANN's " +
                 "(the Keras reference evaluator's) on the same inputs.</p>\n");
        Html($"<p class=\"note\">Spiking {p.Metric} read out after each number of steps from one run per curve; " +
             "the dashed line is the ANN (Keras reference evaluator). The axis opens fitted to the compared curves and the ANN (the NengoDL " +
             "baseline may lie below it: <em>all curves</em> shows it; <em>near the ANN</em> zooms in); hover a point for its value to 0.01%. " +
             "The NengoDL baseline uses NengoDL's converter defaults: no calibration, firing-rate scale 1, no synapse, average pooling " +
             "for max pooling, last-step readout, Nengo's SpikingRectifiedLinear.</p>\n");
        if (p.Saved)
            Html("<p class=\"note\">This is a saved network: its conversion is fixed in the file, so the report shows it alone. " +
                 "Run <code>snn report</code> on the Keras model to compare the max-pool methods and the NengoDL baseline.</p>\n");
        Chart("chart-accuracy", AccuracyChart(p));
        AccuracyTable(sb, p);

        Html($"<h2>Firing rates ({E(main.Label)})</h2>\n");
        if (run.Layers.IsEmpty) Html("<p>The network has no spiking neurons.</p>\n");
        else
        {
            Html("<p class=\"note\">Spikes per neuron per step, over all samples and steps. Silent: never spiked; saturated: at least one spike every step. " +
                 "The histograms show the share of neurons per firing rate, silent neurons in grey.</p>\n");
            Table(sb, ["layer", "neurons", "mean", "p99", "silent", "saturated"], [false, true, true, true, true, true],
                run.Layers.Map(l => new[] { LayerName(l, run.Layers), l.Neurons.ToString(CultureInfo.InvariantCulture), F(l.MeanSpikesPerStep, "0.000"),
                    F(l.P99SpikesPerStep, "0.000"), Pct(l.FractionSilent), Pct(l.FractionSaturated) }));
            Html("<div class=\"hists\">\n");
            var k = 0;
            foreach (var l in run.Layers) Chart($"chart-rates-{k++}", HistogramChart(l, LayerName(l, run.Layers)));
            Html("</div>\n");
        }

        Operations(sb, p, main, run, Chart);
        Calibration(sb, run.Converted);
        Conversion(sb, run.Converted);
        Warnings(sb, p);
        Html("<p class=\"muted\">Written by <code>snn report</code> ");
        Html(E(typeof(ReportHtml).Assembly.GetName().Version?.ToString(3) ?? ""));
        Html("; this file is self-contained: plotly.js " + E(PlotlyVersion) + " (MIT licence) is embedded, nothing is fetched.</p>\n");
        Html($"<script type=\"application/json\" id=\"{DataId}\">{Json(Data(p))}</script>\n");
        sections.Add(ViewEngine.HtmlElements.rawText(sb.ToString()));

        return Document(sections, $"snn report: {Path.GetFileName(p.ModelPath.TrimEnd('/', '\\'))}");
    }

    /// <summary>
    /// Adds a chart to a page's sections: first the HTML gathered in <paramref name="sb"/> so far (then cleared), then
    /// <paramref name="chart"/> in a <c>div</c> with id <paramref name="id"/>.
    /// </summary>
    static void AddChart(List<ViewEngine.HtmlElements.XmlNode> sections, StringBuilder sb, string id, GenericChart chart)
    {
        sections.Add(ViewEngine.HtmlElements.rawText(sb.ToString()));
        sb.Clear();
        sections.Add(ViewEngine.HtmlElements.rawText($"<div class=\"chart\" id=\"{id}\">"));
        sections.Add(GenericChart.toChartHTMLNodes(chart));
        sections.Add(ViewEngine.HtmlElements.rawText("</div>\n"));
    }

    /// <summary>
    /// The HTML document of a page's sections (text and Plotly.NET charts) with the page style and plotly.js embedded
    /// (<see cref="PlotlyJSReference.Full"/>): one self-contained file.
    /// </summary>
    static string Document(List<ViewEngine.HtmlElements.XmlNode> sections, string title)
    {
        var head = ListModule.OfSeq(new[]
        {
            ViewEngine.HtmlElements.rawText("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n<style>\n" + Css + "\n</style>\n"),
        });
        var doc = HTML.Doc(sections, title, "utf-8", "utf-8",
            ViewEngine.HtmlElements.rawText(""), PlotlyJSReference.Full, FSharpOption<FSharpList<ViewEngine.HtmlElements.XmlNode>>.Some(head), null);
        var html = ViewEngine.RenderView.AsString.htmlDocument(doc);
        // The encoding first, within the first bytes a browser reads for it (the document's own meta comes after plotly.js).
        const string Open = "<html><head>";
        var at = html.IndexOf(Open, StringComparison.Ordinal);
        return at < 0 ? html : html[..at] + "<html lang=\"en\"><head><meta charset=\"utf-8\"/>" + html[(at + Open.Length)..];
    }

    /// <summary>The plotly.js version Plotly.NET embeds.</summary>
    static string PlotlyVersion =>
        typeof(GenericChart).Assembly.GetManifestResourceNames().Select(n => System.Text.RegularExpressions.Regex.Match(n, @"plotly-([0-9.]+)\.min\.js$"))
            .Where(m => m.Success).Select(m => m.Groups[1].Value).FirstOrDefault() ?? "";

    /// <summary>JSON safe inside a script element: every &lt;, &gt; and &amp; escaped.</summary>
    static string Json(JsonNode node) => node.ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Default });

    static string LayerName(LayerActivity l, Seq<LayerActivity> all) =>
        all.Count(x => x.Layer == l.Layer) > 1 && l.Ensemble != l.Layer ? $"{l.Layer} ({l.Ensemble})" : l.Layer;

    static void Summary(StringBuilder sb, ReportPage p, ReportCurve main, CurveRun run)
    {
        var final = run.Points[^1];
        var rows = new List<string[]>
        {
            new[] { "samples", p.Samples.ToString(CultureInfo.InvariantCulture) },
            new[] { "steps", p.Steps.ToString(CultureInfo.InvariantCulture) + " (checkpoints " + string.Join(", ", p.Checkpoints) + ")" },
            new[] { $"ANN {p.Metric}", Pct(p.Ann) },
            new[] { $"spiking {p.Metric}, {main.Label}", $"{Pct(final.Accuracy)} after {final.Steps} steps" },
            new[] { "settings", main.Settings },
            new[] { "command", p.Command },
        };
        sb.Append("<table class=\"summary\">\n");
        foreach (var r in rows) sb.Append($"<tr><th>{E(r[0])}</th><td>{E(r[1])}</td></tr>\n");
        sb.Append("</table>\n");
    }

    static void Table(StringBuilder sb, string[] header, bool[] numeric, IEnumerable<string[]> rows, Func<int, string?>? rowClass = null)
    {
        sb.Append("<table>\n<tr>");
        foreach (var h in header) sb.Append($"<th>{E(h)}</th>");
        sb.Append("</tr>\n");
        var i = 0;
        foreach (var r in rows)
        {
            var cls = rowClass?.Invoke(i);
            sb.Append(cls is null ? "<tr>" : $"<tr class=\"{cls}\">");
            for (var c = 0; c < r.Length; c++) sb.Append(numeric[Math.Min(c, numeric.Length - 1)] ? $"<td class=\"num\">{E(r[c])}</td>" : $"<td>{E(r[c])}</td>");
            sb.Append("</tr>\n");
            i++;
        }
        sb.Append("</table>\n");
    }

    static void AccuracyTable(StringBuilder sb, ReportPage p)
    {
        sb.Append("<table class=\"accuracy\">\n<tr><th>curve</th><th>settings</th>");
        foreach (var c in p.Checkpoints) sb.Append($"<th>{c}</th>");
        sb.Append("</tr>\n");
        foreach (var c in p.Curves)
        {
            sb.Append(c.Run.IsSome ? "<tr>" : "<tr class=\"failed\">")
              .Append($"<td><span class=\"swatch\" style=\"background:{Color(c)}\"></span>{E(c.Label)}</td>");
            c.Run.Match(
                r =>
                {
                    sb.Append($"<td>{E(c.Settings)}</td>");
                    foreach (var pt in r.Points) sb.Append($"<td class=\"num\">{Pct(pt.Accuracy)}</td>");
                },
                () => sb.Append($"<td colspan=\"{p.Checkpoints.Length + 1}\">failed: {E(c.Failure.IfNone(""))}</td>"));
            sb.Append("</tr>\n");
        }
        sb.Append("<tr><td><span class=\"swatch\" style=\"background:#000\"></span>ANN</td><td>Keras reference evaluator</td>" +
                  $"<td class=\"num\" colspan=\"{p.Checkpoints.Length}\">{Pct(p.Ann)}</td></tr>\n");
        sb.Append("</table>\n");
    }

    // ---------------------------------------------------------------- charts

    /// <summary>Sets properties Plotly.NET's chart functions do not take (hover templates, axis formats) on every trace.</summary>
    static GenericChart Traces(GenericChart chart, Action<Trace> set)
    {
        foreach (var t in GenericChart.getTraces(chart)) set(t);
        return chart;
    }

    static DynamicObj.DynamicObj Obj(params (string Key, object Value)[] properties)
    {
        var o = new DynamicObj.DynamicObj();
        foreach (var (k, v) in properties) o.SetProperty(k, v);
        return o;
    }

    static GenericChart Layout(GenericChart chart, int width, int height, params (string Key, object Value)[] properties)
    {
        var layout = GenericChart.getLayout(chart);
        layout.SetProperty("width", width);
        layout.SetProperty("height", height);
        layout.SetProperty("font", Obj(("family", "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"), ("size", 12)));
        foreach (var (k, v) in properties) layout.SetProperty(k, v);
        return GenericChart.setLayout(layout, chart);
    }

    /// <summary>Accuracy against steps: one line per curve, the ANN dashed, on a log step axis when the checkpoints span a factor of 8 or more.</summary>
    static GenericChart AccuracyChart(ReportPage p)
    {
        var cps = p.Checkpoints;
        var log = cps.Min() >= 1 && cps.Max() / (double)cps.Min() >= 8;
        var curves = p.Curves.OrderBy(c => c.Main)   // the main curve last, on top
            .Choose(c => c.Run.Map(r => Traces(PlotlyChart.Line<int, double, string>(
                r.Points.Select(pt => pt.Steps), r.Points.Select(pt => pt.Accuracy), ShowMarkers: true, Name: E(c.Label),
                LineColor: Plotly.NET.Color.fromHex(Color(c)), LineWidth: c.Main ? 3.0 : 2.0,
                LineDash: c.Baseline ? StyleParam.DrawingStyle.Dot : StyleParam.DrawingStyle.Solid),
                t => t.SetProperty("hovertemplate", $"%{{y:.2%}} after %{{x}} steps<extra>{E(c.Label)}</extra>"))))
            .ToList();
        var ann = Traces(PlotlyChart.Line<int, double, string>(new[] { cps.Min(), cps.Max() }, new[] { p.Ann, p.Ann }, ShowMarkers: false,
                Name: $"ANN ({Pct(p.Ann)})", LineColor: Plotly.NET.Color.fromHex("#000000"), LineWidth: 1.5, LineDash: StyleParam.DrawingStyle.Dash),
            t => t.SetProperty("hovertemplate", "%{y:.2%}<extra>ANN</extra>"));
        var (lo, hi) = AccuracyRange(p);
        var chart = GenericChart.combine(curves.Prepend(ann));
        object Button(string label, (double Lo, double Hi) r) =>
            Obj(("label", label), ("method", "relayout"), ("args", new object[] { Obj(("yaxis.range", new[] { r.Lo, r.Hi }), ("yaxis.tickformat", Format(r))) }));
        return Layout(chart, 1050, 480,
            ("title", Obj(("text", $"{(p.Labelled ? "Accuracy" : "Agreement")} vs. steps{(log ? " (log scale)" : "")}"), ("y", 0.97))),
            ("margin", Obj(("t", 110))),
            ("xaxis", Obj(("title", Obj(("text", "simulation steps"))), ("type", log ? "log" : "linear"), ("tickvals", cps), ("ticktext", cps.Select(c => c.ToString(CultureInfo.InvariantCulture)).ToArray()))),
            ("yaxis", Obj(("title", Obj(("text", p.Metric))), ("range", new[] { lo, hi }), ("tickformat", Format((lo, hi))))),
            ("hovermode", "closest"),
            ("hoverlabel", Obj(("namelength", -1))),   // the whole curve name beside the value
            ("updatemenus", new[] { Obj(("type", "buttons"), ("direction", "right"), ("showactive", true), ("x", 0.0), ("xanchor", "left"), ("y", 1.12), ("yanchor", "bottom"),
                ("buttons", new[] { Button("compared curves", (lo, hi)), Button("all curves", FullRange(p)), Button("near the ANN", NearAnnRange(p)) })) }),
            ("legend", Obj(("orientation", "v"), ("x", 1.02), ("y", 1.0))));
    }

    /// <summary>Percent ticks with two decimals on an axis under 5 points high, one otherwise.</summary>
    static string Format((double Lo, double Hi) r) => r.Hi - r.Lo < 0.05 ? ".2%" : ".1%";

    /// <summary>
    /// Share of neurons by firing rate: silent neurons (no spike at all) as a bar of their own, the others in
    /// <see cref="Bins"/> bins from 0 to the highest rate rounded up.
    /// </summary>
    // Kept over MathNet's Histogram: its buckets are (lower, upper], these are [lower, upper) with silent neurons apart, so
    // a rate on a bin edge (0.5 spikes per step) would change bars.
    static (string[] Labels, double[] Shares, JsonObject Data) Histogram(LayerActivity l)
    {
        var rates = l.Rates;
        var n = Math.Max(1, rates.Length);
        var hi = NiceBound(rates.Length == 0 ? 0 : rates.Max());
        var counts = new int[Bins];
        var silent = 0;
        foreach (var r in rates)
            if (r <= 0) silent++;
            else counts[Math.Clamp((int)(r / hi * Bins), 0, Bins - 1)]++;
        var labels = new[] { "silent" }.Concat(Enumerable.Range(0, Bins).Select(b => $"{F(b * hi / Bins, "0.###")}–{F((b + 1) * hi / Bins, "0.###")}")).ToArray();
        var shares = new[] { silent / (double)n }.Concat(counts.Select(c => c / (double)n)).ToArray();
        var data = new JsonObject
        {
            ["upper"] = hi,
            ["silent"] = silent,
            ["counts"] = new JsonArray(counts.Select(c => (JsonNode)c).ToArray()),
        };
        return (labels, shares, data);
    }

    static GenericChart HistogramChart(LayerActivity l, string name)
    {
        var (labels, shares, _) = Histogram(l);
        var silent = PlotlyChart.Column<double, string, string>(shares.Take(1), Keys: labels.Take(1).ToArray(), Name: "silent",
            MarkerColor: Plotly.NET.Color.fromHex("#aaaaaa"), ShowLegend: false);
        var firing = PlotlyChart.Column<double, string, string>(shares.Skip(1), Keys: labels.Skip(1).ToArray(), Name: "firing",
            MarkerColor: Plotly.NET.Color.fromHex("#4c78a8"), ShowLegend: false);
        var chart = Traces(GenericChart.combine(new[] { silent, firing }),
            t => t.SetProperty("hovertemplate", "%{x} spikes/step: %{y:.2%} of neurons<extra></extra>"));
        GenericChart.getConfig(chart).SetProperty("displayModeBar", false);
        return Layout(chart, 360, 270,
            ("title", Obj(("text", E(name.Length > 40 ? name[..39] + "…" : name) + "<br><sub>share of neurons by spikes per step, silent in grey</sub>"),
                ("font", Obj(("size", 13))))),
            ("xaxis", Obj(("type", "category"), ("showticklabels", false))),
            ("yaxis", Obj(("tickformat", ".0%"))),
            ("margin", Obj(("l", 50), ("r", 10), ("t", 60), ("b", 20))),
            ("bargap", 0.05),
            ("annotations", new[] { Obj(("text", $"mean {F(l.MeanSpikesPerStep, "0.000")}, p99 {F(l.P99SpikesPerStep, "0.000")}"),
                ("xref", "paper"), ("yref", "paper"), ("x", 1.0), ("y", 1.0), ("xanchor", "right"), ("yanchor", "top"), ("showarrow", false)) }));
    }

    /// <summary>A round step (1, 2, 2.5 or 5 times a power of ten) that cuts <paramref name="span"/> into about n parts.</summary>
    static double RoundStep(double span, int n)
    {
        var raw = span / Math.Max(1, n);
        var mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        return new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
    }

    /// <summary>The smallest round number (a multiple of a 1-2-2.5-5 step) at or above v; 1 for v = 0.</summary>
    static double NiceBound(double v)
    {
        if (!(v > 0)) return 1;
        var step = RoundStep(v, 4);
        return Math.Max(v, Math.Round(Math.Ceiling(v / step - 1e-9) * step, 10));
    }

    static void Operations(StringBuilder sb, ReportPage p, ReportCurve main, CurveRun run, Action<string, GenericChart> chart)
    {
        var o = run.Operations;
        sb.Append("<h2>Synaptic operations and energy</h2>\n");
        sb.Append($"<p>Per inference with {E(main.Label)} over {p.Steps} steps: {F(o.SynapticAccumulates, "N0")} synaptic accumulates (spikes), " +
                  $"{F(o.AnalogMacs, "N0")} multiply-accumulates on analog (non-spike) input; the ANN needs {F(o.AnnMacs, "N0")} multiply-accumulates.</p>\n");
        sb.Append($"<p>Energy estimate: SNN {F(o.SnnEnergyPj * 1e-6, "0.000")} µJ vs ANN {F(o.AnnEnergyPj * 1e-6, "0.000")} µJ " +
                  $"({F(o.AddPj, "0.##")} pJ per accumulate, {F(o.MacPj, "0.##")} pJ per multiply-accumulate).</p>\n");
        sb.Append($"<p class=\"note\">Source: {E(OperationCounts.Source)}. Constant (bias) inputs are not counted; memory access is not modelled.</p>\n");

        var bars = p.Curves.Choose(c => c.Run.Map(r => (Label: c.Label, Color: Color(c), Uj: r.Operations.SnnEnergyPj * 1e-6)))
            .Add((Label: "ANN", Color: "#000000", Uj: o.AnnEnergyPj * 1e-6)).ToList();
        var energy = Traces(PlotlyChart.Bar<double, string, string>(bars.Select(b => b.Uj), Keys: bars.Select(b => E(b.Label)).ToArray(), Name: "energy",
                ShowLegend: false),
            t =>
            {
                t.SetProperty("marker", Obj(("color", bars.Select(b => b.Color).ToArray())));
                t.SetProperty("hovertemplate", "%{y}: %{x:.4f} µJ<extra></extra>");
            });
        chart("chart-energy", Layout(energy, 1000, 120 + 32 * bars.Count,
            ("title", Obj(("text", "Energy per inference (µJ)"))),
            ("xaxis", Obj(("title", Obj(("text", "µJ"))), ("rangemode", "tozero"))),
            ("yaxis", Obj(("autorange", "reversed"), ("automargin", true))),
            ("margin", Obj(("l", 240), ("r", 20), ("t", 50), ("b", 50)))));

        Table(sb, ["curve", $"{p.Metric} at {p.Checkpoints[^1]} steps", "synaptic accumulates", "analog MACs", "energy (µJ)"],
            [false, true, true, true, true],
            p.Curves.Choose(c => c.Run.Map(r => new[]
            {
                c.Label, Pct(r.Points[^1].Accuracy), F(r.Operations.SynapticAccumulates, "N0"), F(r.Operations.AnalogMacs, "N0"),
                F(r.Operations.SnnEnergyPj * 1e-6, "0.000"),
            })).Add(new[] { "ANN", Pct(p.Ann), "-", F(o.AnnMacs, "N0"), F(o.AnnEnergyPj * 1e-6, "0.000") }));
    }

    static void Calibration(StringBuilder sb, Converted compiled)
    {
        if (compiled.Scales.IsEmpty) return;
        sb.Append("<h2>Calibration</h2>\n<p class=\"note\">Each calibrated layer's activation (the percentile of its non-zero activations on the " +
                  "calibration data), the spikes per step an activation there fires (its resolution), and the firing-rate scales it set: one per " +
                  "channel with per-channel calibration (the default), one per layer with <code>--per-layer</code>.</p>\n");
        Table(sb, ["layer", "calibrated activation", "spikes per step at it", "scales", "min scale", "median scale", "max scale"],
            [false, true, true, true, true, true, true],
            Scales(compiled).Map(s => new[]
            {
                s.Layer, F(s.Activation, "G4"), F(s.Resolution, "G4"), s.Scales.ToString(CultureInfo.InvariantCulture),
                F(s.Min, "G4"), F(s.Median, "G4"), F(s.Max, "G4"),
            }));
    }

    static void Conversion(StringBuilder sb, Converted compiled)
    {
        var net = Inspection.Of(compiled);
        var rows = net.Layers.Map(l => new[]
        {
            l.Layer, l.ClassName, l.Conversion, Shapes.Show(l.Shape), l.Neurons.ToString(CultureInfo.InvariantCulture), l.Note,
        }).ToList();
        sb.Append("<h2>Conversion</h2>\n");
        Table(sb, ["layer", "class", "conversion", "output shape", "neurons", "note"], [false, false, false, false, true, false], rows,
            i => rows[i][2] == "fallback" ? "fallback" : null);
        sb.Append($"<p>{net.Neurons} neurons, {net.Connections} connections, {net.Ops} operators after optimization.</p>\n");
    }

    static void Warnings(StringBuilder sb, ReportPage p)
    {
        var warnings = p.Curves.Choose(c => c.Run).Bind(r => r.Converted.Network.Warnings).Distinct().ToList();
        if (warnings.Count == 0) return;
        sb.Append("<h2>Warnings</h2>\n<ul>\n");
        foreach (var w in warnings) sb.Append($"<li>{E(w)}</li>\n");
        sb.Append("</ul>\n");
    }
}
