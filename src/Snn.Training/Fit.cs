using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Training;

/// <summary>
/// A batch-wise update rule. The two are Keras' (<c>keras.optimizers.Adam</c> and <c>SGD</c>), with Keras' defaults,
/// so a learning rate chosen for Keras means the same here.
/// </summary>
public abstract record Optimizer(double LearningRate)
{
    /// <summary>The optimizer's name as the CLI and the history print it.</summary>
    public abstract string Name { get; }
}

/// <summary>
/// Keras' Adam: <c>m ← β₁m + (1−β₁)g</c>, <c>v ← β₂v + (1−β₂)g²</c>,
/// <c>w ← w − lr·√(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε)</c> (Kingma and Ba 2015, the ε placement of their section 2 as Keras
/// has it; PyTorch adds ε to the bias-corrected √v̂ instead, a difference that vanishes as t grows).
/// </summary>
public sealed record Adam(double LearningRate = 1e-3, double Beta1 = 0.9, double Beta2 = 0.999, double Epsilon = 1e-7) : Optimizer(LearningRate)
{
    public override string Name => "adam";
}

/// <summary>
/// Keras' SGD: with momentum μ, <c>u ← μu − lr·g</c> and <c>w ← w + u</c> (Nesterov: <c>w ← w + μu − lr·g</c>);
/// without, <c>w ← w − lr·g</c>.
/// </summary>
public sealed record Sgd(double LearningRate = 0.01, double Momentum = 0, bool Nesterov = false) : Optimizer(LearningRate)
{
    public override string Name => "sgd";
}

/// <summary>
/// Samples to train or validate on: the network's inputs, each [samples, input shape...], and the targets: one class
/// label per sample (or per row of the probe), or one target row per sample (one-hot or probabilities for
/// cross-entropy, values for mean squared error).
/// </summary>
public sealed record TrainingData(Seq<Tensor> Inputs, Tensor Targets)
{
    public int Count => Inputs.IsEmpty || Inputs.Head.Shape.Length == 0 ? 0 : Inputs.Head.Shape[0];
}

/// <summary>
/// How <see cref="Fit.Run"/> trains: the optimizer, epochs, batch size (the last batch of an epoch may be smaller),
/// the seed of the shuffling (numpy's <c>RandomState(seed).permutation</c> of the samples, one draw per epoch from one
/// generator), whether to shuffle at all, the gradient's options (loss, probe, threads, method) and the layers or
/// object/connection ids whose parameters stay as they are (NengoDL's <c>trainable = False</c>).
/// </summary>
public sealed record FitOptions(Optimizer Optimizer, int Epochs = 1, int BatchSize = 32, uint Seed = 0, bool Shuffle = true)
{
    public GradientOptions Gradient { get; init; } = GradientOptions.Default;
    public Seq<string> Freeze { get; init; } = Seq<string>();

    /// <summary>
    /// Train each layer's bias per channel in Keras units (<see cref="BiasTying"/>: one value per Dense unit or
    /// convolution filter, as the Keras layer holds it) instead of NengoDL's one bias per neuron in the network's
    /// current units. On by default: the trained network stays writable into the Keras model, and the optimizer's
    /// steps have the same size for every parameter (per-neuron biases carry the firing-rate scales, hundreds to
    /// thousands, so Adam's steps of about the learning rate would barely move them).
    /// </summary>
    public bool TieBiases { get; init; } = true;

    /// <summary>The ties to train through instead of <see cref="BiasTying.Of"/>'s (e.g. <c>KerasWriteBack.Ties</c>, which also ties an unfolded BatchNormalization).</summary>
    public Option<Map<string, TiedBias>> Ties { get; init; }
}

/// <summary>
/// One epoch's record: the mean training loss over its samples (each batch's loss is taken before that batch's
/// update, as Keras reports it), the training accuracy of those same forward passes (None for targets that are not
/// classes), and the loss and accuracy on the validation data after the epoch, if any. <see cref="Seconds"/> is the
/// wall time, the only value that differs between identical runs.
/// </summary>
public sealed record EpochRecord(int Epoch, double Loss, Option<double> Accuracy, Option<double> ValidationLoss, Option<double> ValidationAccuracy, double Seconds);

/// <summary>Where a fit is, for progress displays: epoch (1-based), batches done in it and the batch count.</summary>
public sealed record FitProgress(int Epoch, int Epochs, int Batch, int Batches, double RunningLoss);

/// <summary>The trained network (a new value; the input network is unchanged) and one record per epoch.</summary>
public sealed record FitResult(Network Network, Seq<EpochRecord> History);

