using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Compiler.Export;

/// <summary>The fixed Python of every generated script: its header, helper classes and command-line runner.</summary>
public static partial class NengoScript
{
    // ------------------------------------------------------------------ fixed parts of the script

    const string Header = """
        import argparse
        import os
        import sys

        import numpy as np

        import nengo


        """;

    /// <summary>The Python helpers of max pooling and filters (neuron types define their own classes: <see cref="NeuronKind.NengoClasses"/>).</summary>
    static readonly Dictionary<string, string> HelperSource = new()
    {
        ["CountMaxPool"] = """"
            class CountMaxPool:
                """Max pooling of spike trains by spike counts (snn --max-pool count). NOT hardware-native: a Python Node.

                A Node function runs after the node's input is summed and before anything reads its output, so each step:
                counts += x; m = the max of counts over each window; output = m - (the previous step's m, first 0).
                The cumulative output of a window is then the max of its inputs' cumulative values.
                windows: (outputs, window size) input indices of each window's cells, -1 for padding.
                """

                def __init__(self, windows):
                    self.windows = np.asarray(windows, dtype=np.int64)
                    self.reset()

                def reset(self):
                    self.counts = None
                    self.max = None

                def __call__(self, t, x):
                    if self.counts is None:
                        self.counts = np.zeros(x.shape, dtype=x.dtype)
                        self.max = np.zeros(len(self.windows), dtype=x.dtype)
                    self.counts += x
                    padded = np.concatenate([self.counts, np.full(1, -np.inf, dtype=x.dtype)])
                    m = padded[self.windows].max(axis=1)
                    y = m - self.max
                    self.max = m
                    return y
            """",
        ["GateMaxPool"] = """"
            class GateMaxPool:
                """Gated max pooling of spike trains (snn --max-pool gate, SNN Toolbox). NOT hardware-native: a Python Node.

                Each step: counts += x; output = this step's input of the window cell with the largest count so far
                (the first one on ties). windows: (outputs, window size) input indices, -1 for padding.
                """

                def __init__(self, windows):
                    self.windows = np.asarray(windows, dtype=np.int64)
                    self.reset()

                def reset(self):
                    self.counts = None

                def __call__(self, t, x):
                    if self.counts is None:
                        self.counts = np.zeros(x.shape, dtype=x.dtype)
                    self.counts += x
                    padded = np.concatenate([self.counts, np.full(1, -np.inf, dtype=x.dtype)])
                    best = np.argmax(padded[self.windows], axis=1)
                    chosen = self.windows[np.arange(len(self.windows)), best]
                    return np.concatenate([x, np.zeros(1, dtype=x.dtype)])[chosen]
            """",
        ["SameStepFilter"] = """"
            class SameStepFilter:
                """keras_spiking Lowpass / Alpha as Keras runs them: ZOH-discretized, applied in the same step (a Nengo
                synapse on a connection would add one step of delay). NOT hardware-native: a Python Node.

                coefficients: per element, Lowpass [a, b] (y = a*y + b*x), Alpha [A00, A01, A10, A11, B0, B1]
                ([d, y] = A [d, y] + B x), stored block by block; initial_level: the starting output.
                """

                def __init__(self, coefficients, initial_level, alpha):
                    self.level = np.asarray(initial_level, dtype=np.float32)
                    self.c = np.asarray(coefficients, dtype=np.float32).reshape(6 if alpha else 2, self.level.size)
                    self.alpha = alpha
                    self.reset()

                def reset(self):
                    self.y = self.level.copy()
                    self.d = np.zeros_like(self.level)

                def __call__(self, t, x):
                    x = np.asarray(x, dtype=np.float32)
                    c = self.c
                    if self.alpha:
                        d, y = self.d, self.y
                        self.d = c[0] * d + c[1] * y + c[4] * x
                        self.y = c[2] * d + c[3] * y + c[5] * x
                    else:
                        self.y = c[0] * self.y + c[1] * x
                    return self.y
            """",
        ["WindowMax"] = """"
            class WindowMax:
                """Max pooling of values (no Nengo primitive computes a max). NOT hardware-native: a Python Node.

                Each step: output = the max of the input over each window's real cells (padding is ignored).
                windows: (outputs, window size) input indices, -1 for padding.
                """

                def __init__(self, windows):
                    self.windows = np.asarray(windows, dtype=np.int64)

                def reset(self):
                    pass

                def __call__(self, t, x):
                    return np.concatenate([x, np.full(1, -np.inf, dtype=x.dtype)])[self.windows].max(axis=1)
            """",
    };

    const string Runner = """"
        class InputFeed:
            """The output of an input node: the current row, the same every step (constant-current input), or for a
            temporal model the row's time slice of the current step (the last slice after the end)."""

            def __init__(self, size):
                self.value = np.zeros(size, dtype=np.float32)
                self.series = None

            def set(self, row):
                if TEMPORAL:
                    self.series = row
                    self.value = row[0]
                else:
                    self.value = row

            def __call__(self, t):
                if self.series is None:
                    return self.value
                k = int(round(t / DT)) - 1
                return self.series[min(max(k, 0), len(self.series) - 1)]


        def load(path, scale):
            """An input array (.npy, or .npz as FILE.npz or FILE.npz:NAME) as float32, times the input scale."""
            name = None
            if ".npz:" in path:
                path, name = path.rsplit(":", 1)
            x = np.load(path)
            if hasattr(x, "files"):  # an .npz archive
                with x:
                    x = x[name if name is not None else x.files[0]]
            x = np.asarray(x).astype(np.float32)
            if scale is not None:
                x = x * np.float32(scale)
            return x


        def rows(x, shape, path):
            """(N, size) per-row inputs, or (N, T, size) for a temporal model; any layout with the right size fits."""
            size = int(np.prod(shape))
            lead = 2 if TEMPORAL else 1
            if x.ndim < lead or int(np.prod(x.shape[lead:])) != size:
                sys.exit(f"error: {path}: array of shape {x.shape} does not fit the model input "
                         f"({'N, T' if TEMPORAL else 'N'}, {', '.join(map(str, shape))})")
            return x.reshape(x.shape[:lead] + (size,))


        def readout(data, how):
            """One row's output from its probe data (steps, size), with snn's float32 arithmetic."""
            if how == "last":
                return data[-1].astype(np.float32)
            steps = len(data)
            window = steps
            if how.startswith("mean:"):
                window = min(int(how[5:]), steps)
            total = np.zeros(data.shape[1], dtype=np.float32)
            for values in data[steps - window:]:
                total += values
            if how == "count":
                return total * np.float32(DT)
            return total * (np.float32(1) / np.float32(window))


        def softmax(x):
            e = np.exp(x - x.max(axis=-1, keepdims=True))
            return (e * (1.0 / e.sum(axis=-1, keepdims=True, dtype=np.float64)).astype(np.float32)).astype(np.float32)


        def scale_arg(text):
            if "/" in text:
                a, b = text.split("/", 1)
                return float(np.float32(float(a) / float(b)))
            return float(np.float32(float(text)))


        def main(argv=None):
            here = os.path.dirname(os.path.abspath(__file__))
            p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
            p.add_argument("--input", action="append", required=True, metavar="X.npy",
                           help="model input rows (N, ...) or (N, T, ...) for a temporal model; once per model input")
            p.add_argument("--output", action="append", required=True, metavar="OUT.npy",
                           help="where to write each model output (float32); once per model output")
            p.add_argument("--steps", type=int, default=STEPS, help="simulation steps per row (default %(default)s)")
            p.add_argument("--readout", default=READOUT,
                           help="last, mean, mean:K (the last K steps) or count (sum times dt) (default %(default)s)")
            p.add_argument("--input-scale", type=scale_arg, default=INPUT_SCALE,
                           help="multiply inputs by this, e.g. 1/255 (default %(default)s)")
            p.add_argument("--weights", default=os.path.join(here, "weights.npz"), help="the weights archive")
            p.add_argument("--limit", type=int, default=None, help="only the first N rows")
            p.add_argument("--precision", type=int, choices=(32, 64), default=32,
                           help="Nengo's float precision in bits (default 32, as snn computes)")
            p.add_argument("--probe-timing", choices=("snn", "nengo"), default="snn",
                           help="read filtered probes as the snn run exported does (default; as Nengo does unless snn was "
                                "lowered with ProbeTiming.AfterUpdate) or as Nengo's probes record them")
            args = p.parse_args(argv)
            how = args.readout
            if how not in ("last", "mean", "count") and not (how.startswith("mean:") and how[5:].isdigit() and int(how[5:]) > 0):
                p.error(f"--readout must be last, mean, mean:K or count, got {how!r}")
            if args.steps < 1:
                p.error("--steps must be at least 1")
            if len(args.input) != len(INPUT_SHAPES):
                p.error(f"the model has {len(INPUT_SHAPES)} input(s); give --input once per input")
            if len(args.output) != len(OUTPUT_SHAPES):
                p.error(f"the model has {len(OUTPUT_SHAPES)} output(s); give --output once per output")

            nengo.rc.set("precision", "bits", str(args.precision))
            xs = [rows(load(path, args.input_scale), shape, path) for path, shape in zip(args.input, INPUT_SHAPES)]
            n = xs[0].shape[0]
            if any(x.shape[0] != n for x in xs) or n == 0:
                sys.exit("error: the input arrays must have the same, non-zero number of rows")
            if args.limit is not None:
                n = min(n, args.limit)
            steps = xs[0].shape[1] if TEMPORAL else args.steps
            lag = PROBE_LAG if args.probe_timing == "snn" else [0] * len(PROBE_LAG)

            with np.load(args.weights) as archive:
                w = {name: archive[name] for name in archive.files}
            feeds = [InputFeed(int(np.prod(shape))) for shape in INPUT_SHAPES]
            net, probes, stateful = build(w, feeds)
            outputs = [np.zeros((n,) + ((steps,) if TEMPORAL else ()) + tuple(shape), dtype=np.float32)
                       for shape in OUTPUT_SHAPES]
            with nengo.Simulator(net, dt=DT, progress_bar=False) as sim:
                for r in range(n):
                    for feed, x in zip(feeds, xs):
                        feed.set(x[r])
                    for node in stateful:
                        node.reset()
                    sim.reset()
                    sim.run_steps(steps + max(lag, default=0))
                    for k, probe in enumerate(probes):
                        data = np.asarray(sim.data[probe])[lag[k]:lag[k] + steps]
                        value = data if TEMPORAL else readout(data, how)
                        outputs[k][r] = value.reshape(outputs[k][r].shape)
            for out, path, soft in zip(outputs, args.output, SOFTMAX):
                np.save(path, softmax(out) if soft else out)


        if __name__ == "__main__":
            main()
        """";
}
