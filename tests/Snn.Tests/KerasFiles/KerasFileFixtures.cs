using System.Text.Json;
using Snn.Tests.Support;

namespace Snn.Tests.KerasFiles;

/// <summary>
/// The Keras container fixtures of tests/fixtures/keras (written by its generate.py): <c>cases.json</c> lists each
/// file as positive (with <c>X.input.npy</c> / <c>X.expected.npy</c>) or negative (with the phrase its error must contain).
/// </summary>
internal static class KerasFileFixtures
{
    /// <summary>One fixture; <see cref="Options"/> are the converter options it needs (e.g. --temporal-model).</summary>
    public sealed record Case(string File, bool Positive, string Phrase, string[] Options);

    public static string Dir => TestModels.Fixture("keras");

    public static string PathOf(string file) => Path.Combine(Dir, file);

    public static IReadOnlyList<Case> All { get; } = Load();

    static IReadOnlyList<Case> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(PathOf("cases.json")));
        return doc.RootElement.EnumerateObject()
            .Select(p => new Case(p.Name, p.Value.GetProperty("kind").GetString() == "positive",
                p.Value.TryGetProperty("phrase", out var ph) ? ph.GetString()! : "",
                p.Value.TryGetProperty("options", out var o) ? o.EnumerateArray().Select(e => e.GetString()!).ToArray() : System.Array.Empty<string>()))
            .OrderBy(c => c.File, StringComparer.Ordinal)
            .ToList();
    }

    public static Case Get(string file) => All.Single(c => c.File == file);

    public static string Stem(string file) => Path.GetFileNameWithoutExtension(file);

    public static string Input(string file) => PathOf(Stem(file) + ".input.npy");

    public static string Expected(string file) => PathOf(Stem(file) + ".expected.npy");
}
