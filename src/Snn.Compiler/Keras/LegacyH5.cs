using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Hdf5;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// Imports a legacy HDF5 model (<c>model.save("x.h5")</c> from Keras 2, tf.keras or Keras 3;
/// keras-formats.md §1.2): the <c>model_config</c> root attribute and <c>/model_weights</c>.
/// Weights are resolved only through each layer group's <c>weight_names</c> attribute (also when split
/// into <c>weight_names0</c>, <c>weight_names1</c>, ...), whatever naming scheme the writer used.
/// Keras 1 files are refused with a clear message; convolution kernels trained with the Theano backend are flipped as
/// Keras flips them when it loads such a file into TensorFlow.
/// </summary>
public static class LegacyH5
{
    public const long MaxFileBytes = 2L << 30;

    /// <summary>Imports the file at <paramref name="path"/>; it and the data read from it stay within <paramref name="maxMemory"/> bytes.</summary>
    public static Either<Error, KerasModel> Import(string path, long maxMemory = MemoryBudget.DefaultBytes)
    {
        return InputFile.Read(path, MaxFileBytes, why => Errors.ModelFile(path, why), fits: ModelFile.Fits(path, maxMemory))
            .Bind(bytes => Import(bytes, path, maxMemory));
    }

    /// <summary>Imports a file held in memory (e.g. embedded in a saved network); <paramref name="path"/> names it in messages.</summary>
    public static Either<Error, KerasModel> Import(byte[] bytes, string path, long maxMemory = MemoryBudget.DefaultBytes)
    {
        try
        {
            return H5File.Open(bytes, path, maxMemory).Bind(h5 => Import(h5, path));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // File-open boundary, defensive: the HDF5 reader and the config reader return their errors; what a library
            // under them throws on a malformed file (Tensor.Own's ArgumentException for a shape that does not fit its
            // data, System.Text.Json) is still this file's error.
            return Errors.ModelFile(path, $"damaged or malformed file ({e.GetType().Name}: {e.Message})");
        }
    }

    public static Either<Error, KerasModel> Import(H5File h5, string path) => Import(h5, path, null);

    /// <summary>Imports from an open file; when <paramref name="seen"/> is given, each layer's weight datasets are recorded in it.</summary>
    internal static Either<Error, KerasModel> Import(H5File h5, string path, Dictionary<string, StoredLayer>? seen) =>
        from configText in StringAttribute(h5.Root, "model_config")
        from config in configText.ToEither(Errors.ModelFile(path, "no 'model_config' attribute: this is a weights-only file (save the whole model with model.save)"))
        from version in StringAttribute(h5.Root, "keras_version")
        from backend in StringAttribute(h5.Root, "backend")
        from _ in version.IsNone || version.Exists(v => v.StartsWith("1.", StringComparison.Ordinal))
            ? Left<Error, Unit>(Errors.ModelFile(path, $"written by Keras {version.IfNone("1.x (no keras_version)")}; Keras 1 files are not supported (load and re-save the model with Keras 2 or later)"))
            : Right<Error, Unit>(unit)
        from weights in h5.Root.Group("model_weights").Bind(g => g.Match(Right<Error, H5Group>, () => Left<Error, H5Group>(Errors.ModelFile(path, "no /model_weights group"))))
        from model in Parse(config, weights, backend.IfNone("tensorflow"), path, seen)
        select model;

