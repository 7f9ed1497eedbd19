using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using Snn.Compiler.Lower;
using Snn.Compiler.Optimize;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

public sealed record CompileOptions(
    LegalizeOptions Legalize, ConvertOptions Convert, LowerOptions Lower, OptimizeOptions Optimize)
{
    /// <summary>Data-based firing-rate calibration (a pass between convert and lower), when set.</summary>
    public Option<(CalibrateOptions Options, Seq<Tensor> Data)> Calibration { get; init; }

    /// <summary>
    /// The simulation-based part of calibration (bias correction, <see cref="CalibrateOptions.BiasCorrectionSteps"/>):
    /// the compiler cannot simulate, so the runtime supplies it (Snn.Runtime's <c>BiasCorrection.Enable</c>).
    /// </summary>
    public Func<CalibrateOptions, Network, Seq<Tensor>, Either<Error, Network>>? Correction { get; init; }

    /// <summary>
    /// The resolution search (<see cref="CalibrateOptions.Targets"/>): given what calibration measured and the network
    /// before scaling, the options with every layer's resolution chosen. It simulates, so the runtime supplies it
    /// (Snn.Runtime's <c>ResolutionSearch.Enable</c>).
    /// </summary>
    public Func<CalibrateOptions, Measured, Network, Seq<Tensor>, Either<Error, CalibrateOptions>>? Search { get; init; }

    public static CompileOptions Default => new(LegalizeOptions.Default, ConvertOptions.Default, LowerOptions.Default, OptimizeOptions.Default);
}

/// <summary>Every stage of one compilation, for inspection, evaluation and tests.</summary>
public sealed record Compiled(KerasModel Keras, LegalGraph Legal, Network Network, OpProgram Lowered, OpProgram Program)
{
    /// <summary>The per-layer scales calibration chose (empty without calibration).</summary>
    public Seq<LayerScale> Scales { get; init; }
}

/// <summary>
/// The default pipeline, as one straight line of named passes:
/// legalize (report every problem) → convert (NengoDL semantics) → calibrate (when data is given) →
/// lower (Nengo builder) → optimize.
/// </summary>
public static class Compile
{
    public static Either<Error, Compiled> Run(CompileOptions options, KerasModel model, bool verify = false)
    {
        LegalGraph? legal = null;
        var scales = Seq<LayerScale>();
        return Pipeline.From(model, verify)
            .Then(Legalize.Legalize.Name, m => Legalize.Legalize.Run(options.Legalize, m), LegalVerify.Run).Tap(g => legal = g)
            .Then(Convert.Converter.Name, g => Convert.Converter.Run(options.Convert, g), NetVerify.Run)
            .Then(Calibrate.Calibrate.Name, n => options.Calibration.Match(
                c => from measured in Calibrate.Calibrate.Measure(c.Options, n, c.Data)
                     from chosen in c.Options.Targets.IsEmpty ? Right<Error, CalibrateOptions>(c.Options)
                         : options.Search is { } search ? search(c.Options, measured, n, c.Data)
                         : Left<Error, CalibrateOptions>(Errors.Usage("an agreement target simulates the network: set CompileOptions.Search (Snn.Runtime.ResolutionSearch.Enable)"))
                     let calibrated = Calibrate.Calibrate.Apply(chosen, measured, n)
                     select Tap(calibrated, r => scales = r.Scales).Network,
                () => Right<Error, Network>(n)), NetVerify.Run)
            .Then("bias-correction", n => options.Calibration.Filter(c => c.Options.BiasCorrectionSteps > 0).Match(
                c => options.Correction is { } correct ? correct(c.Options, n, c.Data)
                    : Left<Error, Network>(Errors.Usage("bias correction simulates the network: set CompileOptions.Correction (Snn.Runtime.BiasCorrection.Enable)")),
                () => Right<Error, Network>(n)), NetVerify.Run)
            .Result
            .Bind(network => Back(options.Lower, options.Optimize, network, verify)
                .Map(p => new Compiled(model, legal!, network, p.Lowered, p.Program) { Scales = scales }));
    }

    static T Tap<T>(T value, Action<T> effect) { effect(value); return value; }

    /// <summary>
    /// The back end alone, lower → optimize, for a network that did not come from <see cref="Run"/> (a saved network,
    /// a hand-built one): the same passes <see cref="Run"/> ends with.
    /// </summary>
    public static Either<Error, (OpProgram Lowered, OpProgram Program)> Back(LowerOptions lower, OptimizeOptions optimize, Network network, bool verify = false)
    {
        OpProgram? lowered = null;
        return Pipeline.From(network, verify)
            .Then(Lower.Lower.Name, n => Lower.Lower.Run(lower, n), OpVerify.Run).Tap(p => lowered = p)
            .Then(Optimize.Optimize.Name, p => Optimize.Optimize.Run(optimize, p), OpVerify.Run)
            .Result
            .Map(program => (lowered!, program));
    }
}
