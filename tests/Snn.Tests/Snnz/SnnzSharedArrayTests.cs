using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Saved;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Snnz;

/// <summary>
/// An array entry that many objects of a saved network refer to is decoded once: a hostile file that points every
/// connection at one large entry costs that entry's size, not its size once per reference (a 1 GiB array referenced by
/// four ensembles took 7.5 GB before).
/// </summary>
public class SnnzSharedArrayTests
{
    static byte[] ThreeDense()
    {
        var model = Sequential(new[] { 6 },
            new L("Dense", "a", new { units = 6, activation = "relu" }, ("kernel", Random(new[] { 6, 6 }, 1)), ("bias", Random(new[] { 6 }, 2))),
            new L("Dense", "b", new { units = 6, activation = "relu" }, ("kernel", Random(new[] { 6, 6 }, 3)), ("bias", Random(new[] { 6 }, 4))),
            new L("Dense", "c", new { units = 6 }, ("kernel", Random(new[] { 6, 6 }, 5)), ("bias", Random(new[] { 6 }, 6))));
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() };
        var compiled = Compile.Run(options, model).Ok();
        return NetworkFile.Save(SavedNetwork.Of(compiled, options, None, "x.npy", None).Ok()).Ok();
    }

    static IEnumerable<JsonObject> DenseTransforms(JsonObject root) =>
        root["network"]!["connections"]!.AsArray().Select(c => c!["transform"]!.AsObject()).Where(t => (string)t["type"]! == "dense");

    [Fact]
    public void EveryReferenceToOneEntryGetsTheOneDecodedArray()
    {
        var edited = SnnzTestFiles.EditJson(ThreeDense(), root =>
        {
            var kernels = DenseTransforms(root).ToList();
            Assert.Equal(3, kernels.Count);
            Assert.Equal(3, kernels.Select(k => (string)k["kernel"]!).Distinct().Count());
            foreach (var k in kernels.Skip(1)) k["kernel"] = (string)kernels[0]["kernel"]!;
        });

        var net = NetworkFile.Load(edited, "shared.snnz").Ok().Network;
        var dense = net.Connections.Map(c => c.Transform).OfType<DenseT>().ToList();
        Assert.Equal(3, dense.Count);
        Assert.True(dense.Skip(1).All(d => d.Kernel.Span.SequenceEqual(dense[0].Kernel.Span)), "the edited connections read the first kernel");
        Assert.True(dense.Skip(1).All(d => Same(d, dense[0])), "each reference decoded the entry again");

        // Unedited, the three kernels are three arrays.
        var plain = NetworkFile.Load(ThreeDense(), "plain.snnz").Ok().Network.Connections.Map(c => c.Transform).OfType<DenseT>().ToList();
        Assert.False(Same(plain[0], plain[1]) || Same(plain[1], plain[2]) || Same(plain[0], plain[2]));
    }

    static bool Same(DenseT a, DenseT b) =>
        System.Runtime.CompilerServices.Unsafe.AreSame(ref MemoryMarshal.GetReference(a.Kernel.Span), ref MemoryMarshal.GetReference(b.Kernel.Span));
}
