using System.Text.Json;
using LanguageExt;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Export;
using Snn.Compiler.Keras;
using Snn.Runtime;
using Snn.Tests.Support;
using Xunit;
using Xunit.Abstractions;
using static LanguageExt.Prelude;

namespace Snn.Tests.Export;

/// <summary>
/// The NIR file alone is enough to reproduce the simulation: a NIR simulator written here in numpy (PyTorch-style
/// channels-first convolution, NIR's "edges into a node are summed", forward Euler with the file's dt, the neurons'
/// <c>step</c>, <c>reset</c>, <c>clip_current</c> and <c>v_initial</c> metadata) runs the exported graph, and its
/// mean outputs match <c>snn</c>'s spiking simulation of the same network. Spikes can differ only where a voltage
/// lands within float rounding of an integer, so almost every output matches to float precision.
/// </summary>
[Trait("Category", "Slow")]
public class NirSimulationTests(ITestOutputHelper output)
{
    const string Simulator = """
import sys, json, h5py, numpy as np
path, xpath, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.load(xpath).astype(np.float64)
f = h5py.File(path, 'r')
g = f['node']
dt = float(g['metadata']['dt'][()])
nodes = {k: g['nodes'][k] for k in g['nodes']}
edges = [(a.decode(), b.decode()) for a, b in g['edges'][()]]
ins = {k: [a for a, b in edges if b == k] for k in nodes}
order, seen = [], set()
def visit(k):
    if k in seen: return
    seen.add(k)
    for p in ins[k]: visit(p)
    order.append(k)
for k in nodes: visit(k)
T = lambda n: n['type'][()].decode()
meta = lambda n, k: n['metadata'][k][()]
def conv(inp, n):
    w = n['weight'][()].astype(np.float64); b = n['bias'][()].astype(np.float64)
    rank = w.ndim - 2
    vec = lambda v: [int(t) for t in np.atleast_1d(v)] * (rank if np.ndim(v) == 0 else 1)
    st, pd, dl, grp = vec(n['stride'][()]), vec(n['padding'][()]), vec(n['dilation'][()]), int(n['groups'][()])
    N, C = inp.shape[0], inp.shape[1]
    xp = np.pad(inp, [(0, 0), (0, 0)] + [(p, p) for p in pd])
    k = w.shape[2:]
    out_sp = [(xp.shape[2 + d] - dl[d] * (k[d] - 1) - 1) // st[d] + 1 for d in range(rank)]
    F, cin = w.shape[0], w.shape[1]
    y = np.zeros([N, F] + out_sp)
    for o in range(F):
        gi = o // (F // grp)
        for ci in range(cin):
            c = gi * cin + ci
            for t in np.ndindex(*k):
                sl = tuple(slice(t[d] * dl[d], t[d] * dl[d] + st[d] * (out_sp[d] - 1) + 1, st[d]) for d in range(rank))
                y[:, o] += w[(o, ci) + t] * xp[(slice(None), c) + sl]
        y[:, o] += b[o]
    return y
state, outs = {}, {}
for k, n in nodes.items():
    if T(n) in ('IF', 'LIF'):
        state[k] = np.broadcast_to(meta(n, 'v_initial').astype(np.float64), (x.shape[0],) + n['r'].shape).copy()
means = {k: 0.0 for k, n in nodes.items() if T(n) == 'Output'}
total_spikes = 0
for step in range(steps):
    val = {}
    for k in order:
        n = nodes[k]; t = T(n)
        inp = sum(val[p] for p in ins[k]) if ins[k] else None
        if t == 'Input': y = x
        elif t in ('Affine', 'Linear'):
            y = inp @ n['weight'][()].astype(np.float64).T + (n['bias'][()].astype(np.float64) if t == 'Affine' else 0)
        elif t in ('Conv1d', 'Conv2d'): y = conv(inp, n)
        elif t == 'AvgPool2d':
            kh, kw = n['kernel_size'][()]; sh, sw = n['stride'][()]
            H, W = inp.shape[2], inp.shape[3]
            oh, ow = (H - kh) // sh + 1, (W - kw) // sw + 1
            y = np.zeros(inp.shape[:2] + (oh, ow))
            for i in range(kh):
                for j in range(kw): y += inp[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
            y /= kh * kw
        elif t == 'Flatten': y = inp.reshape(inp.shape[0], -1)
        elif t == 'Scale': y = inp * n['scale'][()].astype(np.float64)
        elif t == 'IF':
            J = inp * n['r'][()]
            if int(meta(n, 'clip_current')): J = np.maximum(J, 0)
            v = state[k] + J * dt
            spikes = np.where(v >= n['v_threshold'][()], np.floor(v), 0)
            state[k] = np.where(spikes > 0, 0, v) if meta(n, 'reset') == b'zero' else v - spikes
            y = spikes
            total_spikes += int(spikes.sum())
        elif t == 'Output':
            y = inp; means[k] = means[k] + inp / steps
        else: raise ValueError(t)
        val[k] = y
result = {k: np.asarray(v).reshape(-1).tolist() for k, v in means.items()}
result['spikes'] = total_spikes
print(json.dumps(result))
""";

