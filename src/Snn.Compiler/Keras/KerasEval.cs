using System.Numerics.Tensors;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Layers;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Keras;

/// <summary>
/// The reference evaluator: a Keras-semantics forward pass over the imported graph, independent of
/// legalize, convert, lower and interpret. It is the meaning of stage 1 and what <c>verify</c> and
/// <c>--mode keras</c> use. It evaluates one sample at a time (samples in parallel) in float32.
/// </summary>
public static class KerasEval
{
    /// <summary>One sample's value: shape without batch, and data.</summary>
    public readonly record struct Value(int[] Shape, float[] Data)
    {
        public int Rank => Shape.Length;
    }

    /// <summary>
    /// Runs the model on a batch. Each input tensor has shape (batch, ...input shape). The inputs, the outputs for the
    /// whole batch and the samples evaluated at once stay within <paramref name="maxBytes"/>: the first sample runs alone
    /// and is refused at the first layer that takes its values past what is left (exit 3, naming the layer); the others
    /// then run as many at a time as fit. A sample holds only the values that a later layer or an output still reads.
    /// </summary>
    public static Either<Error, Seq<Tensor>> Run(KerasModel model, Seq<Tensor> inputs, long maxBytes = MemoryBudget.DefaultBytes)
    {
        if (inputs.Count != model.Inputs.Count)
            return Errors.Shape("model inputs", $"the model has {model.Inputs.Count} inputs but {inputs.Count} were given");
        var batch = inputs.Head.Shape[0];
        for (var i = 0; i < inputs.Count; i++)
        {
            var expected = model.InputShapes[i];
            var got = inputs[i].Shape.Skip(1).ToArr();
            if (inputs[i].Shape[0] != batch || !ShapeMatches(expected, got))
                return Errors.Shape($"input {i}", $"expected (batch, {string.Join(", ", expected.Map(d => d < 0 ? "None" : d.ToString()))}), got {Shapes.Show(inputs[i].Shape)}");
        }
        var inputBytes = inputs.Fold(0L, (acc, t) => acc + (long)t.Length * sizeof(float));
        var lastUse = LastUses(model);
        // Check every layer on the first sample before fanning out, so errors surface once.
        return Guarded(() => RunSample(model, inputs, 0, lastUse, maxBytes - inputBytes, maxBytes)).Bind(first =>
        {
            var (firstOut, peak) = first;
            var outputBytes = MemoryBudget.Times(batch, firstOut.Sum(v => (long)v.Data.Length * sizeof(float)));
            var needed = MemoryBudget.Add(MemoryBudget.Add(inputBytes, outputBytes), peak);
            if (needed > maxBytes)
                return Errors.Memory($"The Keras reference evaluator on {batch} sample(s) of model '{model.Name}' (inputs {MemoryBudget.Show(inputBytes)}, " +
                                     $"outputs {MemoryBudget.Show(outputBytes)}, one sample's layer values {MemoryBudget.Show(peak)})", needed, maxBytes);
            var parallel = (int)Math.Clamp((maxBytes - inputBytes - outputBytes) / Math.Max(1, peak), 1, Environment.ProcessorCount);
            var results = new Either<Error, Value[]>[batch];
            results[0] = firstOut;
            Parallel.For(1, batch, new ParallelOptions { MaxDegreeOfParallelism = parallel },
                b => results[b] = Guarded(() => RunSample(model, inputs, b, lastUse, long.MaxValue, maxBytes)).Map(r => r.Outputs));
            // The first failing sample's error, as the first sample's would be.
            foreach (var result in results)
                if (result.IsLeft) return result.Map(_ => Seq<Tensor>());
            var samples = results.Select(r => r.IfLeft(System.Array.Empty<Value>())).ToArray();
            return Right<Error, Seq<Tensor>>(Enumerable.Range(0, model.Outputs.Count).Select(o =>
            {
                var shape = firstOut[o].Shape;
                var size = firstOut[o].Data.Length;
                var data = new float[batch * size];
                for (var b = 0; b < batch; b++) samples[b][o].Data.CopyTo(data, b * size);
                return Tensor.Own(new[] { batch }.Concat(shape).ToArray(), data);
            }).ToSeq().Strict());
        });
    }

