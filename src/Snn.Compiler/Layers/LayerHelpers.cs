using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>What the layer rules share: refusals, weight and input lookup, config tuples, activations. All return values.</summary>
internal static class LayerHelpers
{
    /// <summary>A rule's legalize function, as the rule holds it.</summary>
    public static Option<Func<LegalizeInput, Either<Error, Lowered>>> Legal(Func<LegalizeInput, Either<Error, Lowered>> legalize) => Some(legalize);

    /// <summary>A rule's reference-evaluator function, as the rule holds it.</summary>
    public static Option<Func<KerasNode, Value[], Either<Error, Value>>> Eval(Func<KerasNode, Value[], Either<Error, Value>> evaluate) => Some(evaluate);

    public static Error Refuse(KerasNode n, string reason) => Errors.UnsupportedLayer(n.Id, n.ClassName, reason);
    public static Error BadArg(KerasNode n, string arg, string value, string supported) => Errors.UnsupportedArg(n.Id, arg, value, supported);
    public static Error ShapeError(KerasNode n, string message) => Errors.Shape(n.Id, message);

    /// <summary>Unit when <paramref name="ok"/>, else the error (built only then).</summary>
    public static Either<Error, Unit> Check(bool ok, Func<Error> error) => ok ? EitherExtensions.Ok : error();

    public static Either<Error, Tensor> Weight(KerasNode n, string name) =>
        n.Weight(name).ToEither(() => Refuse(n, $"missing weight '{name}'"));

    /// <summary>The evaluator's only input, or the refusal of a call with several.</summary>
    public static Either<Error, Value> Single(KerasNode n, Value[] ins) =>
        ins.Length == 1 ? Right<Error, Value>(ins[0]) : Left<Error, Value>(Refuse(n, $"expects one input, got {ins.Length}"));

    /// <summary>The bias when the layer uses one (legal ops).</summary>
    public static Option<Tensor> Bias(KerasNode n) =>
        n.Config.Bool("use_bias").IfNone(true) ? n.Weight("bias") : None;

    /// <summary>The bias when the layer uses one, else empty (the evaluator's kernels).</summary>
    public static float[] BiasData(KerasNode n) =>
        Bias(n).Map(b => b.ToArray()).IfNone(System.Array.Empty<float>());

    public static bool ChannelsFirst(KerasNode n) => n.Config.String("data_format").IfNone("channels_last") == "channels_first";

    /// <summary>A single int setting (a one-element list counts); the fallback when absent, empty or a list of several.</summary>
    public static int Int(this LayerConfig c, string key, int fallback) => c.Ints(key).Map(a => a.Count == 1 ? a[0] : fallback).IfNone(fallback);

    /// <summary>Spatial tuple parameters (kernel_size, strides, pool_size, ...) padded to the spatial rank.</summary>
    public static Either<Error, Arr<int>> Tuple(KerasNode n, string key, int rank, Arr<int> fallback)
    {
        var v = n.Config.Ints(key).IfNone(fallback);
        var perAxis = PerAxis(v, rank);
        if (perAxis.Count == rank) return perAxis;
        return Refuse(n, $"{key} {Shapes.Show(v)} does not match {rank} spatial dimensions");
    }

    /// <summary>A spatial setting given once for every axis (one value) repeated <paramref name="rank"/> times; else unchanged.</summary>
    public static Arr<int> PerAxis(Arr<int> v, int rank) => v.Count == 1 ? Enumerable.Repeat(v[0], rank).ToArr() : v;

    /// <summary>
    /// <see cref="Shapes.ConvOut"/> divides by the stride: a zero stride is the division fault it always was, as a value
    /// (legalize reports it as a shape error, the evaluator as a model it cannot evaluate).
    /// </summary>
    public static readonly Error ZeroStride = Error.New(new DivideByZeroException());

    /// <summary>
    /// A window over an input without axes has a negative spatial rank, which <see cref="Enumerable.Repeat{T}"/> refused
    /// with this fault before the spec builders checked it; it is kept as that value, reported as before.
    /// </summary>
    public static readonly Error NegativeRank = Error.New(new ArgumentOutOfRangeException("count"));

