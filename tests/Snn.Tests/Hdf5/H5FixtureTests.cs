using System.Text.Json;
using LanguageExt;
using Snn.Compiler.Hdf5;
using Xunit;
using Xunit.Abstractions;

namespace Snn.Tests.Hdf5;

/// <summary>
/// Compares the reader against the expected values h5py wrote next to each fixture
/// (tests/fixtures/hdf5/*.json, produced by generate.py).
/// </summary>
public sealed class H5FixtureTests(ITestOutputHelper output)
{
    public static TheoryData<string> FixtureNames() => new(H5TestSupport.Fixtures);

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Fixture_matches_h5py_expectations(string name)
    {
        var bytes = File.ReadAllBytes(H5TestSupport.FixturePath(name));
        using var json = JsonDocument.Parse(File.ReadAllText(H5TestSupport.FixturePath(Path.ChangeExtension(name, ".json"))));
        var doc = json.RootElement;
        var file = H5File.Open(bytes, name).Ok();
        Assert.Equal(doc.GetProperty("superblock_version").GetInt32(), file.SuperblockVersion);

        var errorOps = doc.GetProperty("expected_errors").EnumerateArray()
            .Select(e => (Path: e.GetProperty("path").GetString()!, Op: e.GetProperty("op").GetString()!, Contains: e.GetProperty("contains").GetString()!))
            .ToList();

        int checkedValues = 0;
        foreach (var g in doc.GetProperty("groups").EnumerateObject())
        {
            var group = g.Name == "/" ? file.Root : file.Root.Group(g.Name).Ok().Some(g.Name);
            Assert.Equal(g.Name, group.Path);
            if (errorOps.Any(e => e.Path == g.Name && e.Op == "children")) continue;
            var expectedChildren = g.Value.GetProperty("children").EnumerateArray().Select(c => c.GetString()!).ToArray();
            Assert.Equal(expectedChildren, group.ChildNames().Ok().ToArray());
            if (errorOps.Any(e => e.Path == g.Name && e.Op == "attributes")) continue;
            checkedValues += CheckAttributes(g.Name, g.Value.GetProperty("attrs"), group.AttributeNames().Ok(), group.Attribute);
        }

        foreach (var d in doc.GetProperty("datasets").EnumerateObject())
        {
            var ds = file.Root.Dataset(d.Name).Ok().Some(d.Name);
            Assert.Equal(d.Name, ds.Path);
            var expectedShape = d.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(expectedShape, ds.Shape().Ok());
            if (errorOps.Any(e => e.Path == d.Name && e.Op == "read")) continue;
            var expected = d.Value.GetProperty("values").EnumerateArray().Select(Number).ToArray();
            var f64 = ds.ReadFloat64().Ok();
            var f32 = ds.ReadFloat32().Ok();
            Assert.Equal(expected.Length, f64.Length);
            Assert.Equal(expected.Length, f32.Length);
            for (int i = 0; i < expected.Length; i++)
            {
                Assert.True(Same(expected[i], f64[i]), $"{d.Name}[{i}]: expected {expected[i]:R}, float64 read {f64[i]:R}");
                Assert.True(Same((float)expected[i], f32[i]), $"{d.Name}[{i}]: expected {(float)expected[i]:R}, float32 read {f32[i]:R}");
            }
            checkedValues += expected.Length;
            checkedValues += CheckAttributes(d.Name, d.Value.GetProperty("attrs"), ds.AttributeNames().Ok(), ds.Attribute);
            output.WriteLine($"{d.Name}: {ds.Describe().Ok()}");
        }

        foreach (var l in doc.GetProperty("links").EnumerateObject())
        {
            var kind = l.Value.GetProperty("kind").GetString();
            var target = l.Value.GetProperty("target").GetString()!;
            if (kind == "external")
            {
                Assert.Contains("external link", file.Root.Dataset(l.Name).Err().Message);
                continue;
            }
            // A soft link resolves to the same object as its target (absolute, or relative to the link's group).
            var parent = l.Name[..(l.Name.LastIndexOf('/') + 1)];
            var targetPath = target.StartsWith('/') ? target : parent + target;
            Assert.Equal(AddressOf(file, targetPath), AddressOf(file, l.Name));
        }

        foreach (var h in doc.GetProperty("hard_links").EnumerateObject())
            foreach (var other in h.Value.EnumerateArray())
                Assert.Equal(AddressOf(file, h.Name), AddressOf(file, other.GetString()!));

        foreach (var (path, op, contains) in errorOps)
        {
            var message = op switch
            {
                "children" => file.Root.Group(path).Ok().Some(path).ChildNames().Err().Message,
                "attributes" => file.Root.Group(path).Ok().Some(path).AttributeNames().Err().Message,
                "dataset" => file.Root.Dataset(path).Err().Message,
                "read" => file.Root.Dataset(path).Ok().Some(path).ReadFloat64().Err().Message,
                _ => throw new InvalidOperationException(op),
            };
            Assert.Contains(contains, message);
            Assert.Contains(name, message);
            output.WriteLine($"expected error for {path} ({op}): {message}");
        }
        output.WriteLine($"{name}: {checkedValues} values checked");

        // The walk-everything routine sees exactly the expected failures.
        var walk = H5Walk.Run(bytes, name);
        Assert.True(walk.Opened);
        var unexpected = walk.Errors.Where(e => !errorOps.Any(x => e.Message.Contains(x.Contains))).ToList();
        Assert.True(unexpected.Count == 0, string.Join("\n", unexpected.Select(e => e.Message)));
    }

