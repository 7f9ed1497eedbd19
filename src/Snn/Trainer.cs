using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Saved;
using Snn.Training;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// A fit as a program or the command line asks for it: how a Keras model converts (<see cref="Run"/>: converter and
/// calibration options, input scale, memory budget; a saved network brings its own), <see cref="Steps"/> (T for the
/// calibration options that take one, as <c>snn convert</c>'s <c>--steps</c>), the training (<see cref="Options"/>,
/// whose <see cref="FitOptions.Gradient"/> says loss, probe, threads and method) and whether training starts from fresh
/// weights (<see cref="Reinitialize"/>).
/// </summary>
public sealed record FitRequest(RunRequest Run, FitOptions Options, int Steps = 32)
{
    /// <summary>
    /// Train from fresh weights instead of the model's: <see cref="NetworkParameters.Reinitialize"/> seeded with
    /// <see cref="FitOptions.Seed"/> (Glorot-uniform kernels, zero biases), every parameter, frozen ones included.
    /// </summary>
    public bool Reinitialize { get; init; }

    /// <summary>
    /// Knowledge distillation at this temperature τ: the training targets are the starting network's own softened outputs
    /// (its rate form, the ANN's function: <see cref="Distillation.Targets"/>) instead of the data's, and the loss is the
    /// cross-entropy at τ (<see cref="GradientOptions.Temperature"/>), so unlabelled data (the calibration images) will do.
    /// </summary>
    public Option<float> Distill { get; init; }

    /// <summary>
    /// Also write the trained weights into a copy of the Keras model at this path (<c>--keras OUT</c>,
    /// <see cref="KerasWriteBack"/>): training then moves only what the Keras model can hold (kernels, per-channel biases,
    /// BatchNormalization's γ and β) and freezes the rest. The model must be a Keras file.
    /// </summary>
    public Option<string> Keras { get; init; }
}

/// <summary>
/// What a fit gives: the trained network (a new value, saved as <c>snn convert</c> saves a network, with the start's
/// options, calibration record, input scale and embedded Keras model, which keeps its original weights), the network it
/// started from, and one record per epoch.
/// </summary>
public sealed record Fitted(SavedNetwork Network, SavedNetwork Start, Seq<EpochRecord> History)
{
    /// <summary>The parameters (weights, biases, constants: names and values) training changed from the start's, in parameter order.</summary>
    public Seq<string> Changed =>
        NetworkParameters.Read(Network.Network, false).Zip(NetworkParameters.Read(Start.Network, false))
            .Filter(p => !p.Item1.Value.Equals(p.Item2.Value)).Map(p => p.Item1.Name).Strict();
}

/// <summary>
/// Training from a model, the front door to <see cref="Training.Fit"/>: a Keras model is converted as <c>snn convert</c>
/// converts it (spiking neuron types, calibrated when asked: <see cref="Runs.Save"/>), a saved network is taken as it is;
/// its rate form (<see cref="SavedNetwork.ForMode"/>) is trained in rate mode, NengoDL's <c>sim.fit</c>, and the trained
/// weights, biases and constants are written back into the spiking network, whose neuron types, firing-rate scales and
/// initial voltages stay as they were.
/// </summary>
public static class Trainer
{
    /// <summary><see cref="Fit(FitRequest, Loaded, TrainingData, Option{TrainingData}, Action{string}?, Func{string, Action{int, int}?}?, Action{FitProgress}?, Action{EpochRecord}?)"/> for the model file at <paramref name="path"/> (Keras or NET.snnz).</summary>
    public static Either<Error, Fitted> Fit(FitRequest request, string path, TrainingData train, Option<TrainingData> validation,
        Action<string>? log = null, Func<string, Action<int, int>?>? progress = null, Action<FitProgress>? batches = null, Action<EpochRecord>? epochDone = null) =>
        Loaded.Open(path, request.Run.MaxMemory).Bind(model => Fit(request, model, train, validation, log, progress, batches, epochDone));

