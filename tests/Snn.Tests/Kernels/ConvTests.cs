using Snn.Kernels;
using Snn.Runtime.Kernels;
using Xunit;

namespace Snn.Tests.Kernels;

public class ConvTests
{
    public sealed record Case(
        string Name, int[] In, int Cin, int[] K, int[] S, int[] D, int[] P, int[] Out, int Cout, int Groups, bool ChannelsLast, int Batch)
    {
        public override string ToString() => Name;
    }

    /// <summary>TF output size: 'valid' -> ceil((in - (k-1)d) / s), 'same' -> ceil(in / s) with TF padding.</summary>
    private static (int[] Out, int[] Pad) Sizes(int[] inS, int[] k, int[] s, int[] d, bool same)
    {
        var o = new int[inS.Length];
        var p = new int[inS.Length];
        for (int i = 0; i < inS.Length; i++)
        {
            int ek = ((k[i] - 1) * d[i]) + 1;
            if (same)
            {
                o[i] = (inS[i] + s[i] - 1) / s[i];
                p[i] = Math.Max(((o[i] - 1) * s[i]) + ek - inS[i], 0) / 2;
            }
            else
            {
                o[i] = ((inS[i] - ek) / s[i]) + 1;
            }
        }

        return (o, p);
    }

    private static Case Make(string name, int[] inS, int cin, int[] k, int s, int d, bool same, int cout, int groups = 1, bool last = true, int batch = 2)
    {
        var st = Enumerable.Repeat(s, inS.Length).ToArray();
        var di = Enumerable.Repeat(d, inS.Length).ToArray();
        var (outS, pad) = Sizes(inS, k, st, di, same);
        return new Case(name + (same ? " same" : " valid"), inS, cin, k, st, di, pad, outS, cout, groups, last, batch);
    }

