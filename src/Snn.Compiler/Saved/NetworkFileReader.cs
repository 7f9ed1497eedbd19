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

/// <summary>The .snnz reader: bounded reads of an untrusted zip, the JSON document, the arrays, and a final validation.</summary>
public static partial class NetworkFile
{
    /// <summary>
    /// Reads a saved network from <paramref name="path"/>; the file and what its entries inflate to share
    /// <paramref name="maxMemory"/> bytes (<c>--max-memory</c>).
    /// </summary>
    public static Either<Error, SavedNetwork> Read(string path, long maxMemory = MemoryBudget.DefaultBytes)
    {
        if (Directory.Exists(path)) return Errors.SavedNetwork(path, "it is a directory, not a saved network file");
        return InputFile.Read(path, MaxFileBytes, why => Errors.SavedNetwork(path, why),
                fits: bytes => bytes <= maxMemory ? unit : Errors.Memory($"Reading the saved network '{path}'", bytes, maxMemory))
            .Bind(bytes => Load(bytes, path, maxMemory));
    }

    /// <summary>
    /// Reads a saved network from its bytes; <paramref name="name"/> names it in messages. The bytes and what the
    /// entries inflate to (each entry's declared size counted before it is inflated) share <paramref name="maxMemory"/>.
    /// </summary>
    public static Either<Error, SavedNetwork> Load(byte[] bytes, string name = "network" + Extension, long maxMemory = MemoryBudget.DefaultBytes)
    {
        Error Bad(string m) => Errors.SavedNetwork(name, m);
        try
        {
            using var zip = new ZipArchive(new MemoryStream(bytes, writable: false), ZipArchiveMode.Read);
            var reader = new Reader(zip, bytes.LongLength, maxMemory);
            var entry = zip.GetEntry(JsonEntry);
            if (entry is null)
                return Bad($"it has no '{JsonEntry}' entry, so it is not a saved network (write one with 'snn convert MODEL --out NET{Extension}')");
            return reader.Bytes(entry).Bind(json =>
            {
                using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 64 });
                return from saved in ReadDocument(new J(doc.RootElement, "snnz.json", reader))
                       from _ in Validate(saved)
                       select saved;
            }).MapLeft(e => Bad(e.Message));
        }
        catch (JsonException e) { return Bad($"'{JsonEntry}' is not valid JSON ({e.Message})"); }
        catch (InvalidDataException e) { return Bad($"it is not a valid zip archive, or it is damaged ({e.Message})"); }
        catch (Exception e) when (e is not (OutOfMemoryException or InsufficientExecutionStackException))
        {
            // Boundary for what the libraries under the reader throw on a damaged file that passed the checks here:
            // ZipArchive and its streams (IOException, NotSupportedException), System.Text.Json accessors
            // (InvalidOperationException), and the spec records' constructors (ArgumentException).
            return Bad($"damaged or malformed file ({e.GetType().Name}: {e.Message})");
        }
    }

    /// <summary>A reader's failure: the message only; <see cref="Load"/> names the file.</summary>
    static Error Failure(string message) => Error.New(message);

    static Either<Error, SavedNetwork> ReadDocument(J root) =>
        from format in root.Has("format") ? root.Str("format") : Right<Error, string>("")
        from _ in format != FormatName ? Failure($"'{JsonEntry}' does not describe a saved network (format '{format}', expected '{FormatName}')") : Ok
        from version in root.Int("version", 1, int.MaxValue)
        from __ in version <= Version ? Ok
            : (root.Has("producer") ? root.Str("producer") : Right<Error, string>("a newer snn")).Bind(producer => Left<Error, Unit>(Failure(
                $"it was written in {FormatName} format version {version} (by {producer}), " +
                $"and this snn reads versions up to {Version}. Upgrade snn, or convert the Keras model again with this version")))
        from model in root.Obj("model")
        from inputShapes in model.Items("input_shapes").Bind(shapes => shapes.Collect(s => s.IntsHere(-1, MaxElements)))
        from source in model.OptObj("source", ReadSource)
        from options in root.Obj("options")
        from legalize in options.Obj("legalize").Bind(lo =>
            from split in lo.Bool("split_shared_weights")
            from fallback in lo.Bool("allow_fallback")
            from temporal in lo.Bool("temporal")
            select new LegalizeOptions(split, fallback, null, temporal))
        from convert in options.Obj("convert").Bind(ReadConvert)
        from calibration in options.OptObj("calibration", ReadCalibration)
        from ___ in calibration.Exists(c => c.Options.Percentile <= 0) ? options.Fail("calibration 'percentile' must be in (0, 100]") : Ok
        from n in root.Obj("network")
        from network in ReadNetwork(n)
        from modelName in model.Str("name")
        // Files before the model's input scale was recorded: the calibration data's scale is the one the conversion assumed.
        from inputScale in model.Has("input_scale") ? model.OptFloat("input_scale", positive: true) : Right<Error, Option<float>>(calibration.Bind(c => c.InputScale))
        from layout in model.Has("input_layout") ? model.Str("input_layout").Map(Some) : Right<Error, Option<string>>(None)
        from ____ in layout.ForAll(l => l is "channels_first" or "channels_last") ? Ok : model.Fail("'input_layout' must be channels_first or channels_last")
        select new SavedNetwork(modelName, inputShapes, legalize, convert, calibration, network.Network, network.Keep, source)
        {
            InputScale = inputScale, InputLayout = layout,
        };

    static Either<Error, ModelSource> ReadSource(J src) =>
        from fmt in src.Str("format")
        from _ in ModelSource.Formats.Contains(fmt) ? Ok : src.Fail($"unknown model format '{fmt}' (expected {string.Join(", ", ModelSource.Formats)})")
        from files in src.Items("files").Bind(fs => fs.Collect(f =>
            from name in f.Str("name")
            from entry in f.Entry("entry")
            select new SourceFile(name, entry)))
        from __ in files.IsEmpty ? src.Fail("'files' is empty") : Ok
        select new ModelSource(fmt, files);

    static Either<Error, ConvertOptions> ReadConvert(J co) =>
        from spiking in co.Bool("spiking")
        from maxPool in co.Enum<MaxPoolMethod>("max_pool")
        from swap in co.Obj("swap").Bind(s => s.Properties().Collect(p => p.Value.StrHere().Map(v => (p.Name, v))))
        from scaleFiringRates in co.OptFloat("scale_firing_rates", positive: true)
        from layerScales in co.Obj("layer_scales").Bind(FloatMap)
        from synapse in co.OptFloat("synapse", positive: true)
        from dt in co.Float("dt", positive: true)
        from seed in co.Int("seed")
        from initialVoltage in co.Enum<InitialVoltage>("initial_voltage")
        from resetToZero in co.Bool("reset_to_zero")
        from integrateAndFire in co.Bool("integrate_and_fire")
        from negativeSpikes in co.Has("negative_spikes") ? co.Bool("negative_spikes") : Right<Error, bool>(false)
        select new ConvertOptions(
            Spiking: spiking, MaxPool: maxPool, Swap: toMap(swap), ScaleFiringRates: scaleFiringRates, LayerScales: layerScales,
            Synapse: synapse.Map(t => new Lowpass(t)), Dt: dt, Seed: seed, InitialVoltage: initialVoltage)
        {
            ResetToZero = resetToZero,
            IntegrateAndFire = integrateAndFire,
            NegativeSpikes = negativeSpikes,
        };

    /// <summary>An object of positive numbers by name (per-layer scales and resolutions).</summary>
    static Either<Error, Map<string, float>> FloatMap(J j) =>
        j.Properties().Collect(p => p.Value.FloatHere(positive: true).Map(v => (p.Name, v))).Map(pairs => toMap(pairs));

    static Either<Error, SavedCalibration> ReadCalibration(J c) =>
        // Files before resolutions were recorded mean one spike per step; before per-layer ones, the file's one value.
        from resolution in c.Has("resolution") ? c.Float("resolution", positive: true) : Right<Error, float>(1f)
        from percentile in c.Double("percentile", 0, 100)
        from samples in c.Int("samples", 1, int.MaxValue)
        from biasShiftSteps in c.Int("bias_shift_steps", 0, int.MaxValue)
        from perChannel in c.Bool("per_channel")
        from biasCorrectionSteps in c.Int("bias_correction_steps", 0, int.MaxValue)
        from layerResolutions in c.Has("layer_resolutions") ? c.Obj("layer_resolutions").Bind(FloatMap) : Right<Error, Map<string, float>>(default)
        from targets in c.Has("targets")
            ? c.Items("targets").Bind(ts => ts.Collect(t =>
                from agreement in t.Double("agreement", 0, 1)
                from steps in t.Int("steps", 1, int.MaxValue)
                select new AgreementTarget(agreement, steps)))
            : Right<Error, Seq<AgreementTarget>>(default)
        from data in c.Str("data")
        from inputScale in c.OptFloat("input_scale")
        from scales in c.Items("scales").Bind(ls => ls.Collect(l =>
            from layer in l.Str("layer")
            from activation in l.Float("activation")
            from scale in l.Float("scale")
            from layerResolution in l.Has("resolution") ? l.Float("resolution", positive: true) : Right<Error, float>(resolution)
            select new LayerScale(layer, activation, scale, layerResolution)))
        select new SavedCalibration(
            new CalibrateOptions(percentile, samples, biasShiftSteps, perChannel, biasCorrectionSteps)
            {
                Resolution = resolution,
                LayerResolutions = layerResolutions,
                Targets = targets,
            },
            data, inputScale, scales);

    static Either<Error, (Network Network, Set<string> Keep)> ReadNetwork(J n) =>
        from nodes in n.Items("nodes").Bind(items => items.Collect(ReadNode))
        from connections in n.Items("connections").Bind(items => items.Collect(ReadConnection))
        from probes in n.Items("probes").Bind(items => items.Collect(ReadProbe))
        from keep in n.Strings("keep_neuron_in_rate_mode")
        from layers in n.Items("layers").Bind(items => items.Collect(l =>
            from layer in l.Str("layer")
            from cls in l.Str("class")
            from conversion in l.Enum<Conversion>("conversion")
            from outputShape in l.Ints("output_shape", -1, int.MaxValue)
            from note in l.Str("note")
            select new LayerStatus(layer, cls, conversion, outputShape, note)))
        from dt in n.Float("dt", positive: true)
        from warnings in n.Strings("warnings")
        select (new Network(nodes, connections, probes, dt, layers, warnings), toSet(keep));

    static Either<Error, NetNode> ReadNode(J j) =>
        from tag in j.Str("type")
        from entry in Nodes.Find(e => e.Tag == tag).ToEither(() =>
            j.Fail($"unknown object type '{tag}' (this snn knows {string.Join(", ", Nodes.Map(e => e.Tag))}; the file may come from a newer snn)"))
        from id in j.Str("id")
        from node in entry.Read(j.At($"object '{id}'"))
        from trainable in j.Bool("trainable")
        select node with { Trainable = trainable };

    static Either<Error, Connection> ReadConnection(J c0) =>
        from label in c0.Str("id")
        let c = c0.At($"connection '{label}'")
        from id in c.Str("id")
        from pre in c.Str("pre")
        from post in c.Str("post")
        from transform in c.Tagged("transform", Transforms)
        from synapse in c.OptFloat("synapse", positive: true)
        from postIndex in c.OptIntArray("post_index")
        from trainable in c.Bool("trainable")
        select new Connection(id, pre, post, transform, synapse.Map(t => new Lowpass(t)), postIndex) { Trainable = trainable };

    static Either<Error, Probe> ReadProbe(J p0) =>
        from label in p0.Str("id")
        let p = p0.At($"probe '{label}'")
        from id in p.Str("id")
        from target in p.Str("target")
        from synapse in p.OptFloat("synapse", positive: true)
        from softmax in p.Bool("softmax")
        from shape in p.Shape("shape")
        from output in p.Int("output", 0, int.MaxValue)
        select new Probe(id, target, synapse.Map(t => new Lowpass(t)), softmax, shape, output);

    /// <summary>What the JSON reader cannot see alone: the network's invariants, sizes, inputs and references.</summary>
    static Either<Error, Unit> Validate(SavedNetwork s)
    {
        var net = s.Network;
        if (!NetVerify.Run(net).TryGet(out _, out var inconsistent))
            return Failure(inconsistent.Message.Replace("network verifier: ", "the network is inconsistent: ", StringComparison.Ordinal));
        var total = net.Nodes.Fold(0L, (t, node) => t + node.Size + node.SizeIn);
        if (total > MaxTotalElements) return Failure($"the network holds {total} values per sample, more than the {MaxTotalElements} allowed");
        // The verifier has checked that ids are unique and that every connection's ends exist.
        var nodes = net.Nodes.ToDictionary(node => node.Id);
        foreach (var c in net.Connections)
        {
            if (c.PostIndex.IsSome && nodes[c.Post] is Ensemble)
                return Failure($"connection '{c.Id}' scatters into the neurons of '{c.Post}', which is not allowed");
            // A constant is one vector for every sample: the runtime copies it (whole or gathered) into passthrough nodes only.
            if (nodes[c.Pre] is ConstNode && (c.Transform is not (IdentityT or GatherT) || nodes[c.Post] is Ensemble))
                return Failure($"connection '{c.Id}' from constant '{c.Pre}' must be an identity or gather into a passthrough node, not a {c.Transform.GetType().Name} into '{c.Post}'");
        }
        foreach (var id in s.KeepInRateMode)
            if (nodes.GetValueOrDefault(id) is not Ensemble)
                return Failure($"'keep_neuron_in_rate_mode' names '{id}', which is not an ensemble");

        var inputs = net.Nodes.OfType<InputNode>().OrderBy(i => i.Index).ToList();
        if (inputs.Select(i => i.Index).Where((index, k) => index != k).Any())
            return Failure($"the input objects are numbered {string.Join(", ", inputs.Select(i => i.Index))}; expected 0 to {inputs.Count - 1}");
        if (s.InputShapes.Count != inputs.Count)
            return Failure($"the model has {s.InputShapes.Count} input shapes for {inputs.Count} input objects");
        for (var i = 0; i < inputs.Count; i++)
        {
            var shape = s.InputShapes[i];
            var sample = s.Legalize.Temporal ? shape.Skip(1).ToArr() : shape;
            if ((s.Legalize.Temporal && shape.Count == 0) || sample != inputs[i].Shape)
                return Failure($"model input {i} has shape {Shapes.Show(shape)}, which does not fit input object '{inputs[i].Id}' of shape {Shapes.Show(inputs[i].Shape)}");
        }
        if (s.Source.TryGet(out var src) && src.Files.Map(f => f.Name).Distinct().Count() != src.Files.Count)
            return Failure("the source model lists a file twice");
        return unit;
    }

    /// <summary>Reads zip entries within the bounds, keeping count of everything inflated.</summary>
    /// <remarks>
    /// An entry referenced more than once is inflated once and decoded once per kind: every reference to an array gets
    /// the one decoded value (values are immutable), so a large array shared by many objects costs its size once, not
    /// once per reference; the bytes of a decoded array are not kept.
    /// </remarks>
    sealed class Reader(ZipArchive zip, long fileBytes, long maxMemory)
    {
        long inflated;
        readonly Dictionary<string, byte[]> cache = new(StringComparer.Ordinal);
        readonly Dictionary<(string Entry, Type Kind), object> decoded = new();

        public Either<Error, byte[]> Bytes(ZipArchiveEntry entry)
        {
            var needed = MemoryBudget.Add(MemoryBudget.Add(fileBytes, inflated), entry.Length);
            if (needed > maxMemory)
                return Failure($"entry '{entry.FullName}' declares {entry.Length} bytes; with the file's {fileBytes} bytes and the {inflated} " +
                    $"inflated before it, reading it needs {MemoryBudget.Over(needed, maxMemory)}");
            var limit = entry.FullName == JsonEntry ? MaxJsonBytes : MaxEntryBytes;
            if (!ZipEntries.Read(entry, limit, Failure).TryGet(out var bytes, out var error)) return error;
            inflated += bytes.Length;
            if (inflated > MaxFileBytes) return Failure($"its entries hold more than the {MaxFileBytes} bytes allowed");
            return bytes;
        }

        public Either<Error, byte[]> Entry(string entryName, string where)
        {
            if (cache.TryGetValue(entryName, out var cached)) return cached;
            return Raw(entryName, where).Map(bytes => cache[entryName] = bytes);
        }

        /// <summary>Entry <paramref name="entryName"/> decoded by <paramref name="decode"/>, once per entry and kind.</summary>
        public Either<Error, T> Decoded<T>(string entryName, string where, Func<byte[], Either<Error, T>> decode) where T : notnull
        {
            if (decoded.TryGetValue((entryName, typeof(T)), out var value)) return (T)value;
            var bytes = cache.TryGetValue(entryName, out var cached) ? Right<Error, byte[]>(cached) : Raw(entryName, where);
            return bytes.Bind(decode).Map(v =>
            {
                decoded[(entryName, typeof(T))] = v;
                return v;
            });
        }

        Either<Error, byte[]> Raw(string entryName, string where) =>
            zip.GetEntry(entryName) is { } entry ? Bytes(entry) : Failure($"{where}: the archive has no entry '{entryName}'");
    }

    /// <summary>
    /// A JSON value being read, with where it is (for messages) and the archive its array references point into. Every
    /// read returns the value or the reader's failure (<see cref="Fail"/>), which <see cref="Load"/> turns into the file's error.
    /// </summary>
    sealed class J(JsonElement e, string where, Reader reader)
    {
        public readonly JsonElement E = e;
        public readonly string Where = where;

        public Error Fail(string message) => Failure($"{Where}: {message}");

        public J At(string where) => new(E, where, reader);

        Either<Error, JsonElement> Prop(string name) =>
            E.ValueKind != JsonValueKind.Object ? Fail("is not a JSON object")
            : E.TryGetProperty(name, out var v) ? v
            : Fail($"'{name}' is missing");

        J Child(JsonElement v) => new(v, Where, reader);

        public bool Has(string name) => E.ValueKind == JsonValueKind.Object && E.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null;

        public Either<Error, string> Str(string name) =>
            Prop(name).Bind(v => v.ValueKind == JsonValueKind.String ? Right<Error, string>(v.GetString()!) : Fail($"'{name}' is not a string"));

        public Either<Error, string> StrHere() =>
            E.ValueKind == JsonValueKind.String ? Right<Error, string>(E.GetString()!) : Fail("a value is not a string");

        public Either<Error, bool> Bool(string name) => Prop(name).Bind(v => v.ValueKind switch
        {
            JsonValueKind.True => Right<Error, bool>(true),
            JsonValueKind.False => Right<Error, bool>(false),
            _ => Fail($"'{name}' is not true or false"),
        });

        public Either<Error, int> Int(string name, long min = int.MinValue, long max = int.MaxValue) => Prop(name).Bind(v =>
            v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out var x) ? Fail($"'{name}' is not an integer")
            : x >= min && x <= max ? Right<Error, int>((int)x)
            : Fail($"'{name}' is {x}, outside {min}..{max}"));

        /// <summary>A size of an object or transform: 0 (1 with <paramref name="min"/>) to <see cref="MaxElements"/>.</summary>
        public Either<Error, int> Size(string name, int min = 0) => Int(name, min, MaxElements);

        public Either<Error, double> Double(string name, double min, double max) => Prop(name).Bind(v =>
            v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out var x) || !double.IsFinite(x) ? Fail($"'{name}' is not a finite number")
            : x >= min && x <= max ? Right<Error, double>(x)
            : Fail($"'{name}' is {x}, outside {min}..{max}"));

        public Either<Error, float> Float(string name, bool allowInfinity = false, bool positive = false, bool nonNegative = false) =>
            Prop(name).Bind(v => Child(v).FloatHere(allowInfinity, positive, nonNegative, name));

        public Either<Error, float> FloatHere(bool allowInfinity = false, bool positive = false, bool nonNegative = false, string name = "a value")
        {
            float x;
            if (E.ValueKind == JsonValueKind.Number && E.TryGetSingle(out var f)) x = f;
            else if (allowInfinity && E.ValueKind == JsonValueKind.String && E.GetString() is "inf" or "-inf") x = E.GetString() == "inf" ? float.PositiveInfinity : float.NegativeInfinity;
            else return Fail($"'{name}' is not a number{(allowInfinity ? " (or \"inf\", \"-inf\")" : "")}");
            if (float.IsNaN(x) || (!allowInfinity && float.IsInfinity(x))) return Fail($"'{name}' is not finite");
            if (positive && !(x > 0)) return Fail($"'{name}' is {x}; it must be positive");
            if (nonNegative && !(x >= 0)) return Fail($"'{name}' is {x}; it must not be negative");
            return x;
        }

        public Either<Error, Option<float>> OptFloat(string name, bool positive = false) =>
            Has(name) ? Float(name, positive: positive).Map(x => Some(x))
            : Prop(name).Bind(v => v.ValueKind == JsonValueKind.Null ? Right<Error, Option<float>>(None) : Fail($"'{name}' is missing"));

        public Either<Error, T> Enum<T>(string name) where T : struct, Enum => Str(name).Bind(s =>
            System.Enum.GetValues<T>().Where(v => Text(v) == s).Select(v => Right<Error, T>(v)).FirstOrDefault(
                Fail($"'{name}' is '{s}'; expected one of {string.Join(", ", System.Enum.GetValues<T>().Select(Text))}")));

        public Either<Error, J> Obj(string name) =>
            Prop(name).Bind(v => v.ValueKind == JsonValueKind.Object ? Right<Error, J>(Child(v)) : Fail($"'{name}' is not an object"));

        /// <summary>The object <paramref name="name"/> read by <paramref name="read"/>, or None when it is null.</summary>
        public Either<Error, Option<T>> OptObj<T>(string name, Func<J, Either<Error, T>> read) =>
            Prop(name).Bind(v => v.ValueKind == JsonValueKind.Null ? Right<Error, Option<T>>(None) : Obj(name).Bind(read).Map(x => Some(x)));

        /// <summary>The properties of this object (which the caller has read with <see cref="Obj"/>).</summary>
        public Seq<(string Name, J Value)> Properties() => E.EnumerateObject().Select(p => (p.Name, Child(p.Value))).ToSeq().Strict();

        public Either<Error, Seq<J>> Items(string name) => Prop(name).Bind(v =>
            v.ValueKind != JsonValueKind.Array ? Fail($"'{name}' is not a list") : Right<Error, Seq<J>>(v.EnumerateArray().Select(Child).ToSeq().Strict()));

        public Either<Error, Seq<string>> Strings(string name) => Items(name).Bind(items => items.Collect(x => x.StrHere()));

        public Either<Error, Arr<int>> Ints(string name, int min, int max) => Prop(name).Bind(v => Child(v).IntsHere(min, max, name));

        public Either<Error, Arr<int>> IntsHere(int min, int max, string name = "a shape")
        {
            if (E.ValueKind != JsonValueKind.Array) return Fail($"'{name}' is not a list of integers");
            if (E.GetArrayLength() > MaxRank) return Fail($"'{name}' has more than {MaxRank} values");
            var result = new List<int>();
            foreach (var x in E.EnumerateArray())
            {
                if (x.ValueKind != JsonValueKind.Number || !x.TryGetInt32(out var v) || v < min || v > max)
                    return Fail($"'{name}' holds a value outside {min}..{max}");
                result.Add(v);
            }
            return result.ToArr();
        }

        /// <summary>A per-sample shape: 1 to 8 dimensions, each at least 1, at most <see cref="MaxElements"/> values in all.</summary>
        public Either<Error, Arr<int>> Shape(string name) => Ints(name, 1, MaxElements).Bind(shape =>
            shape.Count == 0 ? Fail($"'{name}' is empty")
            : shape.Fold(1L, (p, d) => Math.Min(p * d, long.MaxValue / 4)) > MaxElements ? Fail($"'{name}' {Shapes.Show(shape)} has more than {MaxElements} values")
            : Right<Error, Arr<int>>(shape));

        /// <summary>The bytes of the archive entry named by string field <paramref name="name"/>.</summary>
        public Either<Error, byte[]> Entry(string name) => Str(name).Bind(entry => reader.Entry(entry, Where));

        /// <summary>An array entry read by <paramref name="read"/>; its failure names the field and the entry.</summary>
        Either<Error, (string Entry, T Value)> Array<T>(string name, Func<byte[], string, Either<Error, T>> read) where T : notnull =>
            from entry in Str(name)
            from value in reader.Decoded(entry, Where, bytes => read(bytes, entry).MapLeft(e => Fail($"'{name}' ({entry}): {NpyMessage(e, entry)}")))
            select (entry, value);

        public Either<Error, Tensor> Tensor(string name) => Array(name, Npy.Read).Bind(a =>
        {
            var span = a.Value.Span;
            for (var i = 0; i < span.Length; i++)
                if (!float.IsFinite(span[i])) return Fail($"'{name}' ({a.Entry}) holds {span[i]} at {i}; every value must be finite");
            return Right<Error, Tensor>(a.Value);
        });

        public Either<Error, Option<Tensor>> OptTensor(string name) =>
            Prop(name).Bind(v => v.ValueKind == JsonValueKind.Null ? Right<Error, Option<Tensor>>(None) : Tensor(name).Map(t => Some(t)));

        public Either<Error, Arr<int>> IntArray(string name) => Array(name, Npy.ReadInt32).Bind(a =>
            a.Value.Shape.Length == 1 ? Right<Error, Arr<int>>(a.Value.Values.ToArr())
            : Fail($"'{name}' ({a.Entry}) is not a list (shape {Shapes.Show(a.Value.Shape.ToArr())})"));

        public Either<Error, Option<Arr<int>>> OptIntArray(string name) =>
            Prop(name).Bind(v => v.ValueKind == JsonValueKind.Null ? Right<Error, Option<Arr<int>>>(None) : IntArray(name).Map(a => Some(a)));

        public Either<Error, ConvSpec> Conv(string name) =>
            from j in Obj(name)
            from input in j.Shape("input_shape")
            from filters in j.Size("filters", 1)
            from kernel in j.Ints("kernel", 1, MaxElements)
            from strides in j.Ints("strides", 1, MaxElements)
            from dilation in j.Ints("dilation", 1, MaxElements)
            from padding in j.Enum<Padding>("padding")
            from channelsLast in j.Bool("channels_last")
            from groups in j.Size("groups", 1)
            let rank = input.Count - 1
            let spec = new ConvSpec(input, filters, kernel, strides, dilation, padding, channelsLast, groups)
            from _ in rank < 1 || spec.Kernel.Count != rank || spec.Strides.Count != rank || spec.Dilation.Count != rank
                ? j.Fail($"'{name}' has {rank} spatial dimensions but kernel, strides and dilation of {spec.Kernel.Count}, {spec.Strides.Count} and {spec.Dilation.Count}")
                : Ok
            from __ in spec.InChannels % spec.Groups != 0 || spec.Filters % spec.Groups != 0
                ? j.Fail($"'{name}' has {spec.Groups} groups, which do not divide {spec.InChannels} input channels and {spec.Filters} filters")
                : Ok
            from ___ in j.Fits(name, spec.InSpatial, spec.Kernel.Zip(spec.Dilation).Map(p => (long)(p.Item1 - 1) * p.Item2 + 1).ToArr(), spec.Strides, spec.Padding)
            from ____ in j.Bounded(name, spec.OutputShape, spec.KernelShape)
            select spec;

        public Either<Error, PoolSpec> Pool(string name) =>
            from j in Obj(name)
            from input in j.Shape("input_shape")
            from kind in j.Enum<PoolKind>("kind")
            from pool in j.Ints("pool", 1, MaxElements)
            from strides in j.Ints("strides", 1, MaxElements)
            from padding in j.Enum<Padding>("padding")
            from channelsLast in j.Bool("channels_last")
            let rank = input.Count - 1
            let spec = new PoolSpec(kind, input, pool, strides, padding, channelsLast)
            from _ in rank < 1 || spec.Pool.Count != rank || spec.Strides.Count != rank
                ? j.Fail($"'{name}' has {rank} spatial dimensions but pool and strides of {spec.Pool.Count} and {spec.Strides.Count}")
                : Ok
            from __ in j.Fits(name, spec.InSpatial, spec.Pool.Map(p => (long)p).ToArr(), spec.Strides, spec.Padding)
            from ___ in j.Bounded(name, spec.OutputShape, spec.Pool)
            select spec;

        /// <summary>A window of <paramref name="extent"/> fits every spatial dimension (valid padding) and the output is not empty.</summary>
        Either<Error, Unit> Fits(string name, Arr<int> input, Arr<long> extent, Arr<int> strides, Padding padding)
        {
            for (var d = 0; d < input.Count; d++)
                if (extent[d] > MaxElements || (padding == Padding.Valid && extent[d] > input[d]))
                    return Fail($"'{name}': a window of {extent[d]} does not fit dimension {d} of size {input[d]}");
            return unit;
        }

        Either<Error, Unit> Bounded(string name, Arr<int> output, Arr<int> window) =>
            output.Exists(d => d < 1) || output.Fold(1L, (p, d) => Math.Min(p * d, long.MaxValue / 4)) > MaxElements
            || window.Fold(1L, (p, d) => Math.Min(p * d, long.MaxValue / 4)) > MaxElements
                ? Fail($"'{name}' gives output {Shapes.Show(output)}, which is empty or too large")
                : Ok;

        public Either<Error, T> Tagged<T>(string name, Seq<Entry<T>> table) =>
            from j in Obj(name)
            from tag in j.Str("type")
            from entry in table.Find(e => e.Tag == tag).ToEither(() =>
                j.Fail($"'{name}' has unknown type '{tag}' (this snn knows {string.Join(", ", table.Map(e => e.Tag))}; the file may come from a newer snn)"))
            from value in entry.Read(j)
            select value;
    }

    /// <summary>The reason inside an Npy error, without its "Cannot read data" prefix.</summary>
    static string NpyMessage(Error e, string source)
    {
        var prefix = $"Cannot read data '{source}': ";
        return e.Message.StartsWith(prefix, StringComparison.Ordinal) ? e.Message[prefix.Length..] : e.Message;
    }
}
