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
        from graph in Nir.Build(new NirOptions(Metadata(input)), legal, input.Net.Network)
        from _w in Nir.Write(path, graph)
        select (Seq1($"wrote {path}: {graph.Nodes.Count} nodes, {graph.Edges.Count} edges ({Nir.FormatName} {Nir.Version})"), Seq<string>());

    /// <summary>Where the network came from and how it was converted, as graph metadata.</summary>
    static Map<string, H5Value> Metadata(ExportInput input)
    {
        var options = input.Options;
        var m = Map(
            ("source", H5Value.Text(input.Model.SourceName)),
            ("model", H5Value.Text(input.Model.ModelName)),
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
