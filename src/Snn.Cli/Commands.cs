using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Runtime;
using static LanguageExt.Prelude;
using Snn.Compiler.Saved;

namespace Snn.Cli;

/// <summary>The snn commands. Each returns an exit code, or an error that Program reports.</summary>
public static class Commands
{
    internal static IReadOnlySet<string> Set(params IEnumerable<string>[] groups) => groups.SelectMany(g => g).ToHashSet();

    internal static readonly System.Collections.Immutable.ImmutableArray<string> SimValues =
        ["--steps", "--readout", "--input-scale", "--mode", "--batch", "--threads", "--encoding", "--checkpoints"];

    public static Either<Error, int> Predict(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Model(a)
        from outDir in a.One("--output").ToEither(Errors.Usage("predict needs --output DIR"))
        from mode in ModeOf(a, allowAll: false, NetworkFile.IsSaved(modelPath) ? Mode.Spiking : Mode.Keras)
        from _c in a.One("--checkpoints").IsSome
            ? Left<Error, Unit>(Errors.Usage("--checkpoints does not apply to predict: it writes the outputs after --steps steps (evaluate and report read accuracies at checkpoints)"))
            : Right<Error, Unit>(unit)
        from _m in Applies(a, mode, NetworkFile.IsSaved(modelPath))
        from _0 in ValidateSim(a, mode.Head)
        from model in Load(a, modelPath)
        from _s in AppliesToSaved(a, mode, model)
        from inputs in Inputs(a, model, "--input", stderr)
        from outputs in Evaluation.Simulate(mode.Head, model, inputs, Network(a, model, stderr), a.Progress.Callback)
        from _ in DataFiles.WriteOutputs(outDir, outputs)
        select Ok(stdout, $"wrote {outputs.Count} output(s) to {outDir}");

    public static Either<Error, int> Evaluate(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Model(a)
        from modes in ModeOf(a, allowAll: true)
        from _m in Applies(a, modes, NetworkFile.IsSaved(modelPath))
        from _0 in ValidateSim(a, Mode.Spiking)
        from _1 in modes.Exists(m => m == Mode.Spiking) ? Checkpoints(a, Steps(a, Mode.Spiking).IfLeft(0)).Map(_ => unit) : Right<Error, Unit>(unit)
        from model in Load(a, modelPath)
        from _s in AppliesToSaved(a, modes, model)
        from inputs in Inputs(a, model, "--data", stderr)
        from labels in Labels(a, inputs)
        from steps in Steps(a, Mode.Spiking)
        from checkpoints in Checkpoints(a, steps)
        from result in Evaluation.Run(new EvaluationOptions(modes, steps, checkpoints, a.Flag("--agreement"), a.Flag("--per-layer-error")), model, inputs, labels,
            Network(a, model, stderr), OptionsOf(a, model), a.Progress.Callback)
        let code = EvaluationReport.Print(a.Flag("--json"), stdout, result)
        from _h in Hint(stderr, Evaluation.ChanceHint(result, model, a.All("--data").ToSeq(), a.Float("--input-scale").IfLeft(Option<float>.None)))
        select code;

    /// <summary>The Keras model's outputs against the rate-mode network's, one step.</summary>
    public static Either<Error, int> Verify(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Model(a)
        from atol in a.Float("--atol")
        from rtol in a.Float("--rtol")
        from _o in a.CompileOptions()
        from model in Load(a, modelPath)
        from inputs in a.All("--input").Count > 0 ? Inputs(a, model, "--input", stderr) : DataFiles.Ones(model.InputShapes, model.MaxMemory)
        from request in Request(a)
        from verified in Verification.Run(request, model, inputs, atol.IfNone(1e-6f), rtol.IfNone(1e-5f),
            stderr.WriteLine, a.Progress.Callback)
        select VerifyReport(stdout, stderr, verified, atol.IfNone(1e-6f), rtol.IfNone(1e-5f));

    /// <summary>The conversion of every layer and the network's size, in rate mode (as verify and evaluate's rate row run it).</summary>
    public static Either<Error, int> Inspect(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Model(a)
        from _o in a.CompileOptions()
        from model in Load(a, modelPath)
        from request in Request(a)
        from run in Runs.Prepare(request, model, Mode.Rate, 0, stderr.WriteLine, a.Progress.Callback)
        select InspectReport(a.Flag("--json"), stdout, Inspection.Of(run.Net), model.Saved);

    /// <summary>
    /// <c>snn convert MODEL [converter and calibration options] --out NET.snnz</c>: converts with spiking neuron types
    /// (calibrating when asked) and saves the network, its options and the model file(s).
    /// </summary>
    public static Either<Error, int> Convert(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Model(a)
        from outPath in a.One("--out").ToEither(Errors.Usage($"convert needs --out NET{NetworkFile.Extension}"))
        from _1 in NetworkFile.IsSaved(outPath)
            ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage($"--out must name a {NetworkFile.Extension} file (that is how other commands recognize it), got '{outPath}'"))
        from _2 in NetworkFile.IsSaved(modelPath)
            ? Left<Error, Unit>(Errors.Usage($"'{modelPath}' is already a saved network; convert reads a Keras model")) : Right<Error, Unit>(unit)
        from _3 in a.CompileOptions()
        from steps in Steps(a, Mode.Spiking)
        from request in Request(a)
        from saved in Runs.Save(request, modelPath, steps, stderr.WriteLine, a.Progress.Callback)
        from _4 in Warn(stderr, saved.Network.Warnings)
        from _5 in NetworkFile.Write(outPath, saved)
        select Ok(stdout, Wrote(outPath, saved));

    public static Either<Error, int> Demo(Args a, TextWriter stdout, TextWriter stderr) =>
        from result in Snn.Demo.Run(a.Progress.Callback)
        let code = RunDemo(stdout, result)
        from _h in Hint(stderr, Snn.Demo.ChanceHint(result))
        select code;

    // ---------------------------------------------------------------- helpers

    static int Ok(TextWriter stdout, string message)
    {
        stdout.WriteLine(message);
        return 0;
    }

    internal static Either<Error, string> Model(Args a) =>
        a.Positional.Count == 1 ? Right<Error, string>(a.Positional[0])   // not a bare string: LanguageExt 4 converts strings to Error
        : a.Positional.Count == 0 ? Errors.Usage($"missing MODEL: {CommandLine.ModelKinds}")
        : Errors.Usage($"expected one MODEL, got {a.Positional.Count} positional arguments: {string.Join(" ", a.Positional)}");

    /// <summary>
    /// Loads MODEL: a saved network (NET.snnz), refusing converter options since the file fixes them, or a Keras model.
    /// </summary>
    internal static Either<Error, Loaded> Load(Args a, string path, params string[] own) =>
        from _ in NetworkFile.IsSaved(path) ? Fixed(a, path, own) : Right<Error, Unit>(unit)
        from maxMemory in a.MaxMemory()
        from model in Loaded.Open(path, maxMemory)
        select model;

    /// <summary>
    /// Converter and calibration options are part of a saved network: giving them again is a usage error naming them
    /// (except <paramref name="own"/>, which the command gives a meaning of its own for a saved network).
    /// </summary>
    static Either<Error, Unit> Fixed(Args a, string path, IReadOnlyCollection<string> own)
    {
        var given = Args.ConverterValueOptions.Where(o => a.All(o).Count > 0).Concat(Args.ConverterFlags.Where(a.Flag)).Except(own).ToList();
        return given.Count == 0 ? unit : Errors.Usage(
            $"{string.Join(", ", given)} cannot be used with the saved network '{path}': its conversion and calibration are fixed in the file. " +
            $"To change them, convert the Keras model again (snn convert MODEL {string.Join(" ", given)} ... --out {System.IO.Path.GetFileName(path)}).");
    }

    /// <summary>The conversion options in effect: the command line's for a Keras model (checked before), the file's for a saved network.</summary>
    static CompileOptions OptionsOf(Args a, Loaded model) =>
        Runs.OptionsOf(RunRequest.Of(a.CompileOptions().IfLeft(CompileOptions.Default)), model);

    internal static Either<Error, Seq<Mode>> ModeOf(Args a, bool allowAll, Mode fallback = Mode.Keras) =>
        a.One("--mode").IfNone(allowAll ? "all" : fallback.ToString().ToLowerInvariant()) switch
        {
            "keras" => Seq1(Mode.Keras),
            "rate" => Seq1(Mode.Rate),
            "spiking" => Seq1(Mode.Spiking),
            "all" when allowAll => Seq(Mode.Keras, Mode.Rate, Mode.Spiking),
            var m => Errors.Usage($"--mode must be keras, rate or spiking{(allowAll ? " or all" : "")}, got '{m}'"),
        };

    internal static Either<Error, int> Steps(Args a, Mode mode) =>
        a.Int("--steps", min: 1).Map(s => new SimRequest(s).StepsFor(mode));

    /// <summary>--readout, when given.</summary>
    static Either<Error, Option<ReadoutChoice>> ReadoutOf(Args a) =>
        a.One("--readout").Match(r => r switch
        {
            "last" => Some(new ReadoutChoice(Readout.Last)),
            "mean" => Some(new ReadoutChoice(Readout.Mean)),
            "count" => Some(new ReadoutChoice(Readout.Count)),
            _ when r.StartsWith("mean:", StringComparison.Ordinal) && int.TryParse(r[5..], out var k) && k > 0 => Some(new ReadoutChoice(Readout.MeanLast, k)),
            _ => Left<Error, Option<ReadoutChoice>>(Errors.Usage($"--readout must be last, mean, mean:K (the last K steps) or count, got '{r}'")),
        }, () => Right<Error, Option<ReadoutChoice>>(None));

    static Either<Error, Encoding> EncodingOf(Args a) =>
        a.One("--encoding").IfNone("constant") switch
        {
            "constant" => Encoding.Constant,
            "poisson" => Encoding.Poisson,
            var e => Errors.Usage($"--encoding must be constant or poisson, got '{e}'"),
        };

    /// <summary>Step counts to read the spiking accuracy at in one run: --checkpoints, or 1, 2, 4, ... up to --steps.</summary>
    internal static Either<Error, int[]> Checkpoints(Args a, int steps) =>
        a.One("--checkpoints").Match(
            s =>
            {
                var parts = s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var values = parts.Select(p => int.TryParse(p, out var v) && v > 0 ? v : -1).ToArray();
                if (values.Length == 0 || values.Any(v => v < 0))
                    return Left<Error, int[]>(Errors.Usage($"--checkpoints expects step counts like 1,2,4,8, got '{s}'"));
                var beyond = values.Where(v => v > steps).Distinct().OrderBy(v => v).ToList();
                return beyond.Count > 0
                    ? Left<Error, int[]>(Errors.Usage(
                        $"--checkpoints {string.Join(",", beyond)} {(beyond.Count == 1 ? "is" : "are")} beyond the run's {steps} steps " +
                        $"({(a.One("--steps").IsSome ? "--steps" : "the default; give --steps to change it")}): a run lasts --steps, so it cannot be read after more. " +
                        $"Give --steps {beyond[^1]}, or checkpoints up to {steps}."))
                    : Right<Error, int[]>(values.Distinct().OrderBy(v => v).ToArray());
            },
            () => Right<Error, int[]>(Enumerable.Range(0, 31).Select(k => 1 << k).TakeWhile(c => c < steps).Append(steps).ToArray()));

    /// <summary>The simulation the command line asks for (--steps, --readout, --encoding, --batch, --threads).</summary>
    static Either<Error, SimRequest> SimRequestOf(Args a) =>
        from steps in a.Int("--steps", min: 1)
        from readout in ReadoutOf(a)
        from encoding in EncodingOf(a)
        from batch in a.Int("--batch", min: 1)
        from threads in a.Int("--threads", min: 1)
        select new SimRequest(steps, readout, encoding, batch, threads);

    /// <summary>Calibration as the command line asks for it (--calibrate and its options), without reading the data.</summary>
    static Either<Error, Option<CalibrationRequest>> CalibrationRequestOf(Args a) =>
        a.One("--calibrate").Match(
            path => from scale in a.Float("--input-scale")
                    from samples in a.Int("--calib-samples", min: 1)
                    from percentile in a.Float("--percentile")   // read as float; 99.9f is taken as 99.9 (decimal), as the library's default
                    from resolution in a.LayerValues("--resolution", "K")
                    from targets in a.AgreementTargets()
                    from correction in a.Int("--bias-correction", min: 1)
                    select Some(new CalibrationRequest(path, scale,
                        new Compiler.Calibrate.CalibrateOptions(percentile.Match(p => (double)(decimal)p, () => Compiler.Calibrate.CalibrateOptions.Default.Percentile), samples.IfNone(1000), 0, !a.Flag("--per-layer"), correction.IfNone(0))
                        {
                            Resolution = resolution.All.IfNone(Compiler.Calibrate.CalibrateOptions.Default.Resolution),
                            LayerResolutions = resolution.Layers,
                        },
                        a.Flag("--bias-shift"), targets)),
            () => Right<Error, Option<CalibrationRequest>>(None));

    /// <summary>What the command line asks a run to be: converter options, calibration and simulation.</summary>
    internal static Either<Error, RunRequest> Request(Args a) =>
        from options in a.CompileOptions()
        from sim in SimRequestOf(a)
        from calibration in CalibrationRequestOf(a)
        from scale in a.Float("--input-scale")
        from maxMemory in a.MaxMemory()
        select new RunRequest(options, calibration, sim) { InputScale = scale, MaxMemory = maxMemory };

    /// <summary>Simulation options; none applies to the Keras reference evaluator (keras mode).</summary>
    static readonly string[] SimOnly = ["--steps", "--readout", "--encoding", "--checkpoints", "--batch", "--threads"];

    /// <summary>Flags that say what the model is (shared layers, time steps in the data) rather than how it converts: every mode takes them.</summary>
    static readonly string[] ModelFlags = ["--split-shared-weights", "--temporal-model"];

    /// <summary>The options among <paramref name="names"/> given on the command line.</summary>
    static List<string> Given(Args a, IEnumerable<string> names) =>
        names.Where(n => a.All(n).Count > 0 || a.Flag(n)).Distinct().ToList();

    static string Listed(List<string> names) => string.Join(", ", names) + (names.Count == 1 ? " does" : " do");

    /// <summary>
    /// Options that do not apply to the mode(s) are usage errors, not ignored: in keras mode (the reference evaluator runs
    /// the model as it is) every converter, calibration and simulation option; in rate mode --checkpoints (they read the
    /// spiking accuracy) and --steps unless a synapse makes the rate network's output depend on time (a saved network's
    /// synapse is checked once it is read: <see cref="AppliesToSaved"/>).
    /// </summary>
    internal static Either<Error, Unit> Applies(Args a, Seq<Mode> modes, bool saved)
    {
        if (modes.Count != 1) return unit;
        if (modes.Head == Mode.Keras)
        {
            var given = Given(a, SimOnly.Concat(Args.ConverterValueOptions).Concat(Args.ConverterFlags).Except(ModelFlags));
            return given.Count == 0 ? unit : Errors.Usage(
                $"{Listed(given)} not apply to --mode keras: the Keras reference evaluator runs the model as it is, with no conversion, " +
                "calibration or simulation. Drop them, or use --mode rate or --mode spiking.");
        }
        if (modes.Head == Mode.Rate)
        {
            if (a.One("--checkpoints").IsSome)
                return Errors.Usage("--checkpoints does not apply to --mode rate: checkpoints read the spiking accuracy after each number of steps. Use --mode spiking (or all).");
            var synapse = a.One("--synapse").Exists(v => v != "none" && Args.ParseFloat(v).Exists(t => t > 0));
            if (!saved && a.One("--steps").IsSome && !synapse && !a.Flag("--temporal-model"))
                return StepsInRate();
        }
        return unit;
    }

    /// <summary><see cref="Applies"/> for a saved network, whose synapse is in the file.</summary>
    internal static Either<Error, Unit> AppliesToSaved(Args a, Seq<Mode> modes, Loaded model) =>
        model.Saved.Match(
            s => modes.Count == 1 && modes.Head == Mode.Rate && a.One("--steps").IsSome && s.Options.Convert.Synapse.IsNone && !s.Options.Legalize.Temporal
                ? StepsInRate() : Right<Error, Unit>(unit),
            () => Right<Error, Unit>(unit));

    static Error StepsInRate() => Errors.Usage(
        "--steps does not apply to --mode rate without a synapse: a rate network without --synapse gives the same output at every step, " +
        "so it runs one. Drop --steps, add --synapse TAU to see the filtered transient, or use --mode spiking.");

    /// <summary>Checks every simulation option before any file is read, so usage errors come first.</summary>
    internal static Either<Error, Unit> ValidateSim(Args a, Mode mode) =>
        from _1 in a.CompileOptions()
        from steps in Steps(a, mode)
        from readout in ReadoutOf(a)
        from _3 in readout.Exists(r => r.Readout == Readout.MeanLast && r.Window > steps)
            ? Left<Error, Unit>(Errors.Usage($"--readout mean:{readout.Map(r => r.Window).IfNone(0)} averages more steps than the run has ({steps}); use K <= --steps"))
            : Right<Error, Unit>(unit)
        from _7 in EncodingOf(a)
        from _4 in a.Int("--batch", min: 1)
        from _5 in a.Int("--threads", min: 1)
        from _6 in a.Float("--input-scale")
        select unit;

    /// <summary>The data files <paramref name="option"/> names, one per model input, scaled by --input-scale (or a saved network's scale).</summary>
    internal static Either<Error, Seq<Tensor>> Inputs(Args a, Loaded model, string option, TextWriter stderr)
    {
        var paths = a.All(option);
        if (paths.Count != model.InputShapes.Count)
            return Errors.Usage($"the model has {model.InputShapes.Count} input(s); give {option} once per input (got {paths.Count})");
        return from scale in a.Float("--input-scale")
               from inputs in DataFiles.Inputs(model, paths.ToSeq(), scale, w => stderr.WriteLine("warning: " + w))
               select inputs;
    }

    /// <summary>The --labels for the inputs' samples, when given.</summary>
    internal static Either<Error, Option<int[]>> Labels(Args a, Seq<Tensor> inputs) =>
        a.One("--labels").Match(
            path => a.MaxMemory().Bind(budget => DataFiles.Labels(path, inputs.Head.Shape[0], budget)).Map(Some),
            () => Right<Error, Option<int[]>>(None));

    /// <summary>The network per mode with the command line's steps for that mode; conversion warnings go to stderr.</summary>
    static Func<Mode, Either<Error, (SimOptions Sim, Converted Net)>> Network(Args a, Loaded model, TextWriter stderr) =>
        mode => from request in Request(a)
                from run in Runs.Network(request, model, stderr.WriteLine, a.Progress.Callback)(mode)
                from _ in Warn(stderr, run.Net.Network.Warnings)
                select run;

    /// <summary>The network for a mode and <paramref name="steps"/>; conversion warnings go to stderr.</summary>
    internal static Either<Error, Prepared> Prepare(Args a, RunRequest request, Loaded model, Mode mode, int steps, TextWriter stderr) =>
        from run in Runs.Prepare(request, model, mode, steps, stderr.WriteLine, a.Progress.Callback)
        from _ in Warn(stderr, run.Net.Network.Warnings)
        select run;

    /// <summary>A hint (what to try next) on stderr, when there is one.</summary>
    internal static Either<Error, Unit> Hint(TextWriter stderr, Option<string> hint)
    {
        hint.IfSome(h => stderr.WriteLine("hint: " + h));
        return unit;
    }

    internal static Either<Error, Unit> Warn(TextWriter stderr, Seq<string> warnings)
    {
        foreach (var w in warnings) stderr.WriteLine("warning: " + w);
        return unit;
    }

    static int VerifyReport(TextWriter stdout, TextWriter stderr, Verified v, float atol, float rtol)
    {
        Warn(stderr, v.Warnings);
        stdout.WriteLine($"max abs difference {v.MaxDiff:E2} (atol {atol:G}, rtol {rtol:G}): " +
                         (v.Matches ? "the converted network matches the Keras model" : "Output of Keras model does not match output of converted network"));
        return v.Matches ? 0 : 1;
    }

    internal static int InspectReport(bool json, TextWriter stdout, Inspection net, Option<SavedNetwork> saved = default)
    {
        var rows = net.Layers;
        if (json)
        {
            var obj = new Dictionary<string, object?>
            {
                ["layers"] = rows.Select(r => new { name = r.Layer, @class = r.ClassName, conversion = r.Conversion, output_shape = r.Shape.ToArray(), neurons = r.Neurons, firing_rate_scale = r.Scale, note = r.Note }),
                ["calibration"] = net.Calibration.Map(s => new { layer = s.Layer, activation = s.Activation, scale = s.Scale }).ToArray(),
                ["neurons"] = net.Neurons,
                ["fallback_layers"] = net.FallbackLayers,
                ["operators"] = net.Ops,
                ["warnings"] = net.Warnings.ToArray(),
            };
            saved.IfSome(s => obj["saved"] = new
            {
                format = $"{NetworkFile.FormatName} v{NetworkFile.Version}", model = s.Model, source = s.Source.Map(src => $"{src.Name} ({src.Format})").IfNone(""),
                settings = Inspection.Settings(s.Convert, s.Calibration),
            });
            stdout.WriteLine(JsonSerializer.Serialize(obj));
            return 0;
        }
        stdout.WriteLine(Table.Render(
            new[] { "layer", "class", "conversion", "output shape", "neurons", "rate scale", "note" },
            rows.Select(r => new[] { r.Layer, r.ClassName, r.Conversion, Shapes.Show(r.Shape), r.Neurons.ToString(), r.Scale is { } sc ? $"{sc:G4}" : "", r.Note })));
        stdout.WriteLine($"{net.Neurons} neurons, {net.Connections} connections, " +
                         $"{net.LoweredOps} operators lowered, {net.Ops} after optimization");
        foreach (var w in net.Warnings) stdout.WriteLine("warning: " + w);
        saved.IfSome(s => stdout.WriteLine($"saved network ({NetworkFile.FormatName} v{NetworkFile.Version}) of {s.Source.Map(src => $"{src.Name} ({src.Format})").IfNone($"'{s.Model}'")} " +
                                           "(its rate form above), converted with: " + Inspection.Settings(s.Convert, s.Calibration)));
        return 0;
    }

    /// <summary>What <c>snn convert</c> wrote, in one line.</summary>
    static string Wrote(string path, SavedNetwork s)
    {
        var ensembles = s.Network.Nodes.OfType<Ensemble>().ToList();
        var kinds = string.Join(", ", ensembles.Select(e => e.Neuron.Name).Distinct());
        var source = s.Source.Match(src => $"; embeds {src.Name} ({src.Files.Count} file(s), {src.Bytes:N0} bytes)", () => "");
        var neurons = ensembles.Count == 0 ? "no neurons" : $"{ensembles.Sum(e => e.Size):N0} neurons in {ensembles.Count} ensemble(s) ({kinds})";
        return $"wrote {path}: {neurons}, {s.Network.Connections.Count} connections, " +
               $"{(s.Calibration.IsSome ? "calibrated" : "not calibrated")}{source} ({NetworkFile.FormatName} v{NetworkFile.Version})";
    }

    static int RunDemo(TextWriter stdout, DemoResult r)
    {
        stdout.WriteLine($"Bundled model: a small CNN trained with TensorFlow.js on Fashion-MNIST; {r.Samples} test images.");
        stdout.WriteLine();
        InspectReport(false, stdout, Inspection.Of(r.Rate));
        stdout.WriteLine();
        stdout.WriteLine($"ANN (Keras reference evaluator): {r.Keras:0.0000}    rate-mode network: {r.RateAccuracy:0.0000}");
        stdout.WriteLine();
        stdout.WriteLine("Spiking accuracy (ReLU -> SpikingRectifiedLinear, output averaged over the steps):");
        stdout.WriteLine(Table.Render(new[] { "steps" }.Concat(r.Spiking.Map(st => $"scale {st.Scale:0}" + (st.Synapse > 0 ? $", synapse {st.Synapse}" : ""))).ToArray(),
            r.Checkpoints.Select((c, k) => new[] { c.ToString() }.Concat(r.Spiking.Map(s => $"{s.Accuracy[k]:0.0000}")).ToArray())));
        stdout.WriteLine("scale 1 (scale_firing_rates) is NengoDL's default; higher scales raise firing rates, a synapse smooths spike trains.");
        return 0;
    }
}
