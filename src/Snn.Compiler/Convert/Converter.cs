using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Convert;

/// <summary>
/// NengoDL's converter options (nengo-semantics.md §1.1). <see cref="Swap"/> maps an activation name
/// (relu, leaky_relu, sigmoid, tanh) or a neuron type name (RectifiedLinear, ...) to a neuron type name.
/// <see cref="ScaleFiringRates"/> applies to every layer unless <see cref="LayerScales"/> names it.
/// <see cref="Spiking"/> turns every ReLU-family neuron that no swap names into its spiking counterpart.
/// <see cref="MaxPool"/> chooses how max pooling of spikes works (<see cref="MaxPoolMethod.Avg"/> is max_to_avg_pool).
/// </summary>
public sealed record ConvertOptions(
    bool Spiking = false,
    MaxPoolMethod MaxPool = MaxPoolMethod.Count,
    Map<string, string> Swap = default,
    Option<float> ScaleFiringRates = default,
    Map<string, float> LayerScales = default,
    Option<Lowpass> Synapse = default,
    float Dt = 0.001f,
    int Seed = 0,
    InitialVoltage InitialVoltage = InitialVoltage.Uniform)
{
    public static readonly ConvertOptions Default = new();

    /// <summary>Spiking neurons reset to zero after a spike instead of subtracting it (Nengo subtracts).</summary>
    public bool ResetToZero { get; init; }

    /// <summary>
    /// In spiking mode, plain ReLUs become integrate-and-fire neurons (signed integration, the conversion
    /// literature's neuron) instead of Nengo's SpikingRectifiedLinear (which clips the current at zero).
    /// </summary>
    public bool IntegrateAndFire { get; init; }

    /// <summary>
    /// With <see cref="IntegrateAndFire"/>: the neurons emit negative spikes that take back earlier ones while their
    /// voltage is below zero (<see cref="Snn.IntegrateAndFire.NegativeSpikes"/>), so each neuron's spike count is the
    /// quantized ReLU of its integrated input at every step. Needs reset by subtraction.
    /// </summary>
    public bool NegativeSpikes { get; init; }

    /// <summary>Spiking mode as the CLI means it: relu-type activations become their spiking counterparts.</summary>
    public ConvertOptions AsSpiking() => this with { Spiking = true };
}

/// <summary>
/// What the converter makes: the network (data only: its function nodes hold names) and the code of its function nodes
/// by name, which travels beside the network to the compile result and the runtime.
/// </summary>
public sealed record ConvertedNetwork(Network Network, NodeFunctions Functions);

/// <summary>
/// Pass 3: legal graph → network of ensembles, passthrough nodes and connections, with NengoDL's
/// semantics: an activation becomes an ensemble (gain = scale, bias = layer bias × scale, amplitude ÷ scale);
/// a Dense/Conv feeding only an activation puts its bias into that ensemble; otherwise linear layers are
/// passthrough nodes with a constant bias node; the synapse sits only on connections and probes leaving neurons.
/// Reshape is a no-op, Flatten's transpose and other index maps are gather transforms.
/// </summary>
public static class Converter
{
    public const string Name = "convert";

    /// <summary>The neuron type names options accept (<see cref="NeuronTypes.Names"/>).</summary>
    public static readonly System.Collections.Immutable.ImmutableArray<string> NeuronNames = [.. NeuronTypes.Names];

    public static Either<Error, NeuronType> NeuronByName(string name) =>
        NeuronTypes.ByName(name).ToEither(() => Errors.Usage($"unknown neuron type '{name}' (known: {string.Join(", ", NeuronNames)})"));

    sealed record Builder(ConvertOptions Options, LegalGraph Graph)
    {
        readonly List<NetNode> nodes = new();
        readonly Dictionary<string, NetNode> byId = new();
        readonly ILookup<string, LegalOp> values = Graph.Ops.ToLookup(o => o.Id);
        readonly Dictionary<string, List<NetNode>> before = new();   // objects to list just before an object, in the order added
        /// <summary>The code of the function nodes made so far, by name.</summary>
        public NodeFunctions Functions = NodeFunctions.Empty;
        public readonly List<Connection> Connections = new();
        public readonly List<string> Warnings = new();
        public readonly Dictionary<string, string> Objects = new();    // legal value -> net node id
        public readonly System.Collections.Generic.HashSet<string> UsedSwapKeys = new();
        public int EnsembleCount;

