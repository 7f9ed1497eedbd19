using System.Buffers.Binary;
using System.IO.Compression;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Hdf5;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// Writes new values of a model's weights back into the user's own Keras file, so a Keras workflow keeps working after
/// training in Snn (issue 19). The result is the original file with exactly the named weights' values replaced, in
/// place: every other byte of the HDF5 weights file stays as it was (configuration, other weights and their order,
/// attributes such as keras_version and backend, and any optimizer state, which is kept as saved, i.e. the state of
/// the original training and not of Snn's). A <c>.keras</c> archive keeps its entries, their order, names, times and
/// contents; only <c>model.weights.h5</c> changes. TF.js models are refused.
/// </summary>
public static class KerasWeightsWriter
{
    /// <summary>
    /// The bytes of <paramref name="source"/>'s model file (a <c>keras</c> or <c>h5</c> <see cref="ModelSource"/>, as
    /// <see cref="ModelFile.ImportWithSource"/> returns it) with the weights in <paramref name="weights"/> replaced.
    /// <paramref name="weights"/> is keyed by layer (<see cref="KerasNode.Layer"/>: "dense", or "outer/inner/dense" in a
    /// nested model) and then by variable name (the keys of <see cref="KerasNode.Weights"/>: "kernel", "bias", "gamma",
    /// "moving_mean", ...), with tensors as the importer returns them (Theano-trained kernels are flipped back as stored).
    /// Each must have the stored variable's shape; the stored values must be float32 in one contiguous, unfiltered
    /// piece (what Keras writes). Every problem (an unknown layer or variable, a wrong shape, other storage) is reported
    /// at once in one error. <paramref name="label"/> names the model in messages.
    /// </summary>
    public static Either<Error, byte[]> Replace(ModelSource source, Map<string, Map<string, Tensor>> weights, string label,
        long maxMemory = MemoryBudget.DefaultBytes)
    {
        if (source.Files.IsEmpty) return Errors.ModelFile(label, "no model file");
        var bytes = source.Files.Head.Bytes;
        try
        {
            return source.Format switch
            {
                "keras" => Archive(bytes, weights, label, maxMemory),
                "h5" => Legacy(bytes, weights, label, maxMemory),
                "tfjs" => Errors.Unexportable("a TF.js model", "trained weights",
                    "writing weights back is supported for Keras .keras and .h5 files; load the model in Keras, save it as .keras, and train that file"),
                var f => Errors.ModelFile(label, $"unknown model format '{f}' (expected keras or h5)"),
            };
        }
        catch (Exception e) when (e is InvalidDataException or IOException or NotSupportedException)
        {
            // Boundary: ZipArchive throws on a damaged archive (the importer, run first, reports most of them itself).
            return Errors.Zip(label, $"not a valid zip archive ({e.Message})");
        }
    }

    /// <summary>
    /// Writes <see cref="Replace"/>'s file to <paramref name="outPath"/> through <see cref="OutputFile"/> (never through a
    /// link; temporary file, then rename). The path must end as the source's format is named (.keras, or .h5/.hdf5),
    /// since Keras chooses its reader by the extension.
    /// </summary>
    public static Either<Error, Unit> Write(string outPath, ModelSource source, Map<string, Map<string, Tensor>> weights, string label,
        long maxMemory = MemoryBudget.DefaultBytes) =>
        from _ in Extension(outPath, source.Format)
        from bytes in Replace(source, weights, label, maxMemory)
        from written in OutputFile.Write(outPath, "the Keras model", s => s.Write(bytes))
        select written;

    static Either<Error, Unit> Extension(string outPath, string format)
    {
        var ext = Path.GetExtension(outPath).ToLowerInvariant();
        return format switch
        {
            "keras" when ext != ".keras" => Errors.Usage($"'{outPath}': a Keras 3 archive must be written to a path ending in .keras (Keras reads files by their extension)"),
            "h5" when ext is not (".h5" or ".hdf5") => Errors.Usage($"'{outPath}': a legacy HDF5 Keras model must be written to a path ending in .h5 or .hdf5 (Keras reads files by their extension)"),
            _ => unit,
        };
    }

    static Either<Error, byte[]> Legacy(byte[] original, Map<string, Map<string, Tensor>> weights, string label, long maxMemory)
    {
        var stored = new Dictionary<string, StoredLayer>();
        return from h5 in H5File.Open(original, label, maxMemory)
               from model in LegacyH5.Import(h5, label, stored)
               from patched in Patch(original, stored, weights, label)
               select patched;
    }

