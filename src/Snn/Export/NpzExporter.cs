using System.Collections.Immutable;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Export;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;

namespace Snn.Export;

/// <summary>The <c>snn-network</c> npz archive (<see cref="NpzNetwork"/>), read by the PyTorch peer.</summary>
public sealed class NpzExporter : IExporter
{
    public string Name => "npz";
    public string NeedsOut => "export needs --out FILE.npz";
    public ImmutableArray<string> ValueOptions => [];
    public ImmutableArray<string> Flags => ["--compress"];
    public Option<string> NoRate => None;

    public Either<Error, Option<LegalGraph>> Check(Loaded model, CompileOptions options) =>
        from legal in Exporters.Legalized(model, options)
        from _ in NpzNetwork.InNpzFormat(legal)
        select Some(legal);

    public Either<Error, (Seq<string> Lines, Seq<string> Warnings)> Write(ExportInput input, string path) =>
        from legal in Exporters.AsConverted(input, Name)
        from arrays in NpzNetwork.Write(path, input.Compress, new NpzSource(input.Model.ModelName, input.Model.SourceName, input.Spiking),
            input.Options, input.Calibration, input.Net.Network, legal)
        select (Seq1($"wrote {path}: {legal.Ops.Count} ops, {arrays} arrays + structure.json ({NpzNetwork.FormatName} v{NpzNetwork.FormatVersion})"),
            Seq<string>());
}
