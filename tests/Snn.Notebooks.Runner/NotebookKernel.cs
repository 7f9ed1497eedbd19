using System.Reflection;
using System.Text.RegularExpressions;
using Microsoft.DotNet.Interactive;
using Microsoft.DotNet.Interactive.Commands;
using Microsoft.DotNet.Interactive.CSharp;
using Microsoft.DotNet.Interactive.Documents;
using Microsoft.DotNet.Interactive.Documents.Jupyter;
using Microsoft.DotNet.Interactive.Events;
using Microsoft.DotNet.Interactive.Formatting;
using Microsoft.DotNet.Interactive.PackageManagement;

namespace Snn.Notebooks.Runner;

/// <summary>A code cell that failed: its index among the notebook's code cells (from 0) and the kernel's message.</summary>
public sealed record CellFailure(int Cell, string Message);

/// <summary>A chart a cell displayed: the output element that shows it and the chart object (a Plotly.NET GenericChart).</summary>
public sealed record DisplayedChart(int Cell, DisplayElement Output, object Chart);

/// <summary>A notebook after a run: every code cell's outputs (up to the failed one), the failure if any, and the charts shown.</summary>
public sealed record NotebookRun(InteractiveDocument Document, CellFailure? Failure, IReadOnlyList<DisplayedChart> Charts);

/// <summary>
/// Runs a Polyglot (.NET Interactive) C# notebook on .NET Interactive's own kernel, as Polyglot Notebooks does: a
/// <see cref="CompositeKernel"/> holding a <see cref="CSharpKernel"/> with the <c>#r "nuget:"</c> and <c>#i "nuget:"</c>
/// directives (<c>UseNugetDirective</c>), the kernel helpers (<c>display</c>, <c>HTML</c>) and value sharing. Every code cell
/// is sent in order as one <see cref="SubmitCode"/>; the first that fails (<see cref="CommandFailed"/>: a compile error or an
/// exception) stops the run, as "Run All" does. A package's kernel extension (<c>interactive-extensions/dotnet/*.dll</c>,
/// such as Plotly.NET.Interactive's chart formatter) is loaded when the package is added, as the dotnet-interactive tool does.
/// </summary>
public static class NotebookKernel
{
    /// <summary>The kernels a notebook of this repository may name (C# only).</summary>
    public static KernelInfoCollection KernelInfos()
    {
        var infos = new KernelInfoCollection { new Microsoft.DotNet.Interactive.Documents.KernelInfo("csharp", "C#", new[] { "c#", "C#" }) };
        infos.DefaultKernelName = "csharp";
        return infos;
    }

    /// <summary>Reads an .ipynb file.</summary>
    public static InteractiveDocument Read(string path) => Notebook.Parse(File.ReadAllText(path), KernelInfos());

    /// <summary>The notebook as .ipynb JSON (nbformat 4).</summary>
    public static string ToJson(InteractiveDocument document)
    {
        using var stream = new MemoryStream();
        Notebook.Write(document, stream, KernelInfos());
        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    /// <summary>The code cells of a notebook, in order (markdown cells left out).</summary>
    public static IReadOnlyList<InteractiveDocumentElement> CodeCells(InteractiveDocument document) =>
        document.Elements.Where(e => e.KernelName is not "markdown").ToList();

    /// <summary>A kernel as Polyglot Notebooks makes it for C#.</summary>
    public static CompositeKernel Create()
    {
        CompositeKernel? composite = null;
        var loaded = new HashSet<string>(StringComparer.Ordinal);
        var csharp = new CSharpKernel()
            .UseNugetDirective(async (kernel, references) =>
            {
                kernel.AddAssemblyReferences(references.SelectMany(r => r.AssemblyPaths));
                foreach (var reference in references)
                    await LoadExtensions(reference.PackageRoot, composite!, loaded);
            }, forceRestore: true)
            .UseKernelHelpers()
            .UseWho()
            .UseValueSharing();
        composite = new CompositeKernel { csharp };
        composite.DefaultKernelName = csharp.Name;
        return composite;
    }

    /// <summary>Loads the kernel extensions a package ships (<c>interactive-extensions/dotnet/*.dll</c>), once each.</summary>
    static async Task LoadExtensions(string packageRoot, Kernel kernel, HashSet<string> loaded)
    {
        var folder = Path.Combine(packageRoot, "interactive-extensions", "dotnet");
        if (!Directory.Exists(folder)) return;
        foreach (var dll in Directory.GetFiles(folder, "*.dll").Order(StringComparer.Ordinal))
        {
            if (!loaded.Add(Path.GetFullPath(dll))) continue;
            var assembly = Assembly.LoadFrom(dll);
            foreach (var type in assembly.GetExportedTypes().Where(t => typeof(IKernelExtension).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false }))
                await ((IKernelExtension)Activator.CreateInstance(type)!).OnLoadAsync(kernel);
        }
    }

