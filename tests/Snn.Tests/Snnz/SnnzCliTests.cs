using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using Snn.Compiler.Saved;

namespace Snn.Tests.Snnz;

/// <summary>
/// <c>snn convert MODEL --out NET.snnz</c>, then every command on NET.snnz against the same command on MODEL with the
/// same converter options: identical outputs (predict, evaluate, verify, inspect, export), and the usage and file errors.
/// </summary>
public class SnnzCliTests
{
    static string Temp(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return Path.Combine(dir, name);
    }

    static string Run(params string[] args)
    {
        var (code, output, err) = CliRunner.Run(args);
        Assert.True(code == 0, $"snn {string.Join(" ", args)} exited {code}: {err}");
        return output;
    }

    static void OneParagraph(string err)
    {
        Assert.StartsWith("error: ", err);
        Assert.DoesNotContain("   at ", err);
    }

    static readonly string Dir = TestModels.Fixture("tfjs", "conv_valid_same");
    static readonly string Model = Path.Combine(Dir, "model.json");
    static readonly string Input = Path.Combine(Dir, "input_0.npy");

    /// <summary>Labels for the fixture's three samples (any classes do: both sides must agree).</summary>
    static string Labels()
    {
        var path = Temp("labels.npy");
        Npy.WriteFloat32(path, Tensor.Vector(0, 3, 1));
        return path;
    }

    public static TheoryData<string, string> Options() => new()
    {
        { "scaled, synapse, gate, seed", "--scale-firing-rates 30 --synapse 0.003 --max-pool gate --seed 5 --initial-voltage half" },
        // Per layer: the npz export step below has no per-channel scales (the calibrated default neuron, SignedIF, stays).
        { "calibrated signed IF, per layer", $"--calibrate {Path.Combine(TestModels.Fixture("tfjs", "conv_valid_same"), "input_0.npy")} --input-scale 0.5 --percentile 99 --calib-samples 2 --per-layer" },
        { "calibrated signed IF, resolution 3", $"--calibrate {Path.Combine(TestModels.Fixture("tfjs", "conv_valid_same"), "input_0.npy")} --input-scale 0.5 --calib-samples 2 --per-layer --resolution 3" },
        { "calibrated IF", $"--calibrate {Path.Combine(TestModels.Fixture("tfjs", "conv_valid_same"), "input_0.npy")} --input-scale 0.5 --percentile 99 --calib-samples 2 --per-layer --neuron if" },
        { "swaps", "--swap relu=LIF --swap tanh=SpikingRectifiedLinear --reset zero --scale-firing-rates conv2d_Conv2D2=40" },
    };

    /// <summary>--input-scale scales calibration data and, on every command, the data: a saved network's commands take it too.</summary>
    static string[] DataOptions(string[] options)
    {
        var i = System.Array.IndexOf(options, "--input-scale");
        return i < 0 ? System.Array.Empty<string>() : new[] { "--input-scale", options[i + 1] };
    }

    static (int Code, string Out) Outcome(params string[] args)
    {
        var (code, output, _) = CliRunner.Run(args);
        return (code, output);
    }

    [Theory]
    [MemberData(nameof(Options))]
    public void SnnzCommandsOnTheSavedNetworkMatchTheKerasModel(string label, string optionLine)
    {
        _ = label;
        var options = optionLine.Split(' ');
        var data = DataOptions(options);
        var net = Temp("net.snnz");
        Assert.Contains("wrote " + net, Run(new[] { "convert", Model, "--out", net }.Concat(options).ToArray()));
        var labels = Labels();
        string[] Saved(params string[] args) => args.Concat(data).ToArray();
        string[] Keras(params string[] args) => args.Concat(options).ToArray();

        foreach (var mode in new[] { "keras", "rate", "spiking" })
        {
            var a = Temp("a");
            var b = Temp("b");
            // Options that do not apply to a mode are refused (issue 16): keras mode takes no converter options and no
            // steps, rate mode takes steps only with a synapse.
            var steps = mode == "spiking" || (mode == "rate" && options.Contains("--synapse")) ? new[] { "--steps", "12" } : System.Array.Empty<string>();
            Run((mode == "keras" ? new[] { "predict", Model, "--input", Input, "--output", a, "--mode", mode }.Concat(data).ToArray()
                : Keras("predict", Model, "--input", Input, "--output", a, "--mode", mode)).Concat(steps).ToArray());
            Run(Saved("predict", net, "--input", Input, "--output", b, "--mode", mode).Concat(steps).ToArray());
            Assert.Equal(File.ReadAllBytes(Path.Combine(a, "output_0.npy")), File.ReadAllBytes(Path.Combine(b, "output_0.npy")));
        }
        // predict on a saved network defaults to spiking
        var c = Temp("c");
        var d = Temp("d");
        Run(Keras("predict", Model, "--input", Input, "--output", c, "--mode", "spiking"));
        Run(Saved("predict", net, "--input", Input, "--output", d));
        Assert.Equal(File.ReadAllBytes(Path.Combine(c, "output_0.npy")), File.ReadAllBytes(Path.Combine(d, "output_0.npy")));

        Assert.Equal(Run(Keras("evaluate", Model, "--data", Input, "--labels", labels, "--steps", "9", "--json")),
            Run(Saved("evaluate", net, "--data", Input, "--labels", labels, "--steps", "9", "--json")));
        Assert.Equal(Run(Keras("evaluate", Model, "--data", Input, "--labels", labels, "--readout", "count", "--encoding", "poisson")),
            Run(Saved("evaluate", net, "--data", Input, "--labels", labels, "--readout", "count", "--encoding", "poisson")));
        Assert.Equal(Outcome(Keras("verify", Model, "--input", Input)), Outcome(Saved("verify", net, "--input", Input)));

        var inspect = Run(Keras("inspect", Model));
        var saved = Run("inspect", net);
        Assert.StartsWith(inspect, saved);
        Assert.Contains("saved network (snnz v1) of model.json (tfjs)", saved);

        var ea = Temp("a.npz");
        var eb = Temp("b.npz");
        Run(Keras("export", Model, "--out", ea));
        Run(Saved("export", net, "--out", eb));
        Assert.Equal(File.ReadAllBytes(ea), File.ReadAllBytes(eb));
        Run(Keras("export", Model, "--out", ea, "--mode", "rate"));
        Run(Saved("export", net, "--out", eb, "--mode", "rate"));
        Assert.Equal(File.ReadAllBytes(ea), File.ReadAllBytes(eb));
    }

