using System.Text.Json;

namespace Orchestrator.Jobs;

/// <summary>
/// What the scripts that start attempts need to enforce <see cref="TenantQuotas.MaxConcurrency"/>:
/// every tenant's limit (as the JSON object <c>claim.lua</c> and <c>start-attempt.lua</c> read) and
/// the lease of a permit (the worker's <c>Worker:LeaseTimeout</c>: a permit lapses with the job's
/// lease when its worker dies). Layout: docs/design/job-store.md "Tenant concurrency permits".
/// </summary>
public sealed class TenantPermits
{
    /// <summary>
    /// How long a job whose tenant's permits are all taken waits before asking again. Permits come
    /// back when attempts end, at no predictable time, so the job polls; the wait bounds how late
    /// after a permit's return the next job starts.
    /// </summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(200);

    /// <summary>No tenant has a limit.</summary>
    public static readonly TenantPermits None = new(new Dictionary<string, int>(), TimeSpan.FromSeconds(30));

    /// <summary>The limits of <paramref name="limits"/>' tenants; permits leased for <paramref name="lease"/>.</summary>
    public TenantPermits(IReadOnlyDictionary<string, int> limits, TimeSpan lease)
    {
        LimitsJson = limits.Count == 0 ? string.Empty : JsonSerializer.Serialize(limits, JobsJsonContext.Default.IReadOnlyDictionaryStringInt32);
        LeaseMs = (long)lease.TotalMilliseconds;
    }

    /// <summary>The tenants' limits from the configured quotas.</summary>
    public static TenantPermits From(TenantQuotaOptions options, TimeSpan lease) =>
        new(options.Tenants.Where(t => t.Value.MaxConcurrency is not null).ToDictionary(t => t.Key, t => t.Value.MaxConcurrency!.Value, StringComparer.Ordinal), lease);

    /// <summary><c>{"tenant": MaxConcurrency, …}</c>, empty when no tenant has a limit.</summary>
    public string LimitsJson { get; }

    /// <summary>The lease of a permit, ms.</summary>
    public long LeaseMs { get; }
}
