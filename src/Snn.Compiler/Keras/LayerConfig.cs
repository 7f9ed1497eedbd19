using System.Text.Json;
using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// A Keras layer's <c>config</c> object, kept as canonical JSON text (so records compare by value)
/// with typed accessors that accept both Keras 2 and Keras 3 spellings.
/// </summary>
public sealed class LayerConfig : IEquatable<LayerConfig>
{
    readonly JsonElement root;

    public LayerConfig(JsonElement element)
    {
        root = element.Clone();
        Json = element.GetRawText();
    }

    public static LayerConfig Parse(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return new LayerConfig(doc.RootElement);
    }

    public static readonly LayerConfig Empty = Parse("{}");

    public string Json { get; }
    public JsonElement Root => root;

    public Option<JsonElement> Get(string key) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(key, out var v) && v.ValueKind != JsonValueKind.Null
            ? Some(v) : None;

    public bool Has(string key) => Get(key).IsSome;

    public Option<string> String(string key) =>
        Get(key).Bind(v => v.ValueKind == JsonValueKind.String ? Some(v.GetString()!) : None);

    public Option<bool> Bool(string key) =>
        Get(key).Bind(v => v.ValueKind is JsonValueKind.True or JsonValueKind.False ? Some(v.GetBoolean()) : None);

    public Option<double> Number(string key) =>
        Get(key).Bind(v => Unwrap(v).ValueKind == JsonValueKind.Number && Unwrap(v).TryGetDouble(out var d) && double.IsFinite(d) ? Some(d) : None);

    /// <summary>An int or a list of ints (Keras writes tuples as lists, or as {"class_name":"__tuple__"}).</summary>
    public Option<Arr<int>> Ints(string key) => Get(key).Bind(IntsOf);

    /// <summary>Like <see cref="Ints"/> but keeps nulls as -1 (shapes with unknown dims).</summary>
    public Option<Arr<int>> Dims(string key) => Get(key).Bind(DimsOf);

    public static Option<Arr<int>> IntsOf(JsonElement v)
    {
        v = Unwrap(v);
        if (v.ValueKind == JsonValueKind.Number) return v.TryGetInt32(out var single) ? Some(Arr.create(single)) : None;
        if (v.ValueKind != JsonValueKind.Array) return None;
        var list = new List<int>();
        foreach (var e in v.EnumerateArray())
        {
            var x = Unwrap(e);
            if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out var i)) return None;
            list.Add(i);
        }
        return Some(list.ToArr());
    }

    public static Option<Arr<int>> DimsOf(JsonElement v)
    {
        v = Unwrap(v);
        if (v.ValueKind != JsonValueKind.Array) return None;
        var list = new List<int>();
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind == JsonValueKind.Null) list.Add(-1);
            else if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i)) list.Add(i);
            else return None;
        }
        return Some(list.ToArr());
    }

    /// <summary>
    /// (before, after) per spatial dimension for padding/cropping settings written as one int, one int per
    /// dimension, or a pair per dimension (lists or Keras 3 tuples); None when it cannot be read.
    /// </summary>
    public Option<(int Before, int After)[]> Pairs(string key, int rank)
    {
        var flat = new List<int>();
        var ok = true;
        void Walk(JsonElement e)
        {
            e = Unwrap(e);
            if (e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out var i)) flat.Add(i);
            else if (e.ValueKind == JsonValueKind.Array) foreach (var y in e.EnumerateArray()) Walk(y);
            else ok = false;
        }
        if (!Get(key).TryGet(out var raw)) return None;
        Walk(raw);
        if (!ok) return None;
        if (flat.Count == 1) return Enumerable.Repeat((flat[0], flat[0]), rank).ToArray();
        if (flat.Count == rank) return flat.Select(v => (v, v)).ToArray();
        if (flat.Count == 2 * rank) return Enumerable.Range(0, rank).Select(d => (flat[2 * d], flat[2 * d + 1])).ToArray();
        return None;
    }

    /// <summary>Keras 3 may wrap tuples as {"class_name": "__tuple__", "config": {"value": [...]}}.</summary>
    static JsonElement Unwrap(JsonElement v) =>
        v.ValueKind == JsonValueKind.Object && v.TryGetProperty("class_name", out var cn) && cn.ValueKind == JsonValueKind.String
        && cn.GetString() == "__tuple__" && v.TryGetProperty("config", out var c) && c.TryGetProperty("value", out var val)
            ? val : v;

    /// <summary>
    /// An activation given as a string ("relu"), or as a serialized object
    /// ({"class_name": "relu"} / {"module": "keras.activations", "class_name": "function", "config": "relu"}).
    /// </summary>
    public Option<string> Activation(string key = "activation") =>
        Get(key).Bind(v => v.ValueKind switch
        {
            JsonValueKind.String => Some(v.GetString()!),
            JsonValueKind.Object when v.TryGetProperty("config", out var c) && c.ValueKind == JsonValueKind.String => Some(c.GetString()!),
            JsonValueKind.Object when v.TryGetProperty("class_name", out var cn) && cn.ValueKind == JsonValueKind.String => Some(cn.GetString()!),
            _ => Option<string>.None,
        });

    public bool Equals(LayerConfig? other) => other is not null && Json == other.Json;
    public override bool Equals(object? obj) => Equals(obj as LayerConfig);
    public override int GetHashCode() => Json.GetHashCode();
    public override string ToString() => Json;
}
