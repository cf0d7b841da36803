using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// Threads for StackExchange.Redis's Sentinel handling, which blocks thread-pool threads: on a lost or
/// restored connection it switches masters with <c>ReconfigureAsync(…).Wait()</c> and asks the
/// sentinels with synchronous commands inside PLINQ, whose replies and continuations need other pool
/// threads. With the pool's minimum at the core count the pool grew a thread at a time while every
/// thread was blocked: an outside audit saw the API take no request for 3–6 s per failover, answers
/// (503) after up to 9.5 s where the API bounds them at 4.5 s, and <c>/health</c> after 5 s.
/// With the minimum raised, none past 4.52 s and <c>/health</c> within 1.51 s, in every fault tried.
/// Only a Sentinel connection (<c>serviceName=</c>) raises it: elsewhere every Redis call is
/// asynchronous and the pool's own sizing serves the services best.
/// </summary>
public static class SentinelThreads
{
    /// <summary>The pool's minimum of worker threads under Sentinel.</summary>
    public const int MinWorkerThreads = 64;

    /// <summary>Raises the thread pool's minimum when <paramref name="options"/> connect through Sentinel.</summary>
    public static void ReserveFor(ConfigurationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (string.IsNullOrEmpty(options.ServiceName))
        {
            return;
        }

        ThreadPool.GetMinThreads(out var workers, out var completionPorts);
        if (workers < MinWorkerThreads)
        {
            ThreadPool.SetMinThreads(MinWorkerThreads, completionPorts);
        }
    }
}
