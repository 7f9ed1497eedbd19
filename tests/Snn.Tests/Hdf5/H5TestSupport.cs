using System.IO.Compression;
using System.Runtime.CompilerServices;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Hdf5;

namespace Snn.Tests.Hdf5;

/// <summary>Locating fixtures and shared model files, and a bounded "read everything" walk.</summary>
internal static class H5TestSupport
{
    /// <summary>The directory holding Pipeline.sln, found from the test binaries or from this source file.</summary>
    public static string RepoRoot([CallerFilePath] string sourceFile = "")
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Path.GetDirectoryName(sourceFile) ?? "", Directory.GetCurrentDirectory() })
        {
            for (var dir = start.Length > 0 ? new DirectoryInfo(start) : null; dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("Pipeline.sln not found above the test binaries or sources");
    }

    public static string FixtureDir => Path.Combine(RepoRoot(), "tests", "fixtures", "hdf5");

    public static string FixturePath(string name) => Path.Combine(FixtureDir, name);

    /// <summary>The shared folder (../shared next to the repository), or null when this checkout has none.</summary>
    public static string? SharedDir()
    {
        var dir = Path.GetFullPath(Path.Combine(RepoRoot(), "..", "shared"));
        return Directory.Exists(dir) ? dir : null;
    }

    public static readonly string[] Fixtures = ["basic.h5", "biggroup.h5", "latest.h5", "dense.h5", "sb1_userblock.h5"];

    /// <summary>Real Keras HDF5 payloads: every *.h5 and the model.weights.h5 inside every *.keras under shared/models/real.</summary>
    public static List<(string Name, byte[] Bytes)> RealFiles()
    {
        var result = new List<(string, byte[])>();
        var shared = SharedDir();
        if (shared is null) return result;
        var real = Path.Combine(shared, "models", "real");
        if (!Directory.Exists(real)) return result;
        foreach (var file in Directory.GetFiles(real, "*.h5", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            result.Add((Path.GetRelativePath(real, file), File.ReadAllBytes(file)));
        foreach (var file in Directory.GetFiles(real, "*.keras", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            using var zip = ZipFile.OpenRead(file);
            var entry = zip.GetEntry("model.weights.h5");
            if (entry is null) continue;
            using var s = entry.Open();
            using var ms = new MemoryStream();
            s.CopyTo(ms);
            result.Add((Path.GetRelativePath(real, file) + "!model.weights.h5", ms.ToArray()));
        }
        return result;
    }

    public static T Ok<T>(this Either<Error, T> e) =>
        e.Match(Right: v => v, Left: err => throw new Xunit.Sdk.XunitException("expected success, got error: " + err.Message));

    public static Error Err<T>(this Either<Error, T> e) =>
        e.Match(Right: v => throw new Xunit.Sdk.XunitException($"expected an error, got {v}"), Left: err => err);

    public static T Some<T>(this Option<T> o, string what) =>
        o.Match(Some: v => v, None: () => throw new Xunit.Sdk.XunitException($"{what}: expected Some, got None"));
}

/// <summary>
/// Opens a file and touches everything: every group, link, dataset (shape, float32 and float64 reads) and
/// attribute (string, strings, numbers). Failures are counted, never thrown; hard-link cycles are cut by
/// object address and the walk stops after <c>maxObjects</c> objects.
/// </summary>
internal sealed class H5Walk
{
    private readonly System.Collections.Generic.HashSet<long> _visited = [];
    private readonly int _maxObjects;

    private H5Walk(int maxObjects) => _maxObjects = maxObjects;

    public int Groups { get; private set; }
    public int Datasets { get; private set; }
    public int Attributes { get; private set; }
    public long Values { get; private set; }
    public List<Error> Errors { get; } = [];
    public bool Opened { get; private set; }

    public static H5Walk Run(byte[] bytes, string name, int maxObjects = 100_000)
    {
        var walk = new H5Walk(maxObjects);
        H5File.Open(bytes, name).Match(
            Right: f =>
            {
                walk.Opened = true;
                walk.Group(f.Root, 0);
            },
            Left: walk.Errors.Add);
        return walk;
    }

    private bool Budget() => _visited.Count < _maxObjects;

    private void Group(H5Group g, int depth)
    {
        if (!_visited.Add(g.Address) || depth > 64 || !Budget()) return;
        Groups++;
        Attrs(g.AttributeNames(), g.Attribute);
        var names = g.ChildNames();
        names.Match(Right: _ => { }, Left: Errors.Add);
        foreach (var name in names.IfLeft(Seq<string>.Empty))
        {
            if (!Budget()) return;
            g.Group(name).Match(
                Right: o => o.IfSome(child => Group(child, depth + 1)),
                Left: Errors.Add);
            g.Dataset(name).Match(
                Right: o => o.IfSome(Dataset),
                Left: Errors.Add);
        }
    }

    private void Dataset(H5Dataset d)
    {
        if (!_visited.Add(d.Address)) return;
        Datasets++;
        d.Shape().Match(Right: _ => { }, Left: Errors.Add);
        d.ReadFloat32().Match(Right: v => Values += v.Length, Left: Errors.Add);
        d.ReadFloat64().Match(Right: v => Values += v.Length, Left: Errors.Add);
        Attrs(d.AttributeNames(), d.Attribute);
    }

    private void Attrs(Either<Error, Seq<string>> names, Func<string, Either<Error, Option<H5Attribute>>> get)
    {
        names.Match(Right: _ => { }, Left: Errors.Add);
        foreach (var name in names.IfLeft(Seq<string>.Empty))
        {
            get(name).Match(
                Right: o => o.IfSome(a =>
                {
                    Attributes++;
                    _ = a.Shape;
                    // Any of these may legitimately fail for the attribute's type; only faults count.
                    a.ReadString().IfLeft(CheckCode);
                    a.ReadStrings().IfLeft(CheckCode);
                    a.ReadNumbers().Match(Right: v => Values += v.Length, Left: CheckCode);
                }),
                Left: Errors.Add);
        }
    }

    /// <summary>A type mismatch (e.g. ReadNumbers on a string) is expected; a wrong code or a last-resort fault is not.</summary>
    private void CheckCode(Error e)
    {
        if (e.Code != Snn.Errors.Hdf5Code || e.Message.Contains("malformed file (")) Errors.Add(e);
    }
}
