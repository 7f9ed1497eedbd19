using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using Snn.Hdf5Eval;
using Snn.Tests.Hdf5;
using Snn.Tests.KerasFiles;

// The HDF5 evaluation harness (issue 18 item 5): Snn's own reader against PureHDF on the same files and the same fuzz
// cases. Run through tests/bench/hdf5_eval.sh, which builds it and passes the repository root. Modes:
//   files ROOT                     every real file and HDF5 fixture, dumped by both readers and compared
//   fuzz-h5 ROOT N | fuzz-keras ROOT N   the fuzzers' first N cases (same seeds as H5FuzzTests and KerasImportFuzzTests),
//                                  run in child processes that are restarted after a crash or a hang
//   one ours|pure FILE BUDGET       one file in this process; prints outcome, time, peak memory (the hostile files)
//   write ROOT OUTDIR              trees Snn writes, written with PureHDF, then read back (h5py checks them)
//   speed FILE...                  full reads, ours and PureHDF, best of 5
//   replay-h5 ROOT I SECONDS       one HDF5 fuzz case with a longer limit (is a "hang" slow or endless?)
//   read-float32 FILE DATASET      PureHDF's own read of one float32 dataset, timed
//   read-float32-ours FILE DATASET the same with Snn's reader (default budget)
//   ls FILE GROUP                  the children PureHDF lists in a group
var mode = args.Length > 0 ? args[0] : "";
const long Budget = 1L << 30;
var json = new JsonSerializerOptions { WriteIndented = false };

switch (mode)
{
    case "files": Files(args[1]); break;
    case "fuzz-h5": Supervise("child-h5", args[1], int.Parse(args[2])); break;
    case "fuzz-keras": Supervise("child-keras", args[1], int.Parse(args[2])); break;
    case "child-h5": ChildH5(args[1], int.Parse(args[2]), int.Parse(args[3]), args[4]); break;
    case "child-keras": ChildKeras(args[1], int.Parse(args[2]), int.Parse(args[3]), args[4]); break;
    case "one": One(args[1], args[2], long.Parse(args[3])); break;
    case "write": Writing.Run(args[1], args[2]); break;
    case "speed": Speed(args[1..]); break;
    case "replay-h5": Replay(args[1], int.Parse(args[2]), int.Parse(args[3])); break;
    case "read-float32":
    {
        // PureHDF's own read of one float32 dataset, timed without the adapter's conversion and hashing; a fourth
        // argument sets the chunk cache's size in MiB (PureHDF's default cache holds 1 MiB; the adapter's, 64 MiB).
        _ = PureReader.ChunkCacheBytes;   // runs PureReader's setup: the adapter's 64 MiB cache
        if (args.Length > 3) PureReader.ChunkCacheBytes = long.Parse(args[3]) << 20;
        using var f = PureHDF.H5File.OpenRead(args[1]);
        var sw = Stopwatch.StartNew();
        var data = PureHDF.IH5GroupExtensions.Dataset(f, args[2]).Read<float[]>();
        var used = PureReader.ChunkCacheBytes is { } b ? $"{b >> 20} MiB chunk cache" : "PureHDF's default chunk cache";
        Console.WriteLine($"PureHDF read {data.Length} float32 values of {args[2]} ({used}) in {sw.Elapsed.TotalSeconds:F1} s; peak working set {Process.GetCurrentProcess().PeakWorkingSet64 >> 20} MiB");
        break;
    }
    case "read-float32-ours":
    {
        var sw = Stopwatch.StartNew();
        var n = Snn.Compiler.Hdf5.H5File.Open(File.ReadAllBytes(args[1]), args[1]).Bind(f => f.Root.Dataset(args[2]))
            .Bind(d => d.ToEither(LanguageExt.Common.Error.New("no dataset"))).Bind(d => d.ReadFloat32()).Match(v => v.Length.ToString(), e => e.Message);
        Console.WriteLine($"Snn read {n} float32 values of {args[2]} in {sw.Elapsed.TotalSeconds:F1} s; peak working set {Process.GetCurrentProcess().PeakWorkingSet64 >> 20} MiB");
        break;
    }
    case "ls":
    {
        using var f = PureHDF.H5File.OpenRead(args[1]);
        foreach (var c in PureHDF.IH5GroupExtensions.Group(f, args[2]).Children()) Console.WriteLine($"{c.Name}: {c.GetType().Name}");
        break;
    }
    default:
        Console.Error.WriteLine("usage: Snn.Hdf5Eval files|fuzz-h5|fuzz-keras|one|write|speed ...");
        Environment.Exit(2);
        break;
}