        public NetNode Node(string id) => byId[id];
        public bool HasNode(string id) => byId.ContainsKey(id);

        public void AddNode(NetNode node)
        {
            nodes.Add(node);
            byId.TryAdd(node.Id, node);
        }

        /// <summary>Adds <paramref name="node"/> to the list just before <paramref name="next"/> (after others put there before).</summary>
        public void AddBefore(string next, NetNode node)
        {
            (before.TryGetValue(next, out var list) ? list : before[next] = new List<NetNode>()).Add(node);
            byId.TryAdd(node.Id, node);
        }

        /// <summary>Every object, in list order.</summary>
        public Seq<NetNode> Nodes => nodes.SelectMany(n => before.TryGetValue(n.Id, out var list) ? list.Append(n) : new[] { n }).ToSeq().Strict();
        public string ObjectOf(string value) => Objects[value];
        /// <summary>The legal op that defines <paramref name="value"/>.</summary>
        public LegalOp Value(string value) => values[value].First();

        public void Connect(string pre, string post, Transform t, Option<Arr<int>> postIndex = default)
        {
            var synapse = Node(pre) is Ensemble ? Options.Synapse : None;
            Connections.Add(new Connection($"{pre}->{post}#{Connections.Count}", pre, post, t, synapse, postIndex));
        }
    }

