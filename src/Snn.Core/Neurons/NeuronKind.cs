using LanguageExt;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// One entry of <see cref="NeuronTypes.All"/>: the tag the saved-network format writes a neuron type under, the fields it
/// reads back (in order, each checked as it is read) and how they make the type again. A type that the options and the
/// command line accept by its tag (<c>--swap relu:TAG</c>) has a <see cref="Named"/> value.
/// </summary>
/// <param name="Tag">The saved-network tag, and the name options accept.</param>
/// <param name="Fields">The saved fields, in the order <see cref="NeuronType.Saved"/> writes them.</param>
/// <param name="Read">The type from the fields read, or why they make none.</param>
public sealed record NeuronKind(string Tag, Seq<SavedField> Fields, Func<NeuronFields, Either<string, NeuronType>> Read)
{
    /// <summary>The type options and the command line mean by <see cref="Tag"/>; None when it cannot be chosen by name.</summary>
    public Option<NeuronType> Named { get; init; }

    /// <summary>The Python classes the Nengo export defines for this kind (Nengo lacks them), in the order the script defines them.</summary>
    public Seq<NengoClass> NengoClasses { get; init; }
}

/// <summary>How a saved field is read and checked.</summary>
public enum FieldKind
{
    /// <summary>A finite float.</summary>
    Float,
    /// <summary>A finite float above zero.</summary>
    Positive,
    /// <summary>A finite float, zero or above.</summary>
    NonNegative,
    /// <summary>A float, infinities allowed (no clip).</summary>
    FloatOrInfinity,
    Bool,
    /// <summary>A tensor (per-neuron values).</summary>
    Tensor,
    /// <summary>A nested neuron type, tagged.</summary>
    Neuron,
}

/// <summary>
/// A saved field: its key, how it is read, and (for a nested neuron) why a value read is refused, checked right after
/// reading it.
/// </summary>
public sealed record SavedField(string Key, FieldKind Kind)
{
    public Func<NeuronType, Option<string>>? Refuses { get; init; }
}

/// <summary>A parameter value as the formats write it.</summary>
public abstract record NeuronValue
{
    public sealed record Number(float Value) : NeuronValue;
    public sealed record Flag(bool Value) : NeuronValue;
    public sealed record Text(string Value) : NeuronValue;
    /// <summary>One value for every neuron, or one per neuron.</summary>
    public sealed record PerNeuron(Tensor Value) : NeuronValue;
    /// <summary>A nested neuron type (RegularSpiking's base).</summary>
    public sealed record Neuron(NeuronType Value) : NeuronValue;
    /// <summary>The ensemble's initial voltages (the Nengo export's <c>initial_state</c>; zeros when the ensemble has none).</summary>
    public sealed record InitialVoltage : NeuronValue;
}

/// <summary>A named parameter value.</summary>
public sealed record NeuronField(string Key, NeuronValue Value)
{
    public static NeuronField Number(string key, float value) => new(key, new NeuronValue.Number(value));
    public static NeuronField Flag(string key, bool value) => new(key, new NeuronValue.Flag(value));
    public static NeuronField Text(string key, string value) => new(key, new NeuronValue.Text(value));
    public static NeuronField PerNeuron(string key, Tensor value) => new(key, new NeuronValue.PerNeuron(value));
    public static NeuronField Neuron(string key, NeuronType value) => new(key, new NeuronValue.Neuron(value));
    public static readonly NeuronField InitialState = new("initial_state", new NeuronValue.InitialVoltage());
}

/// <summary>The fields a reader read for a <see cref="NeuronKind"/>, by key, each of the kind its <see cref="SavedField"/> names.</summary>
public sealed record NeuronFields(Map<string, NeuronValue> Values)
{
    public float Float(string key) => ((NeuronValue.Number)Values[key]).Value;
    public bool Bool(string key) => ((NeuronValue.Flag)Values[key]).Value;
    public Tensor Tensor(string key) => ((NeuronValue.PerNeuron)Values[key]).Value;
    public NeuronType Neuron(string key) => ((NeuronValue.Neuron)Values[key]).Value;
}

/// <summary>Python source of a class the Nengo export defines (a neuron type Nengo lacks).</summary>
public sealed record NengoClass(string Name, string Source);

/// <summary>
/// A Nengo neuron type expression: <c>Class(key=value, ...)</c>, and the classes the script must define for it (in order).
/// </summary>
public sealed record NengoNeuron(string Class, Seq<NeuronField> Arguments)
{
    public Seq<NengoClass> Defines { get; init; }
}

/// <summary>
/// A NIR neuron: its primitive (IF, LIF), reset mode, whether the current is clipped at 0, the exact discrete step in
/// words, fields filled with one value for every neuron, and extra metadata.
/// </summary>
public sealed record NirNeuron(string Type, string Reset, bool ClipCurrent, string Step, Seq<(string Key, float Value)> Fields)
{
    public Seq<(string Key, double Value)> Metadata { get; init; }
}
