using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Runtime;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// The whole compilation of a Keras model, including the calibration steps that simulate the network, which the compiler
/// alone cannot run: legalize → convert → calibrate (measure → <see cref="ResolutionSearch"/> when agreement targets are
/// given → apply → <see cref="BiasCorrection"/> when asked for) → lower → optimize. Without those two steps it computes
/// exactly what <see cref="Compile.Run"/> computes.
/// </summary>
public static class Build
{
    /// <summary>
    /// Compiles <paramref name="model"/>. <paramref name="search"/> sets the readout, batch and threads of the resolution
    /// search's simulations (default: mean readout, the largest target's steps); <paramref name="log"/> hears each search
    /// trial and <paramref name="progress"/> gives the progress callback of each long step (calibration, each search trial, bias correction).
    /// </summary>
    public static Either<Error, Compiled> Run(CompileOptions options, KerasModel model, bool verify = false,
        Option<SimOptions> search = default, Action<string>? log = null, Func<string, Action<int, int>?>? progress = null) =>
        from front in Compile.Front(options, model, verify)
        from calibrated in options.Calibration.Match(
            c => from measured in Calibrate.Measure(c.Options, front.Functions, front.Network, c.Data, progress?.Invoke("calibration"))
                 from chosen in ResolutionSearch.Run(options, search.IfNone(() => DefaultSearch(c.Options)), log, progress, c.Options, measured, front.Functions, front.Network, c.Data)
                 let applied = Calibrate.Apply(chosen, measured, front.Network)
                 from scaled in Compile.Check(verify, applied.Network)
                 from corrected in BiasCorrection.Run(chosen, front.Functions, scaled, c.Data,
                     chosen.BiasCorrectionSteps > 0 ? progress?.Invoke($"bias correction ({chosen.BiasCorrectionSteps} steps), layers") : null)
                 from network in Compile.Check(verify, corrected)
                 select (network, applied.Scales),
            () => Right<Error, (Network, Seq<LayerScale>)>((front.Network, Seq<LayerScale>())))
        from compiled in Compile.Finish(options, front, calibrated.Item1, calibrated.Item2, verify)
        select compiled;

    static SimOptions DefaultSearch(CalibrateOptions o) =>
        new(o.Targets.IsEmpty ? 1 : o.Targets.Max(t => t.Steps), Readout.Mean);
}
