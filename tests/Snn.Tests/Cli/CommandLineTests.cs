using System.Diagnostics;
using System.Text.Json;
using Snn.Cli;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Cli;

/// <summary>
/// The command line on System.CommandLine (issue 16): help per command, suggestions for typos, response files, the
/// [suggest] directive, usage errors with exit 2, options that do not apply to a mode, the checkpoint bound, and progress.
/// </summary>
public class CommandLineTests
{
    static readonly string Mlp = TestModels.Fixture("tfjs", "dense_mlp", "model.json");
    static readonly string MlpInput = TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy");

    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    static void UsageError(int code, string err)
    {
        Assert.Equal(2, code);
        Assert.StartsWith("error: ", err);
        Assert.DoesNotContain("   at ", err);
    }

    /// <summary>
    /// Each command's options as the previous hand-written parser accepted them (the names scripts use): its help must
    /// list every one of them.
    /// </summary>
    public static TheoryData<string, string> CommandOptions() => new()
    {
        { "demo", "--threads" },
        { "convert", "--out --input-scale --steps --calibrate --calib-samples --percentile --resolution --target-agreement --bias-correction --bias-shift --per-channel --per-layer --swap --scale-firing-rates --synapse --dt --seed --initial-voltage --max-pool --reset --neuron --no-fallback --max-to-avg-pool --split-shared-weights --temporal-model" },
        { "predict", "--input --output --mode --steps --readout --input-scale --batch --threads --encoding --checkpoints --calibrate --swap --no-fallback" },
        { "evaluate", "--data --labels --mode --steps --readout --input-scale --batch --threads --encoding --checkpoints --json --agreement --per-layer-error --calibrate --neuron" },
        { "fit", "--data --labels --out --epochs --batch --lr --optimizer --momentum --nesterov --loss --validation-data --validation-labels --seed --freeze --reinit --input-scale --threads --json --calibrate --no-fallback" },
        { "verify", "--input --atol --rtol --input-scale --calibrate --no-fallback" },
        { "inspect", "--json --input-scale --calibrate --no-fallback" },
        { "report", "--data --labels --out --steps --readout --input-scale --checkpoints --calibrate" },
        { "bench", "--data --input-scale --batch --steps --threads --mode --samples --readout --connection-path --json --calibrate" },
        { "export", "--format --out --input-scale --steps --mode --readout --compress --calibrate" },
    };

    [Theory]
    [MemberData(nameof(CommandOptions))]
    public void EveryCommandHasHelpWithItsOptionsAndAnExample(string command, string options)
    {
        foreach (var flag in new[] { "-h", "--help" })
        {
            var (code, output, err) = CliRunner.Run(command, flag);
            Assert.True(code == 0, err);
            Assert.Equal("", err);
            Assert.Contains($"snn {command}", output);
            foreach (var option in options.Split(' '))
                Assert.Matches($@"(?m)^\s+{System.Text.RegularExpressions.Regex.Escape(option)}\b", output);
            Assert.Contains("--no-progress", output);
            Assert.Contains("Examples:", output);
            Assert.Contains($"\n  snn {command}", output);
        }
    }

    [Fact]
    public void HelpShowsDefaultsAndModelKinds()
    {
        var (code, output, _) = CliRunner.Run("evaluate", "--help");
        Assert.Equal(0, code);
        Assert.Contains("(default 0.001)", output);          // --dt
        Assert.Contains("(default 99.9)", output);           // --percentile
        foreach (var kind in new[] { ".keras", ".h5", "model.json", ".snnz" }) Assert.Contains(kind, output);
    }

    [Fact]
    public void HelpBeforeOrAfterOtherArgumentsReadsNothing()
    {
        // -h once was taken for the model's path (exit 3), --help for an unknown option, --progress --help for an unknown command.
        Assert.Equal(0, CliRunner.Run("evaluate", "-h").Code);
        Assert.Equal(0, CliRunner.Run("evaluate", "/nonexistent/model.json", "--data", "x.npy", "--help").Code);
        var (code, output, _) = CliRunner.Run("--progress", "--help");
        Assert.Equal(0, code);
        foreach (var c in new[] { "demo", "convert", "predict", "evaluate", "verify", "inspect", "report", "bench", "export" })
            Assert.Contains(c, output);
        Assert.Equal(0, CliRunner.Run("help", "predict").Code);
    }

    [Fact]
    public void NoArgumentsPrintUsageAndExitTwo()
    {
        var (code, output, _) = CliRunner.Run();
        Assert.Equal(2, code);
        Assert.Contains("evaluate", output);
        Assert.Contains("Exit codes", output);
    }

