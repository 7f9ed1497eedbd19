using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Compiler.Lower;
using static LanguageExt.Prelude;
using Snn.Ops;
using Snn.Compiler.Saved;

namespace Snn;

/// <summary>How a model runs: the Keras reference evaluator, the converted network in rate mode, or spiking.</summary>
public enum Mode { Keras, Rate, Spiking }

/// <summary>
/// What MODEL names, loaded: a Keras model, converted on each run with the command line's converter options, or a saved
/// network (NET.snnz), whose conversion is fixed in the file and whose Keras model (for keras-mode baselines) is the one
/// embedded in it, imported on first use.
/// </summary>
public sealed class Loaded
{
    /// <summary>The Keras model, imported once on first use (a saved network's embedded one) or given.</summary>
    readonly Lazy<Either<Error, KerasModel>> keras;

    Loaded(string path, Lazy<Either<Error, KerasModel>> keras, Option<SavedNetwork> saved, Seq<Arr<int>> inputShapes, long maxMemory)
    {
        Path = path;
        this.keras = keras;
        Saved = saved;
        InputShapes = inputShapes;
        MaxMemory = maxMemory;
    }

    public static Loaded Of(string path, KerasModel model, long maxMemory = MemoryBudget.DefaultBytes) =>
        new(path, new(Right<Error, KerasModel>(model)), None, model.InputShapes, maxMemory);
    public static Loaded Of(string path, SavedNetwork saved, long maxMemory = MemoryBudget.DefaultBytes) =>
        new(path, new(() => Embedded(path, saved, maxMemory)), Some(saved), saved.InputShapes, maxMemory);

    /// <summary>
    /// Loads <paramref name="path"/>: a saved network (NET.snnz) or a Keras model file. The caller refuses converter
    /// options for a saved network first (its conversion is fixed in the file). <paramref name="maxMemory"/>: what the
    /// model and its data may make Snn allocate (<see cref="MaxMemory"/>).
    /// </summary>
    public static Either<Error, Loaded> Open(string path, long maxMemory = MemoryBudget.DefaultBytes) =>
        NetworkFile.IsSaved(path)
            ? NetworkFile.Read(path, maxMemory).Map(saved => Of(path, saved, maxMemory))
            : ModelFile.Import(path, maxMemory).Map(m => Of(path, m, maxMemory));

    /// <summary>
    /// The memory budget in bytes (<c>--max-memory</c>, <see cref="MemoryBudget"/>) for this model's data (checked
    /// before it is decoded) and for what its shapes imply (the reference evaluator's activations).
    /// </summary>
    public long MaxMemory { get; }

    /// <summary>The Keras reference evaluator's outputs on <paramref name="inputs"/>, within <see cref="MaxMemory"/>.</summary>
    public Either<Error, Seq<Tensor>> Reference(Seq<Tensor> inputs) => Keras().Bind(m => KerasEval.Run(m, inputs, MaxMemory));

    /// <summary>The Keras model a saved network embeds, imported (an error when it embeds none).</summary>
    static Either<Error, KerasModel> Embedded(string path, SavedNetwork saved, long maxMemory) =>
        saved.Source.Match(
            src => ModelFile.FromSource(src, $"{path}!source/{src.Name}", maxMemory),
            () => Left<Error, KerasModel>(Errors.Usage(
                $"the saved network '{path}' holds no Keras model, which keras mode, verify and export need; use --mode rate or spiking")));

    public string Path { get; }
    public Option<SavedNetwork> Saved { get; }

    /// <summary>The input scale the saved network was converted with (None for a Keras model, or when not recorded).</summary>
    public Option<float> InputScale => Saved.Bind(s => s.InputScale);

    /// <summary>
    /// The input scale data for this model is read with: <paramref name="given"/> (<c>--input-scale</c>), or the one a saved
    /// network was converted with when none is given. A given scale that contradicts the saved one is a usage error that
    /// says both.
    /// </summary>
    public Either<Error, Option<float>> InputScaleFor(Option<float> given) =>
        (given.Case, InputScale.Case) switch
        {
            (float g, float s) when Math.Abs(g - s) > 1e-4f * Math.Max(Math.Abs(g), Math.Abs(s)) => Errors.Usage(
                $"--input-scale {DataFiles.ShowScale(g)} contradicts the input scale {DataFiles.ShowScale(s)} that the saved network '{Path}' " +
                $"was converted with; drop --input-scale " +
                "to use the saved one, or convert the Keras model again with the scale you want"),
            (float g, _) => Some(g),
            (_, float s) => Some(s),
            _ => Option<float>.None,
        };

    /// <summary>The model's per-sample input shapes (−1 where any size goes).</summary>
    public Seq<Arr<int>> InputShapes { get; }

    /// <summary>The Keras model: the file itself, or the one a saved network embeds (an error when it embeds none).</summary>
    public Either<Error, KerasModel> Keras() => keras.Value;

    /// <summary>The Keras model's name.</summary>
    public string ModelName => Saved.Match(s => s.Model, () => Keras().Match(m => m.Name, _ => ""));

    /// <summary>The model file's name (for a saved network, the embedded model's).</summary>
    public string SourceName => Saved.Bind(s => s.Source).Match(s => s.Name, () => System.IO.Path.GetFileName(Path));
}

/// <summary>
/// A converted network ready to simulate (<see cref="Program"/> with <see cref="Functions"/>, the code of its function
/// nodes): from a Keras model with the command line's options, or from a saved network (which has no function nodes).
/// </summary>
public sealed record Converted(Network Network, OpProgram Lowered, OpProgram Program, Seq<LayerScale> Scales, NodeFunctions Functions)
{
    public static Converted Of(Compiled c) => new(c.Network, c.Lowered, c.Program, c.Scales, c.Functions);

    /// <summary>A saved network in spiking mode (as saved) or in its rate form, lowered and optimized.</summary>
    public static Either<Error, Converted> Of(SavedNetwork saved, bool spiking)
    {
        var network = saved.ForMode(spiking);
        return Compile.Back(saved.Options.Lower, saved.Options.Optimize, network).Map(p => new Converted(network, p.Lowered, p.Program, saved.Scales, NodeFunctions.Empty));
    }
}
