using LanguageExt;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;
using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Training;

/// <summary>
/// How one per-neuron bias of the network is tied to a per-channel bias of the Keras layer it came from (issue 19 item
/// 3): element i of parameter <see cref="Parameter"/> (an ensemble's bias or a constant node's value; for an unfolded
/// BatchNormalization, <see cref="KerasWriteBack.Ties"/> also ties its per-element scale weights) belongs to channel
/// <c>Channel[i]</c> of <see cref="Channels"/>, and carries that channel's Keras bias multiplied by <c>Factor[i]</c>.
///
/// <para>The map. The converter gives an ensemble fed by a Dense or Conv the current J_i = Bias_i + g_i·x_i with
/// Bias_i = g_i·b_c(i) (NengoDL: bias × firing-rate scale), where x_i is the layer's output without bias, b the layer's
/// per-channel Keras bias and g_i = Gain·NeuronScale[i] (<see cref="Ensemble.NeuronGains"/>; calibration multiplies the
/// whole current by its per-neuron scale). Calibration's bias shift and bias correction may add a per-neuron offset
/// o_i that no Keras variable holds, so in general Bias_i = o_i + g_i·b_c(i). A constant node (a Dense or Conv without a
/// fused activation) holds the bias itself: g_i = 1.</para>
///
/// <para>The re-parametrization. Training keeps the offsets and moves b: with the network's values at tying time as the
/// reference (<see cref="Reference"/> = Bias⁰, <see cref="ChannelReference"/> = b⁰),
/// <c>Bias_i(b) = Bias⁰_i + g_i·(b_c(i) − b⁰_c(i))</c> (<see cref="BiasTying.Untie(TiedBias, Tensor)"/>), which gives
/// back Bias⁰ bit for bit at b = b⁰ and keeps every offset. Its gradient is the chain rule,
/// <c>∂L/∂b_c = Σ_{i in c} g_i·∂L/∂Bias_i</c> (<see cref="BiasTying.Tie(TiedBias, Tensor)"/>); since J_i = g_i·(x_i + b_c) + o_i,
/// this is Σ_i ∂L/∂x_i, the gradient Keras computes for its bias, so b lives in Keras units and an optimizer step on b is
/// the step Keras would take. b⁰_c is the mean of Bias⁰_i/g_i over the channel, the Keras bias itself when there
/// are no offsets; write-back only uses differences b − b⁰, so any offsets cancel there.</para>
/// </summary>
public sealed record TiedBias(string Parameter, ParameterKind Kind, Arr<int> Channel, int Channels, Tensor Factor, Tensor Reference, Tensor ChannelReference)
{
    /// <summary>The number of per-neuron values tied.</summary>
    public int Size => Channel.Count;
}

/// <summary>
/// Ties the network's per-neuron biases to per-channel Keras biases (see <see cref="TiedBias"/> for the math): pure
/// functions over data. A training loop that should stay writable into the Keras model trains, for every tied
/// parameter, the channel values (<see cref="Channels(Map{string, TiedBias}, Map{string, Tensor})"/> gives their start),
/// writes <see cref="Untie(Map{string, TiedBias}, Map{string, Tensor})"/> of them into the network
/// (<see cref="NetworkParameters.Write"/>) and turns the per-neuron gradients into channel gradients with
/// <see cref="Tie(Map{string, TiedBias}, Map{string, Tensor})"/>. Parameters that are not tied pass through unchanged.
/// </summary>
public static class BiasTying
{
    /// <summary>
    /// The tied biases of <paramref name="net"/>, keyed by parameter name (<see cref="Parameter.Name"/>): every ensemble
    /// fed by exactly one Dense or Conv connection (its bias is that layer's bias times its gains) and every constant node
    /// that feeds, through an identity connection, a passthrough node fed by exactly one Dense or Conv connection (the
    /// layer's bias, unscaled). The channel of each element follows the transform's layout (<see cref="Compiler.Calibrate.Calibrate.ChannelsOf"/>):
    /// a Dense's units, a Conv's filters channels-last (element i in channel i mod filters) or channels-first (one block
    /// of positions per channel). Ensembles fed otherwise (an activation layer after an Add, a pooling) and other
    /// constants (an unfolded BatchNormalization's shift) are not tied: they hold no Keras layer's bias.
    /// </summary>
    public static Map<string, TiedBias> Of(Network net)
    {
        var byId = net.Nodes.ToDictionary(n => n.Id);
        var tied = new List<TiedBias>();
        foreach (var node in net.Nodes)
        {
            switch (node)
            {
                case Ensemble e:
                    var gains = e.NeuronGains.IfNone(() => Tensor.Filled(new[] { e.Size }, e.Gain));
                    Compiler.Calibrate.Calibrate.ChannelsOf(net, e).IfSome(ch => tied.Add(Tied(e.Id, ParameterKind.Bias, ch, gains, e.Bias)));
                    break;
                case ConstNode k:
                    var feeds = net.Connections.Filter(c => c.Pre == k.Id).ToList();
                    if (feeds.Count != 1 || feeds[0].Transform is not IdentityT || feeds[0].PostIndex.IsSome) break;
                    if (!byId.TryGetValue(feeds[0].Post, out var post) || post is not PassNode || post.Size != k.Size) break;
                    Compiler.Calibrate.Calibrate.ChannelsOf(net, post).IfSome(ch => tied.Add(Tied(k.Id, ParameterKind.Constant, ch, Tensor.Filled(new[] { k.Size }, 1f), k.Value)));
                    break;
            }
        }
        return toMap(tied.Select(t => (t.Parameter, t)));
    }