    [Fact]
    public void VersionPrintsTheAssemblyVersion()
    {
        var (code, output, _) = CliRunner.Run("--version");
        Assert.Equal(0, code);
        Assert.Equal("snn " + typeof(Program).Assembly.GetName().Version!.ToString(3), output.Trim());
    }

    [Theory]
    [InlineData("predict", "--calibarte", "--calibrate")]
    [InlineData("evaluate", "--lables", "--labels")]
    [InlineData("evaluate", "--stpes", "--steps")]
    [InlineData("bench", "--connection-pth", "--connection-path")]
    public void UnknownOptionsSuggestTheNearestName(string command, string typo, string meant)
    {
        var (code, _, err) = CliRunner.Run(command, Mlp, typo, "x");
        UsageError(code, err);
        Assert.Contains($"unknown option '{typo}'", err);
        Assert.Contains($"Did you mean '{meant}'?", err);
        Assert.Contains($"snn {command} --help", err);
    }

    [Fact]
    public void AnUnknownOptionBeforeTheModelIsNamedAsSuch()
    {
        var (code, _, err) = CliRunner.Run("predict", "--calibarte", Mlp);
        UsageError(code, err);
        Assert.Contains("unknown option '--calibarte'", err);
        Assert.Contains("'--calibrate'", err);
    }

    [Fact]
    public void UnknownCommandsSuggestTheNearestCommand()
    {
        var (code, _, err) = CliRunner.Run("evalute", Mlp);
        UsageError(code, err);
        Assert.Contains("unknown command 'evalute'. Did you mean 'evaluate'?", err);
        (code, _, err) = CliRunner.Run("frobnicate");
        UsageError(code, err);
        Assert.DoesNotContain("Did you mean", err);
    }

    [Fact]
    public void NearestNamesUseEditDistanceWithSwaps()
    {
        Assert.Equal(new[] { "--calibrate" }, CommandLine.Nearest("--calibarte", new[] { "--calibrate", "--calib-samples", "--data" }));
        Assert.Equal(new[] { "--calibrate", "--calib-samples" }, CommandLine.Nearest("--calib", new[] { "--calibrate", "--calib-samples", "--data" }));
        Assert.Empty(CommandLine.Nearest("--zzzzzz", new[] { "--calibrate", "--data" }));
    }

    [Theory]
    [InlineData("evaluate MODEL --steps")]                 // a value is missing
    [InlineData("predict MODEL extra --output o")]         // one argument too many
    [InlineData("inspect MODEL --json maybe")]             // a flag followed by something that is no boolean
    [InlineData("demo --steps 4")]                         // an option of another command
    public void ParseErrorsExitTwo(string line)
    {
        var (code, _, err) = CliRunner.Run(line.Replace("MODEL", Mlp).Split(' '));
        UsageError(code, err);
    }

    [Fact]
    public void EvaluateWithoutModelNamesTheAcceptedKinds()
    {
        var (code, _, err) = CliRunner.Run("evaluate", "--data", MlpInput);
        UsageError(code, err);
        foreach (var kind in new[] { ".keras", ".h5", "model.json", ".snnz" }) Assert.Contains(kind, err);
    }

    [Fact]
    public void ResponseFilesExpandToTheSameRun()
    {
        var dir = TempDir();
        var rsp = Path.Combine(dir, "args.rsp");
        File.WriteAllLines(rsp, new[] { "--data " + MlpInput, "--steps 4", "--json" });
        var direct = CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--steps", "4", "--json");
        var viaFile = CliRunner.Run("evaluate", Mlp, "@" + rsp);
        Assert.True(direct.Code == 0, direct.Err);
        Assert.True(viaFile.Code == 0, viaFile.Err);
        Assert.Equal(direct.Out, viaFile.Out);
        using var doc = JsonDocument.Parse(viaFile.Out);
        Assert.Equal(4, doc.RootElement.GetProperty("steps").GetInt32());
    }

