using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Ops;

public enum SignalKind
{
    /// <summary>One value per sample of the batch (activities, currents, neuron state, filter state).</summary>
    Batched,
    /// <summary>Read-only and shared by every sample (weights, gains, biases).</summary>
    Constant,
    /// <summary>Shared by every sample and written by the simulator (step counter, time).</summary>
    Global,
}

/// <summary>
/// A signal: a block of floats. Constants carry their value; batched signals may carry an initial
/// value per element (e.g. starting voltages), replicated over the batch; otherwise they start at 0.
/// </summary>
public sealed record Signal(int Id, string Name, int Size, SignalKind Kind, Option<Tensor> Initial);

/// <summary>
/// Stage 4 IR: an operator declares which signals it sets, increments, reads and updates
/// (Nengo's builder contract). Within a step, per signal: sets, then incs, then reads, then updates.
/// </summary>
public abstract record Op
{
    public virtual Seq<int> Sets => Seq<int>();
    public virtual Seq<int> Incs => Seq<int>();
    public virtual Seq<int> Reads => Seq<int>();
    public virtual Seq<int> Updates => Seq<int>();

    /// <summary>Whether the op keeps state between steps or depends on time (never run once for all steps).</summary>
    public virtual bool Stateful => false;
    public Seq<int> Writes => Sets.Concat(Incs).Concat(Updates).ToSeq();

    /// <summary>
    /// The signals among <see cref="Sets"/> that the op writes in full without reading what they held before
    /// (their value before the op does not matter). A signal that one op overwrites every step carries nothing
    /// from one step to the next: the runtime need not restore it on reset and may share its storage with other
    /// short-lived signals. Conservative: an op that may keep part of a signal leaves it out.
    /// </summary>
    public virtual Seq<int> Overwrites => Seq<int>();

    /// <summary>The same operator with every signal id <c>i</c> it names replaced by <c>f(i)</c>.</summary>
    public abstract Op MapSignals(Func<int, int> f);
}

/// <summary>step += 1; time = step * dt.</summary>
public sealed record TimeUpdate(int Step, int Time) : Op
{
    public override Op MapSignals(Func<int, int> f) => new TimeUpdate(f(Step), f(Time));
    public override bool Stateful => true;
    public override Seq<int> Sets => Seq(Step, Time);
}

/// <summary>Sets Dst from model input <see cref="Input"/> (constant over time).</summary>
public sealed record InputFeed(int Dst, int Input) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { Dst = f(Dst) };
    public override Seq<int> Sets => Seq1(Dst);
    public override Seq<int> Overwrites => Seq1(Dst);
}

/// <summary>dst[...] = value.</summary>
public sealed record Reset(int Dst, float Value = 0f) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { Dst = f(Dst) };
    public override Seq<int> Sets => Seq1(Dst);
    public override Seq<int> Overwrites => Seq1(Dst);
}

/// <summary>
/// dst[DstIndex[k]] (+)= src[SrcIndex[k]]: with no indices a whole copy; a negative source index
/// contributes 0. A constant source is broadcast over the batch.
/// </summary>
public sealed record Copy(int Src, int Dst, Option<Arr<int>> SrcIndex, Option<Arr<int>> DstIndex, bool Inc) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { Src = f(Src), Dst = f(Dst) };
    public override Seq<int> Sets => Inc ? Seq<int>() : Seq1(Dst);
    public override Seq<int> Incs => Inc ? Seq1(Dst) : Seq<int>();
    public override Seq<int> Reads => Seq1(Src);
    public override Seq<int> Overwrites => Inc || DstIndex.IsSome ? Seq<int>() : Seq1(Dst);
}

/// <summary>
/// Y += A * X elementwise, A constant of length 1 or |X| (the product, then the sum). With <see cref="Set"/>
/// Y = A * X + 0 instead: a Reset(Y) and the increment in one pass.
/// </summary>
public sealed record ElementwiseInc(int A, int X, int Y) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { A = f(A), X = f(X), Y = f(Y) };
    /// <summary>Whether the op overwrites Y.</summary>
    public bool Set { get; init; }
    public override Seq<int> Sets => Set ? Seq1(Y) : Seq<int>();
    public override Seq<int> Incs => Set ? Seq<int>() : Seq1(Y);
    public override Seq<int> Reads => Seq(A, X);
    public override Seq<int> Overwrites => Sets;
}