    /// <summary>Firing-rate scale 200: currents large enough that most neurons spike within a few dozen 1 ms steps.</summary>
    static readonly ConvertOptions Fast = ConvertOptions.Default with { ScaleFiringRates = Some(200f) };

    static readonly string Dir = Path.Combine(Path.GetTempPath(), "snn-tests");

    void SameAsOurSimulation(KerasModel model, ConvertOptions convert, int steps, float inputScale = 1f)
    {
        var compiled = Compile.Run(CompileOptions.Default with { Convert = convert.AsSpiking() }, model).Ok();
        var graph = Nir.Build(NirOptions.Default, compiled.Legal, compiled.Network).Ok();
        Assert.Single(compiled.Legal.Inputs);
        var inShape = ((Snn.Compiler.Legalize.LInput)compiled.Legal.Op(compiled.Legal.Inputs.Head)).Shape.ToArray();
        const int n = 6;
        var keras = TestModels.Random(new[] { n }.Concat(inShape).ToArray(), seed: 11, lo: 0f, hi: inputScale);

        var ours = Interpreter.Run(compiled.Program, compiled.Functions, Seq1(keras), new SimOptions(steps, Readout.Mean)).Ok().Head;

        // NIR inputs are channels-first: transpose (N, ..., C) -> (N, C, ...) unless the model is channels_first.
        var channelsFirst = compiled.Legal.Ops.Exists(o => o is Snn.Compiler.Legalize.LConv { Spec.ChannelsLast: false });
        var nirInput = inShape.Length > 1 && !channelsFirst
            ? Tensor.Own(new[] { n, inShape[^1] }.Concat(inShape[..^1]).ToArray(),
                RefKernels.Transpose(keras.Span, new[] { n }.Concat(inShape).ToArray(), new[] { 0, inShape.Length }.Concat(Enumerable.Range(1, inShape.Length - 1)).ToArray()))
            : keras;
        Directory.CreateDirectory(Dir);
        var id = Guid.NewGuid().ToString("N");
        var file = Path.Combine(Dir, id + ".nir");
        var xPath = Path.Combine(Dir, id + ".npy");
        Nir.Write(file, graph).Ok();
        Npy.WriteFloat32(xPath, nirInput);
        var (code, stdout, stderr) = Python.Run(Simulator, file, xPath, steps.ToString());
        File.Delete(file);
        File.Delete(xPath);
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout).RootElement;
        var nir = json.GetProperty("output").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var spikes = json.GetProperty("spikes").GetInt64();
        Assert.True(spikes > 100, $"only {spikes} spikes: the comparison would not exercise the spike mapping");

