namespace Snn.Notebooks.Tests;

/// <summary>HTML to render (what .NET Interactive's <c>HTML(string)</c> gives); its text is the markup.</summary>
public sealed class HtmlContent(string html)
{
    public string Html { get; } = html;
    public override string ToString() => Html;
}

/// <summary>
/// The globals a notebook cell sees under the test harness: the subset of the .NET Interactive C# kernel the
/// notebooks use. <c>display(x)</c> records x (an SVG/HTML string, <see cref="HtmlContent"/> or any object);
/// <c>HTML(s)</c> wraps markup as the kernel does.
/// </summary>
public sealed class NotebookGlobals
{
    readonly List<(int Cell, object? Value)> displayed = new();

    /// <summary>The index of the code cell running now (set by the runner).</summary>
    public int CurrentCell { get; internal set; }

    /// <summary>Everything displayed so far, with the index of the cell that displayed it.</summary>
    public IReadOnlyList<(int Cell, object? Value)> Displayed => displayed;

    public object? display(object? value)
    {
        displayed.Add((CurrentCell, value));
        return value;
    }

    public HtmlContent HTML(string html) => new(html);
}
