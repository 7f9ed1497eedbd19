using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// A function of the whole input vector of one sample (NengoDL's TensorNode analogue). <see cref="Apply"/> is total: it
/// writes <c>output</c> and returns unit, or returns the reason it could not (the run that called it then fails with it).
/// </summary>
public interface INodeFunction
{
    /// <summary>What the function is, in words (error messages name it).</summary>
    string Name { get; }

    Fin<Unit> Apply(ReadOnlySpan<float> input, Span<float> output);
}

/// <summary>
/// The code that function nodes run, by name: the IR (the network's <c>FunctionNode</c>, the program's
/// <see cref="Ops.FunctionOp"/>) holds only a function's name, and this table, which the compile result carries beside its
/// program, gives the function. Whoever runs a program hands the table to the runtime with it. Immutable:
/// <see cref="Add"/> returns a new table.
/// </summary>
public sealed record NodeFunctions(Map<string, INodeFunction> Functions)
{
    public static readonly NodeFunctions Empty = new(Map<string, INodeFunction>());

    /// <summary>The table with <paramref name="function"/> under <paramref name="name"/> (replacing one there).</summary>
    public NodeFunctions Add(string name, INodeFunction function) => new(Functions.AddOrUpdate(name, function));

    /// <summary>The function called <paramref name="name"/>, or the error that the table has none.</summary>
    public Fin<INodeFunction> Find(string name) =>
        Functions.Find(name).Match(
            Some: f => FinSucc(f),
            None: () => FinFail<INodeFunction>(Errors.FunctionNode(name,
                "no function of this name was given with the program (pass its NodeFunctions, such as the compile result's Functions, to the simulator)")));
}
