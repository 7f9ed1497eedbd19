using System.Reflection;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Keras;

namespace Snn.Cli;

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

/// <summary>
/// Progress on stderr for long runs: --progress forces it on, --no-progress off; by default (<see cref="Forced"/> null)
/// it shows only when stderr is a terminal.
/// </summary>
public sealed record Progress(bool? Forced)
{
    /// <summary>The progress setting the command line asked for (both flags are accepted by every command).</summary>
    public static Progress Of(Args a) => new(a.Flag("--no-progress") ? false : a.Flag("--progress") ? true : null);

    public Action<int, int>? For(TextWriter stderr, string what)
    {
        if (Forced == false || (Forced is null && (stderr != Console.Error || Console.IsErrorRedirected))) return null;
        var last = DateTime.MinValue;
        var gate = new object();
        return (done, total) =>
        {
            lock (gate)
            {
                if (done < total && (DateTime.UtcNow - last).TotalMilliseconds < 200) return;
                last = DateTime.UtcNow;
                stderr.Write($"\r  {what}: {done}/{total} samples" + (done == total ? "\n" : ""));
            }
        };
    }
}

/// <summary>Plain-text tables for people.</summary>
public static class Table
{
    public static string Render(string[] header, IEnumerable<string[]> rows)
    {
        var all = new[] { header }.Concat(rows).ToList();
        var widths = header.Select((_, c) => all.Max(r => r[c].Length)).ToArray();
        var sb = new System.Text.StringBuilder();
        for (var r = 0; r < all.Count; r++)
        {
            sb.AppendLine(string.Join("  ", all[r].Select((v, c) => v.PadRight(widths[c]))).TrimEnd());
            if (r == 0) sb.AppendLine(string.Join("  ", widths.Select(w => new string('-', w))));
        }
        return sb.ToString().TrimEnd();
    }
}

/// <summary>The bundled default: a TF.js CNN and 1000 Fashion-MNIST test images, embedded in the tool.</summary>
public static class DemoAssets
{
    static Either<Error, byte[]> Resource(string name)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream("Demo/" + name);
        if (s is null) return Errors.ModelFile(name, "the bundled demo asset is missing from this build");
        using var m = new MemoryStream();
        s.CopyTo(m);
        return m.ToArray();
    }

    public static Either<Error, KerasModel> Model() =>
        Resource("fashion-cnn/model.json").Bind(json =>
            TfjsImporter.Import(json, "bundled fashion-cnn/model.json", shard => Resource("fashion-cnn/" + shard)));

    public static Either<Error, (Tensor X, int[] Y)> Data() =>
        from xb in Resource("fashion-mnist-1000/x.npy")
        from yb in Resource("fashion-mnist-1000/y.npy")
        from x in Npy.Read(xb, "bundled x.npy")
        from y in Npy.Read(yb, "bundled y.npy")
        from labels in Metrics.Labels(y, x.Shape[0], "bundled y.npy")
        select (x.Map(v => v / 255f), labels);
}