static List<(string Name, byte[] Bytes)> Corpus(string root)
{
    var list = new List<(string, byte[])>();
    foreach (var dir in new[] { "tests/fixtures/hdf5", "tests/fixtures/keras" })
        foreach (var f in Directory.GetFiles(Path.Combine(root, dir)).Order(StringComparer.Ordinal))
        {
            if (f.EndsWith(".h5", StringComparison.Ordinal)) list.Add((Path.GetRelativePath(root, f), File.ReadAllBytes(f)));
            else if (f.EndsWith(".keras", StringComparison.Ordinal) && Weights(File.ReadAllBytes(f)) is { } w) list.Add((Path.GetRelativePath(root, f) + "!model.weights.h5", w));
        }
    var real = Path.Combine(root, "..", "shared", "models", "real");
    if (Directory.Exists(real))
        foreach (var f in Directory.GetFiles(real, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (f.EndsWith(".h5", StringComparison.Ordinal)) list.Add(("real/" + Path.GetRelativePath(real, f), File.ReadAllBytes(f)));
            else if (f.EndsWith(".keras", StringComparison.Ordinal) && Weights(File.ReadAllBytes(f)) is { } w) list.Add(("real/" + Path.GetRelativePath(real, f) + "!model.weights.h5", w));
        }
    return list;
}

// model.weights.h5 of a .keras archive (at most 256 MiB), or null.
static byte[]? Weights(byte[] archive)
{
    try
    {
        using var zip = new ZipArchive(new MemoryStream(archive), ZipArchiveMode.Read);
        var entry = zip.GetEntry("model.weights.h5");
        if (entry is null || entry.Length > 256L << 20) return null;
        using var s = entry.Open();
        var ms = new MemoryStream();
        var buffer = new byte[81920];
        int n;
        while ((n = s.Read(buffer)) > 0)
        {
            ms.Write(buffer, 0, n);
            if (ms.Length > 256L << 20) return null;
        }
        return ms.ToArray();
    }
    catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException or ArgumentException)
    {
        return null;
    }
}

static void Files(string root)
{
    int identical = 0, total = 0;
    Comparison.MaxExamples = 12;
    foreach (var (name, bytes) in Corpus(root))
    {
        total++;
        var ours = OursReader.Run(bytes, Budget);
        var pure = PureReader.Run(bytes, Budget);
        var c = Comparison.Of(ours, pure);
        var verdict = ours.Opened != pure.Opened ? $"DIFFERENT (ours opened: {ours.Opened} {ours.OpenError}; PureHDF opened: {pure.Opened} {pure.OpenError})"
            : c.Identical ? "identical" : "DIFFERENT";
        if (verdict == "identical") identical++;
        var errs = ours.Entries.Values.Count(v => v == "ERR");
        Console.WriteLine($"{name}: {verdict}; {ours.Entries.Count} entries ({errs} refused by ours), {c.Same} equal, " +
                          $"PureHDF read where ours refused {c.PureReadOursRefused}, PureHDF failed where ours read {c.PureRefusedOursRead}, values differ {c.BothReadDiffer}, " +
                          $"only ours {c.OnlyInOurs}, only PureHDF {c.OnlyInPure}");
        foreach (var e in c.Examples) Console.WriteLine("    " + e);
        foreach (var e in pure.Exceptions.Distinct().Take(3)) Console.WriteLine("    PureHDF threw " + e);
    }
    Console.WriteLine($"files: {identical} of {total} identical");
}

