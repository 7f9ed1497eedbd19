using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Layers;

/// <summary>What a Keras layer class gets from the converter today (the README's layer table says the same).</summary>
public enum LayerSupport
{
    /// <summary>Native ops (some argument values may still be refused, and then fall back).</summary>
    Native,
    /// <summary>An identity at inference: removed.</summary>
    Identity,
    /// <summary>No native rule: only the reference evaluator knows it, in a fallback function node.</summary>
    FallbackOnly,
    /// <summary>A wrapper converted as the layer it wraps, per time step (TimeDistributed with a temporal model).</summary>
    Wrapper,
}

/// <summary>One layer call as legalize hands it to a rule: the options, the call, its legal input ids and shapes.</summary>
public sealed record LegalizeInput(LegalizeOptions Options, KerasNode Node, Seq<string> Inputs, Seq<Arr<int>> InputShapes, int InputIndex, KerasModel Model)
{
    /// <summary>The call's only input (id and shape), or the refusal of a call with several.</summary>
    public Either<Error, (string Id, Arr<int> Shape)> Single =>
        Inputs.Count == 1
            ? Right<Error, (string, Arr<int>)>((Inputs.Head, InputShapes.Head))
            : Left<Error, (string, Arr<int>)>(LayerHelpers.Refuse(Node, $"expects one input, got {Inputs.Count}"));
}

/// <summary>A layer call lowered to legal ops; <see cref="Output"/> is the value that stands for the call.</summary>
public sealed record Lowered(Seq<LegalOp> Ops, string Output, Conversion Conversion, string Note = "")
{
    public static Lowered Native(params LegalOp[] ops) => new(ops.ToSeq().Strict(), ops[^1].Id, Conversion.Native);
}

/// <summary>
/// Everything the compiler knows about a family of Keras layer classes: the class names it covers (aliases included),
/// its legalize rule, its reference-evaluator rule, how a temporal model sees it per time step, and its coverage
/// facts. Rules hold no state; a refusal is a returned error.
/// </summary>
public sealed record LayerRule(
    Arr<string> Classes,
    LayerSupport Support,
    string Note,
    Option<Func<LegalizeInput, Either<Error, Lowered>>> Legalize,
    Option<Func<KerasNode, KerasEval.Value[], Either<Error, KerasEval.Value>>> Evaluate)
{
    /// <summary>
    /// Whether a refusal (an unsupported layer or argument) may become a fallback function node. Layers whose meaning
    /// needs the time axis (TimeDistributed, keras_spiking) never fall back: a per-step fallback would not mean the same.
    /// </summary>
    public bool FallsBack { get; init; } = true;

    /// <summary>The call as a temporal model runs it, one time step at a time (None: unchanged).</summary>
    public Option<Func<KerasNode, KerasNode>> PerStep { get; init; } = None;

    /// <summary>
    /// The problems of a call's config against itself and its weights (<see cref="ConfigChecks"/>), checked when a model
    /// is read; empty when consistent.
    /// </summary>
    public Func<KerasNode, Seq<string>> Checks { get; init; } = _ => Seq<string>();

    /// <summary>Whether legalize knows the class (so a call whose input failed is not reported as an unknown type).</summary>
    public bool Known => Support is LayerSupport.Native or LayerSupport.Identity;
}
