using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using static LanguageExt.Prelude;

namespace Snn;

/// <summary>Accuracy and label handling.</summary>
public static class Metrics
{
    /// <summary>Integer labels from (N,) classes or (N, C) one-hot.</summary>
    public static Either<Error, int[]> Labels(Tensor t, int n, string path)
    {
        if (t.Rank == 0 || t.Shape[0] != n) return Errors.Data(path, $"labels of shape {Shapes.Show(t.Shape)} do not match {n} samples");
        if (t.Rank == 1) return Enumerable.Range(0, n).Select(i => (int)t[i]).ToArray();
        if (t.Rank == 2)
        {
            var c = t.Shape[1];
            return Enumerable.Range(0, n).Select(i => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(t.Span.Slice(i * c, c))).ToArray();
        }
        return Errors.Data(path, $"labels must be (N,) classes or (N, C) one-hot, got {Shapes.Show(t.Shape)}");
    }

    /// <summary>
    /// The classes a model's first output distinguishes per sample (what accuracy's argmax ranges over): from the Keras
    /// reference evaluator on one sample, or a saved network's output probe. None when it cannot be told cheaply (a
    /// saved temporal model, or a model the evaluator cannot run); the run itself then reports what fails.
    /// </summary>
    public static Option<int> Classes(Loaded model, Seq<Tensor> inputs)
    {
        if (model.Saved.Exists(s => s.Legalize.Temporal) || inputs.IsEmpty || inputs.Head.Shape[0] == 0) return None;
        return model.Saved.Match(
            s => Classes(s.Network),
            () => model.Reference(inputs.Map(t => t.Rows(0, 1)).Strict()).Map(o => o.Head.Length).ToOption());
    }

    /// <summary>The values per sample of a converted network's first output (its classes), from its probe.</summary>
    public static Option<int> Classes(Snn.Compiler.Convert.Network network) =>
        network.Probes.Find(p => p.Output == 0).Map(p => Shapes.Product(p.Shape));

    /// <summary>
    /// Labels must name one of the model's output classes (0..C-1); labels outside that range are a data error that says
    /// the range, instead of an accuracy of 0.
    /// </summary>
    public static Either<Error, Unit> LabelsFit(Loaded model, Seq<Tensor> inputs, int[] labels) =>
        Classes(model, inputs).Match(
            classes =>
            {
                if (labels.Length == 0) return Right<Error, Unit>(unit);
                var (min, max) = (labels.Min(), labels.Max());
                return min >= 0 && max < classes
                    ? Right<Error, Unit>(unit)
                    : Left<Error, Unit>(Errors.Labels(
                        $"they hold classes {min}..{max}, but the model has {classes} outputs (classes 0..{classes - 1}); " +
                        "give the labels that belong to this data (class indices from 0, or one-hot rows), e.g. subtract the first class"));
            },
            () => Right<Error, Unit>(unit));

    /// <summary>Each row's index of its largest value (the predicted class).</summary>
    public static int[] Argmax(Tensor output)
    {
        var n = output.Shape[0];
        var c = n == 0 ? 0 : output.Length / n;
        return Enumerable.Range(0, n).Select(i => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(output.Span.Slice(i * c, c))).ToArray();
    }

    /// <summary>Fraction of rows whose argmax equals the label.</summary>
    public static double Accuracy(Tensor output, int[] labels) => (double)Correct(output, labels) / labels.Length;

    /// <summary>The rows whose argmax equals the label (what <see cref="Accuracy"/> divides by the rows; sums of it over shards are exact).</summary>
    public static int Correct(Tensor output, int[] labels)
    {
        var n = labels.Length;
        var c = n == 0 ? 0 : output.Length / n;
        var correct = 0;
        for (var i = 0; i < n; i++)
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(output.Span.Slice(i * c, c)) == labels[i]) correct++;
        return correct;
    }
}
