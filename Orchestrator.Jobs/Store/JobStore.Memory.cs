using StackExchange.Redis;

namespace Orchestrator.Jobs;

public sealed partial class JobStore
{
    /// <summary>The only <c>maxmemory-policy</c> the job system runs on: at the limit, writes are refused, nothing is evicted.</summary>
    public const string NoEviction = "noeviction";

    /// <summary>
    /// The server's <c>maxmemory-policy</c>, from <c>CONFIG GET</c>, or from <c>INFO memory</c>
    /// where a provider disables or renames <c>CONFIG</c>; <see langword="null"/> when neither
    /// answers it. Connection failures propagate.
    /// </summary>
    public async Task<MaxMemoryPolicy> GetMaxMemoryPolicyAsync()
    {
        string configError;
        try
        {
            var reply = (RedisResult[])(await Db.ExecuteAsync("CONFIG", "GET", "maxmemory-policy").ConfigureAwait(false))!;
            if (reply.Length == 2)
            {
                return new MaxMemoryPolicy((string?)reply[1], null);
            }

            configError = "CONFIG GET maxmemory-policy answered nothing";
        }
        catch (RedisServerException e)
        {
            // ERR unknown command (disabled or renamed by a managed provider), NOPERM (an ACL user).
            configError = e.Message;
        }

        try
        {
            var info = (string?)await Db.ExecuteAsync("INFO", "memory").ConfigureAwait(false) ?? string.Empty;
            foreach (var line in info.Split('\n'))
            {
                if (line.StartsWith("maxmemory_policy:", StringComparison.Ordinal))
                {
                    return new MaxMemoryPolicy(line["maxmemory_policy:".Length..].Trim(), null);
                }
            }

            return new MaxMemoryPolicy(null, $"{configError}; INFO memory has no maxmemory_policy");
        }
        catch (RedisServerException e)
        {
            return new MaxMemoryPolicy(null, $"{configError}; INFO: {e.Message}");
        }
    }
}

/// <summary>What <see cref="JobStore.GetMaxMemoryPolicyAsync"/> found.</summary>
/// <param name="Policy">The policy, or null when the server would not say.</param>
/// <param name="Unreadable">Why the policy could not be read, when it could not.</param>
public sealed record MaxMemoryPolicy(string? Policy, string? Unreadable)
{
    /// <summary>Whether Redis may evict keys at its memory limit (any policy but <c>noeviction</c>).</summary>
    public bool Evicts => Policy is not null && !string.Equals(Policy, JobStore.NoEviction, StringComparison.OrdinalIgnoreCase);
}
