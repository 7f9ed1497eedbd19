using LanguageExt;
using LanguageExt.Common;

namespace Snn.Compiler.Keras;

/// <summary>Imports a model from a path, choosing the reader by what the file is.</summary>
public static class ModelFile
{
    public static Either<Error, KerasModel> Import(string path)
    {
        if (Directory.Exists(path))
        {
            var json = Path.Combine(path, "model.json");
            return File.Exists(json) ? TfjsImporter.Import(json) : Errors.ModelFile(path, "the folder has no model.json");
        }
        if (!File.Exists(path)) return Errors.ModelFile(path, "file not found");
        var ext = Path.GetExtension(path).ToLowerInvariant();
        return ext switch
        {
            ".json" => TfjsImporter.Import(path),
            ".keras" => KerasArchive.Import(path),
            ".h5" or ".hdf5" => LegacyH5.Import(path),
            _ => Errors.ModelFile(path, $"unknown model format '{ext}' (expected model.json, .keras or .h5)"),
        };
    }
}
