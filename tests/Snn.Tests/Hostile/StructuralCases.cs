using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Snn.Tests.Support;

namespace Snn.Tests.Hostile;

/// <summary>
/// Generators of hostile-but-well-formed inputs, one per class of issue 17's structural fuzz: each builds, from a
/// seeded <see cref="Random"/>, a model (and where it applies a data file) in a folder, and says which <c>snn</c>
/// commands to run on it, which exit codes each may end with, and the time and peak-memory bounds of the case. The
/// files are valid as files (JSON parses, HDF5 opens in h5py, zips unzip); what is hostile is their structure: shared
/// storage read many times, declared sizes far beyond the bytes, thousands of layers and edges, special files in
/// place of regular ones, and configs that disagree with themselves or with their weights.
/// </summary>
public static class StructuralCases
{
    public enum Kind { Amplification, HugeSizes, DeepWide, SpecialFiles, ConfigWeights }

    /// <summary>The documented exit codes an error may end with (README "Command line"): 1 only means a failed verify.</summary>
    public static readonly int[] Domain = [0, 2, 3, 4];

    static readonly int[] Model = [3];
    static readonly int[] Data = [4];
    static readonly int[] Ok = [0];

    /// <summary>One command of a case and the exit codes it may end with.</summary>
    public sealed record Command(string[] Args, int[] Expected);

    public sealed record Case(string Description, Command[] Commands, TimeSpan Time, long PeakBytes);

    static readonly TimeSpan DefaultTime = TimeSpan.FromSeconds(60);

    /// <summary>Peak resident memory a case may reach: the runtime alone is about 100 MiB here, an import a little more.</summary>
    const long DefaultPeak = 768L << 20;

    /// <summary>
    /// Builds case material in <paramref name="dir"/>. <paramref name="quick"/> keeps to variants made in .NET (no
    /// Python) and to the first command, for the fast tier.
    /// </summary>
    public static Case Make(Kind kind, Random rng, string dir, bool quick)
    {
        var c = kind switch
        {
            Kind.Amplification => Amplification(rng, dir, quick),
            Kind.HugeSizes => HugeSizes(rng, dir, quick),
            Kind.DeepWide => DeepWide(rng, dir, quick),
            Kind.SpecialFiles => SpecialFiles(rng, dir),
            _ => ConfigWeights(rng, dir),
        };
        return quick ? c with { Commands = c.Commands[..1] } : c;
    }

    /// <summary>Whether the HDF5 variants can be made here (h5py); without it those variants are replaced by .NET ones.</summary>
    static bool H5py => Python.H5pyMissing is null;

    // ------------------------------------------------------------------ (a) amplification by links, references, repetition

    static Case Amplification(Random rng, string dir, bool quick)
    {
        var variant = rng.Next(quick || !H5py ? 2 : 4);
        switch (variant)
        {
            case 0:
            {
                // One TF.js shard listed k times in its group (the old reader held it once per listing).
                var k = rng.Next(2, 3001);
                var model = CopyTfjs("dense_mlp", dir);
                Edit(model, j =>
                {
                    var paths = j["weightsManifest"]![0]!["paths"]!.AsArray();
                    var shard = paths[0]!.GetValue<string>();
                    for (var i = 1; i < k; i++) paths.Add(shard);
                });
                return Refused($"dense_mlp with its shard listed {k} times", model);
            }
            case 1:
            {
                // The same shard in g groups of the manifest, each group naming the same weights again.
                var g = rng.Next(2, 501);
                var model = CopyTfjs("dense_mlp", dir);
                Edit(model, j =>
                {
                    var manifest = j["weightsManifest"]!.AsArray();
                    var group = manifest[0]!.ToJsonString();
                    for (var i = 1; i < g; i++) manifest.Add(JsonNode.Parse(group));
                });
                return Refused($"dense_mlp with its weight group repeated {g} times", model);
            }
            case 2:
            {
                var n = rng.Next(2, 601);
                var side = 1 << rng.Next(8, 12);
                var path = Path.Combine(dir, "links.h5");
                H5(new { kind = "h5_links", @out = path, n, rows = side, cols = side });
                return Refused($"legacy .h5: {n} hard links to one unallocated {side}x{side} float32 dataset, all listed as one Dense layer's weights", path);
            }
            default:
            {
                var layers = rng.Next(2, 301);
                var side = 1 << rng.Next(8, 11);
                var sameName = rng.Next(2) == 0;
                var path = Path.Combine(dir, "links.keras");
                H5(new { kind = "keras_links", @out = path, layers, rows = side, cols = side, same_name = sameName });
                // A well-formed model (each layer's weights are the same zeros) unless the shared storage, counted once
                // per layer, passes the file's read budget: accepted or refused, never more memory than the bound.
                return new Case(sameName
                        ? $".keras: {layers} Dense layers of one name, all reading one vars group with an unallocated {side}x{side} kernel"
                        : $".keras: {layers} Dense layers whose vars groups are hard links to one unallocated {side}x{side} kernel",
                    [new(["inspect", path], [0, 3]), new(["verify", path], [0, 3])], DefaultTime, DefaultPeak);
            }
        }
    }

