namespace Snn.Tests.Support;

/// <summary>
/// The settings every fuzz test reads: SNN_FUZZ_SEED replays a run (its seed is printed), SNN_FUZZ_ITERATIONS sets the
/// number of cases (the default is what CI runs), SNN_FUZZ_CASE=i replays one case where a test supports it.
/// </summary>
public static class Fuzz
{
    public sealed record Settings(int Seed, int Iterations, int? Only);

    public static Settings Read(int defaultSeed, int defaultIterations) => new(
        int.TryParse(Environment.GetEnvironmentVariable("SNN_FUZZ_SEED"), out var s) ? s : defaultSeed,
        int.TryParse(Environment.GetEnvironmentVariable("SNN_FUZZ_ITERATIONS"), out var n) && n > 0 ? n : defaultIterations,
        int.TryParse(Environment.GetEnvironmentVariable("SNN_FUZZ_CASE"), out var c) ? c : null);
}
