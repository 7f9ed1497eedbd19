using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>
/// Conv1D/2D/3DTranspose. Natively a gather that spreads the input by the strides and pads it, then a stride-1 valid
/// convolution with the kernel flipped and its channel axes swapped; the evaluator scatters by the definition.
/// </summary>
internal static class ConvTransposeLayers
{
    public static readonly LayerRule Rule = new(
        Arr.create("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose"), LayerSupport.Native, "spread + flipped-kernel convolution",
        Legal(Legalize), Eval(Evaluate))
    {
        // The kernel is [k..., filters, in].
        Checks = n => ConfigChecks.RankOf(n).Match(rank =>
            ConfigChecks.Positive(n, "filters", "kernel_size", "strides", "dilation_rate")
            + ConfigChecks.Agrees(n, "filters", ConfigChecks.Axis(n, "kernel", 2), "kernel's second-last axis")
            + ConfigChecks.KernelSize(n, "kernel", rank)
            + ConfigChecks.Bias(n, ConfigChecks.Axis(n, "kernel", 2)), () => Seq<string>()),
    };

    static Either<Error, Lowered> Legalize(LegalizeInput i) =>
        from x in i.Single
        from k in Weight(i.Node, "kernel")         // [k..., out, in]
        from r in Lower(i.Node, x.Id, x.Shape, k)
        select r;

    static Either<Error, Lowered> Lower(KerasNode n, string input, Arr<int> x, Tensor k)
    {
        var c = n.Config;
        var rank = k.Rank - 2;
        if (x.Count != rank + 1) return ShapeError(n, $"a {rank}-d transposed convolution got input {Shapes.Show(x)}");
        if (c.Get("output_padding").IsSome) return BadArg(n, "output_padding", c.Get("output_padding").Map(v => v.GetRawText()).IfNone(""), "None");
        var dil = c.Ints("dilation_rate").IfNone(Arr.create(1));
        if (dil.Exists(d => d != 1)) return BadArg(n, "dilation_rate", Shapes.Show(dil), "1");
        var last = ChannelsLastLayout(n);
        var strides = c.Ints("strides").Map(s => s.Count == rank ? s : Enumerable.Repeat(s[0], rank).ToArr()).IfNone(Enumerable.Repeat(1, rank).ToArr());
        var same = c.String("padding").IfNone("valid") == "same";
        var kernel = k.Shape.Take(rank).ToArray();
        var outCh = k.Shape[rank];
        var inCh = k.Shape[rank + 1];
        var inSp = last ? x.Take(rank).ToArray() : x.Skip(1).ToArray();
        if ((last ? x[rank] : x[0]) != inCh) return ShapeError(n, $"kernel {Shapes.Show(k.Shape)} expects {inCh} input channels, input is {Shapes.Show(x)}");
        var outSp = new int[rank];
        var padBefore = new int[rank];
        var spread = new int[rank];
        for (var d = 0; d < rank; d++)
        {
            outSp[d] = same ? inSp[d] * strides[d] : (inSp[d] - 1) * strides[d] + kernel[d];
            var forwardPad = same ? Math.Max(kernel[d] - strides[d], 0) / 2 : 0;
            padBefore[d] = kernel[d] - 1 - forwardPad;
            spread[d] = outSp[d] + kernel[d] - 1;      // length of the padded, spread input
        }
        var spreadShape = last ? spread.Append(inCh).ToArray() : new[] { inCh }.Concat(spread).ToArray();
        var offset = last ? 0 : 1;
        var gather = IndexMap(n.Id + ":spread", n, input, x, spreadShape, coord =>
        {
            var src = (int[])coord.Clone();
            for (var d = 0; d < rank; d++)
            {
                var p = coord[d + offset] - padBefore[d];
                if (p < 0 || p % strides[d] != 0 || p / strides[d] >= inSp[d]) return null;
                src[d + offset] = p / strides[d];
            }
            return src;
        }, "transposed-conv spread");
        // Flip spatially and swap the channel axes: w'[k..., in, out] = w[flip(k)..., out, in].
        var flipped = new float[k.Length];
        var kStrides = Shapes.Strides(k.Shape.ToArray());
        var kCount = Shapes.Product(kernel);
        var kc = new int[rank];
        for (var t = 0; t < kCount; t++)
        {
            RefKernels.Unravel(t, kernel, kc);
            var src = 0;
            for (var d = 0; d < rank; d++) src += (kernel[d] - 1 - kc[d]) * kStrides[d];
            for (var i = 0; i < inCh; i++)
                for (var o = 0; o < outCh; o++)
                    flipped[(t * inCh + i) * outCh + o] = k[src + o * inCh + i];
        }
        var ones = Enumerable.Repeat(1, rank).ToArr();
        var spec = new ConvSpec(spreadShape.ToArr(), outCh, kernel.ToArr(), ones, ones, Padding.Valid, last, 1);
        var conv = new LConv(n.Id + ":pre", n.Layer, gather.Id, spec, Tensor.Own(kernel.Append(inCh).Append(outCh).ToArray(), flipped), Bias(n));
        return WithActivation(n, conv).Map(act => act with { Ops = Seq1<LegalOp>(gather).Concat(act.Ops).ToSeq().Strict() });
    }

