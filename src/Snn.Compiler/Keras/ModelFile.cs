using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>One file an importer read, by the name the model refers to it with (e.g. a TF.js weight shard path).</summary>
public sealed record SourceFile(string Name, byte[] Bytes)
{
    public bool Equals(SourceFile? other) => other is not null && Name == other.Name && Bytes.AsSpan().SequenceEqual(other.Bytes);

    public override int GetHashCode() => HashCode.Combine(Name, Bytes.Length);
}

/// <summary>
/// The bytes of a model file as an importer read them: <see cref="Format"/> is <c>tfjs</c> (model.json first, then its
/// weight shards), <c>keras</c> (one .keras archive) or <c>h5</c> (one legacy HDF5 file). Enough to import the same
/// model again from memory (<see cref="ModelFile.FromSource"/>).
/// </summary>
public sealed record ModelSource(string Format, Seq<SourceFile> Files)
{
    public static readonly Seq<string> Formats = Seq("tfjs", "keras", "h5");

    /// <summary>The model file's own name (model.json, lenet.keras, ...).</summary>
    public string Name => Files.Head.Name;
    public long Bytes => Files.Sum(f => (long)f.Bytes.Length);
}

/// <summary>Imports a model from a path, choosing the reader by what the file is.</summary>
public static class ModelFile
{
    /// <summary>
    /// Imports the model at <paramref name="path"/>. <paramref name="maxMemory"/> (<c>--max-memory</c>): the bytes the
    /// model's files, their inflated entries and the data decoded from them may take together; past it, a memory error.
    /// </summary>
    public static Either<Error, KerasModel> Import(string path, long maxMemory = MemoryBudget.DefaultBytes) =>
        Locate(path).Bind(l => l.Format switch
        {
            "tfjs" => TfjsImporter.Import(l.File, maxMemory),
            "keras" => KerasArchive.Import(l.File, maxMemory),
            _ => LegacyH5.Import(l.File, maxMemory),
        });

    /// <summary>Imports a model and also returns the bytes the importer read, to embed the model elsewhere (within <paramref name="maxMemory"/>, as <see cref="Import"/>).</summary>
    public static Either<Error, (KerasModel Model, ModelSource Source)> ImportWithSource(string path, long maxMemory = MemoryBudget.DefaultBytes) =>
        Locate(path).Bind(l => l.Format == "tfjs"
            ? TfjsImporter.ImportRecording(l.File, maxMemory).Map(r => (r.Model, new ModelSource("tfjs", r.Files)))
            : ReadAll(l.File, maxMemory).Bind(bytes =>
            {
                var source = new ModelSource(l.Format, Seq1(new SourceFile(Path.GetFileName(l.File), bytes)));
                return FromSource(source, l.File, maxMemory).Map(m => (m, source));
            }));

    /// <summary>
    /// Imports a model from the bytes an importer read (<see cref="ImportWithSource"/>); <paramref name="label"/> names it
    /// in messages. The bytes and what is decoded from them stay within <paramref name="maxMemory"/>.
    /// </summary>
    public static Either<Error, KerasModel> FromSource(ModelSource source, string label, long maxMemory = MemoryBudget.DefaultBytes)
    {
        if (source.Files.IsEmpty) return Errors.ModelFile(label, "no model file");
        if (!Fits(label, maxMemory)(source.Bytes).TryGet(out _, out var over)) return over;
        var main = source.Files.Head;
        return source.Format switch
        {
            "tfjs" => TfjsImporter.Import(main.Bytes, label, shard =>
                source.Files.Tail.Find(f => f.Name == shard).Map(f => f.Bytes)
                    .ToEither(Errors.Weights(label, $"weight shard '{shard}' is not among the model's files"))),
            "keras" => KerasArchive.Import(main.Bytes, label, maxMemory),
            "h5" => LegacyH5.Import(main.Bytes, label, maxMemory),
            var f => Errors.ModelFile(label, $"unknown model format '{f}' (expected {string.Join(", ", ModelSource.Formats)})"),
        };
    }

    /// <summary>Which reader a path needs, and the file it reads first (a TF.js folder's model.json).</summary>
    static Either<Error, (string Format, string File)> Locate(string path)
    {
        if (Directory.Exists(path))
        {
            var json = Path.Combine(path, "model.json");
            return File.Exists(json) ? ("tfjs", json) : Errors.ModelFile(path, "the folder has no model.json");
        }
        if (!File.Exists(path)) return Errors.ModelFile(path, "file not found");
        var ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".json" => ("tfjs", path),
            ".keras" => ("keras", path),
            ".h5" or ".hdf5" => ("h5", path),
            ".snnz" => Errors.ModelFile(path, "this is a saved network, not a Keras model"),
            _ => Errors.ModelFile(path, $"unknown model format '{ext}' (expected model.json, .keras or .h5)"),
        };
    }

    static Either<Error, byte[]> ReadAll(string path, long maxMemory) =>
        InputFile.Read(path, LegacyH5.MaxFileBytes, why => Errors.ModelFile(path, why), fits: Fits(path, maxMemory));

    /// <summary>A check that model files of some size (in bytes) fit <paramref name="maxMemory"/>: a memory error naming <paramref name="path"/> when not.</summary>
    internal static Func<long, Either<Error, Unit>> Fits(string path, long maxMemory) => bytes =>
        bytes <= maxMemory ? unit : Errors.Memory($"Reading the files of model '{path}'", bytes, maxMemory);
}