        // The output node is in Keras order (or the graph adds a permutation); compare element by element.
        Assert.Equal(ours.Length, nir.Length);
        var scale = Math.Max(1.0, ours.Span.ToArray().Max(v => Math.Abs(v)));
        var close = Enumerable.Range(0, nir.Length).Count(i => Math.Abs(nir[i] - ours[i]) <= 1e-4 * scale);
        output.WriteLine($"{spikes} spikes; {close} of {nir.Length} outputs within 1e-4 x {scale:G4}; max difference {Enumerable.Range(0, nir.Length).Max(i => Math.Abs(nir[i] - ours[i])):G4}");
        Assert.True(close >= nir.Length * 0.95, $"only {close} of {nir.Length} outputs agree");
    }

    /// <summary>Depthwise (grouped, 'same') and separable convolutions, Flatten folded into the Dense.</summary>
    [H5pyFact]
    public void DepthwiseSeparable() =>
        SameAsOurSimulation(ModelFile.Import(TestModels.Fixture("tfjs", "depthwise_separable", "model.json")).Ok(), Fast, steps: 30);

    /// <summary>Strided non-square kernels, a permuted output restored by a Linear permutation.</summary>
    [H5pyFact]
    public void StridesAndPermutedOutput() =>
        SameAsOurSimulation(ModelFile.Import(TestModels.Fixture("tfjs", "conv_strides_kernel", "model.json")).Ok(), Fast, steps: 30);

    /// <summary>A channels_first model with average pooling and Keras's transposing Flatten.</summary>
    [H5pyFact]
    public void ChannelsFirstAvgPool() =>
        SameAsOurSimulation(ModelFile.Import(TestModels.Fixture("tfjs", "conv_channels_first", "model.json")).Ok(), Fast, steps: 30);

    /// <summary>Firing-rate scale 2000 (several spikes per step) with integrate-and-fire neurons reset to zero: gains and spike values folded into weights.</summary>
    [H5pyFact]
    public void ScaledIntegrateAndFireResetToZero() =>
        SameAsOurSimulation(ModelFile.Import(TestModels.Fixture("tfjs", "dense_mlp", "model.json")).Ok(),
            ConvertOptions.Default with { ScaleFiringRates = Some(2000f), IntegrateAndFire = true, ResetToZero = true, InitialVoltage = InitialVoltage.Half },
            steps: 50);

    /// <summary>TF 'same' padding with stride 2 (zero taps in front), then a residual Add into neurons.</summary>
    [H5pyFact]
    public void AsymmetricPaddingAndResidualAdd()
    {
        var model = TestModels.Functional(new[] { "x" }, new[] { new[] { 8, 8, 2 } }, new[] { "out" },
            (new TestModels.L("Conv2D", "c1", new { filters = 3, kernel_size = new[] { 3, 3 }, strides = new[] { 2, 2 }, padding = "same", activation = "relu" },
                ("kernel", TestModels.Random(new[] { 3, 3, 2, 3 }, 1)), ("bias", TestModels.Random(new[] { 3 }, 2, 0f, 0.5f))), new[] { "x" }),
            (new TestModels.L("Conv2D", "c2", new { filters = 3, kernel_size = new[] { 3, 3 }, padding = "same", activation = "linear" },
                ("kernel", TestModels.Random(new[] { 3, 3, 3, 3 }, 3, -0.01f, 0.01f)), ("bias", TestModels.Random(new[] { 3 }, 4))), new[] { "c1" }),
            (new TestModels.L("Add", "add", new { }), new[] { "c1", "c2" }),
            (new TestModels.L("ReLU", "relu", new { }), new[] { "add" }),
            (new TestModels.L("Flatten", "flat", new { }), new[] { "relu" }),
            (new TestModels.L("Dense", "out", new { units = 4, activation = "linear" },
                ("kernel", TestModels.Random(new[] { 48, 4 }, 5, -0.01f, 0.01f)), ("bias", TestModels.Random(new[] { 4 }, 6))), new[] { "flat" }));
        SameAsOurSimulation(model, Fast, steps: 40);
    }
}
