using System.Globalization;
using System.Text;
using FsCheck;
using FsCheck.Fluent;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;
using Tensor = Snn.Tensor;

namespace Snn.Properties.Generators;

/// <summary>How a value's axes are read by the layers that consume it.</summary>
public enum Layout
{
    /// <summary>Rank 1: (features).</summary>
    Vector,
    /// <summary>Rank 3: (H, W, C).</summary>
    ChannelsLast,
    /// <summary>Rank 3: (C, H, W).</summary>
    ChannelsFirst,
    /// <summary>Rank 2: (rows, features); Dense acts on the last axis.</summary>
    Matrix,
}

/// <summary>
/// A generated Keras model together with the seed that built it (rebuild it with
/// <c>KerasModels.Build(Seed, Size)</c>) and a readable listing of its layers.
/// <see cref="Kept"/> is the number of non-input layers kept after shrinking (all when not shrunk).
/// </summary>
public sealed record GeneratedModel(KerasModel Model, int Seed, int Size, int Kept, int InputCount, bool Truncated = false)
{
    /// <summary>Whether the generator also drew MaxPooling2D layers (<see cref="MaxPoolModels"/>).</summary>
    public bool MaxPool { get; init; }

    public int LayerCount => Model.Nodes.Count - InputCount;

    /// <summary>A batch of inputs, U(-1, 1), derived from the model seed.</summary>
    public Seq<Tensor> Inputs(int batch = 3) => KerasModels.Inputs(Model, batch, new System.Random(Seed ^ 0x5EED));

    public override string ToString()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"KerasModels.Build(seed: {Seed}, size: {Size}{(MaxPool ? ", maxPool: true" : "")})");
        if (Truncated) sb.Append(CultureInfo.InvariantCulture, $" truncated to {Kept} layers");
        sb.AppendLine();
        var shapes = Model.Inputs.Zip(Model.InputShapes).ToDictionary(p => p.Item1.Node, p => Shapes.Show(p.Item2));
        foreach (var n in Model.Nodes)
        {
            sb.Append("  ").Append(n.Id).Append(" = ").Append(n.ClassName);
            if (n.ClassName == "InputLayer") sb.Append(shapes[n.Id]);
            else sb.Append('(').Append(string.Join(", ", n.Inputs)).Append(") ").Append(n.Config.Json);
            sb.AppendLine();
        }
        sb.Append("  outputs: ").Append(string.Join(", ", Model.Outputs));
        return sb.ToString();
    }
}

/// <summary>
/// A sized generator of small random Keras graphs:
/// sequential chains with Dense, Conv2D (valid/same, strides 1-2, kernels 1-3, both data formats),
/// AveragePooling2D, GlobalAveragePooling2D, Flatten (both formats), Reshape, Activation, ReLU, Dropout,
/// BatchNormalization (folding after a linear Dense/Conv, not folding after Add), and functional blocks
/// where two paths are merged by Add or Concatenate (last axis or a spatial axis); sometimes two inputs
/// and two outputs; softmax only as the final Dense activation. All randomness comes from one
/// <see cref="System.Random"/> seeded by an FsCheck-chosen int, so a failing case prints its seed.
/// The FsCheck size (0..100) sets the number of layer steps (1..7).
/// </summary>
public static class KerasModels
{
    public static Gen<GeneratedModel> Generator =>
        Gen.Sized(size => Gen.Choose(0, int.MaxValue).Select(seed => Build(seed, size)));

    /// <summary>
    /// The generator with a shrinker that drops trailing layers. This class is the FsCheck.Xunit registration for
    /// <see cref="GeneratedModel"/> (<c>[Properties(Arbitrary = new[] { typeof(KerasModels) })]</c>).
    /// </summary>
    public static Arbitrary<GeneratedModel> Arbitrary => Arb.From(Generator, Shrink);

    public static GeneratedModel Build(int seed, int size, bool maxPool = false)
    {
        var (model, inputCount) = new Builder(seed, size, maxPool).Run();
        return new GeneratedModel(model, seed, size, model.Nodes.Count - inputCount, inputCount) { MaxPool = maxPool };
    }