/// <summary>
/// NengoDL's <c>sim.fit</c> for the network IR: mini-batch training of the network's parameters
/// (<see cref="NetworkParameters"/>) by <see cref="NetworkGradient"/>'s gradients and an <see cref="Optimizer"/>.
/// </summary>
/// <remarks>
/// Deterministic: the sample order comes from the seed alone, the gradients' bytes do not depend on the thread count
/// (see <see cref="NetworkGradient"/>) and the updates run element by element in a fixed order, so the same options
/// and data give the same trained network, byte for byte, on any number of threads.
/// </remarks>
public static class Fit
{
    public static Fin<FitResult> Run(FitOptions options, Network net, TrainingData train, Option<TrainingData> validation, Action<FitProgress>? progress = null, Action<EpochRecord>? epochDone = null) =>
        from _ in Check(options, net, train, validation)
        from frozen in Frozen(options, net)
        from result in Train(options, net, frozen, train, validation, progress, epochDone)
        select result;

    static Fin<Unit> Check(FitOptions options, Network net, TrainingData train, Option<TrainingData> validation)
    {
        if (options.Epochs < 0) return Errors.Usage($"epochs must be 0 or more, not {options.Epochs}");
        if (options.BatchSize < 1) return Errors.Usage($"the batch size must be at least 1, not {options.BatchSize}");
        if (!(options.Optimizer.LearningRate > 0) || double.IsInfinity(options.Optimizer.LearningRate))
            return Errors.Usage($"the learning rate must be a positive number, not {options.Optimizer.LearningRate}");
        switch (options.Optimizer)
        {
            case Adam a when !(a.Beta1 >= 0 && a.Beta1 < 1 && a.Beta2 >= 0 && a.Beta2 < 1 && a.Epsilon > 0):
                return Errors.Usage($"Adam needs 0 ≤ beta1, beta2 < 1 and epsilon > 0 (got {a.Beta1}, {a.Beta2}, {a.Epsilon})");
            case Sgd s when !(s.Momentum >= 0 && s.Momentum < 1):
                return Errors.Usage($"SGD momentum must be in [0, 1), not {s.Momentum}");
        }
        var sets = new List<(string What, TrainingData Data)> { ("training", train) };
        sets.AddRange(validation.Map(v => ("validation", v)));
        foreach (var (what, data) in sets)
        {
            if (data.Inputs.Count != net.InputCount) return Errors.Usage($"the {what} data has {data.Inputs.Count} input(s); the network has {net.InputCount}");
            if (data.Count == 0) return Errors.Usage($"the {what} data has no samples");
            foreach (var x in data.Inputs)
                if (x.Shape.Length == 0 || x.Shape[0] != data.Count) return Errors.Usage($"the {what} inputs have different sample counts ({data.Count} and {(x.Shape.Length == 0 ? 0 : x.Shape[0])})");
            if (data.Targets.Length % data.Count != 0)
                return Errors.Usage($"the {what} targets have {data.Targets.Length} values, not a whole number per sample ({data.Count} samples)");
        }
        return unit;
    }

    /// <summary>The names of the parameters <see cref="FitOptions.Freeze"/> keeps: those of the named layers, objects and connections.</summary>
    static Fin<System.Collections.Generic.HashSet<string>> Frozen(FitOptions options, Network net)
    {
        var frozen = new System.Collections.Generic.HashSet<string>();
        var unknown = new List<string>();
        foreach (var name in options.Freeze)
        {
            var nodes = net.Nodes.Filter(n => n.Id == name || n.Layer == name).Map(n => n.Id);
            var connections = net.Connections.Filter(c => c.Id == name || net.Node(c.Post).Layer == name).Map(c => c.Id);
            if (nodes.IsEmpty && connections.IsEmpty) unknown.Add(name);
            frozen.UnionWith(nodes + connections);
        }
        if (unknown.Count > 0)
        {
            var layers = net.Nodes.Map(n => n.Layer).Filter(l => l.Length > 0).Distinct().Take(12);
            return Errors.Usage($"nothing to freeze is named {string.Join(", ", unknown.Select(u => $"'{Names.Printable(u)}'"))}: " +
                                $"--freeze takes layer names (this network's: {string.Join(", ", layers.Map(Names.Printable))}) or object and connection ids");
        }
        return frozen;
    }

