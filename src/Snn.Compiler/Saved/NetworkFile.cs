using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using static LanguageExt.Prelude;
using static Snn.Compiler.EitherExtensions;
using Snn.Ops;

using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Compiler.Saved;

/// <summary>What calibration used (<see cref="Data"/> is the file's name, for the record) and what it chose.</summary>
public sealed record SavedCalibration(CalibrateOptions Options, string Data, Option<float> InputScale, Seq<LayerScale> Scales);

/// <summary>
/// A converted network as <c>snn convert</c> saves it (NET.snnz): the Stage-3 <see cref="Network"/> converted with spiking
/// neuron types (and calibrated, when calibration was asked for), the options that made it, the Keras model's name and
/// input shapes, and the original model file(s) for Keras-mode baselines. <see cref="ForMode"/> gives the network a
/// rate- or spiking-mode compilation from the Keras model would give: rate mode maps each ensemble's neuron to its
/// <see cref="NeuronType.RateVersion"/>, except the ensembles in <see cref="KeepInRateMode"/> (neuron types chosen by a
/// swap, which a rate-mode conversion keeps too), and turns max pooling of what no longer spikes into value pooling.
/// </summary>
public sealed record SavedNetwork(
    string Model,
    Seq<Arr<int>> InputShapes,
    LegalizeOptions Legalize,
    ConvertOptions Convert,
    Option<SavedCalibration> Calibration,
    Network Network,
    Set<string> KeepInRateMode,
    Option<ModelSource> Source)
{
    /// <summary>
    /// What the conversion assumed every input value is multiplied by (<c>--input-scale</c>, e.g. 1/255 for uint8 pixels):
    /// data read for this network is scaled by it unless the user gives the same scale. None: not recorded (raw values).
    /// </summary>
    public Option<float> InputScale { get; init; }

    /// <summary>
    /// The input layout the conversion assumed: "channels_first" or "channels_last" from the model's convolutions and
    /// pooling; None when it has none (or the file predates the field). Data that fits only the other layout is refused
    /// with the transposition to make.
    /// </summary>
    public Option<string> InputLayout { get; init; }

    /// <summary>The layout of a legalized graph's convolutions and pooling (<see cref="InputLayout"/>).</summary>
    public static Option<string> LayoutOf(LegalGraph legal) =>
        legal.Ops.Exists(o => o is LConv { Spec.ChannelsLast: false } or LPool { Spec.ChannelsLast: false }) ? Some("channels_first")
        : legal.Ops.Exists(o => o is LConv or LPool) ? Some("channels_last")
        : None;

    /// <summary>The per-layer scales calibration chose (empty without calibration).</summary>
    public Seq<LayerScale> Scales => Calibration.Map(c => c.Scales).IfNone(Seq<LayerScale>());

    /// <summary>The options the network was converted with (without calibration data, which is not saved).</summary>
    public CompileOptions Options => new(Legalize, Convert, LowerOptions.Default, OptimizeOptions.Default);

    /// <summary>The network for spiking mode (as saved) or rate mode.</summary>
    public Network ForMode(bool spiking) => spiking ? Network : NetworkFile.RateMode(Network, KeepInRateMode);

    /// <summary>
    /// What to save for <paramref name="compiled"/>, a compilation with <paramref name="options"/>, whose converter options
    /// must be spiking (<see cref="ConvertOptions.AsSpiking"/>), so that initial voltages are part of the network.
    /// Checks that rate mode derives exactly from the spiking network (converting both ways).
    /// </summary>
    public static Either<Error, SavedNetwork> Of(Compiled compiled, CompileOptions options, Option<ModelSource> source,
        string calibrationData = "", Option<float> inputScale = default)
    {
        if (!options.Convert.Spiking)
            return Errors.Invariant("save", "a saved network is converted with spiking neuron types (ConvertOptions.AsSpiking())");
        return from _ in NetworkFile.Saveable(compiled.Network)
               from spiking in Converter.Run(options.Convert, options.Legalize.Converters, compiled.Legal).Map(c => c.Network)
               from rate in Converter.Run(options.Convert with { Spiking = false }, options.Legalize.Converters, compiled.Legal).Map(c => c.Network)
               let keep = toSet(spiking.Nodes.OfType<Ensemble>()
                   .Where(e => rate.Nodes.Find(n => n.Id == e.Id).Exists(r => r is Ensemble re && re.Neuron != e.Neuron.RateVersion))
                   .Select(e => e.Id))
               from _2 in NetworkFile.RateMode(spiking, keep) == rate
                   ? Right<Error, Unit>(unit)
                   : Left<Error, Unit>(Errors.Invariant("save", "this network's rate mode cannot be derived from its spiking form; it cannot be saved"))
               select new SavedNetwork(compiled.Keras.Name, compiled.Keras.InputShapes, options.Legalize with { Registry = null }, options.Convert,
                   options.Calibration.Map(c => new SavedCalibration(c.Options, calibrationData, inputScale, compiled.Scales)),
                   compiled.Network, keep, source) { InputScale = inputScale, InputLayout = LayoutOf(compiled.Legal) };
    }
}

