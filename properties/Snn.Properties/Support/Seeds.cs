using System.Globalization;
using System.Text.RegularExpressions;
using FsCheck;
using FsCheck.Xunit;
using Xunit.Abstractions;
using Xunit.Sdk;

[assembly: Snn.Properties.Support.SeededProperties]

namespace Snn.Properties.Support;

/// <summary>
/// The seed every property of a run starts from, read once from the environment variable FSCHECK_SEED:
/// <list type="bullet">
/// <item>a number N: FsCheck's <c>Rnd(N)</c> (CI sets 20261204);</item>
/// <item>"(seed,gamma)": the seed FsCheck prints after "Falsifiable, after k tests (j shrinks)", replaying the whole run;</item>
/// <item>"(seed,gamma,size)": the "Last step was invoked with size of S and seed of (seed,gamma)" of a failure, replaying
/// only the failing case;</item>
/// <item>unset: a random N, drawn once per run.</item>
/// </list>
/// Every property prints the setting and the replay it became (<see cref="PropertyTests"/>). FsCheck's generator
/// needs an odd gamma (<c>Rnd(seed, gamma)</c> throws on an even one, which from an attribute aborts the whole test
/// host), so a replay with an even gamma is refused: every property then fails with <see cref="Problem"/> instead.
/// </summary>
public static partial class Seeds
{
    public const string Variable = "FSCHECK_SEED";

    /// <summary>The FsCheck.Xunit <c>Replay</c> string, "(seed,gamma)" or "(seed,gamma,size)", gamma odd; null when <see cref="Problem"/> is set.</summary>
    public static string? Replay { get; }

    /// <summary>The generator state the replay starts from (what <see cref="Replay"/> says; <c>Rnd(0)</c> when <see cref="Problem"/> is set).</summary>
    public static Rnd Start { get; }

    /// <summary>Why FSCHECK_SEED cannot be used, or null.</summary>
    public static string? Problem { get; }

    /// <summary>One line for the test output: the setting, the replay and how to rerun.</summary>
    public static string Banner { get; }

    static Seeds()
    {
        var env = Environment.GetEnvironmentVariable(Variable);
        var drawn = string.IsNullOrWhiteSpace(env);
        var setting = drawn ? ((ulong)System.Random.Shared.NextInt64(1, long.MaxValue)).ToString(CultureInfo.InvariantCulture) : env!.Trim();
        var (replay, start, problem) = (default(string), new Rnd(0), default(string));
        try
        {
            (replay, start, problem) = Parse(setting);
        }
        catch (Exception e)
        {
            // Never let this escape: it would abort the test host (see Parse).
            problem = $"{Variable}={setting} cannot be used: {e.Message}";
        }
        (Replay, Start, Problem) = (replay, start, problem);
        Banner = problem ?? $"FsCheck seed: {Variable}={setting}{(drawn ? $" (drawn: {Variable} is unset)" : "")} -> Replay {replay}; " +
            $"rerun with {Variable}={setting}, or one failing case with {Variable}=\"(seed,gamma,size)\" from its \"Last step\" line";
    }

    /// <summary>FSCHECK_SEED's value as a replay; an even gamma, a missing gamma or anything but 1-3 numbers is a problem.</summary>
    public static (string? Replay, Rnd Start, string? Problem) Parse(string setting)
    {
        var numbers = Numbers().Matches(setting).Select(m => m.Value).ToArray();
        string Refuse(string why) =>
            $"{Variable}={setting} {why}. Use a number N (FsCheck's Rnd(N)), \"(seed,gamma)\" or \"(seed,gamma,size)\" as FsCheck prints them.";
        if (numbers.Length is 0 or > 3 || Numbers().Replace(setting, "").Trim(' ', '(', ')', ',', '\t').Length > 0)
            return (null, new Rnd(0), Refuse("is not a seed"));
        if (!numbers.Take(2).All(n => ulong.TryParse(n, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            return (null, new Rnd(0), Refuse("has a number that does not fit 64 bits"));
        var first = ulong.Parse(numbers[0], CultureInfo.InvariantCulture);
        // Checked before Rnd sees it: Rnd(seed, gamma) throws on an even gamma, and an exception here (while xunit
        // builds the assembly's attributes) aborts the test host instead of failing the tests.
        var gamma = numbers.Length == 1 ? (ulong?)null : ulong.Parse(numbers[1], CultureInfo.InvariantCulture);
        if (gamma % 2 == 0)
            return (null, new Rnd(0), Refuse($"has an even gamma ({gamma}); FsCheck's generator needs an odd one"));
        var rnd = gamma is { } g ? new Rnd(first, g) : new Rnd(first);
        var size = "";
        if (numbers.Length == 3)
        {
            if (!int.TryParse(numbers[2], NumberStyles.None, CultureInfo.InvariantCulture, out var s)) return (null, new Rnd(0), Refuse("has a size that does not fit an int"));
            size = "," + s.ToString(CultureInfo.InvariantCulture);
        }
        return (string.Create(CultureInfo.InvariantCulture, $"({rnd.Seed},{rnd.Gamma}{size})"), rnd, null);
    }

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Numbers();
}

/// <summary>
/// Assembly-wide FsCheck.Xunit settings: every <c>[Property]</c> in this assembly replays <see cref="Seeds.Replay"/>
/// (a method's or class's own <c>Replay</c> would override it; none sets one).
/// </summary>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = false)]
public sealed class SeededPropertiesAttribute : PropertiesAttribute
{
    public SeededPropertiesAttribute()
    {
        if (Seeds.Replay is { } replay) Replay = replay;
    }
}

/// <summary>
/// Base of the property classes: FsCheck.Xunit builds the class once per property, so its output starts with the
/// seed line, and a property cannot run on a refused FSCHECK_SEED.
/// </summary>
public abstract class PropertyTests
{
    protected PropertyTests(ITestOutputHelper output)
    {
        Output = output;
        if (Seeds.Problem is { } problem) throw new XunitException(problem);
        output.WriteLine(Seeds.Banner);
    }

    protected ITestOutputHelper Output { get; }
}
