using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Export;

namespace Snn.Cli;

/// <summary>An option of the snn commands: its name, the placeholder of its value (none for a flag) and its help text.</summary>
public sealed record OptionSpec(string Name, string? Value, string Help)
{
    public bool IsFlag => Value is null;
}

/// <summary>
/// A command of the tool: its name, a one-line summary, whether it takes MODEL, its options (by name, from
/// <see cref="CommandLine.Catalog"/>, with command-specific help where the meaning differs), examples for its help, and
/// what it runs.
/// </summary>
public sealed record CommandSpec(
    string Name, string Summary, bool TakesModel, IReadOnlyList<string> Options, IReadOnlyList<string> Examples,
    Func<Args, TextWriter, TextWriter, Either<Error, int>> Run)
{
    public IReadOnlyDictionary<string, string> Help { get; init; } = new Dictionary<string, string>();
}

/// <summary>
/// The snn command tree on System.CommandLine: every command with <c>-h/--help</c> (options, defaults, examples),
/// response files (<c>@args.rsp</c>), the <c>[suggest]</c> directive, and parse errors as usage errors (exit 2) that name
/// the nearest command or option. Option values are read as written (repeatable options keep every occurrence, the last
/// one counts for single values) and checked by the commands themselves (<see cref="Args"/>).
/// </summary>
public static class CommandLine
{
    public const string ModelKinds =
        "a Keras 3 .keras file, a legacy .h5 file, a TF.js layers model (model.json, or its folder), or a saved network NET.snnz (from snn convert)";

    static OptionSpec V(string name, string value, string help) => new(name, value, help);
    static OptionSpec F(string name, string help) => new(name, null, help);