    /// <summary>Smaller models first: keep 1, 2, ... of the non-input layers (rebuild with <c>Truncate(Build(seed, size), k)</c>).</summary>
    public static IEnumerable<GeneratedModel> Shrink(GeneratedModel m)
    {
        for (var k = 1; k < m.LayerCount; k++) yield return Truncate(m, k);
    }

    /// <summary>
    /// Keeps the inputs and the first <paramref name="keep"/> other layers; the outputs are the original
    /// outputs still present plus the last kept layer.
    /// </summary>
    public static GeneratedModel Truncate(GeneratedModel m, int keep)
    {
        var nodes = m.Model.Nodes.Take(m.InputCount + keep).ToSeq();
        var ids = nodes.Map(n => n.Id).ToHashSet();
        var last = new KerasValue(nodes.Last.Id);
        var outputs = m.Model.Outputs.Filter(o => ids.Contains(o.Node) && o != last).Add(last);
        return m with { Model = m.Model with { Nodes = nodes, Outputs = outputs }, Kept = keep, Truncated = true };
    }

    public static Seq<Tensor> Inputs(KerasModel model, int batch, System.Random r) =>
        model.InputShapes.Map(shape =>
        {
            var full = new[] { batch }.Concat(shape).ToArray();
            var data = new float[Shapes.Product(full)];
            for (var i = 0; i < data.Length; i++) data[i] = (float)(r.NextDouble() * 2 - 1);
            return Tensor.Own(full, data);
        }).ToSeq();

    sealed record V(string Id, int[] Shape, Layout Layout)
    {
        public int Rank => Shape.Length;
        public int Size => Shape.Aggregate(1, (a, b) => a * b);

        /// <summary>The axis (per sample) that Dense/Conv change: channels, or the last axis.</summary>
        public int FeatureAxis => Layout == Layout.ChannelsFirst ? 0 : Rank - 1;
        public int Features => Shape[FeatureAxis];
        public int[] Spatial => Layout switch
        {
            Layout.ChannelsLast => new[] { 0, 1 },
            Layout.ChannelsFirst => new[] { 1, 2 },
            _ => System.Array.Empty<int>(),
        };
        public bool IsImage => Layout is Layout.ChannelsLast or Layout.ChannelsFirst;
        public string DataFormat => Layout == Layout.ChannelsFirst ? "channels_first" : "channels_last";
    }

    sealed class Builder(int seed, int size, bool maxPool)
    {
        readonly System.Random r = new(seed);
        readonly List<KerasNode> nodes = new();
        readonly List<(KerasValue Value, Arr<int> Shape)> inputs = new();
        int counter;

        static readonly string[] DenseActivations = { "relu", "linear", "sigmoid", "tanh" };
        static readonly string[] LayerActivations = { "relu", "sigmoid", "tanh", "linear" };

        bool Chance(double p) => r.NextDouble() < p;
        int Int(int lo, int hiInclusive) => r.Next(lo, hiInclusive + 1);
        T Pick<T>(params T[] xs) => xs[r.Next(xs.Length)];
        static string J(bool b) => b ? "true" : "false";
        static string Ints(IEnumerable<int> xs) => "[" + string.Join(", ", xs) + "]";