    public static TheoryData<Case> Cases() =>
    [
        Make("1d", [13], 3, [3], 1, 1, false, 5),
        Make("1d s2", [17], 4, [5], 2, 1, true, 17),
        Make("1d d2 cf", [20], 6, [3], 1, 2, true, 9, last: false),
        Make("2d", [7, 9], 3, [3, 3], 1, 1, false, 8),
        Make("2d", [7, 9], 3, [3, 3], 1, 1, true, 33),
        Make("2d s2", [8, 11], 5, [3, 2], 2, 1, true, 16, batch: 3),
        Make("2d s2 valid", [9, 9], 2, [3, 3], 2, 1, false, 4),
        Make("2d d2", [10, 12], 4, [3, 3], 1, 2, true, 20),
        Make("2d d2 valid", [10, 12], 4, [3, 3], 1, 2, false, 7),
        Make("2d g2", [6, 7], 8, [3, 3], 1, 1, true, 34, groups: 2),
        Make("2d g2 cf", [6, 7], 6, [3, 3], 2, 1, true, 10, groups: 2, last: false),
        Make("2d depthwise", [7, 8], 19, [3, 3], 1, 1, true, 19, groups: 19),
        Make("2d depthwise odd pixels", [5, 7], 24, [3, 3], 1, 1, false, 24, groups: 24, batch: 3),
        Make("2d depthwise x2", [7, 8], 5, [3, 3], 1, 1, true, 10, groups: 5),
        Make("2d depthwise s2 cf", [9, 8], 40, [3, 3], 2, 1, true, 40, groups: 40, last: false),
        Make("2d depthwise c8", [9, 11], 8, [3, 3], 1, 1, true, 8, groups: 8),
        Make("2d depthwise c8 s2", [9, 11], 8, [3, 3], 2, 1, true, 8, groups: 8, batch: 3),
        Make("2d depthwise c24", [5, 13], 24, [3, 3], 1, 1, true, 24, groups: 24),
        Make("2d cf", [6, 5], 3, [2, 3], 1, 1, true, 18, last: false, batch: 3),
        Make("2d 1x1", [5, 5], 16, [1, 1], 1, 1, false, 48),
        Make("2d cin1", [12, 12], 1, [5, 5], 1, 1, true, 16, batch: 3),
        Make("2d k>in same", [2, 3], 2, [5, 5], 1, 1, true, 3),
        Make("2d big", [14, 14], 32, [3, 3], 1, 1, true, 64, batch: 2),
        // LeNet-5's second convolution (one output vector per term: the event kernel pads its streams), and 80 filters
        // (a four-vector chunk, then a one-vector chunk on the same streams).
        Make("2d cf lenet conv2", [12, 12], 6, [5, 5], 1, 1, false, 16, last: false, batch: 3),
        Make("2d 80 filters", [6, 7], 5, [3, 3], 1, 1, true, 80),
        // Channels-first with one group lists its spikes through per-pixel channel masks up to 32 channels, by a
        // counting sort past that.
        Make("2d cf 40 channels", [5, 6], 40, [3, 3], 1, 1, true, 16, last: false),
        // Row strips (ConvGeometry.RowStrips, on a vector path: one group, <= 16 filters, last axis stride 1 undilated,
        // unpadded): channels-last; rows of 19 pixels (chunks of 8, 8 and 3) with 10 filters; strides and dilation
        // on the leading axis; 1-D and 3-D.
        Make("2d rows", [12, 12], 6, [5, 5], 1, 1, false, 16),
        Make("2d rows 19 wide", [7, 23], 3, [3, 5], 1, 1, false, 10, last: false),
        new Case("2d rows s(2,1) d(2,1)", [11, 10], 4, [3, 3], [2, 1], [2, 1], [0, 0], [4, 8], 12, 1, true, 2),
        Make("1d rows", [30], 5, [7], 1, 1, false, 16, last: false),
        Make("3d rows", [3, 5, 12], 2, [2, 2, 4], 1, 1, false, 13),
        Make("3d", [4, 5, 6], 2, [2, 3, 3], 1, 1, false, 6),
        Make("3d same s2", [5, 6, 4], 3, [3, 3, 3], 2, 1, true, 17),
        Make("3d d2 g3 cf", [6, 6, 6], 6, [2, 2, 2], 1, 2, true, 9, groups: 3, last: false),
        // Channels-first, unpadded, one group, < 16 output channels: the direct kernel (ConvGeometry.DirectChannelsFirst).
        Make("2d cf lenet conv1", [28, 28], 1, [5, 5], 1, 1, false, 6, last: false),
        Make("1d d2 cf", [20], 2, [3], 1, 2, false, 5, last: false, batch: 3),
        Make("2d d2 cf 15 filters", [10, 40], 3, [3, 3], 1, 2, false, 15, last: false),
        Make("3d cf", [4, 5, 19], 2, [2, 2, 3], 1, 1, false, 7, last: false),
    ];

    /// <summary>The geometry of the case named <paramref name="name"/>.</summary>
    private static ConvGeometry G(string name)
    {
        foreach (var c in Cases())
            if (c.Name == name) return ConvGeometry.Create(c.In, c.Cin, c.K, c.S, c.D, c.P, c.Out, c.Cout, c.Groups, c.ChannelsLast);
        throw new ArgumentException(name);
    }

    /// <summary>Which geometries run the direct channels-first kernel (on a vector path).</summary>
    [Fact]
    public void DirectChannelsFirstOnlyForUnpaddedSingleGroupFewFilters()
    {
        var vector = System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated;
        foreach (var name in new[] { "2d cf lenet conv1 valid", "1d d2 cf valid", "2d d2 cf 15 filters valid", "3d cf valid" })
            Assert.True(G(name).DirectChannelsFirst == vector, name);
        foreach (var name in new[] { "1d d2 cf same", "2d g2 cf same", "2d cf same", "2d valid", "3d d2 g3 cf same" })
            Assert.False(G(name).DirectChannelsFirst, name);
    }

