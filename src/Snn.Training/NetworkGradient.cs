using System.Numerics.Tensors;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using Snn.Runtime.Kernels;
using static LanguageExt.Prelude;

namespace Snn.Training;

/// <summary>The loss a gradient is taken of.</summary>
public enum Loss
{
    /// <summary>
    /// Keras' <c>categorical_crossentropy(from_logits=True)</c> on the probed object's values (the logits; a softmax probe
    /// is the softmax of them, so this is the cross-entropy of the probe's output), averaged over samples and rows;
    /// targets are one-hot or probability rows, or one class label per row.
    /// </summary>
    SoftmaxCrossEntropy,
    /// <summary>Keras' <c>mean_squared_error</c> of the probe's output (after its softmax, if it has one), averaged over every element.</summary>
    MeanSquaredError,
}

/// <summary>Which network the gradient is of (the command line's <c>--method</c>).</summary>
public enum TrainingMethod
{
    /// <summary>The rate meaning (<see cref="NetEval"/>): every neuron replaced by its rate function, as NengoDL trains.</summary>
    Rate,
    /// <summary>
    /// The spiking network's spike counts after <see cref="GradientOptions.Steps"/> steps, exactly: each integrate-and-fire
    /// ensemble with negative spikes is the quantizer <c>max(0, floor(v0 + T·dt·J̄))</c> of its mean input current J̄, the
    /// backward pass its straight-through gradient (see <see cref="NetworkGradient"/>).
    /// </summary>
    Quantized,
}

/// <summary>
/// Firing-rate regularization (NengoDL's recipe: a probe on each layer's neurons, the mean squared error against a target
/// rate as its loss, with a small loss weight): <c>Weight · mean over samples and neurons of (r − Target)²</c> per
/// regularized ensemble, added to the loss, r a neuron's firing rate in Hz (its rate function over its amplitude in rate
/// mode, its spike count over T·dt in quantized mode). <see cref="Layers"/> names the ensembles (by layer name or object
/// id); empty: every ensemble of spiking neurons.
/// </summary>
public sealed record RateRegularization(float Target, float Weight)
{
    public Seq<string> Layers { get; init; }
}

/// <summary>
/// How <see cref="NetworkGradient.Run"/> works: the loss, which probe (by position in <c>Network.Probes</c>) it reads, how
/// many threads the gradient kernels use (the result's bytes do not depend on it), whether the objects' and
/// connections' <c>Trainable</c> flags choose the parameters (see <see cref="NetworkParameters.Read"/>), the
/// <see cref="Method"/> (rate, or quantized with <see cref="Steps"/> steps) and an optional
/// <see cref="RateRegularization"/>.
/// </summary>
public sealed record GradientOptions(Loss Loss = Loss.SoftmaxCrossEntropy, int Probe = 0, int Threads = 1, bool TrainableFlags = false)
{
    public static readonly GradientOptions Default = new();

    /// <summary>The network the gradient is of: the rate meaning (default) or the quantized spiking network.</summary>
    public TrainingMethod Method { get; init; } = TrainingMethod.Rate;

    /// <summary>With <see cref="TrainingMethod.Quantized"/>: the steps T the spiking network will run (at least 1).</summary>
    public int Steps { get; init; } = 2;

    /// <summary>The firing-rate penalty added to the loss, if any.</summary>
    public Option<RateRegularization> RateRegularization { get; init; }

    /// <summary>
    /// The softmax temperature τ of the cross-entropy (knowledge distillation, Hinton et al. 2015): the loss is
    /// <c>τ²·CE(softmax(z/τ), targets)</c>, whose gradient <c>τ·(softmax(z/τ) − t)/N</c> keeps its size as τ changes.
    /// 1 (the default) is the plain cross-entropy. Targets for τ &gt; 1 are usually a teacher's <c>softmax(z_teacher/τ)</c>
    /// (<see cref="Distillation.Targets"/>).
    /// </summary>
    public float Temperature { get; init; } = 1f;
}

/// <summary>
/// The loss (in double, as the loss kernels return it; with a <see cref="RateRegularization"/> it includes
/// <see cref="Penalty"/>), every probe's output ([batch, probe shape...], as <see cref="NetEval.Run"/> gives them) and the
/// gradient of the loss with respect to every trainable parameter, keyed by the parameter's name
/// (<see cref="Parameter.Name"/>), each shaped as the parameter.
/// </summary>
public sealed record GradientResult(double Loss, Seq<Tensor> Outputs, Map<string, Tensor> Gradients)
{
    /// <summary>The firing-rate penalty part of <see cref="Loss"/> (0 without a <see cref="RateRegularization"/>).</summary>
    public double Penalty { get; init; }
}