    /// <summary>The evaluator applying the layer's <c>activation</c> setting.</summary>
    public static Either<Error, Value> Activate(KerasNode n, Value x)
    {
        var name = n.Config.Activation().IfNone("linear");
        var y = (float[])x.Data.Clone();
        return Activations.Apply(name, y, x.Shape[^1]) ? Right<Error, Value>(x with { Data = y }) : Left<Error, Value>(Refuse(n, $"activation '{name}' is not supported"));
    }

    public static Value Map(Value x, Func<float, float> f)
    {
        var y = new float[x.Data.Length];
        for (var i = 0; i < y.Length; i++) y[i] = f(x.Data[i]);
        return x with { Data = y };
    }

    /// <summary>A native activation by its Keras name.</summary>
    public static Either<Error, Act> ActOf(KerasNode n, string name) => name switch
    {
        "relu" => new Relu(),
        "sigmoid" => new SigmoidAct(),
        "tanh" => new TanhAct(),
        "softmax" => new SoftmaxAct(),
        _ => Refuse(n, $"Unsupported activation type ({name})"),
    };

    /// <summary>The op's fused activation split out; the final value takes the node's id.</summary>
    public static Either<Error, Lowered> WithActivation(KerasNode n, LegalOp linear)
    {
        var name = n.Config.Activation().IfNone("linear");
        return name == "linear"
            ? new Lowered(Seq1(linear with { Id = n.Id }), n.Id, Conversion.Native)
            : ActOf(n, name).Map(act => new Lowered(Seq1(linear).Add(new LActivation(n.Id, n.Layer, linear.Id, linear.Shape, act)), n.Id, Conversion.Native));
    }

    /// <summary>A gather that transposes <paramref name="shape"/> by <paramref name="perm"/>.</summary>
    public static LGather Transpose(string id, KerasNode n, string input, Arr<int> shape, int[] perm)
    {
        var index = Shapes.TransposeIndex(shape.ToArray(), perm);
        return new LGather(id, n.Layer, input, perm.Select(p => shape[p]).ToArr(), index.ToArr(), "transpose(" + string.Join(",", perm) + ")");
    }

    /// <summary>
    /// A per-sample output shape computed in 64 bits (<paramref name="wide"/>), as ints: an axis past int or more values
    /// than any network may hold (<see cref="Legalize.Legalize.MaxElements"/>) is a shape error naming the layer and
    /// <paramref name="cause"/>, before anything is allocated for it.
    /// </summary>
    public static Either<Error, int[]> OutputShape(KerasNode n, long[] wide, string cause)
    {
        var max = global::Snn.Compiler.Legalize.Legalize.MaxElements;
        return wide.Any(d => d > int.MaxValue) || wide.Aggregate(1.0, (p, d) => p * Math.Max(d, 1)) > max
            ? ShapeError(n, $"{cause} makes the output {Shapes.Show(wide.Select(d => d.ToString()))} larger than {max} elements per sample")
            : Right<Error, int[]>(wide.Select(d => (int)d).ToArray());
    }

    /// <summary>A gather whose index for each output element comes from <paramref name="source"/> (null → zero).</summary>
    public static LGather IndexMap(string id, KerasNode n, string input, Arr<int> inShape, int[] outShape, Func<int[], int[]?> source, string kind)
    {
        var inStrides = Shapes.Strides(inShape.ToArray());
        var index = new int[Shapes.Product(outShape)];
        var coord = new int[outShape.Length];
        for (var o = 0; o < index.Length; o++)
        {
            RefKernels.Unravel(o, outShape, coord);
            var src = source(coord);
            index[o] = src is null ? -1 : src.Select((c, d) => c * inStrides[d]).Sum();
        }
        return new LGather(id, n.Layer, input, outShape.ToArr(), index.ToArr(), kind);
    }

    /// <summary>Whether spatial axes come first: 1-d layers always, else unless data_format is channels_first.</summary>
    public static bool ChannelsLastLayout(KerasNode n) =>
        n.ClassName.EndsWith("1D", StringComparison.Ordinal) || !ChannelsFirst(n);
}
