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

namespace Snn.Compiler.Saved;

/// <summary>The .snnz writer: every check first (<see cref="Saveable"/>), then the zip with its JSON document and arrays.</summary>
public static partial class NetworkFile
{
    /// <summary>
    /// Function nodes (fallback layers, custom converters) run C# code that a file cannot carry; so do types without a
    /// table entry. Lists every such object.
    /// </summary>
    public static Either<Error, Unit> Saveable(Network net)
    {
        var problems = net.Nodes.Choose(n => n switch
        {
            FunctionNode f => Some(f.FallbackClass.Match(
                className => Errors.UnsupportedLayer(f.Layer, className,
                    "it has no native conversion and runs as a fallback function node, which a saved network cannot hold"),
                () => Errors.UnsupportedLayer(f.Layer, "function node",
                    $"object '{f.Id}' runs code ({f.Description}), which a saved network cannot hold"))),
            _ when !Nodes.Exists(e => e.Type == n.GetType()) => Some(Errors.Unsaveable($"object '{n.Id}'", $"the {FormatName} format has no entry for {n.GetType().Name} objects")),
            Ensemble e when !Neurons.Exists(x => x.Matches(e.Neuron)) =>
                Some(Errors.Unsaveable($"ensemble '{e.Id}'", $"the {FormatName} format has no entry for {e.Neuron.GetType().Name} neurons")),
            _ => None,
        }).Concat(net.Connections.Choose(c => Transforms.Exists(e => e.Type == c.Transform.GetType())
            ? None
            : Some(Errors.Unsaveable($"connection '{c.Id}'", $"the {FormatName} format has no entry for {c.Transform.GetType().Name} transforms")))).ToSeq().Strict();
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
        Save(saved).Bind(bytes => OutputFile.Write(path, "the saved network", s => s.Write(bytes)));

    static Either<Error, byte[]> Encode(SavedNetwork s)
    {
        var buffer = new MemoryStream();
        var w = new W(new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }));
        WriteDocument(w, s);
        if (w.Problems.Count > 0) return Errors.Many(w.Problems.ToSeq().Strict());
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
            w.Opt("input_scale", s.InputScale, v => w.Float("input_scale", v));
            if (s.InputLayout.TryGet(out var layout)) w.Str("input_layout", layout);
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
                if (!Find(Nodes, n).TryGet(out var entry))
                {
                    w.NoEntry(n);
                    j.WriteEndObject();
                    continue;
                }
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

    /// <summary>The table entry that writes <paramref name="value"/> (<see cref="Saveable"/> checks there is one before writing).</summary>
    static Option<Entry<T>> Find<T>(Seq<Entry<T>> table, T value) where T : notnull =>
        table.Find(e => e.Matches(value));

    /// <summary>The JSON writer and the arrays collected for the zip.</summary>
    sealed class W(Utf8JsonWriter j)
    {
        public readonly Utf8JsonWriter J = j;
        public readonly List<(string Entry, Tensor? Floats, int[]? Ints)> Arrays = new();
        public string Where = "the network";

        /// <summary>What the format cannot hold, found while writing (the bytes are then not used).</summary>
        public readonly List<Error> Problems = new();

        public void Fail(string message) => Problems.Add(Errors.Unsaveable(Where, message));

        public void NoEntry(object value) => Fail($"the {FormatName} format has no entry for {value.GetType().Name}");

        public void Str(string name, string v) => J.WriteString(name, v);
        public void Bool(string name, bool v) => J.WriteBoolean(name, v);
        public void Int(string name, int v) => J.WriteNumber(name, v);

        public void Double(string name, double v)
        {
            if (!double.IsFinite(v)) Fail($"'{name}' is {v}");
            J.WriteNumber(name, double.IsFinite(v) ? v : 0);
        }

        /// <summary>A float32 as the shortest text that reads back to it; ±infinity as the strings "inf" and "-inf".</summary>
        public void Float(string name, float v)
        {
            if (float.IsNaN(v))
            {
                Fail($"'{name}' is NaN");
                J.WriteNumber(name, 0);
            }
            else if (float.IsInfinity(v)) J.WriteString(name, v > 0 ? "inf" : "-inf");
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
            if (!Find(table, value).TryGet(out var entry))
            {
                NoEntry(value);
                J.WriteNull(name);
                return;
            }
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
}
