using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Export;

/// <summary>The generator's connection emitters: transforms (dense, convolution, pooling, gathers as sparse matrices) and synapses.</summary>
public static partial class NengoScript
{
    sealed partial class Gen
    {
        void Connect(Connection c)
        {
            var pre = $"obj[{Py(c.Pre)}]";
            // Into an ensemble means into its neurons (obj[...] is what leaves it, which differs with a per-neuron scale).
            var post = net.Node(c.Post) is Ensemble ? $"ens[{Py(c.Post)}].neurons" : $"obj[{Py(c.Post)}]";
            var synapse = Synapse(c.Synapse);
            if (c.PostIndex.TryGet(out var postIndex))
            {
                // Scatter into the post object's input (concatenation): a sparse matrix of ones, composed with the
                // transform when that is an index map too.
                var gather = c.Transform switch
                {
                    Convert.IdentityT t => Some(Enumerable.Range(0, t.InSize).ToArray()),
                    GatherT g => Some(g.Index.ToArray()),
                    _ => None,
                };
                if (gather.IsNone)
                {
                    Fail($"connection '{c.Id}' ({c.Transform.GetType().Name} scattered into part of '{c.Post}')", "the Nengo exporter has no mapping for it");
                    return;
                }
                var index = gather.IfNone(System.Array.Empty<int>());
                var rows = new List<int>();
                var cols = new List<int>();
                for (var i = 0; i < index.Length; i++)
                    if (index[i] >= 0) { rows.Add(postIndex[i]); cols.Add(index[i]); }
                var size = net.Node(c.Post).SizeIn;
                Line($"nengo.Connection({pre}, {post}, synapse={synapse},  # {Comment($"into part of {c.Post}")}");
                Line($"                 transform={Sparse(c.Id, size, c.Transform.InSize, rows, cols, null)})");
                return;
            }
            switch (c.Transform)
            {
                case Convert.IdentityT:
                    Line($"nengo.Connection({pre}, {post}, synapse={synapse})");
                    return;
                case PoolT { Spec.Kind: PoolKind.Max } p:
                {
                    // No Nengo primitive computes a max: a stateless Python node does, between pre and post.
                    var layer = net.Node(c.Post).Layer;
                    helpers.Add("WindowMax");
                    var id = Py(c.Id + ":max");
                    var what = "max pooling (the window max of its input each step)";
                    NonNative(layer, what);
                    Line($"# {Comment(layer)}: {what}; NOT hardware-native (a Python nengo.Node)");
                    Line($"obj[{id}] = nengo.Node(WindowMax({Windows(c.Id + ".windows", p.Spec)}), size_in={p.InSize}, size_out={p.OutSize}, label={id})");
                    Line($"nengo.Connection({pre}, obj[{id}], synapse=None)");
                    Line($"nengo.Connection(obj[{id}], {post}, synapse={synapse})");
                    return;
                }
            }
            var transform = Transform(c);
            if (transform is null) return;
            Line($"nengo.Connection({pre}, {post}, synapse={synapse},");
            Line($"                 transform={transform})");
        }

        /// <summary>The Python expression of a connection's transform, or null (after recording why) if there is none.</summary>
        string? Transform(Connection c)
        {
            switch (c.Transform)
            {
                case ScaleT s:
                    return s.Scale.Length == 1
                        ? $"nengo.Dense(({s.Size}, {s.Size}), init={Num(s.Scale[0])})"
                        : $"nengo.Dense(({s.Size}, {s.Size}), init={Array(c.Id + ".scale", s.Scale.Reshape(s.Scale.Length))})";
                case DenseT { Rows: 1 } d:
                {
                    // Keras kernel (in, out) → Nengo's (out, in) matrix.
                    var (inSize, outSize) = (d.Kernel.Shape[0], d.Kernel.Shape[1]);
                    var w = new float[outSize * inSize];
                    for (var i = 0; i < inSize; i++)
                        for (var o = 0; o < outSize; o++) w[o * inSize + i] = d.Kernel[i * outSize + o];
                    return $"nengo.Dense(({outSize}, {inSize}), init={Array(c.Id + ".dense", new[] { outSize, inSize }, w)})";
                }
                case DenseT d:
                {
                    // Dense along the last axis of (rows, in): a 1-D convolution with kernel size 1.
                    var (inSize, outSize) = (d.Kernel.Shape[0], d.Kernel.Shape[1]);
                    var kernel = Array(c.Id + ".kernel", new[] { 1, inSize, outSize }, d.Kernel.ToArray());
                    return $"nengo.Convolution({outSize}, ({d.Rows}, {inSize}), kernel_size=(1,), strides=(1,), padding=\"valid\", channels_last=True, init={kernel})";
                }
                case ConvT cv when NativeConv(cv.Spec):
                {
                    var s = cv.Spec;
                    var kernel = Array(c.Id + ".kernel", s.KernelShape.ToArray(), cv.Kernel.ToArray());
                    return $"nengo.Convolution({s.Filters}, {Tuple(s.InputShape)}, kernel_size={Tuple(s.Kernel)}, strides={Tuple(s.Strides)}, " +
                           $"padding=\"{(s.Padding == Padding.Same ? "same" : "valid")}\", channels_last={(s.ChannelsLast ? "True" : "False")}, init={kernel})";
                }
                case ConvT cv:
                {
                    var (rows, cols, values) = ConvEntries(cv.Spec, cv.Kernel);
                    return Sparse(c.Id, cv.OutSize, cv.InSize, rows, cols, values);
                }
                case PoolT { Spec.Kind: PoolKind.Average } p:
                {
                    // The mean of each window's real cells (padding excluded, as TensorFlow does).
                    var (offsets, indices) = p.Spec.Windows();
                    var (rows, cols, values) = (new List<int>(), new List<int>(), new List<float>());
                    for (var o = 0; o + 1 < offsets.Length; o++)
                    {
                        var count = offsets[o + 1] - offsets[o];
                        for (var k = offsets[o]; k < offsets[o + 1]; k++) { rows.Add(o); cols.Add(indices[k]); values.Add(1f / count); }
                    }
                    return Sparse(c.Id, p.OutSize, p.InSize, rows, cols, values);
                }
                case GatherT g:
                {
                    var (rows, cols) = (new List<int>(), new List<int>());
                    for (var i = 0; i < g.Index.Count; i++)
                        if (g.Index[i] >= 0) { rows.Add(i); cols.Add(g.Index[i]); }
                    return Sparse(c.Id, g.OutSize, g.InSize, rows, cols, null);
                }
                default:
                    Fail($"transform {c.Transform.GetType().Name} (connection '{c.Id}')", "the Nengo exporter has no mapping for it");
                    return null;
            }
        }