    [Fact]
    public void SnnzBiasShiftUsesConvertSteps()
    {
        var data = Input;
        var net = Temp("net.snnz");
        var options = new[] { "--calibrate", data, "--bias-shift", "--neuron", "nengo" };
        Run(new[] { "convert", Model, "--out", net, "--steps", "16" }.Concat(options).ToArray());
        var labels = Labels();
        Assert.Equal(Run(new[] { "evaluate", Model, "--data", data, "--labels", labels, "--steps", "16", "--json" }.Concat(options).ToArray()),
            Run("evaluate", net, "--data", data, "--labels", labels, "--steps", "16", "--json"));
    }

    [Fact]
    public void SnnzBenchAndReportRunOnASavedNetwork()
    {
        var net = Temp("net.snnz");
        Run("convert", Model, "--out", net, "--scale-firing-rates", "100");
        using var doc = System.Text.Json.JsonDocument.Parse(Run("bench", net, "--data", Input, "--steps", "4", "--batch", "3", "--threads", "1", "--json"));
        Assert.Equal("spiking", doc.RootElement.GetProperty("mode").GetString());
        var html = Temp("report.html");
        Run("report", net, "--data", Input, "--labels", Labels(), "--out", html, "--steps", "4");
        var text = File.ReadAllText(html);
        Assert.Contains("saved network", text);
        Assert.Contains("scale 100", text);
    }

    public static TheoryData<string> Commands() => new() { "predict", "evaluate", "verify", "inspect", "report", "bench", "export" };

    [Theory]
    [MemberData(nameof(Commands))]
    public void SnnzConverterOptionsWithASavedNetworkAreAUsageError(string command)
    {
        var net = Temp("net.snnz");
        Run("convert", Model, "--out", net);
        var own = command switch
        {
            "predict" => new[] { "--input", Input, "--output", Temp("o") },
            "evaluate" => new[] { "--data", Input, "--labels", Labels() },
            "verify" => new[] { "--input", Input },
            "report" => new[] { "--data", Input, "--labels", Labels(), "--out", Temp("r.html") },
            "bench" => new[] { "--data", Input },
            "export" => new[] { "--out", Temp("e.npz") },
            _ => System.Array.Empty<string>(),
        };
        var (code, _, err) = CliRunner.Run(new[] { command, net }.Concat(own).Concat(new[] { "--swap", "relu=LIF", "--dt", "0.002", "--no-fallback" }).ToArray());
        Assert.Equal(2, code);
        OneParagraph(err);
        Assert.Contains("--swap, --dt, --no-fallback cannot be used with the saved network", err);
        Assert.Contains("convert the Keras model again", err);
    }

    [Fact]
    public void SnnzNewerVersionExitsThree()
    {
        var net = Temp("net.snnz");
        Run("convert", Model, "--out", net);
        var newer = Temp("newer.snnz");
        File.WriteAllBytes(newer, SnnzTestFiles.EditJson(File.ReadAllBytes(net), r => r["version"] = 2));
        var (code, _, err) = CliRunner.Run("inspect", newer);
        Assert.Equal(3, code);
        OneParagraph(err);
        Assert.Contains("format version 2", err);
        Assert.Contains("Upgrade snn", err);
    }

