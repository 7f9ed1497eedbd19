using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;

namespace Snn.Tests.KerasFiles;

/// <summary>
/// The model-import fuzzer's corpus and mutations (bytes, the JSON inside .h5 files, config.json, model.weights.h5
/// and the entries of .keras archives), shared by KerasImportFuzzTests and the HDF5 evaluation harness
/// in tests/bench/Hdf5Eval, which replays the same cases. No test framework here: the harness compiles this file on its own.
/// </summary>
internal static class KerasMutations
{
    internal sealed record Entry(string Name, byte[] Data);

    internal sealed record Seed(string Name, string Ext, byte[] Bytes, int[] Interesting, (int Start, int End)[] Json, Entry[]? Entries);

    // ------------------------------------------------------------------ corpus

    /// <summary>Every .h5 and .keras file under shared/models/real (none when <paramref name="shared"/> is null).</summary>
    internal static List<Seed> RealFiles(string? shared)
    {
        if (shared is null) return new List<Seed>();
        var real = Path.Combine(shared, "models", "real");
        if (!Directory.Exists(real)) return new List<Seed>();
        return Directory.GetFiles(real, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".h5", StringComparison.Ordinal) || f.EndsWith(".keras", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(f => Corpus(Path.GetRelativePath(real, f), File.ReadAllBytes(f))).ToList();
    }

    static readonly string[] Markers =
    [
        "TREE", "SNOD", "HEAP", "GCOL", "\x89HDF", "PK\x01\x02", "PK\x03\x04", "PK\x05\x06",
        "\"class_name\"", "\"inbound_nodes\"", "weight_names", "layer_names", "vars", "kernel",
    ];

    internal static Seed Corpus(string name, byte[] bytes)
    {
        var interesting = new List<int>();
        foreach (var marker in Markers)
        {
            var pattern = Encoding.Latin1.GetBytes(marker);
            for (var at = bytes.AsSpan().IndexOf(pattern); at >= 0 && interesting.Count < 20000;)
            {
                interesting.Add(at);
                var next = bytes.AsSpan(at + 1).IndexOf(pattern);
                at = next < 0 ? -1 : at + 1 + next;
            }
        }
        var ext = Path.GetExtension(name);
        Entry[]? entries = null;
        if (ext == ".keras")
        {
            try
            {
                using var zip = new ZipArchive(new MemoryStream(bytes), ZipArchiveMode.Read);
                entries = zip.Entries.Select(e =>
                {
                    using var st = e.Open();
                    using var ms = new MemoryStream();
                    st.CopyTo(ms);
                    return new Entry(e.FullName, ms.ToArray());
                }).ToArray();
            }
            catch (InvalidDataException)
            {
                entries = null;   // a negative fixture (truncated, zip bomb): byte-level mutations only
            }
        }
        return new Seed(name, ext, bytes, interesting.ToArray(), JsonSpans(bytes), entries);
    }

    /// <summary>The JSON texts stored in a file: runs of printable bytes starting with {"class_name" or {"module".</summary>
    static (int, int)[] JsonSpans(byte[] b)
    {
        var spans = new List<(int, int)>();
        foreach (var start in new[] { "{\"class_name\"", "{\"module\"" })
        {
            var pattern = Encoding.ASCII.GetBytes(start);
            for (var at = b.AsSpan().IndexOf(pattern); at >= 0;)
            {
                var end = at;
                while (end < b.Length && b[end] >= 0x20 && b[end] < 0x7f) end++;
                if (end - at > 32) spans.Add((at, end));
                var next = b.AsSpan(end).IndexOf(pattern);
                at = next < 0 ? -1 : end + next;
            }
        }
        return spans.ToArray();
    }

    // ------------------------------------------------------------------ mutations

    internal static (string, byte[]) Mutate(Random rng, Seed s, List<Seed> pool)
    {
        if (s.Entries is not null && rng.Next(10) < 6) return MutateArchive(rng, s);
        if (s.Json.Length > 0 && rng.Next(4) == 0)
        {
            var b = (byte[])s.Bytes.Clone();
            var (start, end) = s.Json[rng.Next(s.Json.Length)];
            var what = MutateJsonInPlace(rng, b.AsSpan(start, end - start));
            return ($"{s.Name}: JSON at {start}: {what}", b);
        }
        return MutateBytes(rng, s.Name, s.Bytes, s.Interesting, pool.Select(p => (p.Name, p.Bytes)).ToList());
    }

    static int Position(Random rng, byte[] b, int[] interesting)
    {
        var r = rng.Next(100);
        if (r < 50 && interesting.Length > 0) return Math.Clamp(interesting[rng.Next(interesting.Length)] + rng.Next(-16, 200), 0, b.Length - 1);
        if (r < 70) return rng.Next(Math.Min(b.Length, 4096));
        return rng.Next(b.Length);
    }

    static (string, byte[]) MutateBytes(Random rng, string name, byte[] source, int[] interesting, List<(string Name, byte[] Bytes)> pool)
    {
        var b = (byte[])source.Clone();
        if (b.Length == 0) return ($"{name}: empty", b);
        switch (rng.Next(6))
        {
            case 0:
            case 1:
            {
                var count = 1 + rng.Next(12);
                var at = new List<int>();
                for (var k = 0; k < count; k++)
                {
                    var p = Position(rng, b, interesting);
                    at.Add(p);
                    b[p] = rng.Next(3) == 0 ? (byte)(b[p] ^ (1 << rng.Next(8))) : (byte)rng.Next(256);
                }
                return ($"{name}: {count} byte(s) changed at {string.Join(",", at)}", b);
            }
            case 2:
            {
                var p = Position(rng, b, interesting);
                var width = new[] { 2, 4, 8 }[rng.Next(3)];
                var value = rng.Next(7) switch
                {
                    0 => 0UL,
                    1 => ulong.MaxValue,
                    2 => (ulong)long.MaxValue,
                    3 => (ulong)b.Length,
                    4 => (ulong)rng.Next(64),
                    5 => 1UL << rng.Next(40),
                    _ => (ulong)(interesting.Length > 0 ? interesting[rng.Next(interesting.Length)] : rng.Next(b.Length)),
                };
                for (var k = 0; k < width && p + k < b.Length; k++) b[p + k] = (byte)(value >> (8 * k));
                return ($"{name}: {width}-byte word 0x{value:x} at {p}", b);
            }
            case 3:
            {
                int from = Position(rng, b, interesting), to = Position(rng, b, interesting);
                var len = Math.Min(8 + rng.Next(256), Math.Min(b.Length - from, b.Length - to));
                Array.Copy(source, from, b, to, len);
                return ($"{name}: {len} bytes copied from {from} to {to}", b);
            }
            case 4:
            {
                var len = rng.Next(2) == 0 ? rng.Next(b.Length) : Math.Max(0, b.Length - 1 - rng.Next(Math.Min(b.Length, 4096)));
                return ($"{name}: truncated to {len} bytes", b[..len]);
            }
            default:
            {
                var other = pool[rng.Next(pool.Count)];
                int cut = rng.Next(b.Length), start = rng.Next(other.Bytes.Length);
                var tail = Math.Min(other.Bytes.Length - start, 1 << 20);
                var spliced = new byte[cut + tail];
                Array.Copy(b, spliced, cut);
                Array.Copy(other.Bytes, start, spliced, cut, tail);
                return ($"{name}[..{cut}] + {other.Name}[{start}..]", spliced);
            }
        }
    }

    /// <summary>Same-length token swaps that keep the JSON well-formed (and an HDF5 file around it intact).</summary>
    static readonly string[][] Swaps =
    [
        ["true", "null", "1e99", "-0.0"],
        ["false", "null ", "1e308", "-1e-9"],
        ["\"relu\"", "\"tanh\"", "\"gelu\"", "\"selu\"", "\"elu\" "],
        ["\"valid\"", "\"same\" ", "\"causa\""],
        ["\"linear\"", "\"linear\"", "\"swish\" ", "\"hard_s\""],
        ["\"Dense\"", "\"Input\"", "\"Add\"  ", "\"ReLU\" "],
        ["\"Conv2D\"", "\"Lambda\"", "\"Conv1D\"", "\"Conv3D\""],
        ["\"Flatten\"", "\"Reshape\"", "\"Permute\"", "\"Dropout\""],
        ["\"channels_last\"", "\"channels_frst\"", "\"channels_firs\""],
        ["\"Sequential\"", "\"Functional\"", "\"InputLayer\""],
        ["\"kernel_size\"", "\"pool_size\"  ", "\"strides\"    "],
        [", ", ",-", ",9", "  "],
        ["[", " "],
    ];

    static string MutateJsonInPlace(Random rng, Span<byte> s)
    {
        var edits = 1 + rng.Next(4);
        var done = new List<string>();
        for (var e = 0; e < edits; e++)
        {
            switch (rng.Next(4))
            {
                case 0:
                {
                    var p = rng.Next(s.Length);
                    for (var k = 0; k < s.Length && !char.IsAsciiDigit((char)s[p]); k++) p = (p + 1) % s.Length;
                    if (!char.IsAsciiDigit((char)s[p])) break;
                    s[p] = (byte)"0123456789"[rng.Next(10)];
                    done.Add($"digit@{p}");
                    break;
                }
                case 1:
                {
                    var p = rng.Next(s.Length);
                    for (var k = 0; k < s.Length && !char.IsAsciiLetterLower((char)s[p]); k++) p = (p + 1) % s.Length;
                    if (!char.IsAsciiLetterLower((char)s[p])) break;
                    s[p] = (byte)('a' + rng.Next(26));
                    done.Add($"letter@{p}");
                    break;
                }
                default:
                {
                    var group = Swaps[rng.Next(Swaps.Length)];
                    var from = Encoding.ASCII.GetBytes(group[rng.Next(group.Length)]);
                    var to = Encoding.ASCII.GetBytes(group[rng.Next(group.Length)]);
                    if (from.Length != to.Length) break;
                    var hits = new List<int>();
                    for (var at = s.IndexOf(from); at >= 0 && hits.Count < 1000;)
                    {
                        hits.Add(at);
                        var next = s[(at + 1)..].IndexOf(from);
                        at = next < 0 ? -1 : at + 1 + next;
                    }
                    if (hits.Count == 0) break;
                    var h = hits[rng.Next(hits.Count)];
                    to.CopyTo(s[h..]);
                    done.Add($"{Encoding.ASCII.GetString(from)}->{Encoding.ASCII.GetString(to)}@{h}");
                    break;
                }
            }
        }
        return done.Count == 0 ? "no change" : string.Join(" ", done);
    }

    static (string, byte[]) MutateArchive(Random rng, Seed s)
    {
        var entries = s.Entries!.ToList();
        var deflate = false;
        string what;
        var config = entries.FindIndex(e => e.Name == "config.json");
        var weights = entries.FindIndex(e => e.Name == "model.weights.h5");
        switch (rng.Next(10))
        {
            case 0:
            case 1:
            case 2:
            case 3 when config >= 0:
            {
                if (config < 0) goto default;
                var (desc, json) = MutateJsonStructure(rng, entries[config].Data);
                entries[config] = entries[config] with { Data = json };
                what = "config.json: " + desc;
                break;
            }
            case 4 when config >= 0:
            {
                var b = (byte[])entries[config].Data.Clone();
                what = "config.json text: " + MutateJsonInPlace(rng, b);
                entries[config] = entries[config] with { Data = b };
                break;
            }
            case 5:
            case 6:
            {
                if (weights < 0) goto default;
                var h5 = entries[weights].Data;
                var marks = Corpus("w.h5", h5).Interesting;
                var (desc, b) = MutateBytes(rng, "model.weights.h5", h5, marks, new List<(string, byte[])> { ("model.weights.h5", h5) });
                entries[weights] = entries[weights] with { Data = b };
                what = desc;
                break;
            }
            default:
            {
                var i = rng.Next(entries.Count);
                switch (rng.Next(5))
                {
                    case 0:
                        what = $"entry {entries[i].Name} removed";
                        entries.RemoveAt(i);
                        break;
                    case 1:
                        what = $"entry {entries[i].Name} duplicated";
                        entries.Insert(rng.Next(entries.Count + 1), entries[i] with { Data = entries[rng.Next(entries.Count)].Data });
                        break;
                    case 2:
                    {
                        var name = new[] { "config.json", "model.weights.h5", "model.weights.npz", "metadata.json", "../config.json", "CONFIG.JSON", "" }[rng.Next(7)];
                        what = $"entry {entries[i].Name} renamed to '{name}'";
                        entries[i] = entries[i] with { Name = name };
                        break;
                    }
                    case 3:
                        what = "entries reversed";
                        entries.Reverse();
                        break;
                    default:
                        what = "entries deflated";
                        break;
                }
                deflate = what == "entries deflated" || rng.Next(4) == 0;
                break;
            }
        }
        return ($"{s.Name}: {what}{(deflate ? " (deflated)" : "")}", Zip(entries, deflate));
    }

    static byte[] Zip(List<Entry> entries, bool deflate)
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
            foreach (var e in entries)
            {
                if (e.Name.Length == 0) continue;
                var entry = zip.CreateEntry(e.Name, deflate ? CompressionLevel.Fastest : CompressionLevel.NoCompression);
                using var st = entry.Open();
                st.Write(e.Data);
            }
        return ms.ToArray();
    }

