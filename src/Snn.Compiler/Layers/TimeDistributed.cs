using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>
/// TimeDistributed: the wrapped layer applied to every time slice. A temporal model runs it as the wrapped layer, one
/// step at a time; otherwise legalize refuses it, without a fallback (a per-step fallback would not mean the same).
/// </summary>
internal static class TimeDistributedLayer
{
    public static readonly LayerRule Rule = new(
        Arr.create("TimeDistributed"), LayerSupport.Wrapper, "the wrapped layer per time step (--temporal-model)",
        Legal(i =>
            Refuse(i.Node, "TimeDistributed layers can only be converted when temporal_model=True (--temporal-model)")),
        Eval(Evaluate))
    {
        FallsBack = false,
        // A TimeDistributed without its wrapped layer stays as it is (and is refused as TimeDistributed).
        PerStep = Some<Func<KerasNode, KerasNode>>(n => Inner(n).IfNone(n)),
    };

    /// <summary>The layer a TimeDistributed wrapper applies: its class and config, with the wrapper's weights.</summary>
    public static Option<KerasNode> Inner(KerasNode wrapper) =>
        wrapper.Config.Get("layer").Map(layer =>
        {
            var cls = layer.TryGetProperty("class_name", out var cn) && cn.ValueKind == System.Text.Json.JsonValueKind.String ? cn.GetString()! : "";
            var cfg = layer.TryGetProperty("config", out var c) ? new LayerConfig(c) : LayerConfig.Empty;
            return wrapper with { ClassName = cls, Config = cfg };
        });

    /// <summary>The wrapped layer applied to every time slice (axis 0 of the sample); the first refusal stops it.</summary>
    static Either<Error, Value> Evaluate(KerasNode n, Value[] ins) =>
        from x in Single(n, ins)
        from inner in Inner(n).ToEither(() => Refuse(n, "missing the wrapped 'layer'"))
        from y in Slices(inner, x)
        select y;

    static Either<Error, Value> Slices(KerasNode inner, Value x)
    {
        var steps = x.Shape[0];
        var size = x.Data.Length / Math.Max(1, steps);
        return Enumerable.Range(0, steps)
            .Aggregate(Right<Error, Seq<Value>>(Seq<Value>()), (done, t) => done.Bind(slices =>
                LayerRegistry.Evaluate(inner, new[] { new Value(x.Shape[1..], x.Data.AsSpan(t * size, size).ToArray()) }).Map(slices.Add)))
            .Map(slices => new Value(new[] { steps }.Concat(slices.HeadOrNone().Map(v => v.Shape).IfNone(System.Array.Empty<int>())).ToArray(),
                                     slices.SelectMany(v => v.Data).ToArray()));
    }
}
