using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Snn.Runtime.Kernels;

/// <summary>
/// Geometry of an N-d (1D, 2D, 3D) convolution with TensorFlow semantics: correlation (no kernel
/// flip), dilation, groups and explicit zero padding before each spatial dimension (cells past the
/// end of the input are zero as well). Immutable and thread-safe; build it once per layer: it owns a
/// precomputed indirection table (output pixel x kernel tap -> input offset).
/// </summary>
public sealed class ConvGeometry
{
    // Spatial dimensions are normalised to 3 (leading 1s).
    internal readonly int[] In3;
    internal readonly int[] Kernel3;
    internal readonly int[] Stride3;
    internal readonly int[] Dilation3;
    internal readonly int[] Pad3;
    internal readonly int[] Out3;

    /// <summary>[OutPixels * Taps]: channels-last offset of input pixel (times InChannels) or -1 for padding.</summary>
    internal readonly int[] Table;

    /// <summary>InChannels zeros: the A row used for padding taps. Never written.</summary>
    internal readonly float[] Zeros;

    /// <summary>
    /// Segments of the event kernel, [OutPixels * SegmentsPerPixel] each: the input pixels
    /// SegmentFirst .. SegmentEnd (exclusive) that consecutive taps of one kernel row read (one tap per segment
    /// when the last dimension is dilated; empty when the row lies in the padding), and SegmentShift, which
    /// turns an event's filter offset <c>(q * GroupInChannels + c) * OutChannels</c> into the offset
    /// <c>(t * GroupInChannels + c) * OutChannels</c> of the tap t that reads pixel q. Segments run in tap order.
    /// </summary>
    internal readonly int[] SegmentFirst;
    internal readonly int[] SegmentEnd;
    internal readonly int[] SegmentShift;

    /// <summary>Segments per output pixel.</summary>
    internal readonly int SegmentsPerPixel;

    /// <summary>The most events one segment can hold (pixels in it times GroupInChannels).</summary>
    internal readonly int SegmentCapacity;

    /// <summary>Output pixels per row chunk of the row-strip event kernel: eight vector sums of 16 channels, on AVX-512 eight pixels, on AVX2 four.</summary>
    internal static readonly int RowChunk = KernelMath.Path == SimdPath.Avx512 ? 8 : 4;

    /// <summary>
    /// Whether the event kernel runs row strips (see <see cref="Conv.AccumulateEvents"/>): a vector path, one group, at most 16
    /// output channels, the last axis with stride 1 and no dilation, no padding and every tap inside the input, and
    /// weight strips of at most 64 KB.
    /// </summary>
    internal readonly bool RowStrips;

    /// <summary>Floats of one kernel row's weight strip: [StripPositions][InChannels][16].</summary>
    internal readonly int StripRow;

    /// <summary>Positions of a strip: kernel width plus 2 * (RowChunk - 1), zero past the kernel's taps.</summary>
    internal readonly int StripPositions;

    /// <summary>[output rows * kernel rows]: the input row (flattened over the leading spatial axes) each kernel row reads.</summary>
    internal readonly int[]? RowInput;


