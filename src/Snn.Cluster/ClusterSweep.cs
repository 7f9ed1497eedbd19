using LanguageExt;
using LanguageExt.Common;

namespace Snn.Cluster;

/// <summary>
/// A sweep's units on a cluster: every unit of an opened sweep folder (<see cref="Sweep.Open"/>) that has no result yet
/// is sent to a worker (<see cref="ISweepUnitGrain"/>), <c>inFlight</c> at a time; each result is written atomically
/// to <c>units/</c> as the local sweep writes it (<see cref="Sweep.Store"/>); a call that fails (a worker that died, a
/// timeout, a refusal) is tried again, as a new grain placed afresh, up to the configured attempts; and the results are
/// merged as the local sweep merges them (<see cref="Sweep.Finish"/>), so the files are the local run's, byte for byte.
/// </summary>
public static class ClusterSweep
{
    /// <summary>How long a poll waits for a unit's result before the client asks again (a call's timeout is longer, 30 s by default).</summary>
    public const int PollMs = 5000;

    public static async Task<Either<Error, SweepResult>> Run(IGrainFactory grains, SweepRun run, int inFlight, int attempts, TimeSpan timeout,
        Action<SweepProgress>? progress = null, Action<string>? log = null)
    {
        var jobPath = Path.GetFullPath(run.JobPath);
        var jobSha = UnitHost.Sha256(await File.ReadAllBytesAsync(jobPath));
        var gate = new object();
        int done = run.Reused, running = 0, failed = 0;
        var errors = new List<string>();
        void Report() => progress?.Invoke(new SweepProgress(done, run.Reused, running, failed, run.Units.Count));
        Report();
        using var slots = new SemaphoreSlim(Math.Max(1, inFlight));
        async Task One(int k)
        {
            var unit = run.Units[k];
            await slots.WaitAsync();
            try
            {
                for (var attempt = 1; attempt <= attempts; attempt++)
                {
                    lock (gate) { running++; Report(); }
                    string? why;
                    try
                    {
                        var grain = grains.GetGrain<ISweepUnitGrain>(Guid.NewGuid());
                        await grain.Start(jobPath, jobSha, unit.Point, unit.Shard, unit.Start, unit.Count);
                        var deadline = DateTime.UtcNow + timeout;
                        string? reply;
                        while ((reply = await grain.Poll(PollMs)) is null)
                            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the unit ran past unit_timeout_s ({timeout.TotalSeconds:0} s)");
                        if (Sweep.ReadUnit(reply).Case is SweepUnitResult r && r.Unit == unit)
                        {
                            var stored = Sweep.Store(run.Dir, r);
                            why = stored.Case is Error e ? e.Message : null;
                            if (why is null) run.Results[k] = r;
                        }
                        else why = reply.StartsWith("error: ", StringComparison.Ordinal) ? reply[7..] : "the worker's reply is not this unit's result";
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        why = $"{e.GetType().Name}: {e.Message.Split('\n')[0].Trim()}";
                    }
                    lock (gate)
                    {
                        running--;
                        if (why is null) done++;
                        else
                        {
                            failed++;
                            errors.Add($"unit {unit.FileName}, attempt {attempt} of {attempts}: {why}");
                        }
                        Report();
                    }
                    if (why is null) return;
                    // A dead worker stays in the cluster's membership until the others vote it out (seconds); wait longer each time.
                    if (attempt < attempts) await Task.Delay(Backoff(attempt));
                }
            }
            finally
            {
                slots.Release();
            }
        }
        await Task.WhenAll(Enumerable.Range(0, run.Units.Count).Where(k => run.Results[k] is null).Select(One));
        foreach (var e in errors) log?.Invoke(e);
        return Sweep.Finish(run, errors);
    }

    /// <summary>The wait after failed attempt <paramref name="attempt"/>: 1, 2, 4, 8, 16 s, then 30 s.</summary>
    public static TimeSpan Backoff(int attempt) => TimeSpan.FromSeconds(Math.Min(30, Math.Pow(2, attempt - 1)));

    /// <summary>How many workers (silos) the cluster has now; <paramref name="otherwise"/> when it cannot say (a worker dying as it is asked).</summary>
    public static async Task<int> Workers(IGrainFactory grains, int otherwise)
    {
        try
        {
            return (await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true)).Count;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return otherwise;
        }
    }
}