        public (KerasModel, int) Run()
        {
            var two = size >= 10 && Chance(0.15);
            var x0 = Input(null);
            V? x1 = two ? Input(x0) : null;
            var steps = 1 + r.Next(1 + Math.Min(size, 100) / 16);   // 1..7
            var cur = x0;
            if (x1 is not null)
            {
                // Two inputs of the same shape, merged right away by Add or Concatenate.
                cur = Merge(x0, x1, Chance(0.5));
                steps--;
            }
            for (var s = 0; s < steps; s++) cur = Step(cur);
            if (Chance(0.25))
            {
                if (cur.Rank > 1) cur = Flatten(cur);
                cur = Dense(cur, Int(2, 8), "softmax", Chance(0.8));
            }
            var outputs = new List<KerasValue> { new(cur.Id) };
            // A second output: any earlier layer, now and then a model input itself (an identity output).
            var candidates = nodes.Where(n => (n.ClassName != "InputLayer" || Chance(0.1)) && n.Id != cur.Id).ToList();
            if (candidates.Count > 0 && Chance(0.2))
            {
                var second = new KerasValue(candidates[r.Next(candidates.Count)].Id);
                outputs.Insert(Chance(0.5) ? 0 : 1, second);
            }
            var model = new KerasModel($"gen{seed}", nodes.ToSeq(), inputs.Select(i => i.Value).ToSeq(),
                inputs.Select(i => i.Shape).ToSeq(), outputs.ToSeq(), "generated");
            return (model, inputs.Count);
        }

        // ------------------------------------------------------------------ nodes

        V Add(string cls, string configJson, IEnumerable<(string, Tensor)> weights, int[] shape, Layout layout, params V[] ins)
        {
            var id = $"{cls.ToLowerInvariant()}_{counter++}";
            var config = LayerConfig.Parse(configJson.Replace("$name", id));
            nodes.Add(new KerasNode(id, id, cls, config, toMap(weights), ins.Select(v => new KerasValue(v.Id)).ToSeq()));
            return new V(id, shape, layout);
        }

        V Input(V? like)
        {
            int[] shape;
            Layout layout;
            if (like is not null) (shape, layout) = (like.Shape, like.Layout);
            else
            {
                switch (r.Next(10))
                {
                    case < 3: (shape, layout) = (new[] { Int(1, 8) }, Layout.Vector); break;
                    case < 6: (shape, layout) = (new[] { Int(1, 8), Int(1, 8), Int(1, 4) }, Layout.ChannelsLast); break;
                    case < 9: (shape, layout) = (new[] { Int(1, 4), Int(1, 8), Int(1, 8) }, Layout.ChannelsFirst); break;
                    default: (shape, layout) = (new[] { Int(1, 4), Int(1, 6) }, Layout.Matrix); break;
                }
            }
            var v = Add("InputLayer", $"{{\"name\": \"$name\", \"batch_shape\": [null, {string.Join(", ", shape)}], \"dtype\": \"float32\"}}",
                System.Array.Empty<(string, Tensor)>(), shape, layout);
            inputs.Add((new KerasValue(v.Id), shape.ToArr()));
            return v;
        }

        Tensor Uniform(int[] shape, double a)
        {
            var d = new float[Shapes.Product(shape)];
            for (var i = 0; i < d.Length; i++) d[i] = (float)((r.NextDouble() * 2 - 1) * a);
            return Tensor.Own(shape, d);
        }

        Tensor UniformRange(int n, double lo, double hi)
        {
            var d = new float[n];
            for (var i = 0; i < n; i++) d[i] = (float)(lo + r.NextDouble() * (hi - lo));
            return Tensor.Own(new[] { n }, d);
        }

        /// <summary>Glorot-uniform-like kernels, a bit larger so activations stay O(1) and non-trivial.</summary>
        Tensor Kernel(int[] shape, int fanIn, int fanOut) => Uniform(shape, 1.3 * Math.Sqrt(6.0 / (fanIn + fanOut)));

        V Dense(V x, int units, string activation, bool bias)
        {
            var inSize = x.Shape[^1];
            var w = new List<(string, Tensor)> { ("kernel", Kernel(new[] { inSize, units }, inSize, units)) };
            if (bias) w.Add(("bias", Uniform(new[] { units }, 0.5)));
            var shape = x.Shape[..^1].Append(units).ToArray();
            // Dense on a channels_first image changes W, so the result is no longer a CF image with the same meaning;
            // it still is a rank-3 tensor, read as channels_first by later layers.
            return Add("Dense", $"{{\"name\": \"$name\", \"units\": {units}, \"activation\": \"{activation}\", \"use_bias\": {J(bias)}}}",
                w, shape, x.Layout, x);
        }

