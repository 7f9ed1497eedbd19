using Microsoft.DotNet.Interactive.Documents;
using Microsoft.Playwright;

namespace Snn.Notebooks.Runner;

/// <summary>
/// A still picture of each chart, for readers whose notebook viewer runs no scripts (GitHub's): the chart as a
/// self-contained page (Plotly.NET's <c>toEmbeddedHTML</c>, plotly.js inline, nothing fetched) drawn by Debian's Chromium
/// through Playwright, and the drawn chart's screenshot stored as an <c>image/png</c> output right after the chart's own.
/// </summary>
public static class ChartImages
{
    /// <summary>The first <c>chromium</c> on PATH (what <c>command -v chromium</c> prints); null when there is none.</summary>
    public static readonly string? Chromium = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => Path.Combine(dir, "chromium"))
        .FirstOrDefault(File.Exists);

    /// <summary>Adds a PNG output after each chart's output in <paramref name="run"/>.</summary>
    public static async Task Add(NotebookRun run)
    {
        if (run.Charts.Count == 0) return;
        if (Chromium is null) throw new InvalidOperationException("chromium is not on PATH (apt-get install -y chromium): it draws the charts' images");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1000, Height = 800 } });
        var fetched = new List<string>();
        await page.RouteAsync("**/*", route =>
        {
            fetched.Add(route.Request.Url);
            return route.AbortAsync();
        });
        var cells = NotebookKernel.CodeCells(run.Document);
        foreach (var chart in run.Charts)
        {
            await page.SetContentAsync(Page(chart), new PageSetContentOptions { WaitUntil = WaitUntilState.Load });
            var plot = page.Locator("div.js-plotly-plot").First;
            await plot.Locator(".main-svg").First.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
            var png = await plot.ScreenshotAsync(new LocatorScreenshotOptions { Animations = ScreenshotAnimations.Disabled });
            var outputs = cells[chart.Cell].Outputs;
            outputs.Insert(outputs.IndexOf(chart.Output) + 1, new DisplayElement(new Dictionary<string, object> { ["image/png"] = Convert.ToBase64String(png) }));
        }
        if (fetched.Count > 0) throw new InvalidOperationException("drawing the charts asked for " + string.Join(", ", fetched));
    }

    /// <summary>
    /// A page that draws the chart's own notebook output (Plotly.NET.Interactive's HTML, which loads plotly.js through
    /// require.js from a CDN) offline: plotly.js inline, from the resource the chart's Plotly.NET assembly embeds, and a
    /// stand-in for require.js that hands it over.
    /// </summary>
    static string Page(DisplayedChart chart)
    {
        var assembly = chart.Chart.GetType().Assembly;
        var resource = assembly.GetManifestResourceNames().Single(n => n.EndsWith(".min.js", StringComparison.Ordinal) && n.Contains("plotly", StringComparison.OrdinalIgnoreCase));
        using var reader = new StreamReader(assembly.GetManifestResourceStream(resource)!);
        var plotly = reader.ReadToEnd();
        const string Require = "window.requirejs = function () {}; window.requirejs.config = function () { return function (deps, done) { done(window.Plotly); }; };";
        var html = (string)chart.Output.Data["text/html"];
        return $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><script>{plotly}</script><script>{Require}</script></head>" +
               $"<body style=\"margin:0;background:#fff\">{html}</body></html>";
    }
}
