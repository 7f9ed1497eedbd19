using System.Collections.Immutable;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Legalize;
using Snn.Compiler.Saved;
using static LanguageExt.Prelude;

namespace Snn.Export;

/// <summary>
/// A converted network to export and what the formats record about it: the loaded model and its options, the network
/// (spiking or its rate form, simulated for <see cref="Steps"/>), the calibration in effect, the Keras model's legalized
/// graph when the format's <see cref="IExporter.Check"/> asked for it, and the command that made it.
/// </summary>
public sealed record ExportInput(
    Loaded Model, CompileOptions Options, Converted Net, bool Spiking, int Steps, Option<LegalGraph> Legal,
    Option<SavedCalibration> Calibration, Option<float> InputScale, Option<string> CalibrationData, Option<string> Readout,
    string Command, bool Compress);

/// <summary>
/// One export format. Adding a format is one new file implementing this and one line in <see cref="Exporters.All"/>;
/// <c>snn export --format NAME</c> finds it there.
/// </summary>
public interface IExporter
{
    /// <summary>The <c>--format</c> value.</summary>
    string Name { get; }

    /// <summary>The error when <c>--out</c> is missing, saying what it should name.</summary>
    string NeedsOut { get; }

    /// <summary>Value options and flags this format takes beyond the converter's and the common export options.</summary>
    ImmutableArray<string> ValueOptions { get; }
    ImmutableArray<string> Flags { get; }

    /// <summary>None when the format holds a network's rate form (<c>--mode rate</c>); otherwise why it is spiking only.</summary>
    Option<string> NoRate { get; }

    /// <summary>
    /// What can be refused before conversion, from the model and its options; returns the legalized Keras graph when the
    /// format needs it to write.
    /// </summary>
    Either<Error, Option<LegalGraph>> Check(Loaded model, CompileOptions options);

    /// <summary>Writes the network to <paramref name="path"/>; returns the lines to tell the user and any warnings.</summary>
    Either<Error, (Seq<string> Lines, Seq<string> Warnings)> Write(ExportInput input, string path);
}

/// <summary>
/// An export as asked for: the format, the run (its steps and readout for <see cref="Spiking"/> or rate mode), and what the
/// file records about how it was made: the input scale and the command.
/// </summary>
public sealed record ExportRequest(IExporter Format, RunRequest Run, bool Spiking, Option<float> InputScale, string Command, bool Compress = false);

/// <summary>The export formats, by <c>--format</c> name.</summary>
public static class Exporters
{
    public static readonly ImmutableArray<IExporter> All = [new NpzExporter(), new NengoExporter(), new NirExporter()];

    public static Option<IExporter> Find(string name) => All.Find(e => e.Name == name);

    /// <summary>The names, as a usage message lists them ("npz, nengo or nir").</summary>
    public static string Names => string.Join(", ", All.Take(All.Length - 1).Select(e => e.Name)) + " or " + All[^1].Name;

    /// <summary>
    /// Exports <paramref name="model"/> to <paramref name="path"/>: refuses what the format cannot hold before converting,
    /// converts as a run in the request's mode would (<see cref="Runs.Prepare"/>; <paramref name="warn"/> hears the
    /// conversion's warnings), and writes with the calibration in effect. Returns the lines to tell the user and the
    /// format's warnings.
    /// </summary>
    public static Either<Error, (Seq<string> Lines, Seq<string> Warnings)> Export(ExportRequest request, Loaded model, string path,
        Action<string> warn, Action<string>? log = null, Func<string, Action<int, int>?>? progress = null)
    {
        var mode = request.Spiking ? Mode.Spiking : Mode.Rate;
        var steps = request.Run.Sim.StepsFor(mode);
        var options = Runs.OptionsOf(request.Run, model);
        return from inputScale in model.InputScaleFor(request.InputScale)
               from legal in request.Format.Check(model, options)
               from run in Runs.Prepare(request.Run, model, mode, steps, log, progress).Map(r => { r.Net.Network.Warnings.Iter(warn); return r; })
               from calibration in Runs.CalibrationOf(request.Run, model, steps, run.Net.Scales)
               let input = new ExportInput(model, options, run.Net, request.Spiking, steps, legal, calibration, inputScale,
                   request.Run.Calibration.Map(c => Path.GetFileName(c.Path)), request.Run.Sim.Readout.Map(r => r.ToString()), request.Command, request.Compress)
               from written in request.Format.Write(input, path)
               select written;
    }

    /// <summary>
    /// The legalized graph <see cref="IExporter.Check"/> returned, as the converter saw it (max pooling moved ahead of
    /// the activation with <c>--max-pool pre</c>).
    /// </summary>
    internal static Either<Error, LegalGraph> AsConverted(ExportInput input, string format) =>
        input.Legal.ToEither(Errors.Invariant(format + " export", "no legalized graph"))
            .Map(legal => input.Options.Convert.MaxPool == MaxPoolMethod.Pre ? Converter.MaxPoolBeforeActivation(legal) : legal);

    /// <summary>A Keras model's legalized graph (the exporters that describe layers need it).</summary>
    internal static Either<Error, LegalGraph> Legalized(Loaded model, CompileOptions options) =>
        model.Keras().Bind(k => Legalize.Run(options.Legalize, k).ToEither().MapLeft(Errors.Many));
}
