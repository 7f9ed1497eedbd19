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

    /// <summary>Runs the model on a batch. Each input tensor has shape (batch, ...input shape).</summary>
    public static Either<Error, Seq<Tensor>> Run(KerasModel model, Seq<Tensor> inputs)
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
        // Check every layer on the first sample before fanning out, so errors surface once.
        return Guarded(() => RunSample(model, inputs, 0)).Bind(firstOut =>
        {
            var results = new Either<Error, Value[]>[batch];
            results[0] = firstOut;
            Parallel.For(1, batch, b => results[b] = Guarded(() => RunSample(model, inputs, b)));
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

    static Either<Error, Value[]> RunSample(KerasModel model, Seq<Tensor> inputs, int b)
    {
        var values = new Dictionary<KerasValue, Value>();
        for (var i = 0; i < model.Inputs.Count; i++)
        {
            var t = inputs[i];
            var size = t.Length / t.Shape[0];
            values[model.Inputs[i]] = new Value(t.Shape.Skip(1).ToArray(), t.Span.Slice(b * size, size).ToArray());
        }
        foreach (var node in model.Nodes)
        {
            if (node.ClassName == "InputLayer") continue;
            if (node.Inputs.Find(v => !values.ContainsKey(v)).TryGet(out var missing))
                return Errors.Graph($"layer '{node.Id}' reads '{missing}', which is not computed before it");
            var failure = LayerRegistry.Evaluate(node, node.Inputs.Map(v => values[v]).ToArray()).Match(
                Right: value => { values[new KerasValue(node.Id)] = value; return Option<Error>.None; },
                Left: e => Some(e));
            if (failure.TryGet(out var error)) return error;
        }
        return model.Outputs.Map(o => values[o]).ToArray();
    }

    /// <summary>Evaluates one layer call on one sample, or reports why it cannot.</summary>
    public static Either<Error, Value> EvaluateLayer(KerasNode n, Value[] ins) => Guarded(() => LayerRegistry.Evaluate(n, ins));
}
