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

/// <summary>
/// How <see cref="NetworkGradient.Run"/> works: the loss, which probe (by position in <c>Network.Probes</c>) it reads, how
/// many threads the gradient kernels use (the result's bytes do not depend on it) and whether the objects' and
/// connections' <c>Trainable</c> flags choose the parameters (see <see cref="NetworkParameters.Read"/>).
/// </summary>
public sealed record GradientOptions(Loss Loss = Loss.SoftmaxCrossEntropy, int Probe = 0, int Threads = 1, bool TrainableFlags = false)
{
    public static readonly GradientOptions Default = new();
}

/// <summary>
/// The loss (in double, as the loss kernels return it), every probe's output ([batch, probe shape...], as
/// <see cref="NetEval.Run"/> gives them) and the gradient of the loss with respect to every trainable parameter, keyed by
/// the parameter's name (<see cref="Parameter.Name"/>), each shaped as the parameter.
/// </summary>
public sealed record GradientResult(double Loss, Seq<Tensor> Outputs, Map<string, Tensor> Gradients);

/// <summary>
/// Reverse-mode gradients of the network IR in rate mode, the level NengoDL's <c>sim.fit</c> trains: the forward pass is
/// <see cref="NetEval"/>'s meaning (every neuron replaced by its rate function, synapses and filters passing constants,
/// max-pool objects the exact max), run on the whole batch at once with the runtime's forward kernels
/// (<see cref="Dense.Accumulate"/>, <see cref="Conv.Accumulate"/>, <see cref="Pool"/>), every object's output (and each
/// ensemble's currents, each max-pool object's input) kept for the backward pass, which runs the objects in reverse
/// topological order on the backward kernels (<see cref="Backward"/>).
/// </summary>
/// <remarks>
/// <para>Per object: an ensemble's output is <c>rate(J)/s</c> with <c>J = bias + gain·s·Σ in</c> (s its per-neuron
/// scale, 1 without), so <c>dJ = d(out)/s · rate'(J)</c> (<see cref="RateSlopes"/>), <c>d(bias) = Σ_batch dJ</c> and
/// <c>d(Σ in) = dJ·gain·s</c>; a passthrough or filter passes its gradient on; a max-pool object routes each window's
/// gradient to its first maximal input (<see cref="Backward.MaxPoolGradient"/>); a constant's value gets
/// <c>Σ_batch d(out)</c>. Per connection (its gradient taken back through its post index, if any): identity and scale
/// pass it on (times the scale; the scale gets <c>Σ dT·x</c>), dense and convolution transforms run
/// <see cref="Backward.DenseInputGradient"/>/<see cref="Backward.DenseWeightGradient"/> and
/// <see cref="Backward.ConvInputGradient"/>/<see cref="Backward.ConvKernelGradient"/>, pooling transforms the pooling
/// gradients, a gather scatters back to the indices it read.</para>
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
        from slopes in Slopes(net)
        from result in Compute(options, net, order, slopes, inputs, targets)
        select result;

    static Fin<Unit> Check(GradientOptions options, Network net, Seq<Tensor> inputs)
    {
        if (options.Threads < 1) return Errors.Usage($"threads must be at least 1, not {options.Threads}");
        if (options.Probe < 0 || options.Probe >= net.Probes.Count) return Errors.Usage($"the loss reads probe {options.Probe}, but the network has {net.Probes.Count} probe(s)");
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

    static Fin<GradientResult> Compute(GradientOptions options, Network net, Seq<NetNode> order, Dictionary<string, RateSlope> slopes, Seq<Tensor> inputs, Tensor targets)
    {
        var batch = inputs.Head.Shape[0];
        var incoming = net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => g.ToList());
        var values = new Dictionary<string, float[]>();
        var kept = new Dictionary<string, float[]>();   // ensembles' currents J, max-pool objects' summed inputs
        var work = new TransformWork(options.Threads);

        // ---------------------------------------------------------------- forward
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

        // ---------------------------------------------------------------- loss
        var probe = net.Probes[options.Probe];
        var target = net.Node(probe.Target);
        var grads = new Dictionary<string, float[]>();
        var dOut = new float[batch * target.Size];
        var lossValue = Loss(options.Loss, probe, values[probe.Target], outputs[options.Probe].Span, batch, targets, dOut);
        if (lossValue.Case is not double loss) return (Error)lossValue.Case!;
        grads[probe.Target] = dOut;

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
                    var dy = g;
                    if (scale is not null)
                    {
                        dy = new float[g.Length];
                        for (var q = 0; q < g.Length; q++) dy[q] = g[q] / scale[q % e.Size];
                    }
                    slopes[e.Id](kept[e.Id], dy, dj, e.Size);
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
        return new GradientResult(loss, outputs, toMap(gradients.Select(kv => (kv.Key, kv.Value))));
    }

    /// <summary>A probe's output for the batch: the target's values, softmax over the last axis for a softmax probe (as <see cref="NetEval.Run"/>).</summary>
    static float[] ProbeOutput(Probe p, float[] values)
    {
        var v = (float[])values.Clone();
        if (p.Softmax) Activations.Apply("softmax", v, p.Shape[p.Shape.Count - 1]);
        return v;
    }

    static Fin<double> Loss(Loss loss, Probe probe, float[] logits, ReadOnlySpan<float> output, int batch, Tensor targets, float[] dOut)
    {
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
