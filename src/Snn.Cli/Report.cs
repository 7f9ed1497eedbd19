using System.Text;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn report</c>: runs the spiking evaluation (once per max-pooling method when the model max-pools, plus a
/// NengoDL-equivalent baseline; <see cref="Reports.Curves"/>) and writes the page <see cref="ReportHtml.Render"/> makes
/// of it: one self-contained HTML file.
/// </summary>
public static class Report
{
    public static Either<Error, int> Run(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Commands.Model(a)
        from outPath in a.One("--out").ToEither(Errors.Usage("report needs --out report.html"))
        from _d in a.All("--data").Count > 0 ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage("report needs --data X.npy"))
        from _0 in Commands.ValidateSim(a, Mode.Spiking)
        from _c in Commands.Checkpoints(a, Commands.Steps(a, Mode.Spiking).IfLeft(0))
        from model in Commands.Load(a, modelPath)
        from inputs in Commands.Inputs(a, model, "--data", stderr)
        from ann in Reports.Ann(model, inputs)
        from labelled in Commands.Labels(a, inputs)
        let labels = labelled.IfNone(() => Metrics.Argmax(ann))
        from steps in Commands.Steps(a, Mode.Spiking)
        from checkpoints in Commands.Checkpoints(a, steps)
        from request in Commands.Request(a)
        from curves in Reports.Curves(new ReportOptions(steps, checkpoints), request, model, inputs, labels,
            w => stderr.WriteLine("warning: " + w), stderr.WriteLine, a.Progress.Callback)
        let html = ReportHtml.Render(new ReportPage(modelPath, "snn report " + string.Join(" ", a.Tokens.Select(Quote)), labels.Length, steps, checkpoints,
            Metrics.Accuracy(ann, labels), curves) { Labelled = labelled.IsSome, Saved = model.Saved.IsSome })
        from _w in Write(outPath, html)
        let code = Done(stdout, outPath)
        from _h in Commands.Hint(stderr, Reports.ChanceHint(curves, Metrics.Accuracy(ann, labels), model, a.All("--data").ToSeq(), a.Float("--input-scale").IfLeft(Option<float>.None), labelled.IsSome))
        select code;

    static int Done(TextWriter stdout, string path)
    {
        stdout.WriteLine(path);
        return 0;
    }

    static Either<Error, Unit> Write(string path, string html) =>
        OutputFile.Write(path, "the report", s => s.Write(new UTF8Encoding(false).GetBytes(html)));

    static string Quote(string s) => s.Length > 0 && s.All(c => char.IsLetterOrDigit(c) || "-_./=:,\\".Contains(c)) ? s : "'" + s.Replace("'", "'\\''") + "'";
}