    static Either<Error, byte[]> Archive(byte[] original, Map<string, Map<string, Tensor>> weights, string label, long maxMemory)
    {
        // The importer first: the archive is checked, and refused, exactly as it is on import.
        if (!KerasArchive.Import(original, label, maxMemory).TryGet(out _, out var refused)) return refused;
        using var zip = new ZipArchive(new MemoryStream(original, writable: false), ZipArchiveMode.Read);
        var entries = new List<(ZipArchiveEntry Entry, byte[] Bytes)>();
        foreach (var entry in zip.Entries)
        {
            if (!ZipEntries.Read(entry, KerasArchive.MaxWeightsBytes, m => Errors.Zip(label, m)).TryGet(out var content, out var bad)) return bad;
            entries.Add((entry, content));
        }
        var config = entries.Find(e => e.Entry.FullName == "config.json").Bytes;
        var weightsIndex = entries.FindIndex(e => e.Entry.FullName == "model.weights.h5");
        var stored = new Dictionary<string, StoredLayer>();
        var h5Label = label + "!model.weights.h5";
        var h5Bytes = entries[weightsIndex].Bytes;
        return from h5 in H5File.Open(h5Bytes, h5Label, maxMemory)
               from model in KerasArchive.FromConfig(config, h5, label, stored)
               from patched in Patch(h5Bytes, stored, weights, label)
               select Rezip(entries.Select((e, i) => (e.Entry, i == weightsIndex ? patched : e.Bytes)));
    }

    /// <summary>A zip archive of the entries, in order, with their names, times and contents (stored entries stay stored).</summary>
    static byte[] Rezip(IEnumerable<(ZipArchiveEntry Entry, byte[] Bytes)> entries)
    {
        using var output = new MemoryStream();
        using (var zip = new ZipArchive(output, ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (var (entry, bytes) in entries)
            {
                var level = entry.Length > 0 && entry.CompressedLength >= entry.Length ? CompressionLevel.NoCompression : CompressionLevel.Optimal;
                var copy = zip.CreateEntry(entry.FullName, level);
                copy.LastWriteTime = entry.LastWriteTime;
                copy.ExternalAttributes = entry.ExternalAttributes;
                using var s = copy.Open();
                s.Write(bytes);
            }
        }
        return output.ToArray();
    }

    /// <summary>
    /// A copy of <paramref name="file"/> (the HDF5 weights file the datasets in <paramref name="stored"/> were read from)
    /// with the new values written over the old ones; every problem found, in one error.
    /// </summary>
    static Either<Error, byte[]> Patch(byte[] file, Dictionary<string, StoredLayer> stored, Map<string, Map<string, Tensor>> weights, string label)
    {
        var problems = new List<Error>();
        var writes = new List<(long Offset, Tensor Values)>();
        foreach (var (layer, variables) in weights)
        {
            if (!stored.TryGetValue(layer, out var s))
            {
                var known = stored.Where(kv => !kv.Value.Datasets.IsEmpty).Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
                problems.Add(Errors.WriteBack(label, $"the model has no layer '{Names.Printable(layer)}' (layers with weights: {List(known)})"));
                continue;
            }
            foreach (var (name, tensor) in variables)
            {
                var where = $"{Names.Printable(layer)}/{Names.Printable(name)}";
                if (!s.Datasets.Find(name).TryGet(out var dataset))
                {
                    problems.Add(Errors.WriteBack(label, $"layer '{Names.Printable(layer)}' ({Names.Printable(s.ClassName)}) has no variable '{Names.Printable(name)}' (its variables: {List(s.Datasets.Keys)})"));
                    continue;
                }
                if (tensor is null)
                {
                    problems.Add(Errors.WriteBack(label, $"'{where}': no tensor given"));
                    continue;
                }
                if (!dataset.Shape().TryGet(out var shape, out var bad) || !dataset.Float32Storage().TryGet(out var storage, out bad))
                {
                    problems.Add(bad);
                    continue;
                }
                if (!shape.AsSpan().SequenceEqual(tensor.Shape.ToArray()))
                {
                    problems.Add(Errors.WriteBack(label, $"'{where}' is stored with shape ({string.Join(", ", shape)}); the new value has shape ({string.Join(", ", tensor.Shape)})"));
                    continue;
                }
                storage.Match(
                    place => writes.Add((place.Offset, s.ToStored(name, tensor))),
                    why => problems.Add(Errors.WriteBack(label, $"'{where}' ('{dataset.Path}') cannot be rewritten in place: {why}")));
            }
        }
        if (problems.Count > 0) return Errors.Many(problems.ToSeq());
        var copy = file.ToArray();
        foreach (var (offset, values) in writes)
        {
            var target = copy.AsSpan((int)offset, values.Length * 4);
            var span = values.Span;
            for (var i = 0; i < span.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(target[(i * 4)..], span[i]);
        }
        return copy;
    }

    static string List(IEnumerable<string> names)
    {
        var shown = names.Select(n => $"'{Names.Printable(n)}'").ToList();
        return shown.Count == 0 ? "none" : string.Join(", ", shown);
    }
}
