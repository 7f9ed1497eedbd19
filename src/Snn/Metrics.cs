using LanguageExt;
using LanguageExt.Common;

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

    /// <summary>Each row's index of its largest value (the predicted class).</summary>
    public static int[] Argmax(Tensor output)
    {
        var n = output.Shape[0];
        var c = n == 0 ? 0 : output.Length / n;
        return Enumerable.Range(0, n).Select(i => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(output.Span.Slice(i * c, c))).ToArray();
    }

    /// <summary>Fraction of rows whose argmax equals the label.</summary>
    public static double Accuracy(Tensor output, int[] labels)
    {
        var n = labels.Length;
        var c = output.Length / n;
        var correct = 0;
        for (var i = 0; i < n; i++)
            if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(output.Span.Slice(i * c, c)) == labels[i]) correct++;
        return (double)correct / n;
    }
}
