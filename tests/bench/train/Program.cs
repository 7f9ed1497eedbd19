// Training-step timings on a real model's rate network, and the Snn side of the training benchmark (tests/bench/train/run.sh)
// until `snn fit` exists. Not in Pipeline.sln: dotnet run -c Release --project tests/bench/train -- MODE MODEL [options]
//
//   step  MODEL [--threads 2] [--batch 64] [--reps 30]   one gradient step (NetworkGradient.Run) on the first batch of the
//                                                         training images: wall and process CPU time per step (median, best)
//   epoch MODEL [--threads 2] [--batch 64] [--lr 1e-3] [--optimizer adam|sgd] [--count N] [--seed 0]
//                                                         one epoch of Snn.Training.Fit (the library behind `snn fit`) over the
//                                                         first --count training images: prints images/s, CPU s, the mean
//                                                         loss and the load, and one JSON line
//   hash  MODEL                                           SHA-256 of one step's loss, outputs and gradients for 1, 2, 3 threads
//   kernels MODEL [--threads 2] [--batch 64]              each transform's forward and backward kernels alone (CPU ms per call)
//
// Images: ../shared/data/fashion-mnist/train-{images-idx3,labels-idx1}-ubyte.gz (--images, --labels), pixels × float32(1/255).
using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using LanguageExt;
using Snn;
using Snn.Compiler;
using Snn.Compiler.Convert;
using Snn.Compiler.Keras;
using Snn.Training;
using static LanguageExt.Prelude;

if (args.Length < 2)
{
    Console.Error.WriteLine("usage: step|epoch MODEL [--threads N] [--batch N] [--reps N] [--lr X] [--optimizer adam|sgd] [--count N] [--seed N]");
    return 2;
}

var mode = args[0];
var modelPath = args[1];
string Opt(string name, string fallback)
{
    var i = System.Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}

var fashion = Path.GetFullPath(Path.Combine(Root(), "..", "shared", "data", "fashion-mnist"));
var threads = int.Parse(Opt("--threads", "2"));
var batch = int.Parse(Opt("--batch", "64"));
var model = ModelFile.Import(modelPath).Match(m => m, e => throw new InvalidOperationException(e.Message));
var net = Compile.Front(CompileOptions.Default, model).Match(f => f.Network, e => throw new InvalidOperationException(e.Message));
var images = ReadIdx(Opt("--images", Path.Combine(fashion, "train-images-idx3-ubyte.gz")));
var labels = ReadIdx(Opt("--labels", Path.Combine(fashion, "train-labels-idx1-ubyte.gz")));
var count = Math.Min(int.Parse(Opt("--count", labels.Length.ToString())), labels.Length);
var inputShape = net.Nodes.OfType<InputNode>().Single().Shape.ToArray();
var pixels = inputShape.Aggregate(1, (a, b) => a * b);
if (images.Length != labels.Length * pixels) throw new InvalidOperationException($"{images.Length} pixels for {labels.Length} labels; the model takes {pixels} per image");
var options = new GradientOptions(Threads: threads);
var scale = 1f / 255f;

(Tensor X, Tensor Y) Batch(int[] order, int start, int n)
{
    var x = new float[n * pixels];
    var y = new float[n];
    for (var b = 0; b < n; b++)
    {
        var s = order[start + b];
        for (var i = 0; i < pixels; i++) x[b * pixels + i] = images[s * pixels + i] * scale;
        y[b] = labels[s];
    }
    return (Tensor.Own(new[] { n }.Concat(inputShape).ToArray(), x), Tensor.Own(new[] { n }, y));
}

static double Cpu() => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds;