/// <summary>
/// Reverse-mode gradients of the network IR, in rate mode (the level NengoDL's <c>sim.fit</c> trains) or as the quantized
/// network that the spiking network's counts after T steps are. The forward pass runs on the whole batch at once with the
/// runtime's forward kernels (<see cref="Dense.Accumulate"/>, <see cref="Conv.Accumulate"/>, <see cref="Pool"/>), every
/// object's output (and each ensemble's currents, each max-pool object's input) kept for the backward pass, which runs
/// the objects in reverse topological order on the backward kernels (<see cref="Backward"/>).
/// </summary>
/// <remarks>
/// <para>Rate mode is <see cref="NetEval"/>'s meaning (every neuron replaced by its rate function, synapses and filters
/// passing constants, max-pool objects the exact max). Per object: an ensemble's output is <c>rate(J)/s</c> with
/// <c>J = bias + gain·s·Σ in</c> (s its per-neuron scale, 1 without), so <c>dJ = d(out)/s · rate'(J)</c>
/// (<see cref="RateSlopes"/>), <c>d(bias) = Σ_batch dJ</c> and <c>d(Σ in) = dJ·gain·s</c>; a passthrough or filter passes
/// its gradient on; a max-pool object routes each window's gradient to its first maximal input
/// (<see cref="Backward.MaxPoolGradient"/>); a constant's value gets <c>Σ_batch d(out)</c>. Per connection (its gradient
/// taken back through its post index, if any): identity and scale pass it on (times the scale; the scale gets
/// <c>Σ dT·x</c>), dense and convolution transforms run <see cref="Backward.DenseInputGradient"/>/<see cref="Backward.DenseWeightGradient"/>
/// and <see cref="Backward.ConvInputGradient"/>/<see cref="Backward.ConvKernelGradient"/>, pooling transforms the pooling
/// gradients, a gather scatters back to the indices it read.</para>
/// <para>Quantized mode (<see cref="TrainingMethod.Quantized"/>, T = <see cref="GradientOptions.Steps"/>) is what the
/// interpreter computes in T steps with constant inputs, read out as the mean over the steps (<c>Readout.Mean</c>, the
/// spiking default; <c>Readout.Count</c> is T·dt times it before any softmax). Every value below is a mean over the T
/// steps. Within a step nothing is delayed (no synapses), so each step's input to an object is a linear function of the
/// step's outputs upstream, and the T steps' sum of it is that function of the sums: linear objects and transforms
/// (passthrough, constant, identity, scale, dense, convolution, average pooling, gather) are the same on means as on
/// each step. An integrate-and-fire ensemble with negative spikes (<see cref="IntegrateAndFire.NegativeSpikes"/>) steps
/// <c>v += J_t·dt; n = max(floor(v), −c); v −= n; c += n</c> from <c>v = v0</c> (its <c>InitialVoltage</c>), so its
/// net count after T steps is <c>c = max(0, floor(v0 + dt·Σ_t J_t))</c> whatever the order of the currents, with
/// <c>Σ_t J_t = T·J̄</c>, <c>J̄ = bias + gain·s·(mean Σ in)</c>; each spike is worth amplitude/dt (divided by s), so its
/// mean output is <c>(amplitude/dt)·(c/T)/s</c>, here <see cref="Backward.Quantize(ReadOnlySpan{float}, Span{float}, int, ReadOnlySpan{float}, float)"/>
/// of <c>dt·J̄</c> with the initial voltages as offsets. Count max pooling (<see cref="MaxPoolMethod.Count"/>) emits each
/// step the increase of the running max of its inputs' cumulative sums, so its T steps sum to the max of the sums: the
/// exact max of the means. The backward pass is rate mode's, except that a quantized ensemble takes the straight-through
/// gradient (<see cref="Backward.QuantizeGradient(ReadOnlySpan{float}, ReadOnlySpan{float}, Span{float}, int, ReadOnlySpan{float}, float)"/>:
/// the floor read as the identity where <c>v0 + T·dt·J̄ &gt; 0</c>, so <c>dJ̄ = d(out)·amplitude/s</c> there, 0 elsewhere).
/// What is not exact is refused (<see cref="Errors.Untrainable"/>): spiking neurons other than signed integrate-and-fire
/// (plain IF keeps the spikes it fired on input that later turns negative, Nengo's neuron clips negative currents:
/// their counts depend on the order the input came in), synapses on connections or probes and filter objects (they
/// delay and smooth the steps), and nonlinear objects whose input changes from step to step (rate neurons, max-pool
/// transforms, gate max pooling after spiking neurons: the mean of a nonlinear function is not the function of the
/// mean); on step-invariant input (computed from the inputs and constants only) those are exact too.</para>
/// <para>Firing-rate regularization (<see cref="RateRegularization"/>): a neuron's firing rate is <c>r = out·s/amplitude</c>
/// (<c>rate(J)/amplitude</c> in rate mode, <c>c/(T·dt)</c> in quantized mode), the penalty <c>w·mean (r − target)²</c> per
/// ensemble and its gradient <c>d(out) += 2w·(r − target)/(batch·neurons)·s/amplitude</c>.</para>
/// <para>Determinism: the forward kernels split the batch over the threads by samples (a sample's values do not depend
/// on which samples share a kernel call); the dense and convolution gradients sum over the batch in
/// fixed chunks (see <see cref="Backward"/>) and every other sum here runs over samples in ascending order, so the
/// result's bytes are the same for every <see cref="GradientOptions.Threads"/>.</para>
/// <para>Refused with an error: function nodes (their code has no derivative here) and neuron types whose rate function
/// has no known derivative (see <see cref="RateSlopes.Of"/>).</para>
/// </remarks>
public static class NetworkGradient
{
    public static Fin<GradientResult> Run(GradientOptions options, Network net, Seq<Tensor> inputs, Tensor targets) =>
        from _ in Check(options, net, inputs)
        from order in net.TopologicalOrder().ToFin(Errors.Invariant("network", "the network has a cycle"))
        from __ in CheckMethod(options, net, order)
        from regularized in Regularized(options, net)
        from slopes in Slopes(net)
        from pass in Evaluate(options, net, order, inputs)
        from result in Compute(options, net, order, slopes, regularized, pass, targets)
        select result;

