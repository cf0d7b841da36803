using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// The counts <c>GET /jobs/counts</c> answers, kept per scope (every tenant's, or one tenant's) for
/// <see cref="MaxAge"/>: a count reads up to 10,000 job statuses, and the jobs page asks for it
/// every second per viewer, so many viewers cost one count per scope per second. Callers arriving
/// while a count runs share it. A failed count is not kept: the next caller counts again.
/// </summary>
internal sealed class JobCountsCache(TimeProvider timeProvider)
{
    /// <summary>The oldest count answered, measured from when it started reading.</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(1);

    // An admin may ask for any tenant name: past this many scopes, expired counts are dropped.
    private const int SweepAbove = 64;

    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The count of <paramref name="tenant"/>'s jobs (every tenant's when null), from <paramref name="count"/> at most <see cref="MaxAge"/> ago.</summary>
    public Task<JobCounts> GetAsync(string? tenant, Func<Task<JobCounts>> count)
    {
        // Tenant names are never empty, so "" is the every-tenant scope.
        var scope = tenant ?? string.Empty;
        var now = timeProvider.GetTimestamp();
        Lazy<Task<JobCounts>> current;
        lock (_gate)
        {
            if (_entries.TryGetValue(scope, out var entry) && Usable(entry, now))
            {
                current = entry.Count;
            }
            else
            {
                if (_entries.Count >= SweepAbove)
                {
                    foreach (var (key, old) in _entries.Where(e => !Usable(e.Value, now)).ToList())
                    {
                        _entries.Remove(key);
                    }
                }

                current = new Lazy<Task<JobCounts>>(count);
                _entries[scope] = new Entry(current, now);
            }
        }

        // Started outside the lock, once (Lazy): the count's first Redis call is not made under it.
        return current.Value;
    }

    private bool Usable(Entry entry, long now)
    {
        if (!entry.Count.IsValueCreated || !entry.Count.Value.IsCompleted)
        {
            return true;
        }

        return entry.Count.Value.IsCompletedSuccessfully && timeProvider.GetElapsedTime(entry.StartedAt, now) < MaxAge;
    }

    private sealed record Entry(Lazy<Task<JobCounts>> Count, long StartedAt);
}
