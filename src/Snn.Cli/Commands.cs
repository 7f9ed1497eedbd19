using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
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

    public static Either<Error, int> Predict(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Set(SimValues, new[] { "--input", "--output" }, Args.ConverterValueOptions), Set(Args.ConverterFlags))
        from modelPath in Model(a)
        from outDir in a.One("--output").ToEither(Errors.Usage("predict needs --output DIR"))
        from mode in ModeOf(a, allowAll: false, NetworkFile.IsSaved(modelPath) ? Mode.Spiking : Mode.Keras)
        from _0 in ValidateSim(a, mode.Head)
        from model in Load(a, modelPath)
        from inputs in Inputs(a, model, "--input", requireAll: true)
        from outputs in Simulate(a, model, inputs, mode.Head, stderr)
        from _ in WriteOutputs(outDir, outputs)
        select Ok(stdout, $"wrote {outputs.Count} output(s) to {outDir}");

    public static Either<Error, int> Evaluate(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Set(SimValues, new[] { "--data", "--labels" }, Args.ConverterValueOptions),
            Set(Args.ConverterFlags, new[] { "--json", "--agreement", "--per-layer-error" }))
        from modelPath in Model(a)
        from modes in ModeOf(a, allowAll: true)
        from _0 in ValidateSim(a, Mode.Spiking)
        from model in Load(a, modelPath)
        from inputs in Inputs(a, model, "--data", requireAll: true)
        from labels in a.One("--labels").IsSome ? Labels(a, inputs.Head.Shape[0]).Map(Some) : Right<Error, Option<int[]>>(None)
        from steps in Steps(a, Mode.Spiking)
        from checkpoints in Checkpoints(a, steps)
        from result in Evaluate(a, model, inputs, labels, modes, steps, checkpoints, stderr)
        select EvaluationReport.Print(a.Flag("--json"), stdout, result);

    /// <summary>The Keras model's outputs against the rate-mode network's, one step.</summary>
    public static Either<Error, int> Verify(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Set(new[] { "--input", "--atol", "--rtol", "--input-scale" }, Args.ConverterValueOptions), Set(Args.ConverterFlags))
        from modelPath in Model(a)
        from atol in a.Float("--atol")
        from rtol in a.Float("--rtol")
        from _o in a.CompileOptions()
        from model in Load(a, modelPath)
        from inputs in a.All("--input").Count > 0 ? Inputs(a, model, "--input", requireAll: true) : Right<Error, Seq<Tensor>>(Ones(model))
        from keras in model.Keras().Bind(m => KerasEval.Run(m, inputs))
        from run in Prepare(a, model, Mode.Rate, 1, stderr)
        from rate in Interpreter.Run(run.Program, run.Net.Functions, inputs, run.Sim).ToEither()
        select VerifyReport(stdout, keras, rate, atol.IfNone(1e-6f), rtol.IfNone(1e-5f));

    /// <summary>The conversion of every layer and the network's size, in rate mode (as verify and evaluate's rate row run it).</summary>
    public static Either<Error, int> Inspect(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Set(Args.ConverterValueOptions, new[] { "--input-scale" }), Set(Args.ConverterFlags, new[] { "--json" }))
        from modelPath in Model(a)
        from _o in a.CompileOptions()
        from model in Load(a, modelPath)
        from run in Prepare(a, model, Mode.Rate, 0, TextWriter.Null)
        select InspectReport(a.Flag("--json"), stdout, run.Net, model.Saved);

    /// <summary>
    /// <c>snn convert MODEL [converter and calibration options] --out NET.snnz</c>: converts with spiking neuron types
    /// (calibrating when asked) and saves the network, its options and the model file(s).
    /// </summary>
    public static Either<Error, int> Convert(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Set(Args.ConverterValueOptions, new[] { "--out", "--input-scale", "--steps" }), Set(Args.ConverterFlags))
        from modelPath in Model(a)
        from outPath in a.One("--out").ToEither(Errors.Usage($"convert needs --out NET{NetworkFile.Extension}"))
        from _1 in NetworkFile.IsSaved(outPath)
            ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage($"--out must name a {NetworkFile.Extension} file (that is how other commands recognize it), got '{outPath}'"))
        from _2 in NetworkFile.IsSaved(modelPath)
            ? Left<Error, Unit>(Errors.Usage($"'{modelPath}' is already a saved network; convert reads a Keras model")) : Right<Error, Unit>(unit)
        from _3 in a.CompileOptions()
        from steps in Steps(a, Mode.Spiking)
        from calibration in CalibrationArgs(a, steps)
        from imported in ModelFile.ImportWithSource(modelPath)
        from compiled in CompileKeras(a, imported.Model, Mode.Spiking, steps)
        from saved in SavedNetwork.Of(compiled.Compiled, compiled.Options, Some(imported.Source),
            calibration.Map(c => System.IO.Path.GetFileName(c.Path)).IfNone(""), calibration.Bind(c => c.InputScale))
        from _4 in Warn(stderr, saved.Network.Warnings)
        from _5 in NetworkFile.Write(outPath, saved)
        select Ok(stdout, Wrote(outPath, saved));

    public static Either<Error, int> Demo(string[] argv, TextWriter stdout, TextWriter stderr) =>
        from a in Args.Parse(argv, Set(new[] { "--threads" }), Set(System.Array.Empty<string>()))
        from model in DemoAssets.Model()
        from data in DemoAssets.Data()
        select RunDemo(stdout, stderr, Progress.Of(a), model, data.X, data.Y);

    // ---------------------------------------------------------------- helpers

    static int Ok(TextWriter stdout, string message)
    {
        stdout.WriteLine(message);
        return 0;
    }

    internal static Either<Error, string> Model(Args a) =>
        a.Positional.Count == 1 ? Right<Error, string>(a.Positional[0])   // not a bare string: LanguageExt 4 converts strings to Error
        : a.Positional.Count == 0 ? Errors.Usage("missing MODEL (a model.json path)")
        : Errors.Usage($"expected one MODEL, got {a.Positional.Count} positional arguments: {string.Join(" ", a.Positional)}");

    /// <summary>
    /// Loads MODEL: a saved network (NET.snnz), refusing converter options since the file fixes them, or a Keras model.
    /// </summary>
    internal static Either<Error, Loaded> Load(Args a, string path) =>
        NetworkFile.IsSaved(path)
            ? from _ in Fixed(a, path)
              from saved in NetworkFile.Read(path)
              select Loaded.Of(path, saved)
            : ModelFile.Import(path).Map(m => Loaded.Of(path, m));

    /// <summary>Converter and calibration options are part of a saved network: giving them again is a usage error naming them.</summary>
    static Either<Error, Unit> Fixed(Args a, string path)
    {
        var given = Args.ConverterValueOptions.Where(o => a.All(o).Count > 0).Concat(Args.ConverterFlags.Where(a.Flag)).ToList();
        return given.Count == 0 ? unit : Errors.Usage(
            $"{string.Join(", ", given)} cannot be used with the saved network '{path}': its conversion and calibration are fixed in the file. " +
            $"To change them, convert the Keras model again (snn convert MODEL {string.Join(" ", given)} ... --out {System.IO.Path.GetFileName(path)}).");
    }

    /// <summary>The conversion options in effect: the command line's for a Keras model, the file's for a saved network.</summary>
    internal static Either<Error, CompileOptions> OptionsOf(Args a, Loaded model) =>
        model.Saved.Match(s => Right<Error, CompileOptions>(s.Options), () => a.CompileOptions());

    /// <summary>
    /// The calibration in effect, for the record (not the data): the command line's (<paramref name="scales"/> are
    /// what it chose) for a Keras model, the file's for a saved network.
    /// </summary>
    internal static Either<Error, Option<SavedCalibration>> CalibrationOf(Args a, Loaded model, int steps, Seq<Compiler.Calibrate.LayerScale> scales) =>
        model.Saved.Match(
            s => Right<Error, Option<SavedCalibration>>(s.Calibration),
            () => CalibrationArgs(a, steps).Map(c => c.Map(x => new SavedCalibration(x.Options, System.IO.Path.GetFileName(x.Path), x.InputScale, scales))));

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
        a.Int("--steps", min: 1).Map(s => s.IfNone(mode == Mode.Spiking ? 32 : 1));

    static Either<Error, (Readout Readout, int Window)> ReadoutOf(Args a, Mode mode) =>
        a.One("--readout").IfNone(mode == Mode.Spiking ? "mean" : "last") switch
        {
            "last" => (Readout.Last, 1),
            "mean" => (Readout.Mean, 1),
            "count" => (Readout.Count, 1),
            var r when r.StartsWith("mean:", StringComparison.Ordinal) && int.TryParse(r[5..], out var k) && k > 0 => (Readout.MeanLast, k),
            var r => Errors.Usage($"--readout must be last, mean, mean:K (the last K steps) or count, got '{r}'"),
        };

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
                return values.Length == 0 || values.Any(v => v < 0)
                    ? Left<Error, int[]>(Errors.Usage($"--checkpoints expects step counts like 1,2,4,8, got '{s}'"))
                    : Right<Error, int[]>(values.Distinct().OrderBy(v => v).ToArray());
            },
            () => Right<Error, int[]>(Enumerable.Range(0, 31).Select(k => 1 << k).TakeWhile(c => c < steps).Append(steps).ToArray()));

    /// <summary>Calibration as the command line asks for it (--calibrate and its options), without reading the data.</summary>
    internal static Either<Error, Option<(Compiler.Calibrate.CalibrateOptions Options, string Path, Option<float> InputScale)>> CalibrationArgs(Args a, int steps) =>
        a.One("--calibrate").Match(
            path => from scale in a.Float("--input-scale")
                    from samples in a.Int("--calib-samples", min: 1)
                    from percentile in a.Float("--percentile")
                    from resolution in a.LayerValues("--resolution", "K")
                    from targets in a.AgreementTargets(steps)
                    from correction in a.Int("--bias-correction", min: 1)
                    select Some((new Compiler.Calibrate.CalibrateOptions(percentile.IfNone(99.9f), samples.IfNone(1000), a.Flag("--bias-shift") ? steps : 0,
                            !a.Flag("--per-layer"), correction.IfNone(0))
                        {
                            Resolution = resolution.All.IfNone(Compiler.Calibrate.CalibrateOptions.Default.Resolution),
                            LayerResolutions = resolution.Layers,
                            Targets = targets,
                        },
                        path, scale)),
            () => Right<Error, Option<(Compiler.Calibrate.CalibrateOptions, string, Option<float>)>>(None));

    /// <summary>Adds calibration data (--calibrate, scaled by --input-scale) to the compile options.</summary>
    static Either<Error, CompileOptions> WithCalibration(Args a, KerasModel model, CompileOptions options, int steps) =>
        CalibrationArgs(a, steps).Bind(c => c.Match(
            x => from data in DataFile.Read(x.Path).Bind(t => CheckInput(x.Path, t, model.InputShapes[0]))
                 select options with { Calibration = Some((x.Options, Seq1(x.InputScale.Match(s => data.Map(v => v * s), () => data)))) },
            () => Right<Error, CompileOptions>(options)));

    /// <summary>Checks every simulation option before any file is read, so usage errors come first.</summary>
    internal static Either<Error, Unit> ValidateSim(Args a, Mode mode) =>
        from _1 in a.CompileOptions()
        from _2 in Steps(a, mode)
        from _3 in ReadoutOf(a, mode)
        from _7 in EncodingOf(a)
        from _4 in a.Int("--batch", min: 1)
        from _5 in a.Int("--threads", min: 1)
        from _6 in a.Float("--input-scale")
        select unit;

    /// <summary>Inputs of ones, batch 2 (NengoDL's verify default).</summary>
    static Seq<Tensor> Ones(Loaded m) =>
        m.InputShapes.Map(s => Tensor.Filled(new[] { 2 }.Concat(s).ToArray(), 1f)).ToSeq();

    internal static Either<Error, Seq<Tensor>> Inputs(Args a, Loaded model, string option, bool requireAll)
    {
        var paths = a.All(option);
        if (paths.Count != model.InputShapes.Count)
            return Errors.Usage($"the model has {model.InputShapes.Count} input(s); give {option} once per input (got {paths.Count})");
        return from scale in a.Float("--input-scale")
               from tensors in paths.Select((p, i) => DataFile.Read(p).Bind(t => CheckInput(p, t, model.InputShapes[i]))).Sequence()
               from batches in CheckBatch(tensors.ToSeq(), paths)
               select scale.Match(s => batches.Map(t => t.Map(v => v * s)), () => batches);
    }

    /// <summary>
    /// The data must be (N, ...model input shape). Unit dimensions may differ (e.g. IDX images (N, 28, 28)
    /// for a (28, 28, 1) input), since adding or dropping them does not move any value.
    /// </summary>
    static Either<Error, Tensor> CheckInput(string path, Tensor t, Arr<int> shape)
    {
        if (t.Rank == 0) return Errors.Data(path, "a scalar is not a batch of samples");
        var sample = t.Shape.Skip(1).ToArr();
        var fits = sample.Count == shape.Count && shape.Zip(sample).ForAll(p => p.Item1 < 0 || p.Item1 == p.Item2);
        if (fits) return t;
        if (shape.ForAll(d => d > 0) && sample.Filter(d => d != 1).SequenceEqual(shape.Filter(d => d != 1)))
            return t.Reshape(new[] { t.Shape[0] }.Concat(shape).ToArray());
        return Errors.Data(path, $"array of shape {Shapes.Show(t.Shape)} does not fit the model input (N, {string.Join(", ", shape)})");
    }

    static Either<Error, Seq<Tensor>> CheckBatch(Seq<Tensor> ts, IReadOnlyList<string> paths) =>
        ts.ForAll(t => t.Shape[0] == ts.Head.Shape[0]) && ts.Head.Shape[0] > 0
            ? ts : Errors.Data(paths[0], "input arrays must have the same, non-zero number of samples");

    internal static Either<Error, int[]> Labels(Args a, int n) =>
        from path in a.One("--labels").ToEither(Errors.Usage("evaluate needs --labels Y.npy"))
        from t in DataFile.Read(path)
        from labels in Metrics.Labels(t, n, path)
        select labels;

    /// <summary>Runs the model in one mode over the inputs.</summary>
    internal static Either<Error, Seq<Tensor>> Simulate(Args a, Loaded model, Seq<Tensor> inputs, Mode mode, TextWriter stderr) =>
        Evaluation.Simulate(mode, model, inputs, Network(a, model, stderr), what => Progress.Of(a).For(stderr, what));

    /// <summary>The network and simulation options for a mode, with the command line's steps for that mode.</summary>
    static Func<Mode, Either<Error, (SimOptions Sim, Converted Net)>> Network(Args a, Loaded model, TextWriter stderr) =>
        mode => Steps(a, mode).Bind(s => Prepare(a, model, mode, s, stderr)).Map(r => (r.Sim, r.Net));

    /// <summary>Evaluates the model with the command line's options (<see cref="Evaluation.Run"/>).</summary>
    internal static Either<Error, EvaluationResult> Evaluate(Args a, Loaded model, Seq<Tensor> inputs, Option<int[]> labelled, Seq<Mode> modes, int steps,
        int[] checkpoints, TextWriter stderr) =>
        Evaluation.Run(new EvaluationOptions(modes, steps, checkpoints, a.Flag("--agreement"), a.Flag("--per-layer-error")), model, inputs, labelled,
            Network(a, model, stderr),
            OptionsOf(a, model).Match(o => o, _ => CompileOptions.Default),
            what => Progress.Of(a).For(stderr, what));

    /// <summary>
    /// The network for a mode and the simulation options: a Keras model is compiled with the command line's options
    /// (calibrated when asked); a saved network is lowered and optimized as saved (spiking) or in its rate form.
    /// </summary>
    internal static Either<Error, (Snn.Ops.OpProgram Program, SimOptions Sim, Converted Net)> Prepare(
        Args a, Loaded model, Mode mode, int steps, TextWriter stderr) =>
        from options in OptionsOf(a, model)
        from sim in SimOf(a, options, mode, steps)
        from net in model.Saved.Match(
            saved => Converted.Of(saved, mode == Mode.Spiking),
            () => model.Keras().Bind(keras => CompileKeras(a, keras, mode, steps)).Map(c => Converted.Of(c.Compiled)))
        from _ in Warn(stderr, net.Network.Warnings)
        select (net.Program, sim, net);

    /// <summary>The simulation the command line asks for: readout, encoding, batch and threads, with the conversion's seed and temporal setting.</summary>
    static Either<Error, SimOptions> SimOf(Args a, CompileOptions options, Mode mode, int steps) =>
        from readout in ReadoutOf(a, mode)
        from encoding in EncodingOf(a)
        from batch in a.Int("--batch", min: 1)
        from threads in a.Int("--threads", min: 1)
        select new SimOptions(steps, readout.Readout, batch.IfNone(100), threads.IfNone(0), options.Legalize.Temporal)
        {
            Window = readout.Window, Encoding = encoding, Seed = options.Convert.Seed,
        };

    /// <summary>Compiles a Keras model for a mode with the command line's options (spiking neuron types in spiking mode), calibrating when asked.</summary>
    internal static Either<Error, (Compiled Compiled, CompileOptions Options)> CompileKeras(Args a, KerasModel model, Mode mode, int steps) =>
        from options in a.CompileOptions()
        from calibrated in WithCalibration(a, model, mode == Mode.Spiking ? options with { Convert = options.Convert.AsSpiking() } : options, steps)
        from search in calibrated.Calibration.IsSome ? SimOf(a, options, Mode.Spiking, steps).Map(Optional) : Right<Error, Option<SimOptions>>(None)
        from compiled in Build.Run(calibrated, model, search: search, log: Console.Error.WriteLine,
            progress: what => Progress.Of(a).For(Console.Error, what))
        select (compiled, calibrated);

    static Either<Error, Unit> Warn(TextWriter stderr, Seq<string> warnings)
    {
        foreach (var w in warnings) stderr.WriteLine("warning: " + w);
        return unit;
    }

    static Either<Error, Unit> WriteOutputs(string dir, Seq<Tensor> outputs)
    {
        try
        {
            Directory.CreateDirectory(dir);
            for (var i = 0; i < outputs.Count; i++) Npy.WriteFloat32(Path.Combine(dir, $"output_{i}.npy"), outputs[i]);
            return unit;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errors.Data(dir, $"cannot write outputs: {e.Message}");
        }
    }

    static int VerifyReport(TextWriter stdout, Seq<Tensor> keras, Seq<Tensor> rate, float atol, float rtol)
    {
        var maxDiff = 0.0;
        var ok = true;
        for (var o = 0; o < keras.Count; o++)
            for (var i = 0; i < keras[o].Length; i++)
            {
                var k = keras[o][i];
                var n = rate[o][i];
                var d = Math.Abs(k - n);
                maxDiff = Math.Max(maxDiff, d);
                if (!(d <= atol + rtol * Math.Abs(n))) ok = false;
            }
        stdout.WriteLine($"max abs difference {maxDiff:E2} (atol {atol:G}, rtol {rtol:G}): " +
                         (ok ? "the converted network matches the Keras model" : "Output of Keras model does not match output of converted network"));
        return ok ? 0 : 1;
    }

    internal static int InspectReport(bool json, TextWriter stdout, Converted net, Option<SavedNetwork> saved = default)
    {
        var neurons = net.Network.Nodes.OfType<Ensemble>().GroupBy(e => e.Layer).ToDictionary(g => g.Key, g => g.Sum(e => e.Size));
        var scales = net.Network.Nodes.OfType<Ensemble>().GroupBy(e => e.Layer).ToDictionary(g => g.Key, g => g.First().Gain);
        var rows = net.Network.Layers.Map(l => (l.Layer, l.ClassName, Conversion: l.Conversion.ToString().ToLowerInvariant(),
            Shape: l.OutputShape, Neurons: neurons.GetValueOrDefault(l.Layer), Scale: scales.TryGetValue(l.Layer, out var g) ? g : (float?)null, l.Note)).ToList();
        if (json)
        {
            var obj = new Dictionary<string, object?>
            {
                ["layers"] = rows.Select(r => new { name = r.Layer, @class = r.ClassName, conversion = r.Conversion, output_shape = r.Shape.ToArray(), neurons = r.Neurons, firing_rate_scale = r.Scale, note = r.Note }),
                ["calibration"] = net.Scales.Map(s => new { layer = s.Layer, activation = s.Activation, scale = s.Scale }).ToArray(),
                ["neurons"] = rows.Sum(r => r.Neurons),
                ["fallback_layers"] = rows.Count(r => r.Conversion == "fallback"),
                ["operators"] = net.Program.Ops.Count,
                ["warnings"] = net.Network.Warnings.ToArray(),
            };
            saved.IfSome(s => obj["saved"] = new
            {
                format = $"{NetworkFile.FormatName} v{NetworkFile.Version}", model = s.Model, source = s.Source.Map(src => $"{src.Name} ({src.Format})").IfNone(""),
                settings = Settings(s.Convert, s.Calibration),
            });
            stdout.WriteLine(JsonSerializer.Serialize(obj));
            return 0;
        }
        stdout.WriteLine(Table.Render(
            new[] { "layer", "class", "conversion", "output shape", "neurons", "rate scale", "note" },
            rows.Select(r => new[] { r.Layer, r.ClassName, r.Conversion, Shapes.Show(r.Shape), r.Neurons.ToString(), r.Scale is { } sc ? $"{sc:G4}" : "", r.Note })));
        stdout.WriteLine($"{rows.Sum(r => r.Neurons)} neurons, {net.Network.Connections.Count} connections, " +
                         $"{net.Lowered.Ops.Count} operators lowered, {net.Program.Ops.Count} after optimization");
        foreach (var w in net.Network.Warnings) stdout.WriteLine("warning: " + w);
        saved.IfSome(s => stdout.WriteLine($"saved network ({NetworkFile.FormatName} v{NetworkFile.Version}) of {s.Source.Map(src => $"{src.Name} ({src.Format})").IfNone($"'{s.Model}'")} " +
                                           "(its rate form above), converted with: " + Settings(s.Convert, s.Calibration)));
        return 0;
    }

    /// <summary>The options that shape a conversion, in words (for saved networks and reports).</summary>
    internal static string Settings(ConvertOptions c, Option<SavedCalibration> calibration)
    {
        var parts = new List<string>
        {
            "max-pool " + c.MaxPool.ToString().ToLowerInvariant(),
            "neuron " + (!c.IntegrateAndFire ? "nengo" : c.NegativeSpikes ? "signed" : "if"),
            calibration.IsSome ? (calibration.Exists(cal => cal.Options.PerChannel) ? "scale per channel from calibration" : "scale per layer from calibration")
                : "scale " + c.ScaleFiringRates.Match(s => F(s), () => "1") + (c.LayerScales.IsEmpty ? "" : " (per-layer overrides)"),
            "synapse " + c.Synapse.Match(s => F(s.Tau) + " s", () => "none"),
            "initial voltage " + c.InitialVoltage.ToString().ToLowerInvariant(),
        };
        if (c.ResetToZero) parts.Add("reset to zero");
        if (!c.Swap.IsEmpty) parts.Add("swap " + string.Join(", ", c.Swap.Map(kv => $"{kv.Key}={kv.Value}")));
        calibration.IfSome(cal => parts.Add(
            $"calibrated on {cal.Data} (p{F(cal.Options.Percentile)}, {Resolutions(cal)}{(cal.Options.BiasShiftSteps > 0 ? $", bias shift for {cal.Options.BiasShiftSteps} steps" : "")}" +
            $"{(cal.Options.BiasCorrectionSteps > 0 ? $", bias correction for {cal.Options.BiasCorrectionSteps} steps" : "")})"));
        return string.Join(" · ", parts);
    }

    static string F(double v) => v.ToString("G4", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The spikes per step at the calibrated activation: one number, or each layer's, and the targets that chose them.</summary>
    static string Resolutions(SavedCalibration cal)
    {
        var byLayer = cal.Scales.GroupBy(l => l.Layer).Select(g => (Layer: g.Key, g.First().Resolution)).ToList();
        var one = byLayer.Select(l => l.Resolution).Distinct().ToList() is { Count: 1 } single ? single[0] : byLayer.Count == 0 ? cal.Options.Resolution : (float?)null;
        var text = one is { } k
            ? $"{F(k)} spike{(k == 1f ? "" : "s")} per step at it"
            : "spikes per step at it by layer: " + string.Join(", ", byLayer.Select(l => $"{l.Layer} {F(l.Resolution)}"));
        return cal.Options.Targets.IsEmpty ? text : $"{text}, chosen for agreement {string.Join(" and ", cal.Options.Targets)} on the calibration data";
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

    static int RunDemo(TextWriter stdout, TextWriter stderr, Progress progress, KerasModel model, Tensor x, int[] y)
    {
        stdout.WriteLine($"Bundled model: a small CNN trained with TensorFlow.js on Fashion-MNIST; {y.Length} test images.");
        stdout.WriteLine();
        var compiled = Compile.Run(CompileOptions.Default, model).Match(c => c, e => throw new InvalidOperationException(e.Message));
        InspectReport(false, stdout, Converted.Of(compiled));
        stdout.WriteLine();
        var inputs = Seq1(x);
        var keras = KerasEval.Run(model, inputs).Match(o => Metrics.Accuracy(o.Head, y), e => throw new InvalidOperationException(e.Message));
        var rate = Interpreter.Run(compiled.Program, compiled.Functions, inputs, new SimOptions(Steps: 1))
            .Match(o => Metrics.Accuracy(o.Head, y), e => throw new InvalidOperationException(e.Message));
        var checkpoints = new[] { 8, 16, 32, 64 };
        var settings = new (float Scale, float Synapse)[] { (1f, 0f), (100f, 0f), (1000f, 0f), (1000f, 0.005f) };
        var spiking = settings.Select(setting =>
        {
            var convert = ConvertOptions.Default.AsSpiking() with
            {
                ScaleFiringRates = Some(setting.Scale),
                Synapse = setting.Synapse > 0 ? Some(new Lowpass(setting.Synapse)) : None,
            };
            var spikingNet = Compile.Run(CompileOptions.Default with { Convert = convert }, model)
                .Match(c => c, e => throw new InvalidOperationException(e.Message));
            var outs = Interpreter.Run(spikingNet.Program, spikingNet.Functions, inputs, new SimOptions(Steps: 64, Readout: Readout.Mean), checkpoints,
                progress.For(stderr, $"spiking, scale {setting.Scale}, 64 steps")).Match(o => o, e => throw new InvalidOperationException(e.Message));
            return outs.Select(o => Metrics.Accuracy(o.Head, y)).ToArray();
        }).ToArray();
        stdout.WriteLine($"ANN (Keras reference evaluator): {keras:0.0000}    rate-mode network: {rate:0.0000}");
        stdout.WriteLine();
        stdout.WriteLine("Spiking accuracy (ReLU -> SpikingRectifiedLinear, output averaged over the steps):");
        stdout.WriteLine(Table.Render(new[] { "steps" }.Concat(settings.Select(st => $"scale {st.Scale:0}" + (st.Synapse > 0 ? $", synapse {st.Synapse}" : ""))).ToArray(),
            checkpoints.Select((c, k) => new[] { c.ToString() }.Concat(spiking.Select(acc => $"{acc[k]:0.0000}")).ToArray())));
        stdout.WriteLine("scale 1 (scale_firing_rates) is NengoDL's default; higher scales raise firing rates, a synapse smooths spike trains.");
        return 0;
    }
}
