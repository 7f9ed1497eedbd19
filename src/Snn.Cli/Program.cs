using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;

namespace Snn.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// Runs one command line; every failure becomes a one-paragraph message and an exit code (0 ok, 1 check failed,
    /// 2 usage error, 3 model error, 4 data error). Help and results go to <paramref name="stdout"/>, errors,
    /// warnings and progress to <paramref name="stderr"/>.
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        // The one boundary to the terminal: nothing below writes a raw control character (see TerminalWriter).
        stdout = TerminalWriter.Of(stdout);
        stderr = TerminalWriter.Of(stderr);
        try
        {
            var root = CommandLine.Root(stdout, stderr);
            var config = new System.CommandLine.InvocationConfiguration { Output = stdout, Error = stderr, EnableDefaultExceptionHandler = false };
            if (args.Length == 0)
            {
                // Usage, as for --help, but a missing command is a usage error.
                root.Parse(["--help"]).Invoke(config);
                return Errors.ExitCode(Errors.Usage(""));
            }
            // "snn help [COMMAND]" is "snn [COMMAND] --help".
            if (args[0] == "help") args = args.Skip(1).Append("--help").ToArray();
            var parse = root.Parse(args);
            if (parse.Action is System.CommandLine.Invocation.ParseErrorAction)
                return Finish(CommandLine.ParseError(parse), stderr, parse.CommandResult.Command is System.CommandLine.RootCommand ? "" : parse.CommandResult.Command.Name);
            return parse.Invoke(config);
        }
        catch (Exception e) when (e is OutOfMemoryException or InsufficientExecutionStackException)
        {
            stderr.WriteLine($"error: the model or data is too large to process ({e.Message})");
            return 3;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"error: internal failure ({e.GetType().Name}: {e.Message}). Please report this with the command that caused it.");
            return 3;
        }
    }

    /// <summary>A command's exit code, or its error reported on stderr (usage errors point at the command's help).</summary>
    internal static int Finish(Either<Error, int> result, TextWriter stderr, string command) =>
        result.Match(code => code, e => Report(e, stderr, command));

    static int Report(Error e, TextWriter stderr, string command)
    {
        stderr.WriteLine("error: " + e.Message);
        if (e.Code == Errors.UsageCode) stderr.WriteLine($"Run 'snn {(command == "" ? "" : command + " ")}--help' for usage.");
        return Errors.ExitCode(e);
    }
}