    /// <summary>For each value, the index of the last node that reads it (outputs are read after the last node).</summary>
    static Dictionary<KerasValue, int> LastUses(KerasModel model)
    {
        var last = new Dictionary<KerasValue, int>();
        for (var i = 0; i < model.Nodes.Count; i++)
            foreach (var v in model.Nodes[i].Inputs)
                last[v] = i;
        foreach (var o in model.Outputs) last[o] = int.MaxValue;
        return last;
    }

    static bool ShapeMatches(Arr<int> expected, Arr<int> got) =>
        expected.Count == got.Count && expected.Zip(got).ForAll(p => p.Item1 < 0 || p.Item1 == p.Item2);

    /// <summary>
    /// The evaluator's boundary. Rules return their refusals; what still throws is the BCL and LanguageExt on hostile
    /// files the rules do not check (IndexOutOfRangeException from a weight of the wrong rank, ArgumentOutOfRangeException
    /// from a negative rank, KeyNotFoundException for an output that is never computed, DivideByZeroException for an
    /// empty batch). The faults the spec builders report as exceptional errors (a zero stride, a window over an input
    /// without axes) read the same as when they were thrown.
    /// </summary>
    static Either<Error, A> Guarded<A>(Func<Either<Error, A>> f)
    {
        try { return f().MapLeft(e => e.IsExceptional ? Fault(e.ToException()) : e); }
        catch (Exception e) when (e is not OutOfMemoryException) { return Fault(e); }
    }

    static Error Fault(Exception e) => Errors.Graph($"the model cannot be evaluated ({e.GetType().Name}: {e.Message})");

    /// <summary>
    /// One sample through the graph, and the most bytes its values held at once. Values no later node or output reads are
    /// dropped as it goes; past <paramref name="cap"/> bytes the sample is refused at the layer that went past it
    /// (<paramref name="budget"/> is what the message reports).
    /// </summary>
    static Either<Error, (Value[] Outputs, long Peak)> RunSample(KerasModel model, Seq<Tensor> inputs, int b, Dictionary<KerasValue, int> lastUse,
        long cap, long budget)
    {
        var values = new Dictionary<KerasValue, Value>();
        long live = 0, peak = 0;
        for (var i = 0; i < model.Inputs.Count; i++)
        {
            var t = inputs[i];
            var size = t.Length / t.Shape[0];
            values[model.Inputs[i]] = new Value(t.Shape.Skip(1).ToArray(), t.Span.Slice(b * size, size).ToArray());
            live += (long)size * sizeof(float);
        }
        peak = live;
        for (var k = 0; k < model.Nodes.Count; k++)
        {
            var node = model.Nodes[k];
            if (node.ClassName == "InputLayer") continue;
            if (node.Inputs.Find(v => !values.ContainsKey(v)).TryGet(out var missing))
                return Errors.Graph($"layer '{node.Id}' reads '{missing}', which is not computed before it");
            var result = LayerRegistry.Evaluate(node, node.Inputs.Map(v => values[v]).ToArray());
            if (result.IsLeft) return result.Map(_ => (System.Array.Empty<Value>(), 0L));
            var value = result.IfLeft(default(Value));
            var key = new KerasValue(node.Id);
            values[key] = value;
            live += (long)value.Data.Length * sizeof(float);
            peak = Math.Max(peak, live);
            if (peak > cap)
                return Errors.Memory($"The Keras reference evaluator on one sample of model '{model.Name}' (at layer '{node.Id}', whose output has shape " +
                                     $"{Shapes.Show(value.Shape)}, {MemoryBudget.Show((long)value.Data.Length * sizeof(float))}; the values held at once, with the inputs)",
                                     MemoryBudget.Add(peak, budget - cap), budget);
            // Drop what no later node reads (a value nothing reads, outputs aside, goes at once).
            foreach (var v in node.Inputs.Append(key).Distinct())
                if (lastUse.GetValueOrDefault(v, -1) <= k && values.Remove(v, out var gone))
                    live -= (long)gone.Data.Length * sizeof(float);
        }
        return (model.Outputs.Map(o => values[o]).ToArray(), peak);
    }

    /// <summary>Evaluates one layer call on one sample, or reports why it cannot.</summary>
    public static Either<Error, Value> EvaluateLayer(KerasNode n, Value[] ins) => Guarded(() => LayerRegistry.Evaluate(n, ins));
}
