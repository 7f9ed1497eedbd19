using LanguageExt;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Architecture;

/// <summary>
/// The neuron-type registry (<see cref="NeuronTypes.All"/>) is consistent, so a type added by the README recipe works
/// everywhere or fails here: each entry's tag is its own, a value of the type points back to its entry, the fields it
/// saves are the ones the entry reads and make the same value again, and its step runs on the state it declares.
/// </summary>
public class NeuronRegistryTests
{
    /// <summary>One value of every registered kind: the named ones, and the kinds options cannot name.</summary>
    static readonly Seq<NeuronType> Samples = NeuronTypes.All.Choose(k => k.Named)
        .Append(Seq<NeuronType>(new RegularSpiking(new Tanh(), 0.5f), new SpikingRectifiedLinear(2f) { ResetToZero = true },
            new LeakyRectifiedLinear(Tensor.Vector(0.1f, 0.2f, 0.3f), 0.5f, 6f, 0.25f))).Strict();

    public static TheoryData<int> Indexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Samples.Count; i++) data.Add(i);
        return data;
    }

    [Fact]
    public void EveryKindHasItsOwnTagAndASample()
    {
        Assert.Equal(NeuronTypes.All.Count, NeuronTypes.All.Map(k => k.Tag).Distinct().Count());
        foreach (var kind in NeuronTypes.All)
            Assert.True(Samples.Exists(s => s.Kind.Exists(k => ReferenceEquals(k, kind))), $"no sample of {kind.Tag} (add one to Samples)");
        foreach (var kind in NeuronTypes.All)
            Assert.True(kind.Named.ForAll(n => n.Kind.Exists(k => ReferenceEquals(k, kind))), $"{kind.Tag}'s named type points to another entry");
    }

    [Theory]
    [MemberData(nameof(Indexes))]
    public void EverySampleSavesUnderItsEntryAndReadsBackTheSame(int index)
    {
        var neuron = Samples[index];
        var kind = neuron.Kind.IfNone(() => throw new Xunit.Sdk.XunitException($"{neuron.Name} has no entry"));
        Assert.True(NeuronTypes.Registered(neuron));
        Assert.Equal(kind.Fields.Map(f => f.Key).ToList(), neuron.Saved.Map(f => f.Key).ToList());
        var read = kind.Read(new NeuronFields(toMap(neuron.Saved.Map(f => (f.Key, f.Value)))));
        Assert.Equal(Right<string, NeuronType>(neuron), read);
    }

    [Theory]
    [MemberData(nameof(Indexes))]
    public void EverySampleStepsOnTheStateItDeclares(int index)
    {
        var neuron = Samples[index];
        const int n = 19;
        var arena = new float[(2 + neuron.State.Count) * n];
        var buffers = new NeuronBuffers(arena, n, toSeq(Enumerable.Range(2, neuron.State.Count).Select(k => k * n)).Strict());
        var step = neuron.Step(0.001f, buffers).IfNone(() => throw new Xunit.Sdk.XunitException($"{neuron.Name} has no step"));
        for (var i = 0; i < n; i++) arena[i] = 40f * i - 300f;
        for (var t = 0; t < 3; t++) step(arena.AsSpan(0, n), 0, n);
        Assert.All(arena, v => Assert.True(float.IsFinite(v)));
        Assert.Contains(arena.Skip(n), v => v != 0f);   // it wrote its output or state
    }
}