    /// <summary>Every option of every command, with its generic help (the defaults are in the text).</summary>
    public static readonly IReadOnlyDictionary<string, OptionSpec> Catalog = new[]
    {
        // converter
        F("--no-fallback", "fail on layers without a native conversion"),
        V("--swap", "FROM=TO", "swap an activation or neuron type (repeatable), e.g. relu=LIF"),
        V("--scale-firing-rates", "S|LAYER=S", "scale every layer's firing rates, or one layer's with LAYER=S (repeatable)"),
        V("--synapse", "TAU|none", "lowpass time constant (s) on connections and probes leaving neurons (default none)"),
        V("--dt", "DT", "simulation time step in seconds (default 0.001)"),
        V("--seed", "N", "seed for the initial voltages (default 0)"),
        V("--initial-voltage", "uniform|half|zero", "starting voltage of spiking neurons (default uniform; zero with --calibrate)"),
        V("--max-pool", "count|gate|pre|avg", "spiking max pooling: running max of spike counts (default), the input with the highest rate, max of currents before the neuron, or average pooling"),
        F("--max-to-avg-pool", "alias of --max-pool avg (NengoDL's option)"),
        F("--split-shared-weights", "allow layers applied more than once"),
        F("--temporal-model", "inputs are (N, T, ...): one time step per simulation step, outputs (N, T, ...)"),
        V("--neuron", "nengo|if|signed", "spiking ReLU: Nengo's SpikingRectifiedLinear, integrate-and-fire, or IF with negative spikes (default: signed with --calibrate, if with --calibrate --reset zero, nengo otherwise)"),
        V("--reset", "subtract|zero", "what a spike does to the voltage (default subtract)"),
        // calibration
        V("--calibrate", "C.npy", "set each channel's firing-rate scale from its activations on these samples"),
        V("--calib-samples", "N", "calibration samples used (default 1000)"),
        V("--percentile", "P", "percentile of the non-zero activations that calibration scales to (default 99.9)"),
        V("--resolution", "K|LAYER=K", "an activation at the percentile fires K spikes per step (default 2); LAYER=K for one layer (repeatable)"),
        V("--target-agreement", "A[@T]", "choose each layer's resolution so that top-1 agreement with the ANN on the calibration data is at least A at T steps (default --steps; repeatable)"),
        F("--bias-shift", "add theta/(2T) to every calibrated bias (Deng and Gu 2021), T = --steps"),
        F("--per-channel", "one firing-rate scale per output channel of each Dense/Conv layer (the default with --calibrate)"),
        F("--per-layer", "one firing-rate scale per layer instead of per channel"),
        V("--bias-correction", "T", "correct each spiking layer's bias by its mean error against the ANN over T steps on the calibration data (Li et al. 2021)"),
        // simulation
        V("--steps", "N", "simulation steps (default 32 in spiking mode, 1 in rate mode)"),
        V("--readout", "last|mean|mean:K|count", "output readout: the last step, the mean over the steps (spiking default), the mean of the last K steps, or the spike count"),
        V("--input-scale", "S", "multiply the input data by S, also as a fraction such as 1/255 (default 1)"),
        V("--mode", "MODE", "what runs"),
        V("--batch", "B", "samples simulated together (default 100)"),
        V("--threads", "N", "worker threads (default: every core)"),
        V("--encoding", "constant|poisson", "how inputs enter the network: the same current every step (default) or Poisson spikes"),
        V("--checkpoints", "1,2,4,...", "step counts to read the spiking accuracy at, from one run, up to --steps (default 1, 2, 4, ... and --steps)"),
        // data and files
        V("--input", "X.npy", "input data, once per model input (repeatable); .npy, .npz[:NAME] or IDX"),
        V("--output", "DIR", "folder the outputs are written to (output_0.npy, ...)"),
        V("--data", "X.npy", "input samples, once per model input (repeatable); .npy, .npz[:NAME] or IDX"),
        V("--labels", "Y.npy", "labels of the samples (classes or one-hot); without them: agreement with the ANN"),
        V("--out", "PATH", "the file to write"),
        F("--json", "print the results as JSON on stdout"),
        F("--agreement", "add the top-1 agreement with the ANN and the outputs' relative error"),
        F("--per-layer-error", "add each spiking layer's error against the ANN, and the part that enters at that layer"),
        V("--atol", "A", "absolute tolerance (default 1e-6)"),
        V("--rtol", "R", "relative tolerance (default 1e-5)"),
        V("--samples", "N", "samples timed (default: --batch x --threads)"),
        V("--connection-path", "adaptive|dense|event", "the kernel of spike-input connections (default adaptive)"),
        V("--format", "npz|nengo|nir", "the export format (default npz)"),
        F("--compress", "compress the arrays written (npz, nengo)"),
        // training
        V("--epochs", "N", "passes over the training data (default 1)"),
        V("--lr", "LR", "learning rate (default 0.001 with adam, 0.01 with sgd: Keras' defaults)"),
        V("--optimizer", "adam|sgd", "the update rule, Keras' Adam or SGD (default adam)"),
        V("--momentum", "M", "SGD momentum in [0, 1) (default 0)"),
        F("--nesterov", "Nesterov momentum (SGD with --momentum)"),
        V("--loss", "crossentropy|mse", "cross-entropy of the output (of softmax(output) when the model does not end in a softmax; the default), or mean squared error of the output"),
        V("--validation-data", "X.npy", "validation inputs, once per model input (repeatable): loss and accuracy after each epoch"),
        V("--validation-labels", "Y.npy", "targets of the validation inputs"),
        V("--freeze", "LAYER", "keep this layer's weights and biases as they are (repeatable; layer names, or object and connection ids)"),
        V("--method", "rate|quantized", "what is trained: the rate network, as NengoDL does (default), or the spiking network's exact spike counts after --steps steps (signed integrate-and-fire, the calibrated default)"),
        V("--keras", "OUT.keras", "also write the trained weights into a copy of the Keras model (.keras or .h5, as MODEL is); trains only what Keras can hold"),
        V("--distill", "TAU", "knowledge distillation: learn the model's own outputs (its rate form, the ANN) softened at temperature TAU instead of --labels; unlabelled data will do"),
        F("--per-neuron-biases", "train one bias per neuron, as NengoDL does, instead of one per channel in Keras units (the default; needed by --keras)"),
        V("--rate-target", "HZ", "firing-rate regularization: pull every spiking neuron's rate toward HZ (NengoDL's recipe)"),
        V("--rate-weight", "W", "the weight of the firing-rate penalty in the loss (default 0.01)"),
        V("--rate-layer", "LAYER", "regularize only this layer's rates (repeatable; default every spiking layer)"),
        F("--reinit", "train from fresh weights (Glorot-uniform kernels, zero biases, seeded by --seed) instead of the model's"),
        V("--grid", "\"AXIS=V1,V2; ...\"", "the sweep's grid: steps and any converter or calibration option without its dashes (flags take on,off), e.g. \"steps=4,8,16; percentile=99,99.9; neuron=signed,if\""),
        V("--shard-size", "N", "samples per unit of work (default 1000)"),
        V("--cluster", "CONFIG", "the cluster's configuration (JSON: cluster and service ids, localhost clustering with each worker's silo and gateway ports, units per worker, unit timeout, attempts)"),
        V("--silo", "K", "which of the configuration's workers this one is (default 0, the primary the others join)"),
        V("--max-memory", "SIZE", "the most memory the model and data may make snn allocate, in bytes or with K, M, G or T (default 4G); past it: exit 3 (model) or 4 (data)"),
    }.ToDictionary(o => o.Name);

