using LanguageExt;
using LanguageExt.Common;

namespace Snn;

/// <summary>
/// Every error the compiler, runtime and CLI can report, as data: <c>Error.New(code, message)</c>.
/// Codes are grouped by what went wrong, and the group decides the CLI exit code:
/// 1xxx usage (exit 2), 2xxx model file unreadable (exit 3), 3xxx model unconvertible (exit 3),
/// 4xxx data file (exit 4), 5xxx check failed (exit 1), 9xxx internal invariant broken (exit 3).
/// Layer and class names are put in <see cref="Names.Printable"/> (the CLI escapes whatever else reaches its output).
/// </summary>
public static class Errors
{
    // ---- usage (exit 2)
    public const int UsageCode = 1000;
    public static Error Usage(string message) => Error.New(UsageCode, message);

    /// <summary>Negative spikes (SignedIF) asked for together with reset to zero; <paramref name="where"/> names the layer, if known.</summary>
    public static Error SignedNeedsSubtract(string where) => Usage(
        $"{where}integrate-and-fire with negative spikes (--neuron signed, SignedIF) takes spikes back from the voltage left after a spike, " +
        "so it needs reset by subtraction: drop --reset zero, or use --neuron if (swap to IF) for integrate-and-fire without negative spikes");

    // ---- model file (exit 3)
    public const int ModelFileCode = 2000;
    public const int ModelJsonCode = 2001;
    public const int WeightsCode = 2002;
    public const int Hdf5Code = 2010;
    public const int ZipCode = 2020;
    public static Error ModelFile(string path, string message) => Error.New(ModelFileCode, $"Cannot read model '{path}': {message}");
    public static Error ModelJson(string path, string message) => Error.New(ModelJsonCode, $"Model '{path}' has an invalid configuration: {message}");
    public static Error Weights(string path, string message) => Error.New(WeightsCode, $"Model '{path}' has unusable weights: {message}");
    /// <summary>A malformed or unsupported HDF5 file; names the object path and the byte offset.</summary>
    public static Error Hdf5(string file, string objectPath, long offset, string message) =>
        Error.New(Hdf5Code, $"HDF5 file '{file}': {message} (object '{objectPath}', byte offset {offset})");
    public static Error Zip(string file, string message) => Error.New(ZipCode, $"Keras archive '{file}': {message}");
    public const int SavedNetworkCode = 2030;
    /// <summary>A saved network (NET.snnz) that is damaged, inconsistent or from a newer format version.</summary>
    public static Error SavedNetwork(string file, string message) => Error.New(SavedNetworkCode, $"Cannot read saved network '{file}': {message}");

    // ---- unconvertible (exit 3)
    public const int UnsupportedLayerCode = 3000;
    public const int UnsupportedArgCode = 3001;
    public const int ShapeCode = 3002;
    public const int GraphCode = 3003;
    public const int SharedWeightsCode = 3004;
    public const int UnexportableCode = 3020;
    public const int NotExportableCode = 3005;
    public const int UnsaveableCode = 3006;
    public const int ManyCode = 3100;
    /// <summary>A function node's code failed, or was not given with the program (at run time).</summary>
    public const int FunctionNodeCode = 3007;
    public static Error FunctionNode(string function, string message) => Error.New(FunctionNodeCode, $"Function node '{Names.Printable(function)}': {message}");
    public const int WriteBackCode = 3009;
    /// <summary>New weights that cannot be written into a Keras model file (unknown layer or variable, wrong shape, storage).</summary>
    public static Error WriteBack(string path, string message) => Error.New(WriteBackCode, $"Cannot write weights into model '{path}': {message}");
    public const int MemoryCode = 3008;
    /// <summary>What a model's shapes imply (<paramref name="what"/>) needs more memory than the budget (<c>--max-memory</c>).</summary>
    public static Error Memory(string what, long needed, long budget) =>
        Error.New(MemoryCode, $"{what} needs {MemoryBudget.Over(needed, budget)}");
    public static Error UnsupportedLayer(string layer, string className, string reason) =>
        Error.New(UnsupportedLayerCode, $"Layer '{Names.Printable(layer)}' ({Names.Printable(className)}): {reason}");
    public static Error UnsupportedArg(string layer, string arg, string value, string supported) =>
        Error.New(UnsupportedArgCode, $"Layer '{Names.Printable(layer)}': {arg} has value {value} != {supported}, which is not supported");
    public static Error Shape(string where, string message) => Error.New(ShapeCode, $"Shape mismatch at '{Names.Printable(where)}': {message}");
    /// <summary>A network (or part of one) that the saved-network format cannot hold.</summary>
    public static Error Unsaveable(string what, string reason) => Error.New(UnsaveableCode, $"Cannot save {what}: {reason}");
    public static Error Graph(string message) => Error.New(GraphCode, $"Invalid model graph: {message}");
    public static Error SharedWeights(string layer) =>
        Error.New(SharedWeightsCode, $"Multiple applications of layer '{Names.Printable(layer)}' detected; this is not supported unless split_shared_weights is set (--split-shared-weights)");