    /// <summary>
    /// Converts <paramref name="graph"/>; custom layers (<see cref="LCustom"/>) find their converter in
    /// <paramref name="converters"/> by the key they hold. The network's function nodes hold names; their code comes
    /// back beside it, in <see cref="ConvertedNetwork.Functions"/>.
    /// </summary>
    public static Either<Error, ConvertedNetwork> Run(ConvertOptions options, ConverterRegistry converters, LegalGraph graph)
    {
        if (options.MaxPool == MaxPoolMethod.Pre) graph = MaxPoolBeforeActivation(graph);
        var b = new Builder(options, graph);
        var consumers = graph.Ops.SelectMany(o => o.Inputs).GroupBy(i => i).ToDictionary(g => g.Key, g => g.Count());
        // The first non-softmax activation reading each value (a Dense or Conv fuses with it).
        var activations = graph.Ops.Filter(o => o is LActivation { Act: not SoftmaxAct }).GroupBy(o => o.Inputs.Head)
            .ToDictionary(g => g.Key, g => g.First());
        var fused = new System.Collections.Generic.HashSet<string>();

        foreach (var op in graph.Ops)
        {
            if (fused.Contains(op.Id)) continue;
            switch (op)
            {
                case LInput input:
                    Add(b, op, new InputNode(op.Id, op.Layer, input.Shape, input.Index));
                    break;

                case LDense or LConv:
                {
                    // Fuse Dense/Conv + activation into one ensemble when the linear value feeds only the activation.
                    var next = activations.TryGetValue(op.Id, out var first) ? Some(first) : Option<LegalOp>.None;
                    var canFuse = next.IsSome && consumers.GetValueOrDefault(op.Id) == 1 && !graph.Outputs.Contains(op.Id);
                    var (transform, bias) = LinearParts(op);
                    var pre = b.ObjectOf(op.Inputs.Head);
                    if (canFuse)
                    {
                        var act = (LActivation)next.Case!;
                        var made = MakeEnsemble(b, act, bias);
                        if (made.Case is not Ensemble ens) return (Error)made.Case!;
                        Add(b, act, ens);
                        b.Objects[op.Id] = ens.Id;
                        b.Connect(pre, ens.Id, transform);
                        fused.Add(act.Id);
                    }
                    else
                    {
                        var node = Add(b, op, new PassNode(op.Id, op.Layer, op.Size));
                        b.Connect(pre, node.Id, transform);
                        AddBias(b, op, node.Id, bias);
                    }
                    break;
                }

                case LActivation { Act: SoftmaxAct }:
                    b.Objects[op.Id] = b.ObjectOf(op.Inputs.Head);   // applied by the probe
                    break;

                case LActivation act:
                {
                    var made = MakeEnsemble(b, act, None);
                    if (made.Case is not Ensemble ens) return (Error)made.Case!;
                    Add(b, act, ens);
                    b.Connect(b.ObjectOf(op.Inputs.Head), ens.Id, new IdentityT(op.Size));
                    break;
                }

                case LFilter f:
                {
                    var node = Add(b, op, new FilterNode(op.Id, op.Layer, op.Size, f.Kind, f.Tau, f.InitialLevel));
                    b.Connect(b.ObjectOf(op.Inputs.Head), node.Id, new IdentityT(op.Size));
                    WarnDt(b, op.Layer, f.Dt);
                    break;
                }

                case LPool { Spec.Kind: PoolKind.Max } p when options.MaxPool != MaxPoolMethod.Avg && b.Node(b.ObjectOf(op.Inputs.Head)) is Ensemble { Neuron.Spiking: true }:
                {
                    // Max pooling of spike trains: a stateful node (exact max in rate semantics).
                    var node = Add(b, op, new MaxPoolNode(op.Id, op.Layer, p.Spec, options.MaxPool));
                    b.Connect(b.ObjectOf(op.Inputs.Head), node.Id, new IdentityT(node.SizeIn));
                    break;
                }

                case LPool p:
                {
                    var spec = p.Spec.Kind == PoolKind.Max && options.MaxPool == MaxPoolMethod.Avg ? p.Spec with { Kind = PoolKind.Average } : p.Spec;
                    var node = Add(b, op, new PassNode(op.Id, op.Layer, op.Size));
                    b.Connect(b.ObjectOf(op.Inputs.Head), node.Id, new PoolT(spec));
                    break;
                }

                case LFallback f:
                {
                    var function = new KerasLayerFunction(f.Node, f.InputShapes, f.Shape);
                    b.Functions = b.Functions.Add(op.Id, function);
                    var node = Add(b, op, new FunctionNode(op.Id, op.Layer, f.InputShapes.Sum(Shapes.Product), op.Size, op.Id, function.Name)
                        { FallbackClass = f.Node.ClassName });
                    ConnectConcatenated(b, f.Inputs, node.Id);
                    b.Warnings.Add($"{f.Reason}. Falling back to a function node evaluated with the reference kernel.");
                    break;
                }

                case LCustom c:
                {
                    var resolved = converters.Resolve(c.Layer, c.Converter);
                    if (resolved.Case is not ILayerConverter converter) return (Error)resolved.Case!;
                    var builder = new LayerBuilder(c.Id, c.Inputs.Map(b.ObjectOf).ToSeq().Strict(), c.InputShapes,
                        n => { b.AddNode(n); return n; },
                        (name, function) => b.Functions = b.Functions.Add(name, function),
                        (pre, post, t, idx) => b.Connect(pre, post, t, idx));
                    var converted = converter.Convert(c.Node, builder);
                    if (converted.Case is not string output) return (Error)converted.Case!;
                    if (!b.HasNode(output) || b.Node(output).Size != op.Size)
                        return Errors.UnsupportedLayer(c.Layer, c.Node.ClassName,
                            $"the custom converter returned '{output}', which is not an object of {op.Size} values");
                    b.Objects[op.Id] = output;
                    break;
                }

                case LAffine a:
                {
                    var node = Add(b, op, new PassNode(op.Id, op.Layer, op.Size));
                    var (scale, shift) = ExpandAffine(a);
                    b.Connect(b.ObjectOf(op.Inputs.Head), node.Id, new ScaleT(op.Size, scale));
                    AddBias(b, op, node.Id, Some(shift));
                    break;
                }

                case LSum s:
                {
                    var node = Add(b, op, new PassNode(op.Id, op.Layer, op.Size));
                    for (var i = 0; i < s.Inputs.Count; i++)
                        b.Connect(b.ObjectOf(s.Inputs[i]), node.Id,
                            s.Weights[i] == 1f ? new IdentityT(op.Size) : new ScaleT(op.Size, Tensor.Scalar(s.Weights[i])));
                    break;
                }

                case LConcat c:
                {
                    var node = Add(b, op, new PassNode(op.Id, op.Layer, op.Size));
                    var outer = c.Shape.Take(c.Axis).Aggregate(1, (p, d) => p * d);
                    var offset = 0;
                    foreach (var input in c.Inputs)
                    {
                        var size = b.Value(input).Size;
                        var block = size / outer;
                        var total = op.Size / outer;
                        var index = new int[size];
                        for (var i = 0; i < size; i++) index[i] = i / block * total + offset + i % block;
                        offset += block;
                        b.Connect(b.ObjectOf(input), node.Id, new IdentityT(size), Some(index.ToArr()));
                    }
                    break;
                }

                case LReshape:
                    b.Objects[op.Id] = b.ObjectOf(op.Inputs.Head);
                    break;

                case LGather g:
                {
                    var node = Add(b, op, new PassNode(op.Id, op.Layer, op.Size));
                    b.Connect(b.ObjectOf(op.Inputs.Head), node.Id, new GatherT(b.Value(op.Inputs.Head).Size, g.Index, g.Kind));
                    break;
                }

                default:
                    return Errors.UnsupportedLayer(op.Layer, op.GetType().Name, "no converter for this op");
            }
        }

        var probes = graph.Outputs.Zip(Enumerable.Range(0, graph.Outputs.Count)).Map(p =>
        {
            var (id, i) = p;
            var op = b.Value(id);
            var softmax = op is LActivation { Act: SoftmaxAct };
            var target = b.ObjectOf(id);
            var synapse = b.Node(target) is Ensemble ? options.Synapse : None;
            return new Probe($"probe{i}", target, synapse, softmax, op.Shape, i);
        }).ToSeq().Strict();

        b.Warnings.InsertRange(0, graph.Warnings);
        foreach (var key in options.Swap.Keys.Where(k => !b.UsedSwapKeys.Contains(k)))
            b.Warnings.Add($"swap_activations contained {key}, but there were no layers in the model with that activation type");

        return new ConvertedNetwork(
            new Network(b.Nodes, b.Connections.ToSeq().Strict(), probes, options.Dt, graph.Layers, b.Warnings.ToSeq().Strict()),
            b.Functions);
    }

