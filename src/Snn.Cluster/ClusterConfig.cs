using System.Text.Json;
using System.Text.Json.Nodes;
using LanguageExt;
using LanguageExt.Common;
using static LanguageExt.Prelude;

namespace Snn.Cluster;

/// <summary>A worker (Orleans silo) of a localhost cluster: the port silos talk on and the port clients connect to.</summary>
public sealed record SiloPorts(int Silo, int Gateway);

/// <summary>
/// The cluster's configuration file (<c>snn worker --cluster CONFIG</c>, <c>snn sweep ... --cluster CONFIG</c>): the
/// Orleans cluster and service ids, the clustering (for development: <c>localhost</c>, with each worker's ports; the
/// first is the primary silo that the others join), how many units a worker runs at once and on how many threads each,
/// how long a unit may take before its call counts as failed, and how often a unit is tried before the sweep gives up.
/// </summary>
public sealed record ClusterConfig(string ClusterId, string ServiceId, Seq<SiloPorts> Silos, int UnitsPerWorker, int ThreadsPerUnit,
    TimeSpan UnitTimeout, int Attempts)
{
    /// <summary>The one clustering snn's workers and client set up themselves; production clusters use an Orleans membership provider (README "Running on many machines").</summary>
    public const string Localhost = "localhost";

    /// <summary>Threads a unit's simulation runs on: the file's, or the machine's cores shared by the units a worker runs at once.</summary>
    public int Threads => ThreadsPerUnit > 0 ? ThreadsPerUnit : Math.Max(1, Environment.ProcessorCount / Math.Max(1, UnitsPerWorker));

    /// <summary>Reads <paramref name="path"/>; a missing or malformed file, or a field out of range, is a usage error (exit 2) that says which.</summary>
    public static Either<Error, ClusterConfig> Read(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Errors.Usage($"--cluster: cannot read the cluster configuration '{path}': {e.Message}");
        }
        return Parse(text).MapLeft(e => Errors.Usage($"--cluster '{path}': {e.Message}"));
    }

    /// <summary>The configuration in <paramref name="json"/> (see <see cref="Read"/>).</summary>
    public static Either<Error, ClusterConfig> Parse(string json)
    {
        try
        {
            if (JsonNode.Parse(json) is not JsonObject o) return Error.New("not a JSON object");
            var known = new[] { "cluster_id", "service_id", "clustering", "silos", "units_per_worker", "threads_per_unit", "unit_timeout_s", "attempts" };
            if (o.Select(p => p.Key).FirstOrDefault(k => !known.Contains(k)) is { } unknown)
                return Error.New($"unknown field '{unknown}' (fields: {string.Join(", ", known)})");
            var clustering = (string?)o["clustering"] ?? Localhost;
            if (clustering != Localhost)
                return Error.New($"clustering '{clustering}' is not one snn sets up: snn's workers and client use localhost clustering (development); " +
                                 "a production cluster uses an Orleans membership provider (ADO.NET, Redis, Azure Table or Kubernetes) in its own host, see README \"Running on many machines\"");
            var silos = o["silos"] is JsonArray a
                ? a.Select(s => new SiloPorts((int)s!["silo_port"]!, (int)s["gateway_port"]!)).ToSeq().Strict()
                : Seq1(new SiloPorts(11111, 30000));
            if (silos.IsEmpty) return Error.New("silos is empty: give at least one worker's silo_port and gateway_port");
            if (silos.Exists(s => s.Silo is < 1 or > 65535 || s.Gateway is < 1 or > 65535)) return Error.New("a port is outside 1..65535");
            var ports = silos.Bind(s => Seq(s.Silo, s.Gateway));
            if (ports.Distinct().Count() != ports.Count) return Error.New("two workers' ports are the same; each silo_port and gateway_port must differ");
            var units = (int?)o["units_per_worker"] ?? 1;
            var threads = (int?)o["threads_per_unit"] ?? 0;
            var timeout = (double?)o["unit_timeout_s"] ?? 3600;
            var attempts = (int?)o["attempts"] ?? 6;
            if (units < 1) return Error.New("units_per_worker must be at least 1");
            if (threads < 0) return Error.New("threads_per_unit must be 0 (every core) or more");
            if (!(timeout > 0)) return Error.New("unit_timeout_s must be positive");
            if (attempts < 1) return Error.New("attempts must be at least 1");
            return new ClusterConfig((string?)o["cluster_id"] ?? "snn", (string?)o["service_id"] ?? "snn-sweep", silos, units, threads,
                TimeSpan.FromSeconds(timeout), attempts);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or NullReferenceException or ArgumentException)
        {
            return Error.New($"not a cluster configuration: {e.Message}");
        }
    }

    /// <summary>The configuration as JSON, in the form <see cref="Read"/> reads.</summary>
    public string Json() =>
        new JsonObject
        {
            ["cluster_id"] = ClusterId, ["service_id"] = ServiceId, ["clustering"] = Localhost,
            ["silos"] = new JsonArray(Silos.Map(s => (JsonNode)new JsonObject { ["silo_port"] = s.Silo, ["gateway_port"] = s.Gateway }).ToArray()),
            ["units_per_worker"] = UnitsPerWorker, ["threads_per_unit"] = ThreadsPerUnit,
            ["unit_timeout_s"] = UnitTimeout.TotalSeconds,
            ["attempts"] = Attempts,
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
}
