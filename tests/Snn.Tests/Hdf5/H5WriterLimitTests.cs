using LanguageExt;
using Snn.Compiler.Hdf5;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Hdf5;

/// <summary>What the HDF5 format (as written here) cannot hold comes back as an error value naming it, never a throw.</summary>
public class H5WriterLimitTests
{
    /// <summary>A value type the writer does not know (H5Value is open for extension).</summary>
    sealed record H5Complex(Arr<int> Shape) : H5Value(Shape)
    {
        public override int Count => 1;
    }

    static H5GroupNode Root => new(Map<string, H5Node>(), Map<string, H5Value>());

    [Fact]
    public void AnAttributeOverOneHeaderMessageIsAnError()
    {
        // One attribute message holds at most 65535 bytes (its size field is 16 bits): 20000 floats need 80000.
        var big = Root with { Attributes = Map(("weights", H5Value.Floats(Arr.create(20000), new float[20000]))) };
        var error = H5Writer.ToBytes(big).Err();
        Assert.Contains("attribute 'weights' needs", error.Message);
        Assert.Contains("65535", error.Message);
        // The same values as a dataset are fine.
        Assert.True(H5Writer.ToBytes(Root.With("weights", H5Value.Floats(Arr.create(20000), new float[20000]))).IsRight);
    }

    [Fact]
    public void AnUnknownValueTypeIsRefusedWithEveryOtherProblem()
    {
        var bad = Root.With("z", new H5Complex(Arr<int>.Empty)).With("", H5Value.Scalar(1.0));
        var error = H5Writer.ToBytes(bad).Err();
        Assert.Contains("'/z': unsupported value type H5Complex", error.Message);
        Assert.Contains("invalid link name ''", error.Message);
    }
}
