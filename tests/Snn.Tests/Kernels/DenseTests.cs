using Snn.Runtime.Kernels;
using Xunit;

namespace Snn.Tests.Kernels;

public class DenseTests
{
    private static (double[] E, double[] Scale) Reference(float[] x, int batch, int inSize, float[] w, int outSize, float[] y0)
    {
        var e = new double[batch * outSize];
        var s = new double[batch * outSize];
        for (int b = 0; b < batch; b++)
        {
            for (int o = 0; o < outSize; o++)
            {
                double acc = y0[(b * outSize) + o], abs = Math.Abs(acc);
                for (int i = 0; i < inSize; i++)
                {
                    double t = (double)x[(b * inSize) + i] * w[(i * outSize) + o];
                    acc += t;
                    abs += Math.Abs(t);
                }

                e[(b * outSize) + o] = acc;
                s[(b * outSize) + o] = abs;
            }
        }

        return (e, s);
    }

    public static TheoryData<int, int, int> Shapes()
    {
        var d = new TheoryData<int, int, int>();
        int[] batches = [1, 2, 5, 7, 9, 17];
        int[] ins = [1, 3, 16, 37, 300];
        int[] outs = [1, 5, 8, 15, 16, 17, 31, 33, 64, 70];
        int k = 0;
        foreach (int b in batches)
        {
            foreach (int i in ins)
            {
                foreach (int o in outs)
                {
                    // a deterministic subset of the full product keeps the run short
                    if ((k++ % 3) == 0 || b == 1 || b == 7)
                    {
                        d.Add(b, i, o);
                    }
                }
            }
        }

        d.Add(100, 784, 128);
        d.Add(3, 600, 529); // crosses the K block (256) and the N block (512)
        return d;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesReference(int batch, int inSize, int outSize)
    {
        var x = KernelAssert.Random(batch * inSize, 1 + batch + inSize);
        var w = KernelAssert.Random(inSize * outSize, 2 + outSize);
        var y = KernelAssert.Random(batch * outSize, 3);
        var (e, s) = Reference(x, batch, inSize, w, outSize, y);
        Dense.Accumulate(x, batch, inSize, w, outSize, y);
        KernelAssert.Close(e, y, s);
    }

    [Theory]
    [InlineData(1, 10, 10, 0.2)]
    [InlineData(7, 300, 33, 0.1)]
    [InlineData(100, 784, 128, 0.05)]
    [InlineData(5, 600, 17, 0.5)]
    [InlineData(6, 37, 70, 0.0)]
    [InlineData(9, 40, 64, 1.0)]
    // Column chunks of the event kernel: 1 to 8 vectors with and without a masked last one (16 or 8 lanes), 8-vector
    // passes before a rest; several K blocks with the next block's rows prefetched; LeNet-5's 1920x84.
    [InlineData(4, 300, 84, 0.05)]
    [InlineData(3, 600, 130, 0.1)]
    [InlineData(5, 520, 200, 0.3)]
    [InlineData(2, 1920, 84, 0.035)]
    [InlineData(3, 70, 96, 0.2)]
    [InlineData(3, 70, 112, 0.2)]
    [InlineData(3, 70, 257, 0.2)]
    [InlineData(3, 70, 48, 0.2)]
    [InlineData(3, 70, 120, 0.2)]
    public void SkipZerosIsBitIdenticalToDense(int batch, int inSize, int outSize, double density)
    {
        var x = KernelAssert.Spikes(batch * inSize, 11 + batch, density);
        var w = KernelAssert.Random(inSize * outSize, 12);
        var y0 = KernelAssert.Random(batch * outSize, 13);
        var dense = (float[])y0.Clone();
        var events = (float[])y0.Clone();
        Dense.Accumulate(x, batch, inSize, w, outSize, dense);
        Dense.Accumulate(x, batch, inSize, w, outSize, events, skipZeros: true);
        KernelAssert.SameBits(dense, events);
        var (e, s) = Reference(x, batch, inSize, w, outSize, y0);
        KernelAssert.Close(e, events, s);
    }

    [Fact]
    public void EmptyShapesAreNoOps()
    {
        var y = new float[] { 1, 2, 3 };
        Dense.Accumulate([], 3, 0, [], 1, y);
        Assert.Equal([1f, 2f, 3f], y);
        Dense.Accumulate([], 0, 4, new float[8], 2, []);
        Dense.Accumulate(new float[6], 3, 2, [], 0, []);
    }

    [Fact]
    public void BadLengthsThrow()
    {
        Assert.Throws<ArgumentException>(() => Dense.Accumulate(new float[5], 2, 3, new float[6], 2, new float[4]));
        Assert.Throws<ArgumentException>(() => Dense.Accumulate(new float[6], 2, 3, new float[5], 2, new float[4]));
        Assert.Throws<ArgumentException>(() => Dense.Accumulate(new float[6], 2, 3, new float[6], 2, new float[5]));
        Assert.Throws<ArgumentException>(() => Dense.Accumulate(new float[6], -2, -3, new float[6], 2, new float[4]));
    }
}
