// Convolution backward kernels against the forward, batch 64, one thread: the process's CPU time per call (best of nine
// runs of 20 calls), so a busy machine skews the ratios less than wall time would.
using System.Diagnostics;
using Snn.Runtime.Kernels;

static double Time(Action a, int reps)
{
    a();
    a();
    var best = double.MaxValue;
    for (int r = 0; r < 9; r++)
    {
        var t0 = Process.GetCurrentProcess().TotalProcessorTime;
        for (int i = 0; i < reps; i++) a();
        best = Math.Min(best, (Process.GetCurrentProcess().TotalProcessorTime - t0).TotalMilliseconds / reps);
    }

    return best;
}

static void Run(string name, int[] inS, int cin, int k, int cout, bool last)
{
    const int B = 64;
    var o = inS.Select(v => v - k + 1).ToArray();
    var g = ConvGeometry.Create(inS, cin, [k, k], [1, 1], [1, 1], [0, 0], o, cout, 1, last);
    var rnd = new Random(1);
    float[] R(int n) => Enumerable.Range(0, n).Select(_ => (float)rnd.NextDouble() - 0.5f).ToArray();
    var w = R(g.KernelSize);
    var x = R(B * g.InputSize);
    var dy = R(B * g.OutputSize);
    var y = new float[B * g.OutputSize];
    var ws = new float[g.WorkspaceSize(B)];
    var dx = new float[x.Length];
    var dw = new float[w.Length];
    var db = new float[cout];
    double f = Time(() => Conv.Accumulate(g, w, x, B, ws, y), 20);
    double tx = Time(() => Backward.ConvInputGradient(g, w, dy, B, dx), 20);
    double tw = Time(() => Backward.ConvKernelGradient(g, x, dy, B, dw, db), 20);
    Console.WriteLine($"{name} {(last ? "NHWC" : "NCHW")}: forward {f:F3} ms, dX {tx:F3} ms ({tx / f:F2}x), dW+db {tw:F3} ms ({tw / f:F2}x)");
}

foreach (bool last in new[] { true, false })
{
    Run("LeNet conv1 28x28x1->6 k5", [28, 28], 1, 5, 6, last);
    Run("LeNet conv2 12x12x6->16 k5", [12, 12], 6, 5, 16, last);
    Run("conv 14x14x64->64 k3", [14, 14], 64, 3, 64, last);
}
