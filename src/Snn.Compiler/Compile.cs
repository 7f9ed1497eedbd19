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
        Network? network = null;
        OpProgram? lowered = null;
        var scales = Seq<LayerScale>();
        return Pipeline.From(model, verify)
            .Then(Legalize.Legalize.Name, m => Legalize.Legalize.Run(options.Legalize, m), LegalVerify.Run).Tap(g => legal = g)
            .Then(Convert.Converter.Name, g => Convert.Converter.Run(options.Convert, g), NetVerify.Run)
            .Then(Calibrate.Calibrate.Name, n => options.Calibration.Match(
                c => Calibrate.Calibrate.Run(c.Options, n, c.Data).Map(r => { scales = r.Scales; return r.Network; }),
                () => Right<Error, Network>(n)), NetVerify.Run).Tap(n => network = n)
            .Then(Lower.Lower.Name, n => Lower.Lower.Run(options.Lower, n), OpVerify.Run).Tap(p => lowered = p)
            .Then(Optimize.Optimize.Name, p => Optimize.Optimize.Run(options.Optimize, p), OpVerify.Run)
            .Result
            .Map(program => new Compiled(model, legal!, network!, lowered!, program) { Scales = scales });
    }
}
