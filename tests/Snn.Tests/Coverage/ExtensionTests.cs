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

    /// <summary>A custom converter whose layer is one function node, y = 2x + 1, written as a lambda (capturing the size).</summary>
    sealed class TwiceplusOneConverter : ILayerConverter
    {
        public Either<Error, Arr<int>> OutputShape(KerasNode layer, Seq<Arr<int>> inputShapes) => inputShapes.Head;

        public Either<Error, string> Convert(KerasNode layer, LayerBuilder b)
        {
            var size = Shapes.Product(b.InputShapes.Head);
            var f = b.AddFunction("f", size, size, (x, y) => { for (var i = 0; i < size; i++) y[i] = 2 * x[i] + 1; });
            b.Connect(b.Inputs.Head, f, new IdentityT(size));
            return f;
        }
    }

    /// <summary>Compile options with a fresh registry (a new converter object) mapping AddOne to <see cref="TwiceplusOneConverter"/>.</summary>
    static CompileOptions WithFunctionConverter() => CompileOptions.Default with
    {
        Legalize = new LegalizeOptions(AllowFallback: false, Registry: ConverterRegistry.Empty.Register("AddOne", new TwiceplusOneConverter())),
    };

    [Fact]
    public void CustomConverterFunctionNodeRunsWithTheCompiledFunctions()
    {
        var compiled = Compile.Run(WithFunctionConverter(), AddOneModel(), verify: true).Ok();
        var node = compiled.Network.Nodes.OfType<FunctionNode>().Single();
        Assert.Equal("add_one.f", node.Function);
        Assert.True(compiled.Functions.Find(node.Function).IsSucc);
        var x = Random(new[] { 3, 2, 2 }, 2);
        TestModels.Close(x.Map(v => 2 * v + 1), Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), SimOptions.Default).Ok().Head, 1e-6f);
        TestModels.Close(x.Map(v => 2 * v + 1), NetEval.Run(compiled.Functions, compiled.Network, Seq1(x)).Ok().Head, 1e-6f);

        // Without the table the program has no code for the node: the run says so, as a value.
        var missing = Interpreter.Run(compiled.Program, Seq1(x), SimOptions.Default).Err();
        Assert.Equal(Errors.FunctionNodeCode, missing.Code);
        Assert.Contains("Function node 'add_one.f'", missing.Message);
    }

    /// <summary>
    /// The IR holds data, not code: two compilations of the same model (imported twice; the custom converter registered
    /// afresh, building its function from a new lambda) give equal IR at every stage, and the same function names.
    /// </summary>
    [Fact]
    public void TwoCompilationsWithFallbackAndCustomLayersGiveEqualIr()
    {
        Compiled Fallback() => Compile.Run(CompileOptions.Default,
            ModelFile.Import(Path.Combine(Fixture("tfjs", "fallback_layers"), "model.json")).Ok(), verify: true).Ok();
        Compiled Custom() => Compile.Run(WithFunctionConverter(), AddOneModel(), verify: true).Ok();
        foreach (var (a, b) in new[] { (Fallback(), Fallback()), (Custom(), Custom()) })
        {
            Assert.Contains(a.Network.Nodes, n => n is FunctionNode);
            Assert.Contains(a.Legal.Ops, o => o is LFallback or LCustom);
            Assert.Equal(a.Legal, b.Legal);
            Assert.Equal(a.Network, b.Network);
            Assert.Equal(a.Lowered, b.Lowered);
            Assert.Equal(a.Program, b.Program);
            Assert.Equal(a.Functions.Functions.Keys, b.Functions.Functions.Keys);
        }
    }

    [Fact]
    public void ConverterWithoutTheCustomLayersConverterRefusesIt()
    {
        var compiled = Compile.Run(WithFunctionConverter(), AddOneModel()).Ok();
        var custom = compiled.Legal.Ops.OfType<LCustom>().Single();
        Assert.Equal("AddOne", custom.Converter);
        var error = Converter.Run(ConvertOptions.Default, ConverterRegistry.Empty, compiled.Legal).Err();
        Assert.Equal(Errors.UnsupportedLayerCode, error.Code);
        Assert.Equal("Layer 'add_one' (AddOne): AddOne does not have a registered converter", error.Message);
    }

    [Fact]
    public void FunctionNodeFailuresComeBackAsErrors()
    {
        // A hand-written function that throws on negative input: the run and the rate evaluation return its error.
        var nb = new NetworkBuilder();
        var x = nb.Input("x", 2);
        var f = nb.Function("sqrt", 2, 2, (input, output) =>
        {
            for (var i = 0; i < 2; i++) output[i] = input[i] >= 0 ? MathF.Sqrt(input[i]) : throw new ArgumentException("negative input");
        });
        nb.Connect(x, f);
        nb.Probe(f);
        var net = nb.Build().Ok();
        var program = Snn.Compiler.Lower.Lower.Run(Snn.Compiler.Lower.LowerOptions.Default, net).Ok();
        var good = T(new[] { 2, 2 }, 4f, 9f, 1f, 0f);
        Assert.Equal(new[] { 2f, 3f, 1f, 0f }, Interpreter.Run(program, nb.Functions, Seq1(good), SimOptions.Default).Ok().Head.ToArray());
        var bad = T(new[] { 3, 2 }, 4f, 9f, 1f, -1f, 1f, 1f);
        foreach (var error in new[]
                 {
                     Interpreter.Run(program, nb.Functions, Seq1(bad), new SimOptions(Steps: 2, BatchSize: 1, Threads: 2)).Err(),
                     NetEval.Run(nb.Functions, net, Seq1(bad)).Err(),
                 })
        {
            Assert.Equal(Errors.FunctionNodeCode, error.Code);
            Assert.Equal("Function node 'sqrt': negative input", error.Message);
        }

        // The fallback function: a layer the reference evaluator cannot evaluate gives its error, not an exception.
        var layer = new KerasNode("odd", "odd", "NoSuchLayer", LayerConfig.Parse("{}"), Map<string, Tensor>(), Seq<KerasValue>());
        var fallback = new KerasLayerFunction(layer, Seq1(Arr.create(2)), Arr.create(2));
        var failed = fallback.Apply(new float[2], new float[2]);
        Assert.True(failed.IsFail);
        Assert.Equal(Errors.FunctionNodeCode, failed.Err().Code);
        Assert.StartsWith("Function node 'odd': ", failed.Err().Message);
    }

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
        var outs = Interpreter.Run(program, nb.Functions, Seq1(input), new SimOptions(Steps: 3), new[] { 1, 3 }).Ok();
        var relu = new float[3];
        for (var j = 0; j < 3; j++) relu[j] = MathF.Max(0, bias[j] + input[0] * w[j] + input[1] * w[3 + j]);
        for (var j = 0; j < 3; j++)
        {
            Assert.Equal(relu[j] * relu[j], outs[0][0][j], 5);
            // ZOH lowpass probe, read before the filter's update in the step as Nengo reads it: after t steps
            // relu * (1 - exp(-(t - 1) dt / tau)), so 0 after the first step.
            Assert.Equal(0f, outs[0][1][j]);
            Assert.Equal(relu[j] * (1 - Math.Exp(-2 * 0.001 / 0.01)), outs[1][1][j], 5);
        }
    }
}
