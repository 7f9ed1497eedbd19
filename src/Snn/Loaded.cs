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
    Option<Either<Error, KerasModel>> keras;

    Loaded(string path, Option<KerasModel> keras, Option<SavedNetwork> saved, Seq<Arr<int>> inputShapes)
    {
        Path = path;
        this.keras = keras.Map(Right<Error, KerasModel>);
        Saved = saved;
        InputShapes = inputShapes;
    }

    public static Loaded Of(string path, KerasModel model) => new(path, Some(model), None, model.InputShapes);
    public static Loaded Of(string path, SavedNetwork saved) => new(path, None, Some(saved), saved.InputShapes);

    public string Path { get; }
    public Option<SavedNetwork> Saved { get; }

    /// <summary>The model's per-sample input shapes (−1 where any size goes).</summary>
    public Seq<Arr<int>> InputShapes { get; }

    /// <summary>The Keras model: the file itself, or the one a saved network embeds (an error when it embeds none).</summary>
    public Either<Error, KerasModel> Keras()
    {
        if (keras.TryGet(out var k)) return k;
        var saved = Saved.IfNone(() => throw new InvalidOperationException("neither a Keras model nor a saved network"));
        var result = saved.Source.Match(
            src => ModelFile.FromSource(src, $"{Path}!source/{src.Name}"),
            () => Left<Error, KerasModel>(Errors.Usage(
                $"the saved network '{Path}' holds no Keras model, which keras mode, verify and export need; use --mode rate or spiking")));
        keras = Some(result);
        return result;
    }

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
