using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Coverage;

/// <summary>
/// Layers TF.js cannot write (so no TF.js fixture exists), checked against values worked out by hand from the
/// Keras definitions, in keras mode and through the converted network (rate mode), with --no-fallback.
/// </summary>
public class LayerMathTests
{
    static void Check(KerasModel model, Seq<Tensor> inputs, float[] expected)
    {
        var keras = KerasEval.Run(model, inputs).Ok().Head;
        Assert.Equal(expected, keras.ToArray(), new Tolerance());
        var compiled = Compile.Run(CompileOptions.Default with { Legalize = new Compiler.Legalize.LegalizeOptions(AllowFallback: false) }, model, verify: true).Ok();
        Assert.Equal(expected, Interpreter.Run(compiled.Program, compiled.Functions, inputs, SimOptions.Default).Ok().Head.ToArray(), new Tolerance());
    }

    sealed class Tolerance : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= 1e-5f * Math.Max(1f, Math.Abs(a));
        public int GetHashCode(float f) => 0;
    }

    static Tensor X(int[] shape) => Tensor.Own(shape, Enumerable.Range(1, Shapes.Product(shape)).Select(i => (float)i).ToArray());

    [Fact]
    public void Subtract() =>
        Check(Functional(new[] { "a", "b" }, new[] { new[] { 3 }, new[] { 3 } }, new[] { "s" }, (new L("Subtract", "s", new { }), new[] { "a", "b" })),
            Seq(T(new[] { 1, 3 }, 5, 1, 0), T(new[] { 1, 3 }, 2, 4, -1)), new[] { 3f, -3f, 1f });

    [Fact]
    public void ZeroPadding1D() =>   // (3, 1) padded (1, 2) on the steps axis
        Check(Sequential(new[] { 3, 1 }, new L("ZeroPadding1D", "p", new { padding = new[] { 1, 2 } })), Seq1(X(new[] { 1, 3, 1 })),
            new[] { 0f, 1, 2, 3, 0, 0 });

    [Fact]
    public void Cropping1D() =>
        Check(Sequential(new[] { 5, 2 }, new L("Cropping1D", "c", new { cropping = new[] { 1, 2 } })), Seq1(X(new[] { 1, 5, 2 })),
            new[] { 3f, 4, 5, 6 });

    [Fact]
    public void UpSampling1D() =>
        Check(Sequential(new[] { 2, 2 }, new L("UpSampling1D", "u", new { size = 3 })), Seq1(X(new[] { 1, 2, 2 })),
            new[] { 1f, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4 });

    [Fact]
    public void ZeroPadding3DAndCropping3DAndUpSampling3D()
    {
        // (1,1,2,1): pad depth (1,0) -> (2,1,2,1); upsample height x2 -> (2,2,2,1); crop width (1,0) -> (2,2,1,1)
        var m = Sequential(new[] { 1, 1, 2, 1 },
            new L("ZeroPadding3D", "p", new { padding = new[] { new[] { 1, 0 }, new[] { 0, 0 }, new[] { 0, 0 } } }),
            new L("UpSampling3D", "u", new { size = new[] { 1, 2, 1 } }),
            new L("Cropping3D", "c", new { cropping = new[] { new[] { 0, 0 }, new[] { 0, 0 }, new[] { 1, 0 } } }));
        Check(m, Seq1(X(new[] { 1, 1, 1, 2, 1 })), new[] { 0f, 0, 2, 2 });
    }

    [Fact]
    public void Normalization() =>   // (x - mean) / sqrt(variance)
        Check(Sequential(new[] { 2 }, new L("Normalization", "n", new { axis = -1 },
                ("mean", T(new[] { 2 }, 1f, -2f)), ("variance", T(new[] { 2 }, 4f, 0.25f)))),
            Seq1(T(new[] { 1, 2 }, 5f, -1f)), new[] { 2f, 2f });

    [Fact]
    public void Permute() =>   // (2, 3) -> (3, 2)
        Check(Sequential(new[] { 2, 3 }, new L("Permute", "p", new { dims = new[] { 2, 1 } })), Seq1(X(new[] { 1, 2, 3 })),
            new[] { 1f, 4, 2, 5, 3, 6 });

    [Fact]
    public void AveragePooling3DAndGlobalMaxPooling1D()
    {
        Check(Sequential(new[] { 2, 2, 2, 1 }, new L("AveragePooling3D", "a", new { pool_size = new[] { 2, 2, 2 } })), Seq1(X(new[] { 1, 2, 2, 2, 1 })),
            new[] { 4.5f });
        Check(Sequential(new[] { 3, 2 }, new L("GlobalMaxPooling1D", "g", new { })), Seq1(T(new[] { 1, 3, 2 }, 1, 9, 7, 2, 3, 4)), new[] { 7f, 9f });
    }

    [Fact]
    public void Conv3D()
    {
        // A 2x2x2 kernel of ones over a 2x2x2 input sums it: 1+...+8 = 36, plus bias 0.5.
        Check(Sequential(new[] { 2, 2, 2, 1 }, new L("Conv3D", "c", new { filters = 1, kernel_size = new[] { 2, 2, 2 } },
                ("kernel", Tensor.Filled(new[] { 2, 2, 2, 1, 1 }, 1f)), ("bias", T(new[] { 1 }, 0.5f)))),
            Seq1(X(new[] { 1, 2, 2, 2, 1 })), new[] { 36.5f });
    }
}