    /// <summary>
    /// The forward pass alone: every probe's output for <paramref name="inputs"/> in the options' method (in quantized
    /// mode the spiking network's mean readout after <see cref="GradientOptions.Steps"/> steps), as
    /// <see cref="GradientResult.Outputs"/>. The loss, probe and regularization options are not used.
    /// </summary>
    public static Fin<Seq<Tensor>> Predict(GradientOptions options, Network net, Seq<Tensor> inputs) =>
        ForwardPass(options, net, inputs).Map(p => p.Outputs);

    /// <summary>The forward pass with what it keeps: every object's output, each ensemble's currents J (rate) or dt·J̄ (quantized).</summary>
    internal static Fin<Pass> ForwardPass(GradientOptions options, Network net, Seq<Tensor> inputs) =>
        from _ in Check(options with { Probe = 0, RateRegularization = None }, net, inputs, probes: false)
        from order in net.TopologicalOrder().ToFin(Errors.Invariant("network", "the network has a cycle"))
        from __ in CheckMethod(options, net, order)
        from pass in Evaluate(options, net, order, inputs)
        select pass;

    /// <summary>A forward pass: the batch size, every object's output [batch, size], what each ensemble and max-pool object keeps, the probes' outputs.</summary>
    internal sealed record Pass(int Batch, Dictionary<string, float[]> Values, Dictionary<string, float[]> Kept, Seq<Tensor> Outputs);

    static Fin<Unit> Check(GradientOptions options, Network net, Seq<Tensor> inputs, bool probes = true)
    {
        if (options.Threads < 1) return Errors.Usage($"threads must be at least 1, not {options.Threads}");
        if (probes && (options.Probe < 0 || options.Probe >= net.Probes.Count)) return Errors.Usage($"the loss reads probe {options.Probe}, but the network has {net.Probes.Count} probe(s)");
        if (options.Method == TrainingMethod.Quantized && options.Steps < 1) return Errors.Usage($"quantized training needs at least 1 step, not {options.Steps}");
        var verified = NetVerify.Run(net);
        if (verified.IsLeft) return (Error)verified;
        if (inputs.Count != net.InputCount) return Errors.Usage($"the network has {net.InputCount} input(s), {inputs.Count} given");
        if (inputs.IsEmpty) return Errors.Usage("a gradient needs at least one input (the batch size comes from it)");
        var batch = inputs.Head.Shape.Length == 0 ? 0 : inputs.Head.Shape[0];
        foreach (var input in net.Nodes.OfType<InputNode>())
        {
            var x = inputs[input.Index];
            if (x.Shape.Length == 0 || x.Shape[0] != batch || x.Length != (long)batch * input.Size)
                return Errors.Shape(input.Id, $"input {input.Index} should be [{batch}, {string.Join(", ", input.Shape)}], not [{string.Join(", ", x.Shape)}]");
        }
        foreach (var f in net.Nodes.OfType<FunctionNode>())
            return Errors.Untrainable($"function node '{Names.Printable(f.Id)}' ({Names.Printable(f.Description)})", "its code has no derivative here");
        var ids = new System.Collections.Generic.HashSet<string>(net.Nodes.Map(n => n.Id));
        foreach (var c in net.Connections)
            if (NetworkParameters.Weights(c.Transform).IsSome && ids.Contains(c.Id))
                return Errors.Usage($"connection '{Names.Printable(c.Id)}' has the id of an object, so its weights cannot be named apart");
        return unit;
    }

    /// <summary>Whether an ensemble is the quantizer in quantized mode: integrate-and-fire with negative spikes.</summary>
    static bool Counts(Ensemble e) => e.Neuron is IntegrateAndFire { NegativeSpikes: true };