    public static readonly string[] ConverterOptions =
        Args.ConverterValueOptions.Concat(Args.ConverterFlags).Where(o => Catalog.ContainsKey(o)).ToArray();

    static string[] With(params IEnumerable<string>[] groups) => groups.SelectMany(g => g).Distinct().ToArray();

    /// <summary>The commands, in the order help lists them.</summary>
    public static readonly IReadOnlyList<CommandSpec> Commands =
    [
        new("demo", "convert the bundled Fashion-MNIST CNN and compare ANN and SNN accuracy", false, ["--threads"],
            ["snn demo", "snn demo --no-progress"], (a, o, e) => Snn.Cli.Commands.Demo(a, o, e))
        {
            Help = new Dictionary<string, string> { ["--threads"] = "accepted for scripts; the demo uses every core" },
        },
        new("convert", "convert MODEL (spiking neurons; calibrated with --calibrate) and save the network, its options and the model file(s)", true,
            With(["--out", "--input-scale", "--steps"], ConverterOptions),
            ["snn convert lenet5.h5 --calibrate x_train.npy --input-scale 1/255 --out lenet5.snnz",
             "snn convert model.json --out net.snnz --scale-firing-rates 100"],
            (a, o, e) => Snn.Cli.Commands.Convert(a, o, e))
        {
            Help = new Dictionary<string, string>
            {
                ["--out"] = "the saved network to write (NET.snnz)",
                ["--steps"] = "T for --bias-shift, --bias-correction and --target-agreement (default 32)",
                ["--input-scale"] = "scale of the --calibrate data, e.g. 1/255 (default 1)",
            },
        },
        new("predict", "run MODEL on inputs and write its outputs as .npy files", true,
            With(Snn.Cli.Commands.SimValues, ["--input", "--output"], ConverterOptions),
            ["snn predict model.json --input x.npy --output out/", "snn predict net.snnz --input x.npy --output out/ --steps 64 --readout mean:16",
             "snn predict model.keras --input x.npy --output out/ --mode keras"],
            (a, o, e) => Snn.Cli.Commands.Predict(a, o, e))
        {
            Help = new Dictionary<string, string>
            {
                ["--mode"] = "keras (the reference evaluator; no conversion options), rate or spiking (default keras; spiking for NET.snnz)",
                ["--checkpoints"] = "refused: predict writes the outputs after --steps steps (evaluate and report read accuracies at checkpoints)",
            },
        },
        new("evaluate", "accuracy of MODEL on labelled data in each mode, or agreement with the ANN without labels", true,
            With(Snn.Cli.Commands.SimValues, ["--data", "--labels", "--json", "--agreement", "--per-layer-error"], ConverterOptions),
            ["snn evaluate lenet5.h5 --data x_test.npy --labels y_test.npy --input-scale 1/255",
             "snn evaluate lenet5.h5 --data x_test.npy --labels y_test.npy --input-scale 1/255 --calibrate x_train.npy --steps 16 --json",
             "snn evaluate net.snnz --data x.npy --mode spiking --checkpoints 4,8,16 --steps 16"],
            (a, o, e) => Snn.Cli.Commands.Evaluate(a, o, e))
        {
            Help = new Dictionary<string, string> { ["--mode"] = "keras, rate, spiking or all (default all)" },
        },
        new("fit", "train MODEL (converted as snn convert does) in rate mode on labelled data and save the trained network", true,
            With(["--data", "--labels", "--out", "--epochs", "--batch", "--lr", "--optimizer", "--momentum", "--nesterov", "--loss",
                  "--validation-data", "--validation-labels", "--freeze", "--reinit", "--method", "--steps", "--distill", "--keras", "--per-neuron-biases", "--rate-target", "--rate-weight", "--rate-layer",
                  "--input-scale", "--threads", "--json"], ConverterOptions),
            ["snn fit model.keras --data x_train.npy --labels y_train.npy --input-scale 1/255 --epochs 2 --out trained.snnz",
             "snn fit net.snnz --data x.npy --labels y.npy --validation-data x_val.npy --validation-labels y_val.npy --optimizer sgd --lr 0.01 --momentum 0.9 --freeze conv1 --out tuned.snnz --json",
             "snn fit model.keras --data x.npy --labels y.npy --reinit --seed 3 --epochs 10 --out scratch.snnz"],
            (a, o, e) => FitCommand.Run(a, o, e))
        {
            Help = new Dictionary<string, string>
            {
                ["--data"] = "training inputs, once per model input (repeatable); .npy, .npz[:NAME] or IDX",
                ["--labels"] = "training targets: (N,) class labels or (N, C) one-hot/probabilities; values of the output's shape with --loss mse",
                ["--out"] = "the trained network to write (NET.snnz)",
                ["--batch"] = "samples per training batch (default 32)",
                ["--threads"] = "worker threads of the gradient (default: every core; the result is the same for any count)",
                ["--steps"] = "with --method quantized: the step count T the spiking network is trained for (default 2)",
                ["--seed"] = "seed of the sample shuffling and of --reinit, and of a Keras model's initial voltages as in convert (default 0)",
                ["--input-scale"] = "multiply the --data, --validation-data and --calibrate data by S, e.g. 1/255 (default 1; a saved network's own)",
                ["--bias-shift"] = "add theta/(2T) to every calibrated bias (Deng and Gu 2021), T = 32 (as snn convert's default --steps)",
                ["--target-agreement"] = "choose each layer's resolution so that top-1 agreement with the ANN on the calibration data is at least A at T steps (default 32; repeatable)",
            },
        },
        new("verify", "check that the converted network (rate mode, one step) computes what the Keras model computes", true,
            With(["--input", "--atol", "--rtol", "--input-scale"], ConverterOptions),
            ["snn verify model.json", "snn verify lenet5.h5 --input x.npy --input-scale 1/255 --atol 1e-5"],
            (a, o, e) => Snn.Cli.Commands.Verify(a, o, e))
        {
            Help = new Dictionary<string, string> { ["--input"] = "inputs to compare on, once per model input (default: ones)" },
        },
        new("inspect", "how every layer converts, and the network's size", true,
            With(ConverterOptions, ["--input-scale", "--json"]),
            ["snn inspect model.json", "snn inspect net.snnz --json"],
            (a, o, e) => Snn.Cli.Commands.Inspect(a, o, e)),
        new("report", "write one self-contained HTML report: accuracy against steps, firing, operations and energy, calibration", true,
            With(Snn.Cli.Commands.SimValues.Where(o => o != "--mode"), ["--data", "--labels", "--out"], ConverterOptions),
            ["snn report lenet5.h5 --data x_test.npy --labels y_test.npy --input-scale 1/255 --out report.html"],
            (a, o, e) => Snn.Cli.Report.Run(a, o, e))
        {
            Help = new Dictionary<string, string> { ["--out"] = "the HTML file to write (report.html)" },
        },
        new("sweep", "evaluate MODEL over a grid of conversions and step counts on every core, with JSON, CSV and an HTML page of the trade-offs", true,
            SweepCommand.Options,
            ["snn sweep lenet5.h5 --data x_test.npy --labels y_test.npy --input-scale 1/255 --calibrate x_train.npy --grid \"steps=2,4,8,16; percentile=99,99.9; neuron=signed,if; max-pool=count,avg\" --out sweep/",
             "snn sweep lenet5.h5 --data x_test.npy --labels y_test.npy --grid \"steps=4,8; neuron=signed,if\" --out /shared/sweep/ --cluster cluster.json"],
            (a, o, e) => SweepCommand.Run(a, o, e))
        {
            Help = new Dictionary<string, string>
            {
                ["--out"] = "the sweep's folder: sweep.json, sweep.csv, sweep.html and units/ (a sweep run again with the same folder continues from its finished units)",
                ["--threads"] = "units run at once (default: every core; with --cluster: units sent at once, default the workers' slots)",
                ["--cluster"] = "run the units on the workers of this cluster (snn worker --cluster CONFIG) instead of this machine's cores",
                ["--json"] = "print sweep.json on stdout",
                ["--readout"] = "output readout of every point (or a grid axis)",
                ["--labels"] = "labels of the samples (classes or one-hot); required: a sweep measures accuracy",
                ["--bias-shift"] = "add theta/(2T) to every calibrated bias (Deng and Gu 2021), T = the grid's largest step count (or a grid axis: bias-shift=off,on)",
                ["--target-agreement"] = "choose each layer's resolution for top-1 agreement A with the ANN at T steps (default: the grid's largest step count; repeatable)",
            },
        },
        new("worker", "run a worker of a sweep cluster (an Orleans silo) until stopped (Ctrl+C or SIGTERM)", false,
            ["--cluster", "--silo"],
            ["snn worker --cluster cluster.json", "snn worker --cluster cluster.json --silo 1"],
            (a, o, e) => SweepCommand.Serve(a, e)),
        new("bench", "simulation throughput of the converted MODEL on this machine", true,
            With(["--data", "--input-scale", "--batch", "--steps", "--threads", "--mode", "--samples", "--readout", "--connection-path", "--json"], ConverterOptions),
            ["snn bench lenet5.h5 --steps 32", "snn bench net.snnz --mode rate --batch 200 --threads 2 --json"],
            (a, o, e) => Bench.Run(a, o, e))
        {
            Help = new Dictionary<string, string>
            {
                ["--mode"] = "rate or spiking (default spiking)",
                ["--data"] = "samples to time (default: random inputs)",
            },
        },
        new("export", "write the converted network for other tools: npz arrays, a Nengo model, or NIR", true,
            With(["--format", "--out", "--input-scale", "--steps", "--mode"], Exporters.All.SelectMany(x => x.ValueOptions.Concat(x.Flags)), ConverterOptions),
            ["snn export model.json --format npz --out net.npz", "snn export lenet5.h5 --format nengo --out nengo_model/ --input-scale 1/255",
             "snn export lenet5.h5 --format nir --out net.nir --calibrate x_train.npy --input-scale 1/255"],
            (a, o, e) => Snn.Cli.Export.Run(a, o, e))
        {
            Help = new Dictionary<string, string>
            {
                ["--mode"] = "spiking or rate (default spiking; nir: spiking only)",
                ["--out"] = "npz: FILE.npz; nengo: a folder (DIR/model.py and DIR/weights.npz); nir: FILE.nir",
                ["--readout"] = "nengo only: the output readout of the exported model",
                ["--steps"] = "steps the exported model runs for (nengo), and T for calibration options",
            },
        },
    ];

