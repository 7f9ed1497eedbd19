using System.Collections.Immutable;
using System.Text;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Export;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;

namespace Snn.Export;

/// <summary>A Nengo model: DIR/model.py (runs with <c>pip install nengo</c>) and DIR/weights.npz (<see cref="NengoScript"/>).</summary>
public sealed class NengoExporter : IExporter
{
    public string Name => "nengo";
    public string NeedsOut => "export --format nengo needs --out DIR (it writes DIR/model.py and DIR/weights.npz)";
    public ImmutableArray<string> ValueOptions => ["--readout"];
    public ImmutableArray<string> Flags => ["--compress"];
    public Option<string> NoRate => None;

    /// <summary>A Keras model's fallback and custom layers are refused before conversion (a saved network has none).</summary>
    public Either<Error, Option<LegalGraph>> Check(Loaded model, CompileOptions options) =>
        model.Saved.IsSome ? Right<Error, Option<LegalGraph>>(None)
            : Exporters.Legalized(model, options).Bind(NpzNetwork.Exportable).Map(_ => Option<LegalGraph>.None);

    public Either<Error, (Seq<string> Lines, Seq<string> Warnings)> Write(ExportInput input, string path) =>
        from export in NengoScript.Generate(
            new NengoScriptOptions(
                input.Model.ModelName,
                input.Spiking ? "spiking" : "rate",
                input.Steps,
                input.Readout.IfNone(input.Spiking ? "mean" : "last"),
                input.InputScale,
                input.Options.Legalize.Temporal,
                input.Command,
                "snn " + typeof(NengoExporter).Assembly.GetName().Version?.ToString(3),
                input.Options.Lower.ProbeTiming == Snn.Compiler.Lower.ProbeTiming.AfterUpdate),
            input.Net.Network)
        from _w in WriteFolder(path, input.Compress, export)
        let script = Path.Combine(path, "model.py")
        select (Seq($"wrote {script} and {Path.Combine(path, "weights.npz")} ({export.Arrays.Count} arrays)",
                $"run it with Nengo (pip install nengo): python3 {script} --input X.npy --output OUT.npy"),
            export.Warnings.ToSeq().Strict());

    /// <summary>Writes DIR/weights.npz and an executable DIR/model.py: both or, on a failure, neither (see <see cref="OutputFile"/>).</summary>
    public static Either<Error, Unit> WriteFolder(string dir, bool compress, NengoExport export) =>
        OutputFile.WriteAll(Seq(
            Npz.Part(Path.Combine(dir, "weights.npz"), compress, w =>
            {
                foreach (var x in export.Arrays)
                {
                    if (x.Ints is { } ints) w.AddInt32(x.Name, x.Shape, ints);
                    else w.AddFloat32(x.Name, x.Shape, x.Floats);
                }
            }) with { What = "the Nengo weights" },
            new OutputPart(Path.Combine(dir, "model.py"), "the Nengo script",
                s => s.Write(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(export.Script)), Executable: true)));
}