/// <summary>
/// Y = X·A + B elementwise (or Y = X + B without a gain): B a constant of |Y| values broadcast over the batch, A a
/// constant of length 1 or |Y|. It is an ensemble's Copy(bias → J) followed by its first input's
/// ElementwiseInc(gain, X, J) (or whole incrementing Copy) done in one pass, with the same float operations
/// (the product, then the sum; never fused into one rounding).
/// </summary>
public sealed record AffineSet(int Bias, Option<int> Gain, int X, int Y) : Op
{
    public override Op MapSignals(Func<int, int> f) => new AffineSet(f(Bias), Gain.Map(f), f(X), f(Y));
    public override Seq<int> Sets => Seq1(Y);
    public override Seq<int> Reads => Seq1(Bias).Concat(Gain.ToSeq()).Concat(Seq1(X)).ToSeq();
    public override Seq<int> Overwrites => Seq1(Y);
}

/// <summary>Y[r,:] += X[r,:]·W for each of Rows rows; W is a constant [In, Out] (Keras layout).</summary>
/// <remarks>
/// Summation order (the contract every kernel keeps): the inputs are summed in blocks of at most
/// <see cref="SumBlock"/> consecutive i, each block from +0, and each block's sum is added to Y in turn. So for
/// In ≤ SumBlock, adding into a zeroed temporary and then into Y gives exactly Y += X·W.
/// </remarks>
public sealed record DotInc(int W, int X, int Y, int Rows, int In, int Out) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { W = f(W), X = f(X), Y = f(Y) };
    /// <summary>The most inputs a kernel sums before it adds into Y.</summary>
    public const int SumBlock = 256;

    public override Seq<int> Incs => Seq1(Y);
    public override Seq<int> Reads => Seq(W, X);
}

/// <summary>Y += conv(X, W).</summary>
public sealed record ConvInc(int W, int X, int Y, ConvSpec Spec) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { W = f(W), X = f(X), Y = f(Y) };
    public override Seq<int> Incs => Seq1(Y);
    public override Seq<int> Reads => Seq(W, X);
}

/// <summary>
/// Y += pool(X): the average over real cells, or the max. A max is added as max + 0 (a window whose max is −0 adds
/// +0, as a zeroed temporary would), so adding it straight into Y or through a zeroed temporary is the same.
/// With <see cref="Set"/> (max only) Y = max + 0 instead: a Reset(Y) and the increment in one pass.
/// </summary>
public sealed record PoolInc(int X, int Y, PoolSpec Spec) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { X = f(X), Y = f(Y) };
    /// <summary>Whether the op overwrites Y (max pooling only).</summary>
    public bool Set { get; init; }
    public override Seq<int> Sets => Set ? Seq1(Y) : Seq<int>();
    public override Seq<int> Incs => Set ? Seq<int>() : Seq1(Y);
    public override Seq<int> Reads => Seq1(X);
    public override Seq<int> Overwrites => Sets;
}

/// <summary>An operator that runs one step of an ensemble's neurons: sets their output and their state.</summary>
public interface INeuronOp
{
    NeuronType Neuron { get; }
    int Output { get; }
    /// <summary>Voltage, then refractory time, as the neuron type needs.</summary>
    Seq<int> State { get; }

    /// <summary>
    /// A constant of one factor per neuron the output is multiplied by as it is written (per-channel calibration's
    /// output scale, <c>Ensemble.OutputScale</c>): Output = neuron output × OutputScale[i]. None: the neuron output itself.
    /// </summary>
    Option<int> OutputScale { get; }
}

/// <summary>Runs one neuron step: reads J, sets the output and the state (voltage, refractory time).</summary>
public sealed record SimNeurons(NeuronType Neuron, int J, int Output, Seq<int> State) : Op, INeuronOp
{
    public override Op MapSignals(Func<int, int> f) => this with { J = f(J), Output = f(Output), State = State.Map(f).Strict(), OutputScale = OutputScale.Map(f) };
    public Option<int> OutputScale { get; init; }
    public override bool Stateful => true;
    public override Seq<int> Sets => Seq1(Output).Concat(State).ToSeq();
    public override Seq<int> Reads => Seq1(J).Concat(OutputScale.ToSeq()).ToSeq();
    public override Seq<int> Overwrites => Seq1(Output);
}