/// <summary>
/// The saved-network format (<c>.snnz</c>, documented in the README under "Save and reload"): a zip holding
/// <c>snnz.json</c> (format name and version, model, options and the network's structure and scalars), one
/// <c>arrays/K.npy</c> per tensor (float32, int32 for index maps) and the original model files under <c>source/</c>.
/// Every node, transform and neuron type is one entry of a table below (a tag, a writer and a reader); the writer is
/// deterministic (fixed entry order and timestamps), the reader checks every size, reference and value and refuses
/// newer versions, and <see cref="Save"/> reads its own output back before returning it.
/// To support a new type, add its entry to <c>Nodes</c> or <c>Transforms</c>, or register a neuron type in <see cref="NeuronTypes.All"/> (older readers refuse its
/// unknown tag cleanly); raise <see cref="Version"/> only when older readers would misread a file.
/// </summary>
public static partial class NetworkFile
{
    public const string FormatName = "snnz";
    public const int Version = 1;
    public const string Extension = ".snnz";
    const string JsonEntry = "snnz.json";

    /// <summary>Largest snnz.json read; tensors and source files are bounded like Keras archive entries.</summary>
    const long MaxJsonBytes = KerasArchive.MaxConfigBytes;
    const long MaxEntryBytes = KerasArchive.MaxWeightsBytes;
    /// <summary>Largest file read, and most bytes inflated from one file in all.</summary>
    const long MaxFileBytes = LegacyH5.MaxFileBytes;
    /// <summary>Values per sample the whole network may hold (each object at most <see cref="MaxElements"/>).</summary>
    const long MaxTotalElements = 4L * MaxElements;
    const int MaxRank = 8;
    const int MaxElements = (int)Legalize.Legalize.MaxElements;

    /// <summary>True when <paramref name="path"/> names a saved network (by its extension).</summary>
    public static bool IsSaved(string path) => path.EndsWith(Extension, StringComparison.OrdinalIgnoreCase);

    // ------------------------------------------------------------------ rate mode

    /// <summary>
    /// The rate-mode form of a spiking network, as converting in rate mode gives it: every ensemble not in
    /// <paramref name="keep"/> gets its neuron's <see cref="NeuronType.RateVersion"/> (and loses its initial voltage when
    /// that is not spiking); a max-pool node whose one input no longer spikes becomes a passthrough node fed through a
    /// max <see cref="PoolT"/> (its rate meaning, exactly).
    /// </summary>
    public static Network RateMode(Network net, Set<string> keep)
    {
        var nodes = net.Nodes.Map(n => n is Ensemble e && !keep.Contains(e.Id) ? RateEnsemble(e) : n);
        var byId = nodes.ToDictionary(n => n.Id);
        var incoming = net.Connections.GroupBy(c => c.Post).ToDictionary(g => g.Key, g => g.ToList());
        var pools = nodes.OfType<MaxPoolNode>()
            .Where(m => incoming.GetValueOrDefault(m.Id) is [{ Transform: IdentityT, PostIndex.IsNone: true } c]
                        && byId.GetValueOrDefault(c.Pre) is not Ensemble { Neuron.Spiking: true })
            .ToDictionary(m => m.Id);
        if (pools.Count == 0) return net with { Nodes = nodes };
        return net with
        {
            Nodes = nodes.Map(n => pools.ContainsKey(n.Id) ? new PassNode(n.Id, n.Layer, n.Size) { Trainable = n.Trainable } : n),
            Connections = net.Connections.Map(c => pools.TryGetValue(c.Post, out var m)
                ? c with { Transform = new PoolT(m.Spec with { Kind = PoolKind.Max }) } : c),
        };
    }

    static Ensemble RateEnsemble(Ensemble e)
    {
        var neuron = e.Neuron.RateVersion;
        return e with { Neuron = neuron, InitialVoltage = neuron.Spiking ? e.InitialVoltage : None };
    }

    // ------------------------------------------------------------------ the type tables

    /// <summary>
    /// One type of the format: its tag, how to write its fields and how to read them back. It writes the values of
    /// <see cref="Type"/> (any type when null) that <see cref="Accepts"/>, when set, accepts.
    /// </summary>
    sealed record Entry<T>(string Tag, Type? Type, Action<W, T> Write, Func<J, Either<Error, T>> Read, Func<T, bool>? Accepts = null)
    {
        public bool Matches(T value) => (Type is null || Type == value!.GetType()) && (Accepts is null || Accepts(value));
    }

