using System.Text.Json;
using System.Text.Json.Nodes;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;

namespace Snn.Tests.Support;

/// <summary>Builds small Keras models from configs, the way a Keras file would describe them.</summary>
public static class TestModels
{
    public sealed record L(string Class, string Name, object Config, params (string Var, Tensor Value)[] Weights);

    /// <summary>A Keras-2 style Sequential model with an InputLayer of the given shape.</summary>
    public static KerasModel Sequential(int[] inputShape, params L[] layers)
    {
        var list = new JsonArray
        {
            new JsonObject
            {
                ["class_name"] = "InputLayer",
                ["config"] = new JsonObject { ["name"] = "input", ["batch_input_shape"] = Shape(inputShape) },
            },
        };
        foreach (var l in layers)
        {
            var cfg = JsonSerializer.SerializeToNode(l.Config)!.AsObject();
            cfg["name"] = l.Name;
            list.Add(new JsonObject { ["class_name"] = l.Class, ["config"] = cfg });
        }
        var model = new JsonObject { ["class_name"] = "Sequential", ["config"] = new JsonObject { ["name"] = "model", ["layers"] = list } };
        return Read(model, layers);
    }

    /// <summary>A functional model from (class, name, config, inbound layer names) entries.</summary>
    public static KerasModel Functional(string[] inputs, int[][] inputShapes, string[] outputs, params (L Layer, string[] Inbound)[] layers)
    {
        var list = new JsonArray();
        for (var i = 0; i < inputs.Length; i++)
            list.Add(new JsonObject
            {
                ["class_name"] = "InputLayer", ["name"] = inputs[i],
                ["config"] = new JsonObject { ["name"] = inputs[i], ["batch_input_shape"] = Shape(inputShapes[i]) },
                ["inbound_nodes"] = new JsonArray(),
            });
        foreach (var (l, inbound) in layers)
        {
            var cfg = JsonSerializer.SerializeToNode(l.Config)!.AsObject();
            cfg["name"] = l.Name;
            var node = new JsonArray(inbound.Select(n => (JsonNode)new JsonArray(n, 0, 0, new JsonObject())).ToArray());
            list.Add(new JsonObject { ["class_name"] = l.Class, ["name"] = l.Name, ["config"] = cfg, ["inbound_nodes"] = new JsonArray(node) });
        }
        var model = new JsonObject
        {
            ["class_name"] = "Model",
            ["config"] = new JsonObject
            {
                ["name"] = "model", ["layers"] = list,
                ["input_layers"] = new JsonArray(inputs.Select(i => (JsonNode)new JsonArray(i, 0, 0)).ToArray()),
                ["output_layers"] = new JsonArray(outputs.Select(o => (JsonNode)new JsonArray(o, 0, 0)).ToArray()),
            },
        };
        return Read(model, layers.Select(l => l.Layer).ToArray());
    }

    static JsonArray Shape(int[] shape) => new(new JsonNode?[] { null }.Concat(shape.Select(d => (JsonNode?)d)).ToArray());

    static KerasModel Read(JsonObject model, L[] layers)
    {
        using var doc = JsonDocument.Parse(model.ToJsonString());
        var weights = layers.ToDictionary(l => l.Name, l => toMap(l.Weights.Select(w => (w.Var, w.Value))));
        return KerasConfigReader.Read(doc.RootElement,
                (_, name, _, _) => weights.TryGetValue(name, out var w) ? w : Map<string, Tensor>(), "test")
            .Match(m => m, e => throw new InvalidOperationException(e.Message));
    }

    public static Tensor T(int[] shape, params float[] values) => Tensor.Own(shape, values);

    /// <summary>Deterministic pseudo-random values in [lo, hi).</summary>
    public static Tensor Random(int[] shape, int seed, float lo = -1f, float hi = 1f)
    {
        var r = new Random(seed);
        return Tensor.Own(shape, Enumerable.Range(0, Shapes.Product(shape)).Select(_ => lo + (hi - lo) * (float)r.NextDouble()).ToArray());
    }

    /// <summary>
    /// Dense(16, relu) on 8 inputs (issue 18's probe-synapse case: with a synapse, the output probe sits on neurons and
    /// is filtered), optionally followed by a linear Dense(4) (the synapse then sits on the connection between them and
    /// the probe on a node is unfiltered).
    /// </summary>
    public static KerasModel DenseRelu16(bool linearHead = false)
    {
        var relu = new L("Dense", "relu16", new { units = 16, activation = "relu", use_bias = true },
            ("kernel", Random(new[] { 8, 16 }, 181, -0.6f, 1f)), ("bias", Random(new[] { 16 }, 182, -0.1f, 0.3f)));
        return linearHead
            ? Sequential(new[] { 8 }, relu, new L("Dense", "head", new { units = 4, activation = "linear", use_bias = true },
                ("kernel", Random(new[] { 16, 4 }, 183)), ("bias", Random(new[] { 4 }, 184, -0.2f, 0.2f))))
            : Sequential(new[] { 8 }, relu);
    }

    /// <summary>The repository root (the folder holding Pipeline.sln).</summary>
    public static string RepoRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Pipeline.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root");
        }
    }

    public static string Fixture(params string[] parts) => Path.Combine(new[] { RepoRoot, "tests", "fixtures" }.Concat(parts).ToArray());

    /// <summary>../shared beside the repository, when present.</summary>
    public static string? Shared
    {
        get
        {
            var p = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
            return Directory.Exists(p) ? p : null;
        }
    }

    public static T Ok<T>(this Either<LanguageExt.Common.Error, T> e) => e.Match(x => x, err => throw new Xunit.Sdk.XunitException(err.Message));

    public static T Ok<T>(this Fin<T> f) => f.Match(x => x, err => throw new Xunit.Sdk.XunitException(err.Message));

    public static LanguageExt.Common.Error Err<T>(this Fin<T> f) =>
        f.Match(_ => throw new Xunit.Sdk.XunitException("expected an error"), err => err);

    public static T Ok<T>(this Validation<LanguageExt.Common.Error, T> v) =>
        v.Match(x => x, errs => throw new Xunit.Sdk.XunitException(string.Join("\n", errs.Map(e => e.Message))));

    public static LanguageExt.Common.Error Err<T>(this Either<LanguageExt.Common.Error, T> e) =>
        e.Match(_ => throw new Xunit.Sdk.XunitException("expected an error"), err => err);

    public static void Close(Tensor expected, Tensor actual, float tolerance = 1e-4f)
    {
        Xunit.Assert.Equal(expected.Shape, actual.Shape);
        var scale = Math.Max(1f, expected.Length == 0 ? 0 : System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(expected.Span));
        for (var i = 0; i < expected.Length; i++)
            if (!(Math.Abs(expected[i] - actual[i]) <= tolerance * scale))
                throw new Xunit.Sdk.XunitException($"element {i}: expected {expected[i]}, got {actual[i]} (tolerance {tolerance * scale})");
    }
}
