using System.Diagnostics;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.KerasFiles;

/// <summary>
/// Legacy .h5 and Keras 3 .keras files laid out as each Keras version writes them (tests/fixtures/keras/generate.py,
/// keras-formats.md §1.1/§1.2). Positive files must import and reproduce the numpy oracle through the reference
/// evaluator and pass <c>snn verify</c>; negative files must be refused with exit code 3, a message naming the
/// problem, and no stack trace.
/// </summary>
public class KerasFileTests
{
    public static TheoryData<string> Positive() => Data(true);

    public static TheoryData<string> Negative() => Data(false);

    static TheoryData<string> Data(bool positive)
    {
        var data = new TheoryData<string>();
        foreach (var c in KerasFileFixtures.All.Where(c => c.Positive == positive)) data.Add(c.File);
        return data;
    }

    [Fact]
    public void EveryFixtureIsListedAndTheSetIsComplete()
    {
        var listed = KerasFileFixtures.All.Select(c => c.File).ToHashSet();
        var onDisk = Directory.GetFiles(KerasFileFixtures.Dir).Select(Path.GetFileName)
            .Where(f => f!.EndsWith(".h5", StringComparison.Ordinal) || f.EndsWith(".keras", StringComparison.Ordinal)).ToHashSet();
        Assert.Equal(onDisk.Order(), listed.Order());
        Assert.Equal(24, KerasFileFixtures.All.Count(c => c.Positive));
        Assert.Equal(13, KerasFileFixtures.All.Count(c => !c.Positive));
        foreach (var c in KerasFileFixtures.All.Where(c => c.Positive))
        {
            Assert.True(File.Exists(KerasFileFixtures.Input(c.File)), c.File);
            Assert.True(File.Exists(KerasFileFixtures.Expected(c.File)), c.File);
        }
    }

    [Theory]
    [MemberData(nameof(Positive))]
    public void ImportsAndReproducesTheNumpyOracle(string file)
    {
        var model = ModelFile.Import(KerasFileFixtures.PathOf(file)).Ok();
        var input = Npy.Read(KerasFileFixtures.Input(file)).Ok();
        var expected = Npy.Read(KerasFileFixtures.Expected(file)).Ok();
        var outputs = KerasEval.Run(model, Seq1(input)).Ok();
        Assert.Single(outputs);
        AssertClose(expected, outputs.Head, file);
    }

    [Theory]
    [MemberData(nameof(Positive))]
    public void VerifyPasses(string file)
    {
        var (code, output, err) = CliRunner.Run(new[] { "verify", KerasFileFixtures.PathOf(file), "--input", KerasFileFixtures.Input(file) }
            .Concat(KerasFileFixtures.Get(file).Options).ToArray());
        Assert.True(code == 0, $"exit {code}\n{output}\n{err}");
        Assert.Contains("matches", output);
    }

