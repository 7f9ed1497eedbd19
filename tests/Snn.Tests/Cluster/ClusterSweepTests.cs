using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Snn.Cluster;
using Snn.Compiler;
using Snn.Tests.Support;
using Xunit;

namespace Snn.Tests.Cluster;

/// <summary>
/// The sweep on an Orleans cluster gives the local sweep's files byte for byte: an in-process test cluster of two
/// silos running the CLI's worker, and (slow) two <c>snn worker</c> processes with one killed mid-run. The oracle is
/// the local sweep (<c>snn sweep</c> without <c>--cluster</c>), whose points SweepTests check against <c>snn evaluate</c>.
/// </summary>
public class ClusterSweepTests
{
    static readonly string Demo = Path.Combine(TestModels.RepoRoot, "src", "Snn", "Demo");
    static readonly string Cnn = Path.Combine(Demo, "fashion-cnn", "model.json");
    const string Grid = "steps=2,4; neuron=signed,if";

    static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "snn-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>The first <paramref name="n"/> bundled test images, their labels, and 50 others to calibrate on.</summary>
    static string[] Data(string dir, int n)
    {
        var x = Npy.Read(Path.Combine(Demo, "fashion-mnist-1000", "x.npy")).Ok();
        var (xp, yp, cp) = (Path.Combine(dir, "x.npy"), Path.Combine(dir, "y.npy"), Path.Combine(dir, "c.npy"));
        Npy.WriteFloat32(xp, x.Rows(0, n));
        Npy.WriteFloat32(yp, Npy.Read(Path.Combine(Demo, "fashion-mnist-1000", "y.npy")).Ok().Rows(0, n));
        Npy.WriteFloat32(cp, x.Rows(500, 50));
        return ["--data", xp, "--labels", yp, "--input-scale", "1/255", "--calibrate", cp];
    }

    static string[] SweepArgs(string[] data, string outDir, params string[] more) =>
        new[] { "sweep", Cnn }.Concat(data).Concat(["--grid", Grid, "--out", outDir]).Concat(more).ToArray();

