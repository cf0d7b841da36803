using StackExchange.Redis;

namespace Orchestrator.Jobs;

/// <summary>
/// Which Redis errors mean "cannot answer now, will later": the API answers them with 503 and the
/// Worker retries them with backoff, instead of treating them as bugs.
/// </summary>
public static class RedisUnavailability
{
    /// <summary>
    /// No connection, a timeout, or a server not ready yet: still loading its data after a
    /// restart (LOADING, found by the chaos run), busy with a script, or without a primary.
    /// </summary>
    public static bool IsUnavailable(Exception exception) => exception switch
    {
        RedisConnectionException or RedisTimeoutException => true,
        RedisServerException server => IsNotReady(server),
        _ => false,
    };

    /// <summary>A server error that says the server is not ready to answer yet.</summary>
    public static bool IsNotReady(RedisServerException exception) =>
        exception.Message.StartsWith("LOADING ", StringComparison.Ordinal)
        || exception.Message.StartsWith("BUSY ", StringComparison.Ordinal)
        || exception.Message.StartsWith("MASTERDOWN ", StringComparison.Ordinal)
        || exception.Message.StartsWith("TRYAGAIN ", StringComparison.Ordinal)
        // Redis Cluster while a slot has no master (a master died and its replica is not elected yet).
        || exception.Message.StartsWith("CLUSTERDOWN ", StringComparison.Ordinal)
        // A node that was master and came back as a replica, before the client learns the new layout.
        || exception.Message.StartsWith("READONLY ", StringComparison.Ordinal);
}