    [Theory]
    [MemberData(nameof(Negative))]
    public void IsRefusedWithExitThreeAndAClearMessage(string file)
    {
        var fixture = KerasFileFixtures.Get(file);
        var sw = Stopwatch.StartNew();
        var (code, output, err) = CliRunner.Run(new[] { "inspect", KerasFileFixtures.PathOf(file) }.Concat(fixture.Options).ToArray());
        Assert.True(code == 3, $"exit {code}\n{output}\n{err}");
        Assert.StartsWith("error: ", err);
        Assert.DoesNotContain("   at ", err);
        Assert.DoesNotContain("internal failure", err);
        Assert.Contains(fixture.Phrase, err);
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(5), $"took {sw.Elapsed}");
    }

    [Fact]
    public void Keras1IsRefusedNamingTheVersion()
    {
        var err = ModelFile.Import(KerasFileFixtures.PathOf("legacy_keras1.h5")).Err();
        Assert.Contains("Keras 1.2.2", err.Message);
        Assert.Equal(3, Errors.ExitCode(err));
    }

    [Fact]
    public void LambdaCodeIsNeverExecuted()
    {
        // The archive imports (the Lambda is only data); conversion refuses it without running its bytecode.
        var model = ModelFile.Import(KerasFileFixtures.PathOf("keras_lambda.keras")).Ok();
        Assert.Contains(model.Nodes, n => n.ClassName == "Lambda");
        var (code, _, err) = CliRunner.Run("inspect", KerasFileFixtures.PathOf("keras_lambda.keras"));
        Assert.Equal(3, code);
        Assert.Contains("never executed", err);
    }

    [Fact]
    public void CustomClassKeepsItsRegisteredName()
    {
        var model = ModelFile.Import(KerasFileFixtures.PathOf("keras_custom_class.keras")).Ok();
        var node = Assert.Single(model.Nodes, n => n.Layer == "my_layer");
        Assert.Equal("my_pkg>MyLayer", node.ClassName);
        Assert.Equal(new[] { 4 }, node.Weights.Find("0").Map(t => t.Shape.ToArray()).IfNone(System.Array.Empty<int>()));
    }

    /// <summary>
    /// (a) config.json declares 100 bytes but inflates to 1 MiB: ZipArchive stops at the declared size, so the
    /// importer sees a cut JSON text (its own "inflates past its declared size" guard is defence in depth).
    /// (b) model.weights.h5 declares 4 GiB: refused from the declared size before anything is read.
    /// </summary>
    [Theory]
    [InlineData("keras_bomb_inflate.keras", "config.json")]
    [InlineData("keras_bomb_declared.keras", "declares 4294967280 bytes")]
    public void ZipBombsStopEarly(string file, string phrase)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var sw = Stopwatch.StartNew();
        var err = ModelFile.Import(KerasFileFixtures.PathOf(file)).Err();
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(2), $"took {sw.Elapsed}");
        Assert.Contains(phrase, err.Message);
        // Nothing near the inflated (1 MiB) or declared (4 GiB) size is buffered.
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 64L << 20);
    }

    /// <summary>
    /// Entries named ../../x, /tmp/x, assets/../../x and ..\..\x: the importer reads the archive in memory and never
    /// extracts, so they are ignored (the model still imports) and nothing is written anywhere.
    /// </summary>
    [Fact]
    public void PathTraversalEntriesAreIgnoredAndNothingIsWritten()
    {
        var file = KerasFileFixtures.PathOf("keras_path_traversal.keras");
        var names = new[] { "snn_fixture_evil", "snn_fixture_evil_abs", "snn_fixture_evil_assets", "..\\..\\snn_fixture_evil_win", "snn_fixture_evil_win" };
        var roots = new[]
        {
            KerasFileFixtures.Dir, Path.GetFullPath(Path.Combine(KerasFileFixtures.Dir, "..")), Path.GetFullPath(Path.Combine(KerasFileFixtures.Dir, "..", "..")),
            Directory.GetCurrentDirectory(), Path.GetFullPath(Path.Combine(Directory.GetCurrentDirectory(), "..", "..")),
            Path.GetTempPath(), Path.GetFullPath(Path.Combine(Path.GetTempPath(), "..")), "/tmp",
        }.Distinct().ToArray();
        var candidates = roots.SelectMany(r => names.Select(n => Path.Combine(r, n))).Distinct().ToArray();
        var existing = candidates.Where(File.Exists).ToHashSet();

        var model = ModelFile.Import(file).Ok();
        Assert.Equal(2, model.Nodes.Count(n => n.ClassName == "Dense"));
        var (code, output, err) = CliRunner.Run("verify", file, "--input", KerasFileFixtures.Input(file));
        Assert.True(code == 0, output + err);

        foreach (var c in candidates.Where(c => !existing.Contains(c)))
            Assert.False(File.Exists(c), $"the import wrote {c}");
    }

    [Fact]
    public void OutOfOrderNamesMapByClassCounters()
    {
        // Layers dense_1, dense, dense_7 live in layers/dense, layers/dense_1, layers/dense_2 (no name attributes).
        var model = ModelFile.Import(KerasFileFixtures.PathOf("keras_names_out_of_order.keras")).Ok();
        Assert.Equal(new[] { "dense_1", "dense", "dense_7" }, model.Nodes.Filter(n => n.ClassName == "Dense").Map(n => n.Layer).ToArray());
        Assert.Equal(new[] { 4, 2 }, model.Node("dense_7").Bind(n => n.Weight("kernel")).Map(t => t.Shape.ToArray()).IfNone(System.Array.Empty<int>()));
    }

    [Theory]
    [InlineData("keras_bn_no_scale.keras", new[] { "beta", "moving_mean", "moving_variance" })]
    [InlineData("keras_bn_no_center.keras", new[] { "gamma", "moving_mean", "moving_variance" })]
    [InlineData("legacy_tfkeras24_functional_bn.h5", new[] { "beta", "gamma", "moving_mean", "moving_variance" })]
    public void BatchNormVariablesAreNamed(string file, string[] variables)
    {
        var model = ModelFile.Import(KerasFileFixtures.PathOf(file)).Ok();
        var bn = Assert.Single(model.Nodes, n => n.ClassName == "BatchNormalization");
        Assert.Equal(variables, bn.Weights.Keys.Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void NestedSequentialIsInlined()
    {
        var model = ModelFile.Import(KerasFileFixtures.PathOf("keras_nested_sequential.keras")).Ok();
        var ids = model.Nodes.Map(n => n.Id).ToArray();
        Assert.Contains("sequential/dense", ids);
        Assert.Contains("sequential/dense_1", ids);
        Assert.Contains("dense_2", ids);
        Assert.Equal(new[] { 3, 2 }, model.Node("dense_2").Bind(n => n.Weight("kernel")).Map(t => t.Shape.ToArray()).IfNone(System.Array.Empty<int>()));
    }

    /// <summary>Element-wise |got - want| &lt;= 1e-5 * max(1, |want|).</summary>
    static void AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        for (var i = 0; i < expected.Length; i++)
        {
            var want = expected[i];
            var got = actual[i];
            if (!(Math.Abs(got - want) <= 1e-5 * Math.Max(1.0, Math.Abs(want))))
                throw new Xunit.Sdk.XunitException($"{what}: element {i}: expected {want}, got {got}");
        }
    }
}
