using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>
/// keras_spiking layers (nengo-semantics.md §1.5): SpikingActivation becomes a regular-spiking activation with the
/// layer's own starting voltages, Lowpass and Alpha a filter applied in the same step. Only the time axis of a
/// temporal model gives them their meaning, and a per-step fallback would not, so they never fall back. Registered
/// names (<c>keras_spiking&gt;Lowpass</c>) find them too (<see cref="LayerRegistry.Find"/>).
/// </summary>
internal static class KerasSpikingLayers
{
    public static readonly LayerRule SpikingActivationRule = Rule(KerasSpiking.SpikingActivation, "regular spiking (relu, sigmoid, tanh) with --temporal-model");
    public static readonly LayerRule LowpassRule = Rule(KerasSpiking.Lowpass, "a lowpass filter in the same step, with --temporal-model");
    public static readonly LayerRule AlphaRule = Rule(KerasSpiking.Alpha, "an alpha filter in the same step, with --temporal-model");

    static LayerRule Rule(string layer, string note) => new(
        Arr.create(layer), LayerSupport.Native, note,
        Legal(i =>
            from x in i.Single
            from op in Legalize(i.Options, i.Node, x.Id, x.Shape, layer)
            select Lowered.Native(op)),
        Eval((n, ins) => Single(n, ins).Bind(x => Evaluate(n, layer, x))))
    {
        FallsBack = false,
    };

    static Either<Error, LegalOp> Legalize(LegalizeOptions options, KerasNode n, string input, Arr<int> shape, string layer)
    {
        if (!options.Temporal)
            return Refuse(n, $"{layer} layers run along the time axis and can only be converted when temporal_model=True (--temporal-model)");
        if (KerasSpiking.UnsupportedOption(n).TryGet(out var bad)) return BadArg(n, bad.Arg, bad.Value, bad.Supported);
        var size = Shapes.Product(shape);
        var dt = KerasSpiking.Dt(n);
        if (!(dt > 0)) return BadArg(n, "dt", dt.ToString(System.Globalization.CultureInfo.InvariantCulture), "a positive time step");
        if (layer == KerasSpiking.SpikingActivation)
        {
            var name = n.Config.Activation().IfNone("linear");
            Option<Act> act = name switch
            {
                "relu" => new Relu(),
                "sigmoid" => new SigmoidAct(),
                "tanh" => new TanhAct(),
                _ => None,
            };
            return act.ToEither(() => Refuse(n, $"SpikingActivation activation type ({name}) does not have a native equivalent (relu, sigmoid and tanh do)"))
                .Map(a => (LegalOp)new LActivation(n.Id, n.Layer, input, shape, a)
                {
                    Spiking = Some(new SpikingState(Tensor.Own(new[] { size }, KerasSpiking.InitialVoltage(n, size)), dt)),
                });
        }
        var tau = KerasSpiking.Tau(n);
        if (tau.Length == 0) return Refuse(n, "missing the time constant tau");
        if (tau.Length != 1 && tau.Length != size) return ShapeError(n, $"{tau.Length} time constants do not fit {size} elements");
        if (tau.Any(t => !(t > 0) || float.IsInfinity(t))) return Refuse(n, "time constants must be positive and finite");
        var level = KerasSpiking.InitialLevel(n, size);
        if (level.Length != size) return ShapeError(n, $"initial_level has {level.Length} values for {size} elements");
        return new LFilter(n.Id, n.Layer, input, shape, layer == KerasSpiking.Lowpass ? FilterKind.Lowpass : FilterKind.Alpha,
            Tensor.Own(new[] { tau.Length }, tau), Tensor.Own(new[] { size }, level), dt);
    }

    /// <summary>
    /// A keras_spiking layer run along the sample's time axis (axis 0), with keras_spiking's inference math in float32:
    /// SpikingActivation v += act(x)·dt, n = floor(v), v −= n, y = n/dt; Lowpass (ZOH) y = (1−a)·x + a·y with
    /// a = exp(−dt/τ); Alpha the ZOH-discretized H(s) = 1/(τs+1)² with state [y', y]. Filters start at initial_level.
    /// </summary>
    static Either<Error, Value> Evaluate(KerasNode n, string layer, Value x)
    {
        if (KerasSpiking.UnsupportedOption(n).TryGet(out var bad) && bad.Arg != "return_sequences")
            return Refuse(n, $"{bad.Arg}={bad.Value} is not supported");
        if (x.Rank < 2) return ShapeError(n, $"expects (time, ...) per sample, got {Shapes.Show(x.Shape)}");
        var steps = x.Shape[0];
        var size = x.Data.Length / Math.Max(1, steps);
        var dt = KerasSpiking.Dt(n);
        var y = new float[x.Data.Length];
        if (layer == KerasSpiking.SpikingActivation)
            return Activate(n, x).Map(rated =>
            {
                var rates = rated.Data;
                var v = KerasSpiking.InitialVoltage(n, size);
                for (var t = 0; t < steps; t++)
                    for (var i = 0; i < size; i++)
                    {
                        var k = t * size + i;
                        v[i] += rates[k] * dt;
                        var spikes = MathF.Floor(v[i]);
                        v[i] -= spikes;
                        y[k] = spikes / dt;
                    }
                return Output(n, x, y, size);
            });
        var tau = KerasSpiking.Tau(n);
        if (tau.Length != 1 && tau.Length != size) return ShapeError(n, $"{tau.Length} time constants for {size} elements");
        if (tau.Any(v => !(v > 0))) return Refuse(n, "time constants must be positive");
        var level = KerasSpiking.InitialLevel(n, size);
        if (level.Length != size) return ShapeError(n, $"initial_level has {level.Length} values for {size} elements");
        var state = (float[])level.Clone();
        var rate = new float[size];
        for (var t = 0; t < steps; t++)
            for (var i = 0; i < size; i++)
            {
                var k = t * size + i;
                var tu = tau[tau.Length == 1 ? 0 : i];
                if (layer == KerasSpiking.Lowpass)
                {
                    var a = MathF.Exp(-dt / tu);
                    state[i] = (1 - a) * x.Data[k] + a * state[i];
                }
                else
                {
                    var (a00, a01, a10, a11, b0, b1) = new Alpha(tu).Discretize(dt);
                    var d = rate[i];
                    rate[i] = a00 * d + a01 * state[i] + b0 * x.Data[k];
                    state[i] = a10 * d + a11 * state[i] + b1 * x.Data[k];
                }
                y[k] = state[i];
            }
        return Output(n, x, y, size);
    }

    static Value Output(KerasNode n, Value x, float[] y, int size) =>
        n.Config.Bool("return_sequences").IfNone(true) ? x with { Data = y } : new Value(x.Shape[1..], y[^size..]);
}
