using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Keras;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Coverage;

/// <summary>Conv2D with groups (TF.js cannot write it): a grouped convolution equals separate convolutions per group, concatenated.</summary>
public class GroupedConvTests
{
    [Fact]
    public void GroupsMatchPerGroupConvolutions()
    {
        var kernel = Random(new[] { 3, 3, 2, 6 }, 1);   // groups 2: in 4 channels (2 per group), 6 filters (3 per group)
        var bias = Random(new[] { 6 }, 2);
        var grouped = Sequential(new[] { 7, 7, 4 },
            new L("Conv2D", "g", new { filters = 6, kernel_size = new[] { 3, 3 }, groups = 2, padding = "same" }, ("kernel", kernel), ("bias", bias)));
        Tensor Slice(Tensor t, int[] shape, Func<int, bool> keepLast, int last) =>
            Tensor.Own(shape, Enumerable.Range(0, t.Length).Where(i => keepLast(i % last)).Select(i => t[i]).ToArray());
        var x = Random(new[] { 2, 7, 7, 4 }, 3);
        var expected = new float[2 * 7 * 7 * 6];
        for (var g = 0; g < 2; g++)
        {
            var k = Slice(kernel, new[] { 3, 3, 2, 3 }, c => c / 3 == g, 6);
            var b = Slice(bias, new[] { 3 }, c => c / 3 == g, 6);
            var xg = Slice(x, new[] { 2, 7, 7, 2 }, c => c / 2 == g, 4);
            var single = Sequential(new[] { 7, 7, 2 },
                new L("Conv2D", "c", new { filters = 3, kernel_size = new[] { 3, 3 }, padding = "same" }, ("kernel", k), ("bias", b)));
            var y = KerasEval.Run(single, Seq1(xg)).Ok().Head;
            for (var i = 0; i < y.Length; i++) expected[i / 3 * 6 + g * 3 + i % 3] = y[i];
        }
        var want = Tensor.Own(new[] { 2, 7, 7, 6 }, expected);
        TestModels.Close(want, KerasEval.Run(grouped, Seq1(x)).Ok().Head, 1e-5f);
        var compiled = Compile.Run(CompileOptions.Default, grouped, verify: true).Ok();
        TestModels.Close(want, Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), SimOptions.Default).Ok().Head, 1e-5f);
    }
}
