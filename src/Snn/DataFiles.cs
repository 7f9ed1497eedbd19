using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>
/// Data for a model: input arrays read from .npy, .npz or IDX files and fitted to the model's inputs, labels, inputs of
/// ones, and outputs written as .npy.
/// </summary>
public static class DataFiles
{
    /// <summary>
    /// One array per model input (<paramref name="paths"/> in the model's input order), each fitted to its input
    /// (<see cref="Fit"/>), all with the same, non-zero number of samples, and scaled by <paramref name="scale"/> when given.
    /// </summary>
    public static Either<Error, Seq<Tensor>> Inputs(Seq<string> paths, Seq<Arr<int>> shapes, Option<float> scale) =>
        from tensors in paths.Zip(shapes).Map(p => Input(p.Item1, p.Item2)).Strict().Sequence()
        from batches in SameBatch(tensors.Strict(), paths)
        select scale.Match(s => batches.Map(t => t.Map(v => v * s)).Strict(), () => batches);

    /// <summary>One array read from <paramref name="path"/> and fitted to a model input of per-sample shape <paramref name="shape"/>.</summary>
    public static Either<Error, Tensor> Input(string path, Arr<int> shape) =>
        DataFile.Read(path).Bind(t => Fit(path, t, shape));

    /// <summary>
    /// The data must be (N, ...model input shape). Unit dimensions may differ (e.g. IDX images (N, 28, 28)
    /// for a (28, 28, 1) input), since adding or dropping them does not move any value.
    /// </summary>
    public static Either<Error, Tensor> Fit(string path, Tensor t, Arr<int> shape)
    {
        if (t.Rank == 0) return Errors.Data(path, "a scalar is not a batch of samples");
        var sample = t.Shape.Skip(1).ToArr();
        var fits = sample.Count == shape.Count && shape.Zip(sample).ForAll(p => p.Item1 < 0 || p.Item1 == p.Item2);
        if (fits) return t;
        if (shape.ForAll(d => d > 0) && sample.Filter(d => d != 1).SequenceEqual(shape.Filter(d => d != 1)))
            return t.Reshape(new[] { t.Shape[0] }.Concat(shape).ToArray());
        return Errors.Data(path, $"array of shape {Shapes.Show(t.Shape)} does not fit the model input (N, {string.Join(", ", shape)})");
    }

    static Either<Error, Seq<Tensor>> SameBatch(Seq<Tensor> ts, Seq<string> paths) =>
        ts.ForAll(t => t.Shape[0] == ts.Head.Shape[0]) && ts.Head.Shape[0] > 0
            ? ts : Errors.Data(paths[0], "input arrays must have the same, non-zero number of samples");

    /// <summary>Class labels for <paramref name="n"/> samples, from (N,) classes or (N, C) one-hot.</summary>
    public static Either<Error, int[]> Labels(string path, int n) =>
        from t in DataFile.Read(path)
        from labels in Metrics.Labels(t, n, path)
        select labels;

    /// <summary>Inputs of ones, batch 2 (NengoDL's verify default).</summary>
    public static Seq<Tensor> Ones(Seq<Arr<int>> shapes) =>
        shapes.Map(s => Tensor.Filled(new[] { 2 }.Concat(s).ToArray(), 1f)).Strict();

    /// <summary>Writes output i to DIR/output_i.npy (float32), creating the folder.</summary>
    public static Either<Error, Unit> WriteOutputs(string dir, Seq<Tensor> outputs)
    {
        try
        {
            Directory.CreateDirectory(dir);
            for (var i = 0; i < outputs.Count; i++) Npy.WriteFloat32(Path.Combine(dir, $"output_{i}.npy"), outputs[i]);
            return unit;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errors.Data(dir, $"cannot write outputs: {e.Message}");
        }
    }
}