    static Either<Error, KerasModel> Parse(string json, H5Group weights, string backend, string path, Dictionary<string, StoredLayer>? seen)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 256 }); }
        catch (JsonException e) { return Errors.ModelJson(path, $"model_config is not valid JSON ({e.Message})"); }
        using (doc)
            return KerasConfigReader.Read(doc.RootElement, StoredWeights.Reader(Locate(weights, path), AsLoaded(backend), seen), path);
    }

    static Either<Error, Option<string>> StringAttribute(H5Group g, string name) =>
        g.Attribute(name).Bind(a => a.Match(x => x.ReadString().Map(Some), () => Right<Error, Option<string>>(None)));

    /// <summary>A string-list attribute, joined from name0, name1, ... when Keras split it (HDF5 header limit).</summary>
    static Either<Error, Seq<string>> StringList(H5Group g, string name) =>
        g.Attribute(name).Bind(a => a.Match(
            x => x.ReadStrings(),
            () =>
            {
                var parts = new List<string>();
                for (var i = 0; ; i++)
                {
                    var part = g.Attribute(name + i);
                    if (part.IsLeft) return part.Map(_ => Seq<string>());
                    if (!part.Match(p => p, _ => None).TryGet(out var attr)) break;
                    var strings = attr.ReadStrings();
                    if (strings.IsLeft) return strings;
                    parts.AddRange(strings.Match(s => s, _ => Seq<string>()));
                }
                return Right<Error, Seq<string>>(parts.ToSeq().Strict());
            }));

    /// <summary>
    /// Where a layer's weights are: the group /model_weights/&lt;outermost model or layer&gt;, its weight_names, and of those
    /// the names whose owner path ends with the layer name (nested models keep their layers' weights in the model's group).
    /// The variable name is the last path segment without ":0".
    /// </summary>
    static WeightLocator Locate(H5Group root, string path) => (modelPath, layer, _, _) =>
    {
        var top = modelPath.IsEmpty ? layer : modelPath.Head;
        return from g in root.Group(top)
               from result in g.Match(grp => Datasets(grp, modelPath.IsEmpty, layer, path), () => Right<Error, Map<string, H5Dataset>>(Map<string, H5Dataset>()))
               select result;
    };

    static Either<Error, Map<string, H5Dataset>> Datasets(H5Group weightsGroup, bool topLevel, string layer, string path) =>
        from names in StringList(weightsGroup, "weight_names")
        let mine = names.Filter(n => topLevel || Owner(n).Split('/').Contains(layer)).ToSeq().Strict()
        from datasets in mine.Map(n => from ds in weightsGroup.Dataset(n)
                                       from d in ds.ToEither(Errors.Weights(path, $"layer '{layer}': weight '{n}' is listed but missing from '{weightsGroup.Path}'"))
                                       select (Var(n), d)).Sequence()
        select toMap(datasets);

    /// <summary>
    /// A stored tensor as Keras loads it with <paramref name="backend"/>: kernels written by Theano flipped (see
    /// <see cref="TheanoFlipped"/>); the flip is its own inverse, so the same adjustment turns loaded weights back into
    /// stored ones.
    /// </summary>
    internal static Func<string, string, Tensor, Tensor> AsLoaded(string backend) => (className, variable, t) =>
        backend == "theano" && variable == "kernel" && TheanoFlipped.Contains(className) ? FlipSpatial(t) : t;

    /// <summary>
    /// The classes whose kernels Keras flips when it loads weights trained with the Theano backend into a backend that
    /// computes correlation (TensorFlow, CNTK): Theano's convolution is a true convolution, so its kernels are
    /// TensorFlow's reversed along every spatial axis (Keras 2's <c>preprocess_weights_for_loading</c> and
    /// <c>conv_utils.convert_kernel</c>).
    /// </summary>
    static readonly System.Collections.Generic.HashSet<string> TheanoFlipped = new() { "Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose" };

    /// <summary>A kernel (spatial axes..., in, out) reversed along every spatial axis.</summary>
    public static Tensor FlipSpatial(Tensor kernel)
    {
        var shape = kernel.Shape.ToArray();
        if (shape.Length < 3) return kernel;
        var spatial = shape[..^2];
        var inner = shape[^2] * shape[^1];
        var cells = spatial.Aggregate(1, (a, d) => a * d);
        var source = kernel.Span;
        var flipped = new float[kernel.Length];
        var index = new int[spatial.Length];
        for (var cell = 0; cell < cells; cell++)
        {
            // index = this cell's spatial position; its mirror reverses every axis.
            var mirror = 0;
            for (var d = 0; d < spatial.Length; d++) mirror = mirror * spatial[d] + (spatial[d] - 1 - index[d]);
            source.Slice(cell * inner, inner).CopyTo(flipped.AsSpan(mirror * inner, inner));
            for (var d = spatial.Length - 1; d >= 0 && ++index[d] == spatial[d]; d--) index[d] = 0;
        }
        return Tensor.Own(shape, flipped);
    }

    static string Owner(string weightName)
    {
        var slash = weightName.LastIndexOf('/');
        return slash < 0 ? "" : weightName[..slash];
    }

    static string Var(string weightName)
    {
        var name = TfjsImporter.NormalizeName(weightName);
        var slash = name.LastIndexOf('/');
        return slash < 0 ? name : name[(slash + 1)..];
    }
}
