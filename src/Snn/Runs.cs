using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Keras;
using Snn.Compiler.Saved;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>A readout and, for <see cref="Runtime.Readout.MeanLast"/>, the last steps it averages.</summary>
public sealed record ReadoutChoice(Readout Readout, int Window = 1)
{
    /// <summary>As the command line names it: last, mean, mean:K or count.</summary>
    public override string ToString() => Readout switch
    {
        Runtime.Readout.MeanLast => $"mean:{Window}",
        var r => r.ToString().ToLowerInvariant(),
    };
}

/// <summary>
/// The simulation asked for, before a mode fixes what is not given: steps (32 spiking, 1 otherwise), the readout (mean
/// spiking, last otherwise), the input encoding, samples per batch (100) and worker threads (0: every core).
/// </summary>
public sealed record SimRequest(
    Option<int> Steps = default, Option<ReadoutChoice> Readout = default, Encoding Encoding = Encoding.Constant,
    Option<int> Batch = default, Option<int> Threads = default)
{
    public static readonly SimRequest Default = new();

    /// <summary>The steps a mode runs for.</summary>
    public int StepsFor(Mode mode) => Steps.IfNone(mode == Mode.Spiking ? 32 : 1);

    /// <summary>The readout a mode uses.</summary>
    public ReadoutChoice ReadoutFor(Mode mode) => Readout.IfNone(() => new ReadoutChoice(mode == Mode.Spiking ? Runtime.Readout.Mean : Runtime.Readout.Last));

    /// <summary>The simulation options for a mode and step count, with the conversion's seed and temporal setting.</summary>
    public SimOptions For(CompileOptions options, Mode mode, int steps)
    {
        var readout = ReadoutFor(mode);
        return new SimOptions(steps, readout.Readout, Batch.IfNone(100), Threads.IfNone(0), options.Legalize.Temporal)
        {
            Window = readout.Window, Encoding = Encoding, Seed = options.Convert.Seed,
        };
    }
}

/// <summary>
/// An agreement target as asked for: agreement A at <see cref="Steps"/>, or at the run's steps when not given
/// (<see cref="Text"/>: as written, for the error when the run has no steps).
/// </summary>
public sealed record TargetRequest(double Agreement, Option<int> Steps, string Text = "")
{
    public Either<Error, AgreementTarget> For(int steps)
    {
        var t = Steps.IfNone(steps);
        return t > 0 ? new AgreementTarget(Agreement, t)
            : Errors.Usage("--target-agreement expects A or A@T with A in (0, 1] and T a positive step count (e.g. 0.98@16), " +
                           $"got '{(Text.Length > 0 ? Text : Agreement.ToString(System.Globalization.CultureInfo.InvariantCulture))}'");
    }
}

/// <summary>
/// Calibration as asked for: the data file (scaled by <see cref="InputScale"/>) and the options, whose bias shift
/// (<see cref="BiasShift"/>) and agreement targets without steps take the run's steps (<see cref="OptionsFor"/>).
/// </summary>
public sealed record CalibrationRequest(string Path, Option<float> InputScale, CalibrateOptions Options, bool BiasShift = false, Seq<TargetRequest> Targets = default)
{
    /// <summary>The calibration options for a run of <paramref name="steps"/> steps.</summary>
    public Either<Error, CalibrateOptions> OptionsFor(int steps) =>
        Targets.Map(t => t.For(steps)).Strict().Sequence().Map(targets => Options with
        {
            BiasShiftSteps = BiasShift ? steps : 0, Targets = targets.Strict(),
        });
}

/// <summary>
/// Everything that shapes a run of a Keras model: the compile options (the converter's), calibration when asked for, and
/// the simulation. A saved network brings its own compile options and calibration; only <see cref="Sim"/> applies to it.
/// </summary>
public sealed record RunRequest(CompileOptions Options, Option<CalibrationRequest> Calibration, SimRequest Sim)
{
    /// <summary>
    /// The scale input values are multiplied by (<c>--input-scale</c>): a saved network records it as what its conversion
    /// assumed (<see cref="SavedNetwork.InputScale"/>); calibration data is scaled by its request's own.
    /// </summary>
    public Option<float> InputScale { get; init; }

    /// <summary>
    /// The memory budget in bytes (<c>--max-memory</c>, <see cref="MemoryBudget"/>) for the calibration data (checked
    /// before it is decoded) and the simulations (<see cref="SimOptions.MaxMemory"/>).
    /// </summary>
    public long MaxMemory { get; init; } = MemoryBudget.DefaultBytes;

    /// <summary>The simulation options for a mode and step count (<see cref="SimRequest.For"/>) within <see cref="MaxMemory"/>.</summary>
    public SimOptions SimFor(CompileOptions options, Mode mode, int steps) => Sim.For(options, mode, steps) with { MaxMemory = MaxMemory };

    public static RunRequest Of(CompileOptions options) => new(options, None, SimRequest.Default);
}

/// <summary>A network for one mode, ready to simulate, and the simulation options it runs with.</summary>
public sealed record Prepared(SimOptions Sim, Converted Net);

