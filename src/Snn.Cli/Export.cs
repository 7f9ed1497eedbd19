using LanguageExt;
using LanguageExt.Common;
using Snn.Export;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn export MODEL --format NAME --out ...</c>: converts the model as <c>snn predict</c> would (same converter and
/// calibration options) and hands it to the format's exporter (<see cref="Exporters"/>).
/// </summary>
public static class Export
{
    static readonly string[] Values = { "--format", "--out", "--input-scale", "--steps", "--mode" };

    /// <summary>The <c>--format</c> the command line names (npz when none).</summary>
    static string FormatOf(IReadOnlyList<string> argv)
    {
        var format = "npz";
        for (var i = 0; i < argv.Count; i++)
        {
            if (argv[i].StartsWith("--format=", StringComparison.Ordinal)) format = argv[i]["--format=".Length..];
            else if (argv[i] == "--format" && i + 1 < argv.Count) format = argv[++i];
        }
        return format;
    }

    public static Either<Error, int> Run(string[] argv, TextWriter stdout, TextWriter stderr)
    {
        var name = FormatOf(argv);
        var found = Exporters.Find(name);
        // An unknown format is reported after the command line itself is checked (parsed as the default format's).
        var exporter = found.IfNone(Exporters.All[0]);
        return from a in Args.Parse(argv, Commands.Set(Values, exporter.ValueOptions, Args.ConverterValueOptions), Commands.Set(Args.ConverterFlags, exporter.Flags))
               from modelPath in Commands.Model(a)
               from _f in found.IsSome ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage($"--format supports {Exporters.Names}, got '{name}'"))
               from outPath in a.One("--out").ToEither(Errors.Usage(exporter.NeedsOut))
               from mode in exporter.NoRate.Match(
                   refusal => a.One("--mode").IfNone("spiking") == "spiking" ? Right<Error, Mode>(Mode.Spiking) : Left<Error, Mode>(Errors.Usage(refusal)),
                   () => ModeOf(a))
               from _o in a.CompileOptions()
               from _v in Commands.ValidateSim(a, mode)
               from inputScale in a.Float("--input-scale")
               from model in Commands.Load(a, modelPath)
               from request in Commands.Request(a)
               from written in Exporters.Export(new ExportRequest(exporter, request, mode == Mode.Spiking, inputScale,
                       "snn export " + string.Join(" ", argv.Select(Quote)), a.Flag("--compress")), model, outPath,
                   w => stderr.WriteLine("warning: " + w), Console.Error.WriteLine, Progress.Of(a).Callback(Console.Error))
               select Done(stdout, stderr, written.Lines, written.Warnings);
    }

    static Either<Error, Mode> ModeOf(Args a) =>
        a.One("--mode").IfNone("spiking") switch
        {
            "spiking" => Mode.Spiking,
            "rate" => Mode.Rate,
            var m => Errors.Usage($"export --mode must be spiking or rate, got '{m}'"),
        };

    /// <summary>An argument as a POSIX shell reads it back (for the command recorded in an export).</summary>
    static string Quote(string s) => s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./=:,+".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    static int Done(TextWriter stdout, TextWriter stderr, Seq<string> lines, Seq<string> warnings)
    {
        foreach (var w in warnings) stderr.WriteLine("warning: " + w);
        foreach (var line in lines) stdout.WriteLine(line);
        return 0;
    }
}