    private static long AddressOf(H5File file, string path)
    {
        var g = file.Root.Group(path).Ok();
        if (g.IsSome) return g.Some(path).Address;
        return file.Root.Dataset(path).Ok().Some(path).Address;
    }

    private static int CheckAttributes(string owner, JsonElement expected, Seq<string> names,
        Func<string, LanguageExt.Either<LanguageExt.Common.Error, Option<H5Attribute>>> get)
    {
        var expectedNames = expected.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(expectedNames, names.ToArray());
        int n = 0;
        foreach (var p in expected.EnumerateObject())
        {
            var attr = get(p.Name).Ok().Some($"{owner}@{p.Name}");
            Assert.Equal(p.Name, attr.Name);
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            Assert.Equal(shape, attr.Shape);
            var value = p.Value.GetProperty("value");
            switch (p.Value.GetProperty("kind").GetString())
            {
                case "string":
                    Assert.Equal(value.GetString(), attr.ReadString().Ok());
                    Assert.Equal([value.GetString()!], attr.ReadStrings().Ok().ToArray());
                    break;
                case "strings":
                {
                    var strings = value.EnumerateArray().Select(x => x.GetString()!).ToArray();
                    Assert.Equal(strings, attr.ReadStrings().Ok().ToArray());
                    if (strings.Length == 1) Assert.Equal(strings[0], attr.ReadString().Ok());
                    n += strings.Length;
                    break;
                }
                default:
                {
                    var numbers = value.EnumerateArray().Select(Number).ToArray();
                    var read = attr.ReadNumbers().Ok();
                    Assert.Equal(numbers.Length, read.Length);
                    for (int i = 0; i < numbers.Length; i++) Assert.True(Same(numbers[i], read[i]), $"{owner}@{p.Name}[{i}]");
                    if (numbers.Length == 0) Assert.Empty(attr.ReadStrings().Ok());
                    n += numbers.Length;
                    break;
                }
            }
            n++;
        }
        return n;
    }

    private static double Number(JsonElement e) => e.ValueKind == JsonValueKind.String
        ? e.GetString() switch
        {
            "NaN" => double.NaN,
            "Infinity" => double.PositiveInfinity,
            "-Infinity" => double.NegativeInfinity,
            var s => throw new InvalidOperationException("bad number " + s),
        }
        : e.GetDouble();