    /// <summary>Which geometries the event kernel runs as row strips (on a vector path).</summary>
    [Fact]
    public void RowStripsOnlyForUnpaddedSingleGroupFewFiltersUnitLastStride()
    {
        var vector = KernelMath.Path != SimdPath.Scalar;
        foreach (var name in new[] { "2d cf lenet conv2 valid", "2d rows valid", "2d rows 19 wide valid", "2d rows s(2,1) d(2,1)", "1d rows valid", "3d rows valid" })
            Assert.True(G(name).RowStrips == vector, name);
        // Padding, more than 16 filters, groups, stride or dilation on the last axis.
        foreach (var name in new[] { "2d same", "2d 1x1 valid", "2d g2 same", "2d s2 valid valid", "2d d2 valid valid", "1d d2 cf valid" })
            Assert.False(G(name).RowStrips, name);
    }

    /// <summary>
    /// Row strips multiply inputs by the strips' zero weights, so a sample with a NaN or an infinity takes the stream
    /// kernel: the non-finite value reaches exactly the outputs it reaches on the dense path.
    /// </summary>
    [Fact]
    public void RowStripSamplesWithNonFiniteInputsMatchDense()
    {
        var g = ConvGeometry.Create([12, 12], 6, [5, 5], [1, 1], [1, 1], [0, 0], [8, 8], 16, 1, false);
        var x = new float[3 * g.InputSize];
        KernelAssert.Spikes(x.Length, 21, 0.1).CopyTo(x, 0);
        x[(0 * 144) + (5 * 12) + 6] = float.NaN;
        x[g.InputSize + (3 * 144) + (11 * 12) + 11] = float.PositiveInfinity;
        var k = KernelAssert.Random(g.KernelSize, 22);
        var dense = new float[3 * g.OutputSize];
        var events = new float[dense.Length];
        Conv.Accumulate(g, k, x, 3, new float[g.WorkspaceSize(3)], dense);
        Conv.AccumulateEvents(g, k, x, 3, new float[g.EventWorkspaceSize], events);
        Assert.Contains(dense, float.IsNaN);
        Assert.Contains(dense.AsSpan(0, g.OutputSize).ToArray(), float.IsFinite);
        KernelAssert.SameBits(dense, events);
    }

    private static int Idx(int[] sp, int c, int C, bool last, int[] pos)
    {
        int pix = 0;
        for (int i = 0; i < sp.Length; i++)
        {
            pix = (pix * sp[i]) + pos[i];
        }

        int pixels = sp.Aggregate(1, (a, v) => a * v);
        return last ? (pix * C) + c : (c * pixels) + pix;
    }

    private static IEnumerable<int[]> Positions(int[] sizes)
    {
        var p = new int[sizes.Length];
        int total = sizes.Aggregate(1, (a, v) => a * v);
        for (int n = 0; n < total; n++)
        {
            int r = n;
            for (int i = sizes.Length - 1; i >= 0; i--)
            {
                p[i] = r % sizes[i];
                r /= sizes[i];
            }

            yield return (int[])p.Clone();
        }
    }

