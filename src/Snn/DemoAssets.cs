using System.Reflection;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Keras;

namespace Snn;

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