    private ConvGeometry(int rank, int[] in3, int inChannels, int[] k3, int[] s3, int[] d3, int[] p3, int[] o3, int outChannels, int groups, bool channelsLast)
    {
        Rank = rank;
        In3 = in3;
        Kernel3 = k3;
        Stride3 = s3;
        Dilation3 = d3;
        Pad3 = p3;
        Out3 = o3;
        InChannels = inChannels;
        OutChannels = outChannels;
        Groups = groups;
        ChannelsLast = channelsLast;
        InPixels = in3[0] * in3[1] * in3[2];
        OutPixels = o3[0] * o3[1] * o3[2];
        Taps = k3[0] * k3[1] * k3[2];
        InputSize = checked(InPixels * inChannels);
        OutputSize = checked(OutPixels * outChannels);
        Zeros = new float[inChannels];
        Table = new int[checked(OutPixels * Taps)];
        bool runs = d3[2] == 1;
        SegmentsPerPixel = runs ? k3[0] * k3[1] : Taps;
        SegmentCapacity = (runs ? k3[2] : 1) * GroupInChannels;
        SupportsEvents = (long)Math.Max(InPixels, Taps) * GroupInChannels * outChannels < int.MaxValue / 2;
        bool allInside = Enumerable.Range(0, 3).All(i => p3[i] == 0 && ((o3[i] - 1) * s3[i]) + ((k3[i] - 1) * d3[i]) < in3[i]);
        DirectChannelsFirst = !channelsLast && groups == 1 && outChannels < 16 && s3[2] == 1 && KernelMath.Path != SimdPath.Scalar && allInside;
        StripPositions = k3[2] + (2 * (RowChunk - 1));
        StripRow = StripPositions * inChannels * 16;
        RowStrips = groups == 1 && outChannels <= 16 && s3[2] == 1 && d3[2] == 1 && allInside && KernelMath.Path != SimdPath.Scalar
            && (long)k3[0] * k3[1] * StripRow <= 16384 && SupportsEvents && (long)InputSize * 16 < int.MaxValue / 2;
        if (RowStrips)
        {
            RowInput = new int[o3[0] * o3[1] * k3[0] * k3[1]];
            int ri = 0;
            for (int od = 0; od < o3[0]; od++)
            {
                for (int oh = 0; oh < o3[1]; oh++)
                {
                    for (int kd = 0; kd < k3[0]; kd++)
                    {
                        for (int kh = 0; kh < k3[1]; kh++)
                        {
                            RowInput[ri++] = (((od * s3[0]) + (kd * d3[0])) * in3[1]) + (oh * s3[1]) + (kh * d3[1]);
                        }
                    }
                }
            }
        }

        SegmentFirst = new int[checked(OutPixels * SegmentsPerPixel)];
        SegmentEnd = new int[SegmentFirst.Length];
        SegmentShift = new int[SegmentFirst.Length];
        int unit = SupportsEvents ? GroupInChannels * outChannels : 0;
        int seg = 0;

        int t0 = 0;
        for (int od = 0; od < o3[0]; od++)
        {
            for (int oh = 0; oh < o3[1]; oh++)
            {
                for (int ow = 0; ow < o3[2]; ow++)
                {
                    for (int kd = 0; kd < k3[0]; kd++)
                    {
                        int id = (od * s3[0]) - p3[0] + (kd * d3[0]);
                        for (int kh = 0; kh < k3[1]; kh++)
                        {
                            int ih = (oh * s3[1]) - p3[1] + (kh * d3[1]);
                            for (int kw = 0; kw < k3[2]; kw++)
                            {
                                int iw = (ow * s3[2]) - p3[2] + (kw * d3[2]);
                                bool inside = (uint)id < (uint)in3[0] && (uint)ih < (uint)in3[1] && (uint)iw < (uint)in3[2];
                                int q = inside ? (((id * in3[1]) + ih) * in3[2]) + iw : -1;
                                Table[t0++] = inside ? q * inChannels : -1;
                                if (!runs)
                                {
                                    int tap = (((kd * k3[1]) + kh) * k3[2]) + kw;
                                    SegmentFirst[seg] = inside ? q : 0;
                                    SegmentEnd[seg] = inside ? q + 1 : 0;
                                    SegmentShift[seg++] = inside ? (tap - q) * unit : 0;
                                }
                            }

                            if (runs)
                            {
                                // Taps kw = lo .. hi-1 read the consecutive pixels iw(lo) .. iw(hi-1) of one input row.
                                int iw0 = (ow * s3[2]) - p3[2];
                                int lo = Math.Max(0, -iw0), hi = Math.Min(k3[2], in3[2] - iw0);
                                bool rowInside = (uint)id < (uint)in3[0] && (uint)ih < (uint)in3[1] && lo < hi;
                                int rowBase = rowInside ? ((id * in3[1]) + ih) * in3[2] : 0;
                                SegmentFirst[seg] = rowInside ? rowBase + iw0 + lo : 0;
                                SegmentEnd[seg] = rowInside ? rowBase + iw0 + hi : 0;
                                SegmentShift[seg++] = rowInside ? ((((kd * k3[1]) + kh) * k3[2]) - rowBase - iw0) * unit : 0;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>Number of spatial dimensions (1, 2 or 3).</summary>
    public int Rank { get; }

    /// <summary>
    /// Whether the dense kernel runs straight on channels-first planes: channels-first, one group, fewer output
    /// channels than a 16-lane vector (the indirect GEMM would leave most of its columns empty), no padding and every
    /// tap inside the input, the last spatial axis with stride 1, on a vector path. LeNet-5's first convolution
    /// (1 → 6 channels) is the case it is for.
    /// </summary>
    public bool DirectChannelsFirst { get; }

    /// <summary>Whether <see cref="Conv.AccumulateEvents"/> handles this geometry (its filter offsets fit in an int).</summary>
    public bool SupportsEvents { get; }

    public int InChannels { get; }

    public int OutChannels { get; }

    public int Groups { get; }

    public bool ChannelsLast { get; }

    /// <summary>Product of the input spatial sizes.</summary>
    public int InPixels { get; }

    /// <summary>Product of the output spatial sizes.</summary>
    public int OutPixels { get; }

    /// <summary>Product of the kernel sizes.</summary>
    public int Taps { get; }

    /// <summary>Elements per input sample (InPixels * InChannels).</summary>
    public int InputSize { get; }

    /// <summary>Elements per output sample (OutPixels * OutChannels).</summary>
    public int OutputSize { get; }

    /// <summary>Input channels per group.</summary>
    public int GroupInChannels => InChannels / Groups;

    /// <summary>Output channels per group.</summary>
    public int GroupOutChannels => OutChannels / Groups;

    /// <summary>Elements of the kernel: Taps * InChannels/Groups * OutChannels.</summary>
    public int KernelSize => Taps * GroupInChannels * OutChannels;

    /// <summary>The geometry of a convolution spec (the IRs' shared description).</summary>
    public static ConvGeometry Of(ConvSpec s)
    {
        ArgumentNullException.ThrowIfNull(s);
        return Create(s.InSpatial.ToArray(), s.InChannels, s.Kernel.ToArray(), s.Strides.ToArray(), s.Dilation.ToArray(),
            s.PadBefore.ToArray(), s.OutSpatial.ToArray(), s.Filters, s.Groups, s.ChannelsLast);
    }

    /// <summary>
    /// Creates a geometry. Arrays are per spatial dimension (all the same length 1..3). The output
    /// size is taken as given (e.g. TF 'valid': ceil((in - (k-1)*d) / s); 'same': ceil(in / s) with
    /// padBefore = floor(total / 2)); taps falling outside the input read zeros.
    /// </summary>
    public static ConvGeometry Create(int[] inSpatial, int inChannels, int[] kernel, int[] strides, int[] dilation, int[] padBefore, int[] outSpatial, int outChannels, int groups, bool channelsLast)
    {
        ArgumentNullException.ThrowIfNull(inSpatial);
        ArgumentNullException.ThrowIfNull(kernel);
        ArgumentNullException.ThrowIfNull(strides);
        ArgumentNullException.ThrowIfNull(dilation);
        ArgumentNullException.ThrowIfNull(padBefore);
        ArgumentNullException.ThrowIfNull(outSpatial);
        int rank = inSpatial.Length;
        if (rank is < 1 or > 3)
        {
            throw new ArgumentException($"Convolution rank must be 1, 2 or 3, got {rank}.", nameof(inSpatial));
        }

        CheckDims(kernel, rank, 1, nameof(kernel));
        CheckDims(strides, rank, 1, nameof(strides));
        CheckDims(dilation, rank, 1, nameof(dilation));
        CheckDims(padBefore, rank, 0, nameof(padBefore));
        CheckDims(outSpatial, rank, 1, nameof(outSpatial));
        CheckDims(inSpatial, rank, 1, nameof(inSpatial));
        if (groups < 1)
        {
            throw new ArgumentException($"groups must be >= 1, got {groups}.", nameof(groups));
        }

        if (inChannels < 1 || inChannels % groups != 0)
        {
            throw new ArgumentException($"inChannels ({inChannels}) must be a positive multiple of groups ({groups}).", nameof(inChannels));
        }

        if (outChannels < 1 || outChannels % groups != 0)
        {
            throw new ArgumentException($"outChannels ({outChannels}) must be a positive multiple of groups ({groups}).", nameof(outChannels));
        }

        return new ConvGeometry(
            rank, To3(inSpatial, 1), inChannels, To3(kernel, 1), To3(strides, 1), To3(dilation, 1), To3(padBefore, 0), To3(outSpatial, 1), outChannels, groups, channelsLast);
    }

    /// <summary>
    /// Floats of scratch needed by <see cref="Conv.Accumulate"/>: 0 for channels-last; one transposed
    /// input sample plus one output sample for channels-first (independent of batch).
    /// </summary>
    public int WorkspaceSize(int batch)
    {
        KernelMath.CheckNonNegative(batch, nameof(batch));
        return ChannelsLast || batch == 0 ? 0 : InputSize + OutputSize;
    }

    /// <summary>
    /// Floats per output pixel of the event kernel's channels-first staging rows: every group's output channels
    /// rounded up to whole 16-lane vectors, so whole vectors can be stored.
    /// </summary>
    internal int EventStride => Groups * RoundUp(GroupOutChannels, 16);

    /// <summary>
    /// Floats of scratch needed by <see cref="Conv.AccumulateEvents"/> (independent of batch): one sample's
    /// nonzero inputs by pixel, four output pixels' term streams, for channels-first data staging rows and, for
    /// <see cref="RowStrips"/>, the weight strips.
    /// </summary>
    public int EventWorkspaceSize => EventSpace.Size(this);

    private static int RoundUp(int v, int m) => (v + m - 1) / m * m;

    internal static void CheckDims(int[] a, int rank, int min, string name)
    {
        if (a.Length != rank)
        {
            throw new ArgumentException($"Expected {rank} entries, got {a.Length}.", name);
        }

        foreach (int v in a)
        {
            if (v < min)
            {
                throw new ArgumentException($"Entries must be >= {min}, got {v}.", name);
            }
        }
    }

    internal static int[] To3(int[] a, int fill)
    {
        var r = new[] { fill, fill, fill };
        Array.Copy(a, 0, r, 3 - a.Length, a.Length);
        return r;
    }
}