    private static (double[] E, double[] Scale) Reference(Case c, int[] outS, float[] x, float[] k, float[] y0)
    {
        int inSize = c.In.Aggregate(1, (a, v) => a * v) * c.Cin;
        int outPix = outS.Aggregate(1, (a, v) => a * v);
        int outSize = outPix * c.Cout;
        int cg = c.Cin / c.Groups, ng = c.Cout / c.Groups;
        var e = new double[c.Batch * outSize];
        var s = new double[c.Batch * outSize];
        var taps = Positions(c.K).ToArray();
        for (int b = 0; b < c.Batch; b++)
        {
            foreach (var o in Positions(outS))
            {
                for (int oc = 0; oc < c.Cout; oc++)
                {
                    int yi = (b * outSize) + Idx(outS, oc, c.Cout, c.ChannelsLast, o);
                    double acc = y0[yi], abs = Math.Abs(acc);
                    int g = oc / ng;
                    for (int t = 0; t < taps.Length; t++)
                    {
                        var ip = new int[o.Length];
                        bool inside = true;
                        for (int dd = 0; dd < o.Length; dd++)
                        {
                            ip[dd] = (o[dd] * c.S[dd]) - c.P[dd] + (taps[t][dd] * c.D[dd]);
                            inside &= ip[dd] >= 0 && ip[dd] < c.In[dd];
                        }

                        if (!inside)
                        {
                            continue;
                        }

                        for (int ci = 0; ci < cg; ci++)
                        {
                            double xv = x[(b * inSize) + Idx(c.In, (g * cg) + ci, c.Cin, c.ChannelsLast, ip)];
                            double term = xv * k[(((t * cg) + ci) * c.Cout) + oc];
                            acc += term;
                            abs += Math.Abs(term);
                        }
                    }

                    e[yi] = acc;
                    s[yi] = abs;
                }
            }
        }

        return (e, s);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReference(Case c)
    {
        int[] outS = c.Out;
        var g = ConvGeometry.Create(c.In, c.Cin, c.K, c.S, c.D, c.P, outS, c.Cout, c.Groups, c.ChannelsLast);
        Assert.Equal(c.In.Aggregate(1, (a, v) => a * v) * c.Cin, g.InputSize);
        Assert.Equal(outS.Aggregate(1, (a, v) => a * v) * c.Cout, g.OutputSize);
        var x = KernelAssert.Random(c.Batch * g.InputSize, 5);
        var k = KernelAssert.Random(c.K.Aggregate(1, (a, v) => a * v) * (c.Cin / c.Groups) * c.Cout, 6);
        var y = KernelAssert.Random(c.Batch * g.OutputSize, 7);
        var (e, s) = Reference(c, outS, x, k, y);

        // NaN-filled workspace: the kernel must not depend on its content.
        var ws = new float[g.WorkspaceSize(c.Batch) + 3];
        Array.Fill(ws, float.NaN);
        Conv.Accumulate(g, k, x, c.Batch, ws, y);
        KernelAssert.Close(e, y, s);
    }

    /// <summary>
    /// The channels-last depthwise kernel's outputs are each one fused multiply-add chain over the taps in order,
    /// started at zero and added to y: bit for bit, whatever vector width it runs (eight channels run 256-bit lanes
    /// on AVX-512 machines) and wherever a pixel falls in its block of eight.
    /// </summary>
    [Fact]
    public void DepthwiseIsOneFusedChainPerOutput()
    {
        if (KernelMath.Path == SimdPath.Scalar || !System.Runtime.Intrinsics.X86.Fma.IsSupported) return;   // the general kernel runs there
        foreach (var c in System.Linq.Enumerable.Select<object[], Case>(Cases(), row => (Case)row[0]).Where(c => c.Groups == c.Cin && c.Cout == c.Cin && c.ChannelsLast && c.In.Length == 2))
        {
            var g = ConvGeometry.Create(c.In, c.Cin, c.K, c.S, c.D, c.P, c.Out, c.Cout, c.Groups, c.ChannelsLast);
            var x = KernelAssert.Random(c.Batch * g.InputSize, 21);
            var k = KernelAssert.Random(g.KernelSize, 22);
            var y = KernelAssert.Random(c.Batch * g.OutputSize, 23);
            var expected = (float[])y.Clone();
            int ch = c.Cout, kh = c.K[0], kw = c.K[1];
            for (int b = 0; b < c.Batch; b++)
                for (int oy = 0; oy < c.Out[0]; oy++)
                    for (int ox = 0; ox < c.Out[1]; ox++)
                        for (int oc = 0; oc < ch; oc++)
                        {
                            float a = 0;
                            for (int ty = 0; ty < kh; ty++)
                                for (int tx = 0; tx < kw; tx++)
                                {
                                    int iy = (oy * c.S[0]) - c.P[0] + (ty * c.D[0]), ix = (ox * c.S[1]) - c.P[1] + (tx * c.D[1]);
                                    var xv = iy >= 0 && iy < c.In[0] && ix >= 0 && ix < c.In[1] ? x[(b * g.InputSize) + (((iy * c.In[1]) + ix) * ch) + oc] : 0f;
                                    a = MathF.FusedMultiplyAdd(xv, k[(((ty * kw) + tx) * ch) + oc], a);
                                }
                            var i = (b * g.OutputSize) + (((oy * c.Out[1]) + ox) * ch) + oc;
                            expected[i] += a;
                        }
            Conv.Accumulate(g, k, x, c.Batch, new float[g.WorkspaceSize(c.Batch)], y);
            for (int i = 0; i < y.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(y[i]), $"{c.Name}, element {i}: {expected[i]:R} vs {y[i]:R}");
        }
    }

    /// <summary>Every geometry of <see cref="Cases"/> at spike densities from none to all.</summary>
    public static TheoryData<Case, double> EventCases()
    {
        var data = new TheoryData<Case, double>();
        foreach (var c in Cases())
        {
            foreach (var density in new[] { 0.0, 0.03, 0.2, 1.0 })
            {
                data.Add(c, density);
            }
        }

        return data;
    }

    /// <summary>
    /// The event-driven kernel gives the dense kernel's bits (signed zeros included) on spike inputs, and both agree
    /// with the naive reference; the event workspace is NaN-filled (its content must not matter).
    /// </summary>
    [Theory]
    [MemberData(nameof(EventCases))]
    public void EventsEqualDenseBitForBit(Case c, double density)
    {
        var g = ConvGeometry.Create(c.In, c.Cin, c.K, c.S, c.D, c.P, c.Out, c.Cout, c.Groups, c.ChannelsLast);
        Assert.True(g.SupportsEvents);
        var x = KernelAssert.Spikes(c.Batch * g.InputSize, 11 + (int)(density * 100), density);
        var k = KernelAssert.Random(g.KernelSize, 12);
        var y0 = KernelAssert.Random(c.Batch * g.OutputSize, 13);
        var dense = (float[])y0.Clone();
        var events = (float[])y0.Clone();
        Conv.Accumulate(g, k, x, c.Batch, new float[g.WorkspaceSize(c.Batch)], dense);
        var ws = new float[g.EventWorkspaceSize + 3];
        Array.Fill(ws, float.NaN);
        Conv.AccumulateEvents(g, k, x, c.Batch, ws, events);
        for (int i = 0; i < dense.Length; i++)
        {
            Assert.True(BitConverter.SingleToInt32Bits(dense[i]) == BitConverter.SingleToInt32Bits(events[i]), $"element {i}: dense {dense[i]:R}, events {events[i]:R}");
        }

        var (e, scale) = Reference(c, c.Out, x, k, y0);
        KernelAssert.Close(e, events, scale);
    }

    /// <summary>Samples of one batch at very different densities, and a sample with a NaN spike: the NaN reaches the same outputs on both paths.</summary>
    [Fact]
    public void EventsHandleMixedBatchesAndNaN()
    {
        var c = Make("2d s2 cf", [9, 8], 12, [3, 3], 2, 1, true, 20, last: false, batch: 4);
        var g = ConvGeometry.Create(c.In, c.Cin, c.K, c.S, c.D, c.P, c.Out, c.Cout, c.Groups, c.ChannelsLast);
        var x = new float[c.Batch * g.InputSize];
        KernelAssert.Spikes(g.InputSize, 1, 0.9).CopyTo(x, 0);
        KernelAssert.Spikes(g.InputSize, 2, 0.01).CopyTo(x, 2 * g.InputSize);
        KernelAssert.Spikes(g.InputSize, 3, 0.1).CopyTo(x, 3 * g.InputSize);
        x[(3 * g.InputSize) + 17] = float.NaN;
        var k = KernelAssert.Random(g.KernelSize, 4);
        var dense = new float[c.Batch * g.OutputSize];
        var events = new float[dense.Length];
        Conv.Accumulate(g, k, x, c.Batch, new float[g.WorkspaceSize(c.Batch)], dense);
        Conv.AccumulateEvents(g, k, x, c.Batch, new float[g.EventWorkspaceSize], events);
        Assert.Contains(dense, float.IsNaN);
        KernelAssert.SameBits(dense, events);
        Assert.All(events.AsSpan(g.OutputSize, g.OutputSize).ToArray(), v => Assert.Equal(0f, v));
    }

    /// <summary>1-D, stride 2, 'same' padding (one cell before): worked out by hand.</summary>
    [Fact]
    public void EventsHandComputedStridedSame()
    {
        // Input [0, 2, 0, 0, 1] (one channel), kernel [1, 10, 100], stride 2, pad 1 before: 3 outputs reading
        // cells (-1, 0, 1), (1, 2, 3), (3, 4, 5): 0*1 + 0*10 + 2*100 = 200, 2*1 = 2, 1*10 = 10; y starts at 1.
        var g = ConvGeometry.Create([5], 1, [3], [2], [1], [1], [3], 1, 1, true);
        float[] x = [0, 2, 0, 0, 1];
        float[] k = [1, 10, 100];
        foreach (var events in new[] { false, true })
        {
            float[] y = [1, 1, 1];
            Run(g, k, x, 1, y, events);
            Assert.Equal([201f, 3f, 11f], y);
        }
    }

    /// <summary>Channels-first, groups 2, dilation 2, 'valid': each group sees one spike; worked out by hand.</summary>
    [Fact]
    public void EventsHandComputedGroupedDilatedChannelsFirst()
    {
        // x: 2 channels of 5x5; channel 0 has 3 at (2, 2), channel 1 has 5 at (0, 4). Kernel 2x2, dilation 2, one
        // filter per group: w0 = [[1, 2], [3, 4]], w1 = [[10, 20], [30, 40]]. Output 3x3 per filter.
        // Filter 0: (oh, ow) reads (oh + 2kh, ow + 2kw) = (2, 2): (2,2)<-w0[0,0]: 3, (2,0)<-w0[0,1]: 6, (0,2)<-w0[1,0]: 9, (0,0)<-w0[1,1]: 12.
        // Filter 1: (0, 4) = (oh + 2kh, ow + 2kw) only for oh = 0, kh = 0, ow = 2, kw = 1: 5 * 20 = 100 at (0, 2).
        var g = ConvGeometry.Create([5, 5], 2, [2, 2], [1, 1], [2, 2], [0, 0], [3, 3], 2, 2, false);
        var x = new float[50];
        x[(0 * 25) + (2 * 5) + 2] = 3;
        x[(1 * 25) + (0 * 5) + 4] = 5;
        var k = new float[8];   // [kh, kw, 1, 2]
        float[][] w = [[1, 2, 3, 4], [10, 20, 30, 40]];
        for (int t = 0; t < 4; t++)
        {
            k[(t * 2) + 0] = w[0][t];
            k[(t * 2) + 1] = w[1][t];
        }

        var expected = new float[18];
        expected[(0 * 9) + (0 * 3) + 0] = 12;
        expected[(0 * 9) + (0 * 3) + 2] = 9;
        expected[(0 * 9) + (2 * 3) + 0] = 6;
        expected[(0 * 9) + (2 * 3) + 2] = 3;
        expected[(1 * 9) + (0 * 3) + 2] = 100;
        foreach (var events in new[] { false, true })
        {
            var y = new float[18];
            Run(g, k, x, 1, y, events);
            Assert.Equal(expected, y);
        }
    }

    private static void Run(ConvGeometry g, float[] k, float[] x, int batch, float[] y, bool events)
    {
        if (events)
        {
            Conv.AccumulateEvents(g, k, x, batch, new float[g.EventWorkspaceSize], y);
        }
        else
        {
            Conv.Accumulate(g, k, x, batch, new float[g.WorkspaceSize(batch)], y);
        }
    }

    [Fact]
    public void EventBadArgumentsThrow()
    {
        var g = ConvGeometry.Create([4, 4], 3, [3, 3], [1, 1], [1, 1], [0, 0], [2, 2], 4, 1, false);
        var k = new float[g.KernelSize];
        var x = new float[2 * g.InputSize];
        var y = new float[2 * g.OutputSize];
        var ws = new float[g.EventWorkspaceSize];
        Assert.Throws<ArgumentException>(() => Conv.AccumulateEvents(g, k.AsSpan(1), x, 2, ws, y));
        Assert.Throws<ArgumentException>(() => Conv.AccumulateEvents(g, k, x.AsSpan(1), 2, ws, y));
        Assert.Throws<ArgumentException>(() => Conv.AccumulateEvents(g, k, x, 2, ws, y.AsSpan(1)));
        Assert.Throws<ArgumentException>(() => Conv.AccumulateEvents(g, k, x, 2, ws.AsSpan(1), y));
        Conv.AccumulateEvents(g, k, [], 0, ws, []);
    }

    [Fact]
    public void ChannelsFirstEqualsTransposedChannelsLast()
    {
        int[] inS = [6, 7];
        var gl = ConvGeometry.Create(inS, 4, [3, 3], [1, 1], [1, 1], [1, 1], inS, 8, 1, true);
        var gf = ConvGeometry.Create(inS, 4, [3, 3], [1, 1], [1, 1], [1, 1], inS, 8, 1, false);
        var xl = KernelAssert.Random(gl.InputSize, 1);
        var xf = new float[xl.Length];
        for (int p = 0; p < 42; p++)
        {
            for (int ch = 0; ch < 4; ch++)
            {
                xf[(ch * 42) + p] = xl[(p * 4) + ch];
            }
        }

        var k = KernelAssert.Random(9 * 4 * 8, 2);
        var yl = new float[gl.OutputSize];
        var yf = new float[gf.OutputSize];
        Conv.Accumulate(gl, k, xl, 1, new float[gl.WorkspaceSize(1)], yl);
        Conv.Accumulate(gf, k, xf, 1, new float[gf.WorkspaceSize(1)], yf);
        for (int p = 0; p < 42; p++)
        {
            for (int ch = 0; ch < 8; ch++)
            {
                Assert.Equal(yl[(p * 8) + ch], yf[(ch * 42) + p]);
            }
        }
    }

    [Fact]
    public void BatchZeroIsNoOp()
    {
        var g = ConvGeometry.Create([4], 2, [3], [1], [1], [0], [2], 3, 1, false);
        Conv.Accumulate(g, new float[g.KernelSize], [], 0, [], []);
        Assert.Equal(0, g.WorkspaceSize(0));
        Assert.Equal(g.InputSize + g.OutputSize, g.WorkspaceSize(5));
    }

    [Fact]
    public void BadArgumentsThrow()
    {
        Assert.Throws<ArgumentException>(() => ConvGeometry.Create([4, 4], 3, [3], [1, 1], [1, 1], [0, 0], [2, 2], 4, 1, true));
        Assert.Throws<ArgumentException>(() => ConvGeometry.Create([4, 4], 3, [3, 3], [1, 1], [1, 1], [0, 0], [2, 2], 4, 2, true));
        Assert.Throws<ArgumentException>(() => ConvGeometry.Create([4, 4], 4, [3, 3], [1, 1], [1, 1], [0, 0], [2, 2], 3, 2, true));
        Assert.Throws<ArgumentException>(() => ConvGeometry.Create([4, 4], 3, [3, 3], [0, 1], [1, 1], [0, 0], [2, 2], 4, 1, true));
        Assert.Throws<ArgumentException>(() => ConvGeometry.Create([4, 4, 4, 4], 3, [1, 1, 1, 1], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [4, 4, 4, 4], 4, 1, true));
        var g = ConvGeometry.Create([4, 4], 3, [3, 3], [1, 1], [1, 1], [0, 0], [2, 2], 4, 1, false);
        var k = new float[g.KernelSize];
        var x = new float[2 * g.InputSize];
        var y = new float[2 * g.OutputSize];
        var ws = new float[g.WorkspaceSize(2)];
        Assert.Throws<ArgumentException>(() => Conv.Accumulate(g, k.AsSpan(1), x, 2, ws, y));
        Assert.Throws<ArgumentException>(() => Conv.Accumulate(g, k, x.AsSpan(1), 2, ws, y));
        Assert.Throws<ArgumentException>(() => Conv.Accumulate(g, k, x, 2, ws, y.AsSpan(1)));
        Assert.Throws<ArgumentException>(() => Conv.Accumulate(g, k, x, 2, ws.AsSpan(1), y));
    }
}
