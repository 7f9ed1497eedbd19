using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// The keras_spiking layers (nengo/keras-spiking): <c>SpikingActivation</c>, <c>Lowpass</c> and <c>Alpha</c>. They run
/// along the time axis of a temporal model, so they convert only with <c>--temporal-model</c> and never fall back.
/// This class holds what the reference evaluator and legalize must agree on: the class names, the layer's dt,
/// its filter parameters and its starting voltages.
/// </summary>
public static class KerasSpiking
{
    public const string SpikingActivation = "SpikingActivation";
    public const string Lowpass = "Lowpass";
    public const string Alpha = "Alpha";

    /// <summary>keras_spiking's default dt (its <c>config.default.dt</c>).</summary>
    public const float DefaultDt = 0.001f;

    /// <summary>The keras_spiking class of a node, if it is one (registered names such as <c>keras_spiking&gt;Lowpass</c> count).</summary>
    public static Option<string> ClassOf(string className)
    {
        var gt = className.IndexOf('>');
        var package = gt < 0 ? "" : className[..gt];
        var name = gt < 0 ? className
            : package.Equals("keras_spiking", StringComparison.OrdinalIgnoreCase) || package.Equals("KerasSpiking", StringComparison.Ordinal) ? className[(gt + 1)..]
            : "";
        return name is SpikingActivation or Lowpass or Alpha ? Some(name) : None;
    }

    /// <summary>The dt the layer was built with (keras_spiking's default when unset).</summary>
    public static float Dt(KerasNode n) => (float)n.Config.Number("dt").IfNone(DefaultDt);

    /// <summary>
    /// Starting voltages of a SpikingActivation layer, one per element: Uniform[0, 1) drawn with numpy's
    /// <c>RandomState(seed)</c>, where seed is the layer's <c>seed</c> (0 when unset). keras_spiking draws them with
    /// TensorFlow's stateless Philox generator (a different stream, and a fresh one per call when unseeded), which
    /// no program outside TensorFlow reproduces; the distribution is the same. Evaluator and converter share this.
    /// </summary>
    public static float[] InitialVoltage(KerasNode n, int size)
    {
        var seed = n.Config.Number("seed").Map(s => (long)s).IfNone(0);
        return new NumpyRandom(unchecked((uint)seed)).Uniform(0, 1, size).Select(v => (float)v).ToArray();
    }

    /// <summary>A filter's time constants: the trained <c>tau_var</c> weight (one per element or one), else the config's <c>tau</c>.</summary>
    public static float[] Tau(KerasNode n) =>
        n.Weight("tau_var").Map(t => t.ToArray())
            .IfNone(() => n.Config.Number("tau").Map(t => new[] { (float)t }).IfNone(System.Array.Empty<float>()));

    /// <summary>A filter's starting output: the <c>initial_level</c> weight, else zeros.</summary>
    public static float[] InitialLevel(KerasNode n, int size) =>
        n.Weight("initial_level").Map(t => t.ToArray()).IfNone(() => new float[size]);

    /// <summary>The inference options keras_spiking layers must have to be simulated step by step.</summary>
    public static Option<(string Arg, string Value, string Supported)> UnsupportedOption(KerasNode n) =>
        !n.Config.Bool("return_sequences").IfNone(true) ? Some(("return_sequences", "False", "True"))
        : n.Config.Bool("return_state").IfNone(false) ? Some(("return_state", "True", "False"))
        : n.Config.Bool("time_major").IfNone(false) ? Some(("time_major", "True", "False"))
        : None;
}
