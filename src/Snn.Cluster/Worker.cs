using System.Security.Cryptography;
using LanguageExt;
using LanguageExt.Common;
using Orleans.Placement;

namespace Snn.Cluster;

/// <summary>
/// The grain a sweep's client uses, once per unit (a new grain id each time, so a retried unit is placed afresh, on the
/// worker with the fewest activations). <see cref="Start"/> begins the unit and returns at once; <see cref="Poll"/> waits a
/// little for its result. A call that lasts only seconds notices a worker that died (its calls fail or time out) while
/// a unit may run for hours. The job is read from a path (the sweep's <c>sweep-id.json</c>, which every worker reaches
/// by the same path: a shared folder) and checked against the SHA-256 the client sent; the result is
/// <see cref="Sweep.UnitJson"/>, or <c>"error: ..."</c> for a unit the worker refuses or lost.
/// </summary>
public interface ISweepUnitGrain : IGrainWithGuidKey
{
    Task Start(string jobPath, string jobSha256, int point, int shard, int start, int count);

    /// <summary>The result, or null while the unit runs (after waiting up to <paramref name="waitMs"/>).</summary>
    Task<string?> Poll(int waitMs);
}

[ActivationCountBasedPlacement]
sealed class SweepUnitGrain(UnitHost host) : Grain, ISweepUnitGrain
{
    Task<string>? work;

    public Task Start(string jobPath, string jobSha256, int point, int shard, int start, int count)
    {
        work ??= host.Run(jobPath, jobSha256, new SweepUnit(point, shard, start, count));
        return Task.CompletedTask;
    }

    public async Task<string?> Poll(int waitMs)
    {
        // An activation without work is this grain placed again after its worker died: the unit is lost there.
        if (work is null) { DeactivateOnIdle(); return "error: the worker running this unit is gone"; }
        await Task.WhenAny(work, Task.Delay(waitMs));
        if (!work.IsCompleted) return null;
        DeactivateOnIdle();   // one unit per activation
        return await work;
    }
}

/// <summary>
/// What a worker runs units with: <paramref name="run"/> (the CLI's <c>SweepCommand.Worker</c>: loads the job's model
/// and data, refuses files whose content hash differs, runs the unit) on the thread pool, at most
/// <see cref="ClusterConfig.UnitsPerWorker"/> at a time, each on <see cref="ClusterConfig.Threads"/> threads.
/// </summary>
public sealed class UnitHost(Func<SweepJob, SweepUnit, int, Either<Error, SweepUnitResult>> run, ClusterConfig config)
{
    readonly SemaphoreSlim slots = new(config.UnitsPerWorker);

    /// <summary>Units this worker has run (results and refusals).</summary>
    public int Runs;

    public async Task<string> Run(string jobPath, string jobSha256, SweepUnit unit)
    {
        await slots.WaitAsync();
        try
        {
            return await Task.Run(() =>
            {
                Interlocked.Increment(ref Runs);
                byte[] bytes;
                try { bytes = File.ReadAllBytes(jobPath); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    return $"error: this worker cannot read the sweep's job '{jobPath}' (workers reach it by the same path, e.g. a shared folder): {e.Message}";
                }
                if (Sha256(bytes) != jobSha256)
                    return $"error: the job '{jobPath}' on this worker is not the sweep's (SHA-256 {Sha256(bytes)[..12]}…, the sweep's {jobSha256[..12]}…)";
                if (Sweep.ReadJob(System.Text.Encoding.UTF8.GetString(bytes)).Case is not ValueTuple<SweepJob, int> read)
                    return $"error: '{jobPath}' is not a sweep's job file";
                return run(read.Item1, unit, config.Threads).Match(Sweep.UnitJson, e => "error: " + e.Message);
            });
        }
        finally
        {
            slots.Release();
        }
    }

    /// <summary>The SHA-256 of <paramref name="bytes"/> in lower-case hex.</summary>
    public static string Sha256(byte[] bytes) => Convert.ToHexString(SHA256.HashData(bytes)).ToLowerInvariant();
}
