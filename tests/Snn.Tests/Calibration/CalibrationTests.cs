using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Calibrate;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using static LanguageExt.Prelude;
using static Snn.Tests.Support.TestModels;

namespace Snn.Tests.Calibration;

/// <summary>Data-based normalization (Rueckauer et al. 2017) and the simulation options that go with it.</summary>
public class CalibrationTests
{
    [Fact]
    public void PercentileFollowsNumpyLinearInterpolation()
    {
        // np.percentile(np.arange(1, 101), 99.9) == 99.901; np.percentile([3, 1, 2, 10], 50) == 2.5; np.percentile([0.5, 4, 2.5], 98) == 3.94
        Assert.Equal(99.901f, Calibrate.Percentile(Enumerable.Range(1, 100).Select(i => (float)i).ToArray(), 99.9), 3);
        Assert.Equal(2.5f, Calibrate.Percentile(new[] { 3f, 1f, 2f, 10f }, 50), 5);
        Assert.Equal(3.94f, Calibrate.Percentile(new[] { 0.5f, 4f, 2.5f }, 98), 5);
    }

    /// <summary>
    /// numpy (np.percentile, method 'linear', on float32 arrays) against <see cref="Calibrate.Percentile"/> (MathNet's R7)
    /// and the kept tail: random arrays with and without ties, sizes 1 to 2000, percentiles 0, 50, 90, 99, 99.9, 100 and
    /// random ones. numpy's float64 result is rounded to float32 here; ours must be that float32 or a neighbour (numpy
    /// interpolates from the upper value when the fraction is at least 0.5, MathNet from the lower one).
    /// </summary>
    [PythonFact]
    public void PercentileAndTailMatchNumpy()
    {
        var rng = new Random(23);
        var fixedP = new[] { 0, 50, 90, 99, 99.9, 100 };
        var cases = new List<(float[] Values, double P)>();
        for (var trial = 0; trial < 60; trial++)
        {
            var n = trial < 3 ? trial + 1 : rng.Next(1, 2000);
            var values = Enumerable.Range(0, n).Select(_ => trial % 3 == 0 ? rng.Next(0, 20) / 4f : (float)(rng.NextDouble() * Math.Exp(rng.NextDouble() * 6 - 3))).ToArray();
            cases.Add((values, trial % 8 < fixedP.Length ? fixedP[trial % 8] : rng.NextDouble() * 100));
        }
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var file = Path.Combine(dir, "cases.txt");
        File.WriteAllLines(file, cases.Select(c => c.P.ToString("R", inv) + " " + string.Join(" ", c.Values.Select(v => v.ToString("R", inv)))));
        var (code, stdout, stderr) = Python.Run("""
import sys, numpy as np
for line in open(sys.argv[1]):
    p, *v = line.split()
    print(repr(float(np.float32(np.percentile(np.array(v, dtype=np.float32), float(p))))))
""", file);
        Directory.Delete(dir, recursive: true);
        Assert.True(code == 0, stderr);
        var numpy = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(s => float.Parse(s, inv)).ToArray();
        Assert.Equal(cases.Count, numpy.Length);
        var exact = 0;
        for (var i = 0; i < cases.Count; i++)
        {
            var (values, p) = cases[i];
            var ours = Calibrate.Percentile(values.ToArray(), p);
            var tail = new Calibrate.Tail(Calibrate.TailSize(p, values.Length));
            foreach (var v in values) tail.Add(v);
            foreach (var (what, got) in new[] { ("Percentile", ours), ("Tail", tail.Percentile(p)) })
                Assert.True(got == numpy[i] || got == MathF.BitIncrement(numpy[i]) || got == MathF.BitDecrement(numpy[i]),
                    $"case {i} (n {values.Length}, p {p}): {what} {got:R}, numpy {numpy[i]:R}");
            if (ours == numpy[i]) exact++;
        }
        Assert.True(exact >= cases.Count * 9 / 10, $"only {exact} of {cases.Count} percentiles equal numpy's exactly");
    }

    static KerasModel Mlp() => Sequential(new[] { 4 },
        new L("Dense", "h", new { units = 6, activation = "relu" }, ("kernel", Random(new[] { 4, 6 }, 1)), ("bias", Random(new[] { 6 }, 2, 0f, 0.3f))),
        new L("Dense", "o", new { units = 3 }, ("kernel", Random(new[] { 6, 3 }, 3)), ("bias", Random(new[] { 3 }, 4))));