// ------------------------------------------------------------------ fuzzing

// Runs the cases in child processes, restarting after a crash or a hang, then summarises.
void Supervise(string child, string root, int cases)
{
    var outFile = Path.Combine(Path.GetTempPath(), $"hdf5eval-{child}-{Environment.ProcessId}.jsonl");
    File.Delete(outFile);
    var seed = child == "child-h5" ? 20250601 : 20250722;
    var start = 0;
    var dead = new List<string>();
    var sw = Stopwatch.StartNew();
    while (start < cases)
    {
        var psi = new ProcessStartInfo("dotnet", [typeof(Dump).Assembly.Location, child, root, start.ToString(), cases.ToString(), outFile])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        // A hard heap limit, so that a decompression or allocation bomb ends in OutOfMemoryException, not in swap.
        psi.Environment["DOTNET_GCHeapHardLimit"] = "0xC0000000";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        var done = File.Exists(outFile) ? File.ReadLines(outFile).Select(l => JsonSerializer.Deserialize<CaseResult>(l)!).Select(r => r.Case).DefaultIfEmpty(-1).Max() : -1;
        if (done >= cases - 1) break;
        var failed = done + 1;
        var why = stdout.Result.Contains($"HANG {failed}") ? "hang (> 10 s)" : $"process died (exit {p.ExitCode}): {Last(stderr.Result)}";
        dead.Add($"case {failed}: {why}; {Last(stdout.Result)}");
        Console.WriteLine($"case {failed}: {why}");
        File.AppendAllText(outFile, JsonSerializer.Serialize(new CaseResult(failed, "", why.StartsWith("hang") ? "hang" : "crash", [], 0, 0, 0, 0, 0, 0, 0, 0, 0, [], false, false, 0)) + "\n");
        start = failed + 1;
    }
    var results = File.ReadLines(outFile).Select(l => JsonSerializer.Deserialize<CaseResult>(l)!).OrderBy(r => r.Case).ToList();
    Summarise(child, results, dead, sw.Elapsed);
}

static string Last(string text) => text.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "";

