using LanguageExt;
using LanguageExt.Common;
using Xunit.Sdk;

namespace Snn.Properties.Support;

/// <summary>Unwraps a stage's result inside a property, failing the case with the stage's error.</summary>
public static class Results
{
    public static T Get<T>(this Either<Error, T> e, string what) =>
        e.Match(Right: v => v, Left: err => throw new XunitException($"{what} failed: [{err.Code}] {err.Message}"));

    /// <summary>A run's result (simulations return Fin: a function node may fail).</summary>
    public static T Ok<T>(this Fin<T> f) => f.Match(Succ: v => v, Fail: err => throw new XunitException($"run failed: [{err.Code}] {err.Message}"));
}