    /// <summary>The silos of the test cluster run units with the CLI's worker, one at a time on one thread.</summary>
    public sealed class Workers : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) =>
            silo.Services.AddSingleton(new UnitHost((job, unit, threads) => Snn.Cli.SweepCommand.Worker(job, unit, threads, TextWriter.Null),
                ClusterConfig.Parse("""{ "threads_per_unit": 1 }""").Match(c => c, e => throw new InvalidOperationException(e.Message))));
    }

    [Fact]
    public async Task TwoSilosGiveTheLocalSweepsBytes()
    {
        var dir = TempDir();
        var data = Data(dir, 30);
        var local = Path.Combine(dir, "local");
        var (code, _, err) = CliRunner.Run(SweepArgs(data, local, "--shard-size", "10", "--threads", "2", "--no-progress"));
        Assert.True(code == 0, err);
        var (job, shardSize) = Snn.Sweep.ReadJob(File.ReadAllText(Path.Combine(local, "sweep-id.json"))).IfNone(() => throw new Xunit.Sdk.XunitException("no job"));

        var builder = new TestClusterBuilder(2);
        builder.AddSiloBuilderConfigurator<Workers>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        try
        {
            var remote = Path.Combine(dir, "cluster");
            var run = Snn.Sweep.Open(job, shardSize, remote).Match(r => r, e => throw new Xunit.Sdk.XunitException(e.Message));
            Assert.Equal(6, run.Units.Count);   // 2 points × shards of 10
            var progress = new List<SweepProgress>();
            var result = await ClusterSweep.Run(cluster.Client, run, 4, 3, TimeSpan.FromMinutes(5), p => { lock (progress) progress.Add(p); });
            var merged = result.Match(r => r, e => throw new Xunit.Sdk.XunitException(e.Message));

            Assert.Equal(File.ReadAllText(Path.Combine(local, "sweep.json")), Snn.Sweep.Json(merged));
            Assert.Equal(File.ReadAllText(Path.Combine(local, "sweep-id.json")), File.ReadAllText(Path.Combine(remote, "sweep-id.json")));
            foreach (var unit in run.Units)
                Assert.Equal(File.ReadAllBytes(Path.Combine(local, "units", unit.FileName)), File.ReadAllBytes(Path.Combine(remote, "units", unit.FileName)));
            Assert.Equal(new SweepProgress(6, 0, 0, 0, 6), progress[^1]);
            // Every unit ran on one of the two silos, once.
            var runs = cluster.Silos.Select(s => ((InProcessSiloHandle)s).SiloHost.Services.GetRequiredService<UnitHost>().Runs).ToList();
            Assert.Equal(6, runs.Sum());

            // Run again on the same folder: nothing left to send, the same result.
            var again = Snn.Sweep.Open(job, shardSize, remote).Match(r => r, e => throw new Xunit.Sdk.XunitException(e.Message));
            Assert.Equal(6, again.Reused);
            var second = await ClusterSweep.Run(cluster.Client, again, 4, 3, TimeSpan.FromMinutes(5));
            Assert.Equal(Snn.Sweep.Json(merged), second.Match(Snn.Sweep.Json, e => e.Message));
            Assert.Equal(6, cluster.Silos.Sum(s => ((InProcessSiloHandle)s).SiloHost.Services.GetRequiredService<UnitHost>().Runs));
        }
        finally
        {
            await cluster.StopAllSilosAsync();
            await cluster.DisposeAsync();
        }
    }

    [Fact]
    public async Task AJobFileThatIsNotTheSweepsIsRefusedByTheWorker()
    {
        var dir = TempDir();
        var job = Path.Combine(dir, "sweep-id.json");
        File.WriteAllText(job, "{}");
        var host = new UnitHost((_, _, _) => throw new InvalidOperationException("must not run"), ClusterConfig.Parse("{}").Match(c => c, e => throw new InvalidOperationException(e.Message)));
        var reply = await host.Run(job, new string('0', 64), new SweepUnit(0, 0, 0, 1));
        Assert.StartsWith("error: the job", reply);
        Assert.Contains("is not the sweep's", reply);
    }

    [Theory]
    [InlineData("""{ "clustering": "redis" }""", "Orleans membership provider")]
    [InlineData("""{ "silos": [ { "silo_port": 11111, "gateway_port": 11111 } ] }""", "ports are the same")]
    [InlineData("""{ "attempts": 0 }""", "attempts must be at least 1")]
    [InlineData("""{ "silo_ports": [] }""", "unknown field 'silo_ports'")]
    [InlineData("[1]", "not a JSON object")]
    public void BadConfigurationsAreRefused(string json, string expected)
    {
        var dir = TempDir();
        var path = Path.Combine(dir, "cluster.json");
        File.WriteAllText(path, json);
        var (code, _, err) = CliRunner.Run("worker", "--cluster", path);
        Assert.Equal(2, code);
        Assert.Contains(expected, err);
    }

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    static Process Start(params string[] args)
    {
        var dll = typeof(Snn.Cli.Program).Assembly.Location;
        if (!File.Exists(Path.ChangeExtension(dll, ".runtimeconfig.json")))
            dll = Path.Combine(TestModels.RepoRoot, "src", "Snn.Cli", "bin", "Release", "net10.0", "Snn.Cli.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    /// <summary>
    /// Two <c>snn worker</c> processes on localhost, a <c>snn sweep --cluster</c> process, worker 1 killed (SIGKILL) once
    /// the sweep has finished a unit: the sweep finishes on worker 0 with the local run's bytes and reports failed calls.
    /// </summary>
    [Fact]
    [Trait("Category", "Slow")]
    public void AWorkerKilledMidRunLosesNoResult()
    {
        var dir = TempDir();
        var data = Data(dir, 40);
        var local = Path.Combine(dir, "local");
        var (code, _, err) = CliRunner.Run(SweepArgs(data, local, "--shard-size", "5", "--threads", "2", "--no-progress"));
        Assert.True(code == 0, err);

        var config = Path.Combine(dir, "cluster.json");
        File.WriteAllText(config, $$"""
            { "cluster_id": "test-{{Guid.NewGuid():N}}", "service_id": "snn-sweep",
              "silos": [ { "silo_port": {{FreePort()}}, "gateway_port": {{FreePort()}} }, { "silo_port": {{FreePort()}}, "gateway_port": {{FreePort()}} } ],
              "threads_per_unit": 1, "attempts": 6 }
            """);
        var workers = new[] { Start("worker", "--cluster", config), Start("worker", "--cluster", config, "--silo", "1") };
        try
        {
            foreach (var w in workers)
            {
                var ready = w.StandardError.ReadLine();
                Assert.True(ready?.Contains("ready") == true, ready);
            }
            var remote = Path.Combine(dir, "cluster");
            using var sweep = Start(SweepArgs(data, remote, "--shard-size", "5", "--cluster", config, "--progress"));
            var stderr = new System.Text.StringBuilder();
            var killed = false;
            string? line;
            while ((line = sweep.StandardError.ReadLine()) is not null)
            {
                stderr.AppendLine(line);
                if (!killed && line.Contains("units done") && !line.Contains(" 0/"))
                {
                    workers[1].Kill();
                    killed = true;
                }
            }
            Assert.True(sweep.WaitForExit(180_000), "the sweep did not finish in 3 minutes");
            Assert.True(sweep.ExitCode == 0, stderr.ToString());
            Assert.True(killed, stderr.ToString());
            Assert.Equal(File.ReadAllText(Path.Combine(local, "sweep.json")), File.ReadAllText(Path.Combine(remote, "sweep.json")));
            Assert.Equal(File.ReadAllText(Path.Combine(local, "sweep.csv")), File.ReadAllText(Path.Combine(remote, "sweep.csv")));
        }
        finally
        {
            foreach (var w in workers)
            {
                if (!w.HasExited) w.Kill();
                w.WaitForExit(10_000);
                w.Dispose();
            }
        }
    }
}