        V Conv(V x, int filters, int kernel, int stride, bool same, string activation, bool bias)
        {
            var cf = x.Layout == Layout.ChannelsFirst;
            var cin = x.Features;
            var (h, wd) = cf ? (x.Shape[1], x.Shape[2]) : (x.Shape[0], x.Shape[1]);
            int Out(int n) => same ? (n + stride - 1) / stride : (n - kernel) / stride + 1;
            var (oh, ow) = (Out(h), Out(wd));
            var weights = new List<(string, Tensor)> { ("kernel", Kernel(new[] { kernel, kernel, cin, filters }, kernel * kernel * cin, filters)) };
            if (bias) weights.Add(("bias", Uniform(new[] { filters }, 0.5)));
            var shape = cf ? new[] { filters, oh, ow } : new[] { oh, ow, filters };
            return Add("Conv2D",
                $"{{\"name\": \"$name\", \"filters\": {filters}, \"kernel_size\": [{kernel}, {kernel}], \"strides\": [{stride}, {stride}], " +
                $"\"padding\": \"{(same ? "same" : "valid")}\", \"data_format\": \"{x.DataFormat}\", \"dilation_rate\": [1, 1], \"groups\": 1, " +
                $"\"activation\": \"{activation}\", \"use_bias\": {J(bias)}}}",
                weights, shape, x.Layout, x);
        }

        V RandomConv(V x)
        {
            var minSpatial = x.Spatial.Min(a => x.Shape[a]);
            var same = minSpatial < 3 ? Chance(0.7) : Chance(0.5);
            var kernel = Int(1, same ? 3 : Math.Min(3, minSpatial));
            var stride = Int(1, 2);
            return Conv(x, Int(1, 4), kernel, stride, same, Pick(DenseActivations), Chance(0.75));
        }

        V BatchNorm(V x)
        {
            var n = x.Shape[^1];
            var center = Chance(0.85);
            var scale = Chance(0.85);
            var w = new List<(string, Tensor)>();
            if (scale) w.Add(("gamma", UniformRange(n, 0.5, 1.5)));
            if (center) w.Add(("beta", UniformRange(n, -0.5, 0.5)));
            w.Add(("moving_mean", UniformRange(n, -0.5, 0.5)));
            w.Add(("moving_variance", UniformRange(n, 0.2, 2.0)));
            var eps = Pick(0.001, 1e-5);
            return Add("BatchNormalization",
                $"{{\"name\": \"$name\", \"axis\": -1, \"momentum\": 0.99, \"epsilon\": {eps.ToString("R", CultureInfo.InvariantCulture)}, \"center\": {J(center)}, \"scale\": {J(scale)}}}",
                w, x.Shape, x.Layout, x);
        }

        V Activation(V x, string name) =>
            Add("Activation", $"{{\"name\": \"$name\", \"activation\": \"{name}\"}}", System.Array.Empty<(string, Tensor)>(), x.Shape, x.Layout, x);

        V Relu(V x) =>
            Add("ReLU", "{\"name\": \"$name\", \"max_value\": null, \"negative_slope\": 0.0, \"threshold\": 0.0}",
                System.Array.Empty<(string, Tensor)>(), x.Shape, x.Layout, x);

        V Dropout(V x) =>
            Add("Dropout", $"{{\"name\": \"$name\", \"rate\": {Pick("0.1", "0.5")}, \"seed\": null}}", System.Array.Empty<(string, Tensor)>(), x.Shape, x.Layout, x);

        V Flatten(V x)
        {
            var format = x.IsImage && Chance(0.75) ? x.DataFormat : Pick("channels_last", "channels_first");
            return Add("Flatten", $"{{\"name\": \"$name\", \"data_format\": \"{format}\"}}", System.Array.Empty<(string, Tensor)>(),
                new[] { x.Size }, Layout.Vector, x);
        }

