using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Tests.Coverage;

/// <summary>Custom converters (NengoDL's AddOne example), hand-built networks and function nodes.</summary>
public class ExtensionTests
{
    /// <summary>NengoDL test_custom_converter: a layer computing inputs + 1, built from a passthrough node and a constant node.</summary>
    sealed class AddOneConverter : ILayerConverter
    {
        public Either<Error, Arr<int>> OutputShape(KerasNode layer, Seq<Arr<int>> inputShapes) => inputShapes.Head;

        public Either<Error, string> Convert(KerasNode layer, LayerBuilder b)
        {
            var size = Shapes.Product(b.InputShapes.Head);
            var output = b.AddPassNode("out", size);
            b.Connect(b.Inputs.Head, output, new IdentityT(size));
            var ones = b.AddConstNode("ones", Tensor.Filled(new[] { size }, 1f));
            b.Connect(ones, output, new IdentityT(size));
            return output;
        }
    }

    static KerasModel AddOneModel() => Sequential(new[] { 2, 2 }, new L("AddOne", "add_one", new { }));

    [Fact]
    public void CustomConverterConvertsARegisteredClass()
    {
        var registry = ConverterRegistry.Empty.Register("AddOne", new AddOneConverter());
        var options = CompileOptions.Default with { Legalize = new LegalizeOptions(AllowFallback: false, Registry: registry) };
        var compiled = Compile.Run(options, AddOneModel(), verify: true).Ok();
        Assert.Equal(Conversion.Custom, compiled.Legal.Layers.Last.Conversion);
        var x = Random(new[] { 3, 2, 2 }, 1);
        var y = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), SimOptions.Default).Ok().Head;
        TestModels.Close(x.Map(v => v + 1f), y, 1e-6f);
    }

    [Fact]
    public void ReRegisteringWarns()
    {
        var registry = ConverterRegistry.Empty.Register("AddOne", new AddOneConverter()).Register("AddOne", new AddOneConverter());
        Assert.Contains("Layer 'AddOne' already has a converter. Overwriting.", registry.Warnings);
        var options = CompileOptions.Default with { Legalize = new LegalizeOptions(Registry: registry) };
        Assert.Contains(Compile.Run(options, AddOneModel()).Ok().Network.Warnings, w => w.Contains("already has a converter"));
    }

    [Fact]
    public void UnregisteredCustomClassIsRefusedWithoutFallback()
    {
        var error = Compile.Run(CompileOptions.Default with { Legalize = new LegalizeOptions(AllowFallback: false) }, AddOneModel()).Err();
        Assert.Contains("AddOne does not have a registered converter", error.Message);
        Assert.Contains("register a custom converter", error.Message);
    }

    [Fact]
    public void HandBuiltNetworkRunsThroughLowerOptimizeAndInterpret()
    {
        // x -> Dense(W) into a ReLU ensemble (bias b) -> function node squaring -> probe; and a filtered probe on the ensemble.
        var w = T(new[] { 2, 3 }, 1f, -1f, 0.5f, 2f, 1f, -2f);
        var bias = T(new[] { 3 }, 0.1f, 0.2f, -0.3f);
        var nb = new NetworkBuilder();
        var x = nb.Input("x", 2);
        var ens = nb.Ensemble("relu", 3, new RectifiedLinear(), bias: bias);
        nb.Connect(x, ens, new DenseT(w, 1), trainable: true);
        var square = nb.Function("square", 3, 3, (input, output) => { for (var i = 0; i < 3; i++) output[i] = input[i] * input[i]; });
        nb.Connect(ens, square);
        nb.Probe(square);
        nb.Probe(ens, synapse: new Lowpass(0.01f));
        var net = nb.Build().Ok();
        Assert.True(net.Connections.Head.Trainable);
        var program = Snn.Compiler.Optimize.Optimize.Run(Snn.Compiler.Optimize.OptimizeOptions.Default,
            Snn.Compiler.Lower.Lower.Run(Snn.Compiler.Lower.LowerOptions.Default, net).Ok()).Ok();
        var input = T(new[] { 1, 2 }, 0.5f, -1f);
        var outs = Interpreter.Run(program, Seq1(input), new SimOptions(Steps: 3), new[] { 1, 3 }).Ok();
        var relu = new float[3];
        for (var j = 0; j < 3; j++) relu[j] = MathF.Max(0, bias[j] + input[0] * w[j] + input[1] * w[3 + j]);
        for (var j = 0; j < 3; j++)
        {
            Assert.Equal(relu[j] * relu[j], outs[0][0][j], 5);
            // ZOH lowpass probe after t steps: relu * (1 - exp(-t dt / tau)).
            Assert.Equal(relu[j] * (1 - Math.Exp(-3 * 0.001 / 0.01)), outs[1][1][j], 5);
        }
    }
}
