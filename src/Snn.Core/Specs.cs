using LanguageExt;

namespace Snn;

public enum Padding { Valid, Same }

/// <summary>
/// Geometry of an N-d convolution with TF semantics (correlation, no kernel flip), shared by the
/// legal IR, the network IR and the operator IR. <see cref="InputShape"/> is the per-sample input
/// shape as laid out: spatial dims then channels (channels last) or channels first.
/// The kernel tensor that goes with it has Keras layout: kernel dims, in_channels/groups, filters.
/// </summary>
public sealed record ConvSpec(
    Arr<int> InputShape, int Filters, Arr<int> Kernel, Arr<int> Strides, Arr<int> Dilation,
    Padding Padding, bool ChannelsLast, int Groups)
{
    public int SpatialRank => InputShape.Count - 1;
    public int InChannels => ChannelsLast ? InputShape[InputShape.Count - 1] : InputShape[0];
    public Arr<int> InSpatial => ChannelsLast ? InputShape.Take(SpatialRank).ToArr() : InputShape.Skip(1).ToArr();

    public Arr<int> OutSpatial =>
        Enumerable.Range(0, SpatialRank)
            .Select(d => Shapes.ConvOut(InSpatial[d], Kernel[d], Strides[d], Dilation[d], Padding)).ToArr();

    public Arr<int> PadBefore =>
        Enumerable.Range(0, SpatialRank)
            .Select(d => Shapes.PadBefore(InSpatial[d], OutSpatial[d], Kernel[d], Strides[d], Dilation[d], Padding)).ToArr();

    public Arr<int> OutputShape => ChannelsLast ? OutSpatial.Add(Filters) : Arr.create(Filters).AddRange(OutSpatial);

    /// <summary>Shape of the kernel tensor (Keras layout).</summary>
    public Arr<int> KernelShape => Kernel.Add(InChannels / Groups).Add(Filters);

    /// <summary>Multiply-accumulates per sample.</summary>
    public long Macs => (long)Shapes.Product(OutputShape) * Shapes.Product(Kernel) * (InChannels / Groups);
}

public enum PoolKind { Average, Max }

/// <summary>Geometry of an N-d pooling window, TF semantics ('same' average pooling counts only real cells).</summary>
public sealed record PoolSpec(
    PoolKind Kind, Arr<int> InputShape, Arr<int> Pool, Arr<int> Strides, Padding Padding, bool ChannelsLast)
{
    public int SpatialRank => InputShape.Count - 1;
    public int Channels => ChannelsLast ? InputShape[InputShape.Count - 1] : InputShape[0];
    public Arr<int> InSpatial => ChannelsLast ? InputShape.Take(SpatialRank).ToArr() : InputShape.Skip(1).ToArr();

    public Arr<int> OutSpatial =>
        Enumerable.Range(0, SpatialRank)
            .Select(d => Shapes.ConvOut(InSpatial[d], Pool[d], Strides[d], 1, Padding)).ToArr();

    public Arr<int> PadBefore =>
        Enumerable.Range(0, SpatialRank)
            .Select(d => Shapes.PadBefore(InSpatial[d], OutSpatial[d], Pool[d], Strides[d], 1, Padding)).ToArr();

    public Arr<int> OutputShape => ChannelsLast ? OutSpatial.Add(Channels) : Arr.create(Channels).AddRange(OutSpatial);

    /// <summary>
    /// For each output pixel, the input pixels (flat spatial indices) of the real cells of its window:
    /// window o is Indices[Offsets[o] .. Offsets[o+1]). Channels are not expanded (see <see cref="Windows"/>).
    /// </summary>
    public (int[] Offsets, int[] Indices) PixelWindows()
    {
        var single = this with { InputShape = ChannelsLast ? InSpatial.Add(1) : Arr.create(1).AddRange(InSpatial) };
        return single.Windows();
    }

    /// <summary>
    /// For each output element (in layout order), the flat input indices of the real cells of its window:
    /// window o is Indices[Offsets[o] .. Offsets[o+1]).
    /// </summary>
    public (int[] Offsets, int[] Indices) Windows()
    {
        var rank = SpatialRank;
        var inSp = InSpatial.ToArray();
        var outSp = OutSpatial.ToArray();
        var pad = PadBefore.ToArray();
        var pool = Pool.ToArray();
        var c = Channels;
        var inStrides = Shapes.Strides(inSp);
        var outCount = Shapes.Product(outSp);
        var offsets = new List<int> { 0 };
        var indices = new List<int>();
        var oc = new int[rank];
        var kc = new int[rank];
        var taps = Shapes.Product(pool);
        var perOutput = new List<int>[outCount * c];
        for (var o = 0; o < outCount; o++)
        {
            RefKernels.Unravel(o, outSp, oc);
            var cells = new List<int>();
            for (var t = 0; t < taps; t++)
            {
                RefKernels.Unravel(t, pool, kc);
                var idx = 0;
                var inside = true;
                for (var d = 0; d < rank; d++)
                {
                    var p = oc[d] * Strides[d] + kc[d] - pad[d];
                    if (p < 0 || p >= inSp[d]) { inside = false; break; }
                    idx += p * inStrides[d];
                }
                if (inside) cells.Add(idx);
            }
            var pixels = Shapes.Product(inSp);
            for (var ch = 0; ch < c; ch++)
                perOutput[ChannelsLast ? o * c + ch : ch * outCount + o] =
                    cells.Select(cell => ChannelsLast ? cell * c + ch : ch * pixels + cell).ToList();
        }
        foreach (var w in perOutput)
        {
            indices.AddRange(w);
            offsets.Add(indices.Count);
        }
        return (offsets.ToArray(), indices.ToArray());
    }
}

/// <summary>How a spiking network computes max pooling (the converter option and the op that runs it).</summary>
public enum MaxPoolMethod
{
    /// <summary>Lateral-inhibition pooling: per-input cumulative counts, emit the increase of each window's running max.</summary>
    Count,
    /// <summary>SNN Toolbox: pass the spikes of the input with the highest rate estimate so far.</summary>
    Gate,
    /// <summary>Max of the input currents before the neuron (max pooling moved ahead of a monotone activation).</summary>
    Pre,
    /// <summary>NengoDL's max_to_avg_pool: average pooling instead.</summary>
    Avg,
}

/// <summary>The keras_spiking filters over time.</summary>
public enum FilterKind
{
    /// <summary>First-order lowpass, H(s) = 1/(τs + 1).</summary>
    Lowpass,
    /// <summary>Alpha filter, H(s) = 1/(τs + 1)².</summary>
    Alpha,
}