    /// <summary>
    /// Calibration keeps only the top tail of each layer's activations: its percentile must equal the percentile of
    /// all of them, bit for bit, for any percentile, any count up to the bound, ties and any order of arrival.
    /// </summary>
    [Fact]
    public void TheKeptTailGivesThePercentileOfEveryValue()
    {
        var rng = new Random(17);
        for (var trial = 0; trial < 400; trial++)
        {
            var bound = rng.Next(1, 3000);
            var count = rng.Next(1, bound + 1);
            var p = trial % 5 == 0 ? 100 : trial % 7 == 0 ? 50 : 90 + rng.NextDouble() * 10;
            var values = Enumerable.Range(0, count).Select(_ => trial % 3 == 0 ? rng.Next(0, 20) / 4f : (float)rng.NextDouble() * 10).ToArray();
            var tail = new Calibrate.Tail(Calibrate.TailSize(p, bound));
            foreach (var v in values) tail.Add(v);
            Assert.Equal(count, tail.Count);
            Assert.Equal(Calibrate.Percentile(values.ToArray(), p), tail.Percentile(p));
        }
    }

    [Fact]
    public void ScaleMakesThePercentileActivationFireResolutionSpikesPerStep()
    {
        var data = Random(new[] { 200, 4 }, 5, 0f, 1f);
        var options = CompileOptions.Default with { Calibration = Some((new CalibrateOptions(Percentile: 90), Seq1(data))) };
        var compiled = Compile.Run(options, Mlp(), verify: true).Ok();
        // Independent oracle: the hidden layer's activations from the reference evaluator, numpy's percentile of the non-zero ones.
        var hidden = Sequential(new[] { 4 },
            new L("Dense", "h", new { units = 6, activation = "relu" }, ("kernel", Random(new[] { 4, 6 }, 1)), ("bias", Random(new[] { 6 }, 2, 0f, 0.3f))));
        var acts = KerasEval.Run(hidden, Seq1(data)).Ok().Head.ToArray().Where(v => v > 0).OrderBy(v => v).ToArray();
        var rank = 0.9 * (acts.Length - 1);
        var lambda = acts[(int)rank] + (acts[Math.Min((int)rank + 1, acts.Length - 1)] - acts[(int)rank]) * (rank - Math.Floor(rank));
        var scale = Assert.Single(compiled.Scales);
        Assert.Equal(lambda, scale.Activation, 4);
        // K = 2 spikes per step at λ by default (--resolution).
        Assert.Equal(2f, CalibrateOptions.Default.Resolution);
        Assert.Equal(2 / (lambda * 0.001), scale.Scale, 1);
        var e = Assert.Single(compiled.Network.Nodes.OfType<Ensemble>());
        Assert.Equal((float)(lambda * 0.001 / 2), ((RectifiedLinear)e.Neuron).Amplitude, 6);
    }