    /// <summary>Feeds several inputs into one node, each into its slice of the node's concatenated input.</summary>
    static void ConnectConcatenated(Builder b, Seq<string> inputs, string post)
    {
        var offset = 0;
        foreach (var input in inputs)
        {
            var size = b.Node(b.ObjectOf(input)).Size;
            var index = Enumerable.Range(offset, size).ToArr();
            b.Connect(b.ObjectOf(input), post, new IdentityT(size), inputs.Count == 1 ? None : Some(index));
            offset += size;
        }
    }

    /// <summary>
    /// max(f(x)) = f(max(x)) for a non-decreasing activation f: moves max pooling ahead of the activation it
    /// follows, so it pools input currents (the <see cref="MaxPoolMethod.Pre"/> method, SpikingJelly's pre_spike_maxpool).
    /// </summary>
    public static LegalGraph MaxPoolBeforeActivation(LegalGraph g)
    {
        var ops = g.Ops.ToList();
        for (var i = 0; i < ops.Count; i++)
        {
            if (ops[i] is not LPool { Spec.Kind: PoolKind.Max } pool) continue;
            var ai = ops.FindIndex(o => o.Id == pool.Inputs.Head);
            if (ai < 0 || ops[ai] is not LActivation act || !NonDecreasing(act.Act)) continue;
            if (ops.Count(o => o.Inputs.Contains(act.Id)) != 1 || g.Outputs.Contains(act.Id)) continue;
            var pooled = pool with { Id = pool.Id + ":pre", Inputs = act.Inputs };
            ops[ai] = pooled;
            ops[i] = act with { Id = pool.Id, Inputs = Seq1(pooled.Id), Shape = pool.Shape };
        }
        return g with { Ops = ops.ToSeq().Strict() };
    }

