using System.Net;
using LanguageExt;
using LanguageExt.Common;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

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
            silo.Configure<SiloMessagingOptions>(o => o.MaxRequestProcessingTime = config.UnitTimeout + TimeSpan.FromMinutes(1));
        });
        return builder.Build();
    }

    /// <summary>The sweep's client: connects to every worker's gateway in <paramref name="config"/>, with a unit's call timing out after <see cref="ClusterConfig.UnitTimeout"/>.</summary>
    public static IHost Client(ClusterConfig config)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering(config.Silos.Map(s => s.Gateway).ToArray(), config.ServiceId, config.ClusterId);
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = config.UnitTimeout);
        });
        return builder.Build();
    }
}