    /// <summary>
    /// Trains <paramref name="model"/> on <paramref name="train"/> (validating on <paramref name="validation"/> after
    /// each epoch). <paramref name="log"/> hears the conversion's messages, <paramref name="progress"/> gives the
    /// conversion's progress callbacks, <paramref name="batches"/> hears every batch and <paramref name="epochDone"/>
    /// every epoch's record. Targets are checked against the network's probe before anything trains.
    /// </summary>
    public static Either<Error, Fitted> Fit(FitRequest request, Loaded model, TrainingData train, Option<TrainingData> validation,
        Action<string>? log = null, Func<string, Action<int, int>?>? progress = null, Action<FitProgress>? batches = null, Action<EpochRecord>? epochDone = null) =>
        from start in Start(request, model, log, progress)
        // Rate training runs the rate form (every neuron its rate function), quantized training the spiking network itself.
        let rate = request.Options.Gradient.Method == TrainingMethod.Quantized ? start.Network : start.ForMode(false)
        from taught in request.Distill.Match(
            tau => Distillation.Targets(GradientOptions.Default with { Probe = request.Options.Gradient.Probe, Threads = request.Options.Gradient.Threads },
                start.ForMode(false), train.Inputs, tau, request.Options.BatchSize).Map(t => train with { Targets = t }).ToEither(),
            () => Right<Error, TrainingData>(train))
        let distilled = request.Distill.Match(tau => request.Options with { Gradient = request.Options.Gradient with { Temperature = tau } }, () => request.Options)
        from options in request.Keras.IsSome ? Writable(distilled, model, start.Network) : Right<Error, FitOptions>(distilled)
        from _t in TargetsFit(options, rate, taught, "training")
        from _v in validation.Match(v => TargetsFit(request.Options, rate, v, "validation"), () => Right<Error, Unit>(unit))
        from initial in request.Reinitialize ? NetworkParameters.Reinitialize(request.Options.Seed, rate).ToEither() : Right<Error, Network>(rate)
        from result in Training.Fit.Run(options, initial, taught, validation, batches, epochDone).ToEither()
        from trained in NetworkParameters.Write(start.Network, toMap(NetworkParameters.Read(result.Network, false).Map(p => (p.Name, p.Value)))).ToEither()
        from _k in request.Keras.Match(
            path => KerasWriteBack.Write(KerasWriteBackOptions.Default with { MaxMemory = request.Run.MaxMemory }, model.Path, path, start.Network, trained),
            () => Right<Error, Unit>(unit))
        select new Fitted(start with { Network = trained }, start, result.History);

    /// <summary>
    /// Training that stays writable into the Keras model (<see cref="FitRequest.Keras"/>): the ties of
    /// <see cref="KerasWriteBack.Ties"/> and every parameter the model cannot hold frozen.
    /// </summary>
    static Either<Error, FitOptions> Writable(FitOptions options, Loaded model, Network converted) =>
        from _ in model.Saved.IsNone
            ? Right<Error, Unit>(unit)
            : Left<Error, Unit>(Errors.Usage($"--keras writes the trained weights into the Keras model, so MODEL must be the Keras file, not the saved network '{model.Path}'"))
        from keras in model.Keras()
        from ties in KerasWriteBack.Ties(KerasWriteBackOptions.Default, keras, converted)
        from writable in KerasWriteBack.Writable(KerasWriteBackOptions.Default, keras, converted, model.Path)
        let fixedParameters = NetworkParameters.Read(converted, options.Gradient.TrainableFlags).Map(p => p.Name).Filter(n => !writable.Contains(n))
        select options with { TieBiases = true, Ties = Some(ties), Freeze = options.Freeze + fixedParameters };

    /// <summary>
    /// The saved network training starts from: a saved network's own, or the Keras model converted and saved as
    /// <c>snn convert</c> does it, refusing function nodes (fallback layers) first, whose code has no gradient.
    /// </summary>
    public static Either<Error, SavedNetwork> Start(FitRequest request, Loaded model, Action<string>? log = null, Func<string, Action<int, int>?>? progress = null) =>
        model.Saved.Match(
            saved => Right<Error, SavedNetwork>(saved),
            () => Runs.Save(request.Run, model.Path, request.Steps, log, progress, Trainable));

