using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Compiler;

/// <summary>
/// Composes pure passes: <c>Pipeline.From(model).Then(...).Then(...)</c>. Each step names its pass and may
/// name its stage's verifier; with verification on (every test turns it on) the verifier runs after the pass,
/// like ILSpy's CheckInvariant or TVM's well-formed instrument. The first error short-circuits the rest.
/// </summary>
public sealed class Pipeline<T>
{
    internal Pipeline(Either<Error, T> value, bool verify, Seq<string> trace)
    {
        Result = value;
        VerifyAfterEach = verify;
        Trace = trace;
    }

    public Either<Error, T> Result { get; }
    public bool VerifyAfterEach { get; }

    /// <summary>The names of the passes that ran, in order.</summary>
    public Seq<string> Trace { get; }

    public Pipeline<U> Then<U>(string name, Func<T, Either<Error, U>> pass, Func<U, Either<Error, U>>? verify = null)
    {
        var next = Result.Bind(pass);
        if (VerifyAfterEach && verify is not null) next = next.Bind(verify);
        return new Pipeline<U>(next, VerifyAfterEach, Result.IsRight ? Trace.Add(name) : Trace);
    }

    /// <summary>A step that reports several problems at once (legalize).</summary>
    public Pipeline<U> Then<U>(string name, Func<T, Validation<Error, U>> pass, Func<U, Either<Error, U>>? verify = null) =>
        Then(name, x => pass(x).ToEither().MapLeft(Errors.Many), verify);
}

public static class Pipeline
{
    /// <summary>Starts a pipeline; <paramref name="verify"/> turns on the verifier after every pass.</summary>
    public static Pipeline<T> From<T>(T value, bool verify = false) => new(Right<Error, T>(value), verify, Seq<string>());

    public static Pipeline<T> From<T>(Either<Error, T> value, bool verify = false) => new(value, verify, Seq<string>());
}