    [Fact]
    public void SuggestDirectiveCompletesOptionNames()
    {
        const string line = "snn evaluate --cal";
        var (code, output, _) = CliRunner.Run($"[suggest:{line.Length}]", line);
        Assert.Equal(0, code);
        var words = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Contains("--calibrate", words);
        Assert.Contains("--calib-samples", words);
        Assert.DoesNotContain("--data", words);
        (_, output, _) = CliRunner.Run("[suggest:7]", "snn eva");
        Assert.Equal(new[] { "evaluate" }, output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact]
    public void RepeatedOptionsFractionsAndReadoutWindowsKeepTheirValues()
    {
        var a = CommandLine.Parse("predict", new[] { Mlp, "--swap", "relu=LIF", "--swap=sigmoid=LIF", "--input-scale", "1/255", "--readout", "mean:4", "--synapse", "-1" }).Ok();
        Assert.Equal(new[] { "relu=LIF", "sigmoid=LIF" }, a.All("--swap"));
        Assert.Equal(1f / 255, a.Float("--input-scale").Ok().IfNone(0));
        Assert.Equal("mean:4", a.One("--readout").IfNone(""));
        Assert.Equal("-1", a.One("--synapse").IfNone(""));          // a negative value is a value (refused later: "expects a time constant")
        Assert.Equal(new[] { Mlp }, a.Positional);
    }

    // ------------------------------------------------------------------ options that do not apply

    [Theory]
    [InlineData("--calibrate", "x.npy")]
    [InlineData("--steps", "4")]
    [InlineData("--readout", "mean")]
    [InlineData("--swap", "relu=LIF")]
    public void KerasModeRefusesConversionAndSimulationOptions(string option, string value)
    {
        var dir = TempDir();
        var (code, _, err) = CliRunner.Run("predict", Mlp, "--mode", "keras", option, value, "--input", MlpInput, "--output", dir);
        UsageError(code, err);
        Assert.Contains(option, err);
        Assert.Contains("--mode keras", err);
        Assert.Empty(Directory.GetFiles(dir));
        (code, _, err) = CliRunner.Run("evaluate", Mlp, "--mode", "keras", option, value, "--data", MlpInput);
        UsageError(code, err);
        Assert.Contains("--mode keras", err);
    }

    [Fact]
    public void RateModeRefusesStepsWithoutASynapse()
    {
        var dir = TempDir();
        var (code, _, err) = CliRunner.Run("predict", Mlp, "--mode", "rate", "--steps", "8", "--input", MlpInput, "--output", dir);
        UsageError(code, err);
        Assert.Contains("--steps does not apply to --mode rate", err);
        // With a synapse the rate network's output depends on the steps, so they apply.
        (code, _, err) = CliRunner.Run("predict", Mlp, "--mode", "rate", "--steps", "8", "--synapse", "0.005", "--input", MlpInput, "--output", dir);
        Assert.True(code == 0, err);
        (code, _, err) = CliRunner.Run("evaluate", Mlp, "--mode", "rate", "--checkpoints", "1", "--data", MlpInput);
        UsageError(code, err);
        Assert.Contains("--checkpoints does not apply to --mode rate", err);
    }

    [Fact]
    public void PredictRefusesCheckpoints()
    {
        var (code, _, err) = CliRunner.Run("predict", Mlp, "--mode", "spiking", "--steps", "8", "--checkpoints", "2,8", "--input", MlpInput, "--output", TempDir());
        UsageError(code, err);
        Assert.Contains("--checkpoints does not apply to predict", err);
    }

    [Fact]
    public void ExportRefusesAnotherFormatsOptions()
    {
        var (code, _, err) = CliRunner.Run("export", Mlp, "--format", "npz", "--readout", "last", "--out", Path.Combine(TempDir(), "n.npz"));
        UsageError(code, err);
        Assert.Contains("--readout does not apply to --format npz", err);
    }

    [Theory]
    [InlineData("4", "2,8", "8")]
    [InlineData("4", "2147483647", "2147483647")]
    [InlineData(null, "16,64", "64")]       // the default run is 32 steps
    public void CheckpointsBeyondTheStepsAreUsageErrors(string? steps, string checkpoints, string beyond)
    {
        var args = new List<string> { "evaluate", Mlp, "--data", MlpInput, "--checkpoints", checkpoints };
        if (steps is not null) args.AddRange(new[] { "--steps", steps });
        var (code, output, err) = CliRunner.Run(args.ToArray());
        UsageError(code, err);
        Assert.Contains($"--checkpoints {beyond} is beyond the run's {steps ?? "32"} steps", err);
        Assert.Equal("", output);
        (code, _, err) = CliRunner.Run("report", Mlp, "--data", MlpInput, "--checkpoints", checkpoints, "--steps", steps ?? "32", "--out", Path.Combine(TempDir(), "r.html"));
        UsageError(code, err);
    }

    [Fact]
    public void CheckpointsWithinTheStepsStillWork()
    {
        var (code, output, err) = CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--steps", "8", "--checkpoints", "2,8", "--mode", "spiking", "--json");
        Assert.True(code == 0, err);
        using var doc = JsonDocument.Parse(output);
        var steps = doc.RootElement.GetProperty("agreement").GetProperty("spiking_by_steps").EnumerateArray().Select(s => s.GetProperty("steps").GetInt32());
        Assert.Equal(new[] { 2, 8 }, steps);
    }

    // ------------------------------------------------------------------ progress

    [Fact]
    public void PlainProgressLinesComeEveryTenthAndAtTheEnd()
    {
        var err = new StringWriter();
        using var progress = new Progress(true, err);
        Assert.Equal(Progress.Kind.Lines, progress.Shows);
        var report = progress.For("spiking 8 steps")!;
        for (var done = 1; done <= 100; done++) report(done, 100);
        var lines = err.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // 1% opens, then one line per further tenth: 10%, 20%, ..., 100%.
        Assert.Equal(11, lines.Length);
        Assert.Contains("spiking 8 steps: 100/100 (100%)", lines[^1]);
        Assert.Contains("spiking 8 steps: 50/100 (50%)", lines[5]);
    }

    [Fact]
    public void ProgressLinesEstimateTheTimeLeft()
    {
        // Half done after 10 s: another 10 s to go at that pace.
        Assert.Equal("  calibration: 5/10 (50%), 0:10 elapsed, about 0:10 left", Progress.Line("calibration", 5, 10, TimeSpan.FromSeconds(10)));
        Assert.Equal("  calibration: 10/10 (100%), 1:05 elapsed", Progress.Line("calibration", 10, 10, TimeSpan.FromSeconds(65)));
    }

    [Fact]
    public void NoProgressAndInProcessWritersStayQuiet()
    {
        Assert.Null(new Progress(false, Console.Error).For("x"));
        Assert.Null(new Progress(null, new StringWriter()).For("x"));
        var (code, _, err) = CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--steps", "4", "--no-progress");
        Assert.True(code == 0, err);
        Assert.Equal("", err);
    }

    [Fact]
    public void CalibrationAndBiasCorrectionReportProgress()
    {
        var (code, _, err) = CliRunner.Run("evaluate", Mlp, "--data", MlpInput, "--mode", "spiking", "--steps", "4", "--progress",
            "--calibrate", MlpInput, "--bias-correction", "2");
        Assert.True(code == 0, err);
        Assert.Matches(@"(?m)^  calibration: 3/3 \(100%\)", err);
        Assert.Matches(@"(?m)^  bias correction \(2 steps\), layers: (\d+)/\1 \(100%\)", err);
        Assert.Matches(@"(?m)^  spiking 4 steps: 3/3 \(100%\)", err);
    }

    [Fact]
    public void ReportCurvesAreCountedInTheirProgress()
    {
        var dir = TempDir();
        var (code, _, err) = CliRunner.Run("report", Mlp, "--data", MlpInput, "--steps", "4", "--out", Path.Combine(dir, "r.html"), "--progress");
        Assert.True(code == 0, err);
        // No max pooling: the run with the given options and the NengoDL baseline.
        Assert.Matches(@"(?m)^  curve 1 of 2 \(spiking\), 4 steps: 3/3 \(100%\)", err);
        Assert.Matches(@"(?m)^  curve 2 of 2 \(NengoDL baseline\), 4 steps: 3/3 \(100%\)", err);
    }

    /// <summary>The tool as a separate process with stdout and stderr redirected (as in CI or a pipe).</summary>
    static (int Code, string Out, string Err) RunProcess(params string[] args)
    {
        var dll = typeof(Program).Assembly.Location;
        if (!File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")))
            dll = Path.Combine(TestModels.RepoRoot, "src", "Snn.Cli", "bin", "Release", "net10.0", "Snn.Cli.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), "snn did not finish in 2 minutes");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    [Fact]
    public void RedirectedOutputGetsPlainProgressOnStderrAndOnlyJsonOnStdout()
    {
        var (code, output, err) = RunProcess("evaluate", Mlp, "--data", MlpInput, "--steps", "4", "--json");
        Assert.True(code == 0, err);
        Assert.Matches(@"(?m)^  rate \d+ steps: 3/3 \(100%\), \d+:\d\d elapsed", err);
        Assert.Matches(@"(?m)^  spiking 4 steps: 3/3 \(100%\), \d+:\d\d elapsed", err);
        Assert.DoesNotContain("\u001b", err);                   // no terminal control sequences when redirected
        using var doc = JsonDocument.Parse(output);            // stdout is one JSON document and nothing else
        Assert.Equal(4, doc.RootElement.GetProperty("steps").GetInt32());
        var quiet = RunProcess("evaluate", Mlp, "--data", MlpInput, "--steps", "4", "--json", "--no-progress");
        Assert.Equal(0, quiet.Code);
        Assert.Equal("", quiet.Err);
        Assert.Equal(output, quiet.Out);
    }
}