    const string Epilog = """
        MODEL is {0}.
        Converter and calibration options are fixed in a saved network (giving them again is an error).
        Data files may be .npy, .npz (file.npz or file.npz:NAME) or IDX (raw or .gz). Arguments can also come from a
        response file: snn @args.rsp (one or more arguments per line).
        Progress goes to stderr: bars on a terminal, a plain line every 10% or 10 s otherwise; --no-progress hides it.
        Exit codes: 0 ok, 1 check failed, 2 usage error, 3 model unreadable or unconvertible, 4 data file error.
        """;

    /// <summary>The snn command tree; actions run the commands with these writers (help and results on stdout).</summary>
    public static RootCommand Root(TextWriter stdout, TextWriter stderr)
    {
        var root = new RootCommand("snn: convert Keras models to spiking neural networks and simulate them.");
        var showProgress = new System.CommandLine.Option<bool>("--progress") { Description = "show progress on stderr (default: bars on a terminal, plain lines when redirected)", Recursive = true };
        var hideProgress = new System.CommandLine.Option<bool>("--no-progress") { Description = "hide progress (stdout stays machine-readable either way)", Recursive = true };
        root.Options.Add(showProgress);
        root.Options.Add(hideProgress);
        foreach (var v in root.Options.OfType<VersionOption>()) v.Action = new Version();
        var examples = new Dictionary<Command, IReadOnlyList<string>>();
        foreach (var spec in Commands)
        {
            var command = Build(spec.Name, spec.Summary, OptionsOf(spec), spec.Help, spec.TakesModel, out var options, out var model);
            examples[command] = spec.Examples;
            command.SetAction(parse =>
            {
                using var progress = new Progress(parse.GetValue(hideProgress) ? false : parse.GetValue(showProgress) ? true : null, stderr);
                var a = Args.Of(parse, options, model, progress, spec.Name);
                return Program.Finish(a.Bind(x => spec.Run(x, stdout, stderr)), stderr, spec.Name);
            });
            root.Subcommands.Add(command);
        }
        foreach (var help in root.Options.OfType<HelpOption>())
            if (help.Action is HelpAction standard) help.Action = new HelpWithExamples(standard, examples);
        return root;
    }

