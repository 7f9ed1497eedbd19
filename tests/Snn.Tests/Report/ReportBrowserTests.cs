using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Snn.Tests.Cli;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Report;

/// <summary>
/// The report as a person sees it: opened from file:// in Debian's Chromium (driven by Playwright) with every network
/// request refused. It must load without console errors, draw every chart, and show on hover the value its JSON holds.
/// </summary>
public class ReportBrowserTests
{
    /// <summary>Where the screenshot is kept: a folder under the test output.</summary>
    static readonly string Artifacts = Path.Combine(AppContext.BaseDirectory, "artifacts");

    [ChromiumFact]
    [Trait("Category", "Slow")]
    public async Task TheReportRendersOfflineInChromiumAndHoverShowsTheEmbeddedValues()
    {
        // A small fixture: two curves, 8 steps, a few samples.
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var src = TestModels.Fixture("tfjs", "dense_mlp");
        var labels = ReportTests.LabelsFrom(Path.Combine(src, "expected_0.npy"), dir);
        var report = Path.Combine(dir, "report.html");
        var (code, _, err) = CliRunner.Run("report", Path.Combine(src, "model.json"), "--data", Path.Combine(src, "input_0.npy"), "--labels", labels,
            "--out", report, "--steps", "8", "--scale-firing-rates", "10");
        Assert.True(code == 0, err);
        var data = ReportTests.Data(File.ReadAllText(report));

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium.Path, Headless = true, Args = ["--no-sandbox"],
        });
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1200, Height = 900 } });
        var page = await context.NewPageAsync();
        var errors = new List<string>();
        var fetched = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") errors.Add(m.Text); };
        page.PageError += (_, e) => errors.Add(e);
        await page.RouteAsync("**/*", async route =>
        {
            if (route.Request.Url.StartsWith("file://", StringComparison.Ordinal)) await route.ContinueAsync();
            else
            {
                fetched.Add(route.Request.Url);
                await route.AbortAsync();
            }
        });
        await page.GotoAsync(new Uri(report).AbsoluteUri, new PageGotoOptions { WaitUntil = WaitUntilState.Load });

        // Every chart drawn by plotly.js: its SVG and at least one trace with marks in it.
        var charts = page.Locator("div.chart");
        Assert.Equal(2 + data.GetProperty("layers").GetArrayLength(), await charts.CountAsync());
        for (var i = 0; i < await charts.CountAsync(); i++)
        {
            var chart = charts.Nth(i);
            var id = await chart.GetAttributeAsync("id");
            Assert.True(await chart.Locator(".main-svg").CountAsync() >= 1, $"{id} has no plot");
            Assert.True(await chart.Locator("g.trace").CountAsync() >= 1, $"{id} has no trace");
            Assert.True(await chart.Locator("g.trace path").CountAsync() >= 1, $"{id} draws nothing");
        }

        // Hover the last point of the curve drawn last (the main one): the label says the value the JSON gives, to 0.01%.
        var accuracy = page.Locator("#chart-accuracy");
        var points = accuracy.Locator(".scatterlayer g.trace").Last.Locator("g.points path");
        Assert.Equal(data.GetProperty("checkpoints").GetArrayLength(), await points.CountAsync());
        await accuracy.ScrollIntoViewIfNeededAsync();
        var box = await points.Last.BoundingBoxAsync() ?? throw new InvalidOperationException("the last point has no box");
        await page.Mouse.MoveAsync(box.X + box.Width / 2 - 20, box.Y + box.Height / 2);
        await page.Mouse.MoveAsync(box.X + box.Width / 2, box.Y + box.Height / 2, new MouseMoveOptions { Steps = 4 });
        var hover = accuracy.Locator(".hoverlayer .hovertext");
        await hover.First.WaitForAsync(new LocatorWaitForOptions { Timeout = 10_000 });
        var label = await hover.First.Locator("text.nums").TextContentAsync() ?? "";
        var name = await hover.First.Locator("text.name").TextContentAsync() ?? "";
        Directory.CreateDirectory(Artifacts);
        var shot = Path.Combine(Artifacts, "report-chromium.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = shot, FullPage = true });
        var m = Regex.Match(label, @"^(\d+\.\d\d)% after (\d+) steps$");
        Assert.True(m.Success, $"hover label '{label}'");
        var curve = data.GetProperty("curves").EnumerateArray().SingleOrDefault(c => c.GetProperty("label").GetString() == name);
        Assert.True(curve.ValueKind == JsonValueKind.Object, $"hover label '{name}' names no curve");
        var point = curve.GetProperty("points").EnumerateArray().Single(p => p.GetProperty("steps").GetInt32() == int.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
        Assert.Equal((point.GetProperty("accuracy").GetDouble() * 100).ToString("0.00", CultureInfo.InvariantCulture), m.Groups[1].Value);
        Assert.Equal(data.GetProperty("checkpoints").EnumerateArray().Last().GetInt32(), point.GetProperty("steps").GetInt32());

        Assert.Empty(errors);
        Assert.Empty(fetched);
        Assert.True(new FileInfo(shot).Length > 10_000);
    }
}
