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
using Snn.Ops;

using IdentityT = Snn.Compiler.Convert.IdentityT;

namespace Snn.Compiler.Saved;

/// <summary>The .snnz reader: bounded reads of an untrusted zip, the JSON document, the arrays, and a final validation.</summary>
public static partial class NetworkFile
{
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
