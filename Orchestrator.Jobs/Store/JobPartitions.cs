using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Orchestrator.Jobs;

/// <summary>
/// Which partition (<c>Jobs:Partitions</c>, issue 18) a job, an idempotency key or a tenant's
/// counter belongs to. A job's partition is a function of its id alone — FNV-1a (32 bits) of the
/// id's characters, mod N — so any process finds a job's keys from its id, and an id is drawn until
/// it lands in the partition chosen for it (N draws on average). The id keeps its public shape
/// (<see cref="JobIds"/>). With N = 1 every id is in partition 0.
/// </summary>
public static class JobPartitions
{
    /// <summary>Most partitions allowed: each is a slot with its own stream, sets and scripts' work.</summary>
    public const int Max = 1024;

    /// <summary>The partition of <paramref name="jobId"/> among <paramref name="count"/>.</summary>
    public static int Of(string jobId, int count) => count == 1 ? 0 : (int)(Fnv1a(jobId, 0, jobId.Length) % (uint)count);

    /// <summary>
    /// The partition of an idempotency key of <paramref name="tenant"/>: the job the key creates is
    /// drawn into it, so the key's hash and the job share one slot and submit stays one script.
    /// </summary>
    public static int OfIdempotencyKey(string tenant, string key, int count)
    {
        if (count == 1)
        {
            return 0;
        }

        // The tenant holds no ':' (TenantNames), so "tenant:key" names the pair unambiguously.
        var hash = Fnv1a(tenant, 0, tenant.Length);
        hash = Step(hash, ':');
        hash = Fnv1a(key, 0, key.Length, hash);
        return (int)(hash % (uint)count);
    }

    /// <summary>A new random job id in <paramref name="partition"/> of <paramref name="count"/>.</summary>
    public static string NewJobId(int partition, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(partition);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(partition, count);
        while (true)
        {
            var id = JobIds.New();
            if (Of(id, count) == partition)
            {
                return id;
            }
        }
    }

    private const uint Offset = 2166136261;
    private const uint Prime = 16777619;

    private static uint Fnv1a(string text, int start, int length, uint hash = Offset)
    {
        for (var i = start; i < start + length; i++)
        {
            hash = Step(hash, text[i]);
        }

        return hash;
    }

    // Per UTF-16 code unit, low byte then high byte: ids and tenants are ASCII, so this is FNV-1a of the bytes.
    private static uint Step(uint hash, char c)
    {
        hash = (hash ^ (byte)c) * Prime;
        return c > 0xFF ? (hash ^ (byte)(c >> 8)) * Prime : hash;
    }
}

/// <summary>The <c>Jobs</c> section: how the job system is laid out in Redis.</summary>
public sealed class JobsOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Jobs";

    /// <summary>
    /// Partitions of the job system (default 1: every key under the one hash tag <c>{orch}</c>, one
    /// slot). With N &gt; 1 each partition's keys carry <c>{orch:0}</c> … <c>{orch:N-1}</c>, so a
    /// Redis Cluster spreads them over its masters. Recorded in <c>{orch}:meta</c>: a service
    /// configured with another N than the data's refuses to start.
    /// </summary>
    [Range(1, JobPartitions.Max)]
    public int Partitions { get; set; } = 1;
}

/// <summary>Binds and validates <see cref="JobsOptions"/>.</summary>
public static class JobsOptionsExtensions
{
    /// <summary>
    /// Binds <see cref="JobsOptions"/> from <c>Jobs</c> when there is a configuration (a bare service
    /// collection, a test's, gets the default). The services validate it at start with the other
    /// options (<c>AddValidatedOptions</c>), so a bad value is reported by its key.
    /// </summary>
    public static IServiceCollection AddJobsOptions(this IServiceCollection services)
    {
        services.AddOptions<JobsOptions>()
            .Configure<IServiceProvider>(static (options, services) => services.GetService<IConfiguration>()?.GetSection(JobsOptions.Section).Bind(options));
        return services;
    }
}
