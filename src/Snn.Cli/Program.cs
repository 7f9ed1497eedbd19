using LanguageExt.Common;
using Snn.Compiler;

namespace Snn.Cli;

public static class Program
{
    public const string Usage = """
        snn: convert Keras models to spiking neural networks and simulate them.

        usage:
          snn demo                          convert the bundled Fashion-MNIST CNN and compare ANN and SNN accuracy
          snn convert MODEL --out NET.snnz [converter options] [--calibrate C.npy [--input-scale S] ...] [--steps T]
                                            convert (with spiking neurons; calibrated with --calibrate) and save the
                                            network, its options and the model file(s); --steps is T for --bias-shift
          snn predict MODEL --input X.npy [--input X2.npy ...] --output DIR [--mode keras|rate|spiking]
                      [--steps N] [--readout last|mean] [--input-scale S] [converter options]
          snn evaluate MODEL --data X.npy [--labels Y.npy] [--mode keras|rate|spiking|all] [--input-scale S]
                      [--steps N] [--readout last|mean] [--agreement] [--per-layer-error] [--json] [converter options]
                                            without --labels (or with --agreement): top-1 agreement with the ANN and
                                            the outputs' relative error; --per-layer-error: each spiking layer's error
                                            against the ANN, and the part of it that enters at that layer
          snn verify MODEL [--input X.npy] [--input-scale S] [--atol A] [--rtol R] [converter options]
          snn inspect MODEL [--json] [converter options]
          snn report MODEL --data X.npy --labels Y.npy --out report.html [evaluate options]
          snn bench MODEL [--data X.npy] [--input-scale S] [--calibrate C.npy] [--batch B] [--steps T] [--threads N]
                      [--mode rate|spiking] [--connection-path adaptive|dense|event] [--json]
          snn export MODEL --format npz --out net.npz [--mode spiking|rate] [--compress] [--steps T] [--input-scale S]
                      [converter options]
          snn export MODEL --format nengo --out DIR [--mode spiking|rate] [--steps T] [--readout R] [--input-scale S]
                      [converter options]   writes DIR/model.py (runs with pip install nengo) and DIR/weights.npz
          snn export MODEL --format nir --out net.nir [--steps T] [--input-scale S] [--calibrate C.npy] [converter options]
          snn --version

        MODEL is a Keras 3 .keras file, a legacy .h5 file, or a TF.js layers model (model.json, or its folder); every
        command also takes a saved network NET.snnz (from snn convert) instead. Its converter and calibration options
        are fixed in the file (giving them again is an error); simulation options apply; predict defaults to
        --mode spiking; --mode rate runs its rate form; keras mode, verify and export use the Keras model it embeds.
        Data files may be .npy, .npz (file.npz or file.npz:NAME) or IDX (raw or .gz).
        converter options:
          --no-fallback            fail on layers without a native conversion
          --swap FROM=TO           swap an activation or neuron type (repeatable), e.g. relu=LIF
          --scale-firing-rates S   scale every layer's firing rates, or LAYER=S for one layer (repeatable)
          --synapse TAU|none       lowpass time constant (s) on connections and probes leaving neurons
          --dt DT                  simulation time step in seconds (default 0.001)
          --seed N                 seed for the initial voltages (default 0)
          --initial-voltage uniform|half|zero   starting voltage of spiking neurons (default uniform)
          --max-pool count|gate|pre|avg   spiking max pooling: running max of spike counts (default), the input
                                   with the highest rate, max of currents before the neuron, or average pooling
          --max-to-avg-pool        alias of --max-pool avg (NengoDL's option)
          --split-shared-weights   allow layers applied more than once
          --temporal-model         inputs are (N, T, ...): one time step per simulation step, outputs (N, T, ...)
          --neuron nengo|if|signed spiking ReLU: Nengo's SpikingRectifiedLinear; integrate-and-fire with signed
                                   integration; or that IF with negative spikes, which take back spikes while the
                                   voltage is below zero (default: signed with --calibrate, if with --calibrate
                                   --reset zero, nengo otherwise)
          --reset subtract|zero    what a spike does to the voltage (default subtract)
        calibration and simulation:
          --calibrate X.npy        set each channel's firing-rate scale from its activations on these samples
          --calib-samples N        samples used (default 1000); --percentile P (default 99.9) of non-zero activations
          --resolution K           an activation at the percentile fires K spikes per step (default 2): T steps
                                   round like K*T steps at one spike per step, with fewer events; LAYER=K for one
                                   layer (repeatable)
          --target-agreement A[@T] choose each layer's resolution (from --resolution up) so that the top-1 agreement
                                   with the ANN on the calibration data is at least A at T steps (default --steps);
                                   repeatable; simulates the calibration data once per trial
          --bias-shift             add theta/(2T) to every calibrated bias (Deng and Gu 2021), T = --steps
          --per-layer              one scale per layer instead of one per output channel of each Dense/Conv layer
                                   (channel-wise normalization, the default; --per-channel says so explicitly)
          --bias-correction T      then correct each spiking layer's bias by its mean error against the ANN over T
                                   steps on the calibration data, layer by layer (Li et al. 2021)
          --readout last|mean|mean:K|count   --encoding constant|poisson   --checkpoints 1,2,4,...
        --progress / --no-progress   show or hide progress on stderr (default: shown on a terminal)
        exit codes: 0 ok, 1 check failed, 2 usage error, 3 model unreadable or unconvertible, 4 data file error
        """;

    public static int Main(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>Runs one command; every failure becomes a one-paragraph message and an exit code.</summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                stdout.WriteLine(Usage);
                return args.Length == 0 ? 2 : 0;
            }
            if (args[0] == "--version")
            {
                stdout.WriteLine("snn " + typeof(Program).Assembly.GetName().Version?.ToString(3));
                return 0;
            }
            // Global flags (--progress, --no-progress) stay in place: every command's parser accepts them (Progress.Of).
            var rest = args.Skip(1).ToArray();
            var result = args[0] switch
            {
                "demo" => Commands.Demo(rest, stdout, stderr),
                "convert" => Commands.Convert(rest, stdout, stderr),
                "predict" => Commands.Predict(rest, stdout, stderr),
                "evaluate" => Commands.Evaluate(rest, stdout, stderr),
                "verify" => Commands.Verify(rest, stdout, stderr),
                "inspect" => Commands.Inspect(rest, stdout, stderr),
                "report" => Snn.Cli.Report.Run(rest, stdout, stderr),
                "bench" => Bench.Run(rest, stdout, stderr),
                "export" => Snn.Cli.Export.Run(rest, stdout, stderr),
                _ => Errors.Usage($"unknown command '{args[0]}' (commands: demo, convert, predict, evaluate, verify, inspect, report, bench, export)"),
            };
            return result.Match(code => code, e => Report(e, stderr));
        }
        catch (Exception e) when (e is OutOfMemoryException or InsufficientExecutionStackException)
        {
            stderr.WriteLine($"error: the model or data is too large to process ({e.Message})");
            return 3;
        }
        catch (Exception e)
        {
            stderr.WriteLine($"error: internal failure ({e.GetType().Name}: {e.Message}). Please report this with the command that caused it.");
            return 3;
        }
    }

    static int Report(Error e, TextWriter stderr)
    {
        stderr.WriteLine("error: " + e.Message);
        if (e.Code == Errors.UsageCode) stderr.WriteLine("Run 'snn --help' for usage.");
        return Errors.ExitCode(e);
    }
}
