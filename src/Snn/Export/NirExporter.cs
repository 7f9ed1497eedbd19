using System.Collections.Immutable;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Export;
using Snn.Compiler.Hdf5;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;

namespace Snn.Export;

/// <summary>A NIR graph (<see cref="Nir"/>; README "Export to NIR"); layers NIR cannot express are refused together.</summary>
public sealed class NirExporter : IExporter
{
    public string Name => "nir";
    public string NeedsOut => "export --format nir needs --out FILE.nir";
    public ImmutableArray<string> ValueOptions => [];
    public ImmutableArray<string> Flags => [];
    public Option<string> NoRate => Some("export --format nir writes spiking neurons (IF/LIF): --mode must be spiking");

    public Either<Error, Option<LegalGraph>> Check(Loaded model, CompileOptions options) =>
        Exporters.Legalized(model, options).Map(Some);

    public Either<Error, (Seq<string> Lines, Seq<string> Warnings)> Write(ExportInput input, string path) =>
        from legal in Exporters.AsConverted(input, Name)
        from graph in Nir.Try(new NirOptions(Metadata(input)), legal, input.Net.Network).MapLeft(r => WithRemedy(r, input))
        from _w in Nir.Write(path, graph)
        select (Seq1($"wrote {path}: {graph.Nodes.Count} nodes, {graph.Edges.Count} edges ({Nir.FormatName} {Nir.Version})"), Seq<string>());

    /// <summary>
    /// The refusals, followed by what to run instead: the export command with the converter options that remove them (a
    /// saved network: the options to convert it again with), or, when some refusal has no such option, the options that
    /// remove the others.
    /// </summary>
    static Error WithRemedy(NirRefusal r, ExportInput input)
    {
        if (r.Fixes.IsEmpty) return r.Error;
        var add = string.Join(" ", r.Fixes.Map(f => f == NirFix.NoSynapse ? "(without --synapse)" : Option(f)));
        var remedy = input.Model.Saved.IsSome
            ? $"Convert the Keras model again with {add} (replacing the options they contradict; snn convert MODEL ... {add} --out NET.snnz) and export that network."
            : r.FixesAll
                ? $"This command exports it: {Command(input.Command, r.Fixes)}"
                : $"{add} removes the refusals that name {(r.Fixes.Count == 1 ? "it" : "them")}; the others have no NIR form (a Nengo export, --format nengo, holds more).";
        return Error.New(r.Error.Code, r.Error.Message + "\n" + remedy);
    }

    /// <summary>The option that makes a fix.</summary>
    static string Option(NirFix fix) => fix switch
    {
        NirFix.PerLayer => "--per-layer",
        NirFix.AveragePooling => "--max-pool avg",
        NirFix.IntegrateAndFire => "--neuron if",
        _ => "",   // NoSynapse: an option to drop, not to add
    };

    /// <summary>The options a fix replaces (written as --name VALUE, --name=VALUE or a flag).</summary>
    static (string[] Values, string[] Flags) Replaced(NirFix fix) => fix switch
    {
        NirFix.PerLayer => ([], ["--per-channel"]),
        NirFix.AveragePooling => (["--max-pool"], ["--max-to-avg-pool"]),
        NirFix.IntegrateAndFire => (["--neuron"], []),
        _ => (["--synapse"], []),
    };

    /// <summary><paramref name="command"/> (as the export records it) without the options the fixes replace, with theirs added.</summary>
    static string Command(string command, Set<NirFix> fixes)
    {
        foreach (var fix in fixes)
        {
            var (values, flags) = Replaced(fix);
            foreach (var v in values) command = System.Text.RegularExpressions.Regex.Replace(command, $@" {v}(=| )\S+", "");
            foreach (var f in flags) command = System.Text.RegularExpressions.Regex.Replace(command, $@" {f}(?= |$)", "");
        }
        var added = string.Join(" ", fixes.Map(Option).Filter(o => o.Length > 0));
        return added.Length == 0 ? command : command + " " + added;
    }

    /// <summary>Where the network came from and how it was converted, as graph metadata.</summary>
    static Map<string, H5Value> Metadata(ExportInput input)
    {
        var options = input.Options;
        var m = Map(
            ("source", H5Value.Text(input.Model.SourceName)),
            ("model", H5Value.Text(Names.Printable(input.Model.ModelName))),   // as keras_layer: HDF5 strings hold no NUL
            ("max_pool", H5Value.Text(options.Convert.MaxPool.ToString().ToLowerInvariant())),
            ("initial_voltage", H5Value.Text(options.Convert.InitialVoltage.ToString().ToLowerInvariant())),
            ("seed", H5Value.Scalar((long)options.Convert.Seed)));
        if (input.InputScale.TryGet(out var scale))
            m = m.Add("input_scale", H5Value.Scalar((double)scale));
        if (input.CalibrationData.TryGet(out var calib))
            m = m.Add("calibration_data", H5Value.Text(calib));
        return m;
    }
}
