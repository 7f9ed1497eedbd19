using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Legalize;

/// <summary>An activation in the canonical subset.</summary>
public abstract record Act;

/// <summary>An activation applied to each element on its own: <see cref="Apply"/> gives element <c>i</c>'s output.</summary>
public abstract record ElementwiseAct : Act
{
    public abstract float Apply(float x, int i);
}

/// <summary>Keras ReLU: max_value clip, negative_slope below threshold (plain relu: all defaults).</summary>
public sealed record Relu(float NegativeSlope = 0f, float Threshold = 0f, float MaxValue = float.PositiveInfinity) : ElementwiseAct
{
    public bool IsPlain => NegativeSlope == 0f && Threshold == 0f && float.IsPositiveInfinity(MaxValue);
    public override float Apply(float x, int i) => Activations.Relu(x, NegativeSlope, Threshold, MaxValue);
}

/// <summary>PReLU: x ≥ 0 ? x : Alpha[i]·x, with Alpha expanded to one slope per element.</summary>
public sealed record PRelu(Tensor Alpha) : ElementwiseAct
{
    public override float Apply(float x, int i) => x >= 0 ? x : Alpha[i] * x;
}

public sealed record SigmoidAct : ElementwiseAct
{
    public override float Apply(float x, int i) => 1f / (1f + MathF.Exp(-x));
}

public sealed record TanhAct : ElementwiseAct
{
    public override float Apply(float x, int i) => MathF.Tanh(x);
}

/// <summary>Softmax over the last axis; legal only as a model output (applied in the readout), so not elementwise.</summary>
public sealed record SoftmaxAct : Act;

/// <summary>
/// Stage 2 IR: one canonical op per value. <see cref="Id"/> names the value it produces,
/// <see cref="Layer"/> the Keras layer it came from, <see cref="Shape"/> its per-sample shape.
/// </summary>
public abstract record LegalOp(string Id, string Layer, Seq<string> Inputs, Arr<int> Shape)
{
    public int Size => Shapes.Product(Shape);
}

public sealed record LInput(string Id, string Layer, Arr<int> Shape, int Index) : LegalOp(Id, Layer, Seq<string>(), Shape);

/// <summary>
/// An affine (BatchNormalization, Rescaling, Normalization: value <see cref="Id"/> of layer <see cref="Layer"/>) that
/// legalize folded into the Dense or Conv before it: the op's kernel columns were multiplied by <see cref="Scale"/> (one
/// value per output channel) and its bias became bias·Scale + <see cref="Shift"/>. Recorded so the fold can be inverted
/// (writing trained weights back into the Keras model).
/// </summary>
public sealed record FoldedAffine(string Id, string Layer, Tensor Scale, Tensor Shift);

/// <summary>y = x·Kernel + Bias along the last axis; Kernel is [in, out].</summary>
public sealed record LDense(string Id, string Layer, string Input, Arr<int> Shape, Tensor Kernel, Option<Tensor> Bias)
    : LegalOp(Id, Layer, Seq1(Input), Shape)
{
    /// <summary>The affines folded into this op, in the order they were folded (empty: the layer's own kernel and bias).</summary>
    public Seq<FoldedAffine> Folded { get; init; }
}

public sealed record LConv(string Id, string Layer, string Input, ConvSpec Spec, Tensor Kernel, Option<Tensor> Bias)
    : LegalOp(Id, Layer, Seq1(Input), Spec.OutputShape)
{
    /// <summary>The affines folded into this op, in the order they were folded (empty: the layer's own kernel and bias).</summary>
    public Seq<FoldedAffine> Folded { get; init; }
}

public sealed record LPool(string Id, string Layer, string Input, PoolSpec Spec)
    : LegalOp(Id, Layer, Seq1(Input), Spec.OutputShape);

public sealed record LActivation(string Id, string Layer, string Input, Arr<int> Shape, Act Act)
    : LegalOp(Id, Layer, Seq1(Input), Shape)
{
    /// <summary>
    /// Set for keras_spiking's SpikingActivation: the activation is computed by regular spiking in every mode
    /// (Nengo's RegularSpiking of <see cref="Act"/>), from these starting voltages. Its rate meaning is <see cref="Act"/>.
    /// </summary>
    public Option<SpikingState> Spiking { get; init; }
}