    /// <summary>A command's options: its own, and <c>--max-memory</c> for every command that reads a model (and its data).</summary>
    static IEnumerable<string> OptionsOf(CommandSpec spec) => spec.TakesModel ? spec.Options.Append("--max-memory").Distinct() : spec.Options;

    /// <summary>System.CommandLine's help (usage, MODEL, options with their defaults), then the command's examples, or for snn itself what MODEL and the exit codes are.</summary>
    sealed class HelpWithExamples(HelpAction standard, IReadOnlyDictionary<Command, IReadOnlyList<string>> examples) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parse)
        {
            standard.Invoke(parse);
            var output = parse.InvocationConfiguration.Output;
            var command = parse.CommandResult.Command;
            if (command is RootCommand)
            {
                output.WriteLine(string.Format(Epilog, ModelKinds));
                output.WriteLine("Run 'snn COMMAND --help' for a command's options, defaults and examples.");
            }
            else if (examples.TryGetValue(command, out var lines))
            {
                output.WriteLine("Examples:");
                foreach (var line in lines) output.WriteLine("  " + line);
                if (command.Arguments.Count > 0) output.WriteLine($"{Environment.NewLine}MODEL is {ModelKinds}.");
            }
            return 0;
        }
    }

    /// <summary>
    /// <paramref name="argv"/> (what follows the command's name) parsed as the command <paramref name="name"/> parses it,
    /// without progress: for programs and tests that run one command's function directly.
    /// </summary>
    public static Either<Error, Args> Parse(string name, IEnumerable<string> argv)
    {
        var spec = Commands.First(c => c.Name == name);
        var command = Build(spec.Name, spec.Summary, OptionsOf(spec), spec.Help, spec.TakesModel, out var options, out var model);
        var parse = command.Parse(argv.ToList());
        return parse.Errors.Count > 0 ? ParseError(parse) : Args.Of(parse, options, model, Progress.None, name);
    }

    /// <summary>A command with the named options (flags as booleans, values as strings kept per occurrence) and MODEL when it takes one.</summary>
    internal static Command Build(string name, string summary, IEnumerable<string> names, IReadOnlyDictionary<string, string> help, bool takesModel,
        out IReadOnlyList<Option> options, out Argument<string>? model)
    {
        var command = new Command(name, summary);
        var built = new List<Option>();
        foreach (var n in names)
        {
            var spec = Catalog.TryGetValue(n, out var s) ? s : new OptionSpec(n, n.Contains("samples") ? "N" : "VALUE", "");
            var text = help.TryGetValue(n, out var h) ? h : spec.Help;
            Option option = spec.IsFlag
                ? new System.CommandLine.Option<bool>(n) { Description = text }
                : new System.CommandLine.Option<string[]>(n) { Description = text, HelpName = spec.Value, Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = false };
            command.Options.Add(option);
            built.Add(option);
        }
        model = takesModel ? new Argument<string>("MODEL") { Description = "the model (see below)", Arity = ArgumentArity.ZeroOrOne } : null;
        if (model is not null) command.Arguments.Add(model);
        options = built;
        return command;
    }

    /// <summary>Parse errors as usage errors (exit 2): unknown commands and options name the nearest ones.</summary>
    internal static Error ParseError(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        // A MODEL that looks like an option is an unknown option (System.CommandLine hands unknown --names to the argument).
        foreach (var argument in command.Arguments)
            if (parse.GetResult(argument)?.Tokens.FirstOrDefault()?.Value is { } value && value.Length > 1 && value[0] == '-' && !IsNumber(value))
                return Unknown(value, command);
        var unmatched = parse.UnmatchedTokens.ToList();
        if (unmatched.Count > 0)
            return command is RootCommand
                ? UnknownCommand(unmatched[0])
                : Unknown(unmatched[0], command);
        return Errors.Usage(string.Join(" ", parse.Errors.Select(e => e.Message)));
    }

    internal static bool IsNumber(string s) => double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _);

    internal static Error UnknownCommand(string token)
    {
        var names = Commands.Select(c => c.Name).ToList();
        var near = Nearest(token, names);
        return Errors.Usage($"unknown command '{token}'{DidYouMean(near)} (commands: {string.Join(", ", names)})");
    }

    /// <summary>An argument the command does not know: an unknown option (with the nearest names), or one argument too many.</summary>
    internal static Error Unknown(string token, Command command)
    {
        if (!token.StartsWith('-') || token.Length < 2)
            return Errors.Usage($"unexpected argument '{token}' for 'snn {command.Name}'");
        var name = token.Split('=', 2)[0];
        var near = Nearest(name, command.Options.Concat(command.Parents.OfType<Command>().SelectMany(p => p.Options.Where(o => o.Recursive)))
            .SelectMany(o => o.Aliases.Prepend(o.Name)).Where(n => n.StartsWith("--", StringComparison.Ordinal)));
        return Errors.Usage($"unknown option '{name}' for 'snn {command.Name}'{DidYouMean(near)}");
    }

    static string DidYouMean(IReadOnlyList<string> near) =>
        near.Count == 0 ? "" : ". Did you mean " + string.Join(" or ", near.Select(n => $"'{n}'")) + "?";

    /// <summary>
    /// The names nearest to <paramref name="word"/>: the smallest edit distance (insertions, deletions, substitutions and
    /// swaps of neighbours) within a third of the word's length, else the names it is the start of; at most three.
    /// </summary>
    public static IReadOnlyList<string> Nearest(string word, IEnumerable<string> names)
    {
        var all = names.Distinct().ToList();
        var scored = all.Select(n => (Name: n, Distance: Distance(word, n))).ToList();
        var limit = Math.Max(1, word.TrimStart('-').Length / 3);
        var best = scored.Where(s => s.Distance <= limit).ToList();
        if (best.Count > 0)
        {
            var min = best.Min(s => s.Distance);
            return best.Where(s => s.Distance == min).Select(s => s.Name).Take(3).ToList();
        }
        return word.TrimStart('-').Length >= 3 ? all.Where(n => n.StartsWith(word, StringComparison.Ordinal)).Take(3).ToList() : [];
    }

    /// <summary>Optimal-string-alignment distance: edits, counting a swap of two neighbouring characters as one.</summary>
    static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        return d[a.Length, b.Length];
    }

    /// <summary><c>snn --version</c>: the tool's name and version.</summary>
    sealed class Version : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parse)
        {
            parse.InvocationConfiguration.Output.WriteLine("snn " + typeof(Program).Assembly.GetName().Version?.ToString(3));
            return 0;
        }
    }
}