    static Either<Error, Value> Evaluate(KerasNode n, Value[] ins) =>
        from x in Single(n, ins)
        from k in Weight(n, "kernel")              // [k..., out, in]
        from y in Scatter(n, x, k)
        from r in Activate(n, y)
        select r;

    /// <summary>
    /// Transposed convolution by its definition (the gradient of a strided convolution): every input cell
    /// scatters kernel × value into the output, at stride s, shifted by the forward convolution's padding.
    /// </summary>
    static Either<Error, Value> Scatter(KerasNode n, Value x, Tensor k)
    {
        var rank = k.Rank - 2;
        if (x.Rank != rank + 1) return ShapeError(n, $"a {rank}-d transposed convolution got input {Shapes.Show(x.Shape)}");
        if (n.Config.Get("output_padding").IsSome) return Refuse(n, "output_padding is not supported");
        var channelsLast = !ChannelsFirst(n) || n.ClassName == "Conv1DTranspose";
        var data = channelsLast ? x.Data : RefKernels.Transpose(x.Data, x.Shape, RefKernels.FirstToLast(x.Rank));
        var shape = channelsLast ? x.Shape : x.Shape.Skip(1).Append(x.Shape[0]).ToArray();
        return Tuple(n, "strides", rank, Enumerable.Repeat(1, rank).ToArr()).Bind<Value>(s =>
        {
            var strides = s.ToArray();
            var same = n.Config.String("padding").IfNone("valid") == "same";
            var kernel = k.Shape.Take(rank).ToArray();
            var outCh = k.Shape[rank];
            var inCh = k.Shape[rank + 1];
            if (shape[^1] != inCh) return ShapeError(n, $"kernel {Shapes.Show(k.Shape)} expects {inCh} input channels");
            var inSp = shape[..^1];
            var outSp = inSp.Select((d, i) => same ? d * strides[i] : (d - 1) * strides[i] + kernel[i]).ToArray();
            var pad = kernel.Select((kd, i) => same ? Math.Max(kd - strides[i], 0) / 2 : 0).ToArray();
            var y = new float[Shapes.Product(outSp) * outCh];
            var bias = BiasData(n);
            var outStrides = Shapes.Strides(outSp);
            var kCount = Shapes.Product(kernel);
            var pc = new int[rank];
            var kc = new int[rank];
            for (var p = 0; p < Shapes.Product(inSp); p++)
            {
                RefKernels.Unravel(p, inSp, pc);
                for (var t = 0; t < kCount; t++)
                {
                    RefKernels.Unravel(t, kernel, kc);
                    var q = 0;
                    var inside = true;
                    for (var d = 0; d < rank; d++)
                    {
                        var o = pc[d] * strides[d] + kc[d] - pad[d];
                        if (o < 0 || o >= outSp[d]) { inside = false; break; }
                        q += o * outStrides[d];
                    }
                    if (!inside) continue;
                    for (var oc = 0; oc < outCh; oc++)
                    {
                        var acc = 0f;
                        for (var ic = 0; ic < inCh; ic++) acc += data[p * inCh + ic] * k[(t * outCh + oc) * inCh + ic];
                        y[q * outCh + oc] += acc;
                    }
                }
            }
            if (bias.Length > 0)
                for (var i = 0; i < y.Length; i++) y[i] += bias[i % outCh];
            var outShape = outSp.Append(outCh).ToArray();
            return channelsLast ? new Value(outShape, y)
                : new Value(new[] { outCh }.Concat(outSp).ToArray(), RefKernels.Transpose(y, outShape, RefKernels.LastToFirst(outShape.Length)));
        });
    }
}