    static bool NonDecreasing(Act a) => a switch
    {
        Relu r => r.NegativeSlope >= 0 && r.Threshold == 0f,
        SigmoidAct or TanhAct => true,
        _ => false,
    };

    static NetNode Add(Builder b, LegalOp op, NetNode node)
    {
        b.AddNode(node);
        b.Objects[op.Id] = node.Id;
        return node;
    }

    /// <summary>The transform of a Dense/Conv and its bias expanded to one value per output element.</summary>
    static (Transform, Option<Tensor>) LinearParts(LegalOp op) => op switch
    {
        LDense d => (new DenseT(d.Kernel, d.Size / d.Kernel.Shape[1]), d.Bias.Map(bias => Tile(bias, d.Size, inner: 1))),
        LConv c => (new ConvT(c.Spec, c.Kernel), c.Bias.Map(bias => c.Spec.ChannelsLast
            ? Tile(bias, c.Size, inner: 1)
            : Tile(bias, c.Size, inner: c.Size / c.Spec.Filters))),
        _ => throw new InvalidOperationException(),
    };

    /// <summary>Broadcasts a per-channel vector over a tensor of <paramref name="size"/> elements.</summary>
    static Tensor Tile(Tensor v, int size, int inner)
    {
        var d = new float[size];
        for (var i = 0; i < size; i++) d[i] = v[i / inner % v.Length];
        return Tensor.Own(new[] { size }, d);
    }

    static (Tensor Scale, Tensor Shift) ExpandAffine(LAffine a)
    {
        var inner = a.Shape.Skip(a.Axis + 1).Aggregate(1, (p, d) => p * d);
        return (Tile(a.Scale, a.Size, inner), Tile(a.Shift, a.Size, inner));
    }

    static void AddBias(Builder b, LegalOp op, string post, Option<Tensor> bias)
    {
        if (!bias.TryGet(out var value)) return;
        var node = new ConstNode(op.Id + ".bias", op.Layer, value);
        // Constant nodes go before the node they feed, keeping the object list feed-forward.
        b.AddBefore(post, node);
        b.Connect(node.Id, post, new IdentityT(value.Length));
    }

    /// <summary>
    /// NengoDL's activation → neuron mapping with swap_activations: first keyed by activation (relu, leaky_relu,
    /// sigmoid, tanh), then by neuron type name. In spiking mode a ReLU-family neuron that no swap named becomes
    /// its spiking counterpart.
    /// </summary>
    static Either<Error, NeuronType> NeuronFor(Builder b, LActivation act)
    {
        if (act.Spiking.TryGet(out var state))
        {
            // keras_spiking SpikingActivation: NengoDL's RegularSpiking(base), no swaps, spiking in every mode.
            WarnDt(b, act.Layer, state.Dt);
            return act.Act switch
            {
                Relu { IsPlain: true } => new RegularSpiking(new RectifiedLinear()),
                SigmoidAct => new RegularSpiking(new Sigmoid()),
                TanhAct => new RegularSpiking(new Tanh()),
                _ => Errors.UnsupportedLayer(act.Layer, "SpikingActivation", $"activation {act.Act} has no native neuron type"),
            };
        }
        (string Key, NeuronType Neuron)? native = act.Act switch
        {
            Relu { IsPlain: true } => ("relu", new RectifiedLinear()),
            Relu r => ("leaky_relu", new LeakyRectifiedLinear(Tensor.Scalar(r.NegativeSlope), r.Threshold, r.MaxValue)),
            PRelu p => ("leaky_relu", new LeakyRectifiedLinear(p.Alpha)),
            SigmoidAct => ("sigmoid", new Sigmoid()),
            TanhAct => ("tanh", new Tanh()),
            _ => null,
        };
        if (native is not var (key, neuron)) return Errors.UnsupportedLayer(act.Layer, "activation", $"activation {act.Act} has no native neuron type");
        var swapped = false;
        if (b.Options.Swap.Find(key).TryGet(out var target))
        {
            b.UsedSwapKeys.Add(key);
            var first = Named(target switch { "relu" => "RectifiedLinear", "sigmoid" => "Sigmoid", "tanh" => "Tanh", var x => x }, neuron);
            if (first.Case is not NeuronType named) return first;
            neuron = named;
            swapped = true;
        }
        if (b.Options.Swap.Find(neuron.Name).TryGet(out var second))
        {
            b.UsedSwapKeys.Add(neuron.Name);
            var then = Named(second, neuron);
            if (then.Case is not NeuronType named) return then;
            neuron = named;
            swapped = true;
        }
        var chosen = b.Options.Spiking && !swapped
            ? neuron is RectifiedLinear plain && b.Options.IntegrateAndFire ? new IntegrateAndFire(plain.Amplitude) { NegativeSpikes = b.Options.NegativeSpikes } : neuron.SpikingVersion
            : neuron;
        return !b.Options.ResetToZero ? chosen : chosen.WithResetToZero($"layer '{Names.Printable(act.Layer)}': ");
    }