    /// <summary>A tie of parameter <paramref name="name"/>'s elements to channels, at its current values.</summary>
    internal static TiedBias Tied(string name, ParameterKind kind, int[] channel, Tensor factor, Tensor reference)
    {
        var channels = channel.Length == 0 ? 0 : channel.Max() + 1;
        var sum = new double[channels];
        var count = new int[channels];
        for (var i = 0; i < channel.Length; i++)
        {
            sum[channel[i]] += (double)reference[i] / factor[i];
            count[channel[i]]++;
        }
        var b0 = Enumerable.Range(0, channels).Select(c => count[c] == 0 ? 0f : (float)(sum[c] / count[c])).ToArray();
        return new TiedBias(name, kind, channel.ToArr(), channels, factor, reference.Reshape(new[] { reference.Length }), Tensor.Own(new[] { channels }, b0));
    }

    /// <summary>
    /// The channel gradient ∂L/∂b_c = Σ_{i in c} Factor[i]·∂L/∂Bias_i from the per-neuron gradient (in double, summed
    /// in element order, so the result does not depend on threads).
    /// </summary>
    public static Tensor Tie(TiedBias t, Tensor perNeuronGradient)
    {
        var sum = new double[t.Channels];
        var g = perNeuronGradient.Span;
        for (var i = 0; i < t.Size; i++) sum[t.Channel[i]] += (double)t.Factor[i] * g[i];
        return Tensor.Own(new[] { t.Channels }, sum.Select(v => (float)v).ToArray());
    }

    /// <summary>The per-neuron biases for channel values b: Bias_i = Reference_i + Factor_i·(b_c(i) − ChannelReference_c(i)).</summary>
    public static Tensor Untie(TiedBias t, Tensor channelValues)
    {
        var b = channelValues.Span;
        var d = new float[t.Size];
        for (var i = 0; i < d.Length; i++)
        {
            var c = t.Channel[i];
            var delta = b[c] - t.ChannelReference[c];
            d[i] = delta == 0f ? t.Reference[i] : t.Reference[i] + t.Factor[i] * delta;
        }
        return Tensor.Own(new[] { t.Size }, d);
    }

    /// <summary>
    /// The channel values that best give the per-neuron biases <paramref name="perNeuron"/> (least squares in Keras units:
    /// b_c = b⁰_c + mean over the channel of (Bias_i − Reference_i)/Factor_i). For biases that are tied this inverts
    /// <see cref="Untie(TiedBias, Tensor)"/> (up to rounding); at the reference it gives <see cref="TiedBias.ChannelReference"/>.
    /// </summary>
    public static Tensor Channels(TiedBias t, Tensor perNeuron)
    {
        var sum = new double[t.Channels];
        var count = new int[t.Channels];
        var v = perNeuron.Span;
        for (var i = 0; i < t.Size; i++)
        {
            sum[t.Channel[i]] += ((double)v[i] - t.Reference[i]) / t.Factor[i];
            count[t.Channel[i]]++;
        }
        return Tensor.Own(new[] { t.Channels }, Enumerable.Range(0, t.Channels)
            .Select(c => count[c] == 0 || sum[c] == 0 ? t.ChannelReference[c] : (float)(t.ChannelReference[c] + sum[c] / count[c])).ToArray());
    }

    /// <summary><see cref="Tie(TiedBias, Tensor)"/> for every tied name in <paramref name="gradients"/>; other gradients unchanged.</summary>
    public static Map<string, Tensor> Tie(Map<string, TiedBias> ties, Map<string, Tensor> gradients) =>
        gradients.Map((name, g) => ties.Find(name).Match(t => Tie(t, g), () => g));

    /// <summary><see cref="Untie(TiedBias, Tensor)"/> for every tied name in <paramref name="values"/>; other values unchanged.</summary>
    public static Map<string, Tensor> Untie(Map<string, TiedBias> ties, Map<string, Tensor> values) =>
        values.Map((name, v) => ties.Find(name).Match(t => Untie(t, v), () => v));

    /// <summary><see cref="Channels(TiedBias, Tensor)"/> for every tied name in <paramref name="perNeuron"/>; other values unchanged.</summary>
    public static Map<string, Tensor> Channels(Map<string, TiedBias> ties, Map<string, Tensor> perNeuron) =>
        perNeuron.Map((name, v) => ties.Find(name).Match(t => Channels(t, v), () => v));
}
