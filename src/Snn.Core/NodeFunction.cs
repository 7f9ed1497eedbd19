namespace Snn;

/// <summary>A function of the whole input vector of one sample (NengoDL's TensorNode analogue).</summary>
public interface INodeFunction
{
    string Name { get; }
    void Apply(ReadOnlySpan<float> input, Span<float> output);
}