    static Fin<FitResult> Train(FitOptions options, Network net, System.Collections.Generic.HashSet<string> frozen, TrainingData train,
        Option<TrainingData> validation, Action<FitProgress>? progress, Action<EpochRecord>? epochDone)
    {
        var parameters = NetworkParameters.Read(net, options.Gradient.TrainableFlags).Filter(p => !frozen.Contains(p.Name)).ToArray();
        var ties = options.TieBiases ? options.Ties.IfNone(() => BiasTying.Of(net)) : Map<string, TiedBias>();
        // What the optimizer moves: the channel values of tied biases, every other parameter as the network holds it.
        var values = parameters.Select(p => ties.Find(p.Name).Match(t => BiasTying.Channels(t, p.Value), () => p.Value).ToArray()).ToArray();
        Tensor Network(int i) => ties.Find(parameters[i].Name).Match(t => BiasTying.Untie(t, Tensor.Own(new[] { values[i].Length }, (float[])values[i].Clone())),
            () => Tensor.Own(parameters[i].Value.Shape, (float[])values[i].Clone()));
        Tensor Gradient(int i, Tensor g) => ties.Find(parameters[i].Name).Match(t => BiasTying.Tie(t, g), () => g);
        var state = new OptimizerState(options.Optimizer, values.Select(v => v.Length).ToArray());
        var random = new NumpyRandom(options.Seed);
        var n = train.Count;
        var batches = (n + options.BatchSize - 1) / options.BatchSize;
        var history = new List<EpochRecord>();
        var current = net;
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var order = options.Shuffle ? random.Permutation(n) : Enumerable.Range(0, n).ToArray();
            double lossSum = 0;
            var (correct, classified) = (0L, 0L);
            for (var b = 0; b < batches; b++)
            {
                var rows = order.AsSpan(b * options.BatchSize, Math.Min(options.BatchSize, n - b * options.BatchSize)).ToArray();
                var (inputs, targets) = Slice(train, rows);
                var step = NetworkGradient.Run(options.Gradient, current, inputs, targets);
                if (step.IsFail) return (Error)step;
                var result = (GradientResult)step;
                if (!double.IsFinite(result.Loss))
                    return Errors.Usage($"training diverged: the loss became {result.Loss} in epoch {epoch}, batch {b + 1}; try a smaller learning rate (now {options.Optimizer.LearningRate})");
                lossSum += result.Loss * rows.Length;
                Count(Accuracy.Of(current, options.Gradient.Probe, result.Outputs, targets), ref correct, ref classified);
                for (var i = 0; i < parameters.Length; i++)
                    state.Update(i, values[i], Gradient(i, result.Gradients[parameters[i].Name]).Span);
                state.Step();
                var written = NetworkParameters.Write(current, toMap(parameters.Select((p, i) => (p.Name, Network(i)))));
                if (written.IsFail) return (Error)written;
                current = (Network)written;
                progress?.Invoke(new FitProgress(epoch, options.Epochs, b + 1, batches, lossSum / Math.Min(n, (b + 1) * options.BatchSize)));
            }
            var valid = validation.Match(v => Evaluate(options, current, v).Map(Some), () => Fin<Option<(double Loss, Option<double> Accuracy)>>.Succ(None));
            if (valid.IsFail) return (Error)valid;
            var v = (Option<(double Loss, Option<double> Accuracy)>)valid;
            var record = new EpochRecord(epoch, lossSum / n, classified > 0 ? Some((double)correct / classified) : None,
                v.Map(x => x.Loss), v.Bind(x => x.Accuracy), clock.Elapsed.TotalSeconds);
            history.Add(record);
            epochDone?.Invoke(record);
        }
        return new FitResult(current, history.ToSeq());
    }

    /// <summary>
    /// The loss and accuracy of <paramref name="net"/> on <paramref name="data"/> in the options' method, in batches of
    /// the options' size, weighted by batch size.
    /// </summary>
    public static Fin<(double Loss, Option<double> Accuracy)> Evaluate(FitOptions options, Network net, TrainingData data)
    {
        double loss = 0;
        var (correct, classified) = (0L, 0L);
        for (var start = 0; start < data.Count; start += options.BatchSize)
        {
            var rows = Enumerable.Range(start, Math.Min(options.BatchSize, data.Count - start)).ToArray();
            var (inputs, targets) = Slice(data, rows);
            var step = NetworkGradient.Run(options.Gradient, net, inputs, targets);
            if (step.IsFail) return (Error)step;
            var result = (GradientResult)step;
            loss += result.Loss * rows.Length;
            Count(Accuracy.Of(net, options.Gradient.Probe, result.Outputs, targets), ref correct, ref classified);
        }
        return (loss / data.Count, classified > 0 ? Some((double)correct / classified) : None);
    }

    static void Count(Option<(long Correct, long Total)> batch, ref long correct, ref long total)
    {
        if (batch.Case is not ValueTuple<long, long> c) return;
        correct += c.Item1;
        total += c.Item2;
    }

    /// <summary>The rows <paramref name="rows"/> of every input and of the targets, in that order.</summary>
    static (Seq<Tensor> Inputs, Tensor Targets) Slice(TrainingData data, int[] rows)
    {
        static Tensor Take(Tensor t, int count, int[] rows)
        {
            var per = (int)(t.Length / count);
            var shape = t.Shape.ToArray();
            shape[0] = rows.Length;
            var v = new float[rows.Length * per];
            for (var r = 0; r < rows.Length; r++) t.Span.Slice(rows[r] * per, per).CopyTo(v.AsSpan(r * per, per));
            return Tensor.Own(shape, v);
        }
        var targets = data.Targets.Shape.Length == 0 ? data.Targets : Take(data.Targets, data.Count, rows);
        return (data.Inputs.Map(x => Take(x, data.Count, rows)).Strict(), targets);
    }

    /// <summary>Every parameter's optimizer state (moments or velocity), updated element by element in a fixed order.</summary>
    sealed class OptimizerState(Optimizer optimizer, int[] lengths)
    {
        readonly float[][] first = lengths.Select(l => new float[l]).ToArray();
        readonly float[][] second = optimizer is Adam ? lengths.Select(l => new float[l]).ToArray() : System.Array.Empty<float[]>();
        int t = 1;

        public void Update(int p, float[] w, ReadOnlySpan<float> g)
        {
            switch (optimizer)
            {
                case Adam a:
                {
                    var (b1, b2, eps) = ((float)a.Beta1, (float)a.Beta2, (float)a.Epsilon);
                    var alpha = (float)(a.LearningRate * Math.Sqrt(1 - Math.Pow(a.Beta2, t)) / (1 - Math.Pow(a.Beta1, t)));
                    var (m, v) = (first[p], second[p]);
                    for (var i = 0; i < w.Length; i++)
                    {
                        m[i] += (g[i] - m[i]) * (1 - b1);
                        v[i] += (g[i] * g[i] - v[i]) * (1 - b2);
                        w[i] -= alpha * m[i] / (MathF.Sqrt(v[i]) + eps);
                    }
                    break;
                }
                case Sgd s when s.Momentum == 0:
                {
                    var lr = (float)s.LearningRate;
                    for (var i = 0; i < w.Length; i++) w[i] -= lr * g[i];
                    break;
                }
                case Sgd s:
                {
                    var (lr, mu) = ((float)s.LearningRate, (float)s.Momentum);
                    var u = first[p];
                    for (var i = 0; i < w.Length; i++)
                    {
                        u[i] = mu * u[i] - lr * g[i];
                        w[i] += s.Nesterov ? mu * u[i] - lr * g[i] : u[i];
                    }
                    break;
                }
            }
        }

        public void Step() => t++;
    }
}

