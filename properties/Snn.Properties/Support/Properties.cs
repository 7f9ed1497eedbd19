using System.Globalization;
using FsCheck;
using FsCheck.Fluent;
using LanguageExt;
using LanguageExt.Common;
using Microsoft.FSharp.Core;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Snn.Properties.Support;

/// <summary>
/// Runs an FsCheck property from an xunit [Fact] (FsCheck.Xunit is not available). Every run prints its
/// seed; set the environment variable FSCHECK_SEED to that value to replay the same cases (FsCheck's
/// <c>Config.WithReplay</c>). FSCHECK_MAXTEST, when set, overrides every property's number of cases.
/// </summary>
public static class PropertyRunner
{
    public static ulong Seed()
    {
        var env = Environment.GetEnvironmentVariable("FSCHECK_SEED");
        if (!string.IsNullOrWhiteSpace(env) && ulong.TryParse(env.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var s)) return s;
        return (ulong)System.Random.Shared.NextInt64(1, long.MaxValue);
    }

    public static int MaxTest(int fallback)
    {
        var env = Environment.GetEnvironmentVariable("FSCHECK_MAXTEST");
        return int.TryParse(env, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : fallback;
    }

    /// <summary>Checks <paramref name="body"/> (which throws on failure) over <paramref name="maxTest"/> cases.</summary>
    public static void Check<T>(ITestOutputHelper output, string name, Arbitrary<T> arb, Action<T> body, int maxTest)
    {
        var seed = Seed();
        var n = MaxTest(maxTest);
        output.WriteLine($"{name}: FSCHECK_SEED={seed} ({n} cases)");
        var config = Config.QuickThrowOnFailure
            .WithMaxTest(n)
            .WithQuietOnSuccess(true)
            .WithReplay(FSharpOption<Replay>.Some(new Replay(new Rnd(seed), FSharpOption<int>.None)));
        try
        {
            FsCheck.Check.One(config, Prop.ForAll(arb, body));
        }
        catch (Exception e)
        {
            throw new XunitException($"{name} failed; replay with FSCHECK_SEED={seed}\n{e.Message}");
        }
    }

    public static T Get<T>(this Either<Error, T> e, string what) =>
        e.Match(Right: v => v, Left: err => throw new XunitException($"{what} failed: [{err.Code}] {err.Message}"));

    /// <summary>A run's result (simulations return Fin: a function node may fail).</summary>
    public static T Ok<T>(this Fin<T> f) => f.Match(Succ: v => v, Fail: err => throw new XunitException($"run failed: [{err.Code}] {err.Message}"));
}
