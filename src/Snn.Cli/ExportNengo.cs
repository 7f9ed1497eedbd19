using System.Text;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Export;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn export MODEL --format nengo --out DIR</c>: converts the model as <c>snn predict</c> would (same converter and
/// calibration options) and writes <c>DIR/model.py</c>, a Python script that builds the network with the <c>nengo</c>
/// package and runs it, and <c>DIR/weights.npz</c>, the arrays it loads (see <see cref="NengoScript"/>).
/// </summary>
public static class ExportNengo
{
    static readonly string[] Values = { "--format", "--out", "--input-scale", "--steps", "--mode", "--readout" };

    /// <summary>Whether the command line asks for <c>--format nengo</c>.</summary>
    public static bool Requested(string[] argv)
    {
        for (var i = 0; i < argv.Length; i++)
        {
            if (argv[i] == "--format" && i + 1 < argv.Length) return argv[i + 1] == "nengo";
            if (argv[i] == "--format=nengo") return true;
        }
        return false;
    }

    public static Either<Error, int> Run(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Commands.Set(Values, Args.ConverterValueOptions), Commands.Set(Args.ConverterFlags, new[] { "--compress" }))
        from modelPath in Commands.Model(a)
        from outDir in a.One("--out").ToEither(Errors.Usage("export --format nengo needs --out DIR (it writes DIR/model.py and DIR/weights.npz)"))
        from mode in Export.ModeOf(a)
        from _o in a.CompileOptions()
        from _v in Commands.ValidateSim(a, mode)
        from inputScale in a.Float("--input-scale")
        from model in Commands.Load(a, modelPath)
        from options in Commands.OptionsOf(a, model)
        from _l in model.Saved.IsSome ? Right<Error, Unit>(unit)
            : model.Keras().Bind(k => Legalize.Run(options.Legalize, k).ToEither().MapLeft(Errors.Many)).Bind(NpzNetwork.Exportable)
        from steps in Commands.Steps(a, mode)
        from run in Commands.Prepare(a, model, mode, steps, stderr)
        from export in NengoScript.Generate(
            new NengoScriptOptions(
                model.ModelName,
                mode == Mode.Spiking ? "spiking" : "rate",
                steps,
                a.One("--readout").IfNone(mode == Mode.Spiking ? "mean" : "last"),
                inputScale,
                options.Legalize.Temporal,
                "snn export " + string.Join(" ", argv.Select(Quote)),
                "snn " + typeof(ExportNengo).Assembly.GetName().Version?.ToString(3)),
            run.Net.Network)
        from _w in Write(outDir, a.Flag("--compress"), export)
        select Done(stdout, stderr, outDir, export);

    static string Quote(string s) => s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./=:,+".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";

    internal static Either<Error, Unit> Write(string dir, bool compress, NengoExport export)
    {
        try
        {
            Directory.CreateDirectory(dir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errors.Data(dir, $"cannot create the output folder: {e.Message}");
        }
        return from _n in Npz.Write(Path.Combine(dir, "weights.npz"), compress, w =>
               {
                   foreach (var x in export.Arrays)
                   {
                       if (x.Ints is { } ints) w.AddInt32(x.Name, x.Shape, ints);
                       else w.AddFloat32(x.Name, x.Shape, x.Floats);
                   }
               })
               from _s in WriteScript(Path.Combine(dir, "model.py"), export.Script)
               select unit;
    }

    static Either<Error, Unit> WriteScript(string path, string script)
    {
        try
        {
            File.WriteAllText(path, script, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
            if (!OperatingSystem.IsWindows())
                File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute);
            return unit;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errors.Data(path, $"cannot write the script: {e.Message}");
        }
    }

    static int Done(TextWriter stdout, TextWriter stderr, string dir, NengoExport export)
    {
        foreach (var w in export.Warnings) stderr.WriteLine("warning: " + w);
        var script = Path.Combine(dir, "model.py");
        stdout.WriteLine($"wrote {script} and {Path.Combine(dir, "weights.npz")} ({export.Arrays.Count} arrays)");
        stdout.WriteLine($"run it with Nengo (pip install nengo): python3 {script} --input X.npy --output OUT.npy");
        return 0;
    }
}