static void Summarise(string child, List<CaseResult> results, List<string> dead, TimeSpan elapsed)
{
    Console.WriteLine($"{child}: {results.Count} cases in {elapsed.TotalSeconds:F0} s");
    var hdf5 = results.Where(r => r.Outcome != "no-hdf5").ToList();
    Console.WriteLine($"  cases reaching an HDF5 reader: {hdf5.Count}");
    foreach (var g in hdf5.GroupBy(r => r.Outcome).OrderBy(g => g.Key)) Console.WriteLine($"  PureHDF outcome {g.Key}: {g.Count()}");
    Console.WriteLine($"  hangs (> 10 s) and process deaths: {dead.Count}");
    foreach (var d in dead.Take(5)) Console.WriteLine("    " + d);
    var withExceptions = hdf5.Where(r => r.Exceptions.Length > 0).ToList();
    Console.WriteLine($"  cases where PureHDF threw (caught by the adapter): {withExceptions.Count}");
    var kinds = hdf5.SelectMany(r => r.Exceptions.Distinct().Select(e => (Kind: e, r.Case, r.Description))).GroupBy(x => x.Kind)
        .OrderByDescending(g => g.Count()).ToList();
    var runtime = new[] { "IndexOutOfRangeException", "NullReferenceException", "ArgumentOutOfRangeException", "OverflowException", "InvalidCastException",
                          "KeyNotFoundException", "DivideByZeroException", "ArgumentException", "InvalidOperationException", "ArithmeticException", "OutOfMemoryException", "EndOfStreamException" };
    var unchecked_ = hdf5.Where(r => r.Exceptions.Any(e => runtime.Any(k => e.StartsWith(k + " ", StringComparison.Ordinal)))).ToList();
    Console.WriteLine($"  cases with a runtime exception from inside PureHDF (a missing check: {string.Join("/", runtime.Take(5))}, ...): {unchecked_.Count}");
    foreach (var k in runtime)
    {
        var n = hdf5.Count(r => r.Exceptions.Any(e => e.StartsWith(k + " ", StringComparison.Ordinal)));
        if (n > 0) Console.WriteLine($"    {k}: {n} cases; first: " + kinds.First(g => g.Key.StartsWith(k + " ", StringComparison.Ordinal)).Key);
    }
    Console.WriteLine("  every exception kind (cases), most frequent first:");
    foreach (var g in kinds.Take(25)) Console.WriteLine($"    x{g.Count()} {g.Key}; first: case {g.First().Case} ({g.First().Description})");
    Console.WriteLine($"  out of memory (3 GiB heap limit): {hdf5.Count(r => r.Exceptions.Any(e => e.StartsWith("OutOfMemoryException", StringComparison.Ordinal)))}");
    var alloc = hdf5.Select(r => r.PureAllocated).OrderBy(x => x).ToList();
    var oursAlloc = hdf5.Select(r => r.OursAllocated).OrderBy(x => x).ToList();
    if (alloc.Count > 0)
    {
        Console.WriteLine($"  bytes allocated per case, PureHDF: median {alloc[alloc.Count / 2] >> 10} KiB, max {alloc[^1] >> 20} MiB; ours: median {oursAlloc[oursAlloc.Count / 2] >> 10} KiB, max {oursAlloc[^1] >> 20} MiB");
        var big = hdf5.OrderByDescending(r => r.PureAllocated).Take(3);
        foreach (var r in big) Console.WriteLine($"    PureHDF {r.PureAllocated >> 20} MiB (ours {r.OursAllocated >> 20} MiB, file {r.FileBytes >> 10} KiB): case {r.Case} ({r.Description})");
        foreach (var limit in new[] { 256L << 20, 1L << 30 })
            Console.WriteLine($"  cases allocating over {limit >> 20} MiB: PureHDF {hdf5.Count(r => r.PureAllocated > limit)}, ours {hdf5.Count(r => r.OursAllocated > limit)}");
    }
    var maxMs = hdf5.OrderByDescending(r => r.PureMs).FirstOrDefault();
    if (maxMs is not null) Console.WriteLine($"  slowest PureHDF case {maxMs.PureMs:F0} ms (ours {maxMs.OursMs:F0} ms): case {maxMs.Case} ({maxMs.Description})");
    Console.WriteLine($"  opened: ours {hdf5.Count(r => r.OursOpened)}, PureHDF {hdf5.Count(r => r.PureOpened)}");
    Console.WriteLine($"  entries where PureHDF returned values that ours refused: {hdf5.Sum(r => r.PureReadOursRefused)} in {hdf5.Count(r => r.PureReadOursRefused > 0)} cases");
    Console.WriteLine($"  entries where both returned values and they differ: {hdf5.Sum(r => r.BothReadDiffer)} in {hdf5.Count(r => r.BothReadDiffer > 0)} cases");
    Console.WriteLine($"  entries where PureHDF failed and ours read: {hdf5.Sum(r => r.PureRefusedOursRead)} in {hdf5.Count(r => r.PureRefusedOursRead > 0)} cases");
    Console.WriteLine("  against the unmutated file (entries PureHDF and ours read alike there), where PureHDF returned changed values:");
    Console.WriteLine($"    ours refused: {hdf5.Sum(r => r.DriftOursRefused)} entries in {hdf5.Count(r => r.DriftOursRefused > 0)} cases");
    Console.WriteLine($"    ours read the original values: {hdf5.Sum(r => r.DriftOursOriginal)} entries in {hdf5.Count(r => r.DriftOursOriginal > 0)} cases");
    Console.WriteLine($"    ours read the same changed values (damaged data bytes): {hdf5.Sum(r => r.DriftBothSame)} entries in {hdf5.Count(r => r.DriftBothSame > 0)} cases");
    Console.WriteLine($"    ours read other changed values: {hdf5.Sum(r => r.DriftBothDiffer)} entries in {hdf5.Count(r => r.DriftBothDiffer > 0)} cases");
    foreach (var r in hdf5.Where(r => r.DriftOursRefused > 0).Take(3)) Console.WriteLine($"      case {r.Case} ({r.Description}): {string.Join(" | ", r.DriftExamples ?? [])}");
    foreach (var r in hdf5.Where(r => r.DriftOursOriginal > 0).Take(3)) Console.WriteLine($"      case {r.Case} ({r.Description}): {string.Join(" | ", r.DriftExamples ?? [])}");
    foreach (var r in hdf5.Where(r => r.PureReadOursRefused > 0 || r.BothReadDiffer > 0).Take(0))
        Console.WriteLine($"    case {r.Case} ({r.Description}): {string.Join(" | ", r.Examples.Take(2))}");
}

