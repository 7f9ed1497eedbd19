namespace Snn.Tests.Support;

/// <summary>Debian's Chromium, which the browser tests drive through Playwright (.ci/run installs it with apt).</summary>
public static class Chromium
{
    /// <summary>The path <c>command -v chromium</c> prints: the first <c>chromium</c> on PATH; null when there is none.</summary>
    public static readonly string? Path = (Environment.GetEnvironmentVariable("PATH") ?? "")
        .Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
        .Select(dir => System.IO.Path.Combine(dir, "chromium"))
        .FirstOrDefault(File.Exists);
}

/// <summary>A test that opens pages in Chromium; skipped, saying how to install it, when chromium is not on PATH.</summary>
public sealed class ChromiumFactAttribute : Xunit.FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.Path is null) Skip = "chromium is not installed (apt-get install -y chromium; .ci/run installs it when it can)";
    }
}