/// <summary>
/// <see cref="SimNeurons"/> whose input current is J = X·A + B (see <see cref="AffineSet"/>), formed block by block
/// as the neurons run and never stored: an ensemble's bias, its one weighted input and its neuron step in one op.
/// </summary>
public sealed record SimNeuronsAffine(NeuronType Neuron, int Bias, Option<int> Gain, int X, int Output, Seq<int> State) : Op, INeuronOp
{
    public override Op MapSignals(Func<int, int> f) => this with { Bias = f(Bias), Gain = Gain.Map(f), X = f(X), Output = f(Output), State = State.Map(f).Strict(), OutputScale = OutputScale.Map(f) };
    public Option<int> OutputScale { get; init; }
    public override bool Stateful => true;
    public override Seq<int> Sets => Seq1(Output).Concat(State).ToSeq();
    public override Seq<int> Reads => Seq1(Bias).Concat(Gain.ToSeq()).Concat(Seq1(X)).Concat(OutputScale.ToSeq()).ToSeq();
    public override Seq<int> Overwrites => Seq1(Output);
}

/// <summary>Lowpass synapse (ZOH) in update mode: Out = A*Out + B*In, after every read of Out this step.</summary>
public sealed record LowpassOp(int In, int Out, float A, float B) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { In = f(In), Out = f(Out) };
    public override bool Stateful => true;
    public override Seq<int> Reads => Seq1(In);
    public override Seq<int> Updates => Seq1(Out);
}

/// <summary>
/// A keras_spiking filter in set mode (no delay: it runs before every read of Y this step). Lowpass: Y = a·Y + b·X
/// with <see cref="Coefficients"/> = [a per element, b per element]. Alpha: state [D, Y] (D the derivative),
/// [D, Y] = A·[D, Y] + B·X with <see cref="Coefficients"/> = [A00, A01, A10, A11, B0, B1], each one block per element.
/// A Lowpass has no D (it is given as Y).
/// </summary>
public sealed record FilterOp(int X, int Y, int D, FilterKind Kind, Tensor Coefficients) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { X = f(X), Y = f(Y), D = f(D) };
    public override Seq<int> Sets => Kind == FilterKind.Alpha ? Seq(Y, D) : Seq1(Y);
    public override Seq<int> Reads => Seq1(X);
    public override bool Stateful => true;

    /// <summary>Coefficients per element: 2 for Lowpass, 6 for Alpha.</summary>
    public static int PerElement(FilterKind kind) => kind == FilterKind.Alpha ? 6 : 2;
}

/// <summary>
/// Max pooling of spike trains, with state: <see cref="Counts"/> integrates each input, <see cref="Max"/> holds each
/// window's running max of those counts. Count method: Y = increase of the running max this step (so the cumulative
/// output is the max of the cumulative inputs). Gate method: Y = the current input of the window's input with the
/// largest count. Sets Y and the state, reads X.
/// </summary>
public sealed record MaxPoolOp(int X, int Y, PoolSpec Spec, MaxPoolMethod Method, int Counts, int Max) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { X = f(X), Y = f(Y), Counts = f(Counts), Max = f(Max) };
    public override bool Stateful => true;
    public override Seq<int> Sets => Seq(Y, Counts, Max);
    public override Seq<int> Reads => Seq1(X);
    public override Seq<int> Overwrites => Seq1(Y);
}

/// <summary>
/// Y = f(X) per sample, for function nodes (fallback layers, custom and hand-written nodes). <see cref="Function"/> names
/// f in the <see cref="NodeFunctions"/> that come with the program.
/// </summary>
public sealed record FunctionOp(int X, int Y, string Function) : Op
{
    public override Op MapSignals(Func<int, int> f) => this with { X = f(X), Y = f(Y) };
    public override bool Stateful => true;
    public override Seq<int> Sets => Seq1(Y);
    public override Seq<int> Reads => Seq1(X);
}

/// <summary>Model output <see cref="Output"/> is read from <see cref="Signal"/> after every step.</summary>
public sealed record ProbeDecl(string Name, int Signal, bool Softmax, Arr<int> Shape, int Output);

/// <summary>The lowered program: signals, scheduled operators, probes.</summary>
public sealed record OpProgram(Seq<Signal> Signals, Seq<Op> Ops, Seq<ProbeDecl> Probes, float Dt, int InputCount, Seq<Arr<int>> InputShapes)
{
    public Signal Signal(int id) => Signals[id];
}