static void ChildH5(string root, int start, int end, string outFile)
{
    var fixtures = new[] { "basic.h5", "biggroup.h5", "latest.h5", "dense.h5", "sb1_userblock.h5" }
        .Select(f => H5Mutations.Corpus(f, File.ReadAllBytes(Path.Combine(root, "tests", "fixtures", "hdf5", f)))).ToList();
    var real = RealHdf5(root).Select(r => H5Mutations.Corpus(r.Name, r.Bytes)).ToList();
    var rng = new Random(20250601);
    for (var i = 0; i < end; i++)
    {
        // The same sequence as H5FuzzTests: one generator for all cases, so cases before start are generated and skipped.
        var pool = real.Count > 0 && rng.Next(10) == 0 ? real : fixtures;
        var source = pool[rng.Next(pool.Count)];
        var (description, bytes) = H5Mutations.Mutate(rng, source, pool);
        if (i < start) continue;
        RunCase(i, description, source.Name, source.Bytes, bytes, outFile);
    }
}

static void ChildKeras(string root, int start, int end, string outFile)
{
    var fixtures = Directory.GetFiles(Path.Combine(root, "tests", "fixtures", "keras"))
        .Where(f => f.EndsWith(".h5", StringComparison.Ordinal) || f.EndsWith(".keras", StringComparison.Ordinal))
        .Order(StringComparer.Ordinal).Select(f => KerasMutations.Corpus(Path.GetFileName(f), File.ReadAllBytes(f))).ToList();
    var shared = Path.GetFullPath(Path.Combine(root, "..", "shared"));
    var real = KerasMutations.RealFiles(Directory.Exists(shared) ? shared : null);
    for (var i = start; i < end; i++)
    {
        // The same cases as KerasImportFuzzTests (seed 20250722, one generator per case).
        var rng = new Random(unchecked(20250722 * 1_000_003 + i));
        var pool = real.Count > 0 && rng.Next(16) == 0 ? real : fixtures;
        var source = pool[rng.Next(pool.Count)];
        var (description, bytes) = KerasMutations.Mutate(rng, source, pool);
        var h5 = source.Ext == ".keras" ? Weights(bytes) : bytes;
        var original = source.Ext == ".keras" ? Weights(source.Bytes) : source.Bytes;
        if (h5 is null || original is null)
        {
            File.AppendAllText(outFile, JsonSerializer.Serialize(new CaseResult(i, description, "no-hdf5", [], 0, 0, 0, 0, 0, 0, 0, 0, 0, [], false, false, bytes.Length)) + "\n");
            continue;
        }
        RunCase(i, description, source.Name, original, h5, outFile);
    }
}

