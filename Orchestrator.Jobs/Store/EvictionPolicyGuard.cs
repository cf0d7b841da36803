using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// Keeps the API and the Worker off a Redis that may evict keys: with an evicting
/// <c>maxmemory-policy</c> Redis frees memory by deleting keys, and the key it deletes can be the
/// jobs stream or a job — accepted jobs would vanish without an error. The policy of every primary
/// (each master of a Redis Cluster) is read at start and again whenever the connection is restored
/// (a failover may land on a node configured otherwise); an evicting policy ends the process with
/// exit code 1 and one log line saying why. A primary that persists nothing is warned of at start.
/// The partition count the data was laid out with is
/// checked at the same moments: a service that started while Redis was unreachable is checked
/// when it connects.
/// </summary>
public sealed partial class EvictionPolicyGuard(
    JobStore store, IConnectionMultiplexer redis, IHostApplicationLifetime lifetime, ILogger<EvictionPolicyGuard> logger,
    TimeProvider? timeProvider = null)
{
    /// <summary>
    /// How often a running service reads every primary's policy again. A cluster failover makes a
    /// replica primary without any connection being lost or restored (and the client raises no
    /// configuration event for it): services ran on an evicting master, writing jobs to it, until
    /// their next reconnect. A few <c>CONFIG GET</c>s per interval and process.
    /// </summary>
    public static readonly TimeSpan RecheckInterval = TimeSpan.FromSeconds(10);

    private int _watching;

    // Reconnects asking for a check not yet begun (OnConnectionRestored): a burst makes one or two checks.
    private int _recheckRequests;

    // A failed check is logged once a second at most (a failing Redis restores hundreds of connections at once).
    private readonly LogThrottle _recheckFailures = new(timeProvider ?? TimeProvider.System);

    /// <summary>
    /// Reads the policy. Returns <see langword="false"/> (after logging why) when it evicts: the
    /// caller exits with code 1 before it starts. When Redis cannot be reached yet, or the provider
    /// disables both <c>CONFIG</c> and <c>INFO</c>, logs a warning and returns <see langword="true"/>;
    /// the policy is then checked when the connection comes (back).
    /// </summary>
    public async Task<bool> CheckAtStartAsync()
    {
        if (Interlocked.Exchange(ref _watching, 1) == 0)
        {
            store.RequireLayoutCheck();
            redis.ConnectionRestored += OnConnectionRestored;
            _ = Task.Run(RecheckPeriodicallyAsync);
        }

        try
        {
            if (!Accept(await store.GetMaxMemoryPolicyAsync().ConfigureAwait(false)))
            {
                return false;
            }

            // A warning, not a stop: a test's or a throwaway Redis may rightly keep nothing.
            foreach (var node in await store.NodesWithoutPersistenceAsync().ConfigureAwait(false))
            {
                LogNoPersistence(logger, node);
            }

            return true;
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            LogNotReachable(logger, e.GetType().Name, FirstLine(e.Message));
            return true;
        }
    }

    /// <summary>
    /// Records or compares the partition count (<see cref="JobStore.CheckPartitionsAsync"/>).
    /// Returns <see langword="false"/> (after logging why) when the data was laid out with another
    /// count: changing <c>Jobs:Partitions</c> is a migration, never a restart, or when the Redis user
    /// lacks a right the services need (<see cref="JobStore.CheckReclaimRightAsync"/> too). When Redis
    /// cannot be reached yet, logs a warning and returns <see langword="true"/>.
    /// </summary>
    public async Task<bool> CheckPartitionsAsync()
    {
        try
        {
            var check = await store.CheckPartitionsAsync().ConfigureAwait(false);
            // The partitions' script proves scripts, keys and publishing; the reclaim's command is sent bare.
            await store.CheckReclaimRightAsync().ConfigureAwait(false);
            if (!check.Matches)
            {
                LogPartitionsDiffer(logger, check.Configured, check.Recorded);
            }

            return check.Matches;
        }
        catch (RedisServerException e) when (RedisFailure.IsPermissionDenied(e))
        {
            // The first script a service runs: a user without the rights it needs ended the start with
            // an unhandled exception (exit 134), or, denied only publishing, started and half-wrote
            // submissions. Before the transient catch: calls elsewhere wait a refusal out.
            LogPermissionDenied(logger, e.Message);
            return false;
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            LogNotReachable(logger, e.GetType().Name, FirstLine(e.Message));
            return true;
        }
    }

    private bool Accept(MaxMemoryPolicy found)
    {
        if (found.Evicts)
        {
            LogEvicting(logger, found.Policy!, found.Node ?? "Redis");
            return false;
        }

        if (found.Unreadable is { } reason)
        {
            LogUnreadable(logger, reason);
        }

        return true;
    }

    /// <summary>Ends the running service with exit code 1 (Main returns <see cref="Environment.ExitCode"/> once the host has stopped).</summary>
    private void StopService()
    {
        Environment.ExitCode = 1;
        lifetime.StopApplication();
    }

    private void OnConnectionRestored(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType != ConnectionType.Interactive)
        {
            return;
        }

        // The event is raised on the client's own thread: the check runs beside it, every outcome handled
        // inside. One at a time: each restored connection started its own, and an audit saw 699 of them
        // fail (and log) at once when a Redis that had refused writes (MISCONF) took them again.
        if (Interlocked.Increment(ref _recheckRequests) == 1)
        {
            _ = Task.Run(RecheckAsync);
        }
    }

    private async Task RecheckPeriodicallyAsync()
    {
        var time = timeProvider ?? TimeProvider.System;
        while (!lifetime.ApplicationStopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(RecheckInterval, time, lifetime.ApplicationStopping).ConfigureAwait(false);
                // Not checked yet (Redis's record out of reach at start, and no reconnect since: a cluster
                // master down while the others answered): the services' writes wait for it.
                if (store.LayoutCheckPending && !await CheckPartitionsAsync().ConfigureAwait(false))
                {
                    StopService();
                    return;
                }

                // Only an evicting policy is acted on: a provider's unreadable policy was warned of at start.
                if ((await store.GetMaxMemoryPolicyAsync().ConfigureAwait(false)) is { Evicts: true } found)
                {
                    LogEvicting(logger, found.Policy!, found.Node ?? "Redis");
                    StopService();
                    return;
                }
            }
            catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return; // the connection is gone for good (its owner disposed it)
            }
            catch (Exception e) when (RedisFailure.IsTransient(e))
            {
                // Redis away: the restored connection's check, or the next tick, reads it again.
            }
        }
    }

    private async Task RecheckAsync()
    {
        while (true)
        {
            // Connections restored while this check runs are checked by one more.
            var asked = Volatile.Read(ref _recheckRequests);
            try
            {
                if (!Accept(await store.GetMaxMemoryPolicyAsync().ConfigureAwait(false)) || !await CheckPartitionsAsync().ConfigureAwait(false))
                {
                    StopService();
                    return;
                }
            }
            catch (Exception e)
            {
                // Gone again, or anything else: the next restored connection (or the periodic check) checks again.
                if (_recheckFailures.ShouldLog(out _))
                {
                    LogRecheckFailed(logger, e.GetType().Name, e.Message);
                }
            }

            if (Interlocked.CompareExchange(ref _recheckRequests, 0, asked) == asked)
            {
                return;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not re-check Redis maxmemory-policy and Jobs:Partitions after a reconnect ({ExceptionType}): {Reason}")]
    private static partial void LogRecheckFailed(ILogger logger, string exceptionType, string reason);

    [LoggerMessage(Level = LogLevel.Critical, Message =
        "Redis maxmemory-policy is '{Policy}' on {Node}: at its memory limit Redis would evict keys, and an evicted key can be the jobs " +
        "stream or a job, so accepted jobs would be lost. Exiting. Fix: set maxmemory-policy to noeviction (redis.conf, " +
        "'CONFIG SET maxmemory-policy noeviction', or your provider's parameter group); at the limit new jobs then get 503.")]
    private static partial void LogEvicting(ILogger logger, string policy, string node);

    [LoggerMessage(Level = LogLevel.Critical, Message =
        "Jobs:Partitions is {Configured} but the job data in Redis is laid out in {Recorded} partition(s) ({{orch}}:meta): " +
        "jobs would sit in keys no service reads. Exiting. Fix: set Jobs:Partitions to {Recorded} on every API and worker; " +
        "changing it is a migration (docs/operations.md: drain the jobs, then delete {{orch}}:meta, and from one partition " +
        "{{orch}}:stream and {{orch}}:jobs too), never a restart.")]
    private static partial void LogPartitionsDiffer(ILogger logger, int configured, int recorded);

    [LoggerMessage(Level = LogLevel.Critical, Message =
        "The Redis user may not run what the service needs ({Reason}). Exiting. Fix: grant it the rights " +
        "docs/operations.md lists (\"A production Redis\"): the {{orch}} keys and channels, reads, writes, scripts and publishing.")]
    private static partial void LogPermissionDenied(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "Redis at {Node} persists nothing (appendonly no, save \"\"): if it restarts, every job it holds is lost, and a re-sent " +
        "idempotency key creates a new job. Fix: 'CONFIG SET appendonly yes' (and in redis.conf), or your provider's persistence setting.")]
    private static partial void LogNoPersistence(ILogger logger, string node);

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "Could not read Redis maxmemory-policy ({Reason}); continuing. Make sure it is noeviction: an evicting policy can drop the jobs stream.")]
    private static partial void LogUnreadable(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "Redis is not reachable yet ({ExceptionType}: {Reason}); its maxmemory-policy and the partition count will be checked when it connects.")]
    private static partial void LogNotReachable(ILogger logger, string exceptionType, string reason);

    // The client's first line says why (refused, a timeout, NOAUTH for a wrong password, an untrusted
    // certificate); what follows it (", mc: …", its thread pools) is its connection state.
    private static string FirstLine(string message)
    {
        var line = message.AsSpan();
        var end = line.IndexOfAny('\r', '\n');
        line = end < 0 ? line : line[..end];
        end = line.IndexOf(", mc: ", StringComparison.Ordinal);
        line = end < 0 ? line : line[..end];
        return line.Length <= 300 ? line.ToString() : $"{line[..300]}…";
    }
}

/// <summary>Registers and runs the <see cref="EvictionPolicyGuard"/>.</summary>
public static class EvictionPolicyGuardExtensions
{
    /// <summary>
    /// Checks Redis's <c>maxmemory-policy</c> and the partition count the data was laid out with
    /// before the host runs; <see langword="false"/> means Redis evicts or the count is not
    /// <c>Jobs:Partitions</c>, and the process must exit with code 1 (the reason is logged).
    /// </summary>
    public static async Task<bool> CheckRedisEvictionPolicyAsync(this IServiceProvider services) =>
        await services.GetRequiredService<EvictionPolicyGuard>().CheckAtStartAsync().ConfigureAwait(false)
        && await services.GetRequiredService<EvictionPolicyGuard>().CheckPartitionsAsync().ConfigureAwait(false);
}