    // ------------------------------------------------------------------ (b) huge declared sizes

    static readonly int[][] HugeShapes =
    [
        [100_000, 100_000], [2_147_483_647, 5], [65_536, 65_536, 65_536], [46_341, 46_341], [1 << 30, 4], [5, 2_147_483_647],
        // Representable as int, but past the 2^26 values per sample a network may have.
        [16_384, 16_384], [8_193, 8_192],
    ];

    static Case HugeSizes(Random rng, string dir, bool quick)
    {
        var variant = rng.Next(quick || !H5py ? 3 : 4);
        switch (variant)
        {
            case 0:
            {
                // A TF.js manifest declaring a kernel far larger than its shard.
                var shape = HugeShapes[rng.Next(HugeShapes.Length)];
                var model = CopyTfjs("dense_mlp", dir);
                Edit(model, j => j["weightsManifest"]![0]!["weights"]![rng.Next(5)]!["shape"] = new JsonArray(shape.Select(d => (JsonNode)d).ToArray()));
                return Refused($"dense_mlp with a weight of declared shape ({string.Join(", ", shape)})", model);
            }
            case 1:
            {
                // An .npy whose header declares far more samples than its body holds (dense_mlp takes (2, 2) samples).
                var samples = new[] { 1_000_000_000L, 2_147_483_647L, 1L << 40, 100_000L * 100_000 }[rng.Next(4)];
                var shape = rng.Next(2) == 0 ? new[] { samples, 2, 2 } : new[] { samples / 4 + 1, 100_000L, 100_000L };
                var data = Path.Combine(dir, "x.npy");
                Npy(data, shape, rng.Next(0, 257));
                var model = TestModels.Fixture("tfjs", "dense_mlp", "model.json");
                return new Case($"an .npy declaring shape ({string.Join(", ", shape)}) over a short body",
                    [new(["evaluate", model, "--data", data, "--mode", "keras"], Data), new(["evaluate", model, "--data", data, "--mode", "rate"], Data)],
                    DefaultTime, DefaultPeak);
            }
            case 2:
            {
                // A config whose input shape alone holds more elements than any tensor can, then a few activations.
                var shape = HugeShapes[rng.Next(HugeShapes.Length)];
                var relus = rng.Next(1, 13);
                var layers = new JsonArray(Sequential(shape).Concat(Enumerable.Range(0, relus).Select(i => (JsonNode)new JsonObject
                {
                    ["class_name"] = "ReLU", ["config"] = new JsonObject { ["name"] = $"r{i}" },
                })).ToArray());
                var model = Tfjs(dir, new JsonObject { ["class_name"] = "Sequential", ["config"] = new JsonObject { ["name"] = "huge", ["layers"] = layers } });
                return new Case($"a config with input shape ({string.Join(", ", shape)}) and {relus} ReLUs",
                    [new(["inspect", model], Domain), new(["verify", model], Domain)], DefaultTime, DefaultPeak);
            }
            default:
            {
                var sides = new[] { 65_536, 100_000, 1 << 20 };
                int rows = sides[rng.Next(3)], cols = sides[rng.Next(3)];
                var agree = rng.Next(2) == 0;
                var chunked = rng.Next(2) == 0;
                var path = Path.Combine(dir, "huge.h5");
                H5(new { kind = "h5_huge", @out = path, rows, cols, inputs = agree ? rows : 8, units = agree ? cols : 4, chunked });
                return Refused($"legacy .h5: a Dense kernel declared ({rows}, {cols}) float32 and never written ({(chunked ? "chunked" : "contiguous")}), config {(agree ? "agreeing" : "of 8 inputs and 4 units")}", path);
            }
        }
    }