/// <summary>
/// Runs as a program or the command line asks for them: a Keras model is compiled with the request's options (with
/// spiking neuron types in spiking mode, calibrated when asked); a saved network is lowered and optimized as saved
/// (spiking) or in its rate form. <c>log</c> hears the resolution search's trials, <c>progress</c> gives a progress callback per run.
/// </summary>
public static class Runs
{
    /// <summary>The conversion options in effect: the request's for a Keras model, the file's for a saved network.</summary>
    public static CompileOptions OptionsOf(RunRequest request, Loaded model) =>
        model.Saved.Match(s => s.Options, () => request.Options);

    /// <summary>
    /// The calibration in effect, for the record (not the data): the request's (<paramref name="scales"/> are what it
    /// chose) for a Keras model, the file's for a saved network.
    /// </summary>
    public static Either<Error, Option<SavedCalibration>> CalibrationOf(RunRequest request, Loaded model, int steps, Seq<LayerScale> scales) =>
        model.Saved.Match(
            s => Right<Error, Option<SavedCalibration>>(s.Calibration),
            () => request.Calibration.Match(
                c => c.OptionsFor(steps).Map(o => Some(new SavedCalibration(o, System.IO.Path.GetFileName(c.Path), c.InputScale, scales))),
                () => Right<Error, Option<SavedCalibration>>(None)));

    /// <summary>
    /// The compile options with the calibration data (read, checked against the model's input and scaled) and options for
    /// <paramref name="steps"/>; <paramref name="log"/> hears a warning when the data is uint8 and no input scale is given.
    /// </summary>
    public static Either<Error, CompileOptions> WithCalibration(RunRequest request, KerasModel model, CompileOptions options, int steps,
        Action<string>? log = null) =>
        request.Calibration.Match(
            c => from o in c.OptionsFor(steps)
                 from array in DataFiles.ReadFor(c.Path, model.InputShapes[0], request.MaxMemory)
                 from _ in DataFiles.WarnUnscaled(Seq1(array), Seq1(c.Path), c.InputScale, w => log?.Invoke("warning: " + w))
                 from data in DataFiles.Fit(c.Path, array.Values, model.InputShapes[0])
                 select options with { Calibration = Some((o, Seq1(c.InputScale.Match(s => data.Map(v => v * s), () => data)))) },
            () => Right<Error, CompileOptions>(options));

    /// <summary>Compiles a Keras model for a mode (spiking neuron types in spiking mode), calibrating when asked; returns the options it compiled with.</summary>
    public static Either<Error, (Compiled Compiled, CompileOptions Options)> CompileKeras(RunRequest request, KerasModel model, Mode mode, int steps,
        Action<string>? log = null, Func<string, Action<int, int>?>? progress = null) =>
        from calibrated in WithCalibration(request, model,
            (mode == Mode.Spiking ? request.Options with { Convert = request.Options.Convert.AsSpiking() } : request.Options) with { MaxMemory = request.MaxMemory },
            steps, log)
        let search = calibrated.Calibration.IsSome ? Some(request.SimFor(request.Options, Mode.Spiking, steps)) : None
        from compiled in Build.Run(calibrated, model, search: search, log: log, progress: progress)
        select (compiled, calibrated);

    /// <summary>The network for a mode and the simulation options, for <paramref name="steps"/> steps.</summary>
    public static Either<Error, Prepared> Prepare(RunRequest request, Loaded model, Mode mode, int steps,
        Action<string>? log = null, Func<string, Action<int, int>?>? progress = null) =>
        from net in model.Saved.Match(
            saved => Converted.Of(saved, mode == Mode.Spiking),
            () => model.Keras().Bind(keras => CompileKeras(request, keras, mode, steps, log, progress)).Map(c => Converted.Of(c.Compiled)))
        select new Prepared(request.SimFor(OptionsOf(request, model), mode, steps), net);

    /// <summary>The network per mode, each with its mode's steps (<see cref="SimRequest.StepsFor"/>), as <see cref="Evaluation.Run"/> takes it.</summary>
    public static Func<Mode, Either<Error, (SimOptions Sim, Converted Net)>> Network(RunRequest request, Loaded model,
        Action<string>? log = null, Func<string, Action<int, int>?>? progress = null) =>
        mode => Prepare(request, model, mode, request.Sim.StepsFor(mode), log, progress).Map(p => (p.Sim, p.Net));

    /// <summary>
    /// Converts the Keras model file(s) at <paramref name="path"/> (with spiking neuron types, calibrating when asked)
    /// into a saved network that records its options, the calibration and the model file(s).
    /// </summary>
    /// <paramref name="check"/>, when given, sees the compiled network before it is saved (<see cref="Trainer"/> refuses
    /// what it cannot train there, before the save's own checks).
    public static Either<Error, SavedNetwork> Save(RunRequest request, string path, int steps,
        Action<string>? log = null, Func<string, Action<int, int>?>? progress = null, Func<Snn.Compiler.Convert.Network, Either<Error, Unit>>? check = null) =>
        from imported in ModelFile.ImportWithSource(path, request.MaxMemory)
        from compiled in CompileKeras(request, imported.Model, Mode.Spiking, steps, log, progress)
        from _ in check?.Invoke(compiled.Compiled.Network) ?? Right<Error, Unit>(unit)
        from saved in SavedNetwork.Of(compiled.Compiled, compiled.Options, Some(imported.Source),
            request.Calibration.Map(c => System.IO.Path.GetFileName(c.Path)).IfNone(""), request.InputScale || request.Calibration.Bind(c => c.InputScale))
        select saved;
}