/// <summary>A SpikingActivation layer's own state: starting voltage per element and the dt the layer was built with.</summary>
public sealed record SpikingState(Tensor InitialVoltage, float Dt);

/// <summary>
/// A keras_spiking Lowpass or Alpha layer over time: ZOH-discretized, applied in the same step (no delay), with
/// time constant <see cref="Tau"/> (length 1 or one per element) and starting output <see cref="InitialLevel"/>
/// (one per element). <see cref="Dt"/> is the layer's own; the simulation discretizes with the network's dt.
/// Its rate (steady-state) meaning is the identity: both filters have unit DC gain.
/// </summary>
public sealed record LFilter(string Id, string Layer, string Input, Arr<int> Shape, FilterKind Kind, Tensor Tau, Tensor InitialLevel, float Dt)
    : LegalOp(Id, Layer, Seq1(Input), Shape);

/// <summary>y = x * Scale[c] + Shift[c] where c is the index along <see cref="Axis"/> (batch excluded).</summary>
public sealed record LAffine(string Id, string Layer, string Input, Arr<int> Shape, int Axis, Tensor Scale, Tensor Shift)
    : LegalOp(Id, Layer, Seq1(Input), Shape);

/// <summary>y = Σ Weights[i] * inputs[i] (Add, Average, Subtract).</summary>
public sealed record LSum(string Id, string Layer, Seq<string> Inputs, Arr<int> Shape, Arr<float> Weights)
    : LegalOp(Id, Layer, Inputs, Shape);

/// <summary>Concatenation along a per-sample axis.</summary>
public sealed record LConcat(string Id, string Layer, Seq<string> Inputs, Arr<int> Shape, int Axis)
    : LegalOp(Id, Layer, Inputs, Shape);

/// <summary>Same data, new shape (no data movement).</summary>
public sealed record LReshape(string Id, string Layer, string Input, Arr<int> Shape)
    : LegalOp(Id, Layer, Seq1(Input), Shape);

/// <summary>y[i] = x[Index[i]], or 0 where Index[i] &lt; 0 (transpose, padding, cropping, upsampling).</summary>
public sealed record LGather(string Id, string Layer, string Input, Arr<int> Shape, Arr<int> Index, string Kind)
    : LegalOp(Id, Layer, Seq1(Input), Shape);

/// <summary>A layer with no native conversion, evaluated by the reference kernel in a function node.</summary>
public sealed record LFallback(string Id, string Layer, Seq<string> Inputs, Arr<int> Shape, Keras.KerasNode Node, Seq<Arr<int>> InputShapes, string Reason)
    : LegalOp(Id, Layer, Inputs, Shape);

/// <summary>
/// A layer converted by a registered custom converter: <see cref="Converter"/> is its key in the
/// <see cref="Convert.ConverterRegistry"/> (the Keras class name), through which the converter pass finds it.
/// </summary>
public sealed record LCustom(string Id, string Layer, Seq<string> Inputs, Arr<int> Shape, Keras.KerasNode Node, Seq<Arr<int>> InputShapes, string Converter)
    : LegalOp(Id, Layer, Inputs, Shape);

public enum Conversion { Native, Folded, Removed, Fallback, Custom }

/// <summary>What became of one Keras layer (for <c>snn inspect</c>).</summary>
public sealed record LayerStatus(string Layer, string ClassName, Conversion Conversion, Arr<int> OutputShape, string Note);

/// <summary>The legalized model: ops in topological order, input and output value ids, per-layer status.</summary>
public sealed record LegalGraph(Seq<LegalOp> Ops, Seq<string> Inputs, Seq<string> Outputs, Seq<LayerStatus> Layers)
{
    /// <summary>Warnings for the user (e.g. a custom converter registered twice).</summary>
    public Seq<string> Warnings { get; init; }

    public LegalOp Op(string id) => Ops.Find(o => o.Id == id).IfNone(() => throw new KeyNotFoundException(id));
}
