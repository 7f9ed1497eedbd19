using System.IO.Compression;
using System.Text;
using Encoding = System.Text.Encoding;
using System.Text.Json.Nodes;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using static LanguageExt.Prelude;
using Snn.Ops;
using Snn.Compiler.Saved;

namespace Snn.Tests.Snnz;

/// <summary>
/// Damaged and hostile saved networks: truncations, flipped bytes, edited JSON, edited arrays, missing entries and newer
/// versions each give one clean error (code 2030, CLI exit 3) naming the problem, never an exception; and a fuzz loop
/// (SNN_FUZZ_ITERATIONS cases, default 1000; SNN_FUZZ_SEED replays, the seed is printed) checks that every mutated file
/// either loads into a network that lowers and runs, or gives that error.
/// </summary>
public class SnnzDamageTests(ITestOutputHelper output)
{
    static List<(string Name, byte[] Bytes)> Entries(byte[] zip) => SnnzTestFiles.Entries(zip);
    static byte[] Pack(IEnumerable<(string Name, byte[] Bytes)> entries) => SnnzTestFiles.Pack(entries);
    static byte[] EditEntry(byte[] zip, string name, Func<byte[], byte[]> edit) => SnnzTestFiles.EditEntry(zip, name, edit);
    static byte[] EditJson(byte[] zip, Action<JsonObject> edit) => SnnzTestFiles.EditJson(zip, edit);

    // ------------------------------------------------------------------ a corpus of valid files

    /// <summary>A saved network from a TF.js fixture (with its source), converted with <paramref name="convert"/>.</summary>
    internal static byte[] FromFixture(string name, ConvertOptions convert, bool calibrate = false)
    {
        var dir = TestModels.Fixture("tfjs", name);
        var (model, source) = ModelFile.ImportWithSource(Path.Combine(dir, "model.json")).Ok();
        var inputs = Directory.GetFiles(dir, "input_*.npy").OrderBy(p => p).Select(p => Npy.Read(p).Ok()).ToSeq();
        var options = CompileOptions.Default with
        {
            Convert = convert.AsSpiking(),
            Calibration = calibrate ? Some((new CalibrateOptions(99.5, 100, 0), inputs)) : None,
        };
        var compiled = Compile.Run(options, model).Ok();
        return NetworkFile.Save(SavedNetwork.Of(compiled, options, Some(source), "input_0.npy", Some(1f)).Ok()).Ok();
    }

    static readonly Lazy<byte[][]> Corpus = new(() => new[]
    {
        FromFixture("relu_variants", ConvertOptions.Default with { ScaleFiringRates = Some(20f), Synapse = Some(new Lowpass(0.002f)) }),
        FromFixture("functional_merge", ConvertOptions.Default with { Swap = Map(("relu", "LIF")) }),
        FromFixture("depthwise_separable", ConvertOptions.Default with { InitialVoltage = InitialVoltage.Half } with { IntegrateAndFire = true }, calibrate: true),
        FromFixture("permute_reshape", ConvertOptions.Default),
        FromFixture("conv1d", ConvertOptions.Default with { MaxPool = MaxPoolMethod.Gate }),
    });

    static byte[] Valid => Corpus.Value[0];

    static JsonArray Nodes(JsonObject root) => root["network"]!["nodes"]!.AsArray();
    static JsonObject FirstOf(JsonObject root, string type) => Nodes(root).First(n => (string)n!["type"]! == type)!.AsObject();
    static JsonObject Connection(JsonObject root, string transform) =>
        root["network"]!["connections"]!.AsArray().First(c => (string)c!["transform"]!["type"]! == transform)!.AsObject();