    /// <summary>The neuron type called <paramref name="name"/>, keeping the ReLU family's parameters when it stays in the family.</summary>
    static Either<Error, NeuronType> Named(string name, NeuronType current) => (name, current) switch
    {
        ("LeakyReLU", LeakyRectifiedLinear l) => l,
        ("SpikingLeakyReLU", LeakyRectifiedLinear l) => l.SpikingVersion,
        _ => NeuronByName(name),
    };

    static Either<Error, Ensemble> MakeEnsemble(Builder b, LActivation act, Option<Tensor> bias) =>
        NeuronFor(b, act).Map(neuron => MakeEnsemble(b, act, bias, neuron));

    static Ensemble MakeEnsemble(Builder b, LActivation act, Option<Tensor> bias, NeuronType neuron)
    {
        var scale = b.Options.LayerScales.Find(act.Layer) || b.Options.ScaleFiringRates;
        var gain = 1f;
        var biasValues = bias.Map(t => t.ToArray()).IfNone(() => new float[act.Size]);
        if (scale.TryGet(out var s))
        {
            gain = s;
            for (var i = 0; i < biasValues.Length; i++) biasValues[i] *= s;
            if (neuron.HasAmplitude) neuron = neuron.ForFiringRateScale(s);
            else b.Warnings.Add($"Firing rate scaling being applied to activation type that does not support amplitude ({neuron.Name}); this will change the output (layer '{Names.Printable(act.Layer)}')");
        }
        var index = b.EnsembleCount++;
        var voltage = act.Spiking.Map(st => st.InitialVoltage) || (neuron.Spiking ? Some(InitialVoltages(b.Options, index, act.Size)) : None);
        return new Ensemble(act.Id, act.Layer, act.Size, neuron, gain, Tensor.Own(new[] { act.Size }, biasValues), voltage);
    }

    /// <summary>keras_spiking layers carry their own dt; like NengoDL we simulate with the converter's and say so.</summary>
    static void WarnDt(Builder b, string layer, float layerDt)
    {
        if (Math.Abs(layerDt - b.Options.Dt) > 1e-9f * Math.Max(1f, Math.Abs(layerDt)))
            b.Warnings.Add($"Ignoring dt={layerDt:G} of layer '{Names.Printable(layer)}'; dt is controlled by the simulator (--dt {b.Options.Dt:G})");
    }

    /// <summary>
    /// Initial voltages: Uniform(0,1) from numpy's RandomState(seed + ensemble index), 0.5, or 0.
    /// Nengo seeds each ensemble from the network seed in build order; we derive one stream per
    /// ensemble from the seed instead (documented difference), and export writes the values out.
    /// </summary>
    static Tensor InitialVoltages(ConvertOptions o, int ensembleIndex, int n) => o.InitialVoltage switch
    {
        InitialVoltage.Half => Tensor.Filled(new[] { n }, 0.5f),
        InitialVoltage.Zero => Tensor.Filled(new[] { n }, 0f),
        _ => Tensor.Own(new[] { n }, new NumpyRandom(unchecked((uint)(o.Seed + ensembleIndex))).Uniform(0, 1, n).Select(v => (float)v).ToArray()),
    };
}