switch (mode)
{
    case "step":
    {
        var reps = int.Parse(Opt("--reps", "30"));
        var (x, y) = Batch(Enumerable.Range(0, batch).ToArray(), 0, batch);
        NetworkGradient.Run(options, net, Seq1(x), y).Match(_ => unit, e => throw new InvalidOperationException(e.Message));
        var walls = new List<double>();
        var cpus = new List<double>();
        for (var r = 0; r < reps; r++)
        {
            var (w0, c0) = (Stopwatch.GetTimestamp(), Cpu());
            NetworkGradient.Run(options, net, Seq1(x), y).Match(_ => unit, e => throw new InvalidOperationException(e.Message));
            walls.Add(Stopwatch.GetElapsedTime(w0).TotalMilliseconds);
            cpus.Add((Cpu() - c0) * 1000);
        }
        Console.WriteLine($"  gen0 {GC.CollectionCount(0)} gen1 {GC.CollectionCount(1)} gen2 {GC.CollectionCount(2)}, allocated {GC.GetTotalAllocatedBytes() / 1e6 / (reps + 1):F1} MB per step");
        walls.Sort();
        cpus.Sort();
        Console.WriteLine($"{Path.GetFileName(modelPath)} gradient step, batch {batch}, {threads} thread(s), {reps} reps: " +
                          $"wall median {walls[reps / 2]:F1} ms (best {walls[0]:F1}), CPU median {cpus[reps / 2]:F1} ms (best {cpus[0]:F1}); " +
                          $"{batch / (walls[reps / 2] / 1000):F0} images/s, {batch / (cpus[reps / 2] / 1000):F0} images per CPU s; load {Load()}");
        break;
    }
    case "epoch":
    {
        // Snn.Training.Fit (the library behind `snn fit`) for one epoch: Keras' Adam or plain SGD, numpy-ordered shuffling.
        var lr = double.Parse(Opt("--lr", "0.001"), System.Globalization.CultureInfo.InvariantCulture);
        var optimizer = Opt("--optimizer", "adam");
        var (x, y) = Batch(Enumerable.Range(0, count).ToArray(), 0, count);
        var fit = new FitOptions(optimizer == "sgd" ? new Sgd(lr) : new Adam(lr), 1, batch, uint.Parse(Opt("--seed", "0"))) { Gradient = options };
        var (wall0, cpu0, load0) = (Stopwatch.GetTimestamp(), Cpu(), Load());
        var result = Fit.Run(fit, net, new TrainingData(Seq1(x), y), None).Match(r => r, e => throw new InvalidOperationException(e.Message));
        var (wall, cpu) = (Stopwatch.GetElapsedTime(wall0).TotalSeconds, Cpu() - cpu0);
        var load1 = Load();
        var loss = result.History.Last().Loss;
        Console.Error.WriteLine($"snn epoch (Fit.Run): {count} images in {wall:F1} s = {count / wall:F0} images/s ({cpu:F1} CPU s = {count / cpu:F0} images per CPU s), " +
                                $"mean loss {loss:F4}, {threads} threads, batch {batch}, {optimizer} lr {lr}; load {load0} -> {load1}");
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            side = "snn (Fit.Run in tests/bench/train)", images = count, seconds = wall, images_per_second = count / wall, cpu_seconds = cpu,
            images_per_cpu_second = count / cpu, mean_loss = loss, threads, batch, optimizer, lr, load_before = load0, load_after = load1,
        }));
        break;
    }
    case "hash":
    {
        // The bytes of one gradient step (loss, outputs, every gradient by name) as SHA-256, per thread count.
        var (x, y) = Batch(Enumerable.Range(0, batch).ToArray(), 0, batch);
        foreach (var t in new[] { 1, 2, 3 })
        {
            var r = NetworkGradient.Run(options with { Threads = t }, net, Seq1(x), y).Match(g => g, e => throw new InvalidOperationException(e.Message));
            using var sha = System.Security.Cryptography.SHA256.Create();
            var bytes = new List<byte>(BitConverter.GetBytes(r.Loss));
            foreach (var o in r.Outputs) bytes.AddRange(System.Runtime.InteropServices.MemoryMarshal.AsBytes(o.Span).ToArray());
            foreach (var (name, g) in r.Gradients.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                bytes.AddRange(System.Text.Encoding.UTF8.GetBytes(name).Concat(System.Runtime.InteropServices.MemoryMarshal.AsBytes(g.Span).ToArray()));
            Console.WriteLine($"threads {t}: loss {r.Loss:R}, sha256 {Convert.ToHexString(sha.ComputeHash(bytes.ToArray()))[..16]}");
        }
        break;
    }
    case "kernels":
    {
        // Each transform's forward and backward kernels alone on the batch: process CPU time per call (the kernel's
        // own threads included), best of 5 runs of at least 0.2 CPU s each (the clock ticks in 10 ms).
        double Time(Action a)
        {
            a();
            var best = double.MaxValue;
            for (var r = 0; r < 5; r++)
            {
                var (c0, n) = (Cpu(), 0);
                do { a(); n++; } while (Cpu() - c0 < 0.2);
                best = Math.Min(best, (Cpu() - c0) * 1000 / n);
            }
            return best;
        }
        var rnd = new Random(1);
        float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)rnd.NextDouble() - 0.3f).ToArray();
        foreach (var c in net.Connections)
        {
            var (inSize, outSize) = (net.Node(c.Pre).Size, c.Transform.OutSize);
            var (x, dy, y, dx) = (R(batch * inSize), R(batch * outSize), new float[batch * outSize], new float[batch * inSize]);
            var line = c.Transform.Match(
                identity: _ => "identity",
                scale: _ => "scale",
                dense: d =>
                {
                    var dw = new float[d.Kernel.Length];
                    var f = Time(() => Snn.Runtime.Kernels.Dense.Accumulate(x, batch, inSize, d.Kernel.Span, outSize, y));
                    var bx = Time(() => Snn.Runtime.Kernels.Backward.DenseInputGradient(dy, batch, inSize, d.Kernel.Span, outSize, dx, threads));
                    var bw = Time(() => Snn.Runtime.Kernels.Backward.DenseWeightGradient(x, dy, batch, inSize, outSize, dw, Span<float>.Empty, threads));
                    return $"dense forward {f:F2} ms, dX {bx:F2}, dW {bw:F2}";
                },
                conv: k =>
                {
                    var g = Snn.Runtime.Kernels.ConvGeometry.Of(k.Spec);
                    var ws = new float[g.WorkspaceSize(batch)];
                    var dw = new float[k.Kernel.Length];
                    var f = Time(() => Snn.Runtime.Kernels.Conv.Accumulate(g, k.Kernel.Span, x, batch, ws, y));
                    var bx = Time(() => Snn.Runtime.Kernels.Backward.ConvInputGradient(g, k.Kernel.Span, dy, batch, dx, threads));
                    var bw = Time(() => Snn.Runtime.Kernels.Backward.ConvKernelGradient(g, x, dy, batch, dw, Span<float>.Empty, threads));
                    return $"conv forward {f:F2} ms, dX {bx:F2}, dW {bw:F2}";
                },
                pool: p =>
                {
                    var g = Snn.Runtime.Kernels.PoolGeometry.Of(p.Spec);
                    var f = Time(() => Snn.Runtime.Kernels.Pool.Max(g, x, batch, y));
                    var bx = Time(() => Snn.Runtime.Kernels.Backward.MaxPoolGradient(g, x, dy, batch, dx, threads));
                    return $"max pool forward {f:F2} ms, dX {bx:F2}";
                },
                gather: _ => "gather");
            Console.WriteLine($"{c.Id}: {line}");
        }
        break;
    }
    default:
        Console.Error.WriteLine($"unknown mode '{mode}'");
        return 2;
}
return 0;

static string Load() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";

/// <summary>The repository root: the first folder holding Pipeline.sln above the current directory or the program.</summary>
static string Root()
{
    foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
    {
        var d = new DirectoryInfo(start);
        while (d is not null && !File.Exists(Path.Combine(d.FullName, "Pipeline.sln"))) d = d.Parent;
        if (d is not null) return d.FullName;
    }
    throw new InvalidOperationException("cannot find the repository root (run from inside the repository)");
}

static byte[] ReadIdx(string path)
{
    using var file = File.OpenRead(path);
    using Stream s = path.EndsWith(".gz", StringComparison.Ordinal) ? new GZipStream(file, CompressionMode.Decompress) : file;
    using var mem = new MemoryStream();
    s.CopyTo(mem);
    var data = mem.ToArray();
    if (data[0] != 0 || data[1] != 0 || data[2] != 8) throw new InvalidDataException($"{path}: not an IDX file of unsigned bytes");
    return data[(4 + 4 * data[3])..];
}