    static Entry<Transform> Transform<T>(string tag, Action<W, T> write, Func<J, Either<Error, T>> read) where T : Transform =>
        new(tag, typeof(T), (w, t) => write(w, (T)t), j => read(j).Map(t => (Transform)t));

    /// <summary>A node entry writes and reads the fields beyond id, layer and trainable (which every node has).</summary>
    static Entry<NetNode> Node<T>(string tag, Action<W, T> write, Func<J, (string Id, string Layer), Either<Error, T>> read) where T : NetNode =>
        new(tag, typeof(T), (w, n) => write(w, (T)n), j =>
            from id in j.Str("id")
            from layer in j.Str("layer")
            from node in read(j, (id, layer))
            select (NetNode)node);

    /// <summary>Neuron types: one entry per kind of <see cref="NeuronTypes.All"/>, its fields written and read in order.</summary>
    static readonly Seq<Entry<NeuronType>> Neurons = NeuronTypes.All.Map(kind => new Entry<NeuronType>(kind.Tag, null, WriteNeuron,
        j => ReadNeuron(j, kind), n => n.Kind.Exists(k => ReferenceEquals(k, kind)))).Strict();

    static void WriteNeuron(W w, NeuronType n)
    {
        foreach (var f in n.Saved)
        {
            switch (f.Value)
            {
                case NeuronValue.Number v: w.Float(f.Key, v.Value); break;
                case NeuronValue.Flag v: w.Bool(f.Key, v.Value); break;
                case NeuronValue.Text v: w.Str(f.Key, v.Value); break;
                case NeuronValue.PerNeuron v: w.Tensor(f.Key, v.Value); break;
                case NeuronValue.Neuron v: w.Tagged(f.Key, v.Value, Neurons); break;
                default: throw new InvalidOperationException($"{n.Name} saves field '{f.Key}' of a kind the format has no entry for");
            }
        }
    }

    static Either<Error, NeuronType> ReadNeuron(J j, NeuronKind kind) =>
        from values in kind.Fields.Fold(Right<Error, Map<string, NeuronValue>>(Map<string, NeuronValue>()),
            (read, f) => from done in read from value in ReadField(j, f) select done.Add(f.Key, value))
        from neuron in kind.Read(new NeuronFields(values)).MapLeft(j.Fail)
        select neuron;

    static Either<Error, NeuronValue> ReadField(J j, SavedField f) => f.Kind switch
    {
        FieldKind.Bool => j.Bool(f.Key).Map(NeuronValue (v) => new NeuronValue.Flag(v)),
        FieldKind.Tensor => j.Tensor(f.Key).Map(NeuronValue (v) => new NeuronValue.PerNeuron(v)),
        FieldKind.Neuron =>
            from neuron in j.Tagged(f.Key, Neurons)
            from _ in f.Refuses is { } refuses && refuses(neuron).TryGet(out var why) ? Left<Error, Unit>(j.Fail(why)) : Ok
            select (NeuronValue)new NeuronValue.Neuron(neuron),
        _ => j.Float(f.Key, allowInfinity: f.Kind == FieldKind.FloatOrInfinity, positive: f.Kind == FieldKind.Positive,
                nonNegative: f.Kind == FieldKind.NonNegative).Map(NeuronValue (v) => new NeuronValue.Number(v)),
    };

