using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Hdf5;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// Imports a Keras 3 <c>.keras</c> archive (keras-formats.md §1.1): <c>config.json</c> plus
/// <c>model.weights.h5</c>, read in memory with bounded entry sizes (no extraction to disk).
/// Weights are found by snake_case class name with per-container counters (<c>layers/dense_1/vars/0</c>),
/// cross-checked against each vars group's <c>name</c> attribute when present (Keras ≥ 3.6), and under
/// <c>_layer_checkpoint_dependencies</c> for tf.keras 2.13-2.15 archives.
/// </summary>
public static partial class KerasArchive
{
    /// <summary>Largest archive entry we read: configs are small, weights are bounded by memory.</summary>
    public const long MaxConfigBytes = 64L << 20;
    public const long MaxWeightsBytes = 1L << 30;

    /// <summary>
    /// Imports the archive at <paramref name="path"/>: the file, and the entries inflated from it together, each stay
    /// within <paramref name="maxMemory"/> bytes, and the weights with the data read from them.
    /// </summary>
    public static Either<Error, KerasModel> Import(string path, long maxMemory = MemoryBudget.DefaultBytes)
    {
        if (!InputFile.Check(path, LegacyH5.MaxFileBytes, why => Errors.ModelFile(path, why), fits: ModelFile.Fits(path, maxMemory)).TryGet(out var file, out var refused))
            return refused;
        try
        {
            using var stream = File.OpenRead(file.FullName);
            return Import(stream, path, maxMemory);
        }
        catch (IOException e) { return Errors.ModelFile(path, e.Message); }
        catch (UnauthorizedAccessException e) { return Errors.ModelFile(path, e.Message); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // File-open boundary: File.OpenRead throws more than the two above (NotSupportedException, ArgumentException
            // for a path it cannot take); the reader below returns its errors.
            return Errors.ModelFile(path, $"damaged or malformed file ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>Imports an archive held in memory (e.g. embedded in a saved network); <paramref name="path"/> names it in messages.</summary>
    public static Either<Error, KerasModel> Import(byte[] bytes, string path, long maxMemory = MemoryBudget.DefaultBytes)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        // The archive's bytes are held while its entries are inflated.
        return Import(stream, path, maxMemory, bytes.LongLength);
    }

    /// <summary>Imports from <paramref name="stream"/>; <paramref name="held"/> bytes of <paramref name="maxMemory"/> are already taken.</summary>
    static Either<Error, KerasModel> Import(Stream stream, string path, long maxMemory, long held = 0)
    {
        try
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Read);
            return from config in ReadEntry(zip, "config.json", MaxConfigBytes, path, maxMemory, held)
                   from _ in zip.GetEntry("model.weights.npz") is not null && zip.GetEntry("model.weights.h5") is null
                       ? Left<Error, Unit>(Errors.Zip(path, "weights are stored as model.weights.npz, which needs Python pickle to read; re-save the model with the default h5 weights format"))
                       : Right<Error, Unit>(unit)
                   let before = held + config.LongLength
                   from weightsBytes in ReadEntry(zip, "model.weights.h5", MaxWeightsBytes, path, maxMemory, before)
                   from h5 in H5File.Open(weightsBytes, path + "!model.weights.h5", Math.Max(0, maxMemory - before))
                   from model in FromConfig(config, h5, path)
                   select model;
        }
        catch (InvalidDataException e) { return Errors.Zip(path, $"not a valid zip archive ({e.Message})"); }
        catch (IOException e) { return Errors.ModelFile(path, e.Message); }
        catch (UnauthorizedAccessException e) { return Errors.ModelFile(path, e.Message); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Boundary, defensive: ZipArchive and its entry streams throw on a damaged archive (NotSupportedException for
            // an unknown compression method, besides the three above); the readers below return their errors.
            return Errors.ModelFile(path, $"damaged or malformed file ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>An entry's bytes, within <paramref name="limit"/> and within what <paramref name="held"/> bytes leave of <paramref name="maxMemory"/>.</summary>
    static Either<Error, byte[]> ReadEntry(ZipArchive zip, string name, long limit, string path, long maxMemory, long held)
    {
        var entry = zip.GetEntry(name);
        if (entry is null) return Errors.Zip(path, $"missing '{name}' (is this a Keras 3 .keras file?)");
        var room = Math.Max(0, maxMemory - held);
        if (entry.Length > room && room < limit)
            return Errors.Memory($"Keras archive '{path}': '{name}' declares {entry.Length} bytes; with the {held} bytes read before it, reading it",
                MemoryBudget.Add(held, entry.Length), maxMemory);
        return ZipEntries.Read(entry, Math.Min(limit, room), m => Errors.Zip(path, m));
    }

    /// <summary>
    /// The model described by <paramref name="config"/> (config.json) with its weights from <paramref name="h5"/>
    /// (model.weights.h5); when <paramref name="seen"/> is given, each layer's weight datasets are recorded in it.
    /// </summary>
    internal static Either<Error, KerasModel> FromConfig(byte[] config, H5File h5, string path, Dictionary<string, StoredLayer>? seen = null)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(config, new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e) { return Errors.ModelJson(path, $"config.json is not valid JSON ({e.Message})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return Errors.ModelJson(path, "config.json is not an object");
            var groups = new Dictionary<string, string>();   // "outer/inner/layer" -> h5 group path of its vars
            Either<Error, Unit> assigned;
            // Boundary: System.Text.Json throws InvalidOperationException for an element of the wrong kind (GetString of a
            // number, EnumerateArray of an object, TryGetProperty of a list); reported as the configuration error it is.
            try { assigned = AssignGroups(root, "", "", groups, path); }
            catch (InvalidOperationException e) { return Errors.ModelJson(path, e.Message); }
            return assigned.Bind(_ => KerasConfigReader.Read(root, StoredWeights.Reader(Locate(h5, groups, path), StoredWeights.AsStored, seen), path));
        }
    }

    /// <summary>Keras naming.to_snake_case.</summary>
    public static string SnakeCase(string name)
    {
        name = NonWord().Replace(name, "");
        name = UpperWord().Replace(name, "$1_$2");
        return LowerUpper().Replace(name, "$1_$2").ToLowerInvariant();
    }

    /// <summary>Property <paramref name="key"/> of an object, or the error saying it is missing.</summary>
    static Either<Error, JsonElement> Get(JsonElement e, string key, string where, string path) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(key, out var v) ? v : Errors.ModelJson(path, $"{where} has no '{key}'");

    /// <summary>Walks containers in model.layers order, assigning "layers/&lt;snake&gt;[_n]" group names.</summary>
    static Either<Error, Unit> AssignGroups(JsonElement model, string keyPrefix, string groupPrefix, Dictionary<string, string> groups, string path) =>
        from clsEl in Get(model, "class_name", "the model", path)
        let cls = clsEl.GetString() ?? ""
        from config in Get(model, "config", "the model", path)
        from layers in config.ValueKind == JsonValueKind.Array ? config : Get(config, "layers", "the model config", path)
        let counters = new Dictionary<string, int>()
        from _ in layers.EnumerateArray().Each(layer => AssignGroup(layer, cls, counters, keyPrefix, groupPrefix, groups, path))
        select unit;

    static Either<Error, Unit> AssignGroup(JsonElement layer, string cls, Dictionary<string, int> counters, string keyPrefix, string groupPrefix,
        Dictionary<string, string> groups, string path)
    {
        if (!Get(layer, "class_name", "a layer", path).TryGet(out var lcElement, out var error)) return error;
        var lc = lcElement.GetString() ?? "";
        // Sequential's model.layers excludes the InputLayer; Functional's includes it.
        if (lc == "InputLayer" && cls == "Sequential") return unit;
        if (!Get(layer, "config", $"layer {lc}", path).TryGet(out var layerConfig, out error)) return error;
        var name = layerConfig.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString() ?? "" : "";
        var snake = SnakeCase(lc);
        var count = counters.GetValueOrDefault(snake);
        counters[snake] = count + 1;
        var group = $"{groupPrefix}layers/{(count == 0 ? snake : $"{snake}_{count}")}";
        groups[keyPrefix + name] = group;
        return KerasConfigReader.IsModelClass(lc) ? AssignGroups(layer, keyPrefix + name + "/", group + "/", groups, path) : unit;
    }

    static WeightLocator Locate(H5File h5, Dictionary<string, string> groups, string path) => (modelPath, layer, className, config) =>
    {
        if (!groups.TryGetValue(string.Join("/", modelPath.Add(layer)), out var groupPath)) return Map<string, H5Dataset>();
        return from vars in FindVars(h5, groupPath, layer)
               from datasets in vars.Match(g => VarDatasets(g, path, layer), () => Right<Error, Seq<H5Dataset>>(Seq<H5Dataset>()))
               from named in KerasVariables.Name(className, config, datasets, layer, path)
               select named;
    };

    /// <summary>
    /// The vars group for a layer: layers/…/vars, or _layer_checkpoint_dependencies/…/vars (tf.keras 2.13-2.15).
    /// When the group's <c>name</c> attribute (Keras ≥ 3.6) names another layer, the sibling whose attribute
    /// names this layer wins.
    /// </summary>
    static Either<Error, Option<H5Group>> FindVars(H5File h5, string groupPath, string layer)
    {
        foreach (var candidate in new[] { groupPath, "_layer_checkpoint_dependencies" + groupPath["layers".Length..] })
        {
            var vars = h5.Root.Group(candidate + "/vars");
            if (vars.IsLeft) return vars;
            if (!vars.Match(v => v, _ => None).TryGet(out var g)) continue;
            var name = VarsName(g);
            if (name.IsNone || name.Exists(n => n == layer)) return Some(g);
            // Mismatch: look for the sibling that says it belongs to this layer.
            var parentPath = candidate[..candidate.LastIndexOf('/')];
            var parent = h5.Root.Group(parentPath).Match(x => x, _ => None);
            var siblings = parent.Map(p => p.ChildNames().Match(x => x, _ => Seq<string>())).IfNone(Seq<string>());
            foreach (var s in siblings)
            {
                var other = h5.Root.Group($"{parentPath}/{s}/vars").Match(x => x, _ => None);
                if (other.TryGet(out var og) && VarsName(og).Exists(n => n == layer)) return Some(og);
            }
            return Some(g);
        }
        return Option<H5Group>.None;
    }

    static Option<string> VarsName(H5Group vars) =>
        vars.Attribute("name").Match(a => a.Bind(x => x.ReadString().Match(Some, _ => None)), _ => None);

    /// <summary>The datasets of a vars group, in the order of their numeric names (0, 1, 2, ...).</summary>
    static Either<Error, Seq<H5Dataset>> VarDatasets(H5Group vars, string path, string layer) =>
        from names in vars.ChildNames()
        from datasets in names.Filter(n => int.TryParse(n, out _)).OrderBy(int.Parse)
            .Map(n => from ds in vars.Dataset(n)
                      from d in ds.ToEither(Errors.Weights(path, $"layer '{layer}': '{vars.Path}/{n}' is not a dataset"))
                      select d).Sequence()
        select datasets.ToSeq().Strict();

    [GeneratedRegex(@"\W+")]
    private static partial Regex NonWord();
    [GeneratedRegex("(.)([A-Z][a-z]+)")]
    private static partial Regex UpperWord();
    [GeneratedRegex("([a-z])([A-Z])")]
    private static partial Regex LowerUpper();
}

/// <summary>The names of a layer's variables in the order Keras saves them (trainable, then non-trainable).</summary>
public static class KerasVariables
{
    public static Either<Error, Map<string, T>> Name<T>(string className, LayerConfig config, Seq<T> values, string layer, string path)
    {
        if (values.IsEmpty) return Map<string, T>();
        var names = Order(className, config, values.Count);
        if (names.Count != values.Count)
            return Errors.Weights(path, $"layer '{layer}' ({className}) has {values.Count} variables; cannot tell which is which");
        return toMap(names.Zip(values));
    }

    static Seq<string> Order(string className, LayerConfig config, int count) => className switch
    {
        "Dense" or "Conv1D" or "Conv2D" or "Conv3D" or "Conv1DTranspose" or "Conv2DTranspose" or "Conv3DTranspose" =>
            Seq("kernel", "bias").Take(count).ToSeq().Strict(),
        "DepthwiseConv1D" or "DepthwiseConv2D" => Seq("depthwise_kernel", "bias").Take(count).ToSeq().Strict(),
        "SeparableConv1D" or "SeparableConv2D" => Seq("depthwise_kernel", "pointwise_kernel", "bias").Take(count).ToSeq().Strict(),
        "BatchNormalization" =>
            (config.Bool("scale").IfNone(true) ? Seq1("gamma") : Seq<string>())
            .Concat(config.Bool("center").IfNone(true) ? Seq1("beta") : Seq<string>())
            .Concat(Seq("moving_mean", "moving_variance")).ToSeq().Strict(),
        "PReLU" => Seq1("alpha"),
        "Embedding" => Seq1("embeddings"),
        _ => Enumerable.Range(0, count).Select(i => i.ToString()).ToSeq().Strict(),
    };
}