    static Error LoadError(byte[] bytes)
    {
        var e = NetworkFile.Load(bytes, "damaged.snnz").Err();
        Assert.Equal(Errors.SavedNetworkCode, e.Code);
        Assert.Equal(3, Errors.ExitCode(e));
        Assert.StartsWith("Cannot read saved network 'damaged.snnz': ", e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return e;
    }

    // ------------------------------------------------------------------ named damage

    public static TheoryData<string, string> Damages() => new()
    {
        { "newer version", "format version 2" },
        { "other format", "does not describe a saved network" },
        { "no network", "'network' is missing" },
        { "unknown object type", "unknown object type 'frobnicator'" },
        { "unknown neuron type", "unknown type 'Izhikevich'" },
        { "unknown transform type", "unknown type 'fft'" },
        { "ensemble size", "inconsistent bias" },
        { "gain NaN", "'gain' is not a number" },
        { "gain too large", "'gain' is not" },
        { "negative dt", "'dt' is -1; it must be positive" },
        { "huge size", "outside 0..67108864" },
        { "unknown pre", "a connection to an unknown object" },
        { "duplicate id", "defined twice" },
        { "input index", "input objects are numbered 3" },
        { "input shape", "does not fit input object" },
        { "missing array entry", "the archive has no entry 'arrays/999.npy'" },
        { "array of the wrong shape", "inconsistent" },
        { "keep names a non-ensemble", "which is not an ensemble" },
        { "conv filters", "needs" },
        { "gather index out of range", "'index' has values outside" },
        { "nan in bias", "every value must be finite" },
        { "truncated array", "truncated" },
        { "int array as floats", "expected an int32 array" },
        { "tau_rc zero", "'tau_rc' is 0; it must be positive" },
        { "deep json", "not valid JSON" },
        { "missing json entry", "no 'snnz.json' entry" },
        { "not a zip", "not a valid zip archive" },
        { "crc mismatch", "damaged" },
        { "wrong enum", "'max_pool' is 'biggest'" },
    };

    [Theory]
    [MemberData(nameof(Damages))]
    public void SnnzDamageGivesOneCleanError(string damage, string expected)
    {
        var e = LoadError(Damage(damage));
        Assert.True(e.Message.Contains(expected, StringComparison.Ordinal), e.Message);
    }

    static byte[] Damage(string damage) => damage switch
    {
        "newer version" => EditJson(Valid, r => r["version"] = 2),
        "other format" => EditJson(Valid, r => r["format"] = "snn-network"),
        "no network" => EditJson(Valid, r => r.Remove("network")),
        "unknown object type" => EditJson(Valid, r => FirstOf(r, "pass")["type"] = "frobnicator"),
        "unknown neuron type" => EditJson(Valid, r => FirstOf(r, "ensemble")["neuron"]!["type"] = "Izhikevich"),
        "unknown transform type" => EditJson(Corpus.Value[1], r => Connection(r, "conv")["transform"]!["type"] = "fft"),
        "ensemble size" => EditJson(Corpus.Value[1], r => FirstOf(r, "ensemble")["size"] = 7),
        "gain NaN" => EditJson(Valid, r => FirstOf(r, "ensemble")["gain"] = "NaN"),
        "gain too large" => EditJson(Valid, r => FirstOf(r, "ensemble")["gain"] = JsonNode.Parse("1e39")),
        "negative dt" => EditJson(Valid, r => r["network"]!["dt"] = -1),
        "huge size" => EditJson(Valid, r => FirstOf(r, "pass")["size"] = 1L << 40),
        "unknown pre" => EditJson(Valid, r => r["network"]!["connections"]![0]!["pre"] = "nowhere"),
        "duplicate id" => EditJson(Valid, r => Nodes(r)[1]!["id"] = (string)Nodes(r)[0]!["id"]!),
        "input index" => EditJson(Valid, r => FirstOf(r, "input")["index"] = 3),
        "input shape" => EditJson(Valid, r => r["model"]!["input_shapes"]![0]![0] = 5),
        "missing array entry" => EditJson(Valid, r => FirstOf(r, "ensemble")["bias"] = "arrays/999.npy"),
        "array of the wrong shape" => EditJson(Corpus.Value[1], r => FirstOf(r, "ensemble")["bias"] = (string)Connection(r, "conv")["transform"]!["kernel"]!),
        "keep names a non-ensemble" => EditJson(Valid, r => r["network"]!["keep_neuron_in_rate_mode"] = new JsonArray((string)FirstOf(r, "input")["id"]!)),
        "conv filters" => EditJson(Corpus.Value[1], r => Connection(r, "conv")["transform"]!["spec"]!["filters"] = 1),
        "gather index out of range" => GatherOutOfRange(),
        "nan in bias" => EditArray(Valid, r => (string)FirstOf(r, "ensemble")["bias"]!, b => { Nan(b, b.Length - 4); return b; }),
        "truncated array" => EditArray(Valid, r => (string)FirstOf(r, "ensemble")["bias"]!, b => b[..^3]),
        "int array as floats" => GatherAsFloats(),
        "tau_rc zero" => EditJson(Corpus.Value[1], r => FirstOf(r, "ensemble")["neuron"]!["tau_rc"] = 0),
        "deep json" => EditEntry(Valid, "snnz.json", _ => Encoding.UTF8.GetBytes(new string('[', 200) + new string(']', 200))),
        "missing json entry" => Pack(Entries(Valid).Where(e => e.Name != "snnz.json")),
        "not a zip" => Encoding.UTF8.GetBytes("{\"format\": \"snnz\"}"),
        "crc mismatch" => FlipStoredByte(),
        "wrong enum" => EditJson(Valid, r => r["options"]!["convert"]!["max_pool"] = "biggest"),
        _ => throw new ArgumentException(damage),
    };

    static void Nan(byte[] b, int at) => BitConverter.GetBytes(float.NaN).CopyTo(b, at);

    static byte[] EditArray(byte[] zip, Func<JsonObject, string> entry, Func<byte[], byte[]> edit)
    {
        var root = JsonNode.Parse(Entries(zip).First(e => e.Name == "snnz.json").Bytes)!.AsObject();
        return EditEntry(zip, entry(root), edit);
    }

    static byte[] GatherOutOfRange()
    {
        var zip = Corpus.Value[3];
        var root = JsonNode.Parse(Entries(zip).First(e => e.Name == "snnz.json").Bytes)!.AsObject();
        var gather = Connection(root, "gather")["transform"]!;
        var size = (int)gather["in"]!;
        return EditEntry(zip, (string)gather["index"]!, b =>
        {
            BitConverter.GetBytes(size).CopyTo(b, b.Length - 4);
            return b;
        });
    }

    static byte[] GatherAsFloats()
    {
        var zip = Corpus.Value[3];
        var root = JsonNode.Parse(Entries(zip).First(e => e.Name == "snnz.json").Bytes)!.AsObject();
        var gather = Connection(root, "gather")["transform"]!;
        var kernel = (string)Connection(root, "dense")["transform"]!["kernel"]!;
        gather["index"] = kernel;
        return EditEntry(zip, "snnz.json", _ => Encoding.UTF8.GetBytes(root.ToJsonString()));
    }

    /// <summary>A stored (uncompressed) entry whose data byte changes while its recorded CRC-32 stays.</summary>
    static byte[] FlipStoredByte()
    {
        var m = new MemoryStream();
        using (var w = new NpzWriter(m, compress: false, leaveOpen: true))
            foreach (var (name, bytes) in Entries(Valid)) w.AddBytes(name, bytes);
        var zip = m.ToArray();
        var json = IndexOf(zip, Encoding.ASCII.GetBytes("\"format\": \"snnz\""));
        zip[json + 12] ^= 0x01;   // "snnz" → "sonz" inside the stored JSON
        return zip;
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (var i = 0; i + needle.Length <= hay.Length; i++)
            if (hay.AsSpan(i, needle.Length).SequenceEqual(needle)) return i;
        throw new InvalidOperationException("not found");
    }

    [Fact]
    public void SnnzEveryTruncationGivesACleanError()
    {
        var bytes = Corpus.Value[1];
        for (var n = 0; n < bytes.Length; n += Math.Max(1, bytes.Length / 300))
            LoadError(bytes[..n]);
    }

    [Fact]
    public void SnnzFlippedBytesGiveAModelOrACleanError()
    {
        var bytes = Corpus.Value[0];
        var rng = new Random(11);
        for (var i = 0; i < 300; i++)
        {
            var copy = (byte[])bytes.Clone();
            copy[rng.Next(copy.Length)] ^= (byte)(1 << rng.Next(8));
            Outcome(copy).Match(_ => { }, e => Assert.Equal(Errors.SavedNetworkCode, e.Code));
        }
    }

    /// <summary>Anything that loads must lower and run in both modes; an error must be the saved-network error.</summary>
    static Either<Error, Unit> Outcome(byte[] bytes) =>
        NetworkFile.Load(bytes, "fuzzed.snnz").Map(saved =>
        {
            var x = saved.InputShapes.Map(s => Tensor.Filled(new[] { 1 }.Concat(s).ToArray(), 0.5f)).ToSeq();
            foreach (var spiking in new[] { true, false })
            {
                var program = Compile.Back(LowerOptions.Default, OptimizeOptions.Default, saved.ForMode(spiking), verify: true)
                    .Match(p => p.Program, e => throw new Xunit.Sdk.XunitException($"a loaded network does not lower: [{e.Code}] {e.Message}"));
                Interpreter.Run(program, x, new SimOptions(Steps: 3, Readout: Readout.Mean, Threads: 1)).Ok();
            }
            return unit;
        });

    // ------------------------------------------------------------------ fuzz

    [Trait("Category", "Slow")]
    [Fact]
    public async Task SnnzFuzzGivesANetworkOrACleanErrorNeverAnExceptionOrAHang()
    {
        var (seed, iterations, _) = Fuzz.Read(20250801, 1000);
        output.WriteLine($"snnz fuzz: seed {seed} (SNN_FUZZ_SEED={seed} replays), {iterations} cases");
        var corpus = Corpus.Value;
        var failures = new List<string>();
        var loaded = 0;
        var kinds = new Dictionary<string, int>();
        for (var i = 0; i < iterations && failures.Count < 10; i++)
        {
            var rng = new Random(unchecked(seed * 1_000_003 + i));
            var source = corpus[rng.Next(corpus.Length)];
            var (what, bytes) = Mutate(rng, source);
            kinds[what.Split(' ')[0]] = kinds.GetValueOrDefault(what.Split(' ')[0]) + 1;
            try
            {
                var r = await Task.Run(() => Outcome(bytes)).WaitAsync(TimeSpan.FromSeconds(60));
                r.Match(_ => loaded++, e =>
                {
                    if (e.Code != Errors.SavedNetworkCode) failures.Add($"case {i} ({what}): error code {e.Code}: {e.Message}");
                    else if (e.Message.Contains("damaged or malformed file (", StringComparison.Ordinal))
                        failures.Add($"case {i} ({what}): an exception reached the last-resort handler: {e.Message}");
                });
            }
            catch (TimeoutException)
            {
                failures.Add($"case {i} ({what}): still running after 60 s (hang)");
                break;
            }
            catch (Exception e)
            {
                failures.Add($"case {i} ({what}): {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }
        output.WriteLine($"{loaded} mutated files loaded and ran; mutations: {string.Join(", ", kinds.OrderBy(k => k.Key).Select(k => $"{k.Key} {k.Value}"))}");
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    static (string What, byte[] Bytes) Mutate(Random rng, byte[] source)
    {
        switch (rng.Next(6))
        {
            case 0:
            {
                var b = (byte[])source.Clone();
                var flips = rng.Next(1, 9);
                for (var k = 0; k < flips; k++) b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8));
                return ($"bytes: {flips} bit flips", b);
            }
            case 1:
            {
                var at = rng.Next(source.Length);
                return ($"truncate at {at}", source[..at]);
            }
            case 2:
            {
                var b = (byte[])source.Clone();
                var at = rng.Next(b.Length);
                var len = Math.Min(rng.Next(1, 64), b.Length - at);
                rng.NextBytes(b.AsSpan(at, len));
                return ($"overwrite {len} bytes at {at}", b);
            }
            case 3:
            {
                string what = "json";
                var bytes = EditJson(source, root => what = MutateJson(rng, root));
                return (what, bytes);
            }
            case 4:
            {
                var entries = Entries(source);
                var arrays = entries.Where(e => e.Name.StartsWith("arrays/", StringComparison.Ordinal)).ToList();
                if (arrays.Count == 0) goto case 0;
                var (name, data) = arrays[rng.Next(arrays.Count)];
                var b = (byte[])data.Clone();
                string what;
                switch (rng.Next(4))
                {
                    case 0: b = b[..rng.Next(b.Length)]; what = "array: truncate"; break;
                    case 1: b[rng.Next(b.Length)] ^= (byte)(1 << rng.Next(8)); what = "array: bit flip"; break;
                    case 2 when b.Length >= 132: Nan(b, 128 + 4 * rng.Next((b.Length - 128) / 4)); what = "array: NaN"; break;
                    default:
                    {
                        var text = Encoding.Latin1.GetString(b, 0, Math.Min(b.Length, 128));
                        var shapeAt = text.IndexOf("'shape': (", StringComparison.Ordinal);
                        if (shapeAt >= 0 && shapeAt + 10 < b.Length) b[shapeAt + 10] = (byte)"0123456789-,)"[rng.Next(13)];
                        what = "array: header shape";
                        break;
                    }
                }
                return ($"{what} of {name}", Pack(entries.Select(e => e.Name == name ? (e.Name, b) : e)));
            }
            default:
            {
                var entries = Entries(source);
                var drop = entries[rng.Next(entries.Count)].Name;
                return ($"drop entry {drop}", Pack(entries.Where(e => e.Name != drop)));
            }
        }
    }

    /// <summary>One structural edit at a random place of the JSON tree: a new number, string, null, removal, or a copy of another value.</summary>
    static string MutateJson(Random rng, JsonObject root)
    {
        var slots = new List<(JsonNode Parent, object Key, JsonNode? Value)>();
        void Walk(JsonNode node)
        {
            if (node is JsonObject o)
                foreach (var (k, v) in o.ToList()) { slots.Add((o, k, v)); if (v is not null) Walk(v); }
            else if (node is JsonArray a)
                for (var i = 0; i < a.Count; i++) { slots.Add((a, i, a[i])); if (a[i] is not null) Walk(a[i]!); }
        }
        Walk(root);
        var (parent, key, value) = slots[rng.Next(slots.Count)];
        var others = slots.Where(s => s.Value is not null).ToList();
        JsonNode? replacement = rng.Next(9) switch
        {
            0 => rng.Next(-3, 4),
            1 => rng.Next(),
            2 => JsonNode.Parse((rng.NextDouble() * 2 - 1).ToString("R", System.Globalization.CultureInfo.InvariantCulture)),
            3 => "inf",
            4 => null,
            5 => JsonNode.Parse(others[rng.Next(others.Count)].Value!.ToJsonString()),
            6 => value is JsonValue v && v.TryGetValue<int>(out var iv) ? iv + rng.Next(-2, 3) : 1,
            7 => value is JsonValue sv && sv.TryGetValue<string>(out var str) && str.Length > 0 ? str[..^1] : "",
            _ => (JsonNode?)"__removed__",
        };
        var path = $"{key}";
        if (replacement is JsonValue rv && rv.TryGetValue<string>(out var marker) && marker == "__removed__")
        {
            if (parent is JsonObject po) po.Remove((string)key);
            else ((JsonArray)parent).RemoveAt((int)key);
            return $"json: remove '{path}'";
        }
        if (parent is JsonObject obj) obj[(string)key] = replacement;
        else ((JsonArray)parent)[(int)key] = replacement;
        return $"json: set '{path}' to {replacement?.ToJsonString() ?? "null"}";
    }
}

/// <summary>Reading and rewriting the entries of a saved network (a zip) for damage tests.</summary>
internal static class SnnzTestFiles
{

    internal static List<(string Name, byte[] Bytes)> Entries(byte[] zip)
    {
        using var archive = new ZipArchive(new MemoryStream(zip), ZipArchiveMode.Read);
        return archive.Entries.Select(e =>
        {
            using var s = e.Open();
            using var m = new MemoryStream();
            s.CopyTo(m);
            return (e.FullName, m.ToArray());
        }).ToList();
    }

    internal static byte[] Pack(IEnumerable<(string Name, byte[] Bytes)> entries)
    {
        var m = new MemoryStream();
        using (var w = new NpzWriter(m, compress: true, leaveOpen: true))
            foreach (var (name, bytes) in entries) w.AddBytes(name, bytes);
        return m.ToArray();
    }

    internal static byte[] EditEntry(byte[] zip, string name, Func<byte[], byte[]> edit) =>
        Pack(Entries(zip).Select(e => e.Name == name ? (e.Name, edit(e.Bytes)) : e));

    internal static byte[] EditJson(byte[] zip, Action<JsonObject> edit) =>
        EditEntry(zip, "snnz.json", b =>
        {
            var root = JsonNode.Parse(b)!.AsObject();
            edit(root);
            return Encoding.UTF8.GetBytes(root.ToJsonString());
        });

}
