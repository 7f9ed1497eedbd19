using Snn.Runtime.Kernels;
using Xunit;

namespace Snn.Tests.Kernels;

/// <summary>
/// The backward kernels against their forward kernels: central differences of a random linear functional
/// <c>F(x) = &lt;dy, f(x)&gt;</c> (the forward kernel is the oracle), the adjoint identity
/// <c>&lt;conv(x), dy&gt; = &lt;x, convᵀ(dy)&gt;</c> over generated geometries, and the same bytes for any thread count.
/// </summary>
public class BackwardTests
{
    /// <summary>A generated convolution: rank 1-3, both layouts, strides, dilation, same/valid padding, groups (depthwise among them).</summary>
    public sealed record ConvCase(int Seed, ConvGeometry G, int Batch)
    {
        public override string ToString() =>
            $"seed {Seed}: in [{string.Join(',', G.In3)}]x{G.InChannels} k [{string.Join(',', G.Kernel3)}] s [{string.Join(',', G.Stride3)}] " +
            $"d [{string.Join(',', G.Dilation3)}] p [{string.Join(',', G.Pad3)}] out {G.OutChannels} g {G.Groups} {(G.ChannelsLast ? "last" : "first")} b {Batch}";
    }

    public static ConvCase Generate(int seed)
    {
        var r = new Random(seed);
        int rank = r.Next(10) switch { < 2 => 1, < 9 => 2, _ => 3 };
        int groups = r.Next(4) switch { 0 => 1, 1 => 2, 2 => 3, _ => 1 };
        bool depthwise = r.Next(4) == 0;
        int cin, cout;
        if (depthwise)
        {
            cin = 1 + r.Next(9);
            groups = cin;
            cout = cin * (1 + r.Next(2));
        }
        else
        {
            cin = groups * (1 + r.Next(4));
            cout = groups * (1 + r.Next(5));
        }

        bool same = r.Next(2) == 0;
        var inS = new int[rank];
        var k = new int[rank];
        var s = new int[rank];
        var d = new int[rank];
        var o = new int[rank];
        var p = new int[rank];
        int maxIn = rank == 3 ? 5 : rank == 2 ? 9 : 14;
        bool unitStrides = r.Next(2) == 0;
        for (int i = 0; i < rank; i++)
        {
            k[i] = 1 + r.Next(rank == 3 ? 2 : 4);
            s[i] = unitStrides ? 1 : 1 + r.Next(3);
            d[i] = r.Next(3) == 0 ? 2 : 1;
            int ek = ((k[i] - 1) * d[i]) + 1;
            inS[i] = Math.Max(same ? 1 : ek, 1 + r.Next(maxIn));
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

        var g = ConvGeometry.Create(inS, cin, k, s, d, p, o, cout, groups, channelsLast: r.Next(2) == 0);
        return new ConvCase(seed, g, 1 + r.Next(3));
    }

    public static TheoryData<int> Seeds()
    {
        var t = new TheoryData<int>();
        for (int i = 1; i <= 60; i++) t.Add(i);
        return t;
    }

    /// <summary>The generated geometries cover what the gradients must handle (so the properties above test it).</summary>
    [Fact]
    public void GeneratedGeometriesCoverEveryFeature()
    {
        var gs = Enumerable.Range(1, 60).Select(s => Generate(s).G).ToList();
        Assert.Contains(gs, g => g.Rank == 1);
        Assert.Contains(gs, g => g.Rank == 3);
        Assert.Contains(gs, g => !g.ChannelsLast && g.Groups > 1);
        Assert.Contains(gs, g => g.GroupInChannels > 1 && g.Groups > 1);
        Assert.Contains(gs, g => g.GroupInChannels == 1 && g.GroupOutChannels == 1 && g.Groups > 1);
        Assert.Contains(gs, g => g.GroupInChannels == 1 && g.GroupOutChannels == 2);
        Assert.Contains(gs, g => g.Stride3.Any(s => s > 1) && g.Dilation3.Any(d => d > 1));
        Assert.Contains(gs, g => g.Pad3.Any(p => p > 0) && g.Stride3.Any(s => s > 1));
        Assert.Contains(gs, g => g.Taps > 1 && g.Groups > 1 && !g.ChannelsLast);
        // Both input-gradient paths: the stride-1 transposed forward (with padding, dilation, groups, depthwise) and the scatter.
        Assert.Contains(gs, g => Backward.Transposed(g) is not null && g.Pad3.Any(p => p > 0) && g.Dilation3.Any(d => d > 1));
        Assert.Contains(gs, g => Backward.Transposed(g) is not null && g.GroupInChannels > 1 && g.Groups > 1 && !g.ChannelsLast);
        Assert.Contains(gs, g => Backward.Transposed(g) is not null && g.GroupInChannels == 1 && g.Groups > 1);
        Assert.True(gs.Count(g => Backward.Transposed(g) is null) >= 20);
    }

    private static float[] Forward(ConvGeometry g, float[] w, float[] x, int batch)
    {
        var y = new float[batch * g.OutputSize];
        Conv.Accumulate(g, w, x, batch, new float[g.WorkspaceSize(batch)], y);
        return y;
    }

    private static double Dot(float[] a, float[] b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    private static float[] Abs(float[] a) => Array.ConvertAll(a, MathF.Abs);

    /// <summary>Σ_j |dy_j| · (Σ of |terms| forming y_j): the magnitude the float rounding of &lt;dy, conv(x, w)&gt; scales with.</summary>
    private static double Magnitude(ConvGeometry g, float[] w, float[] x, float[] dy, int batch) => Dot(Abs(dy), Forward(g, Abs(w), Abs(x), batch));

    /// <summary>Every seed on the automatic choice and on the scatter, and the stride-1 ones on the transposed forward as well.</summary>
    public static TheoryData<int, string> SeedsAndPaths()
    {
        var t = new TheoryData<int, string>();
        for (int i = 1; i <= 60; i++)
        {
            t.Add(i, nameof(Backward.InputGradientPath.Auto));
            t.Add(i, nameof(Backward.InputGradientPath.Scatter));
            if (Backward.Transposed(Generate(i).G) is not null) t.Add(i, nameof(Backward.InputGradientPath.TransposedForward));
        }

        return t;
    }

    [Theory]
    [MemberData(nameof(SeedsAndPaths))]
    public void ConvInputGradientIsTheAdjointAndMatchesCentralDifferences(int seed, string path)
    {
        var c = Generate(seed);
        var g = c.G;
        int batch = c.Batch;
        var w = KernelAssert.Random(g.KernelSize, seed * 7 + 1);
        var x = KernelAssert.Random(batch * g.InputSize, seed * 7 + 2);
        var dy = KernelAssert.Random(batch * g.OutputSize, seed * 7 + 3);
        var dx = new float[x.Length];
        Backward.ConvInputGradientOn(g, w, dy, batch, dx, 1, Enum.Parse<Backward.InputGradientPath>(path));

        // <conv(x), dy> = <x, convᵀ(dy)>.
        double scale = Magnitude(g, w, x, dy, batch);
        double lhs = Dot(Forward(g, w, x, batch), dy), rhs = Dot(x, dx);
        Assert.True(Math.Abs(lhs - rhs) <= 1e-5 * scale, $"{c}: <conv(x),dy> {lhs:R} vs <x,dx> {rhs:R} (scale {scale:G3})");

        // Central differences of F(x) = <dy, conv(x)> along every input coordinate.
        CentralDifferences(x, dx, xp => (Dot(Forward(g, w, xp, batch), dy), Magnitude(g, w, xp, dy, batch)), $"{c}: dx");
    }

    /// <summary>
    /// Requires <paramref name="gradient"/>[i] to equal (F(v + h·eᵢ) − F(v − h·eᵢ)) / 2h for every coordinate i, where
    /// <paramref name="f"/> gives F and the magnitude of its terms (for the float32 rounding bound); h = 1/4, an exact step.
    /// </summary>
    private static void CentralDifferences(float[] v, float[] gradient, Func<float[], (double F, double Scale)> f, string what)
    {
        const float H = 0.25f;
        var vp = (float[])v.Clone();
        for (int i = 0; i < v.Length; i++)
        {
            float keep = vp[i];
            vp[i] = keep + H;
            var (fp, sp) = f(vp);
            vp[i] = keep - H;
            var (fm, _) = f(vp);
            vp[i] = keep;
            double fd = (fp - fm) / (2 * H);
            double tol = 1e-9 + (4e-7 * sp / (2 * H));
            Assert.True(Math.Abs(fd - gradient[i]) <= tol, $"{what}[{i}] {gradient[i]:R}, central difference {fd:R} (tol {tol:G3})");
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void ConvKernelGradientMatchesCentralDifferences(int seed)
    {
        var c = Generate(seed);
        var g = c.G;
        int batch = c.Batch;
        var w = KernelAssert.Random(g.KernelSize, seed * 11 + 1);
        var x = KernelAssert.Random(batch * g.InputSize, seed * 11 + 2);
        var dy = KernelAssert.Random(batch * g.OutputSize, seed * 11 + 3);
        var dw = new float[w.Length];
        var db = new float[g.OutChannels];
        Backward.ConvKernelGradient(g, x, dy, batch, dw, db);

        double scale = Magnitude(g, w, x, dy, batch);
        double lhs = Dot(Forward(g, w, x, batch), dy), rhs = Dot(w, dw);
        Assert.True(Math.Abs(lhs - rhs) <= 1e-5 * scale, $"{c}: <conv(x,w),dy> {lhs:R} vs <w,dw> {rhs:R} (scale {scale:G3})");

        CentralDifferences(w, dw, wp => (Dot(Forward(g, wp, x, batch), dy), Magnitude(g, wp, x, dy, batch)), $"{c}: dw");

        // The bias adds b[o] to every output pixel of channel o: its gradient is the sum of dy over batch and pixels.
        for (int o = 0; o < g.OutChannels; o++)
        {
            double e = 0, m = 0;
            for (int b = 0; b < batch; b++)
            {
                for (int p = 0; p < g.OutPixels; p++)
                {
                    float v = dy[(b * g.OutputSize) + (g.ChannelsLast ? (p * g.OutChannels) + o : (o * g.OutPixels) + p)];
                    e += v;
                    m += Math.Abs(v);
                }
            }

            Assert.True(Math.Abs(e - db[o]) <= 1e-6 * m + 1e-9, $"{c}: db[{o}] {db[o]:R}, expected {e:R}");
        }
    }

    /// <summary>Parameter gradients are summed per fixed chunk of samples and the chunks in order: 1 and 4 threads give the same bytes.</summary>
    [Theory]
    [InlineData(3)]
    [InlineData(17)]
    [InlineData(29)]
    [InlineData(44)]
    public void ConvGradientsAreTheSameBytesForAnyThreadCount(int seed)
    {
        var g = Generate(seed).G;
        const int Batch = 3 * Backward.ReductionChunk + 5;
        var w = KernelAssert.Random(g.KernelSize, seed);
        var x = KernelAssert.Random(Batch * g.InputSize, seed + 1);
        var dy = KernelAssert.Random(Batch * g.OutputSize, seed + 2);
        float[] Run(int threads, out float[] dw, out float[] db)
        {
            var dx = KernelAssert.Random(x.Length, 5);
            dw = KernelAssert.Random(w.Length, 6);
            db = KernelAssert.Random(g.OutChannels, 7);
            Backward.ConvInputGradient(g, w, dy, Batch, dx, threads);
            Backward.ConvKernelGradient(g, x, dy, Batch, dw, db, threads);
            return dx;
        }

        var dx1 = Run(1, out var dw1, out var db1);
        foreach (int threads in new[] { 2, 4, 7 })
        {
            var dxn = Run(threads, out var dwn, out var dbn);
            Assert.Equal(Bytes(dx1), Bytes(dxn));
            Assert.Equal(Bytes(dw1), Bytes(dwn));
            Assert.Equal(Bytes(db1), Bytes(dbn));
        }
    }

    private static int[] Bytes(float[] a) => Array.ConvertAll(a, BitConverter.SingleToInt32Bits);

    [Theory]
    [InlineData(1, 1, 1, 1)]
    [InlineData(3, 7, 5, 2)]
    [InlineData(5, 300, 33, 3)]
    [InlineData(37, 20, 70, 4)]
    public void DenseGradientsMatchCentralDifferences(int batch, int inSize, int outSize, int seed)
    {
        var w = KernelAssert.Random(inSize * outSize, seed);
        var x = KernelAssert.Random(batch * inSize, seed + 1);
        var dy = KernelAssert.Random(batch * outSize, seed + 2);
        var dx = new float[x.Length];
        var dw = new float[w.Length];
        var db = new float[outSize];
        Backward.DenseInputGradient(dy, batch, inSize, w, outSize, dx);
        Backward.DenseWeightGradient(x, dy, batch, inSize, outSize, dw, db);
        float[] F(float[] xx, float[] ww)
        {
            var y = new float[batch * outSize];
            Dense.Accumulate(xx, batch, inSize, ww, outSize, y);
            return y;
        }

        double Scale(float[] xx, float[] ww) => Dot(Abs(dy), F(Abs(xx), Abs(ww)));
        const float H = 0.25f;
        var rng = new Random(seed);
        for (int n = 0; n < 60; n++)
        {
            // An input coordinate and a weight coordinate.
            int i = rng.Next(x.Length), j = rng.Next(w.Length);
            Check(x, i, dx[i], v => F(v, w), v => Scale(v, w), "dx");
            Check(w, j, dw[j], v => F(x, v), v => Scale(x, v), "dw");
        }

        void Check(float[] at, int i, float grad, Func<float[], float[]> f, Func<float[], double> scale, string name)
        {
            var p = (float[])at.Clone();
            p[i] += H;
            double fp = Dot(f(p), dy), sp = scale(p);
            p[i] = at[i] - H;
            double fm = Dot(f(p), dy);
            double fd = (fp - fm) / (2 * H);
            double tol = 1e-9 + (4e-7 * sp / (2 * H));
            Assert.True(Math.Abs(fd - grad) <= tol, $"{name}[{i}] {grad:R}, central difference {fd:R} (tol {tol:G3})");
        }

        for (int o = 0; o < outSize; o++)
        {
            double e = 0, m = 0;
            for (int b = 0; b < batch; b++)
            {
                e += dy[(b * outSize) + o];
                m += Math.Abs(dy[(b * outSize) + o]);
            }

            Assert.True(Math.Abs(e - db[o]) <= 1e-6 * m + 1e-9, $"db[{o}] {db[o]:R}, expected {e:R}");
        }
    }

    [Fact]
    public void DenseGradientsAreTheSameBytesForAnyThreadCount()
    {
        const int Batch = 4 * Backward.ReductionChunk + 3, In = 70, Out = 45;
        var w = KernelAssert.Random(In * Out, 1);
        var x = KernelAssert.Random(Batch * In, 2);
        var dy = KernelAssert.Random(Batch * Out, 3);
        float[] Run(int threads, out float[] dw, out float[] db)
        {
            var dx = KernelAssert.Random(x.Length, 5);
            dw = KernelAssert.Random(w.Length, 6);
            db = KernelAssert.Random(Out, 7);
            Backward.DenseInputGradient(dy, Batch, In, w, Out, dx, threads);
            Backward.DenseWeightGradient(x, dy, Batch, In, Out, dw, db, threads);
            return dx;
        }

        var dx1 = Run(1, out var dw1, out var db1);
        var dx4 = Run(4, out var dw4, out var db4);
        Assert.Equal(Bytes(dx1), Bytes(dx4));
        Assert.Equal(Bytes(dw1), Bytes(dw4));
        Assert.Equal(Bytes(db1), Bytes(db4));
    }

    /// <summary>A generated pooling geometry (global pooling when <paramref name="global"/>).</summary>
    private static PoolGeometry Pooling(int seed, bool global)
    {
        var r = new Random(seed);
        int rank = 1 + r.Next(3);
        var inS = new int[rank];
        var k = new int[rank];
        var s = new int[rank];
        var o = new int[rank];
        var p = new int[rank];
        bool same = r.Next(2) == 0;
        for (int i = 0; i < rank; i++)
        {
            inS[i] = 1 + r.Next(rank == 3 ? 5 : 9);
            k[i] = global ? inS[i] : 1 + r.Next(Math.Min(3, inS[i]));
            s[i] = global ? 1 : 1 + r.Next(3);
            if (same && !global)
            {
                o[i] = (inS[i] + s[i] - 1) / s[i];
                p[i] = Math.Max(((o[i] - 1) * s[i]) + k[i] - inS[i], 0) / 2;
            }
            else
            {
                o[i] = ((inS[i] - k[i]) / s[i]) + 1;
            }
        }

        return PoolGeometry.Create(inS, 1 + r.Next(4), k, s, p, o, channelsLast: r.Next(2) == 0);
    }

    /// <summary>Inputs away from the max pool's ties: distinct multiples of 1/8 (steps of 1/64 keep the order and are exact).</summary>
    private static float[] Distinct(int n, int seed)
    {
        var r = new Random(seed);
        var v = Enumerable.Range(0, n).Select(i => (i - (n / 2)) / 8f).ToArray();
        r.Shuffle(v);
        return v;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void PoolingGradientsMatchCentralDifferences(int seed)
    {
        bool global = seed % 5 == 0;
        var g = Pooling(seed, global);
        int batch = 1 + (seed % 3);
        var x = Distinct(batch * g.InputSize, seed);
        var dy = KernelAssert.Random(batch * g.OutputSize, seed + 1);
        var dxAvg = new float[x.Length];
        var dxMax = new float[x.Length];
        Backward.AveragePoolGradient(g, dy, batch, dxAvg);
        Backward.MaxPoolGradient(g, x, dy, batch, dxMax);
        double Avg(float[] v)
        {
            var y = new float[dy.Length];
            Pool.AverageAccumulate(g, v, batch, y);
            return Dot(y, dy);
        }

        double Max(float[] v)
        {
            var y = new float[dy.Length];
            Pool.Max(g, v, batch, y);
            return Dot(y, dy);
        }

        const float H = 1f / 64;
        var xp = (float[])x.Clone();
        for (int i = 0; i < x.Length; i++)
        {
            xp[i] = x[i] + H;
            double ap = Avg(xp), mp = Max(xp);
            xp[i] = x[i] - H;
            double am = Avg(xp), mm = Max(xp);
            xp[i] = x[i];
            double fdAvg = (ap - am) / (2 * H), fdMax = (mp - mm) / (2 * H);
            Assert.True(Math.Abs(fdAvg - dxAvg[i]) <= 1e-3, $"seed {seed} global {global}: avg dx[{i}] {dxAvg[i]:R}, central difference {fdAvg:R}");
            Assert.True(Math.Abs(fdMax - dxMax[i]) <= 1e-3, $"seed {seed} global {global}: max dx[{i}] {dxMax[i]:R}, central difference {fdMax:R}");
        }
    }

    /// <summary>
    /// Max pooling over many channels (the channels-last kernel searches eight at a time, the rest and channels-first data
    /// one by one) with ties, -inf and NaN cells, overlapping windows and padding: every sample, window and channel sends
    /// its dy to the cell the definition picks (the first real cell in row-major window order holding the largest
    /// non-NaN value; nothing when all are NaN), written out here per element; any thread count gives the same bytes.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void MaxPoolGradientPicksTheDefinedCellOverManyChannelsWithTies(int seed)
    {
        var r = new Random(seed);
        var shape = Pooling(seed, global: seed % 5 == 0);
        int channels = 8 + r.Next(13);
        var g = PoolGeometry.Create(shape.In3[(3 - shape.Rank)..], channels, shape.Pool3[(3 - shape.Rank)..], shape.Stride3[(3 - shape.Rank)..],
            shape.Pad3[(3 - shape.Rank)..], shape.Out3[(3 - shape.Rank)..], shape.ChannelsLast);
        int batch = 1 + r.Next(20);
        float[] values = [float.NegativeInfinity, -1f, 0f, 0f, 0.5f, 2f, 2f, float.NaN];
        var x = Enumerable.Range(0, batch * g.InputSize).Select(_ => values[r.Next(values.Length)]).ToArray();
        var dy = KernelAssert.Random(batch * g.OutputSize, seed + 1);

        var expected = new float[x.Length];
        int In(int q, int c) => g.ChannelsLast ? (q * channels) + c : (c * g.InPixels) + q;
        int Out(int q, int c) => g.ChannelsLast ? (q * channels) + c : (c * g.OutPixels) + q;
        for (int b = 0; b < batch; b++)
        {
            int op = 0;
            for (int od = 0; od < g.Out3[0]; od++)
            for (int oh = 0; oh < g.Out3[1]; oh++)
            for (int ow = 0; ow < g.Out3[2]; ow++, op++)
            {
                g.Window(0, od, out int d0, out int d1);
                g.Window(1, oh, out int h0, out int h1);
                g.Window(2, ow, out int w0, out int w1);
                for (int c = 0; c < channels; c++)
                {
                    var cells = new List<int>();
                    for (int id = d0; id < d1; id++)
                    for (int ih = h0; ih < h1; ih++)
                    for (int iw = w0; iw < w1; iw++)
                        cells.Add((b * g.InputSize) + In((((id * g.In3[1]) + ih) * g.In3[2]) + iw, c));
                    var real = cells.Where(i => !float.IsNaN(x[i])).ToList();
                    if (real.Count == 0) continue;
                    float max = real.Max(i => x[i]);
                    expected[real.First(i => x[i] == max)] += dy[(b * g.OutputSize) + Out(op, c)];
                }
            }
        }

        foreach (int threads in new[] { 1, 2, 3 })
        {
            var dx = new float[x.Length];
            Backward.MaxPoolGradient(g, x, dy, batch, dx, threads);
            Assert.Equal(expected, dx);
        }
    }

    [Fact]
    public void MaxPoolGradientGoesToTheFirstMaximalCellAndAveragePoolCountsOnlyRealCells()
    {
        // 1-D, 3 cells, window 2, stride 2, TF 'same' (pad 0 before, 1 after): windows [0, 1] and [2, pad].
        var g = PoolGeometry.Create([3], 1, [2], [2], [0], [2], channelsLast: true);
        var dx = new float[3];
        Backward.MaxPoolGradient(g, [5f, 5f, -1f], [1f, 2f], 1, dx);
        Assert.Equal([1f, 0f, 2f], dx);

        dx = new float[3];
        Backward.AveragePoolGradient(g, [1f, 2f], 1, dx);
        Assert.Equal([0.5f, 0.5f, 2f], dx);
    }

    [Fact]
    public void ReluFamilyGradientsFollowTensorFlowAtTheKinks()
    {
        // Five copies of the six cases (30 elements), so the eight-wide loop and the scalar tail both meet every kink.
        float[] cases = [-2f, -0f, 0f, 0.5f, 6f, 7f];
        var x = Enumerable.Repeat(cases, 5).SelectMany(c => c).ToArray();
        var dy = Enumerable.Repeat(1f, x.Length).ToArray();
        float[] Grad(float slope, float max)
        {
            var dx = new float[x.Length];
            Backward.ReluGradient(x, dy, dx, slope, 0f, max);
            return dx;
        }

        float[] Five(params float[] v) => Enumerable.Repeat(v, 5).SelectMany(c => c).ToArray();
        Assert.Equal(Five(0f, 0f, 0f, 1f, 1f, 1f), Grad(0f, float.PositiveInfinity));        // relu: 0 at 0
        Assert.Equal(Five(0.2f, 0.2f, 0.2f, 1f, 1f, 1f), Grad(0.2f, float.PositiveInfinity)); // leaky relu: α at 0
        Assert.Equal(Five(0f, 0f, 0f, 1f, 0f, 0f), Grad(0f, 6f));                             // relu6: 0 at 0 and 6
    }

    [Theory]
    [InlineData(0f, 0f, float.PositiveInfinity, 1)]
    [InlineData(0.3f, 0f, float.PositiveInfinity, 2)]
    [InlineData(0f, 0f, 6f, 3)]
    [InlineData(0.1f, 1.5f, 4f, 4)]
    public void ReluGradientMatchesCentralDifferencesOfKerasReluAwayFromTheKinks(float slope, float threshold, float max, int seed)
    {
        var x = KernelAssert.Random(200, seed, -8f, 8f)
            .Select(v => MathF.Abs(v - threshold) < 0.1f || MathF.Abs(v - max) < 0.1f ? v + 0.3f : v).ToArray();
        var dy = KernelAssert.Random(x.Length, seed + 1);
        var dx = new float[x.Length];
        Backward.ReluGradient(x, dy, dx, slope, threshold, max);
        const float H = 1f / 64;
        for (int i = 0; i < x.Length; i++)
        {
            double fd = dy[i] * ((double)Activations.Relu(x[i] + H, slope, threshold, max) - Activations.Relu(x[i] - H, slope, threshold, max)) / (2 * H);
            Assert.True(Math.Abs(fd - dx[i]) <= 1e-5, $"x {x[i]:R}: dx {dx[i]:R}, central difference {fd:R}");
        }
    }

    [Fact]
    public void QuantizerCountsWholeSpikesAndPassesTheGradientWhereUnclipped()
    {
        // T = 4 steps, offset 0.5: q = clip(floor(0.5 + 4x), 0, 4·1) / 4.
        float[] x = [-1f, -0.125f, 0.1f, 0.3f, 0.875f, 0.9f, 2f];
        var y = new float[x.Length];
        Backward.Quantize(x, y, 4, 0.5f, 1f);
        Assert.Equal([0f, 0f, 0f, 0.25f, 1f, 1f, 1f], y);

        // v = 0.5 + 4x: -3.5, 0 (clipped: 0), 0.9, 1.7, 4 (at the cap: 0), 4.1, 8.5.
        var dx = new float[x.Length];
        Backward.QuantizeGradient(x, [1f, 2f, 3f, 4f, 5f, 6f, 7f], dx, 4, 0.5f, 1f);
        Assert.Equal([0f, 0f, 3f, 4f, 0f, 0f, 0f], dx);

        // Straight through: away from the clips the gradient is that of the line (0.5 + 4x) / 4, slope 1.
        var line = new float[x.Length];
        Backward.QuantizeGradient(x, [1f, 1f, 1f, 1f, 1f, 1f, 1f], line, 4);
        Assert.Equal([0f, 0f, 1f, 1f, 1f, 1f, 1f], line);
    }

    [Fact]
    public void QuantizerTakesOneOffsetPerNeuronRepeatedOverTheBatch()
    {
        // Two samples of three neurons, offsets (0, 0.5, 0.9), T = 2: q = max(0, floor(offset + 2x)) / 2.
        float[] x = [0.4f, 0.4f, 0.4f, -0.3f, -0.3f, -0.3f];
        float[] offsets = [0f, 0.5f, 0.9f];
        var y = new float[x.Length];
        Backward.Quantize(x, y, 2, offsets);
        // 0.8, 1.3, 1.7 → 0, 1, 1 spikes; -0.6, -0.1, 0.3 → 0, 0, 0.
        Assert.Equal([0f, 0.5f, 0.5f, 0f, 0f, 0f], y);
        var dx = new float[x.Length];
        Backward.QuantizeGradient(x, [1f, 2f, 3f, 4f, 5f, 6f], dx, 2, offsets);
        Assert.Equal([1f, 2f, 3f, 0f, 0f, 6f], dx);
        Assert.Throws<ArgumentException>(() => Backward.Quantize(x, y, 2, new float[4]));
    }

    [Fact]
    public void SoftmaxCrossEntropyMatchesItsDefinitionAndCentralDifferences()
    {
        // Two equal logits, target the first: loss ln 2, gradient (0.5 - 1, 0.5) / batch.
        var d = new float[2];
        Assert.Equal(Math.Log(2), Backward.SoftmaxCrossEntropy([3f, 3f], [0], 2, d), 12);
        Assert.Equal([-0.5f, 0.5f], d);

        const int Batch = 4, Classes = 7;
        var z = KernelAssert.Random(Batch * Classes, 9, -3f, 3f);
        var t = KernelAssert.Random(Batch * Classes, 10, 0f, 1f);
        var dz = new float[z.Length];
        Backward.SoftmaxCrossEntropy(z, t, Batch, Classes, dz);
        var dl = new float[z.Length];
        int[] labels = [1, 0, 6, 3];
        Backward.SoftmaxCrossEntropy(z, labels, Classes, dl);
        const float H = 1f / 256;
        for (int i = 0; i < z.Length; i++)
        {
            var p = (float[])z.Clone();
            p[i] = z[i] + H;
            double lp = Backward.SoftmaxCrossEntropy(p, t, Batch, Classes, []), sp = Backward.SoftmaxCrossEntropy(p, labels, Classes, []);
            p[i] = z[i] - H;
            double lm = Backward.SoftmaxCrossEntropy(p, t, Batch, Classes, []), sm = Backward.SoftmaxCrossEntropy(p, labels, Classes, []);
            Assert.True(Math.Abs(((lp - lm) / (2 * H)) - dz[i]) <= 1e-5, $"soft targets: dz[{i}] {dz[i]:R} vs {(lp - lm) / (2 * H):R}");
            Assert.True(Math.Abs(((sp - sm) / (2 * H)) - dl[i]) <= 1e-5, $"labels: dz[{i}] {dl[i]:R} vs {(sp - sm) / (2 * H):R}");
        }
    }

    [Fact]
    public void MeanSquaredErrorAndAffineGradientsMatchCentralDifferences()
    {
        var y = KernelAssert.Random(30, 1);
        var target = KernelAssert.Random(30, 2);
        var dy = new float[30];
        double loss = Backward.MeanSquaredError(y, target, dy);
        Assert.Equal(y.Zip(target, (a, b) => ((double)a - b) * ((double)a - b)).Average(), loss, 12);
        const float H = 1f / 64;
        for (int i = 0; i < y.Length; i++)
        {
            var p = (float[])y.Clone();
            p[i] = y[i] + H;
            double lp = Backward.MeanSquaredError(p, target, []);
            p[i] = y[i] - H;
            double lm = Backward.MeanSquaredError(p, target, []);
            Assert.True(Math.Abs(((lp - lm) / (2 * H)) - dy[i]) <= 1e-6, $"mse dy[{i}]");
        }

        // Affine y = x·a + b over [rows, n] against Elementwise.AffineSet.
        const int Rows = 6, N = 5;
        var x = KernelAssert.Random(Rows * N, 3);
        var a = KernelAssert.Random(N, 4);
        var bias = KernelAssert.Random(N, 5);
        var g = KernelAssert.Random(Rows * N, 6);
        var dx = new float[x.Length];
        var da = new float[N];
        var db = new float[N];
        Backward.AffineGradient(x, g, Rows, a, dx, da, db);
        double F(float[] xx, float[] aa, float[] bb)
        {
            var o = new float[xx.Length];
            Elementwise.AffineSet(xx, aa, bb, o);
            return Dot(o, g);
        }

        double Fd(float[] v, int i, Func<float[], double> f)
        {
            var p = (float[])v.Clone();
            p[i] = v[i] + H;
            double fp = f(p);
            p[i] = v[i] - H;
            return (fp - f(p)) / (2 * H);
        }

        for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(Fd(x, i, v => F(v, a, bias)) - dx[i]) <= 1e-4, $"affine dx[{i}]");
        for (int i = 0; i < N; i++)
        {
            Assert.True(Math.Abs(Fd(a, i, v => F(x, v, bias)) - da[i]) <= 1e-4, $"affine da[{i}]");
            Assert.True(Math.Abs(Fd(bias, i, v => F(x, a, v)) - db[i]) <= 1e-4, $"affine db[{i}]");
        }
    }
}