    static readonly Regex SourceDirective = new(@"^(?<lead>\s*#i\s+""nuget:\s*)(?<source>[^""]*)(?<tail>"".*)$", RegexOptions.Multiline);

    /// <summary>
    /// The cell with every <c>#i "nuget: FOLDER"</c> package source that is a folder (not a URL) replaced by
    /// <paramref name="folder"/>: the notebooks name the repository's <c>artifacts</c> folder, a test its own freshly packed one.
    /// </summary>
    public static string WithPackageSource(string code, string folder) =>
        SourceDirective.Replace(code, m => m.Groups["source"].Value.Contains("://", StringComparison.Ordinal)
            ? m.Value : m.Groups["lead"].Value + folder + m.Groups["tail"].Value);

    /// <summary>
    /// Runs every code cell of <paramref name="document"/> in a fresh kernel, with the notebook's folder as the current
    /// directory (where Polyglot Notebooks runs a notebook), and puts each cell's outputs and execution count in place of
    /// what it had. <paramref name="packageSource"/>, when given, replaces the folder the notebook's <c>#i</c> lines name.
    /// </summary>
    public static async Task<NotebookRun> Run(InteractiveDocument document, string folder, string? packageSource = null, Action<string>? log = null)
    {
        var previous = Directory.GetCurrentDirectory();
        Directory.SetCurrentDirectory(folder);
        try
        {
            using var kernel = Create();
            var charts = new List<DisplayedChart>();
            var named = new Dictionary<string, string>(StringComparer.Ordinal);
            var cells = CodeCells(document);
            foreach (var cell in cells) { cell.Outputs.Clear(); cell.ExecutionOrder = 0; }
            for (var index = 0; index < cells.Count; index++)
            {
                var cell = cells[index];
                var code = packageSource is null ? cell.Contents : WithPackageSource(cell.Contents, packageSource);
                if (packageSource is not null)
                    foreach (Match m in SourceDirective.Matches(cell.Contents))
                        if (!m.Groups["source"].Value.Contains("://", StringComparison.Ordinal)) named[packageSource] = m.Groups["source"].Value.Trim();
                var watch = System.Diagnostics.Stopwatch.StartNew();
                var result = await kernel.SendAsync(new SubmitCode(code, cell.KernelName ?? "csharp"));
                var failure = Outputs(result.Events, index, cell, charts);
                cell.ExecutionOrder = index + 1;
                log?.Invoke($"  code cell {index}: {watch.Elapsed.TotalSeconds:0.0} s{(failure is null ? "" : ", failed")}");
                if (failure is not null) return Done(failure);
            }
            return Done(null);

            // The outputs name the folder the notebook names, not the one put in its place ("Restore sources").
            NotebookRun Done(CellFailure? failure)
            {
                foreach (var (actual, shown) in named) Replace(document, text => text.Replace(actual, shown, StringComparison.Ordinal));
                return new NotebookRun(document, failure, charts);
            }
        }
        finally
        {
            Directory.SetCurrentDirectory(previous);
        }
    }

