using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Hdf5;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// Where one layer's variables are stored in an HDF5 weights file: the dataset holding each, by Keras variable name
/// ("kernel", "bias", ...). Same arguments as <see cref="WeightSource"/>.
/// </summary>
internal delegate Either<Error, Map<string, H5Dataset>> WeightLocator(Seq<string> path, string layer, string className, LayerConfig config);

/// <summary>
/// One layer's stored variables, as the importer found them: its class, the dataset of each variable, and how a tensor
/// as the importer returns it (variable name, tensor) is stored.
/// </summary>
internal sealed record StoredLayer(string ClassName, Map<string, H5Dataset> Datasets, Func<string, Tensor, Tensor> ToStored);

/// <summary>Reading the weights of HDF5-based Keras files (.keras archives, legacy .h5) from where they are stored.</summary>
internal static class StoredWeights
{
    /// <summary>
    /// The weight source that reads what <paramref name="locate"/> finds, each tensor passed through
    /// <paramref name="adjust"/> (class name, variable name, tensor), which must be its own inverse (it also turns
    /// imported tensors back into stored ones); when <paramref name="seen"/> is given, every layer's
    /// datasets are recorded in it under the layer's id (enclosing model names and the layer name joined by '/', as
    /// <see cref="KerasNode.Layer"/>).
    /// </summary>
    public static WeightSource Reader(WeightLocator locate, Func<string, string, Tensor, Tensor> adjust, Dictionary<string, StoredLayer>? seen = null) =>
        (path, layer, className, config) =>
            from datasets in locate(path, layer, className, config)
            from tensors in datasets.AsEnumerable().Map(kv => Read(kv.Value).Map(t => (kv.Key, adjust(className, kv.Key, t)))).Sequence()
            let _ = Record(seen, string.Join("/", path.Add(layer)), new StoredLayer(className, datasets, (v, t) => adjust(className, v, t)))
            select toMap(tensors);

    /// <summary>A dataset's values as a tensor of its shape.</summary>
    public static Either<Error, Tensor> Read(H5Dataset d) =>
        from shape in d.Shape()
        from data in d.ReadFloat32()
        select Tensor.Own(shape, data);

    static Unit Record(Dictionary<string, StoredLayer>? seen, string id, StoredLayer layer)
    {
        if (seen is not null) seen[id] = layer;
        return unit;
    }

    /// <summary>No adjustment: the tensor as stored.</summary>
    public static Tensor AsStored(string className, string variable, Tensor t) => t;
}
