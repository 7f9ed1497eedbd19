using System.Globalization;
using System.Text;
using LanguageExt;
using Plotly.NET;
using static LanguageExt.Prelude;
using PlotlyChart = Plotly.NET.CSharp.Chart;
using ViewEngine = Giraffe.ViewEngine;

namespace Snn;

/// <summary>
/// The page of a sweep (<c>DIR/sweep.html</c>), in the report page's style and with its charts: accuracy against energy
/// per inference for every grid point and step count with the Pareto front (highest accuracy, fewest steps, least
/// energy) highlighted, accuracy against steps per point, and the table of every point; the sweep's JSON
/// (<see cref="Sweep.Json"/>) is embedded in <c>&lt;script type="application/json" id="sweep-data"&gt;</c>.
/// </summary>
public static partial class ReportHtml
{
    /// <summary>The id of the JSON block that holds the sweep's results.</summary>
    public const string SweepDataId = "sweep-data";

    /// <summary>The sweep's page; <paramref name="ann"/> is the ANN's accuracy on the same data, when known.</summary>
    public static string RenderSweep(SweepResult r, Option<double> ann, string command)
    {
        var sections = new List<ViewEngine.HtmlElements.XmlNode>();
        var sb = new StringBuilder();
        void Chart(string id, GenericChart chart) => AddChart(sections, sb, id, chart);
        var j = r.Job;
        var ok = r.Points.Filter(p => p.Failure.IsNone);
        var front = ok.Bind(p => p.Rows.Filter(x => x.Pareto).Map(x => (Point: p, Row: x))).OrderBy(x => x.Row.Operations.SnnEnergyPj).ThenBy(x => x.Row.Steps).ToList();
        sb.Append($"<h1>Sweep</h1>\n<p class=\"muted\">{E(j.Model)}</p>\n<table class=\"summary\">\n");
        foreach (var (k, v) in new[]
                 {
                     ("samples", j.Samples.ToString(CultureInfo.InvariantCulture)), ("grid", j.Grid.Show()),
                     ("grid points", $"{r.Points.Count} conversions × {j.Grid.Checkpoints.Length} step counts (one simulation per conversion)"),
                     ("ANN accuracy", ann.Match(Pct, () => "-")), ("options", j.Options.Length == 0 ? "-" : j.Options), ("command", command), ("content hash", j.Hash),
                 })
            sb.Append($"<tr><th>{E(k)}</th><td>{E(v)}</td></tr>\n");
        sb.Append("</table>\n");

        sb.Append("<h2>Accuracy against energy</h2>\n<p class=\"note\">Every grid point at every step count: energy per inference (synaptic accumulates " +
                  "and multiply-accumulates at the report's pJ per operation) against accuracy. Red: the Pareto front, the settings no other beats on " +
                  "accuracy, steps (latency) and energy at once. Hover a point for its settings.</p>\n");
        Chart("chart-tradeoff", TradeOff(ok, front, ann));
        sb.Append("<h2>Pareto front</h2>\n");
        Table(sb, ["settings", "steps", "accuracy", "energy (µJ)", "synaptic accumulates", "analog MACs"], [false, true, true, true, true, true],
            front.Select(x => new[]
            {
                x.Point.Point.Label, x.Row.Steps.ToString(CultureInfo.InvariantCulture), Pct(x.Row.Accuracy), F(x.Row.Operations.SnnEnergyPj * 1e-6, "0.0000"),
                F(x.Row.Operations.SynapticAccumulates, "N0"), F(x.Row.Operations.AnalogMacs, "N0"),
            }));

        sb.Append("<h2>Accuracy against steps</h2>\n");
        Chart("chart-steps", StepsChart(ok, j.Grid.Checkpoints, ann));
        sb.Append("<h2>Every point</h2>\n<p class=\"note\">Accuracy at each step count (bold: on the Pareto front); energy per inference at the largest.</p>\n");
        sb.Append("<table class=\"accuracy\">\n<tr><th>#</th><th>settings</th>");
        foreach (var c in j.Grid.Checkpoints) sb.Append($"<th>{c}</th>");
        sb.Append($"<th>energy (µJ) at {j.Grid.RunSteps}</th><th>conversion</th></tr>\n");
        foreach (var p in r.Points)
        {
            sb.Append(p.Failure.IsSome ? "<tr class=\"failed\">" : "<tr>").Append($"<td class=\"num\">{p.Point.Index}</td><td>{E(p.Point.Label)}</td>");
            if (p.Failure.Case is string why) sb.Append($"<td colspan=\"{j.Grid.Checkpoints.Length + 2}\">failed: {E(why)}</td>");
            else
            {
                foreach (var row in p.Rows) sb.Append(row.Pareto ? $"<td class=\"num\"><b>{Pct(row.Accuracy)}</b></td>" : $"<td class=\"num\">{Pct(row.Accuracy)}</td>");
                sb.Append($"<td class=\"num\">{F(p.Rows.Last.Operations.SnnEnergyPj * 1e-6, "0.0000")}</td><td>{E(p.Settings)}</td>");
            }
            sb.Append("</tr>\n");
        }
        sb.Append("</table>\n");
        sb.Append($"<p class=\"note\">Energy source: {E(OperationCounts.Source)}. Constant (bias) inputs are not counted; memory access is not modelled.</p>\n");
        sb.Append("<p class=\"muted\">Written by <code>snn sweep</code> ").Append(E(typeof(ReportHtml).Assembly.GetName().Version?.ToString(3) ?? ""))
          .Append("; this file is self-contained: plotly.js " + E(PlotlyVersion) + " (MIT licence) is embedded, nothing is fetched.</p>\n");
        sb.Append($"<script type=\"application/json\" id=\"{SweepDataId}\">{Json(System.Text.Json.Nodes.JsonNode.Parse(Sweep.Json(r))!.AsObject())}</script>\n");
        sections.Add(ViewEngine.HtmlElements.rawText(sb.ToString()));
        return Document(sections, $"snn sweep: {Path.GetFileName(j.Model.TrimEnd('/', '\\'))}");
    }