    /// <summary>Function nodes (fallback layers, custom converters) cannot be trained: an error naming every one.</summary>
    public static Either<Error, Unit> Trainable(Network net)
    {
        var functions = net.Nodes.OfType<FunctionNode>().ToSeq();
        if (functions.IsEmpty) return unit;
        var names = string.Join(", ", functions.Map(f => f.FallbackClass.Match(c => $"layer '{Names.Printable(f.Layer)}' ({Names.Printable(c)})", () => $"'{Names.Printable(f.Id)}' ({Names.Printable(f.Description)})")));
        return Errors.Untrainable(names,
            $"{(functions.Count == 1 ? "it runs" : "they run")} as function nodes (layers without a native conversion), whose code has no derivative here; " +
            "training needs every layer converted natively (see snn inspect MODEL)");
    }

    /// <summary>
    /// The targets of <paramref name="data"/> against the probe the loss reads: one class label per sample (cross-entropy;
    /// whole numbers 0..C−1) or one row of the probe's size per sample (one-hot or probabilities, or values for MSE).
    /// </summary>
    static Either<Error, Unit> TargetsFit(FitOptions options, Network net, TrainingData data, string what)
    {
        var probe = options.Gradient.Probe;
        if (probe < 0 || probe >= net.Probes.Count) return Errors.Usage($"the loss reads probe {probe}, but the network has {net.Probes.Count} probe(s)");
        var size = Shapes.Product(net.Probes[probe].Shape);
        var n = data.Count;
        var perSample = n == 0 ? 0 : data.Targets.Length / n;
        var crossEntropy = options.Gradient.Loss == Loss.SoftmaxCrossEntropy;
        if (n == 0 || data.Targets.Length % n != 0 || !(perSample == size || (crossEntropy && perSample == 1)))
            return Errors.Labels($"the {what} targets have {data.Targets.Length} values for {n} samples; the network's output has {size} values per sample, so give " +
                                 (crossEntropy ? $"one class label (0..{size - 1}) or {size} values (one-hot or probabilities) per sample" : $"{size} target values per sample (mean squared error)"));
        if (crossEntropy && perSample == 1 && size > 1)
        {
            var labels = data.Targets.Span;
            for (var i = 0; i < labels.Length; i++)
                if (!(labels[i] >= 0 && labels[i] < size) || labels[i] != MathF.Floor(labels[i]))
                    return Errors.Labels($"{what} label {i} is {labels[i]}, but the network has {size} outputs (classes 0..{size - 1}); " +
                                         "give the labels that belong to this data (class indices from 0, or one-hot rows)");
        }
        return unit;
    }

    /// <summary>Inputs without targets, for <see cref="FitRequest.Distill"/> (the teacher gives the targets).</summary>
    public static Either<Error, TrainingData> Data(Loaded model, Seq<string> paths, Option<float> scale, Action<string> warn) =>
        DataFiles.Inputs(model, paths, scale, warn).Map(inputs => new TrainingData(inputs, Tensor.Own(new[] { 0 }, System.Array.Empty<float>())));

    /// <summary>
    /// Training data for <paramref name="model"/>: the inputs <paramref name="paths"/> (one per model input, read and scaled
    /// as <see cref="DataFiles.Inputs(Loaded, Seq{string}, Option{float}, Action{string})"/> reads them) and the targets
    /// file <paramref name="targets"/> as it is: (N,) class labels, or (N, ...) rows (one-hot, probabilities or values).
    /// </summary>
    public static Either<Error, TrainingData> Data(Loaded model, Seq<string> paths, string targets, Option<float> scale, Action<string> warn) =>
        from inputs in DataFiles.Inputs(model, paths, scale, warn)
        from t in DataFile.ReadArray(targets, new DataLimits(model.MaxMemory)).Map(a => a.Values)
        from _ in t.Rank > 0 && t.Shape[0] == inputs.Head.Shape[0]
            ? Right<Error, Unit>(unit)
            : Left<Error, Unit>(Errors.Data(targets, $"targets of shape {Shapes.Show(t.Shape)} do not match the {inputs.Head.Shape[0]} samples of '{paths.Head}'"))
        select new TrainingData(inputs, t);
}
