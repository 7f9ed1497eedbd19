using LanguageExt;
using LanguageExt.Common;
using Snn.Compiler;
using Snn.Compiler.Convert;
using static LanguageExt.Prelude;

namespace Snn.Cli;

/// <summary>
/// The options and MODEL of one command as System.CommandLine parsed them (<see cref="CommandLine"/>): <c>--name value</c>
/// options keep every occurrence in order (repeatable where the command allows; the last one counts for single values),
/// flags are set or not. The values are checked here, where they are read.
/// </summary>
public sealed class Args
{
    readonly Dictionary<string, List<string>> values = new();
    readonly System.Collections.Generic.HashSet<string> flags = new();
    public List<string> Positional { get; } = new();

    /// <summary>The command's arguments after its name, response files expanded (as an export records the command).</summary>
    public IReadOnlyList<string> Tokens { get; private init; } = System.Array.Empty<string>();

    /// <summary>Where progress goes for this run (see <see cref="Cli.Progress"/>).</summary>
    public Progress Progress { get; private init; } = Progress.None;

    /// <summary>
    /// The values of <paramref name="options"/> and MODEL in <paramref name="parse"/>. A MODEL that looks like an option
    /// (System.CommandLine hands unknown <c>--names</c> to the positional argument) is an unknown option, with the nearest names.
    /// </summary>
    internal static Either<Error, Args> Of(System.CommandLine.ParseResult parse, IEnumerable<System.CommandLine.Option> options,
        System.CommandLine.Argument<string>? model, Progress progress, string command)
    {
        var tokens = parse.Tokens.Select(t => t.Value).ToList();
        var a = new Args { Progress = progress, Tokens = tokens.Skip(tokens.IndexOf(command) + 1).ToList() };
        foreach (var o in options)
        {
            var r = parse.GetResult(o);
            if (r is null || r.Implicit) continue;
            if (o is System.CommandLine.Option<bool> flag) { if (parse.GetValue(flag)) a.flags.Add(o.Name); }
            else a.values[o.Name] = r.Tokens.Select(t => t.Value).ToList();
        }
        if (model is not null && parse.GetValue(model) is { } path) a.Positional.Add(path);
        var unknown = a.Positional.FirstOrDefault(p => p.Length > 1 && p[0] == '-' && !CommandLine.IsNumber(p));
        if (unknown is not null) return CommandLine.Unknown(unknown, parse.CommandResult.Command);
        // No option or MODEL means anything by an empty value (a path, above all: "" is no file).
        var empty = a.values.FirstOrDefault(v => v.Value.Exists(string.IsNullOrWhiteSpace)).Key
                    ?? (a.Positional.Exists(string.IsNullOrWhiteSpace) ? "MODEL" : null);
        return empty is null ? a : Errors.Usage($"{empty} is given an empty value; name {(empty == "MODEL" ? "a model file" : "what it needs")}");
    }

    /// <summary>Parses <paramref name="argv"/> (MODEL and the named options, as a command of the tool would) without running anything.</summary>
    public static Either<Error, Args> Parse(IEnumerable<string> argv, IReadOnlySet<string> valueOptions, IReadOnlySet<string> flagOptions)
    {
        var names = valueOptions.Concat(flagOptions).ToList();
        var command = CommandLine.Build("args", "", names, new Dictionary<string, string>(), true, out var options, out var model);
        foreach (var o in options)
            if (flagOptions.Contains(o.Name) != o is System.CommandLine.Option<bool>)
                return Errors.Usage($"internal: option '{o.Name}' is a {(flagOptions.Contains(o.Name) ? "flag" : "value")} here but not in the catalog");
        var parse = command.Parse(argv.ToList());
        return parse.Errors.Count > 0 ? CommandLine.ParseError(parse) : Of(parse, options, model, Progress.None, "args");
    }

    public bool Flag(string name) => flags.Contains(name);
    public IReadOnlyList<string> All(string name) => values.TryGetValue(name, out var l) ? l : new List<string>();
    public Option<string> One(string name) => values.TryGetValue(name, out var l) ? Some(l[^1]) : None;

    public Either<Error, Option<int>> Int(string name, int min = int.MinValue) =>
        One(name).Match(
            s => int.TryParse(s, out var v) && v >= min
                ? Right<Error, Option<int>>(Some(v))
                : Left<Error, Option<int>>(Errors.Usage($"{name} expects an integer{(min > int.MinValue ? $" >= {min}" : "")}, got '{s}'")),
            () => Right<Error, Option<int>>(None));