/// <summary>Classification accuracy of a probe's outputs against targets (labels or one-hot/probability rows).</summary>
public static class Accuracy
{
    /// <summary>
    /// How many rows of the probe's output (rows = the last axis) have their largest value at the target's class, of how
    /// many rows; None when the targets are not classes (neither one label per row nor one row per row).
    /// </summary>
    public static Option<(long Correct, long Total)> Of(Network net, int probe, Seq<Tensor> outputs, Tensor targets)
    {
        var p = net.Probes[probe];
        var output = outputs[probe];
        var classes = p.Shape.Count == 0 ? 1 : p.Shape[p.Shape.Count - 1];
        if (classes < 2) return None;
        var rows = (int)(output.Length / classes);
        var y = output.Span;
        var t = targets.Span;
        bool labels = targets.Length == rows, rowsOfClasses = targets.Length == (long)rows * classes;
        if (!labels && !rowsOfClasses) return None;
        long correct = 0;
        for (var r = 0; r < rows; r++)
        {
            var predicted = ArgMax(y.Slice(r * classes, classes));
            var actual = labels ? (int)t[r] : ArgMax(t.Slice(r * classes, classes));
            if (predicted == actual) correct++;
        }
        return (correct, rows);
    }

    /// <summary>The first index of the largest value (numpy's argmax).</summary>
    static int ArgMax(ReadOnlySpan<float> v)
    {
        var best = 0;
        for (var i = 1; i < v.Length; i++)
            if (v[i] > v[best]) best = i;
        return best;
    }
}