    const string Deep = "\"__DEEP__\"";
    const string Deeper = "\"__DEEPER__\"";
    const string Huge = "\"__HUGE__\"";

    static JsonNode? RandomValue(Random rng) => rng.Next(24) switch
    {
        0 => null,
        1 => true,
        2 => 0,
        3 => -1,
        4 => 1,
        5 => int.MaxValue,
        6 => int.MinValue,
        7 => 1e300,
        8 => 0.5,
        9 => "",
        10 => "relu",
        11 => "same",
        12 => "channels_first",
        13 => "InputLayer",
        14 => new JsonArray(),
        15 => new JsonArray((JsonNode?)null),
        16 => new JsonArray(null, 4),
        17 => new JsonArray(0, 0),
        18 => new JsonObject(),
        19 => new JsonObject { ["class_name"] = "__tuple__", ["config"] = new JsonObject { ["value"] = new JsonArray(2, 2) } },
        20 => new JsonArray(new JsonObject { ["class_name"] = "__keras_tensor__", ["config"] = new JsonObject { ["keras_history"] = new JsonArray("input_layer", 5, 7) } }),
        21 => rng.Next(2) == 0 ? "__DEEP__" : "__DEEPER__",
        22 => "__HUGE__",
        _ => 3,
    };

    /// <summary>Replaces, removes, duplicates, swaps or renames one node of config.json.</summary>
    static (string, byte[]) MutateJsonStructure(Random rng, byte[] json)
    {
        JsonNode? root;
        try { root = JsonNode.Parse(json); }
        catch (System.Text.Json.JsonException) { return ("unparsable, unchanged", json); }
        if (root is null) return ("null root", json);
        var slots = new List<(JsonNode Parent, string? Key, int Index, string Path)>();
        void Walk(JsonNode node, string path)
        {
            if (node is JsonObject o)
                foreach (var (k, v) in o.ToList())
                {
                    slots.Add((o, k, -1, $"{path}.{k}"));
                    if (v is not null) Walk(v, $"{path}.{k}");
                }
            else if (node is JsonArray a)
                for (var i = 0; i < a.Count; i++)
                {
                    slots.Add((a, null, i, $"{path}[{i}]"));
                    if (a[i] is { } v) Walk(v, $"{path}[{i}]");
                }
        }
        Walk(root, "$");
        if (slots.Count == 0) return ("no slots", json);
        var (parent, key, index, where) = slots[rng.Next(slots.Count)];
        string what;
        switch (rng.Next(6))
        {
            case 0:
                what = $"removed {where}";
                if (parent is JsonObject po) po.Remove(key!);
                else ((JsonArray)parent).RemoveAt(index);
                break;
            case 1 when parent is JsonArray arr:
                what = $"duplicated {where}";
                arr.Insert(rng.Next(arr.Count + 1), arr[index]?.DeepClone());
                break;
            case 2 when parent is JsonArray arr && arr.Count > 1:
            {
                var j = rng.Next(arr.Count);
                what = $"swapped {where} with [{j}]";
                var x = arr[index]?.DeepClone();
                var y = arr[j]?.DeepClone();
                arr[index] = y;
                arr[j] = x;
                break;
            }
            case 3 when parent is JsonObject obj:
            {
                var renamed = key!.Length > 1 ? key[..^1] : key + "_";
                what = $"renamed {where} to {renamed}";
                var v = obj[key]?.DeepClone();
                obj.Remove(key);
                obj[renamed] = v;
                break;
            }
            default:
            {
                var value = RandomValue(rng);
                what = $"set {where} = {value?.ToJsonString() ?? "null"}";
                if (parent is JsonObject o2) o2[key!] = value;
                else ((JsonArray)parent)[index] = value;
                break;
            }
        }
        var text = root.ToJsonString();
        // 200 nested lists parse (the readers allow depth 256) and reach the config readers; 1,000 do not.
        text = text.Replace(Deep, new string('[', 200) + new string(']', 200))
            .Replace(Deeper, new string('[', 1000) + new string(']', 1000)).Replace(Huge, "1e400");
        return (what, Encoding.UTF8.GetBytes(text));
    }
}
