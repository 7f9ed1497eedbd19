using System.Globalization;
using System.Net;
using System.Text;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn report</c>: runs the spiking evaluation (once per max-pooling method when the model max-pools, plus a
/// NengoDL-equivalent baseline) and writes one self-contained HTML file: inline SVG charts of accuracy against
/// steps and of firing rates, the firing, operation/energy, calibration and conversion tables. No external
/// scripts, fonts or stylesheets; every text that comes from the model or the command line is HTML-encoded.
/// </summary>
public static class Report
{
    static readonly string[] Palette = { "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf" };
    const string BaselineColor = "#7f7f7f";

    public static Either<Error, int> Run(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Commands.Model(a)
        from outPath in a.One("--out").ToEither(Errors.Usage("report needs --out report.html"))
        from _d in a.All("--data").Count > 0 ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage("report needs --data X.npy"))
        from _0 in Commands.ValidateSim(a, Mode.Spiking)
        from _c in Commands.Checkpoints(a, Commands.Steps(a, Mode.Spiking).IfLeft(0))
        from model in Commands.Load(a, modelPath)
        from inputs in Commands.Inputs(a, model, "--data", stderr)
        from ann in Reports.Ann(model, inputs)
        from labelled in Commands.Labels(a, inputs)
        let labels = labelled.IfNone(() => Metrics.Argmax(ann))
        from steps in Commands.Steps(a, Mode.Spiking)
        from checkpoints in Commands.Checkpoints(a, steps)
        from request in Commands.Request(a)
        from curves in Reports.Curves(new ReportOptions(steps, checkpoints), request, model, inputs, labels,
            w => stderr.WriteLine("warning: " + w), Console.Error.WriteLine, a.Progress.Callback)
        let html = Html(new Page(modelPath, a.Tokens.ToArray(), labels.Length, steps, checkpoints, Metrics.Accuracy(ann, labels), curves.Map(Drawn).Strict(), model.Saved.IsSome)
            { Labelled = labelled.IsSome })
        from _w in Write(outPath, html)
        let code = Done(stdout, outPath)
        from _h in Commands.Hint(stderr, Reports.ChanceHint(curves, Metrics.Accuracy(ann, labels), model, a.All("--data").ToSeq(), a.Float("--input-scale").IfLeft(Option<float>.None), labelled.IsSome))
        select code;

    static int Done(TextWriter stdout, string path)
    {
        stdout.WriteLine(path);
        return 0;
    }

    static Either<Error, Unit> Write(string path, string html)
    {
        try
        {
            var dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            File.WriteAllText(path, html, new UTF8Encoding(false));
            return unit;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            return Errors.Write(path, "the report", e.Message);
        }
    }

    /// <summary>A curve of the accuracy chart: the run, or why it could not be made, in its colour.</summary>
    sealed record Curve(string Label, string Settings, string Color, bool Main, bool Baseline, Option<CurveRun> Run, Option<string> Failure);

    /// <summary>The baseline in grey, a max-pool method in its own colour, the run with the given options in the first.</summary>
    static Curve Drawn(ReportCurve c) =>
        new(c.Label, c.Settings, c.Baseline ? BaselineColor : Palette[c.Variant.MaxPool.Map(m => Reports.Methods.IndexOf(m)).IfNone(0)],
            c.Main, c.Baseline, c.Run, c.Failure);

    sealed record Page(string ModelPath, string[] Argv, int Samples, int Steps, int[] Checkpoints, double Keras, Seq<Curve> Curves, bool Saved)
    {
        public Curve Main => Curves.Find(c => c.Main).IfNone(Curves.Head);

        /// <summary>False without --labels: the ANN's top-1 classes stand in for them, so every accuracy is agreement with the ANN.</summary>
        public bool Labelled { get; init; } = true;

        /// <summary>What the curves measure, in words.</summary>
        public string Metric => Labelled ? "accuracy" : "agreement";
    }

    // ---------------------------------------------------------------- HTML

    static string E(string s) => WebUtility.HtmlEncode(s);
    static string F(double v, string format = "0.##") => v.ToString(format, CultureInfo.InvariantCulture);
    static string Pct(double v) => (v * 100).ToString("0.0", CultureInfo.InvariantCulture) + "%";

    const string Css = """
        body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #222; background: #fff;
               max-width: 1060px; margin: 2em auto; padding: 0 1em; line-height: 1.45; }
        h1 { font-size: 1.6em; margin-bottom: 0.2em; }
        h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
        h3 { font-size: 1em; margin: 0.2em 0; }
        p.note, .muted { color: #666; font-size: 0.9em; }
        table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
        th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
        th { background: #f4f4f4; }
        td.num { text-align: right; font-variant-numeric: tabular-nums; }
        tr.failed td { color: #a00; }
        tr.fallback td { background: #fff8e1; }
        code { background: #f4f4f4; padding: 0.05em 0.3em; border-radius: 3px; word-break: break-all; }
        .swatch { display: inline-block; width: 1.6em; height: 0.35em; vertical-align: middle; margin-right: 0.4em; }
        .hists { display: flex; flex-wrap: wrap; gap: 1em; }
        figure { margin: 0; width: 340px; }
        figcaption { font-size: 0.85em; color: #444; }
        svg { font-family: inherit; }
        svg text { font-size: 11px; fill: #333; }
        svg .axis { stroke: #333; stroke-width: 1; }
        svg .grid { stroke: #e6e6e6; stroke-width: 1; }
        svg .title { font-size: 13px; font-weight: bold; }
        """;

    static string Html(Page p)
    {
        var sb = new StringBuilder();
        var main = p.Main;
        var run = main.Run.IfNone(() => throw new InvalidOperationException("the main run is missing"));
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
          .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
          .Append($"<title>snn report: {E(Path.GetFileName(p.ModelPath.TrimEnd('/', '\\')))}</title>\n<style>\n{Css}\n</style>\n</head>\n<body>\n");
        sb.Append($"<h1>Spiking conversion report</h1>\n<p class=\"muted\">{E(p.ModelPath)}</p>\n");

        Summary(sb, p, main, run);

        sb.Append($"<h2>{(p.Labelled ? "Accuracy" : "Agreement with the ANN")} against simulation steps</h2>\n");
        if (!p.Labelled)
            sb.Append("<p class=\"note\">No labels were given: each curve is the share of inputs whose top-1 class is the ANN's " +
                      "(the Keras reference evaluator's) on the same inputs.</p>\n");
        sb.Append($"<p class=\"note\">Spiking {p.Metric} read out after each number of steps from one run per curve; " +
                  "the dashed line is the ANN (Keras reference evaluator). The NengoDL baseline uses NengoDL's converter defaults: " +
                  "no calibration, firing-rate scale 1, no synapse, average pooling for max pooling, last-step readout, Nengo's SpikingRectifiedLinear.</p>\n");
        if (p.Saved)
            sb.Append("<p class=\"note\">This is a saved network: its conversion is fixed in the file, so the report shows it alone. " +
                      "Run <code>snn report</code> on the Keras model to compare the max-pool methods and the NengoDL baseline.</p>\n");
        AccuracyChart(sb, p);
        AccuracyTable(sb, p);

        sb.Append($"<h2>Firing rates ({E(main.Label)})</h2>\n");
        if (run.Layers.IsEmpty) sb.Append("<p>The network has no spiking neurons.</p>\n");
        else
        {
            sb.Append("<p class=\"note\">Spikes per neuron per step, over all samples and steps. Silent: never spiked; saturated: at least one spike every step.</p>\n");
            Table(sb, new[] { "layer", "neurons", "mean", "p99", "silent", "saturated" }, new[] { false, true, true, true, true, true },
                run.Layers.Map(l => new[] { LayerName(l, run.Layers), l.Neurons.ToString(CultureInfo.InvariantCulture), F(l.MeanSpikesPerStep, "0.000"),
                    F(l.P99SpikesPerStep, "0.000"), Pct(l.FractionSilent), Pct(l.FractionSaturated) }));
            sb.Append("<div class=\"hists\">\n");
            foreach (var l in run.Layers) Histogram(sb, l, LayerName(l, run.Layers));
            sb.Append("</div>\n");
        }

        Operations(sb, p, main, run);
        Calibration(sb, run.Converted);
        Conversion(sb, run.Converted);
        Warnings(sb, p);

        sb.Append("<p class=\"muted\">Written by <code>snn report</code> ")
          .Append(E(typeof(Report).Assembly.GetName().Version?.ToString(3) ?? ""))
          .Append("; this file is self-contained (inline SVG, no external resources).</p>\n</body>\n</html>\n");
        return sb.ToString();
    }

    static string LayerName(LayerActivity l, Seq<LayerActivity> all) =>
        all.Count(x => x.Layer == l.Layer) > 1 && l.Ensemble != l.Layer ? $"{l.Layer} ({l.Ensemble})" : l.Layer;

    static void Summary(StringBuilder sb, Page p, Curve main, CurveRun run)
    {
        var final = run.Points[^1];
        var rows = new List<string[]>
        {
            new[] { "samples", p.Samples.ToString(CultureInfo.InvariantCulture) },
            new[] { "steps", p.Steps.ToString(CultureInfo.InvariantCulture) + " (checkpoints " + string.Join(", ", p.Checkpoints) + ")" },
            new[] { $"ANN {p.Metric}", Pct(p.Keras) },
            new[] { $"spiking {p.Metric}, {main.Label}", $"{Pct(final.Accuracy)} after {final.Steps} steps" },
            new[] { "settings", main.Settings },
            new[] { "command", "snn report " + string.Join(" ", p.Argv.Select(Quote)) },
        };
        sb.Append("<table class=\"summary\">\n");
        foreach (var r in rows) sb.Append($"<tr><th>{E(r[0])}</th><td>{E(r[1])}</td></tr>\n");
        sb.Append("</table>\n");
    }

    static string Quote(string s) => s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./=:,\\".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

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

    static void AccuracyTable(StringBuilder sb, Page p)
    {
        var curves = p.Curves.ToList();
        sb.Append("<table>\n<tr><th>curve</th><th>settings</th>");
        foreach (var c in p.Checkpoints) sb.Append($"<th>{c}</th>");
        sb.Append("</tr>\n");
        foreach (var c in curves)
        {
            sb.Append(c.Run.IsSome ? "<tr>" : "<tr class=\"failed\">")
              .Append($"<td><span class=\"swatch\" style=\"background:{c.Color}\"></span>{E(c.Label)}</td>");
            c.Run.Match(
                r =>
                {
                    sb.Append($"<td>{E(c.Settings)}</td>");
                    foreach (var pt in r.Points) sb.Append($"<td class=\"num\">{Pct(pt.Accuracy)}</td>");
                },
                () => sb.Append($"<td colspan=\"{p.Checkpoints.Length + 1}\">failed: {E(c.Failure.IfNone(""))}</td>"));
            sb.Append("</tr>\n");
        }
        sb.Append($"<tr><td><span class=\"swatch\" style=\"background:#000\"></span>ANN</td><td>Keras reference evaluator</td>" +
                  $"<td class=\"num\" colspan=\"{p.Checkpoints.Length}\">{Pct(p.Keras)}</td></tr>\n");
        sb.Append("</table>\n");
    }

    /// <summary>About n round tick values between lo and hi.</summary>
    static double[] NiceTicks(double lo, double hi, int n)
    {
        if (hi <= lo) return new[] { lo };
        var raw = (hi - lo) / Math.Max(1, n);
        var mag = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        var step = new[] { 1, 2, 2.5, 5, 10 }.Select(m => m * mag).First(s => s >= raw);
        var ticks = new List<double>();
        for (var t = Math.Ceiling(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.Add(Math.Round(t, 10));
        return ticks.ToArray();
    }

    /// <summary>The smallest round number (a multiple of a 1-2-2.5-5 step) at or above v; 1 for v = 0.</summary>
    static double NiceBound(double v)
    {
        if (!(v > 0)) return 1;
        var ticks = NiceTicks(0, v, 4);
        var step = ticks.Length > 1 ? ticks[1] - ticks[0] : v;
        return Math.Max(v, Math.Round(Math.Ceiling(v / step - 1e-9) * step, 10));
    }

    static void AccuracyChart(StringBuilder sb, Page p)
    {
        const double W = 820, H = 400, L = 62, R = 250, T = 30, B = 52;
        double pw = W - L - R, ph = H - T - B;
        var cps = p.Checkpoints;
        double min = cps.Min(), max = cps.Max();
        var log = min >= 1 && max / min >= 8;
        double lo = log ? Math.Log2(min) : (cps.Length > 1 ? 0 : min - 1), hi = log ? Math.Log2(max) : max;
        if (hi <= lo) { lo -= 1; hi += 1; }
        double X(double s) => L + ((log ? Math.Log2(s) : s) - lo) / (hi - lo) * pw;
        double Y(double acc) => T + (1 - acc) * ph;

        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart accuracy\" width=\"{F(W)}\" height=\"{F(H)}\" viewBox=\"0 0 {F(W)} {F(H)}\" role=\"img\">\n");
        sb.Append($"<title>{(p.Labelled ? "Accuracy" : "Agreement with the ANN")} against simulation steps</title>\n");
        sb.Append($"<text class=\"title\" x=\"{F(L)}\" y=\"18\">{(p.Labelled ? "Accuracy" : "Agreement")} vs. steps{(log ? " (log scale)" : "")}</text>\n");
        // y grid and ticks
        foreach (var t in NiceTicks(0, 1, 5))
        {
            var y = Y(t);
            sb.Append($"<line class=\"grid\" x1=\"{F(L)}\" y1=\"{F(y)}\" x2=\"{F(L + pw)}\" y2=\"{F(y)}\"/>")
              .Append($"<text x=\"{F(L - 6)}\" y=\"{F(y + 4)}\" text-anchor=\"end\">{F(t * 100, "0")}%</text>\n");
        }
        // x ticks: every checkpoint when few, else powers of two (log) or round numbers
        var xt = cps.Length <= 12 ? cps.Select(c => (double)c).ToArray()
            : log ? Enumerable.Range(0, 31).Select(k => (double)(1L << k)).Where(v => v >= min && v <= max).ToArray()
            : NiceTicks(lo, hi, 8);
        foreach (var t in xt)
        {
            var x = X(t);
            sb.Append($"<line class=\"grid\" x1=\"{F(x)}\" y1=\"{F(T)}\" x2=\"{F(x)}\" y2=\"{F(T + ph)}\"/>")
              .Append($"<text x=\"{F(x)}\" y=\"{F(T + ph + 16)}\" text-anchor=\"middle\">{F(t, "0.##")}</text>\n");
        }
        sb.Append($"<line class=\"axis\" x1=\"{F(L)}\" y1=\"{F(T + ph)}\" x2=\"{F(L + pw)}\" y2=\"{F(T + ph)}\"/>")
          .Append($"<line class=\"axis\" x1=\"{F(L)}\" y1=\"{F(T)}\" x2=\"{F(L)}\" y2=\"{F(T + ph)}\"/>\n");
        sb.Append($"<text x=\"{F(L + pw / 2)}\" y=\"{F(H - 12)}\" text-anchor=\"middle\">simulation steps</text>\n");
        sb.Append($"<text x=\"14\" y=\"{F(T + ph / 2)}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {F(T + ph / 2)})\">{p.Metric}</text>\n");

        // the ANN line
        var ay = Y(p.Keras);
        sb.Append($"<line class=\"ann\" x1=\"{F(L)}\" y1=\"{F(ay)}\" x2=\"{F(L + pw)}\" y2=\"{F(ay)}\" stroke=\"#000\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\">")
          .Append($"<title>ANN: {Pct(p.Keras)}</title></line>\n");

        foreach (var c in p.Curves.OrderBy(c => c.Main))   // the main curve last, on top
            c.Run.IfSome(r =>
            {
                var dash = c.Baseline ? " stroke-dasharray=\"2 3\"" : "";
                var points = string.Join(" ", r.Points.Select(pt => $"{F(X(pt.Steps))},{F(Y(pt.Accuracy))}"));
                sb.Append($"<g class=\"series\"><polyline class=\"curve\" data-curve=\"{E(c.Label)}\" points=\"{points}\" fill=\"none\" stroke=\"{c.Color}\" stroke-width=\"{(c.Main ? "2.5" : "1.8")}\"{dash}/>");
                foreach (var pt in r.Points)
                    sb.Append($"<circle cx=\"{F(X(pt.Steps))}\" cy=\"{F(Y(pt.Accuracy))}\" r=\"3\" fill=\"{c.Color}\"><title>{E(c.Label)}: {Pct(pt.Accuracy)} after {pt.Steps} steps</title></circle>");
                sb.Append("</g>\n");
            });

        // legend
        var ly = T + 6.0;
        var lx = L + pw + 18;
        void Entry(string color, string text, string dash)
        {
            sb.Append($"<line x1=\"{F(lx)}\" y1=\"{F(ly)}\" x2=\"{F(lx + 26)}\" y2=\"{F(ly)}\" stroke=\"{color}\" stroke-width=\"2.5\"{dash}/>")
              .Append($"<text x=\"{F(lx + 32)}\" y=\"{F(ly + 4)}\">{E(text)}</text>\n");
            ly += 20;
        }
        sb.Append("<g class=\"legend\">\n");
        Entry("#000", $"ANN ({Pct(p.Keras)})", " stroke-dasharray=\"6 4\"");
        foreach (var c in p.Curves)
            Entry(c.Run.IsSome ? c.Color : "#ccc", Shorten(c.Label, 34) + (c.Run.IsSome ? "" : " (failed)"), c.Baseline ? " stroke-dasharray=\"2 3\"" : "");
        sb.Append("</g>\n</svg>\n");
    }

    static string Shorten(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "…";

    /// <summary>
    /// Share of neurons by firing rate: silent neurons (no spike at all) as a grey bar of their own, the others in
    /// 20 bins from 0 to a round bound above the highest rate; the red line is the mean.
    /// </summary>
    static void Histogram(StringBuilder sb, LayerActivity l, string name)
    {
        const double W = 340, H = 190, L = 46, R = 14, T = 26, B = 36, Slot = 22;
        const int Bins = 20;
        double pw = W - L - R - Slot, ph = H - T - B;
        var rates = l.Rates;
        var maxRate = rates.Length == 0 ? 0 : rates.Max();
        var hi = NiceBound(maxRate);
        var counts = new int[Bins];
        var silent = 0;
        foreach (var r in rates)
            if (r <= 0) silent++;
            else counts[Math.Clamp((int)(r / hi * Bins), 0, Bins - 1)]++;
        var n = Math.Max(1, rates.Length);
        var top = NiceBound(Math.Max(silent, counts.Max()) / (double)n);
        var yTicks = NiceTicks(0, top, 3);
        double X(double v) => L + Slot + v / hi * pw;
        double Y(double f) => T + (1 - f / top) * ph;

        sb.Append("<figure>\n");
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart histogram\" width=\"{F(W)}\" height=\"{F(H)}\" viewBox=\"0 0 {F(W)} {F(H)}\" role=\"img\">\n");
        sb.Append($"<title>Firing-rate histogram of {E(name)}</title>\n");
        sb.Append($"<text class=\"title\" x=\"{F(L)}\" y=\"16\">{E(Shorten(name, 40))}</text>\n");
        foreach (var t in yTicks)
            sb.Append($"<line class=\"grid\" x1=\"{F(L)}\" y1=\"{F(Y(t))}\" x2=\"{F(W - R)}\" y2=\"{F(Y(t))}\"/>")
              .Append($"<text x=\"{F(L - 5)}\" y=\"{F(Y(t) + 4)}\" text-anchor=\"end\">{F(t * 100, "0.#")}%</text>\n");
        if (silent > 0)
        {
            var y = Y(silent / (double)n);
            sb.Append($"<rect class=\"silent\" x=\"{F(L + 2)}\" y=\"{F(y)}\" width=\"{F(Slot - 5)}\" height=\"{F(T + ph - y)}\" fill=\"#aaa\">")
              .Append($"<title>silent: {silent} neurons</title></rect>\n");
        }
        sb.Append($"<text x=\"{F(L + Slot / 2 - 1)}\" y=\"{F(T + ph + 15)}\" text-anchor=\"middle\" fill=\"#888\">∅</text>\n");
        for (var b = 0; b < Bins; b++)
        {
            if (counts[b] == 0) continue;
            double x0 = X(b * hi / Bins), x1 = X((b + 1) * hi / Bins), y = Y(counts[b] / (double)n);
            sb.Append($"<rect x=\"{F(x0 + 0.5)}\" y=\"{F(y)}\" width=\"{F(Math.Max(0.5, x1 - x0 - 1))}\" height=\"{F(T + ph - y)}\" fill=\"#4c78a8\">")
              .Append($"<title>{F(b * hi / Bins, "0.####")} to {F((b + 1) * hi / Bins, "0.####")} spikes/step: {counts[b]} neurons</title></rect>\n");
        }
        var mx = X(Math.Min(hi, l.MeanSpikesPerStep));
        sb.Append($"<line x1=\"{F(mx)}\" y1=\"{F(T)}\" x2=\"{F(mx)}\" y2=\"{F(T + ph)}\" stroke=\"#d62728\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\">")
          .Append($"<title>mean {F(l.MeanSpikesPerStep, "0.000")} spikes/step</title></line>\n");
        foreach (var t in NiceTicks(0, hi, 4))
            sb.Append($"<line class=\"axis\" x1=\"{F(X(t))}\" y1=\"{F(T + ph)}\" x2=\"{F(X(t))}\" y2=\"{F(T + ph + 4)}\"/>")
              .Append($"<text x=\"{F(X(t))}\" y=\"{F(T + ph + 15)}\" text-anchor=\"middle\">{F(t, "0.###")}</text>\n");
        sb.Append($"<line class=\"axis\" x1=\"{F(L)}\" y1=\"{F(T + ph)}\" x2=\"{F(W - R)}\" y2=\"{F(T + ph)}\"/>")
          .Append($"<line class=\"axis\" x1=\"{F(L)}\" y1=\"{F(T)}\" x2=\"{F(L)}\" y2=\"{F(T + ph)}\"/>\n");
        sb.Append($"<text x=\"{F(L + Slot + pw / 2)}\" y=\"{F(H - 4)}\" text-anchor=\"middle\">spikes per neuron per step</text>\n");
        sb.Append("</svg>\n");
        sb.Append($"<figcaption>{l.Neurons} neurons; mean {F(l.MeanSpikesPerStep, "0.000")} (red line), p99 {F(l.P99SpikesPerStep, "0.000")}, " +
                  $"silent {Pct(l.FractionSilent)} (grey, ∅), saturated {Pct(l.FractionSaturated)}. Bars: share of neurons.</figcaption>\n");
        sb.Append("</figure>\n");
    }

    static void Operations(StringBuilder sb, Page p, Curve main, CurveRun run)
    {
        var o = run.Operations;
        sb.Append("<h2>Synaptic operations and energy</h2>\n");
        sb.Append($"<p>Per inference with {E(main.Label)} over {p.Steps} steps: {F(o.SynapticAccumulates, "N0")} synaptic accumulates (spikes), " +
                  $"{F(o.AnalogMacs, "N0")} multiply-accumulates on analog (non-spike) input; the ANN needs {F(o.AnnMacs, "N0")} multiply-accumulates.</p>\n");
        sb.Append($"<p>Energy estimate: SNN {F(o.SnnEnergyPj * 1e-6, "0.000")} µJ vs ANN {F(o.AnnEnergyPj * 1e-6, "0.000")} µJ " +
                  $"({F(o.AddPj, "0.##")} pJ per accumulate, {F(o.MacPj, "0.##")} pJ per multiply-accumulate).</p>\n");
        sb.Append($"<p class=\"note\">Source: {E(OperationCounts.Source)}. Constant (bias) inputs are not counted; memory access is not modelled.</p>\n");

        var bars = p.Curves.Choose(c => c.Run.Map(r => (Label: c.Label, Color: c.Color, Uj: r.Operations.SnnEnergyPj * 1e-6)))
            .Append(Seq1((Label: "ANN", Color: "#000", Uj: o.AnnEnergyPj * 1e-6))).ToList();
        EnergyChart(sb, bars);

        Table(sb, new[] { "curve", $"{p.Metric} at {p.Checkpoints[^1]} steps", "synaptic accumulates", "analog MACs", "energy (µJ)" },
            new[] { false, true, true, true, true },
            p.Curves.Choose(c => c.Run.Map(r => new[]
            {
                c.Label, Pct(r.Points[^1].Accuracy), F(r.Operations.SynapticAccumulates, "N0"), F(r.Operations.AnalogMacs, "N0"),
                F(r.Operations.SnnEnergyPj * 1e-6, "0.000"),
            })).Append(Seq1(new[] { "ANN", Pct(p.Keras), "-", F(o.AnnMacs, "N0"), F(o.AnnEnergyPj * 1e-6, "0.000") })));
    }

    static void EnergyChart(StringBuilder sb, List<(string Label, string Color, double Uj)> bars)
    {
        const double W = 820, L = 250, R = 110, T = 30, Row = 24;
        var H = T + bars.Count * Row + 30;
        var pw = W - L - R;
        var top = NiceBound(bars.Max(b => b.Uj));
        var ticks = NiceTicks(0, top, 5);
        double X(double v) => L + v / top * pw;
        sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart energy\" width=\"{F(W)}\" height=\"{F(H)}\" viewBox=\"0 0 {F(W)} {F(H)}\" role=\"img\">\n");
        sb.Append("<title>Energy per inference</title>\n");
        sb.Append($"<text class=\"title\" x=\"{F(L)}\" y=\"18\">Energy per inference (µJ)</text>\n");
        foreach (var t in ticks)
            sb.Append($"<line class=\"grid\" x1=\"{F(X(t))}\" y1=\"{F(T)}\" x2=\"{F(X(t))}\" y2=\"{F(T + bars.Count * Row)}\"/>")
              .Append($"<text x=\"{F(X(t))}\" y=\"{F(T + bars.Count * Row + 14)}\" text-anchor=\"middle\">{F(t, "G3")}</text>\n");
        for (var i = 0; i < bars.Count; i++)
        {
            var (label, color, uj) = bars[i];
            var y = T + i * Row;
            sb.Append($"<text x=\"{F(L - 8)}\" y=\"{F(y + Row / 2 + 4)}\" text-anchor=\"end\">{E(Shorten(label, 36))}</text>")
              .Append($"<rect x=\"{F(L)}\" y=\"{F(y + 4)}\" width=\"{F(Math.Max(0.5, X(uj) - L))}\" height=\"{F(Row - 8)}\" fill=\"{color}\"/>")
              .Append($"<text x=\"{F(X(uj) + 6)}\" y=\"{F(y + Row / 2 + 4)}\">{F(uj, "0.000")}</text>\n");
        }
        sb.Append($"<line class=\"axis\" x1=\"{F(L)}\" y1=\"{F(T)}\" x2=\"{F(L)}\" y2=\"{F(T + bars.Count * Row)}\"/>\n");
        sb.Append("</svg>\n");
    }

    static void Calibration(StringBuilder sb, Converted compiled)
    {
        if (compiled.Scales.IsEmpty) return;
        sb.Append("<h2>Calibration</h2>\n<p class=\"note\">Each layer's calibrated activation (the percentile of its non-zero activations on the calibration data), the firing-rate scale it sets, and the spikes per step an activation there fires (its resolution).</p>\n");
        Table(sb, new[] { "layer", "calibrated activation", "firing-rate scale", "spikes per step at it" }, new[] { false, true, true, true },
            compiled.Scales.Map(s => new[] { s.Layer, F(s.Activation, "G4"), F(s.Scale, "G4"), F(s.Resolution, "G4") }));
    }

    static void Conversion(StringBuilder sb, Converted compiled)
    {
        var neurons = compiled.Network.Nodes.OfType<Ensemble>().GroupBy(e => e.Layer).ToDictionary(g => g.Key, g => g.Sum(e => e.Size));
        var rows = compiled.Network.Layers.Map(l => new[]
        {
            l.Layer, l.ClassName, l.Conversion.ToString().ToLowerInvariant(), Shapes.Show(l.OutputShape),
            neurons.GetValueOrDefault(l.Layer).ToString(CultureInfo.InvariantCulture), l.Note,
        }).ToList();
        sb.Append("<h2>Conversion</h2>\n");
        Table(sb, new[] { "layer", "class", "conversion", "output shape", "neurons", "note" }, new[] { false, false, false, false, true, false }, rows,
            i => rows[i][2] == "fallback" ? "fallback" : null);
        sb.Append($"<p>{neurons.Values.Sum()} neurons, {compiled.Network.Connections.Count} connections, " +
                  $"{compiled.Program.Ops.Count} operators after optimization.</p>\n");
    }

    static void Warnings(StringBuilder sb, Page p)
    {
        var warnings = p.Curves.Choose(c => c.Run).Bind(r => r.Converted.Network.Warnings).Distinct().ToList();
        if (warnings.Count == 0) return;
        sb.Append("<h2>Warnings</h2>\n<ul>\n");
        foreach (var w in warnings) sb.Append($"<li>{E(w)}</li>\n");
        sb.Append("</ul>\n");
    }
}