        V Reshape(V x)
        {
            var n = x.Size;
            var divisors = Enumerable.Range(1, n).Where(d => n % d == 0).ToArray();
            int[] target;
            Layout layout;
            var choice = r.Next(3);
            var channelDivisors = divisors.Where(d => d <= 4).ToArray();
            if (choice == 0 || n == 1)
            {
                target = new[] { n };
                layout = Layout.Vector;
            }
            else if (choice == 1)
            {
                var a = divisors[r.Next(divisors.Length)];
                target = new[] { a, n / a };
                layout = Layout.Matrix;
            }
            else
            {
                var c = channelDivisors[r.Next(channelDivisors.Length)];
                var rest = n / c;
                var hs = Enumerable.Range(1, rest).Where(d => rest % d == 0 && d <= 8 && rest / d <= 8).ToArray();
                if (hs.Length == 0)
                {
                    target = new[] { n };
                    layout = Layout.Vector;
                }
                else
                {
                    var h = hs[r.Next(hs.Length)];
                    layout = Chance(0.5) ? Layout.ChannelsLast : Layout.ChannelsFirst;
                    target = layout == Layout.ChannelsLast ? new[] { h, rest / h, c } : new[] { c, h, rest / h };
                }
            }
            var written = (int[])target.Clone();
            if (target.Length > 1 && Chance(0.3)) written[r.Next(written.Length)] = -1;
            return Add("Reshape", $"{{\"name\": \"$name\", \"target_shape\": {Ints(written)}}}", System.Array.Empty<(string, Tensor)>(), target, layout, x);
        }

        V AvgPool(V x)
        {
            var minSpatial = x.Spatial.Min(a => x.Shape[a]);
            var pool = Int(1, Math.Min(3, minSpatial));
            var explicitStrides = Chance(0.5);
            var stride = explicitStrides ? Int(1, 2) : pool;
            int Out(int d) => (d - pool) / stride + 1;
            var shape = (int[])x.Shape.Clone();
            foreach (var a in x.Spatial) shape[a] = Out(x.Shape[a]);
            var strides = explicitStrides ? $"\"strides\": [{stride}, {stride}], " : "";
            return Add("AveragePooling2D",
                $"{{\"name\": \"$name\", \"pool_size\": [{pool}, {pool}], {strides}\"padding\": \"valid\", \"data_format\": \"{x.DataFormat}\"}}",
                System.Array.Empty<(string, Tensor)>(), shape, x.Layout, x);
        }

        V MaxPool(V x)
        {
            var minSpatial = x.Spatial.Min(a => x.Shape[a]);
            var pool = Int(1, Math.Min(3, minSpatial));
            var same = Chance(0.4);
            var explicitStrides = Chance(0.5);
            var stride = explicitStrides ? Int(1, 2) : pool;
            int Out(int d) => same ? (d + stride - 1) / stride : (d - pool) / stride + 1;
            var shape = (int[])x.Shape.Clone();
            foreach (var a in x.Spatial) shape[a] = Out(x.Shape[a]);
            var strides = explicitStrides ? $"\"strides\": [{stride}, {stride}], " : "";
            return Add("MaxPooling2D",
                $"{{\"name\": \"$name\", \"pool_size\": [{pool}, {pool}], {strides}\"padding\": \"{(same ? "same" : "valid")}\", \"data_format\": \"{x.DataFormat}\"}}",
                System.Array.Empty<(string, Tensor)>(), shape, x.Layout, x);
        }

        V GlobalAvgPool(V x)
        {
            var keep = Chance(0.15);
            var c = x.Features;
            var shape = keep ? (x.Layout == Layout.ChannelsFirst ? new[] { c, 1, 1 } : new[] { 1, 1, c }) : new[] { c };
            return Add("GlobalAveragePooling2D", $"{{\"name\": \"$name\", \"data_format\": \"{x.DataFormat}\", \"keepdims\": {J(keep)}}}",
                System.Array.Empty<(string, Tensor)>(), shape, keep ? x.Layout : Layout.Vector, x);
        }

        // ------------------------------------------------------------------ steps

