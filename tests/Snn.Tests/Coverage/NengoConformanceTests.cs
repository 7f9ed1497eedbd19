using LanguageExt;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Coverage;

/// <summary>
/// NengoDL converter tests (nengo-semantics.md §5) whose expected outcome is an error or a warning, with the
/// same key phrase. The matching cases (verify passes) run over the nengo_* TF.js fixtures in TfjsFixtureTests.
/// </summary>
public class NengoConformanceTests
{
    static string Case(string name) => TestModels.Fixture("tfjs", name, "model.json");

    [Fact]
    public void TestTimeDistributedNeedsTemporalModel()
    {
        var (code, _, err) = CliRunner.Run("inspect", Case("nengo_time_distributed"));
        Assert.Equal(3, code);
        Assert.Contains("only be converted when temporal_model=True", err);
        var (ok, _, okErr) = CliRunner.Run("verify", Case("nengo_time_distributed"), "--temporal-model",
            "--input", TestModels.Fixture("tfjs", "nengo_time_distributed", "input_0.npy"));
        Assert.True(ok == 0, okErr);
    }

    [Fact]
    public void TestInputMustBeFullySpecified()
    {
        var m = Sequential(new[] { -1, -1, 2 }, new L("ReLU", "r", new { }));
        var error = Compile.Run(CompileOptions.Default, m).Err();
        Assert.Contains("must be fully specified", error.Message);
    }

    [Fact]
    public void TestConcatenateAlongBatchAxisIsAnError()
    {
        var m = Functional(new[] { "a", "b" }, new[] { new[] { 1 }, new[] { 1 } }, new[] { "c" },
            (new L("Concatenate", "c", new { axis = 0 }), new[] { "a", "b" }));
        Assert.Contains("concatenate along batch dimension", Compile.Run(CompileOptions.Default, m).Err().Message);
    }

    [Fact]
    public void TestActivationEluFallsBackOrFails()
    {
        var (code, _, err) = CliRunner.Run("inspect", Case("nengo_activation_elu"), "--no-fallback");
        Assert.Equal(3, code);
        Assert.Contains("Unsupported activation type", err);
        var (ok, output, warn) = CliRunner.Run("verify", Case("nengo_activation_elu"));
        Assert.True(ok == 0, warn + output);
        Assert.Contains("Falling back", warn);
    }

    [Fact]
    public void TestRepeatedLayersNeedSplitSharedWeights()
    {
        var (code, _, err) = CliRunner.Run("inspect", Case("nengo_repeated_layers"));
        Assert.Equal(3, code);
        Assert.Contains("not supported unless split_shared_weights", err);
        Assert.Equal(0, CliRunner.Run("verify", Case("nengo_repeated_layers"), "--split-shared-weights").Code);
    }

    [Fact]
    public void NoFallbackListsEveryNonNativeLayerAtOnce()
    {
        var (code, _, err) = CliRunner.Run("inspect", Case("fallback_layers"), "--no-fallback");
        Assert.Equal(3, code);
        Assert.Contains("6 problems", err);
        foreach (var phrase in new[] { "Multiply", "Maximum", "ELU", "ThresholdedReLU", "elu", "softplus" }) Assert.Contains(phrase, err);
        Assert.Contains("Unable to convert layer", err);
    }

    [Fact]
    public void FallbackLayersAreMarkedAndWarned()
    {
        var (code, output, err) = CliRunner.Run("inspect", Case("fallback_layers"), "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        Assert.Equal(6, doc.RootElement.GetProperty("fallback_layers").GetInt32());
        Assert.Equal(6, doc.RootElement.GetProperty("warnings").EnumerateArray().Count(w => w.GetString()!.Contains("Falling back")));
    }

    [Fact]
    public void RegularizersAndDilationConvertNatively()
    {
        // NengoDL falls back for these (test_unsupported_args); we convert them natively.
        foreach (var name in new[] { "nengo_unsupported_args_regularizer", "nengo_unsupported_args_dilation" })
        {
            var (code, output, err) = CliRunner.Run("verify", Case(name), "--no-fallback", "--input", TestModels.Fixture("tfjs", name, "input_0.npy"));
            Assert.True(code == 0, err + output);
        }
    }
}