static List<(string Name, byte[] Bytes)> RealHdf5(string root)
{
    // As H5TestSupport.RealFiles: every *.h5, then the model.weights.h5 of every *.keras, under shared/models/real.
    var result = new List<(string, byte[])>();
    var real = Path.Combine(root, "..", "shared", "models", "real");
    if (!Directory.Exists(real)) return result;
    foreach (var file in Directory.GetFiles(real, "*.h5", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        result.Add((Path.GetRelativePath(real, file), File.ReadAllBytes(file)));
    foreach (var file in Directory.GetFiles(real, "*.keras", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        if (Weights(File.ReadAllBytes(file)) is { } w) result.Add((Path.GetRelativePath(real, file) + "!model.weights.h5", w));
    return result;
}

static void RunCase(int i, string description, string sourceName, byte[] sourceBytes, byte[] bytes, string outFile)
{
    if (!CaseResult.Originals.TryGetValue(sourceName, out var originals))
        CaseResult.Originals[sourceName] = originals = (OursReader.Run(sourceBytes, Budget), PureReader.Run(sourceBytes, Budget));
    Console.WriteLine($"BEGIN {i}");
    var a0 = GC.GetTotalAllocatedBytes(true);
    var sw = Stopwatch.StartNew();
    var ours = OursReader.Run(bytes, Budget);
    var oursMs = sw.Elapsed.TotalMilliseconds;
    var oursAlloc = GC.GetTotalAllocatedBytes(true) - a0;

    Dump? pure = null;
    string outcome = "ok";
    long pureAlloc = 0;
    double pureMs = 0;
    var t = new Thread(() =>
    {
        var b0 = GC.GetTotalAllocatedBytes(true);
        var s = Stopwatch.StartNew();
        try
        {
            pure = PureReader.Run(bytes, Budget);
        }
        catch (OutOfMemoryException e)
        {
            pure = new Dump { OpenError = "out of memory" };
            pure.Exceptions.Add(PureReader.Describe(e));
        }
        pureMs = s.Elapsed.TotalMilliseconds;
        pureAlloc = GC.GetTotalAllocatedBytes(true) - b0;
    });
    t.Start();
    if (!t.Join(TimeSpan.FromSeconds(10)))
    {
        Console.WriteLine($"HANG {i} ({description})");
        Console.Out.Flush();
        Environment.Exit(3);
    }
    var c = Comparison.Of(ours, pure!);
    var drift = Drift.Of(originals.Ours, originals.Pure, ours, pure!);
    if (!pure!.Opened) outcome = "open-failed";
    else if (pure.Exceptions.Count > 0) outcome = "read-with-errors";
    var r = new CaseResult(i, description, outcome, pure.Exceptions.ToArray(), pureAlloc, oursAlloc, pureMs, oursMs,
        c.PureReadOursRefused, c.BothReadDiffer, c.PureRefusedOursRead, c.OnlyInOurs, c.OnlyInPure, c.Examples.ToArray(), ours.Opened, pure.Opened, bytes.Length,
        drift.PureChangedOursRefused, drift.PureChangedOursOriginal, drift.BothChangedSame, drift.BothChangedDiffer, drift.Examples.ToArray());
    File.AppendAllText(outFile, JsonSerializer.Serialize(r) + "\n");
}

// One case of the HDF5 fuzzer through PureHDF, with a longer limit: is a "hang" slow or endless? Writes the file to /tmp.
static void Replay(string root, int index, int seconds)
{
    var fixtures = new[] { "basic.h5", "biggroup.h5", "latest.h5", "dense.h5", "sb1_userblock.h5" }
        .Select(f => H5Mutations.Corpus(f, File.ReadAllBytes(Path.Combine(root, "tests", "fixtures", "hdf5", f)))).ToList();
    var real = RealHdf5(root).Select(r => H5Mutations.Corpus(r.Name, r.Bytes)).ToList();
    var rng = new Random(20250601);
    for (var i = 0; i <= index; i++)
    {
        var pool = real.Count > 0 && rng.Next(10) == 0 ? real : fixtures;
        var (description, bytes) = H5Mutations.Mutate(rng, pool[rng.Next(pool.Count)], pool);
        if (i < index) continue;
        var path = Path.Combine(Path.GetTempPath(), $"hdf5eval-case{i}.h5");
        File.WriteAllBytes(path, bytes);
        var sw = Stopwatch.StartNew();
        var ours = OursReader.Run(bytes, Budget);
        Console.WriteLine($"case {i} ({description}), written to {path}: ours {sw.Elapsed.TotalSeconds:F2} s, opened {ours.Opened}, {ours.Entries.Count} entries, {ours.Entries.Values.Count(v => v == "ERR")} refused");
        sw.Restart();
        Dump? pure = null;
        var t = new Thread(() => pure = PureReader.Run(bytes, Budget)) { IsBackground = true };
        t.Start();
        Console.WriteLine(t.Join(TimeSpan.FromSeconds(seconds))
            ? $"PureHDF: {sw.Elapsed.TotalSeconds:F2} s, opened {pure!.Opened}, {pure.Entries.Count} entries, threw {string.Join("; ", pure.Exceptions.Distinct().Take(3))}"
            : $"PureHDF: still running after {seconds} s, {GC.GetTotalAllocatedBytes() >> 20} MiB allocated");
    }
}

// ------------------------------------------------------------------ one file, speed

static void One(string reader, string path, long budget)
{
    var bytes = File.ReadAllBytes(path);
    var sw = Stopwatch.StartNew();
    Dump d;
    try
    {
        d = reader == "ours" ? OursReader.Run(bytes, budget) : PureReader.Run(bytes, budget);
    }
    catch (OutOfMemoryException)
    {
        Console.WriteLine($"{reader}: OutOfMemoryException after {sw.Elapsed.TotalSeconds:F1} s, peak working set {Process.GetCurrentProcess().PeakWorkingSet64 >> 20} MiB");
        return;
    }
    var refused = d.Entries.Where(e => e.Value == "ERR").Select(e => e.Key).ToList();
    Console.WriteLine($"{reader}: opened {d.Opened}{(d.OpenError is null ? "" : " (" + d.OpenError + ")")}, {d.Entries.Count} entries, {refused.Count} refused " +
                      $"({string.Join(", ", refused.Take(3))}); {sw.Elapsed.TotalSeconds:F2} s; allocated {GC.GetTotalAllocatedBytes(true) >> 20} MiB; " +
                      $"peak working set {Process.GetCurrentProcess().PeakWorkingSet64 >> 20} MiB");
    foreach (var e in d.Exceptions.Distinct().Take(3)) Console.WriteLine("    threw " + e);
}

static void Speed(string[] files)
{
    foreach (var f in files)
    {
        var bytes = File.ReadAllBytes(f);
        foreach (var (name, run) in new (string, Func<byte[], Dump>)[] { ("ours", b => OursReader.Run(b, Budget)), ("PureHDF", b => PureReader.Run(b, Budget)) })
        {
            run(bytes);
            var best = double.MaxValue;
            for (var k = 0; k < 5; k++)
            {
                var sw = Stopwatch.StartNew();
                run(bytes);
                best = Math.Min(best, sw.Elapsed.TotalMilliseconds);
            }
            Console.WriteLine($"{Path.GetFileName(f)} ({bytes.Length >> 10} KiB): {name} reads everything in {best:F1} ms (best of 5, after one warm-up)");
        }
    }
}

public sealed record CaseResult(int Case, string Description, string Outcome, string[] Exceptions, long PureAllocated, long OursAllocated, double PureMs, double OursMs,
    int PureReadOursRefused, int BothReadDiffer, int PureRefusedOursRead, int OnlyInOurs, int OnlyInPure, string[] Examples, bool OursOpened, bool PureOpened, long FileBytes,
    int DriftOursRefused = 0, int DriftOursOriginal = 0, int DriftBothSame = 0, int DriftBothDiffer = 0, string[]? DriftExamples = null)
{
    // The dumps of each unmutated source file, computed once per child process.
    public static readonly Dictionary<string, (Dump Ours, Dump Pure)> Originals = new(StringComparer.Ordinal);
}
