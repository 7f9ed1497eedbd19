using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

/// <summary>Small helpers for passes written over <see cref="Either{L,R}"/> with <see cref="Error"/> on the left.</summary>
internal static class EitherExtensions
{
    /// <summary>Success with nothing to return.</summary>
    public static readonly Either<Error, Unit> Ok = Right<Error, Unit>(unit);

    /// <summary>
    /// Imperative access for loops that stop at the first error:
    /// <c>if (!step.TryGet(out var value, out var error)) return error;</c>.
    /// </summary>
    public static bool TryGet<L, T>(this Either<L, T> either, out T value, out L error)
    {
        if (either.IsRight)
        {
            value = (T)either;
            error = default!;
            return true;
        }
        value = default!;
        error = (L)either;
        return false;
    }

    /// <summary>Runs <paramref name="step"/> on each item in order, stopping at the first error.</summary>
    public static Either<Error, Unit> Each<T>(this IEnumerable<T> items, Func<T, Either<Error, Unit>> step)
    {
        foreach (var item in items)
            if (!step(item).TryGet(out _, out var error)) return error;
        return Ok;
    }

    /// <summary>Maps each item in order, stopping at the first error; the results are materialised.</summary>
    public static Either<Error, Seq<R>> Collect<T, R>(this IEnumerable<T> items, Func<T, Either<Error, R>> map)
    {
        var results = new List<R>();
        foreach (var item in items)
        {
            if (!map(item).TryGet(out var r, out var error)) return error;
            results.Add(r);
        }
        return results.ToSeq().Strict();
    }
}