    static GenericChart TradeOff(Seq<SweepPointResult> points, List<(SweepPointResult Point, SweepRow Row)> front, Option<double> ann)
    {
        var rows = points.Bind(p => p.Rows.Filter(x => !x.Pareto).Map(x => (Point: p, Row: x))).ToList();
        GenericChart Scatter(IEnumerable<(SweepPointResult Point, SweepRow Row)> xs, string name, string color, bool line, double size)
        {
            var list = xs.ToList();
            var chart = line
                ? PlotlyChart.Line<double, double, string>(list.Select(x => x.Row.Operations.SnnEnergyPj * 1e-6), list.Select(x => x.Row.Accuracy), ShowMarkers: true,
                    Name: name, LineColor: Plotly.NET.Color.fromHex(color), LineWidth: 2.0)
                : PlotlyChart.Point<double, double, string>(list.Select(x => x.Row.Operations.SnnEnergyPj * 1e-6), list.Select(x => x.Row.Accuracy), Name: name,
                    MarkerColor: Plotly.NET.Color.fromHex(color));
            return Traces(chart, t =>
            {
                t.SetProperty("text", list.Select(x => E($"{x.Point.Point.Label}, {x.Row.Steps} steps")).ToArray());
                t.SetProperty("hovertemplate", "%{text}<br>%{y:.2%}, %{x:.4f} µJ<extra></extra>");
                t.SetProperty("marker", Obj(("size", size), ("color", color)));
            });
        }
        var charts = new List<GenericChart> { Scatter(rows, "other settings", "#9bb7d4", false, 7), Scatter(front, "Pareto front", "#d62728", true, 10) };
        ann.IfSome(a =>
        {
            var all = points.Bind(p => p.Rows).Map(x => x.Operations.SnnEnergyPj * 1e-6).ToList();
            if (all.Count == 0) return;
            charts.Add(Traces(PlotlyChart.Line<double, double, string>(new[] { all.Min(), all.Max() }, new[] { a, a }, ShowMarkers: false, Name: $"ANN ({Pct(a)})",
                LineColor: Plotly.NET.Color.fromHex("#000000"), LineWidth: 1.5, LineDash: StyleParam.DrawingStyle.Dash), t => t.SetProperty("hovertemplate", "%{y:.2%}<extra>ANN</extra>")));
        });
        return Layout(GenericChart.combine(charts), 1050, 520,
            ("title", Obj(("text", "Accuracy vs. energy per inference (every point and step count)"))),
            ("xaxis", Obj(("title", Obj(("text", "energy per inference (µJ), log scale"))), ("type", "log"))),
            ("yaxis", Obj(("title", Obj(("text", "accuracy"))), ("tickformat", ".1%"))),
            ("hovermode", "closest"),
            ("legend", Obj(("orientation", "v"), ("x", 1.02), ("y", 1.0))));
    }

    static GenericChart StepsChart(Seq<SweepPointResult> points, int[] checkpoints, Option<double> ann)
    {
        var log = checkpoints.Min() >= 1 && checkpoints.Max() / (double)checkpoints.Min() >= 8;
        var charts = points.Map((k, p) => Traces(PlotlyChart.Line<int, double, string>(p.Rows.Map(x => x.Steps), p.Rows.Map(x => x.Accuracy), ShowMarkers: true,
                Name: E(p.Point.Label), LineColor: Plotly.NET.Color.fromHex(Palette[k % Palette.Length]), LineWidth: 2.0),
            t => t.SetProperty("hovertemplate", $"%{{y:.2%}} after %{{x}} steps<extra>{E(p.Point.Label)}</extra>"))).ToList();
        ann.IfSome(a => charts.Add(Traces(PlotlyChart.Line<int, double, string>(new[] { checkpoints.Min(), checkpoints.Max() }, new[] { a, a }, ShowMarkers: false,
            Name: $"ANN ({Pct(a)})", LineColor: Plotly.NET.Color.fromHex("#000000"), LineWidth: 1.5, LineDash: StyleParam.DrawingStyle.Dash),
            t => t.SetProperty("hovertemplate", "%{y:.2%}<extra>ANN</extra>"))));
        return Layout(GenericChart.combine(charts), 1050, 480,
            ("title", Obj(("text", $"Accuracy vs. steps{(log ? " (log scale)" : "")}"))),
            ("xaxis", Obj(("title", Obj(("text", "simulation steps"))), ("type", log ? "log" : "linear"), ("tickvals", checkpoints),
                ("ticktext", checkpoints.Select(c => c.ToString(CultureInfo.InvariantCulture)).ToArray()))),
            ("yaxis", Obj(("title", Obj(("text", "accuracy"))), ("tickformat", ".1%"))),
            ("hovermode", "closest"),
            ("hoverlabel", Obj(("namelength", -1))),
            ("legend", Obj(("orientation", "v"), ("x", 1.02), ("y", 1.0))));
    }
}
