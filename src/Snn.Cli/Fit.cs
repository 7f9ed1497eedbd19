using System.Globalization;
using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Saved;
using Snn.Training;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// <c>snn fit MODEL|NET.snnz --data X --labels Y --out NET.snnz [training, converter and calibration options]</c>:
/// trains the converted network in rate mode (<see cref="Trainer"/>) and saves it. Every option is checked before a
/// file is read; a line per epoch on stdout (or the history as JSON with <c>--json</c>), progress within an epoch on stderr.
/// </summary>
public static class FitCommand
{
    public static Either<Error, int> Run(Args a, TextWriter stdout, TextWriter stderr) =>
        from modelPath in Commands.Model(a)
        from outPath in a.One("--out").ToEither(Errors.Usage($"fit needs --out NET{NetworkFile.Extension}: the file the trained network is written to"))
        from _o in NetworkFile.IsSaved(outPath)
            ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage($"--out must name a {NetworkFile.Extension} file (that is how other commands recognize it), got '{outPath}'"))
        from _w0 in Writable(outPath)
        from _d in a.All("--data").Count > 0
            ? Right<Error, Unit>(unit) : Left<Error, Unit>(Errors.Usage("fit needs --data X: the training inputs, once per model input"))
        from distill in Distill(a)
        from labels in distill.IsSome
            ? a.One("--labels").IsSome
                ? Left<Error, Option<string>>(Errors.Usage("--distill takes its targets from the model itself; drop --labels (or drop --distill to train on the labels)"))
                : Right<Error, Option<string>>(None)
            : a.One("--labels").Map(Some).ToEither(Errors.Usage(
                "fit needs --labels Y: the training targets, (N,) class labels or (N, C) one-hot rows (values of the output's shape with --loss mse); " +
                "or --distill TAU to learn the model's own outputs (no labels needed)"))
        from _v in (a.All("--validation-data").Count > 0) == a.One("--validation-labels").IsSome
            ? Right<Error, Unit>(unit)
            : Left<Error, Unit>(Errors.Usage("--validation-data and --validation-labels go together: give both (the validation inputs and their targets) or neither"))
        from options in Options(a)
        from request in Commands.Request(a)
        from model in Commands.Load(a, modelPath, "--seed")
        from scale in a.Float("--input-scale")
        from train in labels.Match(
            l => Trainer.Data(model, a.All("--data").ToSeq(), l, scale, w => stderr.WriteLine("warning: " + w)),
            () => Trainer.Data(model, a.All("--data").ToSeq(), scale, w => stderr.WriteLine("warning: " + w)))
        from validation in a.One("--validation-labels").Match(
            v => Trainer.Data(model, a.All("--validation-data").ToSeq(), v, scale, w => stderr.WriteLine("warning: " + w)).Map(Some),
            () => Right<Error, Option<TrainingData>>(None))
        let epochLines = a.Flag("--json") ? a.Progress.Shows == Progress.Kind.Off ? TextWriter.Null : stderr : stdout
        from fitted in Trainer.Fit(new FitRequest(request with { Sim = SimRequest.Default }, options, options.Gradient.Method == TrainingMethod.Quantized ? options.Gradient.Steps : 32)
            { Reinitialize = a.Flag("--reinit"), Distill = distill, Keras = a.One("--keras") },
            model, train, validation, stderr.WriteLine, a.Progress.Callback, Batches(a.Progress), e => EpochLine(epochLines, options.Epochs, e))
        from _w in Commands.Warn(stderr, fitted.Start.Network.Warnings)
        from _s in NetworkFile.Write(outPath, fitted.Network)
        select Report(a, stdout, stderr, modelPath, outPath, options, train, validation, fitted);

    /// <summary>What stands at --out and may not be replaced (a folder, a link, a device), refused before anything trains.</summary>
    static Either<Error, Unit> Writable(string path)
    {
        try
        {
            return OutputFile.Refusal(Path.GetFullPath(path)).Match(
                why => Left<Error, Unit>(Errors.Write(path, "the trained network", why)), () => Right<Error, Unit>(unit));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or IOException or UnauthorizedAccessException)
        {
            return Errors.Write(path, "the trained network", e.Message);   // boundary: the path API throws for a path the system cannot express
        }
    }

    /// <summary>
    /// The training the command line asks for: optimizer (--optimizer, --lr, --momentum, --nesterov), --epochs, --batch,
    /// --seed, --freeze and the gradient's options (<see cref="Gradient"/>).
    /// </summary>
    internal static Either<Error, FitOptions> Options(Args a) =>
        from epochs in a.Int("--epochs", min: 1)
        from batch in a.Int("--batch", min: 1)
        from seed in a.Int("--seed", min: 0)
        from optimizer in Optimizer(a)
        from gradient in Gradient(a)
        select new FitOptions(optimizer, epochs.IfNone(1), batch.IfNone(32), (uint)seed.IfNone(0))
        {
            Gradient = gradient,
            Freeze = a.All("--freeze").ToSeq().Strict(),
            TieBiases = !a.Flag("--per-neuron-biases"),
        };

    /// <summary>
    /// The options of every gradient step: --loss and --threads (every core by default; the bytes do not depend on it).
    /// The method options (rate or quantized, the steps, firing-rate targets) belong here too, as GradientOptions takes them.
    /// </summary>
    internal static Either<Error, GradientOptions> Gradient(Args a) =>
        from loss in a.One("--loss").IfNone("crossentropy") switch
        {
            "crossentropy" or "categorical_crossentropy" => Right<Error, Loss>(Loss.SoftmaxCrossEntropy),
            "mse" or "mean_squared_error" => Right<Error, Loss>(Loss.MeanSquaredError),
            var l => Left<Error, Loss>(Errors.Usage($"--loss must be crossentropy or mse, got '{l}'")),
        }
        from threads in a.Int("--threads", min: 1)
        from method in a.One("--method").IfNone("rate") switch
        {
            "rate" => Right<Error, TrainingMethod>(TrainingMethod.Rate),
            "quantized" => Right<Error, TrainingMethod>(TrainingMethod.Quantized),
            var m => Left<Error, TrainingMethod>(Errors.Usage($"--method must be rate or quantized, got '{m}'")),
        }
        from steps in a.Int("--steps", min: 1)
        from _s in steps.IsSome && method != TrainingMethod.Quantized
            ? Left<Error, Unit>(Errors.Usage("--steps applies to --method quantized (the spiking network's step count to train for); rate training has no steps"))
            : Right<Error, Unit>(unit)
        from rate in RateTarget(a)
        select GradientOptions.Default with
        {
            Loss = loss, Threads = threads.IfNone(Environment.ProcessorCount), Method = method, Steps = steps.IfNone(GradientOptions.Default.Steps),
            RateRegularization = rate,
        };

    /// <summary>--distill TAU: the model's own outputs at temperature TAU as the targets.</summary>
    static Either<Error, Option<float>> Distill(Args a) =>
        a.One("--distill").Match(
            s => float.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && t > 0 && float.IsFinite(t)
                ? Right<Error, Option<float>>(Some(t))
                : Left<Error, Option<float>>(Errors.Usage($"--distill expects a positive softmax temperature such as 4, got '{s}'")),
            () => Right<Error, Option<float>>(None));

    /// <summary>--rate-target HZ with --rate-weight W (and --rate-layer LAYER, repeatable): NengoDL's firing-rate regularization.</summary>
    static Either<Error, Option<RateRegularization>> RateTarget(Args a)
    {
        static Option<double> Number(string s) => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v) ? v : None;
        var (target, weight, layers) = (a.One("--rate-target"), a.One("--rate-weight"), a.All("--rate-layer").ToSeq().Strict());
        if (target.IsNone)
            return weight.IsSome || !layers.IsEmpty
                ? Errors.Usage("--rate-weight and --rate-layer go with --rate-target HZ (the firing rate each spiking neuron is pulled toward)")
                : Right<Error, Option<RateRegularization>>(None);
        var t = target.Bind(Number);
        if (!t.Exists(v => v >= 0)) return Errors.Usage($"--rate-target expects a firing rate in Hz (0 or more), got '{target.IfNone("")}'");
        var w = weight.Match(s => Number(s), () => Some(0.01));
        if (!w.Exists(v => v > 0)) return Errors.Usage($"--rate-weight expects a positive loss weight, got '{weight.IfNone("")}'");
        return Some(new RateRegularization((float)t.IfNone(0), (float)w.IfNone(0)) { Layers = layers });
    }

    static Either<Error, Training.Optimizer> Optimizer(Args a)
    {
        var lr = a.One("--lr").Map(s => (Text: s, Value: double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN));
        if (lr.Exists(l => !(l.Value > 0) || double.IsInfinity(l.Value)))
            return Errors.Usage($"--lr expects a positive learning rate such as 0.001, got '{lr.Map(l => l.Text).IfNone("")}'");
        var momentum = a.One("--momentum").Map(s => (Text: s, Value: double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : double.NaN));
        switch (a.One("--optimizer").IfNone("adam"))
        {
            case "adam":
                if (momentum.IsSome || a.Flag("--nesterov"))
                    return Errors.Usage($"{(momentum.IsSome ? "--momentum" : "--nesterov")} applies to --optimizer sgd; Adam keeps its own moments (drop it, or add --optimizer sgd)");
                return lr.Match(l => new Adam(l.Value), () => new Adam());
            case "sgd":
                if (momentum.Exists(m => !(m.Value >= 0 && m.Value < 1)))
                    return Errors.Usage($"--momentum expects a number in [0, 1), got '{momentum.Map(m => m.Text).IfNone("")}'");
                if (a.Flag("--nesterov") && !momentum.Exists(m => m.Value > 0))
                    return Errors.Usage("--nesterov needs momentum: add --momentum M with M > 0 (e.g. 0.9)");
                return new Sgd(lr.Map(l => l.Value).IfNone(new Sgd().LearningRate), momentum.Map(m => m.Value).IfNone(0), a.Flag("--nesterov"));
            case var o:
                return Errors.Usage($"--optimizer must be adam or sgd, got '{o}'");
        }
    }

    /// <summary>Progress within each epoch (a bar, or plain lines when redirected) with the running loss.</summary>
    static Action<FitProgress>? Batches(Progress progress)
    {
        if (progress.Shows == Progress.Kind.Off) return null;
        var epoch = 0;
        Action<int, int>? report = null;
        var loss = 0.0;
        return p =>
        {
            if (p.Epoch != epoch)
            {
                epoch = p.Epoch;
                report = progress.For($"epoch {p.Epoch}/{p.Epochs}, batches", () => $"loss {loss:0.0000}");
            }
            loss = p.RunningLoss;
            report?.Invoke(p.Batch, p.Batches);
        };
    }

    static string Metric(Option<double> v) => v.Match(x => x.ToString("0.0000", CultureInfo.InvariantCulture), () => "-");

    static void EpochLine(TextWriter w, int epochs, EpochRecord e)
    {
        var line = $"epoch {e.Epoch}/{epochs}: loss {e.Loss.ToString("0.0000", CultureInfo.InvariantCulture)}";
        e.Accuracy.IfSome(x => line += $", accuracy {Metric(x)}");
        e.ValidationLoss.IfSome(x => line += $", val_loss {Metric(x)}");
        e.ValidationAccuracy.IfSome(x => line += $", val_accuracy {Metric(x)}");
        w.WriteLine(line + $" ({e.Seconds.ToString("0.0", CultureInfo.InvariantCulture)} s)");
        w.Flush();
    }

    static int Report(Args a, TextWriter stdout, TextWriter stderr, string modelPath, string outPath, FitOptions options,
        TrainingData train, Option<TrainingData> validation, Fitted fitted)
    {
        var changed = fitted.Changed;
        var last = fitted.History.Last;
        var source = fitted.Network.Source.Map(s => s.Name);
        if (a.Flag("--json"))
        {
            static object? N(Option<double> v) => v.Case is double x ? x : null;   // Option.Match refuses a null result
            var obj = new Dictionary<string, object?>
            {
                ["model"] = modelPath,
                ["out"] = outPath,
                ["samples"] = train.Count,
                ["validation_samples"] = validation.Case is TrainingData v ? v.Count : null,
                ["options"] = new Dictionary<string, object?>
                {
                    ["optimizer"] = options.Optimizer.Name,
                    ["learning_rate"] = options.Optimizer.LearningRate,
                    ["momentum"] = options.Optimizer is Sgd s ? s.Momentum : null,
                    ["nesterov"] = options.Optimizer is Sgd n ? n.Nesterov : null,
                    ["epochs"] = options.Epochs,
                    ["batch"] = options.BatchSize,
                    ["seed"] = options.Seed,
                    ["loss"] = options.Gradient.Loss == Loss.SoftmaxCrossEntropy ? "crossentropy" : "mse",
                    ["method"] = "rate",
                    ["freeze"] = options.Freeze.ToArray(),
                    ["reinit"] = a.Flag("--reinit"),
                },
                ["history"] = fitted.History.Map(e => new Dictionary<string, object?>
                {
                    ["epoch"] = e.Epoch, ["loss"] = e.Loss, ["accuracy"] = N(e.Accuracy),
                    ["val_loss"] = N(e.ValidationLoss), ["val_accuracy"] = N(e.ValidationAccuracy), ["seconds"] = e.Seconds,
                }).ToArray(),
                ["final"] = new Dictionary<string, object?>
                {
                    ["loss"] = last.Loss, ["accuracy"] = N(last.Accuracy), ["val_loss"] = N(last.ValidationLoss), ["val_accuracy"] = N(last.ValidationAccuracy),
                },
                ["changed_parameters"] = changed.ToArray(),
            };
            stdout.WriteLine(JsonSerializer.Serialize(obj));
        }
        else
            stdout.WriteLine($"wrote {outPath}: {fitted.History.Count} epoch(s) on {train.Count} samples, {changed.Count} parameter tensor(s) changed" +
                             (options.Freeze.IsEmpty ? "" : $", {string.Join(", ", options.Freeze.Map(Names.Printable))} frozen") +
                             $" ({NetworkFile.FormatName} v{NetworkFile.Version})");
        source.IfSome(name => stderr.WriteLine(
            $"note: {outPath} embeds the original Keras model {name} with its original weights: --mode keras and verify run that model, " +
            "--mode rate and spiking the trained network"));
        return 0;
    }
}
