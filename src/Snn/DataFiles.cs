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
    /// The arrays together may take <paramref name="maxMemory"/> bytes (<see cref="Read"/>).
    /// </summary>
    public static Either<Error, Seq<Tensor>> Inputs(Seq<string> paths, Seq<Arr<int>> shapes, Option<float> scale, long maxMemory = MemoryBudget.DefaultBytes) =>
        from arrays in Read(paths, shapes, None, scale, maxMemory)
        from inputs in Fitted(paths, shapes, arrays, scale)
        select inputs;

    /// <summary>
    /// The arrays of <paramref name="paths"/> for inputs of <paramref name="shapes"/>, each one's declared shape checked
    /// against its input (<see cref="Misfit"/>) and against what is left of <paramref name="maxMemory"/> before it is
    /// decoded or inflated: the arrays read so far, as float32 (twice when scaled), count against it.
    /// </summary>
    static Either<Error, Seq<DataArray>> Read(Seq<string> paths, Seq<Arr<int>> shapes, Option<string> layout, Option<float> scale, long maxMemory)
    {
        var arrays = new List<DataArray>();
        var taken = 0L;
        foreach (var (path, shape) in paths.Zip(shapes))
        {
            var limits = new DataLimits(maxMemory, dims => Misfit(path, dims, shape, layout).ToEither(unit).Swap(), taken);
            var read = DataFile.ReadArray(path, limits);
            if (read.IsLeft) return read.Map(_ => Seq<DataArray>());
            var array = read.IfLeft(() => null!);
            arrays.Add(array);
            taken += (long)array.Values.Length * sizeof(float) * (scale.IsSome ? 2 : 1);
        }
        return arrays.ToSeq().Strict();
    }

    /// <summary>Arrays read from <paramref name="paths"/>, fitted to the model's inputs, checked for one batch size and scaled.</summary>
    static Either<Error, Seq<Tensor>> Fitted(Seq<string> paths, Seq<Arr<int>> shapes, Seq<DataArray> arrays, Option<float> scale,
        Option<string> layout = default) =>
        from tensors in paths.Zip(shapes).Zip(arrays).Map(p => FitLayout(p.Item1.Item1, p.Item2.Values, p.Item1.Item2, layout)).Strict().Sequence()
        from batches in SameBatch(tensors.Strict(), paths)
        select scale.Match(s => batches.Map(t => t.Map(v => v * s)).Strict(), () => batches);

    /// <summary>
    /// The inputs for <paramref name="model"/> (<paramref name="paths"/> in its input order), scaled as
    /// <see cref="Loaded.InputScaleFor"/> decides: by <paramref name="scale"/> (<c>--input-scale</c>), or by the scale a saved
    /// network was converted with. uint8 data with no scale at all is read as it is, with a warning to
    /// <paramref name="warn"/> naming <c>--input-scale 1/255</c> (models are usually trained on pixels / 255). Each
    /// array's declared shape is checked against the model's input, and the arrays against the model's memory budget
    /// (<see cref="Loaded.MaxMemory"/>), before they are decoded.
    /// </summary>
    public static Either<Error, Seq<Tensor>> Inputs(Loaded model, Seq<string> paths, Option<float> scale, Action<string> warn) =>
        from resolved in model.InputScaleFor(scale)
        from arrays in Read(paths, model.InputShapes, model.Saved.Bind(s => s.InputLayout), resolved, model.MaxMemory)
        from _ in WarnUnscaled(arrays, paths, resolved, warn)
        from inputs in Fitted(paths, model.InputShapes, arrays, resolved, model.Saved.Bind(s => s.InputLayout))
        select inputs;

    /// <summary>
    /// <see cref="Fit"/>, and when the array does not fit but is the model's input in the other layout (channels last for a
    /// network converted for channels first, or the reverse), an error that says so and gives the transposition.
    /// </summary>
    static Either<Error, Tensor> FitLayout(string path, Tensor t, Arr<int> shape, Option<string> layout) =>
        Misfit(path, t.Shape.ToArray(), shape, layout).Match(e => Left<Error, Tensor>(e), () => Fit(path, t, shape));

    /// <summary>
    /// Why an array of shape <paramref name="dims"/> (as decoded, or as its file declares it) cannot be the input of
    /// per-sample shape <paramref name="shape"/> (see <see cref="Fit"/>); with <paramref name="layout"/> (a saved network's),
    /// an array in the other layout is told the transposition. None when it fits.
    /// </summary>
    static Option<Error> Misfit(string path, int[] dims, Arr<int> shape, Option<string> layout)
    {
        if (dims.Length == 0) return Errors.Data(path, "a scalar is not a batch of samples");
        var sample = dims.Skip(1).ToArr();
        var fits = sample.Count == shape.Count && shape.Zip(sample).ForAll(p => p.Item1 < 0 || p.Item1 == p.Item2);
        if (fits || (shape.ForAll(d => d > 0) && sample.Filter(d => d != 1).SequenceEqual(shape.Filter(d => d != 1)))) return None;
        var misfit = Errors.Data(path, $"array of shape {Shapes.Show(dims)} does not fit the model input (N, {string.Join(", ", shape)})");
        if (!layout.TryGet(out var l) || shape.Count < 2 || dims.Length != shape.Count + 1) return misfit;
        var first = l == "channels_first";
        var other = first ? shape.Skip(1).Append(shape[0]).ToArray() : shape.Skip(shape.Count - 1).Concat(shape.Take(shape.Count - 1)).ToArray();
        if (!sample.SequenceEqual(other)) return misfit;
        var r = shape.Count;
        var axes = first ? new[] { 0, r }.Concat(Enumerable.Range(1, r - 1)) : new[] { 0 }.Concat(Enumerable.Range(2, r - 1)).Append(1);
        return Errors.Data(path, $"array of shape {Shapes.Show(dims)} is channels-{(first ? "last" : "first")}, but the network was converted for " +
                                 $"{l.Replace('_', '-')} input (N, {string.Join(", ", shape)}); transpose it, e.g. numpy.transpose(x, ({string.Join(", ", axes)}))");
    }

    /// <summary>Warns about uint8 arrays read with no input scale.</summary>
    public static Either<Error, Unit> WarnUnscaled(Seq<DataArray> arrays, Seq<string> paths, Option<float> scale, Action<string> warn)
    {
        if (scale.IsSome) return unit;
        foreach (var (array, path) in arrays.Zip(paths).Where(p => p.Item1.Uint8))
            warn($"'{path}' holds uint8 values ({Range(array.Values)}) and no input scale was given, so the model sees them unscaled; " +
                 "if the model was trained on pixels / 255, add --input-scale 1/255");
        return unit;
    }

    static string Range(Tensor t)
    {
        var span = t.Span;
        return span.Length == 0 ? "empty" : $"{System.Numerics.Tensors.TensorPrimitives.Min(span)}..{System.Numerics.Tensors.TensorPrimitives.Max(span)}";
    }

    /// <summary>An input scale as <c>--input-scale</c> takes it: 1/255 when it is one over a whole number, else the number.</summary>
    public static string ScaleOption(float s)
    {
        var inverse = 1.0 / s;
        var n = Math.Round(inverse);
        return n >= 2 && Math.Abs(inverse - n) < 1e-4 * n ? $"1/{n:0}" : s.ToString("G7", System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>An input scale for messages: 0.003921569 (1/255) when it is one over a whole number.</summary>
    public static string ShowScale(float s)
    {
        var text = s.ToString("G7", System.Globalization.CultureInfo.InvariantCulture);
        return ScaleOption(s) is var option && option != text ? $"{text} ({option})" : text;
    }

    /// <summary>One array read from <paramref name="path"/> and fitted to a model input of per-sample shape <paramref name="shape"/>.</summary>
    public static Either<Error, Tensor> Input(string path, Arr<int> shape, long maxMemory = MemoryBudget.DefaultBytes) =>
        Read(Seq1(path), Seq1(shape), None, None, maxMemory).Bind(a => Fit(path, a.Head.Values, shape));

    /// <summary>
    /// The data must be (N, ...model input shape). Unit dimensions may differ (e.g. IDX images (N, 28, 28)
    /// for a (28, 28, 1) input), since adding or dropping them does not move any value.
    /// </summary>
    public static Either<Error, Tensor> Fit(string path, Tensor t, Arr<int> shape)
    {
        if (Misfit(path, t.Shape.ToArray(), shape, None).TryGet(out var error)) return error;
        var sample = t.Shape.Skip(1).ToArr();
        return sample.Count == shape.Count && shape.Zip(sample).ForAll(p => p.Item1 < 0 || p.Item1 == p.Item2)
            ? t
            : t.Reshape(new[] { t.Shape[0] }.Concat(shape).ToArray());
    }

    /// <summary>
    /// The calibration data <paramref name="path"/> for a model whose first input has per-sample shape
    /// <paramref name="shape"/>, with its stored element type, its declared shape checked against the input and the
    /// budget before it is decoded; not yet fitted (see <see cref="Fit"/>).
    /// </summary>
    public static Either<Error, DataArray> ReadFor(string path, Arr<int> shape, long maxMemory) =>
        Read(Seq1(path), Seq1(shape), None, None, maxMemory).Map(a => a.Head);

    static Either<Error, Seq<Tensor>> SameBatch(Seq<Tensor> ts, Seq<string> paths) =>
        ts.ForAll(t => t.Shape[0] == ts.Head.Shape[0]) && ts.Head.Shape[0] > 0
            ? ts : Errors.Data(paths[0], "input arrays must have the same, non-zero number of samples");

    /// <summary>Class labels for <paramref name="n"/> samples, from (N,) classes or (N, C) one-hot.</summary>
    public static Either<Error, int[]> Labels(string path, int n, long maxMemory = MemoryBudget.DefaultBytes) =>
        from t in DataFile.ReadArray(path, new DataLimits(maxMemory)).Map(a => a.Values)
        from labels in Metrics.Labels(t, n, path)
        select labels;

    /// <summary>
    /// Inputs of ones, batch 2 (NengoDL's verify default). An input shape with an unknown axis, or with more values per
    /// sample than any network may hold (the legalizer's <see cref="Compiler.Legalize.Legalize.MaxElements"/>), is a
    /// model error before anything is allocated, and so are inputs past <paramref name="maxMemory"/> bytes (the shapes
    /// come from the model file).
    /// </summary>
    public static Either<Error, Seq<Tensor>> Ones(Seq<Arr<int>> shapes, long maxMemory = MemoryBudget.DefaultBytes) =>
        from _ in shapes.Map(s =>
                s.Exists(d => d < 0)
                    ? Left<Error, Unit>(Errors.Shape("input", $"input shape {Shapes.Show(s)} is not fully specified, so it has no inputs of ones (give --input)"))
                    : s.Fold(1L, (p, d) => Math.Min(p * d, long.MaxValue / 4)) > Compiler.Legalize.Legalize.MaxElements
                        ? Left<Error, Unit>(Errors.Shape("input", $"input shape {Shapes.Show(s)} has more than {Compiler.Legalize.Legalize.MaxElements} elements per sample"))
                        : Right<Error, Unit>(unit))
            .Sequence()
        let bytes = shapes.Fold(0L, (acc, s) => MemoryBudget.Add(acc, MemoryBudget.Bytes(s.Prepend(2), sizeof(float)).IfNone(long.MaxValue)))
        from ones in bytes <= maxMemory
            ? Right<Error, Seq<Tensor>>(shapes.Map(s => Tensor.Filled(new[] { 2 }.Concat(s).ToArray(), 1f)).Strict())
            : Errors.Memory($"Inputs of ones (two samples of the model's input shape{(shapes.Count == 1 ? "" : "s")} {string.Join(", ", shapes.Map(Shapes.Show))})", bytes, maxMemory)
        select ones;

    /// <summary>
    /// Writes output i to DIR/output_i.npy (float32), creating the folder: all of them or, on a failure, none (see
    /// <see cref="OutputFile"/>; a link or a special file planted under one of the names is refused).
    /// </summary>
    public static Either<Error, Unit> WriteOutputs(string dir, Seq<Tensor> outputs) =>
        OutputFile.WriteAll(outputs.Select((t, i) => Npy.Part(Path.Combine(dir, $"output_{i}.npy"), t, "the outputs")).ToSeq().Strict());
}