    /// <summary>
    /// A value for every layer and per-layer values (<c>--name V</c> and <c>--name LAYER=V</c>, repeatable; V &gt; 0, also
    /// as a fraction): the last plain value, and each layer's last value.
    /// </summary>
    public Either<Error, (Option<float> All, Map<string, float> Layers)> LayerValues(string name, string placeholder)
    {
        Option<float> all = None;
        var layers = Map<string, float>();
        foreach (var s in All(name))
        {
            var eq = s.LastIndexOf('=');
            var number = ParseFloat(eq >= 0 ? s[(eq + 1)..] : s);
            if (number.IsNone || number.Exists(v => v <= 0) || eq == 0)
                return Errors.Usage($"{name} expects {placeholder} or LAYER={placeholder} with {placeholder} > 0, got '{s}'");
            if (eq > 0) layers = layers.AddOrUpdate(s[..eq], number.IfNone(1f));
            else all = number;
        }
        return (all, layers);
    }

    /// <summary>--target-agreement A or A@T (repeatable): agreement A in (0, 1] at T steps (the run's steps when not given).</summary>
    public Either<Error, Seq<TargetRequest>> AgreementTargets()
    {
        var targets = new List<TargetRequest>();
        foreach (var s in All("--target-agreement"))
        {
            var at = s.IndexOf('@');
            var share = ParseFloat(at >= 0 ? s[..at] : s);
            var t = at >= 0 ? (int.TryParse(s[(at + 1)..], out var v) ? Some(v) : Some(-1)) : None;
            if (share.IsNone || share.Exists(a => a <= 0 || a > 1) || t.Exists(x => x <= 0))
                return Errors.Usage($"--target-agreement expects A or A@T with A in (0, 1] and T a positive step count (e.g. 0.98@16), got '{s}'");
            targets.Add(new TargetRequest((double)(decimal)share.IfNone(1f), t, s));   // 0.95f as 0.95, not 0.949999988
        }
        if (targets.Count > 0 && One("--calibrate").IsNone)
            return Errors.Usage("--target-agreement chooses resolutions during calibration: give --calibrate X as well");
        return targets.ToSeq();
    }

    /// <summary>--max-memory SIZE (<see cref="MemoryBudget.Parse"/>), or the default budget when not given.</summary>
    public Either<Error, long> MaxMemory() =>
        One("--max-memory").Match(
            s => MemoryBudget.Parse(s).Match(Right<Error, long>, () => Left<Error, long>(Errors.Usage(
                $"--max-memory expects a positive size in bytes or with K, M, G or T (e.g. 4G, 512M, 1000000), got '{s}'"))),
            () => Right<Error, long>(MemoryBudget.DefaultBytes));

    public Either<Error, Option<float>> Float(string name) =>
        One(name).Match(
            s => ParseFloat(s).Match(v => Right<Error, Option<float>>(Some(v)), () => Left<Error, Option<float>>(Errors.Usage($"{name} expects a finite number, got '{s}'"))),
            () => Right<Error, Option<float>>(None));

    /// <summary>Finite numbers (as floats), also as fractions such as 1/255; None for anything else (1/1e-300 included).</summary>
    public static Option<float> ParseFloat(string s)
    {
        var slash = s.IndexOf('/');
        var value = slash > 0 && double.TryParse(s[..slash], System.Globalization.CultureInfo.InvariantCulture, out var n) &&
                    double.TryParse(s[(slash + 1)..], System.Globalization.CultureInfo.InvariantCulture, out var d) && d != 0
            ? Some(n / d)
            : double.TryParse(s, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) ? Some(v) : None;
        return value.Map(x => (float)x).Filter(float.IsFinite);
    }

    public static readonly System.Collections.Immutable.ImmutableArray<string> ConverterValueOptions =
    [
        "--swap", "--scale-firing-rates", "--synapse", "--dt", "--seed", "--initial-voltage", "--max-pool", "--reset",
        "--calibrate", "--calib-samples", "--percentile", "--resolution", "--target-agreement", "--bias-correction", "--neuron",
    ];
    public static readonly System.Collections.Immutable.ImmutableArray<string> ConverterFlags =
        ["--no-fallback", "--max-to-avg-pool", "--split-shared-weights", "--temporal-model", "--bias-shift", "--per-channel", "--per-layer"];

