using System.Net.Sockets;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>What kind of failure a Redis call met; every kind but <see cref="None"/> is waited out.</summary>
public enum RedisFailureKind
{
    /// <summary>Not a transient Redis failure: a bug or a bad request, not something to wait out.</summary>
    None,

    /// <summary>No connection, a dropped connection or a timeout. The command may have run.</summary>
    Unavailable,

    /// <summary>The server cannot answer yet: LOADING, BUSY (a script), MASTERDOWN, TRYAGAIN, CLUSTERDOWN (a cluster electing a new master), MOVED under a call pinned to one master.</summary>
    NotReady,

    /// <summary>READONLY: the node became a replica (a failover); the new primary will take the write.</summary>
    ReadOnly,

    /// <summary>UNBLOCKED: a blocking read was ended by the server (failover, or the key was deleted).</summary>
    Unblocked,

    /// <summary>
    /// OOM: <c>maxmemory</c> is reached under <c>noeviction</c>; writes are refused (nothing was
    /// written) until memory is freed. Kept apart: the API answers it as "storage full".
    /// </summary>
    OutOfMemory,

    /// <summary>
    /// MISCONF: Redis cannot persist (a snapshot failed: a full or failing disk) and, with
    /// <c>stop-writes-on-bgsave-error</c> (its default), refuses writes until a snapshot succeeds
    /// again; reads are served. Like <see cref="OutOfMemory"/>, nothing was written.
    /// </summary>
    CannotPersist,

    /// <summary>NOSCRIPT: the server lost its script cache (a restart); the client loads the script again.</summary>
    NoScript,

    /// <summary>NOGROUP: the stream or its consumer group is gone (a restart without data, FLUSHALL); create it again.</summary>
    NoGroup,

    /// <summary>
    /// NOPERM: the ACL user may not run the command, or reach the key or channel (inside a script:
    /// "ERR The user executing the script can't …"); nothing was run. Only an operator giving the
    /// right back ends it: a service stops on it at start and at each reconnect
    /// (<see cref="EvictionPolicyGuard"/>); a call that meets it in between waits, as for the other
    /// kinds, keeping what it holds (an outcome), so a right given back in time loses nothing.
    /// </summary>
    PermissionDenied,
}

/// <summary>
/// The one definition of a transient Redis failure, shared by the API (which answers 503) and the
/// worker (which retries through the <c>redis</c> pipeline, <see cref="RedisPipeline"/>).
/// </summary>
public static class RedisFailure
{
    // Error codes as Redis sends them, also inside a script's error ("OOM command not allowed … script: …").
    private static readonly (string Prefix, RedisFailureKind Kind)[] ServerErrors =
    [
        ("LOADING ", RedisFailureKind.NotReady),
        ("BUSY ", RedisFailureKind.NotReady),
        ("MASTERDOWN ", RedisFailureKind.NotReady),
        ("TRYAGAIN ", RedisFailureKind.NotReady),
        ("CLUSTERDOWN ", RedisFailureKind.NotReady),
        // A slot moved (a failover) under a call pinned to one master (a submission that WAITs there
        // sends with NoRedirect): the client's own message. The next try finds the new master.
        ("Key has MOVED ", RedisFailureKind.NotReady),
        ("MOVED ", RedisFailureKind.NotReady),
        ("READONLY ", RedisFailureKind.ReadOnly),
        ("UNBLOCKED ", RedisFailureKind.Unblocked),
        ("OOM ", RedisFailureKind.OutOfMemory),
        ("MISCONF ", RedisFailureKind.CannotPersist),
        ("NOPERM ", RedisFailureKind.PermissionDenied),
        ("NOSCRIPT ", RedisFailureKind.NoScript),
        ("NOGROUP ", RedisFailureKind.NoGroup),
    ];

    /// <summary>Classifies <paramref name="exception"/>; <see cref="RedisFailureKind.None"/> when it is not transient.</summary>
    public static RedisFailureKind Classify(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            switch (e)
            {
                case RedisConnectionException or RedisTimeoutException or SocketException:
                    return RedisFailureKind.Unavailable;
                case LayoutNotCheckedException:
                    return RedisFailureKind.NotReady;
                // The client sent a write to a node it still took for a master while a failover made it
                // a replica (StackExchange.Redis#2181): the next try, after the client's topology
                // refresh, reaches the new master. Other command exceptions are our own mistakes.
                case RedisCommandException command when command.Message.StartsWith("Command cannot be issued to a replica", StringComparison.Ordinal):
                    return RedisFailureKind.ReadOnly;
                case RedisServerException server:
                    foreach (var (prefix, kind) in ServerErrors)
                    {
                        if (server.Message.StartsWith(prefix, StringComparison.Ordinal))
                        {
                            return kind;
                        }
                    }

                    return server.Message.Contains("The user executing the script can't", StringComparison.Ordinal)
                        ? RedisFailureKind.PermissionDenied
                        : RedisFailureKind.None;
            }

            // A command the client abandoned when its connection broke (a CLIENT PAUSE past the timeout,
            // a failover): StackExchange.Redis completes its task as cancelled, with no token. Found by
            // RedisFaultTests and a cluster failover, where it failed an outcome write. A cancellation
            // of ours always carries the token that asked for it.
            if (e is TaskCanceledException { CancellationToken.CanBeCanceled: false })
            {
                return RedisFailureKind.Unavailable;
            }

            // A connection reset mid-command can surface as the transport's own exception (found by the chaos run).
            if (e.GetType().Namespace == "Pipelines.Sockets.Unofficial")
            {
                return RedisFailureKind.Unavailable;
            }

            // So can a write to the connection the reset just closed: its pipe refuses it with "Writing
            // is not allowed after writer was completed" (the chaos run met it as a 500 on POST /jobs
            // while Redis restarted), or, when the reset completes the pipe in the middle of the write,
            // with an ArgumentOutOfRangeException from Advance (LostReplyTests: 1,599 of ~30,000 script
            // calls, Redis killed under load). Only a pipe throws these from System.IO.Pipelines; a bug of ours does not.
            if (e is InvalidOperationException or ArgumentOutOfRangeException && e.Source == "System.IO.Pipelines")
            {
                return RedisFailureKind.Unavailable;
            }
        }

        return RedisFailureKind.None;
    }

    /// <summary>Whether <paramref name="exception"/> means Redis cannot do it now but will later.</summary>
    public static bool IsTransient(Exception exception) => Classify(exception) != RedisFailureKind.None;

    /// <summary>Whether Redis refused the call under its ACL (<see cref="RedisFailureKind.PermissionDenied"/>).</summary>
    public static bool IsPermissionDenied(Exception exception) => Classify(exception) == RedisFailureKind.PermissionDenied;
}
