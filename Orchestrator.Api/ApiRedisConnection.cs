using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.Api;

/// <summary>
/// How the API's Redis connection is configured, in one place for the API and for the tests that
/// stand in for it. AbortOnConnectFail=false: start even while Redis is down and reconnect in the
/// background; FailFast + short timeouts: while Redis is away a request fails (503) within seconds,
/// not a hang.
/// </summary>
internal static class ApiRedisConnection
{
    /// <summary>Sets the API's connection options on <paramref name="options"/>.</summary>
    public static void Configure(ConfigurationOptions options)
    {
        options.AbortOnConnectFail = false;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ConnectTimeout = 3000;
        options.AsyncTimeout = 3000;
        options.SyncTimeout = 3000;
        // The .NET thread pool runs the client's socket reads and writes instead of its own ten
        // dedicated threads, which on a small host mostly woke up and slept again (~12 % of the API's
        // CPU under POST /jobs load); every Redis call here is asynchronous, so nothing of ours blocks
        // the pool. The client's Sentinel handling does: SentinelThreads.
        options.SocketManager = SocketManager.ThreadPool;
        SentinelThreads.ReserveFor(options);
    }
}
