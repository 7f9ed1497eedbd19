using System.Text;
using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using Snn.Compiler.Saved;

namespace Snn.Cli;

/// <summary>
/// <c>snn export MODEL --format npz|nengo|nir --out ...</c>: the npz format (the compiler's <see cref="NpzNetwork"/>), and
/// the dispatch to the Nengo and NIR exports.
/// </summary>
public static class Export
{
    static readonly string[] Values = { "--format", "--out", "--input-scale", "--steps", "--mode" };

    public static Either<Error, int> Run(string[] argv, TextWriter stdout, TextWriter stderr) =>
        ExportNengo.Requested(argv) ? ExportNengo.Run(argv, stdout, stderr)
        : ExportNir.Requested(argv) ? ExportNir.Run(argv, stdout, stderr)
        : RunNpz(argv, stdout, stderr);

    static Either<Error, int> RunNpz(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Commands.Set(Values, Args.ConverterValueOptions), Commands.Set(Args.ConverterFlags, new[] { "--compress" }))
        from modelPath in Commands.Model(a)
        from _f in a.One("--format").IfNone("npz") == "npz"
            ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage($"--format supports npz, nengo or nir, got '{a.One("--format").IfNone("")}'"))
        from outPath in a.One("--out").ToEither(Errors.Usage("export needs --out FILE.npz"))
        from mode in ModeOf(a)
        from _o in a.CompileOptions()
        from _v in Commands.ValidateSim(a, mode)
        from model in Commands.Load(a, modelPath)
        from options in Commands.OptionsOf(a, model)
        from keras in model.Keras()
        from legalized in Legalize.Run(options.Legalize, keras).ToEither().MapLeft(Errors.Many)
        from _l in NpzNetwork.Exportable(legalized)
        from steps in Commands.Steps(a, mode)
        from run in Commands.Prepare(a, model, mode, steps, stderr)
        let legal = options.Convert.MaxPool == MaxPoolMethod.Pre ? Converter.MaxPoolBeforeActivation(legalized) : legalized
        from calibration in Commands.CalibrationOf(a, model, steps, run.Net.Scales)
        from arrays in NpzNetwork.Write(outPath, a.Flag("--compress"), new NpzSource(model.ModelName, model.SourceName, mode == Mode.Spiking),
            options, calibration, run.Net.Network, legal)
        select Done(stdout, outPath, legal, arrays);

    internal static Either<Error, Mode> ModeOf(Args a) =>
        a.One("--mode").IfNone("spiking") switch
        {
            "spiking" => Mode.Spiking,
            "rate" => Mode.Rate,
            var m => Errors.Usage($"export --mode must be spiking or rate, got '{m}'"),
        };

    static int Done(TextWriter stdout, string path, LegalGraph legal, int arrays)
    {
        stdout.WriteLine($"wrote {path}: {legal.Ops.Count} ops, {arrays} arrays + structure.json ({NpzNetwork.FormatName} v{NpzNetwork.FormatVersion})");
        return 0;
    }
}
