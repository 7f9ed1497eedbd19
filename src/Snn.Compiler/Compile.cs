using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using Snn.Ops;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

public sealed record CompileOptions(
    LegalizeOptions Legalize, ConvertOptions Convert, LowerOptions Lower, OptimizeOptions Optimize)
{
    /// <summary>
    /// Data-based firing-rate calibration (a pass between convert and lower), when set. Its agreement targets and bias
    /// correction simulate the network, which the compiler cannot: <see cref="Compile.Run"/> refuses them, the Snn
    /// library's <c>Build.Run</c> runs them.
    /// </summary>
    public Option<(CalibrateOptions Options, Seq<Tensor> Data)> Calibration { get; init; }

    /// <summary>
    /// The memory the model's shapes may make the compilation take, in bytes (<see cref="MemoryBudget"/>,
    /// <c>--max-memory</c>): checked on the legalized graph's shapes before anything is converted (<see cref="Compile.Front"/>).
    /// </summary>
    public long MaxMemory { get; init; } = MemoryBudget.DefaultBytes;

    public static CompileOptions Default => new(LegalizeOptions.Default, ConvertOptions.Default, LowerOptions.Default, OptimizeOptions.Default);
}

/// <summary>
/// The front end's stages: the Keras model, its legalized graph and the converted (uncalibrated) network, with the code of
/// the network's function nodes by name.
/// </summary>
public sealed record FrontEnd(KerasModel Keras, LegalGraph Legal, Network Network, NodeFunctions Functions);

/// <summary>
/// Every stage of one compilation, for inspection, evaluation and tests. The IR holds data only; <see cref="Functions"/>
/// holds the code its function nodes run, by name: run <see cref="Program"/> with it.
/// </summary>
public sealed record Compiled(KerasModel Keras, LegalGraph Legal, Network Network, OpProgram Lowered, OpProgram Program, NodeFunctions Functions)
{
    /// <summary>The per-layer scales calibration chose (empty without calibration).</summary>
    public Seq<LayerScale> Scales { get; init; }
}

/// <summary>
/// The default pipeline, as straight lines of named passes: <see cref="Front"/> (legalize, reporting every problem →
/// convert, NengoDL semantics), calibrate (when data is given), <see cref="Back"/> (lower, Nengo's builder → optimize).
/// </summary>
public static class Compile
{
    /// <summary>The whole pipeline for calibration that needs no simulation (no agreement targets, no bias correction).</summary>
    public static Either<Error, Compiled> Run(CompileOptions options, KerasModel model, bool verify = false) =>
        from front in Front(options, model, verify)
        from calibrated in options.Calibration.Match(
            c => Simulates(c.Options).Match(
                what => Left<Error, (Network, Seq<LayerScale>)>(Errors.Usage($"{what} simulates the network, which the compiler cannot: compile with the Snn library's Build.Run")),
                () => from measured in Calibrate.Calibrate.Measure(c.Options, front.Functions, front.Network, c.Data)
                      let applied = Calibrate.Calibrate.Apply(c.Options, measured, front.Network)
                      from network in Check(verify, applied.Network)
                      select (network, applied.Scales)),
            () => Right<Error, (Network, Seq<LayerScale>)>((front.Network, Seq<LayerScale>())))
        from compiled in Finish(options, front, calibrated.Item1, calibrated.Item2, verify)
        select compiled;

    /// <summary>The calibration steps that simulate the network and are asked for, if any, in words.</summary>
    public static Option<string> Simulates(CalibrateOptions o) =>
        !o.Targets.IsEmpty ? Some("an agreement target") : o.BiasCorrectionSteps > 0 ? Some("bias correction") : None;

    /// <summary>Legalize → convert; the legal graph's shapes are checked against the memory budget before converting (<see cref="Fits"/>).</summary>
    public static Either<Error, FrontEnd> Front(CompileOptions options, KerasModel model, bool verify = false) =>
        from legal in Pipeline.From(model, verify).Then(Legalize.Legalize.Name, m => Legalize.Legalize.Run(options.Legalize, m), LegalVerify.Run).Result
        from _ in Fits(legal, model.Name, options.MaxMemory)
        from converted in Pipeline.From(legal, verify).Then(Convert.Converter.Name, g => Convert.Converter.Run(options.Convert, options.Legalize.Converters, g),
            c => NetVerify.Run(c.Network).Map(_ => c)).Result
        select new FrontEnd(model, legal, converted.Network, converted.Functions);

    /// <summary>
    /// Bytes the compilation may take per value of a layer's output: the converted network's per-neuron bias, the lowered
    /// program's constants, one sample's signals and state, and room for a copy of each while a pass rewrites them.
    /// </summary>
    public const int BytesPerValue = 16;

    /// <summary>
    /// Refuses a graph whose shapes imply more memory than <paramref name="maxBytes"/>: every op's output values at
    /// <see cref="BytesPerValue"/> bytes each (an estimate from the shapes alone, with overflow checks), naming the
    /// largest op. Real models take a few MB here (ResNet-8, MobileNet at 96×96); a few kilobytes of config can declare
    /// terabytes.
    /// </summary>
    public static Either<Error, Unit> Fits(LegalGraph legal, string model, long maxBytes)
    {
        var sizes = legal.Ops.Map(o => (Op: o, Bytes: MemoryBudget.Bytes(o.Shape, BytesPerValue).IfNone(long.MaxValue))).Strict();
        var needed = sizes.Fold(0L, (acc, s) => MemoryBudget.Add(acc, s.Bytes));
        if (needed <= maxBytes || sizes.IsEmpty) return unit;
        var largest = sizes.OrderByDescending(s => s.Bytes).First();
        return Errors.Memory(
            $"Converting model '{model}' ({sizes.Count} layer outputs; the largest is '{largest.Op.Layer}' with shape {Shapes.Show(largest.Op.Shape)}, " +
            $"at {BytesPerValue} bytes per value for its neurons, constants and signals)", needed, maxBytes);
    }

    /// <summary>The network verifier, when verification is on.</summary>
    public static Either<Error, Network> Check(bool verify, Network network) => verify ? NetVerify.Run(network) : network;

    /// <summary>The back end for a front end's (possibly calibrated) <paramref name="network"/>: every stage in one record.</summary>
    public static Either<Error, Compiled> Finish(CompileOptions options, FrontEnd front, Network network, Seq<LayerScale> scales, bool verify = false) =>
        Back(options.Lower, options.Optimize, network, verify)
            .Map(p => new Compiled(front.Keras, front.Legal, network, p.Lowered, p.Program, front.Functions) { Scales = scales });

    /// <summary>
    /// The back end alone, lower → optimize, for a network that did not come from <see cref="Run"/> (a saved network,
    /// a hand-built one): the same passes <see cref="Run"/> ends with.
    /// </summary>
    public static Either<Error, (OpProgram Lowered, OpProgram Program)> Back(LowerOptions lower, OptimizeOptions optimize, Network network, bool verify = false) =>
        from lowered in Pipeline.From(network, verify).Then(Lower.Lower.Name, n => Lower.Lower.Run(lower, n), OpVerify.Run).Result
        from program in Pipeline.From(lowered, verify).Then(Optimize.Optimize.Name, p => Optimize.Optimize.Run(optimize, p), OpVerify.Run).Result
        select (lowered, program);
}