    static readonly Seq<Entry<Transform>> Transforms = Seq(
        Transform<IdentityT>("identity", (w, t) => w.Int("size", t.Size), j => j.Size("size").Map(size => new IdentityT(size))),
        Transform<ScaleT>("scale", (w, t) => { w.Int("size", t.Size); w.Tensor("scale", t.Scale); }, j =>
            from size in j.Size("size")
            from scale in j.Tensor("scale")
            from _ in scale.Length == 1 || scale.Length == size ? Ok : j.Fail($"'scale' has {scale.Length} values; expected 1 or {size}")
            select new ScaleT(size, scale)),
        Transform<DenseT>("dense", (w, t) => { w.Tensor("kernel", t.Kernel); w.Int("rows", t.Rows); }, j =>
            from kernel in j.Tensor("kernel")
            from rows in j.Int("rows", 1, MaxElements)
            from _ in kernel.Rank != 2 || kernel.Shape[0] < 1 || kernel.Shape[1] < 1 ? j.Fail($"'kernel' has shape {Shapes.Show(kernel.Shape)}; expected (in, out)") : Ok
            from __ in (long)Math.Max(kernel.Shape[0], kernel.Shape[1]) * rows > MaxElements ? j.Fail("the transform is too large") : Ok
            select new DenseT(kernel, rows)),
        Transform<ConvT>("conv", (w, t) => { w.Conv("spec", t.Spec); w.Tensor("kernel", t.Kernel); }, j =>
            from spec in j.Conv("spec")
            from kernel in j.Tensor("kernel")
            from _ in kernel.Length == spec.KernelShape.Fold(1L, (p, d) => p * d) ? Ok
                : j.Fail($"'kernel' has {kernel.Length} values; the spec needs {Shapes.Show(spec.KernelShape)}")
            select new ConvT(spec, kernel)),
        Transform<PoolT>("pool", (w, t) => w.Pool("spec", t.Spec), j => j.Pool("spec").Map(spec => new PoolT(spec))),
        Transform<GatherT>("gather", (w, t) => { w.Int("in", t.In); w.IntArray("index", t.Index); w.Str("kind", t.Kind); }, j =>
            from inSize in j.Size("in")
            from index in j.IntArray("index")
            from _ in index.Count > MaxElements ? j.Fail("'index' is too long") : Ok
            from __ in index.ForAll(i => i >= -1 && i < inSize) ? Ok : j.Fail($"'index' has values outside -1..{inSize - 1}")
            from kind in j.Str("kind")
            select new GatherT(inSize, index, kind)));

    static readonly Seq<Entry<NetNode>> Nodes = Seq(
        Node<InputNode>("input", (w, n) => { w.Ints("shape", n.Shape); w.Int("index", n.Index); },
            (j, h) => from shape in j.Shape("shape")
                      from index in j.Int("index", 0, 1 << 16)
                      select new InputNode(h.Id, h.Layer, shape, index)),
        Node<PassNode>("pass", (w, n) => w.Int("size", n.Size), (j, h) => j.Size("size").Map(size => new PassNode(h.Id, h.Layer, size))),
        Node<ConstNode>("const", (w, n) => w.Tensor("value", n.Value), (j, h) =>
            from value in j.Tensor("value")
            from _ in value.Length <= MaxElements ? Ok : j.Fail("'value' is too large")
            select new ConstNode(h.Id, h.Layer, value)),
        Node<Ensemble>("ensemble",
            (w, n) =>
            {
                w.Int("size", n.Size);
                w.Tagged("neuron", n.Neuron, Neurons);
                w.Float("gain", n.Gain);
                w.Tensor("bias", n.Bias);
                w.Opt("initial_voltage", n.InitialVoltage, v => w.Tensor("initial_voltage", v));
                w.Opt("neuron_scale", n.NeuronScale, v => w.Tensor("neuron_scale", v));
            },
            (j, h) =>
                from size in j.Size("size", min: 1)
                from neuron in j.Tagged("neuron", Neurons)
                from _ in neuron.Misfits(size).TryGet(out var misfit) ? Left<Error, Unit>(j.Fail(misfit)) : Ok
                from scale in j.OptTensor("neuron_scale")
                from __ in scale.Exists(r => r.Length != size || r.Span.ToArray().Any(v => !(v > 0) || float.IsInfinity(v)))
                    ? j.Fail($"'neuron_scale' must hold {size} positive values") : Ok
                from gain in j.Float("gain")
                from bias in j.Tensor("bias")
                from initialVoltage in j.OptTensor("initial_voltage")
                select new Ensemble(h.Id, h.Layer, size, neuron, gain, bias, initialVoltage) { NeuronScale = scale }),
        Node<MaxPoolNode>("max_pool", (w, n) => { w.Pool("spec", n.Spec); w.Str("method", Text(n.Method)); },
            (j, h) => from spec in j.Pool("spec")
                      from method in j.Enum<MaxPoolMethod>("method")
                      select new MaxPoolNode(h.Id, h.Layer, spec, method)),
        Node<FilterNode>("filter",
            (w, n) => { w.Int("size", n.Size); w.Str("kind", Text(n.Kind)); w.Tensor("tau", n.Tau); w.Tensor("initial_level", n.InitialLevel); },
            (j, h) =>
                from size in j.Size("size", min: 1)
                from tau in j.Tensor("tau")
                from level in j.Tensor("initial_level")
                from _ in (tau.Length != 1 && tau.Length != size) || tau.Span.ToArray().Any(t => !(t > 0) || float.IsInfinity(t))
                    ? j.Fail($"'tau' must hold 1 or {size} positive values") : Ok
                from __ in level.Length != size ? j.Fail($"'initial_level' must hold {size} values") : Ok
                from kind in j.Enum<FilterKind>("kind")
                select new FilterNode(h.Id, h.Layer, size, kind, tau, level)));

    static string Text<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    // ------------------------------------------------------------------ save
}
