using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Saved;
using Snn.Tests.Support;
using Snn.Training;
using Xunit;
using static LanguageExt.Prelude;

namespace Snn.Tests.Facade;

/// <summary>The Snn library's front door to training (<see cref="Trainer"/>), as a program or notebook calls it.</summary>
public class TrainerTests
{
    static readonly string Mlp = TestModels.Fixture("tfjs", "dense_mlp", "model.json");

    /// <summary>Eight samples of the fixture's (2, 2) input and class labels 0..6.</summary>
    static TrainingData Data(float labelOffset = 0)
    {
        var x = new NumpyRandom(3).Uniform(-1, 1, 8 * 4).Select(v => (float)v).ToArray();
        return new TrainingData(Seq1(Tensor.Own(new[] { 8, 2, 2 }, x)), Tensor.Own(new[] { 8 }, Enumerable.Range(0, 8).Select(i => i % 7 + labelOffset).ToArray()));
    }

    [Fact]
    public void A_keras_file_or_a_saved_network_trains_into_a_new_network_and_the_start_is_unchanged()
    {
        var request = new FitRequest(RunRequest.Of(CompileOptions.Default), new FitOptions(new Adam(0.01), Epochs: 2, BatchSize: 4));
        var fromFile = Trainer.Fit(request, Mlp, Data(), None).Ok();
        Assert.Equal(2, fromFile.History.Count);
        Assert.Equal(NetworkParameters.Read(fromFile.Start.Network, false).Map(p => p.Name), fromFile.Changed);   // every parameter trains
        Assert.True(fromFile.Network.Source.IsSome);   // the Keras model stays embedded, as snn convert embeds it

        // A saved network (here the start of the first fit) as the model: the same training gives the same network.
        var saved = Loaded.Of("start.snnz", fromFile.Start);
        var again = Trainer.Fit(request, saved, Data(), None).Ok();
        Assert.Equal(fromFile.Network, again.Network);
        Assert.Equal(fromFile.Start, saved.Saved.IfNone(() => throw new InvalidOperationException()));
        Assert.Equal(fromFile.History.Map(h => h.Loss), again.History.Map(h => h.Loss));
    }

    [Fact]
    public void Targets_that_do_not_fit_the_output_are_refused_before_training()
    {
        var request = new FitRequest(RunRequest.Of(CompileOptions.Default), new FitOptions(new Adam()));
        var batches = 0;
        var error = Trainer.Fit(request, Mlp, Data(labelOffset: 3), None, batches: _ => batches++).Err();
        Assert.Equal(Errors.LabelsCode, error.Code);
        Assert.Contains("classes 0..6", error.Message);
        Assert.Equal(0, batches);
    }
}