        /// <summary>
        /// What nengo.Convolution expresses in every Nengo from 3.1: 1-D and 2-D (the reference simulator's limit), no
        /// dilation, one group (groups arrived in Nengo 4.0); TF 'same' padding is Nengo's.
        /// </summary>
        static bool NativeConv(ConvSpec s) => s.SpatialRank <= 2 && s.Groups == 1 && s.Dilation.ForAll(d => d == 1);

        string Sparse(string id, int outSize, int inSize, List<int> rows, List<int> cols, List<float>? values)
        {
            var indices = new int[rows.Count * 2];
            for (var i = 0; i < rows.Count; i++) { indices[2 * i] = rows[i]; indices[2 * i + 1] = cols[i]; }
            var ix = IntArray(id + ".indices", new[] { rows.Count, 2 }, indices);
            var init = values is null ? "1.0" : Array(id + ".values", new[] { values.Count }, values.ToArray());
            return $"nengo.Sparse(({outSize}, {inSize}), indices={ix}, init={init})";
        }

        /// <summary>The nonzero pattern of a convolution (any rank, dilation, groups, layout) as (row, column, weight) lists.</summary>
        static (List<int> Rows, List<int> Cols, List<float> Values) ConvEntries(ConvSpec s, Tensor kernel)
        {
            var rank = s.SpatialRank;
            var inSp = s.InSpatial.ToArray();
            var outSp = s.OutSpatial.ToArray();
            var k = s.Kernel.ToArray();
            var pad = s.PadBefore.ToArray();
            var (cin, filters, groups) = (s.InChannels, s.Filters, s.Groups);
            var (cpg, fpg) = (cin / groups, filters / groups);
            var inPixels = Shapes.Product(inSp);
            var outPixels = Shapes.Product(outSp);
            var taps = Shapes.Product(k);
            var inStrides = Shapes.Strides(inSp);
            var (rows, cols, values) = (new List<int>(), new List<int>(), new List<float>());
            var oc = new int[rank];
            var kc = new int[rank];
            for (var o = 0; o < outPixels; o++)
            {
                Unravel(o, outSp, oc);
                for (var f = 0; f < filters; f++)
                {
                    var row = s.ChannelsLast ? o * filters + f : f * outPixels + o;
                    var group = f / fpg;
                    for (var t = 0; t < taps; t++)
                    {
                        Unravel(t, k, kc);
                        var pixel = 0;
                        var inside = true;
                        for (var d = 0; d < rank && inside; d++)
                        {
                            var p = oc[d] * s.Strides[d] + kc[d] * s.Dilation[d] - pad[d];
                            inside = p >= 0 && p < inSp[d];
                            pixel += p * inStrides[d];
                        }
                        if (!inside) continue;
                        for (var ci = 0; ci < cpg; ci++)
                        {
                            var channel = group * cpg + ci;
                            rows.Add(row);
                            cols.Add(s.ChannelsLast ? pixel * cin + channel : channel * inPixels + pixel);
                            values.Add(kernel[(t * cpg + ci) * filters + f]);
                        }
                    }
                }
            }
            return (rows, cols, values);
        }

        static void Unravel(int index, int[] shape, int[] coord)
        {
            for (var d = shape.Length - 1; d >= 0; d--)
            {
                coord[d] = index % shape[d];
                index /= shape[d];
            }
        }

        static string Synapse(Option<Lowpass> s) => s.Match(l => $"nengo.Lowpass({Num(l.Tau)})", () => "None");

        // ---------------------------------------------------------------- the script

    }
}
