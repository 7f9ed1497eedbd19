using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// The registry of neuron types: one entry per saved-network tag, in the order options list their names and the Nengo
/// export defines its classes. Adding a type is one file in <c>src/Snn.Core/Neurons</c> and one line here (README "How to extend").
/// </summary>
public static class NeuronTypes
{
    public static readonly Seq<NeuronKind> All = Seq(
        RectifiedLinear.Entry,
        SpikingRectifiedLinear.Entry,
        IntegrateAndFire.Entry,
        IntegrateAndFire.SignedEntry,
        LeakyRectifiedLinear.Entry,
        SpikingLeakyRectifiedLinear.Entry,
        Lif.Entry,
        LifRate.Entry,
        Sigmoid.Entry,
        Tanh.Entry,
        RegularSpiking.Entry);

    /// <summary>The entry saved under <paramref name="tag"/>.</summary>
    public static Option<NeuronKind> ByTag(string tag) => All.Find(k => k.Tag == tag);

    /// <summary>The names options and the command line accept (<c>--swap</c> targets), in registry order.</summary>
    public static Seq<string> Names => All.Filter(k => k.Named.IsSome).Map(k => k.Tag).Strict();

    /// <summary>The type options mean by <paramref name="name"/>.</summary>
    public static Option<NeuronType> ByName(string name) => All.Find(k => k.Tag == name).Bind(k => k.Named);

    /// <summary>Whether the saved-network format can write <paramref name="neuron"/> (its kind is registered).</summary>
    public static bool Registered(NeuronType neuron) => neuron.Kind.Exists(k => All.Exists(x => ReferenceEquals(x, k)));

    /// <summary>The Python classes the Nengo export may define for neuron types, each once, in the order it defines them.</summary>
    public static Seq<NengoClass> NengoClasses => All.Bind(k => k.NengoClasses).Distinct().Strict();
}
