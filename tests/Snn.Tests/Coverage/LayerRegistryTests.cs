using System.Text.RegularExpressions;
using Snn.Compiler.Layers;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Coverage;

/// <summary>The layer registry: one rule per class, coverage facts that agree with the rules, and the README's layer table.</summary>
public class LayerRegistryTests
{
    [Fact]
    public void NoClassIsNamedByTwoRules()
    {
        var twice = LayerRegistry.All.SelectMany(r => r.Classes).GroupBy(c => c).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.Empty(twice);
    }

    [Fact]
    public void CoverageFactsAgreeWithTheRules()
    {
        foreach (var rule in LayerRegistry.All)
        {
            var name = rule.Classes[0];
            // Fallback-only classes have no legalize rule; every other class has one.
            Assert.True(rule.Legalize.IsNone == (rule.Support == LayerSupport.FallbackOnly), $"{name}: Support {rule.Support} but legalize rule {rule.Legalize.IsSome}");
            // Only a model input has no reference meaning (the evaluator reads inputs directly).
            Assert.True(rule.Evaluate.IsSome || name == "InputLayer", $"{name} has no reference-evaluator rule");
            Assert.False(string.IsNullOrWhiteSpace(rule.Note), $"{name} has no note");
            foreach (var cls in rule.Classes) Assert.Same(rule, LayerRegistry.Find(cls).IfNone(() => throw new Xunit.Sdk.XunitException(cls + " not found")));
        }
    }

    [Fact]
    public void KerasSpikingClassesAreFoundUnderTheirRegisteredNames()
    {
        Assert.True(LayerRegistry.Find("keras_spiking>Lowpass").Exists(r => r.Classes.Contains("Lowpass") && !r.FallsBack));
        Assert.True(LayerRegistry.Find("Custom>Lowpass").IsNone);
    }

    /// <summary>
    /// Every registered class appears in the README's layer table (the "Layers: what converts natively" section), with
    /// its 1D/2D/3D suffixes left out, and fallback-only classes in a row whose Snn column says "fallback".
    /// </summary>
    [Fact]
    public void TheReadmeLayerTableListsEveryRegisteredClass()
    {
        var readme = File.ReadAllText(Path.Combine(TestModels.RepoRoot, "README.md"));
        var start = readme.IndexOf("## Layers:", StringComparison.Ordinal);
        Assert.True(start >= 0, "README has no '## Layers:' section");
        var end = readme.IndexOf("\n## ", start + 1, StringComparison.Ordinal);
        var rows = readme[start..end].Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal))
            .Select(l => l.Split('|', StringSplitOptions.TrimEntries)).Where(c => c.Length >= 4)
            .Select(c => (Layers: Stem(c[1]), Fallback: c[2] == "fallback")).ToList();
        var missing = new List<string>();
        foreach (var rule in LayerRegistry.All)
            foreach (var cls in rule.Classes.Where(c => !IsAlias(c)))
            {
                var word = new Regex(@"\b" + Regex.Escape(Stem(cls)) + @"\b");
                if (!rows.Exists(r => r.Fallback == (rule.Support == LayerSupport.FallbackOnly) && word.IsMatch(r.Layers)))
                    missing.Add($"{cls} ({rule.Support})");
            }
        Assert.True(missing.Count == 0, "not in the README layer table (or in the wrong row): " + string.Join(", ", missing));
    }

    /// <summary>Keras 3's short pooling names (AvgPool2D, GlobalMaxPool1D) are aliases the table does not repeat.</summary>
    static bool IsAlias(string cls) => Regex.IsMatch(cls, @"(Avg|Max)Pool\dD$");

    /// <summary>The name without its dimension suffixes: Conv1D / Conv2D → Conv / Conv; Conv1D/2D/3DTranspose → ConvTranspose.</summary>
    static string Stem(string text) => Regex.Replace(text, @"[123]D(/[123]D)*", "");
}