    /// <summary>The converter options shared by every command that converts.</summary>
    public Either<Error, CompileOptions> CompileOptions()
    {
        var swap = Map<string, string>();
        foreach (var s in All("--swap"))
        {
            var parts = s.Split('=');
            if (parts.Length != 2 || parts[0] == "" || parts[1] == "") return Errors.Usage($"--swap expects FROM=TO (e.g. relu=LIF), got '{s}'");
            var to = parts[1] switch { "relu" => "RectifiedLinear", "sigmoid" => "Sigmoid", "tanh" => "Tanh", var x => x };
            if (Converter.NeuronByName(to).IsLeft) return Errors.Usage($"--swap target '{parts[1]}' is not a neuron type ({string.Join(", ", Converter.NeuronNames)})");
            swap = swap.AddOrUpdate(parts[0], to);
        }
        var scales = LayerValues("--scale-firing-rates", "S");
        if (scales.IsLeft) return scales.Map(_ => Compiler.CompileOptions.Default);
        var (scale, layerScales) = scales.Match(v => v, _ => default);
        Option<Lowpass> synapse = None;
        if (One("--synapse").TryGet(out var syn) && syn != "none")
        {
            var tau = ParseFloat(syn);
            if (tau.IsNone || tau.Exists(t => t < 0)) return Errors.Usage($"--synapse expects a time constant in seconds or 'none', got '{syn}'");
            synapse = tau.Filter(t => t > 0).Map(t => new Lowpass(t));
        }
        var init = One("--initial-voltage").IfNone("uniform") switch
        {
            "uniform" => Some(InitialVoltage.Uniform),
            "half" => Some(InitialVoltage.Half),
            "zero" => Some(InitialVoltage.Zero),
            _ => Option<InitialVoltage>.None,
        };
        if (init.IsNone) return Errors.Usage("--initial-voltage expects uniform, half or zero");
        var maxPool = Flag("--max-to-avg-pool") ? "avg" : One("--max-pool").IfNone("count");
        var method = maxPool switch
        {
            "count" => Some(MaxPoolMethod.Count),
            "gate" => Some(MaxPoolMethod.Gate),
            "pre" => Some(MaxPoolMethod.Pre),
            "avg" => Some(MaxPoolMethod.Avg),
            _ => Option<MaxPoolMethod>.None,
        };
        if (method.IsNone) return Errors.Usage($"--max-pool expects count, gate, pre or avg, got '{maxPool}'");
        // The defaults depend on calibration (Presets: the calibrated preset's neuron and start, NengoDL's without).
        var calibrated = One("--calibrate").IsSome;
        var reset = One("--reset").IfNone("subtract");
        if (reset is not ("subtract" or "zero")) return Errors.Usage($"--reset expects subtract or zero, got '{reset}'");
        var neuron = One("--neuron").Match(
            n => n switch { "signed" => Some(NeuronChoice.Signed), "if" => Some(NeuronChoice.IntegrateAndFire), "nengo" => Some(NeuronChoice.Nengo), _ => None },
            () => Some(Presets.DefaultNeuron(calibrated, reset == "zero")));
        if (neuron.IsNone) return Errors.Usage($"--neuron expects signed, if or nengo, got '{One("--neuron").IfNone("")}'");
        if (neuron == NeuronChoice.Signed && reset == "zero")
            return Errors.SignedNeedsSubtract("");
        if (One("--initial-voltage").IsNone) init = Some(Presets.DefaultInitialVoltage(calibrated));
        if (Flag("--per-channel") && Flag("--per-layer"))
            return Errors.Usage("--per-channel and --per-layer exclude each other (per channel is the default with --calibrate)");
        return from dt in Float("--dt")
               from seed in Int("--seed")
               from samples in Int("--calib-samples", min: 1)
               from percentile in Float("--percentile")
               from _p in percentile.Exists(p => p <= 0 || p > 100) ? Left<Error, Unit>(Errors.Usage("--percentile must be in (0, 100]")) : Right<Error, Unit>(unit)
               from _r in LayerValues("--resolution", "K")
               from _t in AgreementTargets()
               from _ in dt.Exists(d => d <= 0) ? Left<Error, Unit>(Errors.Usage("--dt must be positive")) : Right<Error, Unit>(unit)
               let convert = new ConvertOptions(
                   MaxPool: method.IfNone(MaxPoolMethod.Count),
                   Swap: swap,
                   ScaleFiringRates: scale,
                   LayerScales: layerScales,
                   Synapse: synapse,
                   Dt: dt.IfNone(0.001f),
                   Seed: seed.IfNone(0),
                   InitialVoltage: init.IfNone(InitialVoltage.Uniform)) { ResetToZero = reset == "zero" }
               select Compiler.CompileOptions.Default with
               {
                   Legalize = new Compiler.Legalize.LegalizeOptions(
                       SplitSharedWeights: Flag("--split-shared-weights"), AllowFallback: !Flag("--no-fallback"), Temporal: Flag("--temporal-model")),
                   Convert = Presets.WithNeuron(convert, neuron.IfNone(NeuronChoice.Nengo)),
               };
    }
}