    /// <summary>Turns a cell's kernel events into its outputs, in order, as Polyglot Notebooks saves them; returns the failure if any.</summary>
    static CellFailure? Outputs(IEnumerable<KernelEvent> events, int index, InteractiveDocumentElement cell, List<DisplayedChart> charts)
    {
        var byValueId = new Dictionary<string, int>(StringComparer.Ordinal);
        CellFailure? failure = null;
        foreach (var e in events)
        {
            switch (e)
            {
                case DisplayedValueUpdated updated when updated.ValueId is { } id && byValueId.TryGetValue(id, out var at):
                    cell.Outputs[at] = new DisplayElement(Data(updated.FormattedValues));
                    break;
                case ReturnValueProduced value:
                    var returned = new ReturnValueElement { ExecutionOrder = index + 1 };
                    foreach (var (mime, formatted) in Data(value.FormattedValues)) returned.Data[mime] = formatted;
                    cell.Outputs.Add(returned);
                    break;
                case DisplayEvent display and (DisplayedValueProduced or DisplayedValueUpdated):
                    var element = new DisplayElement(Data(display.FormattedValues));
                    if (display.ValueId is { } valueId) byValueId[valueId] = cell.Outputs.Count;
                    cell.Outputs.Add(element);
                    if (display.Value is { } chart && IsChart(chart))
                        charts.Add(new DisplayedChart(index, element, chart));
                    break;
                case StandardOutputValueProduced or StandardErrorValueProduced:
                    var name = e is StandardOutputValueProduced ? "stdout" : "stderr";
                    var text = string.Concat(((DisplayEvent)e).FormattedValues.Where(v => v.MimeType == "text/plain").Select(v => v.Value));
                    if (cell.Outputs.Count > 0 && cell.Outputs[^1] is TextElement last && last.Name == name)
                        cell.Outputs[^1] = new TextElement(last.Text + text, name);
                    else
                        cell.Outputs.Add(new TextElement(text, name));
                    break;
                case CommandFailed failed:
                    failure = new CellFailure(index, failed.Message);
                    cell.Outputs.Add(new ErrorElement("Error", failed.Message, Array.Empty<string>()));
                    break;
            }
        }
        return failure;
    }

    /// <summary>A Plotly.NET chart (the F# union GenericChart: the value is one of its case classes).</summary>
    static bool IsChart(object value)
    {
        for (var t = value.GetType(); t is not null; t = t.BaseType)
            if (t.FullName == "Plotly.NET.GenericChart") return true;
        return false;
    }

    static IDictionary<string, object> Data(IEnumerable<FormattedValue> values) =>
        values.GroupBy(v => v.MimeType).ToDictionary(g => g.Key, g => (object)g.Last().Value);

    static readonly Regex Guid = new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", RegexOptions.IgnoreCase);

    /// <summary>
    /// Makes the outputs the same from run to run: the random ids Plotly.NET gives each chart's element (a GUID, and the
    /// same GUID without dashes in its script) become 00000000-0000-0000-0000-000000000001, ...2, ... in order of appearance.
    /// </summary>
    public static void Normalize(InteractiveDocument document)
    {
        var ids = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string Renumber(string text)
        {
            foreach (Match m in Guid.Matches(text))
                if (!ids.ContainsKey(m.Value)) ids[m.Value] = $"00000000-0000-0000-0000-{ids.Count + 1:D12}";
            foreach (var (from, to) in ids)
                text = text.Replace(from, to, StringComparison.OrdinalIgnoreCase).Replace(from.Replace("-", ""), to.Replace("-", ""), StringComparison.OrdinalIgnoreCase);
            return text;
        }
        Replace(document, Renumber);
    }

    /// <summary>Applies <paramref name="change"/> to every text of every output.</summary>
    static void Replace(InteractiveDocument document, Func<string, string> change)
    {
        foreach (var cell in CodeCells(document))
            for (var i = 0; i < cell.Outputs.Count; i++)
                switch (cell.Outputs[i])
                {
                    case TextElement text:
                        cell.Outputs[i] = new TextElement(change(text.Text), text.Name);
                        break;
                    case ErrorElement error:
                        cell.Outputs[i] = new ErrorElement(error.ErrorName, change(error.ErrorValue), error.StackTrace);
                        break;
                    case var output:
                        var data = output switch { DisplayElement d => d.Data, ReturnValueElement r => r.Data, _ => null };
                        if (data is null) continue;
                        foreach (var key in data.Keys.ToList())
                            if (data[key] is string s) data[key] = change(s);
                        break;
                }
    }
}