    /// <summary>
    /// --resolution K: the percentile activation fires K spikes per step, so K·T steps' counts arrive in T: a spiking
    /// run of T steps with K = 2 gives exactly the outputs of 2T steps with K = 1 (signed IF counts are the rounded
    /// integrated input, and 2T steps of a constant input integrate what T steps at twice the gain do).
    /// </summary>
    [Fact]
    public void ResolutionKFiresKSpikesPerStepAtThePercentile()
    {
        var data = Random(new[] { 200, 4 }, 5, 0f, 1f);
        var x = Random(new[] { 9, 4 }, 8, 0f, 1f);
        CompileOptions Options(float k) => CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { IntegrateAndFire = true, NegativeSpikes = true, InitialVoltage = InitialVoltage.Half },
            Calibration = Some((new CalibrateOptions(Percentile: 90) { Resolution = k }, Seq1(data))),
        };
        var one = Compile.Run(Options(1f), Mlp(), verify: true).Ok();
        var two = Compile.Run(Options(2f), Mlp(), verify: true).Ok();
        Assert.Equal(2 * one.Scales.Single().Scale, two.Scales.Single().Scale, 3);
        var slow = Interpreter.Run(one.Program, one.Functions, Seq1(x), new SimOptions(16, Readout.Mean)).Ok().Head;
        var fast = Interpreter.Run(two.Program, two.Functions, Seq1(x), new SimOptions(8, Readout.Mean)).Ok().Head;
        TestModels.Close(slow, fast, 1e-4f);
        Assert.Equal(2, CliRunner.Run("evaluate", TestModels.Fixture("tfjs", "dense_mlp", "model.json"), "--data", TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy"),
            "--calibrate", TestModels.Fixture("tfjs", "dense_mlp", "input_0.npy"), "--resolution", "0").Code);
    }

    [Fact]
    public void CalibrationKeepsRateOutputsExactly()
    {
        var data = Random(new[] { 100, 4 }, 6, 0f, 1f);
        var x = Random(new[] { 7, 4 }, 7, -1f, 1f);
        var plain = Compile.Run(CompileOptions.Default, Mlp()).Ok();
        var calibrated = Compile.Run(CompileOptions.Default with { Calibration = Some((CalibrateOptions.Default, Seq1(data))) }, Mlp(), verify: true).Ok();
        TestModels.Close(Interpreter.Run(plain.Program, plain.Functions, Seq1(x), SimOptions.Default).Ok().Head,
            Interpreter.Run(calibrated.Program, calibrated.Functions, Seq1(x), SimOptions.Default).Ok().Head, 1e-5f);
    }

    [Fact]
    public void PerChannelScalesMakeEachChannelsPercentileFireOneSpikePerStep()
    {
        // Hand-made layer: h = relu(x·I) with x ≥ 0, so channel k's activations are column k of the data.
        // Channel 0 sees {1, 2, 3, 4}, channel 1 sees {10, 20, 30, 40}: with p = 100, λ0 = 4 and λ1 = 40.
        var model = Sequential(new[] { 2 },
            new L("Dense", "h", new { units = 2, activation = "relu" }, ("kernel", T(new[] { 2, 2 }, 1, 0, 0, 1)), ("bias", T(new[] { 2 }, 0, 0))),
            new L("Dense", "o", new { units = 2 }, ("kernel", T(new[] { 2, 2 }, 1, 0, 0, 1)), ("bias", T(new[] { 2 }, 0, 0))));
        var data = T(new[] { 4, 2 }, 1, 10, 2, 20, 3, 30, 4, 40);
        var calibration = new CalibrateOptions(Percentile: 100, PerChannel: true) { Resolution = 1 };
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { IntegrateAndFire = true, InitialVoltage = InitialVoltage.Zero }, Calibration = Some((calibration, Seq1(data))) };
        var compiled = Compile.Run(options, model, verify: true).Ok();
        var e = Assert.Single(compiled.Network.Nodes.OfType<Ensemble>());
        // Layer λ = 40 (all activations); channel factors λ/λk = 10 and 1; effective gains 1/(λk·dt) = 250 and 25.
        Assert.Equal(40f, Assert.Single(compiled.Scales).Activation, 4);
        Assert.Equal(new[] { 10f, 1f }, e.NeuronScale.Map(t => t.ToArray()).IfNone(System.Array.Empty<float>()), new FloatTolerance(1e-4f));
        Assert.Equal(250f, e.Gain * e.NeuronScale.Map(t => t[0]).IfNone(0f), 2);
        Assert.Equal(25f, e.Gain * e.NeuronScale.Map(t => t[1]).IfNone(0f), 2);
        // Input at each channel's λ: both neurons fire once every step, and the readout is still x itself.
        var x = T(new[] { 1, 2 }, 4, 40);
        var plan = Plan.Create(compiled.Program, 1);
        plan.SetInput(0, x.Span);
        var spikes = plan.SpikingOutputs.Single();
        for (var step = 0; step < 5; step++)
        {
            plan.Step();
            var counts = new double[1][] { new double[2] };
            plan.AccumulateSpikes(new[] { spikes }, counts, 1);
            Assert.Equal(new[] { 1f, 1f }, counts[0].Select(c => (float)c), new FloatTolerance(1e-4f));
        }
        Assert.Equal(new[] { 4f, 40f }, Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), new SimOptions(Steps: 8, Readout: Readout.Mean)).Ok().Head.ToArray(), new FloatTolerance(1e-3f));
    }

    [Fact]
    public void BiasCorrectionAddsTheMeanSpikingErrorAsCurrent()
    {
        // Hand math: one IF neuron, J = 300 (x = 300 through a unit weight), dt = 0.001, v0 = 0: v = 0.3, 0.6, 0.9, 1.2
        // → one spike in 4 steps, a mean output of (1/dt)/4 = 250 against the ANN's 300. The error 50, divided by
        // the amplitude 1, is the bias the correction adds.
        var model = Sequential(new[] { 1 },
            new L("Dense", "d", new { units = 1, activation = "relu" }, ("kernel", T(new[] { 1, 1 }, 1)), ("bias", T(new[] { 1 }, 0))));
        var options = CompileOptions.Default with { Convert = ConvertOptions.Default.AsSpiking() with { IntegrateAndFire = true, InitialVoltage = InitialVoltage.Zero } };
        var net = Compile.Run(options, model).Ok().Network;
        var corrected = BiasCorrection.Run(new CalibrateOptions(BiasCorrectionSteps: 4), NodeFunctions.Empty, net, Seq1(T(new[] { 1, 1 }, 300))).Ok();
        Assert.Equal(50f, corrected.Nodes.OfType<Ensemble>().Single().Bias[0], 3);
        // Through the pipeline: calibration data drive it, and the compiler alone (no simulator) refuses it clearly.
        var calibrated = options with { Calibration = Some((new CalibrateOptions(Percentile: 100, BiasCorrectionSteps: 4), Seq1(T(new[] { 1, 1 }, 300)))) };
        Assert.Contains("bias correction", Compile.Run(calibrated, model).Err().Message);
        var e = Build.Run(calibrated, model, verify: true).Ok().Network.Nodes.OfType<Ensemble>().Single();
        // Calibrated at λ = 300: gain 1/(300·dt), J·dt = 1 per step, exact spiking: no error, no correction.
        Assert.Equal(0f, e.Bias[0], 4);
    }

    [Fact]
    public void PerChannelCalibrationKeepsConvolutionRateOutputs()
    {
        // A channels-first and a channels-last convolution: rate outputs after per-channel calibration equal the
        // reference evaluator's (the Keras meaning), so every channel got back exactly what its scale took.
        foreach (var format in new[] { "channels_last", "channels_first" })
        {
            var shape = format == "channels_last" ? new[] { 6, 6, 2 } : new[] { 2, 6, 6 };
            var model = Sequential(shape,
                new L("Conv2D", "c", new { filters = 3, kernel_size = new[] { 3, 3 }, activation = "relu", data_format = format },
                    ("kernel", Random(new[] { 3, 3, 2, 3 }, 11)), ("bias", Random(new[] { 3 }, 12, 0f, 0.2f))),
                new L("Flatten", "f", new { data_format = format }),
                new L("Dense", "d", new { units = 4, activation = "relu" }, ("kernel", Random(new[] { 48, 4 }, 13)), ("bias", Random(new[] { 4 }, 14))));
            var data = Random(new[] { 50 }.Concat(shape).ToArray(), 15, 0f, 1f);
            var x = Random(new[] { 5 }.Concat(shape).ToArray(), 16, 0f, 1f);
            var compiled = Compile.Run(CompileOptions.Default with { Calibration = Some((new CalibrateOptions(PerChannel: true), Seq1(data))) }, model, verify: true).Ok();
            Assert.All(compiled.Network.Nodes.OfType<Ensemble>(), e => Assert.True(e.NeuronScale.IsSome, e.Id));
            TestModels.Close(KerasEval.Run(model, Seq1(x)).Ok().Head, Interpreter.Run(compiled.Program, compiled.Functions, Seq1(x), SimOptions.Default).Ok().Head, 1e-4f);
        }
    }

    /// <summary>
    /// Per-channel calibration unscales every ensemble's spikes (Reset + ElementwiseInc, which the optimizer makes one
    /// setting product): the optimized spiking program gives the unoptimized one's outputs bit for bit.
    /// </summary>
    [Fact]
    public void PerChannelSpikingProgramOptimizedEqualsUnoptimized()
    {
        var model = Sequential(new[] { 6, 6, 2 },
            new L("Conv2D", "c", new { filters = 3, kernel_size = new[] { 3, 3 }, activation = "relu" },
                ("kernel", Random(new[] { 3, 3, 2, 3 }, 21)), ("bias", Random(new[] { 3 }, 22, 0f, 0.2f))),
            new L("MaxPooling2D", "p", new { pool_size = new[] { 2, 2 } }),
            new L("Flatten", "f", new { }),
            new L("Dense", "d", new { units = 4, activation = "relu" }, ("kernel", Random(new[] { 12, 4 }, 23)), ("bias", Random(new[] { 4 }, 24))));
        var data = Random(new[] { 40, 6, 6, 2 }, 25, 0f, 1f);
        var x = Random(new[] { 7, 6, 6, 2 }, 26, 0f, 1f);
        var spiking = CompileOptions.Default with
        {
            Convert = ConvertOptions.Default.AsSpiking() with { IntegrateAndFire = true, NegativeSpikes = true },
            Calibration = Some((new CalibrateOptions(PerChannel: true), Seq1(data))),
        };
        var optimized = Compile.Run(spiking, model, verify: true).Ok().Program;
        var plain = Compile.Run(spiking with { Optimize = Snn.Compiler.Optimize.OptimizeOptions.None }, model, verify: true).Ok().Program;
        // The per-channel output scale is applied as the neurons write their output, in both programs.
        Assert.Contains(optimized.Ops, o => o is Snn.Ops.SimNeuronsAffine { OutputScale.IsSome: true });
        Assert.Contains(plain.Ops, o => o is Snn.Ops.SimNeurons { OutputScale.IsSome: true });
        foreach (var program in new[] { optimized, plain })
        {
            var outputs = program.Ops.OfType<Snn.Ops.INeuronOp>().Select(n => n.Output).ToHashSet();
            Assert.DoesNotContain(program.Ops, o => o is Snn.Ops.ElementwiseInc e && outputs.Contains(e.X));
        }
        var sim = SimOptions.Default with { Steps = 12 };
        var a = Interpreter.Run(optimized, Seq1(x), sim).Ok().Head;
        var b = Interpreter.Run(plain, Seq1(x), sim).Ok().Head;
        Assert.Equal(b.Span.ToArray().Select(BitConverter.SingleToInt32Bits), a.Span.ToArray().Select(BitConverter.SingleToInt32Bits));
        Assert.Contains(a.Span.ToArray(), v => v != 0f);
    }

    [Fact]
    public void BiasShiftAddsHalfAThresholdOverTheRun()
    {
        var data = Random(new[] { 100, 4 }, 6, 0f, 1f);
        var without = Compile.Run(CompileOptions.Default with { Calibration = Some((CalibrateOptions.Default, Seq1(data))) }, Mlp()).Ok();
        var with = Compile.Run(CompileOptions.Default with { Calibration = Some((CalibrateOptions.Default with { BiasShiftSteps = 8 }, Seq1(data))) }, Mlp()).Ok();
        var a = without.Network.Nodes.OfType<Ensemble>().Single().Bias;
        var b = with.Network.Nodes.OfType<Ensemble>().Single().Bias;
        // θ/(2T) of voltage per step is a current of 1/(2·T·dt).
        for (var i = 0; i < a.Length; i++) Assert.Equal(a[i] + 1f / (2 * 8 * 0.001f), b[i], 2);
    }

    [Fact]
    public void IntegrateAndFireIntegratesNegativeCurrentsAndResets()
    {
        // Hand math: J = 1500, dt = 0.001 → v: 0.5+1.5=2.0 → 2 spikes (subtract: v=0; zero: v=0) ...
        var v = new[] { 0.5f, 0.5f };
        var o = new float[2];
        NeuronKernels.IntegrateAndFire(new[] { 1500f, -400f }, 0.001f, 1f, false, false, v, o);
        Assert.Equal(new[] { 2000f, 0f }, o, new FloatTolerance(0.1f));
        Assert.Equal(0f, v[0], 5);
        Assert.Equal(0.1f, v[1], 5);      // signed integration: 0.5 − 0.4
        NeuronKernels.IntegrateAndFire(new[] { 1200f, -400f }, 0.001f, 1f, false, true, v, o);
        Assert.Equal(1000f, o[0], 1);
        Assert.Equal(0f, v[0], 5);        // reset to zero drops the 0.2 left over
        Assert.Equal(-0.3f, v[1], 5);     // below zero is allowed
    }

    sealed class FloatTolerance(float tolerance) : IEqualityComparer<float>
    {
        public bool Equals(float a, float b) => Math.Abs(a - b) <= tolerance;
        public int GetHashCode(float f) => 0;
    }

    static Snn.Ops.OpProgram RampProgram(float tau)
    {
        var nb = new NetworkBuilder();
        var x = nb.Input("x", 1);
        var e = nb.Ensemble("e", 1, new RectifiedLinear());
        nb.Connect(x, e);
        nb.Probe(e, synapse: new Lowpass(tau));
        return Snn.Compiler.Lower.Lower.Run(Snn.Compiler.Lower.LowerOptions.Default, nb.Build().Ok()).Ok();
    }

    [Fact]
    public void ReadoutsOverTheZohStepResponse()
    {
        // Probe series y[t] = 2 (1 − exp(−(t − 1) dt/τ)): Nengo's filtered probe reads the filter before its update in
        // the step (see NengoSemanticsTests); readouts over 10 steps.
        const double tau = 0.01, dt = 0.001;
        var y = Enumerable.Range(1, 10).Select(t => 2 * (1 - Math.Exp(-(t - 1) * dt / tau))).ToArray();
        var program = RampProgram((float)tau);
        var input = Seq1(Tensor.Own(new[] { 1, 1 }, new[] { 2f }));
        double Run(Readout r, int window = 1) => Interpreter.Run(program, input, new SimOptions(Steps: 10, Readout: r) { Window = window }).Ok().Head[0];
        Assert.Equal(y[9], Run(Readout.Last), 5);
        Assert.Equal(y.Average(), Run(Readout.Mean), 5);
        Assert.Equal(y.Skip(7).Average(), Run(Readout.MeanLast, 3), 5);
        Assert.Equal(y.Sum() * dt, Run(Readout.Count), 6);
    }

    [Fact]
    public void PoissonInputsAverageToTheInputAndDoNotDependOnBatching()
    {
        var nb = new NetworkBuilder();
        var x = nb.Input("x", 3);
        var n = nb.Node("n", 3);
        nb.Connect(x, n);
        nb.Probe(n);
        var program = Snn.Compiler.Lower.Lower.Run(Snn.Compiler.Lower.LowerOptions.Default, nb.Build().Ok()).Ok();
        var input = Seq1(Tensor.Own(new[] { 5, 3 }, new[] { 0.2f, 0.7f, 1.5f, 0.2f, 0.7f, 1.5f, 0.2f, 0.7f, 1.5f, 0.2f, 0.7f, 1.5f, -0.3f, 0f, 2f }));
        var sim = new SimOptions(Steps: 4000, Readout: Readout.Mean) { Encoding = Encoding.Poisson, Seed = 11 };
        var a = Interpreter.Run(program, input, sim with { BatchSize = 5 }).Ok().Head;
        var b = Interpreter.Run(program, input, sim with { BatchSize = 2, Threads = 1 }).Ok().Head;
        Assert.Equal(a.ToArray(), b.ToArray());
        for (var i = 0; i < a.Length; i++)
        {
            var p = Math.Abs(input.Head[i]) - Math.Floor(Math.Abs(input.Head[i]));
            Assert.True(Math.Abs(a[i] - input.Head[i]) <= 4 * Math.Sqrt(p * (1 - p) / 4000) + 1e-6, $"{i}: mean {a[i]} for input {input.Head[i]}");
        }
    }

    [Fact]
    public void EvaluateReportsAccuracyByStepsFiringAndOperations()
    {
        var dir = TestModels.Fixture("tfjs", "conv_valid_same");
        var labels = Path.Combine(Path.GetTempPath(), $"labels-{Guid.NewGuid():N}.npy");
        Npy.WriteFloat32(labels, Tensor.Vector(0, 1, 2));
        var (code, output, err) = CliRunner.Run("evaluate", Path.Combine(dir, "model.json"), "--data", Path.Combine(dir, "input_0.npy"),
            "--labels", labels, "--mode", "spiking", "--steps", "8", "--calibrate", Path.Combine(dir, "input_0.npy"), "--json");
        Assert.True(code == 0, err);
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        var r = doc.RootElement;
        Assert.Equal(new[] { 1, 2, 4, 8 }, r.GetProperty("spiking_by_steps").EnumerateArray().Select(s => s.GetProperty("steps").GetInt32()));
        Assert.NotEmpty(r.GetProperty("layers").EnumerateArray());
        Assert.Contains("Horowitz", r.GetProperty("operations").GetProperty("energy_source").GetString());
        Assert.NotEmpty(r.GetProperty("calibration").EnumerateArray());
    }
}
