using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Compiler.Saved;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Facade;

/// <summary>The library's side of the input scale: a saved network's scale applies to the data read for it, and uint8 data without one is warned about.</summary>
public class InputScaleTests
{
    static readonly string Mlp = TestModels.Fixture("tfjs", "dense_mlp", "model.json");
    static readonly string MlpInput = TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy");

    /// <summary>dense_mlp saved by the library with an input scale of 0.25 (as <c>snn convert --input-scale 0.25</c> does).</summary>
    static Loaded SavedWithScale(float scale)
    {
        var request = RunRequest.Of(CompileOptions.Default) with { InputScale = Some(scale) };
        var saved = Runs.Save(request, Mlp, 8).Ok();
        Assert.Equal(Some(scale), saved.InputScale);
        var bytes = NetworkFile.Save(saved).Ok();
        return Loaded.Of("net.snnz", NetworkFile.Load(bytes).Ok());
    }

    [Fact]
    public void SavedScaleAppliesWhenNoneIsGivenAndAContradictionIsAUsageError()
    {
        var model = SavedWithScale(0.25f);
        Assert.Equal(Some(0.25f), model.InputScaleFor(None).Ok());
        Assert.Equal(Some(0.25f), model.InputScaleFor(Some(0.25f)).Ok());
        var error = model.InputScaleFor(Some(1f)).Err();
        Assert.Equal(Errors.UsageCode, error.Code);
        Assert.Contains("--input-scale 1 ", error.Message);
        Assert.Contains("0.25", error.Message);

        var warnings = new List<string>();
        var inputs = DataFiles.Inputs(model, Seq1(MlpInput), None, warnings.Add).Ok();
        var raw = Npy.Read(MlpInput).Ok();
        Assert.Equal(raw.Span.ToArray().Select(v => v * 0.25f), inputs.Head.Span.ToArray());
        Assert.Empty(warnings);

        // A Keras model records nothing: the given scale, or none.
        var keras = Loaded.Of(Mlp, ModelFile.Import(Mlp).Ok());
        Assert.Equal(Option<float>.None, keras.InputScaleFor(None).Ok());
        Assert.Equal(Some(3f), keras.InputScaleFor(Some(3f)).Ok());
    }

    [Fact]
    public void Uint8DataWithoutAnyScaleIsWarnedAbout()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var u8 = Path.Combine(dir, "x.npy");
        Snn.Tests.Cli.TrapTests.WriteUint8(u8, new[] { 3, 2, 2 }, Enumerable.Range(0, 12).Select(i => (byte)(255 - i)).ToArray());
        Assert.Equal("uint8", DataFile.ReadArray(u8).Ok().DType);
        Assert.Equal("float32", DataFile.ReadArray(MlpInput).Ok().DType);

        var keras = Loaded.Of(Mlp, ModelFile.Import(Mlp).Ok());
        var warnings = new List<string>();
        var inputs = DataFiles.Inputs(keras, Seq1(u8), None, warnings.Add).Ok();
        Assert.Equal(255f, inputs.Head[0]);
        Assert.Contains(warnings, w => w.Contains("--input-scale 1/255") && w.Contains("244..255"));

        warnings.Clear();
        DataFiles.Inputs(keras, Seq1(u8), Some(1f / 255), warnings.Add).Ok();
        DataFiles.Inputs(SavedWithScale(1f / 255), Seq1(u8), None, warnings.Add).Ok();
        Assert.Empty(warnings);
    }
}
