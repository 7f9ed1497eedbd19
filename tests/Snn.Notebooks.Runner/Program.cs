using Snn.Notebooks.Runner;

// Snn.Notebooks.Runner [--source DIR] [--packages DIR] [--out DIR] [--png] NOTEBOOK.ipynb...
//   Runs each notebook on .NET Interactive's C# kernel (NotebookKernel) and writes it with its outputs: in place, or
//   into --out DIR. --source DIR replaces the package folder the notebooks' #i lines name (tests pack into a folder of
//   their own); --packages DIR is the NuGet package folder the kernel restores into (default: snn-notebook-packages
//   under the temp folder), from which the Snn packages are removed first so that the ones just packed are restored
//   (they keep one version number from pack to pack); --png adds a still image of each chart (Chromium). Exit 0 when
//   every cell of every notebook ran, 1 when a cell failed (the notebook is still written, up to the failed cell), 2 usage.
string? source = null, outDir = null;
var packages = Path.Combine(Path.GetTempPath(), "snn-notebook-packages");
var png = false;
var notebooks = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    try
    {
        switch (args[i])
        {
            case "--source": source = Path.GetFullPath(Value()); break;
            case "--packages": packages = Path.GetFullPath(Value()); break;
            case "--out": outDir = Path.GetFullPath(Value()); break;
            case "--png": png = true; break;
            case var a when a.StartsWith("--", StringComparison.Ordinal): throw new ArgumentException($"unknown option {a}");
            default: notebooks.Add(Path.GetFullPath(args[i])); break;
        }
    }
    catch (ArgumentException e)
    {
        Console.Error.WriteLine($"error: {e.Message}");
        return 2;
    }
}
if (notebooks.Count == 0)
{
    Console.Error.WriteLine("usage: Snn.Notebooks.Runner [--source DIR] [--packages DIR] [--out DIR] [--png] NOTEBOOK.ipynb...");
    return 2;
}
if (notebooks.FirstOrDefault(n => !File.Exists(n)) is { } missing)
{
    Console.Error.WriteLine($"error: no notebook {missing}");
    return 2;
}

PackageFolder.Use(packages);
var failed = false;
foreach (var path in notebooks)
{
    Console.WriteLine($"{Path.GetFileName(path)}:");
    var watch = System.Diagnostics.Stopwatch.StartNew();
    var run = await NotebookKernel.Run(NotebookKernel.Read(path), Path.GetDirectoryName(path)!, source, Console.WriteLine);
    if (png && run.Failure is null) await ChartImages.Add(run);
    NotebookKernel.Normalize(run.Document);
    var target = outDir is null ? path : Path.Combine(outDir, Path.GetFileName(path));
    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
    File.WriteAllText(target, NotebookKernel.ToJson(run.Document));
    Console.WriteLine($"  {watch.Elapsed.TotalSeconds:0.0} s, {run.Charts.Count} chart(s), written to {target}");
    if (run.Failure is { } f)
    {
        Console.Error.WriteLine($"{Path.GetFileName(path)}: code cell {f.Cell} failed: {f.Message}");
        failed = true;
    }
}
return failed ? 1 : 0;
