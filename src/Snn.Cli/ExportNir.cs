using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Hdf5;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn export MODEL --format nir --out net.nir</c>: compiles the spiking network (with calibration when asked)
/// and writes it as a NIR graph (<see cref="Nir"/>; README "Export to NIR"). Layers NIR cannot express are
/// refused together in one error (exit 3).
/// </summary>
public static class ExportNir
{
    static readonly string[] Values = { "--format", "--out", "--input-scale", "--steps", "--mode" };

    /// <summary>Whether the command line asks for <c>--format nir</c>.</summary>
    public static bool Requested(IReadOnlyList<string> argv)
    {
        for (var i = 0; i < argv.Count; i++)
        {
            if (argv[i] == "--format=nir") return true;
            if (argv[i] == "--format" && i + 1 < argv.Count && argv[i + 1] == "nir") return true;
        }
        return false;
    }

    public static Either<Error, int> Run(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Commands.Set(Values, Args.ConverterValueOptions), Commands.Set(Args.ConverterFlags))
        from modelPath in Commands.Model(a)
        from outPath in a.One("--out").ToEither(Errors.Usage("export --format nir needs --out FILE.nir"))
        from _m in a.One("--mode").IfNone("spiking") == "spiking"
            ? Right<Error, Unit>(unit)
            : Left<Error, Unit>(Errors.Usage("export --format nir writes spiking neurons (IF/LIF): --mode must be spiking"))
        from _o in a.CompileOptions()
        from _v in Commands.ValidateSim(a, Mode.Spiking)
        from model in Commands.Load(a, modelPath)
        from options in Commands.OptionsOf(a, model)
        from keras in model.Keras()
        from legalized in Snn.Compiler.Legalize.Legalize.Run(options.Legalize, keras).ToEither().MapLeft(Errors.Many)
        from steps in Commands.Steps(a, Mode.Spiking)
        from run in Commands.Prepare(a, model, Mode.Spiking, steps, stderr)
        let legal = options.Convert.MaxPool == MaxPoolMethod.Pre ? Converter.MaxPoolBeforeActivation(legalized) : legalized
        from graph in Nir.Build(new NirOptions(Metadata(a, model, options)), legal, run.Net.Network)
        from _w in Nir.Write(outPath, graph)
        select Done(stdout, outPath, graph);

    /// <summary>Where the network came from and how it was converted, as graph metadata.</summary>
    static Map<string, H5Value> Metadata(Args a, Loaded model, CompileOptions options)
    {
        var m = Map(
            ("source", H5Value.Text(model.SourceName)),
            ("model", H5Value.Text(model.ModelName)),
            ("max_pool", H5Value.Text(options.Convert.MaxPool.ToString().ToLowerInvariant())),
            ("initial_voltage", H5Value.Text(options.Convert.InitialVoltage.ToString().ToLowerInvariant())),
            ("seed", H5Value.Scalar((long)options.Convert.Seed)));
        if (a.Float("--input-scale").Match(s => s, _ => None).TryGet(out var scale))
            m = m.Add("input_scale", H5Value.Scalar((double)scale));
        if (a.One("--calibrate").TryGet(out var calib))
            m = m.Add("calibration_data", H5Value.Text(Path.GetFileName(calib)));
        return m;
    }

    static int Done(TextWriter stdout, string path, NirGraph graph)
    {
        stdout.WriteLine($"wrote {path}: {graph.Nodes.Count} nodes, {graph.Edges.Count} edges ({Nir.FormatName} {Nir.Version})");
        return 0;
    }
}