        V Step(V x)
        {
            var options = new List<(double Weight, Func<V> Make)>
            {
                (1, () => Activation(x, Pick(LayerActivations))),
                (0.6, () => Relu(x)),
                (0.5, () => Dropout(x)),
                (0.6, () => BatchNorm(x)),
                (2, () => Merge(x, x, add: true)),
                (2, () => Merge(x, x, add: false)),
                (0.7, () => Reshape(x)),
            };
            switch (x.Layout)
            {
                case Layout.Vector or Layout.Matrix:
                    options.Add((3, () => Dense(x, Int(1, 8), Pick(DenseActivations), Chance(0.75))));
                    // Dense (linear) + BatchNormalization: the affine folds into the Dense.
                    options.Add((1.5, () => MaybeActivate(BatchNorm(Dense(x, Int(1, 8), "linear", Chance(0.6))))));
                    if (x.Layout == Layout.Matrix) options.Add((1, () => Flatten(x)));
                    break;
                default:
                    options.Add((3, () => RandomConv(x)));
                    // Conv (linear) + BatchNormalization(axis=-1): folds for channels_last; for channels_first
                    // axis -1 is W, so it stays an affine.
                    options.Add((1.5, () =>
                    {
                        var minSpatial = x.Spatial.Min(a => x.Shape[a]);
                        var same = Chance(0.6) || minSpatial < 3;
                        var c = Conv(x, Int(1, 4), Int(1, same ? 3 : Math.Min(3, minSpatial)), Int(1, 2), same, "linear", Chance(0.6));
                        return MaybeActivate(BatchNorm(c));
                    }));
                    options.Add((1, () => AvgPool(x)));
                    options.Add((1, () => GlobalAvgPool(x)));
                    if (maxPool)
                    {
                        options.Add((1.5, () => MaxPool(x)));
                        // The Fashion CNN's block: a ReLU convolution into max pooling.
                        options.Add((2.5, () =>
                        {
                            var minSpatial = x.Spatial.Min(a => x.Shape[a]);
                            var same = Chance(0.5) || minSpatial < 3;
                            return MaxPool(Conv(x, Int(1, 4), Int(1, same ? 3 : Math.Min(3, minSpatial)), 1, same, "relu", Chance(0.8)));
                        }));
                    }
                    options.Add((1.2, () => Flatten(x)));
                    options.Add((0.4, () => Dense(x, Int(1, 4), Pick(DenseActivations), Chance(0.75))));
                    break;
            }
            var total = options.Sum(o => o.Weight);
            var pick = r.NextDouble() * total;
            foreach (var (w, make) in options)
            {
                if (pick < w) return make();
                pick -= w;
            }
            return options[^1].Make();
        }

        V MaybeActivate(V x) => Chance(0.5) ? Activation(x, Pick("relu", "sigmoid", "tanh")) : x;