    [Fact]
    public void SnnzDamagedFileExitsThree()
    {
        var net = Temp("net.snnz");
        Run("convert", Model, "--out", net);
        var bytes = File.ReadAllBytes(net);
        var damaged = Temp("damaged.snnz");
        File.WriteAllBytes(damaged, bytes[..(bytes.Length / 2)]);
        var (code, _, err) = CliRunner.Run("predict", damaged, "--input", Input, "--output", Temp("o"));
        Assert.Equal(3, code);
        OneParagraph(err);
        Assert.Contains("Cannot read saved network", err);
        var (missing, _, err2) = CliRunner.Run("evaluate", Temp("nothing.snnz"), "--data", Input, "--labels", Input);
        Assert.Equal(3, missing);
        Assert.Contains("file not found", err2);
    }

    [Fact]
    public void SnnzFallbackLayersCannotBeSavedAndAreAllNamed()
    {
        var (code, _, err) = CliRunner.Run("convert", Path.Combine(TestModels.Fixture("tfjs", "fallback_layers"), "model.json"), "--out", Temp("f.snnz"));
        Assert.Equal(3, code);
        OneParagraph(err);
        foreach (var cls in new[] { "Multiply", "Maximum", "ELU", "ThresholdedReLU", "Activation" })
            Assert.Contains($"({cls})", err);
        Assert.Contains("6 problems", err);
        Assert.Contains("cannot hold", err);
    }

    [Theory]
    [InlineData("convert")]
    [InlineData("convert MODEL")]
    [InlineData("convert MODEL --out net.npz")]
    [InlineData("convert NET --out x.snnz")]
    [InlineData("convert MODEL --out x.snnz --mode rate")]
    public void SnnzConvertUsageErrorsExitTwo(string line)
    {
        var args = line.Split(' ').Select(a => a switch { "MODEL" => Model, "NET" => Temp("n.snnz"), "x.snnz" => Temp("x.snnz"), _ => a }).ToArray();
        var (code, _, err) = CliRunner.Run(args);
        Assert.Equal(2, code);
        OneParagraph(err);
    }

    [Fact]
    public void SnnzWithoutAKerasModelRefusesKerasModeClearly()
    {
        var (model, _) = Snn.Compiler.Keras.ModelFile.ImportWithSource(Model).Ok();
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() };
        var compiled = Compile.Run(options, model).Ok();
        var net = Temp("bare.snnz");
        NetworkFile.Write(net, SavedNetwork.Of(compiled, options, None).Ok()).Ok();
        var (code, _, err) = CliRunner.Run("predict", net, "--input", Input, "--output", Temp("o"), "--mode", "keras");
        Assert.Equal(2, code);
        Assert.Contains("holds no Keras model", err);
        Run("predict", net, "--input", Input, "--output", Temp("o"), "--mode", "rate");
    }

    // ------------------------------------------------------------------ real models

    public static TheoryData<string, string, string> RealModels() => new()
    {
        { "snn_toolbox/lenet5_mnist_99.14.h5", "mnist/x_calib_nchw_u8.npy", "mnist/y_test.npy" },
        { "image_prediction_on_Fashion_MNIST/fashion_mnist_model.keras", "fashion-mnist/x_test_nhwc_u8.npy", "fashion-mnist/y_test.npy" },
        { "MNIST-Digit-WebApp/tfjs/model.json", "mnist/x_calib_nhwc_u8.npy", "mnist/y_test.npy" },
    };

    /// <summary>Real .h5, .keras and TF.js files, calibrated on 100 images: evaluate on a saved network equals evaluate on the model.</summary>
    [SharedTheory]
    [MemberData(nameof(RealModels))]
    public void SnnzRealModelsEvaluateIdentically(string model, string images, string labels)
    {
        var shared = TestModels.Shared!;
        var path = Path.Combine(shared, "models", "real", model);
        var x = Npy.Read(Path.Combine(shared, "data", images)).Ok();
        var y = Npy.Read(Path.Combine(shared, "data", labels)).Ok();
        var n = 100;
        var size = x.Length / x.Shape[0];
        var xs = Temp("x.npy");
        var ys = Temp("y.npy");
        Npy.WriteFloat32(xs, Tensor.Copy(new[] { n }.Concat(x.Shape.Skip(1)).ToArray(), x.Span[..(n * size)]));
        Npy.WriteFloat32(ys, Tensor.Copy(new[] { n }, y.Span[..n]));
        var options = new[] { "--calibrate", xs, "--input-scale", "1/255" };
        var net = Temp("real.snnz");
        Run(new[] { "convert", path, "--out", net }.Concat(options).ToArray());
        var fromModel = Run(new[] { "evaluate", path, "--data", xs, "--labels", ys, "--steps", "16", "--json" }.Concat(options).ToArray());
        var fromNet = Run("evaluate", net, "--data", xs, "--labels", ys, "--steps", "16", "--input-scale", "1/255", "--json");
        Assert.Equal(fromModel, fromNet);
        using var doc = System.Text.Json.JsonDocument.Parse(fromNet);
        Assert.True(doc.RootElement.GetProperty("keras_accuracy").GetDouble() > 0.8);
    }
}
