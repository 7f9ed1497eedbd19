using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Keras;
using Snn.Compiler.Legalize;
using static LanguageExt.Prelude;
using static Snn.Compiler.Layers.LayerHelpers;
using Value = Snn.Compiler.Keras.KerasEval.Value;

namespace Snn.Compiler.Layers;

/// <summary>Add, Average and Subtract (a weighted sum of equal shapes) and Concatenate (any non-batch axis).</summary>
internal static class MergeLayers
{
    public static readonly LayerRule Add = Sum("Add", false, ins => ins.Map(_ => 1f).ToArr(),
        (n, ins) => Combine(n, ins, (a, b) => a + b));

    public static readonly LayerRule Average = Sum("Average", false, ins => ins.Map(_ => 1f / ins.Count).ToArr(),
        (n, ins) => Combine(n, ins, (a, b) => a + b).Map(s => Map(s, v => v / ins.Length)));

    public static readonly LayerRule Subtract = Sum("Subtract", true, _ => Arr.create(1f, -1f),
        (n, ins) => ins.Length != 2 ? Refuse(n, "Subtract needs exactly two inputs") : Combine(n, ins, (a, b) => a - b));

    public static readonly LayerRule Concatenate = new(
        Arr.create("Concatenate"), LayerSupport.Native, "concatenation on any non-batch axis",
        Legal(LegalizeConcatenate),
        Eval((n, ins) => Concat(n, ins, n.Config.Int("axis", -1))));

    static LayerRule Sum(string cls, bool twoInputs, Func<Seq<string>, Arr<float>> weights, Func<KerasNode, Value[], Either<Error, Value>> evaluate) => new(
        Arr.create(cls), LayerSupport.Native, "a weighted sum",
        Legal(i => LegalizeSum(i, twoInputs, weights)), Some(evaluate));

    static Either<Error, Lowered> LegalizeSum(LegalizeInput i, bool twoInputs, Func<Seq<string>, Arr<float>> weights)
    {
        var (n, ins) = (i.Node, i.Inputs);
        if (ins.Count < 2 || (twoInputs && ins.Count != 2)) return Refuse(n, $"wrong number of inputs ({ins.Count})");
        var shape = i.InputShapes.Head;
        if (!i.InputShapes.ForAll(s => s == shape))
            return ShapeError(n, $"inputs {string.Join(", ", i.InputShapes.Map(s => Shapes.Show(s)))} differ");
        return Lowered.Native(new LSum(n.Id, n.Layer, ins, shape, weights(ins)));
    }

    static Either<Error, Lowered> LegalizeConcatenate(LegalizeInput i)
    {
        var (n, ins, shapes) = (i.Node, i.Inputs, i.InputShapes);
        var first = shapes.Head;
        var axisRaw = n.Config.Int("axis", -1);
        if (axisRaw == 0) return Refuse(n, "Cannot concatenate along batch dimension (axis 0)");
        var axis = axisRaw < 0 ? axisRaw + first.Count : axisRaw - 1;
        if (axis < 0 || axis >= first.Count) return BadArg(n, "axis", axisRaw.ToString(), $"an axis in 1..{first.Count}");
        if (!shapes.ForAll(s => s.Count == first.Count && Enumerable.Range(0, first.Count).All(d => d == axis || s[d] == first[d])))
            return ShapeError(n, $"inputs {string.Join(", ", shapes.Map(s => Shapes.Show(s)))} cannot be concatenated on axis {axisRaw}");
        var shape = first.SetItem(axis, shapes.Sum(s => s[axis]));
        return Lowered.Native(new LConcat(n.Id, n.Layer, ins, shape, axis));
    }

    /// <summary>The evaluator's elementwise merge of equal shapes (no broadcasting).</summary>
    public static Either<Error, Value> Combine(KerasNode n, Value[] ins, Func<float, float, float> f)
    {
        if (ins.Length < 1) return Refuse(n, "needs at least one input");
        var shape = ins[0].Shape;
        foreach (var x in ins)
            if (!x.Shape.SequenceEqual(shape)) return ShapeError(n, $"inputs {string.Join(" and ", ins.Select(i => Shapes.Show(i.Shape)))} differ (broadcasting is not supported)");
        var y = (float[])ins[0].Data.Clone();
        for (var k = 1; k < ins.Length; k++)
            for (var i = 0; i < y.Length; i++) y[i] = f(y[i], ins[k].Data[i]);
        return new Value(shape, y);
    }

    static Either<Error, Value> Concat(KerasNode n, Value[] ins, int axis)
    {
        var rank = ins[0].Rank;
        var a = axis < 0 ? axis + rank : axis - 1;
        if (a < 0 || a >= rank) return Refuse(n, $"cannot concatenate along axis {axis} (the batch axis or out of range)");
        foreach (var x in ins)
            if (x.Rank != rank || Enumerable.Range(0, rank).Any(d => d != a && x.Shape[d] != ins[0].Shape[d]))
                return ShapeError(n, $"inputs {string.Join(", ", ins.Select(i => Shapes.Show(i.Shape)))} cannot be concatenated on axis {axis}");
        var outShape = (int[])ins[0].Shape.Clone();
        outShape[a] = ins.Sum(x => x.Shape[a]);
        var outer = ins[0].Shape.Take(a).Aggregate(1, (p, d) => p * d);
        var y = new float[Shapes.Product(outShape)];
        var pos = 0;
        for (var o = 0; o < outer; o++)
            foreach (var x in ins)
            {
                var block = x.Data.Length / outer;
                System.Array.Copy(x.Data, o * block, y, pos, block);
                pos += block;
            }
        return new Value(outShape, y);
    }
}