    /// <summary>
    /// In quantized mode, refuses what the counts after T steps do not determine (see the remarks on
    /// <see cref="NetworkGradient"/>). An object is step-invariant when its output is the same every step: inputs,
    /// constants, and linear or rate objects fed only by step-invariant objects.
    /// </summary>
    static Fin<Unit> CheckMethod(GradientOptions options, Network net, Seq<NetNode> order)
    {
        if (options.Method != TrainingMethod.Quantized) return unit;
        const string mode = "in quantized mode";
        var incoming = net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => g.ToList());
        var invariant = new System.Collections.Generic.HashSet<string>();
        foreach (var node in order)
        {
            var ins = incoming.GetValueOrDefault(node.Id) ?? new List<Connection>();
            foreach (var c in ins)
            {
                if (c.Synapse.IsSome)
                    return Errors.Untrainable($"connection '{Names.Printable(c.Id)}' {mode}",
                        "its synapse filters the spikes over time, so its output over T steps is not a function of the spike counts; convert without a synapse (the calibrated default)");
                if (c.Transform is PoolT { Spec.Kind: PoolKind.Max } && !invariant.Contains(c.Pre))
                    return Errors.Untrainable($"connection '{Names.Printable(c.Id)}' (max pooling) {mode}",
                        "it pools values that change from step to step, and the mean of a max is not the max of the means; use max-pool objects with the count method (the default for spiking inputs)");
            }
            var steady = ins.All(c => invariant.Contains(c.Pre));
            var why = node switch
            {
                FilterNode => "a filter smooths its input over the steps, so its mean over T steps is not its input's",
                Ensemble e when Counts(e) => null,
                Ensemble { Neuron.Spiking: true } e =>
                    $"its neurons are {e.Neuron.Name}, whose spike counts depend on the order the input came in; only integrate-and-fire neurons with " +
                    "negative spikes count exactly max(0, floor(v0 + Σ J·dt)) after T steps: convert with --neuron signed (the calibrated default)",
                Ensemble e when !steady =>
                    $"its neurons ({e.Neuron.Name}) are a nonlinear rate function of an input that changes from step to step, so their mean output is not the rate of the mean input",
                MaxPoolNode { Method: not MaxPoolMethod.Count } m when !steady =>
                    $"{m.Method.ToString().ToLowerInvariant()} max pooling of spike trains does not give the max of the counts; convert with --max-pool count (the default)",
                _ => null,
            };
            if (why is not null) return Errors.Untrainable($"object '{Names.Printable(node.Id)}' {mode}", why);
            if (node is InputNode or ConstNode || (steady && node is not Ensemble { Neuron.Spiking: true })) invariant.Add(node.Id);
        }
        foreach (var p in net.Probes)
            if (p.Synapse.IsSome)
                return Errors.Untrainable($"probe '{Names.Printable(p.Id)}' {mode}", "its synapse filters the output over time; probe without a synapse (the calibrated default)");
        return unit;
    }

    /// <summary>The ensembles the firing-rate penalty applies to (none without one).</summary>
    static Fin<Seq<Ensemble>> Regularized(GradientOptions options, Network net)
    {
        if (!options.RateRegularization.TryGet(out var reg)) return Seq<Ensemble>();
        if (!float.IsFinite(reg.Target) || reg.Target < 0) return Errors.Usage($"the target firing rate must be a finite rate of at least 0 Hz, not {reg.Target}");
        if (!float.IsFinite(reg.Weight) || reg.Weight < 0) return Errors.Usage($"the firing-rate penalty's weight must be finite and at least 0, not {reg.Weight}");
        var ensembles = net.Nodes.OfType<Ensemble>().ToSeq();
        if (reg.Layers.IsEmpty)
        {
            var spiking = ensembles.Filter(e => e.Neuron.Spiking).Strict();
            if (spiking.IsEmpty) return Errors.Usage("the network has no spiking ensembles to regularize the firing rates of; name the layers to regularize");
            return spiking;
        }
        foreach (var name in reg.Layers)
            if (!ensembles.Exists(e => e.Layer == name || e.Id == name))
                return Errors.Usage($"no ensemble of neurons belongs to layer '{Names.Printable(name)}' (layers with neurons: {string.Join(", ", ensembles.Map(e => Names.Printable(e.Layer)).Distinct())})");
        return ensembles.Filter(e => reg.Layers.Exists(name => e.Layer == name || e.Id == name)).Strict();
    }

    static Fin<Dictionary<string, RateSlope>> Slopes(Network net)
    {
        var slopes = new Dictionary<string, RateSlope>();
        foreach (var e in net.Nodes.OfType<Ensemble>())
        {
            var slope = RateSlopes.Of(e.Neuron.RateVersion);
            if (slope.Case is not RateSlope s) return Errors.Untrainable($"ensemble '{Names.Printable(e.Id)}'", ((Error)slope.Case!).Message);
            slopes[e.Id] = s;
        }
        return slopes;
    }

    static Fin<Pass> Evaluate(GradientOptions options, Network net, Seq<NetNode> order, Seq<Tensor> inputs)
    {
        var batch = inputs.Head.Shape[0];
        var quantized = options.Method == TrainingMethod.Quantized;
        var incoming = net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => g.ToList());
        var values = new Dictionary<string, float[]>();
        var kept = new Dictionary<string, float[]>();   // ensembles' currents J (quantized: dt·J̄), max-pool objects' summed inputs
        var work = new TransformWork(options.Threads);

        foreach (var node in order)
        {
            if (node is InputNode input)
            {
                values[node.Id] = inputs[input.Index].ToArray();
                continue;
            }
            if (node is ConstNode k)
            {
                var v = new float[batch * k.Size];
                for (var b = 0; b < batch; b++) k.Value.Span.CopyTo(v.AsSpan(b * k.Size));
                values[node.Id] = v;
                continue;
            }
            var sum = new float[batch * node.SizeIn];
            var fresh = true;   // sum holds only zeros
            foreach (var c in incoming.GetValueOrDefault(node.Id) ?? new List<Connection>())
            {
                Forward(c, values[c.Pre], batch, sum, node.SizeIn, fresh, work);
                fresh = false;
            }
            switch (node)
            {
                case PassNode or FilterNode:
                    values[node.Id] = sum;
                    break;
                case Ensemble e when quantized && Counts(e):
                {
                    // Mean output (amplitude/dt)·(c/T)/s, c = max(0, floor(v0 + T·dt·J̄)).
                    var (x, y) = (new float[sum.Length], new float[sum.Length]);
                    var scale = e.NeuronScale.Map(r => r.ToArray()).IfNoneUnsafe((float[]?)null);
                    var dt = net.Dt;
                    for (var b = 0; b < batch; b++)
                        for (var i = 0; i < e.Size; i++)
                        {
                            var q = b * e.Size + i;
                            x[q] = (scale is null ? e.Bias[i] + e.Gain * sum[q] : e.Bias[i] + e.Gain * scale[i] * sum[q]) * dt;
                        }
                    Backward.Quantize(x, y, options.Steps, e.InitialVoltage.Map(v => v.ToArray()).IfNone(() => new float[e.Size]));
                    var alpha = e.Neuron.OutputAmplitude / dt;
                    var unscale = e.OutputScale.Map(r => r.ToArray()).IfNoneUnsafe((float[]?)null);
                    for (var q = 0; q < y.Length; q++) y[q] = unscale is null ? alpha * y[q] : alpha * y[q] * unscale[q % e.Size];
                    kept[node.Id] = x;
                    values[node.Id] = y;
                    break;
                }
                case Ensemble e:
                {
                    var (j, y) = (new float[sum.Length], new float[sum.Length]);
                    EnsembleRates.Forward(e, sum, batch, j, y, work);   // NetEval's expressions: the same bits for the same sums
                    kept[node.Id] = j;
                    values[node.Id] = y;
                    break;
                }
                case MaxPoolNode m:
                {
                    var y = new float[batch * m.Size];
                    Pool.Max(PoolGeometry.Of(m.Spec), sum, batch, y);
                    kept[node.Id] = sum;
                    values[node.Id] = y;
                    break;
                }
                default:
                    return Errors.Untrainable($"object '{Names.Printable(node.Id)}'", $"{node.GetType().Name} has no rate meaning here");
            }
        }

        var outputs = net.Probes.Map(p => Tensor.Own(new[] { batch }.Concat(p.Shape).ToArray(), ProbeOutput(p, values[p.Target]))).Strict();
        return new Pass(batch, values, kept, outputs);
    }

    static Fin<GradientResult> Compute(GradientOptions options, Network net, Seq<NetNode> order, Dictionary<string, RateSlope> slopes,
        Seq<Ensemble> regularized, Pass pass, Tensor targets)
    {
        var (batch, values, kept, outputs) = (pass.Batch, pass.Values, pass.Kept, pass.Outputs);
        var quantized = options.Method == TrainingMethod.Quantized;
        var incoming = net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => g.ToList());
        var work = new TransformWork(options.Threads);

        // ---------------------------------------------------------------- loss
        var probe = net.Probes[options.Probe];
        var target = net.Node(probe.Target);
        var grads = new Dictionary<string, float[]>();
        var dOut = new float[batch * target.Size];
        var lossValue = Loss(options.Loss, options.Temperature, probe, values[probe.Target], outputs[options.Probe].Span, batch, targets, dOut);
        if (lossValue.Case is not double loss) return (Error)lossValue.Case!;
        grads[probe.Target] = dOut;
        var penalty = 0.0;
        foreach (var e in regularized)
        {
            if (!grads.TryGetValue(e.Id, out var dy)) grads[e.Id] = dy = new float[batch * e.Size];
            penalty += RatePenalty(options.RateRegularization.IfNoneUnsafe((RateRegularization?)null)!, e, values[e.Id], dy);
        }

        // ---------------------------------------------------------------- backward
        var trainable = NetworkParameters.Read(net, options.TrainableFlags).Map(p => p.Name).ToHashSet();
        var gradients = new Dictionary<string, Tensor>();
        foreach (var node in order.Rev())
        {
            if (!grads.TryGetValue(node.Id, out var g)) continue;
            float[]? dSum = null;
            switch (node)
            {
                case ConstNode k when trainable.Contains(k.Id):
                    gradients[k.Id] = Tensor.Own(k.Value.Shape, SumOverBatch(g, batch, k.Size));
                    break;
                case PassNode or FilterNode:
                    dSum = g;
                    break;
                case Ensemble e:
                {
                    var dj = new float[g.Length];
                    var scale = e.NeuronScale.Map(r => r.ToArray()).IfNoneUnsafe((float[]?)null);
                    if (quantized && Counts(e))
                    {
                        // Straight through the floor: d(dt·J̄) = d(out)·(amplitude/dt)/s where v0 + T·dt·J̄ > 0; dJ̄ = dt·that.
                        var alpha = e.Neuron.OutputAmplitude / net.Dt;
                        var unscale = e.OutputScale.Map(r => r.ToArray()).IfNoneUnsafe((float[]?)null);
                        var dq = new float[g.Length];
                        for (var q = 0; q < g.Length; q++) dq[q] = unscale is null ? g[q] * alpha : g[q] * alpha * unscale[q % e.Size];
                        var dx = new float[g.Length];
                        Backward.QuantizeGradient(kept[e.Id], dq, dx, options.Steps, e.InitialVoltage.Map(v => v.ToArray()).IfNone(() => new float[e.Size]));
                        for (var q = 0; q < g.Length; q++) dj[q] = dx[q] * net.Dt;
                    }
                    else
                    {
                        var dy = g;
                        if (scale is not null)
                        {
                            dy = new float[g.Length];
                            for (var q = 0; q < g.Length; q++) dy[q] = g[q] / scale[q % e.Size];
                        }
                        slopes[e.Id](kept[e.Id], dy, dj, e.Size);
                    }
                    if (trainable.Contains(e.Id)) gradients[e.Id] = Tensor.Own(e.Bias.Shape, SumOverBatch(dj, batch, e.Size));
                    dSum = EnsembleRates.InputGradient(e, dj, scale);
                    break;
                }
                case MaxPoolNode m:
                    dSum = new float[batch * m.SizeIn];
                    Backward.MaxPoolGradient(PoolGeometry.Of(m.Spec), kept[m.Id], g, batch, dSum);
                    break;
            }
            if (dSum is null) continue;
            foreach (var c in incoming.GetValueOrDefault(node.Id) ?? new List<Connection>())
            {
                var dT = c.PostIndex.TryGet(out var index) ? Gather(dSum, index, batch, c.Transform.OutSize, node.SizeIn) : dSum;
                var pre = net.Node(c.Pre);
                float[]? dPre = null;
                if (pre is not InputNode)
                {
                    if (!grads.TryGetValue(pre.Id, out dPre)) grads[pre.Id] = dPre = new float[batch * pre.Size];
                }
                var dW = trainable.Contains(c.Id) ? NetworkParameters.Weights(c.Transform).Map(w => new float[w.Length]).IfNoneUnsafe((float[]?)null) : null;
                BackwardTransform(c.Transform, values[c.Pre], dT, batch, dPre, dW, work);
                if (dW is not null) gradients[c.Id] = Tensor.Own(NetworkParameters.Weights(c.Transform).Map(w => w.Shape).IfNone(new[] { dW.Length }), dW);
            }
        }
        // Parameters the loss does not reach have gradient 0.
        foreach (var p in NetworkParameters.Read(net, options.TrainableFlags))
            if (!gradients.ContainsKey(p.Name)) gradients[p.Name] = Tensor.Own(p.Value.Shape, new float[p.Value.Length]);
        return new GradientResult(loss + penalty, outputs, toMap(gradients.Select(kv => (kv.Key, kv.Value)))) { Penalty = penalty };
    }

    /// <summary>
    /// One ensemble's firing-rate penalty <c>w·mean (r − target)²</c> with <c>r = out·s/amplitude</c> (in double, samples
    /// in ascending order), and its gradient added to <paramref name="dOut"/>: <c>2w·(r − target)/(batch·neurons)·s/amplitude</c>.
    /// </summary>
    static double RatePenalty(RateRegularization reg, Ensemble e, float[] outputs, float[] dOut)
    {
        var perOut = e.NeuronScale.Map(r => r.Map(s => s / e.Neuron.OutputAmplitude).ToArray())
            .IfNone(() => Enumerable.Repeat(1f / e.Neuron.OutputAmplitude, e.Size).ToArray());
        var n = outputs.Length;
        if (n == 0) return 0;
        double sum = 0;
        var k = 2.0 * reg.Weight / n;
        for (var q = 0; q < n; q++)
        {
            var f = perOut[q % e.Size];
            var d = (double)outputs[q] * f - reg.Target;
            sum += d * d;
            dOut[q] += (float)(k * d * f);
        }
        return reg.Weight * sum / n;
    }

    /// <summary>A probe's output for the batch: the target's values, softmax over the last axis for a softmax probe (as <see cref="NetEval.Run"/>).</summary>
    static float[] ProbeOutput(Probe p, float[] values)
    {
        var v = (float[])values.Clone();
        if (p.Softmax) Activations.Apply("softmax", v, p.Shape[p.Shape.Count - 1]);
        return v;
    }

    static Fin<double> Loss(Loss loss, float temperature, Probe probe, float[] logits, ReadOnlySpan<float> output, int batch, Tensor targets, float[] dOut)
    {
        if (loss == Training.Loss.SoftmaxCrossEntropy && temperature != 1f)
        {
            // τ²·CE(z/τ): the kernel on the scaled logits, its gradient (with respect to z/τ) times τ²·(1/τ).
            var scaled = new float[logits.Length];
            System.Numerics.Tensors.TensorPrimitives.Divide(logits, temperature, scaled);
            var d = new float[dOut.Length];
            var plain = Loss(loss, 1f, probe, scaled, output, batch, targets, d);
            if (plain.IsFail) return plain;
            System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(d, temperature, dOut, dOut);
            return plain.Map(v => v * temperature * temperature);
        }
        var size = Shapes.Product(probe.Shape);
        var classes = probe.Shape.Count == 0 ? 1 : probe.Shape[probe.Shape.Count - 1];
        if (loss == Training.Loss.SoftmaxCrossEntropy)
        {
            var rows = batch * (size / Math.Max(classes, 1));
            if (targets.Length == (long)rows * classes)
                return Backward.SoftmaxCrossEntropy(logits, targets.Span, rows, classes, dOut);
            if (targets.Length == rows)
            {
                var labels = new int[rows];
                for (var r = 0; r < rows; r++)
                {
                    var t = targets.Span[r];
                    if (!(t >= 0 && t < classes) || t != MathF.Floor(t)) return Errors.Labels($"label {r} is {t}; the probe has classes 0..{classes - 1}");
                    labels[r] = (int)t;
                }
                return Backward.SoftmaxCrossEntropy(logits, labels, classes, dOut);
            }
            return Errors.Shape(probe.Id, $"targets have {targets.Length} values; softmax cross-entropy needs {rows} labels or {rows}×{classes} probabilities");
        }
        if (targets.Length != (long)batch * size) return Errors.Shape(probe.Id, $"targets have {targets.Length} values; the probe gives {batch}×{size}");
        if (!probe.Softmax) return Backward.MeanSquaredError(output, targets.Span, dOut);
        var dp = new float[dOut.Length];
        var value = Backward.MeanSquaredError(output, targets.Span, dp);
        SoftmaxGradient(output, dp, classes, dOut);
        return value;
    }

    /// <summary><c>dz += p ⊙ (dp − Σ_k dp_k·p_k)</c> per row of <paramref name="classes"/>, p = softmax(z).</summary>
    static void SoftmaxGradient(ReadOnlySpan<float> p, ReadOnlySpan<float> dp, int classes, Span<float> dz)
    {
        for (var r = 0; r < p.Length / classes; r++)
        {
            double dot = 0;
            for (var k = 0; k < classes; k++) dot += (double)dp[r * classes + k] * p[r * classes + k];
            for (var k = 0; k < classes; k++)
            {
                var q = r * classes + k;
                dz[q] += (float)(p[q] * (dp[q] - dot));
            }
        }
    }

    /// <summary><c>Σ_b g[b, i]</c>, samples in ascending order.</summary>
    static float[] SumOverBatch(float[] g, int batch, int size)
    {
        var s = new float[size];
        for (var b = 0; b < batch; b++) TensorPrimitives.Add(s, g.AsSpan(b * size, size), s);
        return s;
    }


    static float[] Gather(float[] dSum, Arr<int> index, int batch, int outSize, int sizeIn)
    {
        var d = new float[batch * outSize];
        for (var b = 0; b < batch; b++)
            for (var i = 0; i < outSize; i++) d[b * outSize + i] = dSum[b * sizeIn + index[i]];
        return d;
    }

    /// <summary>
    /// <c>sum += T(x)</c> for connection <paramref name="c"/> over the batch (scattered through its post index when it has
    /// one; <paramref name="sizeIn"/> is the post object's input size) on the runtime's forward kernels, the samples split
    /// over the work's threads (each sample's values do not depend on the split). A convolution adds each element's sum
    /// to its target once, and a dense product one sum per block of inputs, so they accumulate straight into
    /// <paramref name="sum"/> (a dense product only while it is <paramref name="fresh"/>, all zeros): the same bits as
    /// forming T(x) from zeros and adding it, which the other transforms do through the work's scratch buffer.
    /// </summary>
    static void Forward(Connection c, float[] x, int batch, float[] sum, int sizeIn, bool fresh, TransformWork work)
    {
        var t = c.Transform;
        var (inSize, outSize) = (t.InSize, t.OutSize);
        var scatter = c.PostIndex.TryGet(out var index);
        var direct = !scatter && (t is ConvT || (fresh && t is DenseT));
        var y = direct ? sum : work.Scratch(batch * outSize);
        var conv = t is ConvT ct ? work.Geometry(ct) : null;
        var pool = t is PoolT pt ? work.Geometry(pt) : null;
        work.Samples(batch, (b0, b1) =>
        {
            var n = b1 - b0;
            var (xs, ys) = (x.AsMemory(b0 * inSize, n * inSize), y.AsMemory(b0 * outSize, n * outSize));
            if (!direct) ys.Span.Clear();
            t.Match(
                identity: _ => { xs.Span.CopyTo(ys.Span); return unit; },
                scale: s =>
                {
                    if (s.Scale.Length == 1) TensorPrimitives.Multiply(xs.Span, s.Scale[0], ys.Span);
                    else
                        for (var b = 0; b < n; b++)
                            TensorPrimitives.Multiply(xs.Span.Slice(b * s.Size, s.Size), s.Scale.Span, ys.Span.Slice(b * s.Size, s.Size));
                    return unit;
                },
                dense: d => { Dense.Accumulate(xs.Span, n * d.Rows, d.Kernel.Shape[0], d.Kernel.Span, d.Kernel.Shape[1], ys.Span); return unit; },
                conv: k => { Conv.Accumulate(conv!, k.Kernel.Span, xs.Span, n, new float[conv!.WorkspaceSize(n)], ys.Span); return unit; },
                pool: p =>
                {
                    if (p.Spec.Kind == PoolKind.Average) Pool.AverageAccumulate(pool!, xs.Span, n, ys.Span);
                    else Pool.Max(pool!, xs.Span, n, ys.Span);
                    return unit;
                },
                gather: g =>
                {
                    var xv = xs.Span;
                    var yv = ys.Span;
                    for (var b = 0; b < n; b++)
                        for (var i = 0; i < g.OutSize; i++)
                            yv[b * g.OutSize + i] = g.Index[i] < 0 ? 0f : xv[b * g.In + g.Index[i]];
                    return unit;
                });
            if (direct) return;
            if (scatter)
                for (var b = b0; b < b1; b++)
                    for (var i = 0; i < outSize; i++) sum[b * sizeIn + index[i]] += y[b * outSize + i];
            else
                TensorPrimitives.Add(sum.AsSpan(b0 * outSize, n * outSize), ys.Span, sum.AsSpan(b0 * outSize, n * outSize));
        });
    }

    /// <summary>
    /// A transform's vector-Jacobian products: <c>dPre += dT·∂T/∂x</c> (unless <paramref name="dPre"/> is null) and
    /// <c>dW += dT·∂T/∂w</c> (unless <paramref name="dW"/> is null).
    /// </summary>
    static void BackwardTransform(Transform t, float[] x, float[] dT, int batch, float[]? dPre, float[]? dW, TransformWork work) => t.Match(
        identity: _ =>
        {
            if (dPre is not null) TensorPrimitives.Add(dPre, dT, dPre);
            return unit;
        },
        scale: s =>
        {
            var n = s.Size;
            for (var b = 0; b < batch; b++)
                for (var i = 0; i < n; i++)
                {
                    var q = b * n + i;
                    var w = s.Scale.Length == 1 ? 0 : i;
                    if (dPre is not null) dPre[q] += dT[q] * s.Scale[w];
                    if (dW is not null) dW[w] += dT[q] * x[q];
                }
            return unit;
        },
        dense: d =>
        {
            var (rows, inSize, outSize) = (batch * d.Rows, d.Kernel.Shape[0], d.Kernel.Shape[1]);
            if (dPre is not null) Backward.DenseInputGradient(dT, rows, inSize, d.Kernel.Span, outSize, dPre, work.Threads);
            if (dW is not null) Backward.DenseWeightGradient(x, dT, rows, inSize, outSize, dW, Span<float>.Empty, work.Threads);
            return unit;
        },
        conv: c =>
        {
            var g = work.Geometry(c);
            if (dPre is not null) Backward.ConvInputGradient(g, c.Kernel.Span, dT, batch, dPre, work.Threads);
            if (dW is not null) Backward.ConvKernelGradient(g, x, dT, batch, dW, Span<float>.Empty, work.Threads);
            return unit;
        },
        pool: p =>
        {
            if (dPre is null) return unit;
            var g = work.Geometry(p);
            if (p.Spec.Kind == PoolKind.Average) Backward.AveragePoolGradient(g, dT, batch, dPre);
            else Backward.MaxPoolGradient(g, x, dT, batch, dPre, work.Threads);
            return unit;
        },
        gather: g =>
        {
            if (dPre is null) return unit;
            for (var b = 0; b < batch; b++)
                for (var i = 0; i < g.OutSize; i++)
                    if (g.Index[i] >= 0) dPre[b * g.In + g.Index[i]] += dT[b * g.OutSize + i];
            return unit;
        });
}