    static IEnumerable<JsonNode> Sequential(int[] inputShape) =>
    [
        new JsonObject
        {
            ["class_name"] = "InputLayer",
            ["config"] = new JsonObject { ["batch_input_shape"] = Shape(inputShape), ["dtype"] = "float32", ["name"] = "in" },
        },
    ];

    /// <summary>A version-1.0 .npy file: the header declares <paramref name="shape"/> (float32, C order); the body is <paramref name="bodyBytes"/> bytes.</summary>
    static void Npy(string path, long[] shape, int bodyBytes)
    {
        var dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({string.Join(", ", shape)},), }}";
        var unpadded = 10 + dict.Length + 1;
        var header = dict + new string(' ', (64 - unpadded % 64) % 64) + "\n";
        using var f = File.Create(path);
        f.Write([0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0, (byte)(header.Length & 0xff), (byte)(header.Length >> 8)]);
        f.Write(Encoding.ASCII.GetBytes(header));
        f.Write(new byte[bodyBytes]);
    }

    // ------------------------------------------------------------------ (c) deep and wide graphs

    static Case DeepWide(Random rng, string dir, bool quick)
    {
        var variant = rng.Next(4);
        var layers = new List<JsonObject> { FunctionalInput("in", [8]) };
        string output, description;
        switch (variant)
        {
            case 0:
            {
                // A chain, listed in a random order (the reader must not depend on the listing order).
                var n = rng.Next(quick ? 200 : 500, quick ? 1000 : 4001);
                var chain = Enumerable.Range(0, n).Select(i => i % 3 == 2
                    ? Node("Activation", $"a{i}", new JsonObject { ["activation"] = "relu" }, i == 0 ? "in" : Name(i - 1))
                    : Node("ReLU", Name(i), [], i == 0 ? "in" : Name(i - 1))).ToList();
                static string Name(int i) => i % 3 == 2 ? $"a{i}" : $"r{i}";
                layers.AddRange(chain.OrderBy(_ => rng.Next()));
                output = Name(n - 1);
                description = $"a chain of {n} activations listed in a shuffled order";
                break;
            }
            case 1:
            {
                // Fan-out from the input to k branches, fan-in through one k-input merge.
                var k = rng.Next(quick ? 20 : 50, quick ? 200 : 2001);
                var merge = rng.Next(2) == 0 ? "Add" : "Concatenate";
                for (var i = 0; i < k; i++) layers.Add(Node("ReLU", $"b{i}", [], "in"));
                layers.Add(Node(merge, "merge", merge == "Concatenate" ? new JsonObject { ["axis"] = -1 } : [], Enumerable.Range(0, k).Select(i => $"b{i}").ToArray()));
                output = "merge";
                description = $"{k} branches from the input into one {merge}";
                break;
            }
            case 2:
            {
                // k leaves merged pairwise by Add (a binary fan-in tree, log2 k deep).
                var k = rng.Next(quick ? 16 : 64, quick ? 256 : 4097);
                var level = Enumerable.Range(0, k).Select(i => $"l{i}").ToList();
                foreach (var leaf in level) layers.Add(Node("ReLU", leaf, [], "in"));
                var id = 0;
                while (level.Count > 1)
                {
                    var next = new List<string>();
                    for (var i = 0; i + 1 < level.Count; i += 2)
                    {
                        var name = $"add{id++}";
                        layers.Add(Node("Add", name, [], level[i], level[i + 1]));
                        next.Add(name);
                    }
                    if (level.Count % 2 == 1) next.Add(level[^1]);
                    level = next;
                }
                output = level[0];
                description = $"a binary Add tree over {k} leaves";
                break;
            }
            default:
            {
                // A ladder of d diamonds: x -> (relu, linear) -> Average -> x (Average, not Add: a sum would double
                // the values at every rung and overflow float32 after ~128 of them, in Keras as here).
                var d = rng.Next(quick ? 50 : 200, quick ? 300 : 1501);
                var x = "in";
                for (var i = 0; i < d; i++)
                {
                    layers.Add(Node("ReLU", $"p{i}", [], x));
                    layers.Add(Node("Activation", $"q{i}", new JsonObject { ["activation"] = "linear" }, x));
                    layers.Add(Node("Average", $"s{i}", [], $"p{i}", $"q{i}"));
                    x = $"s{i}";
                }
                output = x;
                description = $"a ladder of {d} diamonds (ReLU and linear branches into Average)";
                break;
            }
        }
        var model = Tfjs(dir, new JsonObject
        {
            ["class_name"] = "Model",
            ["config"] = new JsonObject
            {
                ["name"] = "wide",
                ["layers"] = new JsonArray(layers.Select(l => (JsonNode)l).ToArray()),
                ["input_layers"] = new JsonArray(new JsonArray("in", 0, 0)),
                ["output_layers"] = new JsonArray(new JsonArray(output, 0, 0)),
            },
        });
        // Well-formed graphs: each is accepted, and the converted network matches the reference evaluator.
        return new Case(description, [new(["inspect", model], Ok), new(["verify", model], Ok)], TimeSpan.FromSeconds(120), DefaultPeak);
    }

    static JsonObject FunctionalInput(string name, int[] shape) => new()
    {
        ["class_name"] = "InputLayer", ["name"] = name,
        ["config"] = new JsonObject { ["batch_input_shape"] = Shape(shape), ["dtype"] = "float32", ["name"] = name },
        ["inbound_nodes"] = new JsonArray(),
    };

    static JsonObject Node(string cls, string name, JsonObject config, params string[] inbound)
    {
        config["name"] = name;
        return new JsonObject
        {
            ["class_name"] = cls, ["name"] = name, ["config"] = config,
            ["inbound_nodes"] = new JsonArray(new JsonArray(inbound.Select(i => (JsonNode)new JsonArray(i, 0, 0, new JsonObject())).ToArray())),
        };
    }

    // ------------------------------------------------------------------ (d) special files and symlinks

    static Case SpecialFiles(Random rng, string dir)
    {
        var model = TestModels.Fixture("tfjs", "dense_mlp", "model.json");
        string Ext() => new[] { "model.h5", "model.keras", "model.json" }[rng.Next(3)];
        string Shard(Action<string> replace)
        {
            var m = CopyTfjs("dense_mlp", dir);
            var name = JsonNode.Parse(File.ReadAllText(m))!["weightsManifest"]![0]!["paths"]![0]!.GetValue<string>();
            var shard = Path.Combine(Path.GetDirectoryName(m)!, name);
            replace(shard);
            return m;
        }
        Case Inspect(string what, string path) => new(what, [new(["inspect", path], Model)], DefaultTime, DefaultPeak);
        Case Evaluate(string what, string data) =>
            new(what, [new(["evaluate", model, "--data", data, "--mode", "keras"], Data)], DefaultTime, DefaultPeak);

        switch (rng.Next(10))
        {
            case 0:
            {
                var name = Ext();
                return Inspect($"a FIFO as the model ({name})", Support.SpecialFiles.Fifo(Path.Combine(dir, name)));
            }
            case 1:
            {
                var link = Path.Combine(dir, Ext());
                File.CreateSymbolicLink(link, "/dev/zero");
                return Inspect($"{Path.GetFileName(link)} linked to /dev/zero as the model", link);
            }
            case 2:
            {
                var path = Path.Combine(dir, Ext());
                Directory.CreateDirectory(path);
                return Inspect($"a directory named {Path.GetFileName(path)} as the model", path);
            }
            case 3:
                return Inspect("a FIFO as the weight shard", Shard(s => { File.Delete(s); Support.SpecialFiles.Fifo(s); }));
            case 4:
                return Inspect("the weight shard linked to /dev/zero", Shard(s => { File.Delete(s); File.CreateSymbolicLink(s, "/dev/zero"); }));
            case 5:
                return Inspect("the weight shard linked to a copy of itself outside the model folder", Shard(s =>
                {
                    var outside = Path.Combine(dir, "outside.bin");
                    File.Move(s, outside);
                    File.CreateSymbolicLink(s, rng.Next(2) == 0 ? outside : Path.Combine("..", "outside.bin"));
                }));
            case 6:
                return Inspect("the weight shard is a link in a loop", Shard(s =>
                {
                    File.Delete(s);
                    File.CreateSymbolicLink(s, s + ".loop");
                    File.CreateSymbolicLink(s + ".loop", s);
                }));
            case 7:
                return Evaluate("a FIFO as the data", Support.SpecialFiles.Fifo(Path.Combine(dir, "x.npy")));
            case 8:
            {
                var link = Path.Combine(dir, "x.npy");
                File.CreateSymbolicLink(link, "/dev/zero");
                return Evaluate("x.npy linked to /dev/zero as the data", link);
            }
            default:
                return Evaluate("/dev/zero as the data", "/dev/zero");
        }
    }

    // ------------------------------------------------------------------ (e) config/weight disagreements

    /// <summary>Config keys whose values are sizes, with whether a positive change must be refused (it disagrees with the weights).</summary>
    static readonly Dictionary<string, bool> Sizes = new()
    {
        ["units"] = true, ["filters"] = true, ["kernel_size"] = true,
        ["strides"] = false, ["dilation_rate"] = false, ["pool_size"] = false, ["size"] = false, ["depth_multiplier"] = false,
    };

    static readonly long[] HugeValues = [2_147_483_647, 65_536, 1 << 20, 1 << 30];

    static Case ConfigWeights(Random rng, string dir)
    {
        var fixtures = Directory.GetDirectories(TestModels.Fixture("tfjs")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        while (true)
        {
            var fixture = fixtures[rng.Next(fixtures.Length)]!;
            var json = JsonNode.Parse(File.ReadAllText(TestModels.Fixture("tfjs", fixture, "model.json")))!;
            var targets = LayerConfigs(json["modelTopology"]!)
                .SelectMany(l => l.Config.Where(p => Mutable(l.Class, p.Key, p.Value)).Select(p => (l.Class, l.Config, p.Key)))
                .ToList();
            if (targets.Count == 0) continue;
            var (cls, config, key) = targets[rng.Next(targets.Count)];
            var layer = config["name"]?.ToString() ?? "?";
            var before = config[key]!.ToJsonString();
            int[] expected;
            if (key == "use_bias")
            {
                config[key] = !config[key]!.GetValue<bool>();
                expected = Model;
            }
            else if (key is "padding" or "cropping")
            {
                var negative = rng.Next(2) == 0;
                config[key] = SetLeaf(rng, config[key]!, negative ? -rng.Next(1, 5) : HugeValues[rng.Next(HugeValues.Length)]);
                expected = negative ? Model : Domain;
            }
            else
            {
                var choice = rng.Next(3);
                var current = Leaves(config[key]!).First();
                long value = choice switch
                {
                    0 => -rng.Next(0, 4),
                    1 => HugeValues[rng.Next(HugeValues.Length)],
                    _ => current + rng.Next(1, 100),
                };
                config[key] = SetLeaf(rng, config[key]!, value);
                expected = value <= 0 || Sizes[key] ? Model : Domain;
            }
            var model = Path.Combine(dir, "model", "model.json");
            Directory.CreateDirectory(Path.GetDirectoryName(model)!);
            foreach (var f in Directory.GetFiles(TestModels.Fixture("tfjs", fixture)))
                File.Copy(f, Path.Combine(Path.GetDirectoryName(model)!, Path.GetFileName(f)));
            File.WriteAllText(model, json.ToJsonString());
            return new Case($"{fixture}: {cls} '{layer}' {key} {before} -> {config[key]!.ToJsonString()}",
                [new(["inspect", model], expected), new(["verify", model], expected)], DefaultTime, DefaultPeak);
        }
    }

    static bool Mutable(string cls, string key, JsonNode? value) =>
        key == "use_bias" ? value is JsonValue v && v.TryGetValue<bool>(out _)
        : key is "padding" or "cropping" ? value is JsonArray || (value is JsonValue n && n.TryGetValue<long>(out _))
        : Sizes.ContainsKey(key) && value is not null && Leaves(value).Any() && (key != "size" || cls.StartsWith("UpSampling", StringComparison.Ordinal));

    /// <summary>Every (class, config) of a layer in a topology, nested models included.</summary>
    static IEnumerable<(string Class, JsonObject Config)> LayerConfigs(JsonNode node)
    {
        if (node is JsonObject o)
        {
            if (o["class_name"] is JsonValue c && c.TryGetValue<string>(out var cls) && o["config"] is JsonObject config && config["layers"] is null)
                yield return (cls, config);
            foreach (var (_, child) in o.ToList())
                if (child is not null)
                    foreach (var x in LayerConfigs(child)) yield return x;
        }
        else if (node is JsonArray a)
            foreach (var child in a.ToList())
                if (child is not null)
                    foreach (var x in LayerConfigs(child)) yield return x;
    }

    static IEnumerable<long> Leaves(JsonNode node) => node switch
    {
        JsonArray a => a.Where(x => x is not null).SelectMany(x => Leaves(x!)),
        JsonValue v when v.TryGetValue<long>(out var n) => [n],
        JsonValue v when v.TryGetValue<double>(out var d) && d == Math.Floor(d) => [(long)d],
        _ => [],
    };

    /// <summary>A copy of <paramref name="node"/> (an integer or nested arrays of them) with one leaf, chosen at random, set to <paramref name="value"/>.</summary>
    static JsonNode SetLeaf(Random rng, JsonNode node, long value)
    {
        var count = Leaves(node).Count();
        var target = rng.Next(count);
        var seen = 0;
        JsonNode Walk(JsonNode n) => n switch
        {
            JsonArray a => new JsonArray(a.Select(x => x is null ? null : Walk(x)).ToArray()),
            _ when Leaves(n).Any() => seen++ == target ? JsonValue.Create(value) : JsonValue.Create(Leaves(n).First()),
            _ => n.DeepClone(),
        };
        return Walk(node);
    }

    // ------------------------------------------------------------------ files

    static JsonArray Shape(int[] shape) => new(new JsonNode?[] { null }.Concat(shape.Select(d => (JsonNode?)d)).ToArray());

    /// <summary>A TF.js layers model with no weights: <c>model.json</c> in its own folder under <paramref name="dir"/>.</summary>
    static string Tfjs(string dir, JsonObject topology)
    {
        var folder = Path.Combine(dir, "model");
        Directory.CreateDirectory(folder);
        var model = new JsonObject
        {
            ["format"] = "layers-model",
            ["modelTopology"] = topology,
            ["weightsManifest"] = new JsonArray(new JsonObject { ["paths"] = new JsonArray(), ["weights"] = new JsonArray() }),
        };
        var path = Path.Combine(folder, "model.json");
        File.WriteAllText(path, model.ToJsonString());
        return path;
    }

    /// <summary>A copy of the tfjs-layers fixture <paramref name="name"/> in its own folder; the path of its model.json.</summary>
    static string CopyTfjs(string name, string dir)
    {
        var folder = Path.Combine(dir, "model");
        Directory.CreateDirectory(folder);
        foreach (var f in Directory.GetFiles(TestModels.Fixture("tfjs", name)))
            File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        return Path.Combine(folder, "model.json");
    }

    static void Edit(string path, Action<JsonNode> edit)
    {
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
    }

    static Case Refused(string description, string model) =>
        new(description, [new(["inspect", model], Model), new(["verify", model], Model)], DefaultTime, DefaultPeak);

    /// <summary>Writes an HDF5 case with tests/fixtures/hostile/structural.py (h5py); throws with its stderr when it fails.</summary>
    public static string H5(object spec)
    {
        var (code, stdout, err) = Python.Run([TestModels.Fixture("hostile", "structural.py"), JsonSerializer.Serialize(spec)]);
        if (code != 0) throw new InvalidOperationException($"structural.py {JsonSerializer.Serialize(spec)} failed: {err}");
        return stdout.Trim();
    }
}
