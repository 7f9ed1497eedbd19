using System.Buffers.Binary;
using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// Imports a TF.js layers model: <c>model.json</c> plus its binary weight shards
/// (keras-formats.md §1.3). Graph models are refused.
/// </summary>
public static class TfjsImporter
{
    /// <summary>Largest model.json we parse (the topology is small; weights live in shards).</summary>
    const long MaxJsonBytes = 64L << 20;

    public static Either<Error, KerasModel> Import(string modelJsonPath, long maxMemory = MemoryBudget.DefaultBytes) =>
        ImportRecording(modelJsonPath, maxMemory).Map(r => r.Model);

    /// <summary>
    /// Imports model.json and its weight shards, and returns every file read: model.json first, then each shard
    /// under its manifest path, so the model can be embedded elsewhere and imported again from memory. model.json and
    /// the shards together stay within <paramref name="maxMemory"/> bytes.
    /// </summary>
    public static Either<Error, (KerasModel Model, Seq<SourceFile> Files)> ImportRecording(string modelJsonPath, long maxMemory = MemoryBudget.DefaultBytes)
    {
        try
        {
            if (!InputFile.Read(modelJsonPath, MaxJsonBytes, why => Errors.ModelFile(modelJsonPath, why), fits: ModelFile.Fits(modelJsonPath, maxMemory))
                    .TryGet(out var text, out var refused)) return refused;
            var dir = Path.GetDirectoryName(Path.GetFullPath(modelJsonPath))!;
            var files = new List<SourceFile> { new(Path.GetFileName(modelJsonPath), text) };
            Either<Error, byte[]> Shard(string name) =>
                ReadShard(dir, name, modelJsonPath, files.Sum(f => f.Bytes.LongLength), maxMemory).Map(bytes =>
                {
                    if (!files.Skip(1).Any(f => f.Name == name)) files.Add(new SourceFile(name, bytes));
                    return bytes;
                });
            return Import(text, modelJsonPath, Shard).Map(m => (m, files.ToSeq().Strict()));
        }
        catch (IOException e) { return Errors.ModelFile(modelJsonPath, e.Message); }
        catch (UnauthorizedAccessException e) { return Errors.ModelFile(modelJsonPath, e.Message); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return Errors.ModelFile(modelJsonPath, $"damaged or malformed file ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>A weight shard's bytes; with the <paramref name="held"/> bytes read before it, within <paramref name="maxMemory"/>.</summary>
    static Either<Error, byte[]> ReadShard(string dir, string name, string source, long held, long maxMemory)
    {
        // Shard paths are relative names; refuse anything that escapes the model's folder.
        var full = Path.GetFullPath(Path.Combine(dir, name));
        if (!full.StartsWith(dir + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            return Errors.Weights(source, $"weight shard path '{name}' leaves the model folder");
        if (!File.Exists(full)) return Errors.Weights(source, $"weight shard '{name}' not found next to model.json");
        return InputFile.Read(full, LegacyH5.MaxFileBytes, why => Errors.Weights(source, $"weight shard '{name}': {why}"), within: dir,
            fits: bytes => MemoryBudget.Add(held, bytes) <= maxMemory ? unit
                : Errors.Memory($"Model '{source}': weight shard '{name}' ({bytes} bytes), with the {held} bytes of model.json and the shards read before it,",
                    MemoryBudget.Add(held, bytes), maxMemory));
    }

    /// <summary>Imports from the bytes of model.json and a shard reader (used for embedded models too).</summary>
    public static Either<Error, KerasModel> Import(byte[] modelJson, string source, Func<string, Either<Error, byte[]>> readShard)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(modelJson, new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e) { return Errors.ModelJson(source, $"not valid JSON ({e.Message})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Errors.ModelJson(source, "model.json is not a JSON object");
            if (root.TryGetProperty("format", out var fmt) && fmt.ValueKind == JsonValueKind.String && fmt.GetString() == "graph-model")
                return Errors.ModelJson(source, "this is a TF.js graph model (a TensorFlow GraphDef), not a Keras layers model; convert the Keras model with tensorflowjs_converter --input_format keras");
            if (!root.TryGetProperty("modelTopology", out var topology) || topology.ValueKind != JsonValueKind.Object)
                return Errors.ModelJson(source, "missing 'modelTopology'");
            var modelConfig = topology.TryGetProperty("model_config", out var mc) ? mc : topology;
            return from weights in ReadWeights(root, source, readShard)
                   from model in KerasConfigReader.Read(modelConfig, Lookup(weights, source), source)
                   select model;
        }
    }

    /// <summary>Weights keyed by their manifest name with any ":0" suffix removed.</summary>
    static Either<Error, Dictionary<string, Tensor>> ReadWeights(JsonElement root, string source, Func<string, Either<Error, byte[]>> readShard)
    {
        var result = new Dictionary<string, Tensor>();
        if (!root.TryGetProperty("weightsManifest", out var manifest)) return result;
        if (manifest.ValueKind != JsonValueKind.Array) return Errors.ModelJson(source, "'weightsManifest' is not a list");
        var listed = new System.Collections.Generic.HashSet<string>(StringComparer.Ordinal);
        foreach (var group in manifest.EnumerateArray())
        {
            if (!group.TryGetProperty("paths", out var paths) || paths.ValueKind != JsonValueKind.Array ||
                !group.TryGetProperty("weights", out var specs) || specs.ValueKind != JsonValueKind.Array)
                return Errors.ModelJson(source, "weightsManifest entry needs 'paths' and 'weights' lists");
            var bytes = new List<byte>();
            foreach (var p in paths.EnumerateArray())
            {
                if (p.ValueKind != JsonValueKind.String) return Errors.ModelJson(source, "weight shard path is not a string");
                // TF.js writes each shard once; a shard listed again would be read (and held) again.
                if (!listed.Add(p.GetString()!)) return Errors.Weights(source, $"weight shard '{p.GetString()}' is listed more than once");
                var shard = readShard(p.GetString()!);
                if (shard.IsLeft) return shard.Match(_ => default!, e => Left<Error, Dictionary<string, Tensor>>(e));
                bytes.AddRange(shard.Match(b => b, _ => System.Array.Empty<byte>()));
            }
            var data = bytes.ToArray();
            var offset = 0L;
            foreach (var spec in specs.EnumerateArray())
            {
                var decoded = DecodeWeight(spec, data, ref offset, source);
                if (decoded.IsLeft) return decoded.Match(_ => default!, e => Left<Error, Dictionary<string, Tensor>>(e));
                var (name, tensor) = decoded.Match(x => x, _ => default);
                result[NormalizeName(name)] = tensor;
            }
            if (offset != data.Length)
                return Errors.Weights(source, $"weight shards hold {data.Length - offset} bytes after the last weight of their group ({data.Length} bytes, the weights take {offset})");
        }
        return result;
    }

    internal static string NormalizeName(string name) => name.EndsWith(":0", StringComparison.Ordinal) ? name[..^2] : name;

    static Either<Error, (string, Tensor)> DecodeWeight(JsonElement spec, byte[] data, ref long offset, string source)
    {
        if (!spec.TryGetProperty("name", out var nameEl) || nameEl.ValueKind != JsonValueKind.String)
            return Errors.ModelJson(source, "weight spec without a name");
        var name = nameEl.GetString()!;
        var shape = spec.TryGetProperty("shape", out var s) ? LayerConfig.IntsOf(s).IfNone(new Arr<int>()) : Arr<int>.Empty;
        if (shape.Exists(d => d < 0)) return Errors.Weights(source, $"weight '{name}' has a negative dimension");
        long count = 1;
        foreach (var d in shape) { count *= d; if (count > data.Length) return Errors.Weights(source, $"weight '{name}' shape {Shapes.Show(shape)} is larger than the weight data"); }
        var dtype = spec.TryGetProperty("dtype", out var dt) && dt.ValueKind == JsonValueKind.String ? dt.GetString()! : "float32";
        var quant = spec.TryGetProperty("quantization", out var q) && q.ValueKind == JsonValueKind.Object ? Some(q) : None;
        var storage = quant.Bind(x => x.TryGetProperty("dtype", out var qd) ? Some(qd.GetString() ?? "") : None).IfNone(dtype);
        var elementSize = storage switch { "float32" or "int32" => 4, "float16" or "uint16" => 2, "uint8" or "bool" => 1, _ => 0 };
        if (elementSize == 0) return Errors.Weights(source, $"weight '{name}' has unsupported dtype '{storage}'");
        var byteCount = count * elementSize;
        if (offset + byteCount > data.Length)
            return Errors.Weights(source, $"weight shards end before weight '{name}' (need {offset + byteCount} bytes, have {data.Length})");
        var values = new float[count];
        var span = data.AsSpan((int)offset, (int)byteCount);
        var scale = quant.Bind(x => x.TryGetProperty("scale", out var v) ? Some(v.GetSingle()) : None).IfNone(1f);
        var min = quant.Bind(x => x.TryGetProperty("min", out var v) ? Some(v.GetSingle()) : None).IfNone(0f);
        for (var i = 0; i < count; i++)
        {
            values[i] = storage switch
            {
                "float32" => BinaryPrimitives.ReadSingleLittleEndian(span.Slice(i * 4)),
                "int32" => BinaryPrimitives.ReadInt32LittleEndian(span.Slice(i * 4)),
                "float16" => (float)BinaryPrimitives.ReadHalfLittleEndian(span.Slice(i * 2)),
                "uint16" => BinaryPrimitives.ReadUInt16LittleEndian(span.Slice(i * 2)) * scale + min,
                _ => quant.IsSome ? span[i] * scale + min : span[i],
            };
        }
        offset += byteCount;
        return (name, Tensor.Own(shape, values));
    }

    /// <summary>
    /// Resolves a layer's weights by name: "layer/var" or "…/layer/var" (nested models prefix the
    /// model name); the variable name is the last path segment.
    /// </summary>
    static WeightSource Lookup(Dictionary<string, Tensor> all, string source) => (path, layer, _, _) =>
    {
        var found = new Dictionary<string, Tensor>();
        foreach (var (name, tensor) in all)
        {
            var slash = name.LastIndexOf('/');
            if (slash < 0) continue;
            var owner = name[..slash];
            if (owner == layer || owner.EndsWith("/" + layer, StringComparison.Ordinal))
            {
                var key = name[(slash + 1)..];
                // Prefer the entry whose full owner path matches the nesting, when names collide.
                var exact = owner == string.Join("/", path.Add(layer));
                if (!found.ContainsKey(key) || exact) found[key] = tensor;
            }
        }
        return toMap(found.Select(kv => (kv.Key, kv.Value)));
    };
}