        /// <summary>
        /// A functional block: a path from <paramref name="a"/> and a path from <paramref name="b"/>,
        /// merged by Add (then sometimes a BatchNormalization that cannot fold) or Concatenate along the
        /// feature axis or a spatial axis.
        /// </summary>
        V Merge(V a, V b, bool add)
        {
            var same = a.Id == b.Id;
            if (add)
            {
                var t = Chance(0.4) ? a.Features : Int(1, a.IsImage ? 4 : 8);
                var pa = Path(a, t, allowIdentity: true);
                var pb = Path(b, t, allowIdentity: !(same && pa.Id == a.Id) || Chance(0.1));
                var ins = new List<V> { pa, pb };
                if (Chance(0.15)) ins.Add(Path(a, t, allowIdentity: false));
                var sum = Add("Add", "{\"name\": \"$name\"}", System.Array.Empty<(string, Tensor)>(), pa.Shape, pa.Layout, ins.ToArray());
                return Chance(0.35) ? BatchNorm(sum) : sum;
            }
            var spatial = a.IsImage && Chance(0.4);
            if (a.Layout == Layout.Matrix && Chance(0.4))
            {
                // Concatenate a rank-2 value along its first axis.
                var p1 = Path(a, a.Features, allowIdentity: true);
                var p2 = Path(b, a.Features, allowIdentity: !(same && p1.Id == a.Id));
                var shape = (int[])p1.Shape.Clone();
                shape[0] = p1.Shape[0] + p2.Shape[0];
                return Add("Concatenate", $"{{\"name\": \"$name\", \"axis\": {Pick(1, -2)}}}", System.Array.Empty<(string, Tensor)>(), shape, a.Layout, p1, p2);
            }
            if (spatial)
            {
                var axis = a.Spatial[r.Next(2)];
                if (a.Shape[axis] > 6) spatial = false;
                else
                {
                    var p1 = Path(a, a.Features, allowIdentity: true);
                    var p2 = Path(b, a.Features, allowIdentity: !(same && p1.Id == a.Id));
                    var shape = (int[])a.Shape.Clone();
                    shape[axis] = p1.Shape[axis] + p2.Shape[axis];
                    var keras = Chance(0.5) ? axis + 1 : axis - a.Rank;
                    return Add("Concatenate", $"{{\"name\": \"$name\", \"axis\": {keras}}}", System.Array.Empty<(string, Tensor)>(), shape, a.Layout, p1, p2);
                }
            }
            {
                var t1 = Chance(0.3) ? a.Features : Int(1, a.IsImage ? 4 : 6);
                var t2 = Chance(0.3) ? a.Features : Int(1, a.IsImage ? 4 : 6);
                var p1 = Path(a, t1, allowIdentity: true);
                var p2 = Path(b, t2, allowIdentity: !(same && p1.Id == a.Id) || Chance(0.1));
                var axis = a.FeatureAxis;
                var shape = (int[])p1.Shape.Clone();
                shape[axis] = p1.Shape[axis] + p2.Shape[axis];
                var keras = axis == a.Rank - 1 ? Pick(-1, a.Rank) : Pick(axis + 1, axis - a.Rank);
                return Add("Concatenate", $"{{\"name\": \"$name\", \"axis\": {keras}}}", System.Array.Empty<(string, Tensor)>(), shape, a.Layout, p1, p2);
            }
        }

        /// <summary>One or two layers from x to a value with the same shape except <paramref name="features"/> on the feature axis.</summary>
        V Path(V x, int features, bool allowIdentity)
        {
            var keep = features == x.Features;
            var choice = r.Next(keep ? (allowIdentity ? 6 : 5) : 2);
            V y = choice switch
            {
                0 or 1 => x.IsImage
                    ? Conv(x, features, Int(1, 3), 1, same: true, Pick(DenseActivations), Chance(0.75))
                    : Dense(x, features, Pick(DenseActivations), Chance(0.75)),
                2 => Activation(x, Pick("relu", "sigmoid", "tanh")),
                3 => Chance(0.5) ? Relu(x) : Dropout(x),
                4 => BatchNorm(x),
                _ => x,
            };
            return Chance(0.15) && y.Id != x.Id ? Activation(y, Pick(LayerActivations)) : y;
        }
    }
}

/// <summary>
/// <see cref="KerasModels"/> that also draws MaxPooling2D layers (valid/same, pools 1-3, strides 1-2, often right
/// after a ReLU convolution), for stages whose properties hold for max pooling exactly (the optimizer's). The
/// FsCheck.Xunit registration for those properties (<c>[Properties(Arbitrary = new[] { typeof(MaxPoolModels) })]</c>).
/// </summary>
public static class MaxPoolModels
{
    public static Gen<GeneratedModel> Generator =>
        Gen.Sized(size => Gen.Choose(0, int.MaxValue).Select(seed => KerasModels.Build(seed, size, maxPool: true)));

    /// <summary>The generator with <see cref="KerasModels.Shrink"/>.</summary>
    public static Arbitrary<GeneratedModel> Arbitrary => Arb.From(Generator, KerasModels.Shrink);
}
