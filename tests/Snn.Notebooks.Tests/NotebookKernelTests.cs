using Microsoft.DotNet.Interactive.Documents;
using Snn.Notebooks.Runner;
using Xunit;

namespace Snn.Notebooks.Tests;

/// <summary>The kernel run itself (no packages): state across cells, outputs as Polyglot saves them, failures that name their cell.</summary>
public sealed class NotebookKernelTests
{
    static InteractiveDocument Notebook(params (string Kind, string Source)[] cells) =>
        new(cells.Select(c => new InteractiveDocumentElement(c.Source, c.Kind == "code" ? "csharp" : "markdown")).ToList());

    static Task<NotebookRun> Run(InteractiveDocument document) => NotebookKernel.Run(document, Path.GetTempPath());

    [Fact]
    public async Task Cells_share_state_and_each_keeps_its_outputs_in_order()
    {
        var document = Notebook(("markdown", "# title"), ("code", "var t = 2;"), ("code", "Console.WriteLine(t * 21);\ndisplay(HTML(\"<b>x</b>\"));"), ("code", "t + 1"));
        var run = await Run(document);
        Assert.Null(run.Failure);
        var cells = NotebookKernel.CodeCells(document);
        Assert.Equal(new[] { 1, 2, 3 }, cells.Select(c => c.ExecutionOrder));
        Assert.Empty(cells[0].Outputs);
        Assert.Equal("42\n", Assert.IsType<TextElement>(cells[1].Outputs[0]).Text);
        Assert.Equal("<b>x</b>", Assert.IsType<DisplayElement>(cells[1].Outputs[1]).Data["text/html"]);
        Assert.Contains(">3<", (string)Assert.IsType<ReturnValueElement>(Assert.Single(cells[2].Outputs)).Data["text/html"]);
    }

    [Fact]
    public async Task A_compile_error_names_its_cell_and_stops_the_run()
    {
        var document = Notebook(("code", "var a = 1;"), ("markdown", "text"), ("code", "var b = a + undefinedName;"), ("code", "var c = 3;"));
        var run = await Run(document);
        Assert.Equal(1, run.Failure?.Cell);
        Assert.Contains("undefinedName", run.Failure!.Message);
        Assert.Equal(0, NotebookKernel.CodeCells(document)[2].ExecutionOrder);   // not run
    }

    [Fact]
    public async Task A_runtime_error_names_its_cell()
    {
        var run = await Run(Notebook(("code", "var a = 1;"), ("code", "throw new InvalidOperationException(\"boom\");")));
        Assert.Equal(1, run.Failure?.Cell);
        Assert.Contains("boom", run.Failure!.Message);
    }

    [Fact]
    public void The_package_source_folder_is_replaced_and_a_url_is_not()
    {
        const string cell = "#i \"nuget: /path/to/snn/artifacts\"\n#i \"nuget: https://example.invalid/v3/index.json\"\n#r \"nuget: Snn, 0.1.0\"";
        Assert.Equal("#i \"nuget: /tmp/packed\"\n#i \"nuget: https://example.invalid/v3/index.json\"\n#r \"nuget: Snn, 0.1.0\"", NotebookKernel.WithPackageSource(cell, "/tmp/packed"));
    }

    [Fact]
    public void Chart_ids_are_renumbered_the_same_way_in_both_of_their_spellings()
    {
        const string html = "<div id=\"6f1c0f5e-0b1a-4c3d-9e8f-0123456789ab\"></div><script>var renderPlotly_6f1c0f5e0b1a4c3d9e8f0123456789ab = 1; " +
                            "Plotly.newPlot('6f1c0f5e-0b1a-4c3d-9e8f-0123456789ab'); var other = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';</script>";
        var document = Notebook(("code", "x"));
        NotebookKernel.CodeCells(document)[0].Outputs.Add(new DisplayElement(new Dictionary<string, object> { ["text/html"] = html }));
        NotebookKernel.Normalize(document);
        Assert.Equal("<div id=\"00000000-0000-0000-0000-000000000001\"></div><script>var renderPlotly_00000000000000000000000000000001 = 1; " +
                     "Plotly.newPlot('00000000-0000-0000-0000-000000000001'); var other = '00000000-0000-0000-0000-000000000002';</script>",
            ((DisplayElement)NotebookKernel.CodeCells(document)[0].Outputs[0]).Data["text/html"]);
    }
}
