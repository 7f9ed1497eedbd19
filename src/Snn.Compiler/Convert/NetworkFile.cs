using System.IO.Compression;
using System.Text.Json;
using System.Text.RegularExpressions;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using static LanguageExt.Prelude;
using Snn.Ops;

namespace Snn.Compiler.Convert;

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
               from spiking in Converter.Run(options.Convert, compiled.Legal)
               from rate in Converter.Run(options.Convert with { Spiking = false }, compiled.Legal)
               let keep = toSet(spiking.Nodes.OfType<Ensemble>()
                   .Where(e => rate.Nodes.Find(n => n.Id == e.Id).Exists(r => r is Ensemble re && re.Neuron != e.Neuron.RateVersion))
                   .Select(e => e.Id))
               from _2 in NetworkFile.RateMode(spiking, keep) == rate
                   ? Right<Error, Unit>(unit)
                   : Left<Error, Unit>(Errors.Invariant("save", "this network's rate mode cannot be derived from its spiking form; it cannot be saved"))
               select new SavedNetwork(compiled.Keras.Name, compiled.Keras.InputShapes, options.Legalize with { Registry = null }, options.Convert,
                   options.Calibration.Map(c => new SavedCalibration(c.Options, calibrationData, inputScale, compiled.Scales)),
                   compiled.Network, keep, source);
    }
}

