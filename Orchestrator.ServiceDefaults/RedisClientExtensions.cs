using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

/// <summary>The services' shared Redis connection, with its commands as child spans.</summary>
public static class RedisClientExtensions
{
    /// <summary>
    /// Registers the <see cref="IConnectionMultiplexer"/> (Aspire's <c>AddRedisClient</c>, without its
    /// health check), and turns its commands into child spans with OpenTelemetry's
    /// StackExchange.Redis instrumentation instead of the copy inside Aspire's client: that copy turns
    /// profiled commands into spans in one batch every 10 s, a burst that delayed the jobs running at
    /// that moment (docs/performance.md, "Settings chosen by measurement"). This one drains every
    /// 100 ms while commands come in and backs off to 10 s when idle. Both are set here so the two can
    /// never run together.
    /// </summary>
    public static TBuilder AddTracedRedisClient<TBuilder>(
        this TBuilder builder, string connectionName, Action<ConfigurationOptions> configureOptions)
        where TBuilder : IHostApplicationBuilder
    {
        // Checked at start with the other settings (one line naming the key, exit code 1), before the
        // client's own parse would throw where the connection is first resolved.
        builder.Services.AddRedisConnectionStringCheck(connectionName);
        builder.AddRedisClient(connectionName, settings =>
        {
            settings.DisableTracing = true;
            // The services check the nodes that serve their partitions (RedisPartitionsHealthCheck):
            // this one pings every node given, and stayed unhealthy after a cluster failover.
            settings.DisableHealthChecks = true;
        }, options =>
        {
            // The client learns a node's role from READONLY answers and reads it again only at its
            // periodic configuration check: at the default 60 s, a Redis made primary again after a
            // failover round trip (REPLICAOF NO ONE) was still taken for a replica, and every write
            // refused without being sent, for up to a minute (51 s measured). 5 s bounds that wait;
            // the check is a few commands per connection.
            options.ConfigCheckSeconds = 5;
            configureOptions(options);
        });
        builder.Services.AddOpenTelemetry().WithTracing(tracing => tracing.AddRedisInstrumentation());
        return builder;
    }
}