    private static bool Same(double a, double b) => double.IsNaN(a) ? double.IsNaN(b) : a.Equals(b);

    private static bool Same(float a, float b) => float.IsNaN(a) ? float.IsNaN(b) : a.Equals(b);

    [Fact]
    public void Char_array_attribute_reads_as_one_string()
    {
        var file = H5File.Open(File.ReadAllBytes(H5TestSupport.FixturePath("basic.h5")), "basic.h5").Ok();
        var attr = file.Root.Attribute("char_array").Ok().Some("char_array");
        Assert.Equal([5], attr.Shape);
        Assert.Equal("hello", attr.ReadString().Ok());
        Assert.True(file.Root.Attribute("missing").Ok().IsNone);
        Assert.Contains("not a string", file.Root.Attribute("float_array").Ok().Some("float_array").ReadString().Err().Message);
        Assert.Contains("cannot be read as numbers", file.Root.Attribute("vlen_array").Ok().Some("vlen_array").ReadNumbers().Err().Message);
    }

    [Fact]
    public void Paths_resolve_relative_absolute_and_miss_cleanly()
    {
        var file = H5File.Open(File.ReadAllBytes(H5TestSupport.FixturePath("basic.h5")), "basic.h5").Ok();
        var b = file.Root.Group("a/b").Ok().Some("a/b");
        Assert.Equal("/a/b", b.Path);
        Assert.Equal("/a/b/c/deep", b.Dataset("c/deep").Ok().Some("c/deep").Path);
        Assert.Equal([2, 3], b.Dataset("/a/b/c/deep").Ok().Some("abs").Shape().Ok());
        Assert.True(b.Dataset("c").Ok().IsNone);           // a group, not a dataset
        Assert.True(file.Root.Group("scalar_f64").Ok().IsNone); // a dataset, not a group
        Assert.True(file.Root.Group("nope/deeper").Ok().IsNone);
        Assert.True(file.Root.Dataset("mytype").Ok().IsNone);  // a committed datatype is neither
        Assert.Equal("/link_relative/c", file.Root.Group("link_relative/c").Ok().Some("soft relative").Path);
    }

    [Fact]
    public void Layouts_and_chunk_indexes_are_the_ones_the_fixtures_are_meant_to_cover()
    {
        var latest = H5File.Open(File.ReadAllBytes(H5TestSupport.FixturePath("latest.h5")), "latest.h5").Ok();
        string Describe(H5File f, string p) => f.Root.Dataset(p).Ok().Some(p).Describe().Ok();
        Assert.Contains("fixed-array index", Describe(latest, "chunked/gzip_shuffle"));
        Assert.Contains("fixed-array index", Describe(latest, "chunked/paged"));
        Assert.Contains("fixed-array index", Describe(latest, "chunked/filtered_fixed"));
        Assert.Contains("single-chunk index", Describe(latest, "chunked/single_filtered"));
        Assert.Contains("single-chunk index", Describe(latest, "chunked/single_plain"));
        Assert.Contains("implicit index", Describe(latest, "chunked/implicit"));
        Assert.Contains("extensible-array index", Describe(latest, "chunked/extensible"));
        Assert.Contains("v2 B-tree index", Describe(latest, "chunked/btree2"));
        Assert.Contains("compact", Describe(latest, "storage/compact"));
        var basic = H5File.Open(File.ReadAllBytes(H5TestSupport.FixturePath("basic.h5")), "basic.h5").Ok();
        Assert.Contains("layout v3, v1 B-tree index", Describe(basic, "chunked/many"));
        Assert.Contains("filters 2,1", Describe(basic, "chunked/gzip_shuffle"));
        Assert.Contains("float16 big-endian", Describe(basic, "floats/f16_be"));
    }
}
