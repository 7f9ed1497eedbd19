using System.Text.Json;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Hostile;

/// <summary>
/// Compile time is near-linear in layers: <c>snn inspect</c> on 20,000-layer models (a Sequential chain and a Functional
/// chain whose layers are listed in reverse order) finishes well inside the bound. Before the passes were made linear
/// these took over 300 s (the optimizer scanned every operator per signal, the Functional reader swept the pending
/// calls once per layer). The bound is generous for a loaded 2-core machine (about 10 s each when idle here); the
/// measured curve is in tests/bench/README.md.
/// </summary>
[Trait("Category", "Slow")]
public sealed class DeepGraphTests
{
    const int Layers = 20_000;
    static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    static string Write(object topology)
    {
        var dir = Directory.CreateTempSubdirectory("snn-deep-").FullName;
        var model = new Dictionary<string, object>
        {
            ["format"] = "layers-model",
            ["modelTopology"] = topology,
            ["weightsManifest"] = new[] { new { paths = Array.Empty<string>(), weights = Array.Empty<object>() } },
        };
        File.WriteAllText(Path.Combine(dir, "model.json"), JsonSerializer.Serialize(model));
        return Path.Combine(dir, "model.json");
    }

    static object Sequential(int n) => new
    {
        class_name = "Sequential",
        config = new
        {
            name = "deep",
            layers = new object[] { new { class_name = "InputLayer", config = new { batch_input_shape = new int?[] { null, 8 }, dtype = "float32", name = "in" } } }
                .Concat(Enumerable.Range(0, n).Select(i => i % 2 == 0
                    ? (object)new { class_name = "ReLU", config = new { name = $"r{i}" } }
                    : new { class_name = "Activation", config = new { activation = "relu", name = $"a{i}" } }))
                .ToArray(),
        },
    };

    static object ReversedFunctional(int n)
    {
        var chain = Enumerable.Range(0, n).Select(i => (object)new
        {
            class_name = "ReLU",
            name = $"r{i}",
            config = new { name = $"r{i}" },
            inbound_nodes = new[] { new[] { new object[] { i == 0 ? "in" : $"r{i - 1}", 0, 0, new { } } } },
        }).Reverse();
        var input = new { class_name = "InputLayer", name = "in", config = new { batch_input_shape = new int?[] { null, 8 }, dtype = "float32", name = "in" }, inbound_nodes = Array.Empty<object>() };
        return new
        {
            class_name = "Model",
            config = new
            {
                name = "deep",
                layers = new object[] { input }.Concat(chain).ToArray(),
                input_layers = new[] { new object[] { "in", 0, 0 } },
                output_layers = new[] { new object[] { $"r{n - 1}", 0, 0 } },
            },
        };
    }

    [Theory]
    [InlineData("sequential")]
    [InlineData("reversed functional")]
    public void Inspect_of_20000_layers_finishes_within_the_bound(string kind)
    {
        var path = Write(kind == "sequential" ? Sequential(Layers) : ReversedFunctional(Layers));
        try
        {
            var r = BoundedRun.Snn(Bound, 2L << 30, "inspect", path, "--json");
            Assert.False(r.TimedOut, $"snn inspect on {Layers} layers ({kind}) ran past {Bound.TotalSeconds} s");
            Assert.True(r.Code == 0, $"exit {r.Code}: {r.Err}");
            // Every layer is there: the report lists the input and each ReLU.
            using var doc = JsonDocument.Parse(r.Out);
            Assert.Equal(Layers + 1, doc.RootElement.GetProperty("layers").GetArrayLength());
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, recursive: true); }
    }
}