    /// <summary>A converted network object that an export format cannot express (yet).</summary>
    public static Error Unexportable(string format, string what, string reason) =>
        Error.New(UnexportableCode, $"cannot export {what} to {format} yet: {reason}");
    public const int UntrainableCode = 3021;
    /// <summary>A network object whose gradient training cannot form (yet), e.g. a neuron type without a differentiable rate.</summary>
    public static Error Untrainable(string what, string reason) =>
        Error.New(UntrainableCode, $"cannot compute gradients of {what}: {reason}");
    /// <summary>A layer that an export format cannot represent (the network itself converts and runs).</summary>
    public static Error NotExportable(string format, string layer, string className, string reason) =>
        Error.New(NotExportableCode, $"Layer '{Names.Printable(layer)}' ({Names.Printable(className)}) cannot be exported to {format}: {reason}");

    /// <summary>Folds several errors (e.g. from legalize) into one error listing all of them.</summary>
    public static Error Many(Seq<Error> errors) =>
        errors.Count == 1
            ? errors.Head
            : Error.New(errors.ForAll(e => e.Code / 1000 == errors.Head.Code / 1000) ? errors.Head.Code / 1000 * 1000 + 100 : ManyCode,
                $"{errors.Count} problems:\n" + string.Join("\n", errors.Map(e => "  - " + e.Message)));

    // ---- data (exit 4)
    public const int DataCode = 4000;
    public static Error Data(string path, string message) => Error.New(DataCode, $"Cannot read data '{path}': {message}");
    public const int LabelsCode = 4001;
    /// <summary>Labels that cannot belong to the model's outputs (classes outside 0..C-1).</summary>
    public static Error Labels(string message) => Error.New(LabelsCode, $"Labels do not fit the model: {message}");
    public const int WriteCode = 4010;
    /// <summary>An output (<paramref name="what"/>: "the report", "outputs", ...) that could not be written to <paramref name="path"/>.</summary>
    public static Error Write(string path, string what, string reason) => Error.New(WriteCode, $"Cannot write {what} to '{path}': {reason}");

    // ---- checks (exit 1)
    public const int VerifyCode = 5000;
    public static Error Verify(string message) => Error.New(VerifyCode, message);

    // ---- internal invariants (exit 3): a verifier found a broken IR
    public const int InvariantCode = 9000;
    public static Error Invariant(string stage, string message) => Error.New(InvariantCode, $"{stage} verifier: {message}");
    public const int Hdf5WriteCode = 9010;
    /// <summary>An HDF5 tree the writer cannot write (invalid names or strings, shape/value mismatch, oversized attribute).</summary>
    public static Error Hdf5Write(string message) => Error.New(Hdf5WriteCode, $"Cannot write HDF5: {message}");

    /// <summary>The CLI exit code for an error, from its code group.</summary>
    public static int ExitCode(Error e) => (e.Code / 1000) switch
    {
        1 => 2,
        2 or 3 or 9 => 3,
        4 => 4,
        5 => 1,
        _ => 3,
    };
}
