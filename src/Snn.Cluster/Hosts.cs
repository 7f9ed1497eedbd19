using System.Net;
using LanguageExt;
using LanguageExt.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Snn.Cluster;

/// <summary>The Orleans hosts of a localhost cluster: a worker (silo) and the sweep's client, from the configuration file.</summary>
public static class Hosts
{
    /// <summary>
    /// Worker <paramref name="index"/> of <paramref name="config"/>'s silos: listens on its ports, joins the primary (the
    /// first), and runs units with <paramref name="run"/>. Started by the caller (<c>StartAsync</c>/<c>RunAsync</c>).
    /// </summary>
    public static IHost Worker(ClusterConfig config, int index, Func<SweepJob, SweepUnit, int, Either<Error, SweepUnitResult>> run)
    {
        var me = config.Silos[index];
        var primary = new IPEndPoint(IPAddress.Loopback, config.Silos[0].Silo);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleans(silo =>
        {
            silo.UseLocalhostClustering(me.Silo, me.Gateway, index == 0 ? null : primary, config.ServiceId, config.ClusterId);
            silo.Services.AddSingleton(new UnitHost(run, config));
        });
        return builder.Build();
    }

    /// <summary>The sweep's client: connects to every worker's gateway in <paramref name="config"/> (calls time out after Orleans' default 30 s; a unit is polled, <see cref="ClusterSweep"/>).</summary>
    public static IHost Client(ClusterConfig config)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering(config.Silos.Map(s => s.Gateway).ToArray(), config.ServiceId, config.ClusterId);
        });
        return builder.Build();
    }
}