/// <summary>
/// The saved-network format (<c>.snnz</c>, documented in the README under "Save and reload"): a zip holding
/// <c>snnz.json</c> (format name and version, model, options and the network's structure and scalars), one
/// <c>arrays/K.npy</c> per tensor (float32, int32 for index maps) and the original model files under <c>source/</c>.
/// Every node, transform and neuron type is one entry of a table below (a tag, a writer and a reader); the writer is
/// deterministic (fixed entry order and timestamps), the reader checks every size, reference and value and refuses
/// newer versions, and <see cref="Save"/> reads its own output back before returning it.
/// To support a new type, add its entry to <c>Nodes</c>, <c>Transforms</c> or <c>Neurons</c> (older readers refuse its
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

    /// <summary>One type of the format: its tag, how to write its fields and how to read them back.</summary>
    /// <summary>One type of the format; <see cref="Accepts"/>, when set, narrows which values of the type it writes.</summary>
    sealed record Entry<T>(string Tag, Type Type, Action<W, T> Write, Func<J, T> Read, Func<T, bool>? Accepts = null);

    static Entry<NeuronType> Neuron<T>(string tag, Action<W, T> write, Func<J, T> read, Func<T, bool>? accepts = null) where T : NeuronType =>
        new(tag, typeof(T), (w, n) => write(w, (T)n), j => read(j), accepts is null ? null : n => accepts((T)n));

    static Entry<Transform> Transform<T>(string tag, Action<W, T> write, Func<J, T> read) where T : Transform =>
        new(tag, typeof(T), (w, t) => write(w, (T)t), j => read(j));

    /// <summary>A node entry writes and reads the fields beyond id, layer and trainable (which every node has).</summary>
    static Entry<NetNode> Node<T>(string tag, Action<W, T> write, Func<J, (string Id, string Layer), T> read) where T : NetNode =>
        new(tag, typeof(T), (w, n) => write(w, (T)n), j => read(j, (j.Str("id"), j.Str("layer"))));

    /// <summary>Neuron types, tagged by <see cref="NeuronType.Name"/>.</summary>
    static readonly Seq<Entry<NeuronType>> Neurons = Seq(
        Neuron<RectifiedLinear>("RectifiedLinear", (w, n) => w.Float("amplitude", n.Amplitude), j => new RectifiedLinear(j.Float("amplitude"))),
        Neuron<SpikingRectifiedLinear>("SpikingRectifiedLinear",
            (w, n) => { w.Float("amplitude", n.Amplitude); w.Bool("reset_to_zero", n.ResetToZero); },
            j => new SpikingRectifiedLinear(j.Float("amplitude")) { ResetToZero = j.Bool("reset_to_zero") }),
        Neuron<IntegrateAndFire>("IF",
            (w, n) => { w.Float("amplitude", n.Amplitude); w.Bool("reset_to_zero", n.ResetToZero); },
            j => new IntegrateAndFire(j.Float("amplitude")) { ResetToZero = j.Bool("reset_to_zero") }, n => !n.NegativeSpikes),
        // Its own tag, so that a reader without negative spikes refuses the file instead of running plain IF.
        Neuron<IntegrateAndFire>("SignedIF",
            (w, n) => w.Float("amplitude", n.Amplitude),
            j => new IntegrateAndFire(j.Float("amplitude")) { NegativeSpikes = true }, n => n.NegativeSpikes),
        Neuron<LeakyRectifiedLinear>("LeakyReLU",
            (w, n) => { w.Tensor("slope", n.Slope); w.Float("threshold", n.Threshold); w.Float("max_value", n.MaxValue); w.Float("amplitude", n.Amplitude); },
            j => new LeakyRectifiedLinear(j.Tensor("slope"), j.Float("threshold"), j.Float("max_value", allowInfinity: true), j.Float("amplitude"))),
        Neuron<SpikingLeakyRectifiedLinear>("SpikingLeakyReLU",
            (w, n) => { w.Tensor("slope", n.Slope); w.Float("threshold", n.Threshold); w.Float("max_value", n.MaxValue); w.Float("amplitude", n.Amplitude); },
            j => new SpikingLeakyRectifiedLinear(j.Tensor("slope"), j.Float("threshold"), j.Float("max_value", allowInfinity: true), j.Float("amplitude"))),
        Neuron<Lif>("LIF",
            (w, n) => { w.Float("tau_rc", n.TauRc); w.Float("tau_ref", n.TauRef); w.Float("min_voltage", n.MinVoltage); w.Float("amplitude", n.Amplitude); },
            j => new Lif(j.Float("tau_rc", positive: true), j.Float("tau_ref", nonNegative: true), j.Float("min_voltage"), j.Float("amplitude"))),
        Neuron<LifRate>("LIFRate",
            (w, n) => { w.Float("tau_rc", n.TauRc); w.Float("tau_ref", n.TauRef); w.Float("amplitude", n.Amplitude); },
            j => new LifRate(j.Float("tau_rc", positive: true), j.Float("tau_ref", nonNegative: true), j.Float("amplitude"))),
        Neuron<Sigmoid>("Sigmoid", (w, n) => w.Float("tau_ref", n.TauRef), j => new Sigmoid(j.Float("tau_ref", positive: true))),
        Neuron<Tanh>("Tanh", (w, n) => w.Float("tau_ref", n.TauRef), j => new Tanh(j.Float("tau_ref", positive: true))),
        Neuron<RegularSpiking>("RegularSpiking",
            (w, n) => { w.Tagged("base", n.Base, Neurons); w.Float("amplitude", n.Amplitude); },
            j =>
            {
                var b = j.Tagged("base", Neurons);
                return b is RectifiedLinear or Sigmoid or Tanh ? new RegularSpiking(b, j.Float("amplitude"))
                    : throw j.Fail($"RegularSpiking needs a RectifiedLinear, Sigmoid or Tanh base, not {b.Name}");
            }));

    static readonly Seq<Entry<Transform>> Transforms = Seq(
        Transform<IdentityT>("identity", (w, t) => w.Int("size", t.Size), j => new IdentityT(j.Size("size"))),
        Transform<ScaleT>("scale", (w, t) => { w.Int("size", t.Size); w.Tensor("scale", t.Scale); }, j =>
        {
            var size = j.Size("size");
            var scale = j.Tensor("scale");
            return scale.Length == 1 || scale.Length == size ? new ScaleT(size, scale) : throw j.Fail($"'scale' has {scale.Length} values; expected 1 or {size}");
        }),
        Transform<DenseT>("dense", (w, t) => { w.Tensor("kernel", t.Kernel); w.Int("rows", t.Rows); }, j =>
        {
            var kernel = j.Tensor("kernel");
            var rows = j.Int("rows", 1, MaxElements);
            if (kernel.Rank != 2 || kernel.Shape[0] < 1 || kernel.Shape[1] < 1) throw j.Fail($"'kernel' has shape {Shapes.Show(kernel.Shape)}; expected (in, out)");
            if ((long)Math.Max(kernel.Shape[0], kernel.Shape[1]) * rows > MaxElements) throw j.Fail("the transform is too large");
            return new DenseT(kernel, rows);
        }),
        Transform<ConvT>("conv", (w, t) => { w.Conv("spec", t.Spec); w.Tensor("kernel", t.Kernel); }, j =>
        {
            var spec = j.Conv("spec");
            var kernel = j.Tensor("kernel");
            var expected = spec.KernelShape.Fold(1L, (p, d) => p * d);
            return kernel.Length == expected ? new ConvT(spec, kernel) : throw j.Fail($"'kernel' has {kernel.Length} values; the spec needs {Shapes.Show(spec.KernelShape)}");
        }),
        Transform<PoolT>("pool", (w, t) => w.Pool("spec", t.Spec), j => new PoolT(j.Pool("spec"))),
        Transform<GatherT>("gather", (w, t) => { w.Int("in", t.In); w.IntArray("index", t.Index); w.Str("kind", t.Kind); }, j =>
        {
            var inSize = j.Size("in");
            var index = j.IntArray("index");
            if (index.Count > MaxElements) throw j.Fail("'index' is too long");
            return index.ForAll(i => i >= -1 && i < inSize)
                ? new GatherT(inSize, index, j.Str("kind"))
                : throw j.Fail($"'index' has values outside -1..{inSize - 1}");
        }));

    static readonly Seq<Entry<NetNode>> Nodes = Seq(
        Node<InputNode>("input", (w, n) => { w.Ints("shape", n.Shape); w.Int("index", n.Index); },
            (j, h) => new InputNode(h.Id, h.Layer, j.Shape("shape"), j.Int("index", 0, 1 << 16))),
        Node<PassNode>("pass", (w, n) => w.Int("size", n.Size), (j, h) => new PassNode(h.Id, h.Layer, j.Size("size"))),
        Node<ConstNode>("const", (w, n) => w.Tensor("value", n.Value), (j, h) =>
        {
            var value = j.Tensor("value");
            return value.Length <= MaxElements ? new ConstNode(h.Id, h.Layer, value) : throw j.Fail("'value' is too large");
        }),
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
            {
                var size = j.Size("size", min: 1);
                var neuron = j.Tagged("neuron", Neurons);
                var slope = neuron switch { LeakyRectifiedLinear l => l.Slope, SpikingLeakyRectifiedLinear s => s.Slope, _ => null };
                if (slope is not null && slope.Length != 1 && slope.Length != size) throw j.Fail($"the neuron's slope has {slope.Length} values; expected 1 or {size}");
                var scale = j.OptTensor("neuron_scale");
                if (scale.Exists(r => r.Length != size || r.Span.ToArray().Any(v => !(v > 0) || float.IsInfinity(v))))
                    throw j.Fail($"'neuron_scale' must hold {size} positive values");
                return new Ensemble(h.Id, h.Layer, size, neuron, j.Float("gain"), j.Tensor("bias"), j.OptTensor("initial_voltage")) { NeuronScale = scale };
            }),
        Node<MaxPoolNode>("max_pool", (w, n) => { w.Pool("spec", n.Spec); w.Str("method", Text(n.Method)); },
            (j, h) => new MaxPoolNode(h.Id, h.Layer, j.Pool("spec"), j.Enum<MaxPoolMethod>("method"))),
        Node<FilterNode>("filter",
            (w, n) => { w.Int("size", n.Size); w.Str("kind", Text(n.Kind)); w.Tensor("tau", n.Tau); w.Tensor("initial_level", n.InitialLevel); },
            (j, h) =>
            {
                var size = j.Size("size", min: 1);
                var tau = j.Tensor("tau");
                var level = j.Tensor("initial_level");
                if ((tau.Length != 1 && tau.Length != size) || tau.Span.ToArray().Any(t => !(t > 0) || float.IsInfinity(t)))
                    throw j.Fail($"'tau' must hold 1 or {size} positive values");
                if (level.Length != size) throw j.Fail($"'initial_level' must hold {size} values");
                return new FilterNode(h.Id, h.Layer, size, j.Enum<FilterKind>("kind"), tau, level);
            }));

    static string Text<T>(T value) where T : struct, Enum => value.ToString().ToLowerInvariant();

    // ------------------------------------------------------------------ save

    /// <summary>
    /// Function nodes (fallback layers, custom converters) run C# code that a file cannot carry; so do types without a
    /// table entry. Lists every such object.
    /// </summary>
    public static Either<Error, Unit> Saveable(Network net)
    {
        var problems = net.Nodes.Choose(n => n switch
        {
            FunctionNode { Function: KerasLayerFunction k } f => Some(Errors.UnsupportedLayer(f.Layer, k.Layer.ClassName,
                "it has no native conversion and runs as a fallback function node, which a saved network cannot hold")),
            FunctionNode f => Some(Errors.UnsupportedLayer(f.Layer, "function node",
                $"object '{f.Id}' runs code ({f.Function.Name}), which a saved network cannot hold")),
            _ when !Nodes.Exists(e => e.Type == n.GetType()) => Some(Errors.Unsaveable($"object '{n.Id}'", $"the {FormatName} format has no entry for {n.GetType().Name} objects")),
            Ensemble e when !Neurons.Exists(x => x.Type == e.Neuron.GetType()) =>
                Some(Errors.Unsaveable($"ensemble '{e.Id}'", $"the {FormatName} format has no entry for {e.Neuron.GetType().Name} neurons")),
            _ => None,
        }).Concat(net.Connections.Choose(c => Transforms.Exists(e => e.Type == c.Transform.GetType())
            ? None
            : Some(Errors.Unsaveable($"connection '{c.Id}'", $"the {FormatName} format has no entry for {c.Transform.GetType().Name} transforms")))).ToSeq();
        return problems.IsEmpty ? unit : Errors.Many(problems);
    }

    /// <summary>The file's bytes. Reads them back and checks the result equals <paramref name="saved"/> before returning them.</summary>
    public static Either<Error, byte[]> Save(SavedNetwork saved)
    {
        var normal = saved with { Legalize = saved.Legalize with { Registry = null } };
        return from _ in Saveable(saved.Network)
               from bytes in Encode(normal)
               from back in Load(bytes, "the saved bytes").MapLeft(e => Errors.Unsaveable("the network", $"it would not read back ({e.Message})"))
               from _2 in back == normal
                   ? Right<Error, Unit>(unit)
                   : Left<Error, Unit>(Errors.Invariant("save", "the network read back differs from the one written (a format table entry is wrong)"))
               select bytes;
    }

    /// <summary>Saves to <paramref name="path"/> (through a temporary file, so a failure leaves none).</summary>
    public static Either<Error, Unit> Write(string path, SavedNetwork saved) =>
        Save(saved).Bind(bytes => Npz.WriteFile(path, "saved network", s => s.Write(bytes)));

    static Either<Error, byte[]> Encode(SavedNetwork s)
    {
        var buffer = new MemoryStream();
        var w = new W(new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }));
        try
        {
            WriteDocument(w, s);
        }
        catch (SaveFailure f)
        {
            return Errors.Unsaveable(f.What, f.Message);
        }
        w.J.Flush();
        var files = s.Source.Map(src => src.Files).IfNone(Seq<SourceFile>());
        var zip = new MemoryStream();
        using (var npz = new NpzWriter(zip, compress: true, leaveOpen: true))
        {
            npz.AddBytes(JsonEntry, buffer.ToArray());
            foreach (var a in w.Arrays)
            {
                var name = a.Entry[..^4];   // the writer adds .npy
                if (a.Floats is { } t) npz.AddFloat32(name, t);
                else npz.AddInt32(name, new[] { a.Ints!.Length }, a.Ints);
            }
            for (var i = 0; i < files.Count; i++) npz.AddBytes(SourceEntry(files[i].Name, i), files[i].Bytes);
        }
        return zip.ToArray();
    }

    /// <summary>source/NAME for a plain relative name, source/file-K otherwise (never a path that leaves the folder when unzipped).</summary>
    static string SourceEntry(string name, int index) =>
        PlainName().IsMatch(name) && !name.Split('/').Any(p => p is "." or "..") ? "source/" + name : $"source/file-{index}";

    [GeneratedRegex(@"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")]
    private static partial Regex PlainName();

    static void WriteDocument(W w, SavedNetwork s)
    {
        var j = w.J;
        j.WriteStartObject();
        w.Str("format", FormatName);
        w.Int("version", Version);
        w.Str("producer", "snn " + typeof(NetworkFile).Assembly.GetName().Version?.ToString(3));

        w.Obj("model", () =>
        {
            w.Str("name", s.Model);
            j.WriteStartArray("input_shapes");
            foreach (var shape in s.InputShapes)
            {
                j.WriteStartArray();
                foreach (var d in shape) j.WriteNumberValue(d);
                j.WriteEndArray();
            }
            j.WriteEndArray();
            w.Opt("source", s.Source, src => w.Obj("source", () =>
            {
                w.Str("format", src.Format);
                j.WriteStartArray("files");
                for (var i = 0; i < src.Files.Count; i++)
                {
                    j.WriteStartObject();
                    w.Str("name", src.Files[i].Name);
                    w.Str("entry", SourceEntry(src.Files[i].Name, i));
                    j.WriteEndObject();
                }
                j.WriteEndArray();
            }));
        });

        w.Obj("options", () =>
        {
            w.Obj("legalize", () =>
            {
                w.Bool("split_shared_weights", s.Legalize.SplitSharedWeights);
                w.Bool("allow_fallback", s.Legalize.AllowFallback);
                w.Bool("temporal", s.Legalize.Temporal);
            });
            var c = s.Convert;
            w.Obj("convert", () =>
            {
                w.Bool("spiking", c.Spiking);
                w.Str("max_pool", Text(c.MaxPool));
                w.Obj("swap", () => { foreach (var (k, v) in c.Swap) w.Str(k, v); });
                w.Opt("scale_firing_rates", c.ScaleFiringRates, v => w.Float("scale_firing_rates", v));
                w.Obj("layer_scales", () => { foreach (var (k, v) in c.LayerScales) w.Float(k, v); });
                w.Opt("synapse", c.Synapse, v => w.Float("synapse", v.Tau));
                w.Float("dt", c.Dt);
                w.Int("seed", c.Seed);
                w.Str("initial_voltage", Text(c.InitialVoltage));
                w.Bool("reset_to_zero", c.ResetToZero);
                w.Bool("integrate_and_fire", c.IntegrateAndFire);
                w.Bool("negative_spikes", c.NegativeSpikes);
            });
            w.Opt("calibration", s.Calibration, cal => w.Obj("calibration", () =>
            {
                w.Str("data", cal.Data);
                w.Opt("input_scale", cal.InputScale, v => w.Float("input_scale", v));
                w.Double("percentile", cal.Options.Percentile);
                w.Int("samples", cal.Options.Samples);
                w.Int("bias_shift_steps", cal.Options.BiasShiftSteps);
                w.Bool("per_channel", cal.Options.PerChannel);
                w.Int("bias_correction_steps", cal.Options.BiasCorrectionSteps);
                w.Float("resolution", cal.Options.Resolution);
                w.Obj("layer_resolutions", () => { foreach (var (k, v) in cal.Options.LayerResolutions) w.Float(k, v); });
                j.WriteStartArray("targets");
                foreach (var t in cal.Options.Targets)
                {
                    j.WriteStartObject();
                    w.Double("agreement", t.Agreement);
                    w.Int("steps", t.Steps);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
                j.WriteStartArray("scales");
                foreach (var l in cal.Scales)
                {
                    j.WriteStartObject();
                    w.Str("layer", l.Layer);
                    w.Float("activation", l.Activation);
                    w.Float("scale", l.Scale);
                    w.Float("resolution", l.Resolution);
                    j.WriteEndObject();
                }
                j.WriteEndArray();
            }));
        });

        var net = s.Network;
        w.Obj("network", () =>
        {
            w.Float("dt", net.Dt);
            j.WriteStartArray("nodes");
            foreach (var n in net.Nodes)
            {
                w.Where = $"object '{n.Id}'";
                j.WriteStartObject();
                var entry = Find(Nodes, n, w.Where);
                w.Str("type", entry.Tag);
                w.Str("id", n.Id);
                w.Str("layer", n.Layer);
                w.Bool("trainable", n.Trainable);
                entry.Write(w, n);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteStartArray("connections");
            foreach (var c in net.Connections)
            {
                w.Where = $"connection '{c.Id}'";
                j.WriteStartObject();
                w.Str("id", c.Id);
                w.Str("pre", c.Pre);
                w.Str("post", c.Post);
                w.Tagged("transform", c.Transform, Transforms);
                w.Opt("synapse", c.Synapse, v => w.Float("synapse", v.Tau));
                w.Opt("post_index", c.PostIndex, v => w.IntArray("post_index", v));
                w.Bool("trainable", c.Trainable);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteStartArray("probes");
            foreach (var p in net.Probes)
            {
                w.Where = $"probe '{p.Id}'";
                j.WriteStartObject();
                w.Str("id", p.Id);
                w.Str("target", p.Target);
                w.Opt("synapse", p.Synapse, v => w.Float("synapse", v.Tau));
                w.Bool("softmax", p.Softmax);
                w.Ints("shape", p.Shape);
                w.Int("output", p.Output);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            w.Strings("keep_neuron_in_rate_mode", s.KeepInRateMode);
            j.WriteStartArray("layers");
            foreach (var l in net.Layers)
            {
                j.WriteStartObject();
                w.Str("layer", l.Layer);
                w.Str("class", l.ClassName);
                w.Str("conversion", Text(l.Conversion));
                w.Ints("output_shape", l.OutputShape);
                w.Str("note", l.Note);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            w.Strings("warnings", net.Warnings);
        });
        j.WriteEndObject();
    }

    static Entry<T> Find<T>(Seq<Entry<T>> table, T value, string where) where T : notnull =>
        table.Find(e => e.Type == value.GetType() && (e.Accepts is null || e.Accepts(value))).IfNone(() => throw new SaveFailure(where, $"the {FormatName} format has no entry for {value.GetType().Name}"));

    sealed class SaveFailure(string what, string message) : Exception(message)
    {
        public string What { get; } = what;
    }

    /// <summary>The JSON writer and the arrays collected for the zip.</summary>
    sealed class W(Utf8JsonWriter j)
    {
        public readonly Utf8JsonWriter J = j;
        public readonly List<(string Entry, Tensor? Floats, int[]? Ints)> Arrays = new();
        public string Where = "the network";

        public void Str(string name, string v) => J.WriteString(name, v);
        public void Bool(string name, bool v) => J.WriteBoolean(name, v);
        public void Int(string name, int v) => J.WriteNumber(name, v);

        public void Double(string name, double v)
        {
            if (!double.IsFinite(v)) throw new SaveFailure(Where, $"'{name}' is {v}");
            J.WriteNumber(name, v);
        }

        /// <summary>A float32 as the shortest text that reads back to it; ±infinity as the strings "inf" and "-inf".</summary>
        public void Float(string name, float v)
        {
            if (float.IsNaN(v)) throw new SaveFailure(Where, $"'{name}' is NaN");
            if (float.IsInfinity(v)) J.WriteString(name, v > 0 ? "inf" : "-inf");
            else J.WriteNumber(name, v);
        }

        public void Ints(string name, IEnumerable<int> values)
        {
            J.WriteStartArray(name);
            foreach (var v in values) J.WriteNumberValue(v);
            J.WriteEndArray();
        }

        public void Strings(string name, IEnumerable<string> values)
        {
            J.WriteStartArray(name);
            foreach (var v in values) J.WriteStringValue(v);
            J.WriteEndArray();
        }

        public void Obj(string name, Action body)
        {
            J.WriteStartObject(name);
            body();
            J.WriteEndObject();
        }

        /// <summary>The value, or null.</summary>
        public void Opt<T>(string name, Option<T> value, Action<T> write)
        {
            if (value.TryGet(out var v)) write(v);
            else J.WriteNull(name);
        }

        public void Tensor(string name, Tensor t)
        {
            var entry = $"arrays/{Arrays.Count}.npy";
            Arrays.Add((entry, t, null));
            J.WriteString(name, entry);
        }

        public void IntArray(string name, Arr<int> values)
        {
            var entry = $"arrays/{Arrays.Count}.npy";
            Arrays.Add((entry, null, values.ToArray()));
            J.WriteString(name, entry);
        }

        public void Tagged<T>(string name, T value, Seq<Entry<T>> table) where T : notnull
        {
            var entry = Find(table, value, Where);
            J.WriteStartObject(name);
            Str("type", entry.Tag);
            entry.Write(this, value);
            J.WriteEndObject();
        }

        public void Conv(string name, ConvSpec s) => Obj(name, () =>
        {
            Ints("input_shape", s.InputShape);
            Int("filters", s.Filters);
            Ints("kernel", s.Kernel);
            Ints("strides", s.Strides);
            Ints("dilation", s.Dilation);
            Str("padding", Text(s.Padding));
            Bool("channels_last", s.ChannelsLast);
            Int("groups", s.Groups);
        });

        public void Pool(string name, PoolSpec s) => Obj(name, () =>
        {
            Str("kind", Text(s.Kind));
            Ints("input_shape", s.InputShape);
            Ints("pool", s.Pool);
            Ints("strides", s.Strides);
            Str("padding", Text(s.Padding));
            Bool("channels_last", s.ChannelsLast);
        });
    }

    // ------------------------------------------------------------------ load

    /// <summary>Reads a saved network from <paramref name="path"/>.</summary>
    public static Either<Error, SavedNetwork> Read(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) return Errors.SavedNetwork(path, "file not found");
            if (info.Length > MaxFileBytes) return Errors.SavedNetwork(path, $"the file is {info.Length} bytes, more than the {MaxFileBytes} allowed");
            return Load(File.ReadAllBytes(path), path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errors.SavedNetwork(path, e.Message);
        }
    }

    /// <summary>Reads a saved network from its bytes; <paramref name="name"/> names it in messages.</summary>
    public static Either<Error, SavedNetwork> Load(byte[] bytes, string name = "network" + Extension)
    {
        Error Bad(string m) => Errors.SavedNetwork(name, m);
        try
        {
            using var zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
            var reader = new Reader(zip);
            var entry = zip.GetEntry(JsonEntry);
            if (entry is null)
                return Bad($"it has no '{JsonEntry}' entry, so it is not a saved network (write one with 'snn convert MODEL --out NET{Extension}')");
            var json = reader.Bytes(entry);
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
            var saved = ReadDocument(new J(doc.RootElement, "snnz.json", reader));
            Validate(saved);
            return saved;
        }
        catch (LoadFailure f) { return Bad(f.Message); }
        catch (JsonException e) { return Bad($"'{JsonEntry}' is not valid JSON ({e.Message})"); }
        catch (InvalidDataException e) { return Bad($"it is not a valid zip archive, or it is damaged ({e.Message})"); }
        catch (Exception e) when (e is not (OutOfMemoryException or InsufficientExecutionStackException))
        {
            return Bad($"damaged or malformed file ({e.GetType().Name}: {e.Message})");
        }
    }

    sealed class LoadFailure(string message) : Exception(message);

    static SavedNetwork ReadDocument(J root)
    {
        var format = root.Has("format") ? root.Str("format") : "";
        if (format != FormatName) throw new LoadFailure($"'{JsonEntry}' does not describe a saved network (format '{format}', expected '{FormatName}')");
        var version = root.Int("version", 1, int.MaxValue);
        if (version > Version)
            throw new LoadFailure($"it was written in {FormatName} format version {version} (by {(root.Has("producer") ? root.Str("producer") : "a newer snn")}), " +
                                  $"and this snn reads versions up to {Version}. Upgrade snn, or convert the Keras model again with this version");

        var model = root.Obj("model");
        var inputShapes = model.Items("input_shapes").Map(s => s.IntsHere(-1, MaxElements)).ToSeq().Strict();
        var source = model.OptObj("source").Map(src =>
        {
            var fmt = src.Str("format");
            if (!ModelSource.Formats.Contains(fmt)) throw src.Fail($"unknown model format '{fmt}' (expected {string.Join(", ", ModelSource.Formats)})");
            var files = src.Items("files").Map(f => new SourceFile(f.Str("name"), f.Entry("entry"))).ToSeq().Strict();
            if (files.IsEmpty) throw src.Fail("'files' is empty");
            return new ModelSource(fmt, files);
        });

        var options = root.Obj("options");
        var lo = options.Obj("legalize");
        var legalize = new LegalizeOptions(lo.Bool("split_shared_weights"), lo.Bool("allow_fallback"), null, lo.Bool("temporal"));
        var co = options.Obj("convert");
        var convert = new ConvertOptions(
            Spiking: co.Bool("spiking"),
            MaxPool: co.Enum<MaxPoolMethod>("max_pool"),
            Swap: toMap(co.Obj("swap").Properties().Map(p => (p.Name, p.Value.StrHere()))),
            ScaleFiringRates: co.OptFloat("scale_firing_rates", positive: true),
            LayerScales: toMap(co.Obj("layer_scales").Properties().Map(p => (p.Name, p.Value.FloatHere(positive: true)))),
            Synapse: co.OptFloat("synapse", positive: true).Map(t => new Lowpass(t)),
            Dt: co.Float("dt", positive: true),
            Seed: co.Int("seed"),
            InitialVoltage: co.Enum<InitialVoltage>("initial_voltage"))
        {
            ResetToZero = co.Bool("reset_to_zero"),
            IntegrateAndFire = co.Bool("integrate_and_fire"),
            NegativeSpikes = co.Has("negative_spikes") && co.Bool("negative_spikes"),
        };
        var calibration = options.OptObj("calibration").Map(c =>
        {
            // Files before resolutions were recorded mean one spike per step; before per-layer ones, the file's one value.
            var resolution = c.Has("resolution") ? c.Float("resolution", positive: true) : 1f;
            return new SavedCalibration(
                new CalibrateOptions(c.Double("percentile", 0, 100), c.Int("samples", 1, int.MaxValue), c.Int("bias_shift_steps", 0, int.MaxValue), c.Bool("per_channel"),
                    c.Int("bias_correction_steps", 0, int.MaxValue))
                {
                    Resolution = resolution,
                    LayerResolutions = c.Has("layer_resolutions") ? toMap(c.Obj("layer_resolutions").Properties().Map(p => (p.Name, p.Value.FloatHere(positive: true)))) : default,
                    Targets = c.Has("targets") ? c.Items("targets").Map(t => new AgreementTarget(t.Double("agreement", 0, 1), t.Int("steps", 1, int.MaxValue))).ToSeq().Strict() : default,
                },
                c.Str("data"), c.OptFloat("input_scale"),
                c.Items("scales").Map(l => new LayerScale(l.Str("layer"), l.Float("activation"), l.Float("scale"), l.Has("resolution") ? l.Float("resolution", positive: true) : resolution)).ToSeq().Strict());
        });
        if (calibration.Exists(c => c.Options.Percentile <= 0)) throw options.Fail("calibration 'percentile' must be in (0, 100]");

        var n = root.Obj("network");
        var nodes = n.Items("nodes").Map(j =>
        {
            var tag = j.Str("type");
            var entry = Nodes.Find(e => e.Tag == tag)
                .IfNone(() => throw j.Fail($"unknown object type '{tag}' (this snn knows {string.Join(", ", Nodes.Map(e => e.Tag))}; the file may come from a newer snn)"));
            var node = entry.Read(j.At($"object '{j.Str("id")}'"));
            return node with { Trainable = j.Bool("trainable") };
        }).ToSeq().Strict();
        var connections = n.Items("connections").Map(c0 =>
        {
            var c = c0.At($"connection '{c0.Str("id")}'");
            return new Connection(c.Str("id"), c.Str("pre"), c.Str("post"), c.Tagged("transform", Transforms),
                c.OptFloat("synapse", positive: true).Map(t => new Lowpass(t)), c.OptIntArray("post_index")) { Trainable = c.Bool("trainable") };
        }).ToSeq().Strict();
        var probes = n.Items("probes").Map(p0 =>
        {
            var p = p0.At($"probe '{p0.Str("id")}'");
            return new Probe(p.Str("id"), p.Str("target"), p.OptFloat("synapse", positive: true).Map(t => new Lowpass(t)), p.Bool("softmax"),
                p.Shape("shape"), p.Int("output", 0, int.MaxValue));
        }).ToSeq().Strict();
        var keep = toSet(n.Strings("keep_neuron_in_rate_mode"));
        var layers = n.Items("layers").Map(l => new LayerStatus(l.Str("layer"), l.Str("class"), l.Enum<Conversion>("conversion"),
            l.Ints("output_shape", -1, int.MaxValue), l.Str("note"))).ToSeq().Strict();
        var network = new Network(nodes, connections, probes, n.Float("dt", positive: true), layers, n.Strings("warnings"));
        return new SavedNetwork(model.Str("name"), inputShapes, legalize, convert, calibration, network, keep, source);
    }

    /// <summary>What the JSON reader cannot see alone: the network's invariants, sizes, inputs and references.</summary>
    static void Validate(SavedNetwork s)
    {
        var net = s.Network;
        NetVerify.Run(net).IfLeft(e => throw new LoadFailure(e.Message.Replace("network verifier: ", "the network is inconsistent: ", StringComparison.Ordinal)));
        var total = net.Nodes.Fold(0L, (t, node) => t + node.Size + node.SizeIn);
        if (total > MaxTotalElements) throw new LoadFailure($"the network holds {total} values per sample, more than the {MaxTotalElements} allowed");
        var nodes = net.Nodes.ToDictionary(node => node.Id);
        foreach (var c in net.Connections)
        {
            if (c.PostIndex.IsSome && nodes[c.Post] is Ensemble)
                throw new LoadFailure($"connection '{c.Id}' scatters into the neurons of '{c.Post}', which is not allowed");
            // A constant is one vector for every sample: the runtime copies it (whole or gathered) into passthrough nodes only.
            if (nodes[c.Pre] is ConstNode && (c.Transform is not (IdentityT or GatherT) || nodes[c.Post] is Ensemble))
                throw new LoadFailure($"connection '{c.Id}' from constant '{c.Pre}' must be an identity or gather into a passthrough node, not a {c.Transform.GetType().Name} into '{c.Post}'");
        }
        foreach (var id in s.KeepInRateMode)
            if (nodes.GetValueOrDefault(id) is not Ensemble)
                throw new LoadFailure($"'keep_neuron_in_rate_mode' names '{id}', which is not an ensemble");

        var inputs = net.Nodes.OfType<InputNode>().OrderBy(i => i.Index).ToList();
        if (inputs.Select(i => i.Index).Where((index, k) => index != k).Any())
            throw new LoadFailure($"the input objects are numbered {string.Join(", ", inputs.Select(i => i.Index))}; expected 0 to {inputs.Count - 1}");
        if (s.InputShapes.Count != inputs.Count)
            throw new LoadFailure($"the model has {s.InputShapes.Count} input shapes for {inputs.Count} input objects");
        for (var i = 0; i < inputs.Count; i++)
        {
            var shape = s.InputShapes[i];
            var sample = s.Legalize.Temporal ? shape.Skip(1).ToArr() : shape;
            if ((s.Legalize.Temporal && shape.Count == 0) || sample != inputs[i].Shape)
                throw new LoadFailure($"model input {i} has shape {Shapes.Show(shape)}, which does not fit input object '{inputs[i].Id}' of shape {Shapes.Show(inputs[i].Shape)}");
        }
        if (s.Source.TryGet(out var src) && src.Files.Map(f => f.Name).Distinct().Count() != src.Files.Count)
            throw new LoadFailure("the source model lists a file twice");
    }

    /// <summary>Reads zip entries within the bounds, keeping count of everything inflated.</summary>
    sealed class Reader(ZipArchive zip)
    {
        long inflated;
        readonly Dictionary<string, byte[]> cache = new(StringComparer.Ordinal);

        public byte[] Bytes(ZipArchiveEntry entry)
        {
            var limit = entry.FullName == JsonEntry ? MaxJsonBytes : MaxEntryBytes;
            var bytes = ZipEntries.Read(entry, limit, m => Error.New(m)).Match(b => b, e => throw new LoadFailure(e.Message));
            inflated += bytes.Length;
            if (inflated > MaxFileBytes) throw new LoadFailure($"its entries hold more than the {MaxFileBytes} bytes allowed");
            return bytes;
        }

        public byte[] Entry(string entryName, string where)
        {
            if (cache.TryGetValue(entryName, out var cached)) return cached;
            var entry = zip.GetEntry(entryName) ?? throw new LoadFailure($"{where}: the archive has no entry '{entryName}'");
            return cache[entryName] = Bytes(entry);
        }
    }

    /// <summary>A JSON value being read, with where it is (for messages) and the archive its array references point into.</summary>
    readonly struct J(JsonElement e, string where, Reader reader)
    {
        public readonly JsonElement E = e;
        public readonly string Where = where;

        public LoadFailure Fail(string message) => new($"{Where}: {message}");

        public J At(string where) => new(E, where, reader);

        JsonElement Prop(string name)
        {
            if (E.ValueKind != JsonValueKind.Object) throw Fail("is not a JSON object");
            if (!E.TryGetProperty(name, out var v)) throw Fail($"'{name}' is missing");
            return v;
        }

        J Child(string name, JsonElement v) => new(v, Where, reader);

        public bool Has(string name) => E.ValueKind == JsonValueKind.Object && E.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

        public string Str(string name)
        {
            var v = Prop(name);
            return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Fail($"'{name}' is not a string");
        }

        public string StrHere() => E.ValueKind == JsonValueKind.String ? E.GetString()! : throw Fail("a value is not a string");

        public bool Bool(string name) => Prop(name).ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw Fail($"'{name}' is not true or false"),
        };

        public int Int(string name, long min = int.MinValue, long max = int.MaxValue)
        {
            var v = Prop(name);
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var x)) throw Fail($"'{name}' is not an integer");
            return x >= min && x <= max ? (int)x : throw Fail($"'{name}' is {x}, outside {min}..{max}");
        }

        /// <summary>A size of an object or transform: 0 (1 with <paramref name="min"/>) to <see cref="MaxElements"/>.</summary>
        public int Size(string name, int min = 0) => Int(name, min, MaxElements);

        public double Double(string name, double min, double max)
        {
            var v = Prop(name);
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x) || !double.IsFinite(x)) throw Fail($"'{name}' is not a finite number");
            return x >= min && x <= max ? x : throw Fail($"'{name}' is {x}, outside {min}..{max}");
        }

        public float Float(string name, bool allowInfinity = false, bool positive = false, bool nonNegative = false) =>
            Child(name, Prop(name)).FloatHere(allowInfinity, positive, nonNegative, name);

        public float FloatHere(bool allowInfinity = false, bool positive = false, bool nonNegative = false, string name = "a value")
        {
            float x;
            if (E.ValueKind == JsonValueKind.Number && E.TryGetSingle(out var f)) x = f;
            else if (allowInfinity && E.ValueKind == JsonValueKind.String && E.GetString() is "inf" or "-inf") x = E.GetString() == "inf" ? float.PositiveInfinity : float.NegativeInfinity;
            else throw Fail($"'{name}' is not a number{(allowInfinity ? " (or \"inf\", \"-inf\")" : "")}");
            if (float.IsNaN(x) || (!allowInfinity && float.IsInfinity(x))) throw Fail($"'{name}' is not finite");
            if (positive && !(x > 0)) throw Fail($"'{name}' is {x}; it must be positive");
            if (nonNegative && !(x >= 0)) throw Fail($"'{name}' is {x}; it must not be negative");
            return x;
        }

        public Option<float> OptFloat(string name, bool positive = false) =>
            Has(name) ? Some(Float(name, positive: positive)) : Prop(name).ValueKind == JsonValueKind.Null ? None : throw Fail($"'{name}' is missing");

        public T Enum<T>(string name) where T : struct, Enum
        {
            var s = Str(name);
            foreach (var v in System.Enum.GetValues<T>())
                if (Text(v) == s) return v;
            throw Fail($"'{name}' is '{s}'; expected one of {string.Join(", ", System.Enum.GetValues<T>().Select(Text))}");
        }

        public J Obj(string name)
        {
            var v = Prop(name);
            return v.ValueKind == JsonValueKind.Object ? Child(name, v) : throw Fail($"'{name}' is not an object");
        }

        public Option<J> OptObj(string name) => Prop(name).ValueKind == JsonValueKind.Null ? None : Some(Obj(name));

        public IEnumerable<(string Name, J Value)> Properties()
        {
            var self = this;
            return E.EnumerateObject().Select(p => (p.Name, self.Child(p.Name, p.Value))).ToList();
        }

        public IEnumerable<J> Items(string name)
        {
            var v = Prop(name);
            if (v.ValueKind != JsonValueKind.Array) throw Fail($"'{name}' is not a list");
            var self = this;
            return v.EnumerateArray().Select(x => self.Child(name, x)).ToList();
        }

        public Seq<string> Strings(string name) => Items(name).Select(x => x.StrHere()).ToSeq().Strict();

        public Arr<int> Ints(string name, int min, int max) => Child(name, Prop(name)).IntsHere(min, max, name);

        public Arr<int> IntsHere(int min, int max, string name = "a shape")
        {
            if (E.ValueKind != JsonValueKind.Array) throw Fail($"'{name}' is not a list of integers");
            if (E.GetArrayLength() > MaxRank) throw Fail($"'{name}' has more than {MaxRank} values");
            var result = new List<int>();
            foreach (var x in E.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out var v) || v < min || v > max)
                    throw Fail($"'{name}' holds a value outside {min}..{max}");
                result.Add(v);
            }
            return result.ToArr();
        }

        /// <summary>A per-sample shape: 1 to 8 dimensions, each at least 1, at most <see cref="MaxElements"/> values in all.</summary>
        public Arr<int> Shape(string name)
        {
            var shape = Ints(name, 1, MaxElements);
            if (shape.Count == 0) throw Fail($"'{name}' is empty");
            if (shape.Fold(1L, (p, d) => Math.Min(p * d, long.MaxValue / 4)) > MaxElements)
                throw Fail($"'{name}' {Shapes.Show(shape)} has more than {MaxElements} values");
            return shape;
        }

        /// <summary>The bytes of the archive entry named by string field <paramref name="name"/>.</summary>
        public byte[] Entry(string name) => reader.Entry(Str(name), Where);

        public Tensor Tensor(string name)
        {
            var entry = Str(name);
            var where = Where;
            var t = Npy.Read(reader.Entry(entry, Where), entry).Match(x => x, e => throw new LoadFailure($"{where}: '{name}' ({entry}): {NpyMessage(e, entry)}"));
            var span = t.Span;
            for (var i = 0; i < span.Length; i++)
                if (!float.IsFinite(span[i])) throw Fail($"'{name}' ({entry}) holds {span[i]} at {i}; every value must be finite");
            return t;
        }

        public Option<Tensor> OptTensor(string name) => Prop(name).ValueKind == JsonValueKind.Null ? None : Some(Tensor(name));

        public Arr<int> IntArray(string name)
        {
            var entry = Str(name);
            var where = Where;
            var (shape, values) = Npy.ReadInt32(reader.Entry(entry, Where), entry)
                .Match(x => x, e => throw new LoadFailure($"{where}: '{name}' ({entry}): {NpyMessage(e, entry)}"));
            return shape.Length == 1 ? values.ToArr() : throw Fail($"'{name}' ({entry}) is not a list (shape {Shapes.Show(shape.ToArr())})");
        }

        public Option<Arr<int>> OptIntArray(string name) => Prop(name).ValueKind == JsonValueKind.Null ? None : Some(IntArray(name));

        public ConvSpec Conv(string name)
        {
            var j = Obj(name);
            var input = j.Shape("input_shape");
            var rank = input.Count - 1;
            var spec = new ConvSpec(input, j.Size("filters", 1), j.Ints("kernel", 1, MaxElements),
                j.Ints("strides", 1, MaxElements), j.Ints("dilation", 1, MaxElements),
                j.Enum<Padding>("padding"), j.Bool("channels_last"), j.Size("groups", 1));
            if (rank < 1 || spec.Kernel.Count != rank || spec.Strides.Count != rank || spec.Dilation.Count != rank)
                throw Fail($"'{name}' has {rank} spatial dimensions but kernel, strides and dilation of {spec.Kernel.Count}, {spec.Strides.Count} and {spec.Dilation.Count}");
            if (spec.InChannels % spec.Groups != 0 || spec.Filters % spec.Groups != 0)
                throw Fail($"'{name}' has {spec.Groups} groups, which do not divide {spec.InChannels} input channels and {spec.Filters} filters");
            j.Fits(name, spec.InSpatial, spec.Kernel.Zip(spec.Dilation).Map(p => (long)(p.Item1 - 1) * p.Item2 + 1).ToArr(), spec.Strides, spec.Padding);
            j.Bounded(name, spec.OutputShape, spec.KernelShape);
            return spec;
        }

        public PoolSpec Pool(string name)
        {
            var j = Obj(name);
            var input = j.Shape("input_shape");
            var rank = input.Count - 1;
            var spec = new PoolSpec(j.Enum<PoolKind>("kind"), input, j.Ints("pool", 1, MaxElements),
                j.Ints("strides", 1, MaxElements), j.Enum<Padding>("padding"), j.Bool("channels_last"));
            if (rank < 1 || spec.Pool.Count != rank || spec.Strides.Count != rank)
                throw Fail($"'{name}' has {rank} spatial dimensions but pool and strides of {spec.Pool.Count} and {spec.Strides.Count}");
            j.Fits(name, spec.InSpatial, spec.Pool.Map(p => (long)p).ToArr(), spec.Strides, spec.Padding);
            j.Bounded(name, spec.OutputShape, spec.Pool);
            return spec;
        }

        /// <summary>A window of <paramref name="extent"/> fits every spatial dimension (valid padding) and the output is not empty.</summary>
        void Fits(string name, Arr<int> input, Arr<long> extent, Arr<int> strides, Padding padding)
        {
            for (var d = 0; d < input.Count; d++)
                if (extent[d] > MaxElements || (padding == Padding.Valid && extent[d] > input[d]))
                    throw Fail($"'{name}': a window of {extent[d]} does not fit dimension {d} of size {input[d]}");
        }

        void Bounded(string name, Arr<int> output, Arr<int> window)
        {
            if (output.Exists(d => d < 1) || output.Fold(1L, (p, d) => Math.Min(p * d, long.MaxValue / 4)) > MaxElements
                || window.Fold(1L, (p, d) => Math.Min(p * d, long.MaxValue / 4)) > MaxElements)
                throw Fail($"'{name}' gives output {Shapes.Show(output)}, which is empty or too large");
        }

        public T Tagged<T>(string name, Seq<Entry<T>> table)
        {
            var j = Obj(name);
            var tag = j.Str("type");
            var entry = table.Find(e => e.Tag == tag)
                .IfNone(() => throw j.Fail($"'{name}' has unknown type '{tag}' (this snn knows {string.Join(", ", table.Map(e => e.Tag))}; the file may come from a newer snn)"));
            return entry.Read(j);
        }
    }

    /// <summary>The reason inside an Npy error, without its "Cannot read data" prefix.</summary>
    static string NpyMessage(Error e, string source)
    {
        var prefix = $"Cannot read data '{source}': ";
        return e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
    }
}
