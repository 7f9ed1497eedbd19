using LanguageExt;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Facade;

/// <summary>The Snn library's data loading: arrays fitted to a model's inputs, labels, outputs written as .npy, and bench inputs.</summary>
public class DataFilesTests
{
    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    static string Write(string dir, string name, Tensor t)
    {
        var path = Path.Combine(dir, name);
        Npy.WriteFloat32(path, t);
        return path;
    }

    [Fact]
    public void DataFitsAnInputUpToUnitDimensions()
    {
        var images = TestModels.Random(new[] { 2, 4, 4 }, 1);
        var fitted = DataFiles.Fit("x", images, Arr.create(4, 4, 1)).Ok();
        Assert.Equal(new[] { 2, 4, 4, 1 }, fitted.Shape.ToArray());
        Assert.Equal(images.Span.ToArray(), fitted.Span.ToArray());
        Assert.Same(images, DataFiles.Fit("x", images, Arr.create(-1, 4)).Ok());   // -1: any size
        Assert.Equal(Errors.DataCode, DataFiles.Fit("x", images, Arr.create(16)).Err().Code);
        Assert.Equal(Errors.DataCode, DataFiles.Fit("x", Tensor.Scalar(1f), Arr.create(1)).Err().Code);
    }

    [Fact]
    public void InputsAreScaledAndMustHaveTheSameSamples()
    {
        var dir = TempDir();
        var a = Write(dir, "a.npy", Tensor.Own(new[] { 2, 2 }, new[] { 1f, 2f, 3f, 4f }));
        var b = Write(dir, "b.npy", Tensor.Own(new[] { 3, 1 }, new[] { 1f, 2f, 3f }));
        var shapes = Seq(Arr.create(2), Arr.create(1));
        var scaled = DataFiles.Inputs(Seq1(a), Seq1(Arr.create(2)), Some(0.5f)).Ok();
        Assert.Equal(new[] { 0.5f, 1f, 1.5f, 2f }, scaled.Head.Span.ToArray());
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, DataFiles.Inputs(Seq1(a), Seq1(Arr.create(2)), None).Ok().Head.Span.ToArray());
        var e = DataFiles.Inputs(Seq(a, b), shapes, None).Err();
        Assert.Contains("same, non-zero number of samples", e.Message);
        Assert.Equal(Errors.DataCode, DataFiles.Inputs(Seq1(Path.Combine(dir, "missing.npy")), Seq1(Arr.create(2)), None).Err().Code);
    }

    [Fact]
    public void LabelsOnesAndOutputs()
    {
        var dir = TempDir();
        var oneHot = Write(dir, "y.npy", Tensor.Own(new[] { 2, 3 }, new[] { 0f, 0f, 1f, 1f, 0f, 0f }));
        Assert.Equal(new[] { 2, 0 }, DataFiles.Labels(oneHot, 2).Ok());
        Assert.Equal(Errors.DataCode, DataFiles.Labels(oneHot, 3).Err().Code);
        var ones = DataFiles.Ones(Seq1(Arr.create(3, 1))).Ok();
        Assert.Equal(new[] { 2, 3, 1 }, ones.Head.Shape.ToArray());
        Assert.All(ones.Head.Span.ToArray(), v => Assert.Equal(1f, v));

        var outDir = Path.Combine(dir, "out");
        DataFiles.WriteOutputs(outDir, Seq(Tensor.Vector(new[] { 1f, 2f }), Tensor.Vector(new[] { 3f }))).Ok();
        Assert.Equal(new[] { 3f }, Npy.Read(Path.Combine(outDir, "output_1.npy")).Ok().Span.ToArray());
        Assert.Equal(Errors.WriteCode, DataFiles.WriteOutputs(oneHot, Seq1(Tensor.Vector(new[] { 1f }))).Err().Code);   // a file, not a folder: a write error (exit 4)
        Assert.Equal(4, Errors.ExitCode(DataFiles.WriteOutputs(oneHot, Seq1(Tensor.Vector(new[] { 1f }))).Err()));
    }

    [Fact]
    public void BenchInputsRepeatTheDataOrAreRandom()
    {
        var data = Tensor.Own(new[] { 2, 2 }, new[] { 1f, 2f, 3f, 4f });
        var taken = Benchmark.Inputs(Some(Seq1(data)), Seq1(Arr.create(2)), 5).Head;
        Assert.Equal(new[] { 5, 2 }, taken.Shape.ToArray());
        Assert.Equal(new[] { 1f, 2f, 3f, 4f, 1f, 2f, 3f, 4f, 1f, 2f }, taken.Span.ToArray());
        var random = Benchmark.Inputs(None, Seq1(Arr.create(3)), 4).Head;
        Assert.Equal(new[] { 4, 3 }, random.Shape.ToArray());
        Assert.All(random.Span.ToArray(), v => Assert.InRange(v, 0f, 1f));
        Assert.Equal(random.Span.ToArray(), Benchmark.Inputs(None, Seq1(Arr.create(3)), 4).Head.Span.ToArray());   // seed 0: the same every time
        Assert.NotEqual(random.Span[0], random.Span[1]);
    }
}
