using FsCheck;
using FsCheck.Fluent;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Legalize;
using Snn.Compiler.Lower;
using Snn.Properties.Support;
using Xunit;
using Xunit.Abstractions;
using Snn.Ops;

namespace Snn.Properties.Generators;

/// <summary>The generator reaches every layer kind and graph feature the brief asks for.</summary>
/// <remarks>These sample the generators from the run's seed (<see cref="Seeds"/>) rather than run as properties: the claims are about the sample as a whole.</remarks>
public sealed class GeneratorCoverage(ITestOutputHelper output) : PropertyTests(output)
{
    static readonly string[] Required =
    {
        "InputLayer", "Dense", "Conv2D", "AveragePooling2D", "GlobalAveragePooling2D", "Flatten", "Reshape", "Activation", "ReLU",
        "Add", "Concatenate", "Dropout", "BatchNormalization",
    };

    [Fact]
    public void Generator_covers_every_requested_layer_and_feature()
    {
        var models = KerasModels.Generator.Sample(300, Seeds.Start, 100);
        Output.WriteLine($"models: {models.Length}");
        var counts = new Dictionary<string, int>();
        void Count(string key, bool hit = true)
        {
            if (hit) counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        foreach (var m in models)
        {
            foreach (var n in m.Model.Nodes)
            {
                Count(n.ClassName);
                var c = n.Config;
                var format = c.String("data_format").IfNone("");
                Count($"{n.ClassName}/{format}", format != "");
                Count($"{n.ClassName}/{c.String("padding").IfNone("")}", n.ClassName == "Conv2D");
                Count($"Conv2D/stride{c.Ints("strides").Map(s => s[0]).IfNone(1)}", n.ClassName == "Conv2D");
                Count($"Conv2D/kernel{c.Ints("kernel_size").Map(s => s[0]).IfNone(0)}", n.ClassName == "Conv2D");
                Count($"{n.ClassName}/{c.Activation().IfNone("")}", n.ClassName is "Dense" or "Activation" or "Conv2D");
                Count($"Dense/no-bias", n.ClassName == "Dense" && c.Bool("use_bias").IfNone(true) == false);
                Count($"Concatenate/axis{c.Ints("axis").Map(s => s[0]).IfNone(0)}", n.ClassName == "Concatenate");
            }
            Count("two inputs", m.Model.Inputs.Count == 2);
            Count("two outputs", m.Model.Outputs.Count == 2);
            var legal = Compile.Run(CompileOptions.Default, m.Model).Get("compile").Legal;
            Count("BatchNormalization folded", legal.Layers.Exists(l => l.Conversion == Conversion.Folded));
            Count("BatchNormalization after Add (kept)", legal.Ops.Exists(o => o is LAffine a && legal.Op(a.Inputs.Head) is LSum));
            Count("Dense on rank>1", legal.Ops.Exists(o => o is LDense d && d.Shape.Count > 1));
            Count("layers>=6", m.LayerCount >= 6);
        }
        foreach (var (k, v) in counts.OrderBy(p => p.Key)) Output.WriteLine($"{k}: {v}");
        var missing = Required
            .Concat(new[]
            {
                "Conv2D/channels_last", "Conv2D/channels_first", "Conv2D/same", "Conv2D/valid", "Conv2D/stride1", "Conv2D/stride2",
                "Conv2D/kernel1", "Conv2D/kernel2", "Conv2D/kernel3", "Flatten/channels_first", "Flatten/channels_last",
                "AveragePooling2D/channels_first", "GlobalAveragePooling2D/channels_first",
                "Dense/relu", "Dense/linear", "Dense/sigmoid", "Dense/tanh", "Dense/softmax", "Dense/no-bias",
                "Activation/relu", "Activation/sigmoid", "Activation/tanh", "Activation/linear",
                "Concatenate/axis-1", "Concatenate/axis1", "Concatenate/axis2",
                "two inputs", "two outputs", "BatchNormalization folded", "BatchNormalization after Add (kept)",
            })
            .Where(k => counts.GetValueOrDefault(k) == 0).ToList();
        Assert.True(missing.Count == 0, "never generated: " + string.Join(", ", missing));
    }

    /// <summary>The models the optimizer properties draw make every fusing rewrite fire, in the modes they are run in.</summary>
    [Fact]
    public void Optimizer_properties_exercise_every_fusion()
    {
        var models = MaxPoolModels.Generator.Sample(200, Seeds.Start, 100);
        var counts = new Dictionary<string, int>();
        void Count(string key, bool hit)
        {
            if (hit) counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        foreach (var m in models)
            foreach (var (label, options) in Modes.All(m.Seed))
            {
                var p = Compile.Run(options, m.Model).Get(label).Program;
                var neuronOutputs = p.Ops.OfType<INeuronOp>().Select(n => n.Output).ToHashSet();
                Count($"{label}: MaxPooling2D", m.Model.Nodes.Exists(n => n.ClassName == "MaxPooling2D"));
                Count($"{label}: set-single-increments", p.Ops.Exists(o => o is PoolInc { Set: true }));
                Count($"{label}: pool-before-relu", p.Ops.Exists(o => o is SimNeurons sn && p.Signal(sn.J).Name.EndsWith(".pooled", StringComparison.Ordinal)));
                Count($"{label}: forward-copies", p.Ops.Exists(o => o is MaxPoolOp mp && neuronOutputs.Contains(mp.X)));
                Count($"{label}: fuse-bias-gain (alone or inside the neurons)", p.Ops.Exists(o => o is AffineSet or SimNeuronsAffine));
                Count($"{label}: fuse-neuron-input", p.Ops.Exists(o => o is SimNeuronsAffine));
            }
        foreach (var (k, v) in counts.OrderBy(p => p.Key)) Output.WriteLine($"{k}: {v}");
        var missing = new[]
            {
                "rate: set-single-increments", "rate: pool-before-relu", "spiking: forward-copies", "spiking: fuse-neuron-input",
                "spiking+lowpass(0.005): fuse-neuron-input",
            }
            .Where(k => counts.GetValueOrDefault(k) < 3).ToList();
        Assert.True(missing.Count == 0, "fired fewer than 3 times in 200 models: " + string.Join(", ", missing));
    }
}
