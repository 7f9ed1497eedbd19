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
    /// <summary>Runs <c>snn export</c> with the arguments that follow its name.</summary>
    public static Either<Error, int> Run(string[] argv, TextWriter stdout, TextWriter stderr) =>
        CommandLine.Parse("export", argv).Bind(a => Run(a, stdout, stderr));

    public static Either<Error, int> Run(Args a, TextWriter stdout, TextWriter stderr)
    {
        var name = a.One("--format").IfNone("npz");
        var found = Exporters.Find(name);
        // An unknown format is reported after the command line itself is checked (as the default format's).
        var exporter = found.IfNone(Exporters.All[0]);
        return from modelPath in Commands.Model(a)
               from _f in found.IsSome ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage($"--format supports {Exporters.Names}, got '{name}'"))
               from _x in Specific(a, exporter)
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
                       "snn export " + string.Join(" ", a.Tokens.Select(Quote)), a.Flag("--compress")), model, outPath,
                   w => stderr.WriteLine("warning: " + w), stderr.WriteLine, a.Progress.Callback)
               select Done(stdout, stderr, written.Lines, written.Warnings);
    }

    /// <summary>Options of another format's exporter (export accepts every exporter's) are usage errors for this one.</summary>
    static Either<Error, Unit> Specific(Args a, IExporter exporter)
    {
        var others = Exporters.All.SelectMany(x => x.ValueOptions.Concat(x.Flags)).Except(exporter.ValueOptions.Concat(exporter.Flags))
            .Where(o => a.All(o).Count > 0 || a.Flag(o)).Distinct().ToList();
        return others.Count == 0 ? unit : Errors.Usage(
            $"{string.Join(", ", others)} {(others.Count == 1 ? "does" : "do")} not apply to --format {exporter.Name}" +
            $" (it applies to --format {string.Join(" or ", Exporters.All.Where(x => x.ValueOptions.Concat(x.Flags).Contains(others[0])).Select(x => x.Name))})");
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
