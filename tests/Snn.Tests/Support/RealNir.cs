using System.Text.Json;
using Xunit;

namespace Snn.Tests.Support;

/// <summary>One field of a node as the real NIR package holds it after <c>nir.read</c>: numpy dtype, shape and values.</summary>
public sealed record RealNirArray(string DType, int[] Shape, double[] Values)
{
    /// <summary>The values as float32 (exact: float32 values pass through JSON as doubles unchanged).</summary>
    public float[] F => Values.Select(v => (float)v).ToArray();

    public long[] L => Values.Select(v => (long)v).ToArray();
}

/// <summary>
/// A node of a graph read with the real NIR package: its class name, its fields, the input/output types NIR's type
/// inference gave it, and its metadata (text values; other values as empty strings).
/// </summary>
public sealed record RealNirNode(string Type, IReadOnlyDictionary<string, RealNirArray> Fields,
    IReadOnlyDictionary<string, int[]?> InputType, IReadOnlyDictionary<string, int[]?> OutputType, IReadOnlyDictionary<string, string> Metadata)
{
    public RealNirArray this[string field] =>
        Fields.TryGetValue(field, out var a) ? a : throw new Xunit.Sdk.XunitException($"{Type} node has no field '{field}' after nir.read");
}

/// <summary>
/// A .nir file as <c>nir.read(path)</c> of the vendored NIR package (../shared/vendor/nir) returns it, with NIR's type
/// check on (its default): an oracle for what other NIR tools see in the files the export writes.
/// </summary>
public sealed record RealNirGraph(IReadOnlyDictionary<string, RealNirNode> Nodes, (string From, string To)[] Edges,
    IReadOnlyDictionary<string, int[]?> InputType, IReadOnlyDictionary<string, int[]?> OutputType)
{
    const string Script = """
import sys, json, numpy as np, nir
g = nir.read(sys.argv[1])
def arr(v):
    a = np.asarray(v)
    if a.dtype.kind in 'fiub':
        return {'dtype': str(a.dtype), 'shape': list(a.shape), 'values': [float(x) for x in a.reshape(-1)]}
    return {'dtype': str(a.dtype), 'shape': list(a.shape), 'values': []}
def types(t):
    return {k: (None if v is None else [int(x) for x in np.asarray(v).reshape(-1)]) for k, v in (t or {}).items()}
nodes = {}
for name, n in g.nodes.items():
    fields = {k: arr(v) for k, v in vars(n).items()
              if k not in ('metadata', 'input_type', 'output_type') and v is not None and not isinstance(v, str)}
    nodes[name] = {'type': type(n).__name__, 'fields': fields, 'input_type': types(n.input_type),
                   'output_type': types(n.output_type), 'metadata': {k: (v if isinstance(v, str) else '') for k, v in (n.metadata or {}).items()}}
print(json.dumps({'nodes': nodes, 'edges': [[a, b] for a, b in g.edges],
                  'input_type': types(g.input_type), 'output_type': types(g.output_type)}))
""";

    /// <summary>Reads <paramref name="path"/> with <c>nir.read</c>; fails the test with NIR's message when it refuses the file.</summary>
    public static RealNirGraph Read(string path)
    {
        var (code, stdout, stderr) = Python.Run(new[] { "-c", Script, path },
            Python.RealNir ?? throw new InvalidOperationException("../shared/vendor/nir is absent"));
        Assert.True(code == 0, $"nir.read refused {path}:\n{stderr}");
        var root = JsonDocument.Parse(stdout).RootElement;
        var nodes = root.GetProperty("nodes").EnumerateObject().ToDictionary(p => p.Name, p => new RealNirNode(
            p.Value.GetProperty("type").GetString()!,
            p.Value.GetProperty("fields").EnumerateObject().ToDictionary(f => f.Name, f => new RealNirArray(
                f.Value.GetProperty("dtype").GetString()!,
                f.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                f.Value.GetProperty("values").EnumerateArray().Select(x => x.GetDouble()).ToArray())),
            Types(p.Value.GetProperty("input_type")), Types(p.Value.GetProperty("output_type")),
            p.Value.GetProperty("metadata").EnumerateObject().ToDictionary(m => m.Name, m => m.Value.GetString()!)));
        var edges = root.GetProperty("edges").EnumerateArray().Select(e => (e[0].GetString()!, e[1].GetString()!)).ToArray();
        return new RealNirGraph(nodes, edges, Types(root.GetProperty("input_type")), Types(root.GetProperty("output_type")));
    }

    static Dictionary<string, int[]?> Types(JsonElement e) => e.EnumerateObject().ToDictionary(p => p.Name,
        p => p.Value.ValueKind == JsonValueKind.Null ? null : p.Value.EnumerateArray().Select(x => x.GetInt32()).ToArray());

    public RealNirNode this[string node] =>
        Nodes.TryGetValue(node, out var n) ? n : throw new Xunit.Sdk.XunitException($"nir.read's graph has no node '{node}'");

    public string[] Into(string node) => Edges.Where(e => e.To == node).Select(e => e.From).ToArray();

    public string[] OutOf(string node) => Edges.Where(e => e.From == node).Select(e => e.To).ToArray();

    /// <summary>The one node of class <paramref name="type"/> whose metadata names Keras layer <paramref name="layer"/>.</summary>
    public string Node(string layer, string type) =>
        Nodes.Single(n => n.Value.Type == type && n.Value.Metadata.TryGetValue("keras_layer", out var l) && l == layer).Key;
}
