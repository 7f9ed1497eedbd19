using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;

namespace Snn.Cli;

/// <summary><c>snn report</c>: one self-contained HTML file with SVG charts (being written).</summary>
public static class Report
{
    public static Either<Error, int> Run(string[] argv, TextWriter stdout, TextWriter stderr) =>
        Errors.Usage("snn report is not available yet");
}
