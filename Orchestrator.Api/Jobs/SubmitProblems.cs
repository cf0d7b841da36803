using Microsoft.AspNetCore.Http.HttpResults;
using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// The problem details <c>POST /jobs</c> (and a redrive) answers when the store has no room: their
/// <c>type</c> URIs (stable, for clients to branch on) and how long a client should wait before it
/// re-sends. <c>keyed</c>: whether the request carried an idempotency key; only then is the client
/// told to re-send with it (a redrive takes none).
/// </summary>
internal static class SubmitProblems
{
    /// <summary><c>type</c> of the 503 answered when Redis is at its memory limit.</summary>
    public const string StorageFullType = "urn:orchestrator:problem:storage-full";

    /// <summary><c>type</c> of the 429 answered when <c>Api:MaxQueuedJobs</c> jobs are not yet final.</summary>
    public const string QueueFullType = "urn:orchestrator:problem:queue-full";

    /// <summary>
    /// <c>type</c> of the 429 answered when a quota of the caller's tenant is used up
    /// (<c>Tenants:{tenant}:MaxQueuedJobs</c> or <c>:RequestsPerMinute</c>, <c>Api:ReadsPerSecondPerTenant</c>
    /// or <c>Api:MaxConcurrentWaitsPerTenant</c>); the extension member <c>quota</c> names it, <c>limit</c>
    /// gives its value.
    /// </summary>
    public const string QuotaExceededType = "urn:orchestrator:problem:quota-exceeded";

    /// <summary><c>Retry-After</c> of both, in seconds: room comes back as workers finish jobs or an operator adds memory.</summary>
    public const int RetryAfterSeconds = 5;

    public static IResult StorageFull(HttpContext context, bool keyed)
    {
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Problem(
            "The job store (Redis) is at its memory limit and accepts no new jobs; nothing was stored. " +
            RetryLater(keyed) + " Operators: raise Redis's maxmemory (Redis:MaxMemory in the AppHost) " +
            "or shorten Api:JobRetention (for jobs submitted from then on).",
            statusCode: StatusCodes.Status503ServiceUnavailable,
            title: "Job store full",
            type: StorageFullType);
    }

    /// <summary>
    /// 429 for the backlog bound. <paramref name="queued"/> is what the refusing script counted: with
    /// <paramref name="partitions"/> N &gt; 1, one partition's jobs against its share ⌈limit / N⌉.
    /// </summary>
    public static IResult QueueFull(HttpContext context, bool keyed, long queued, int limit, int partitions = 1)
    {
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var counted = partitions == 1
            ? $"{queued:N0} jobs are waiting or running; the limit is {limit:N0} (Api:MaxQueuedJobs)."
            : $"{queued:N0} jobs are waiting or running in this job's partition; each of the {partitions:N0} partitions " +
              $"holds at most {(limit + partitions - 1) / partitions:N0} (Api:MaxQueuedJobs {limit:N0} over Jobs:Partitions {partitions:N0}).";
        return TypedResults.Problem(
            counted + " Nothing was stored. " + RetryLater(keyed),
            statusCode: StatusCodes.Status429TooManyRequests,
            title: "Too many jobs queued",
            type: QueueFullType);
    }

    /// <summary>
    /// 429 for a tenant's quota, with <c>Retry-After</c> from the quota's state in Redis: the rate
    /// limit's own wait (GCRA), or for the backlog the tenant's recent interval between jobs reaching
    /// a final state (when room is expected back), in whole seconds, at least 1.
    /// </summary>
    public static IResult QuotaExceeded(HttpContext context, bool keyed, string tenant, QuotaRefusal refusal)
    {
        var seconds = WholeSeconds(refusal.RetryAfter);
        var withKey = keyed ? " with the same idempotency key" : "";
        var detail = refusal.Name == QuotaRefusal.RequestsPerMinute
            ? $"Tenant '{tenant}' may submit {refusal.Limit:N0} jobs per minute (Tenants:{tenant}:RequestsPerMinute). Nothing was stored. " +
              $"Retry after {seconds} s{withKey}."
            : $"Tenant '{tenant}' has {refusal.Limit:N0} jobs waiting or running, its limit (Tenants:{tenant}:MaxQueuedJobs). Nothing was stored. " +
              $"Retry once some of them have finished (expected in about {seconds} s){withKey}.";
        return TenantQuotaExceeded(context, detail, refusal.Name, refusal.Limit, seconds);
    }

    /// <summary>
    /// The 429 <see cref="QuotaExceededType"/> of every tenant quota (the submission's, and the API
    /// process's limits on a tenant's reads and waits): <c>quota</c> names it, <c>limit</c> gives its
    /// value, <c>Retry-After</c> is <paramref name="retryAfterSeconds"/>.
    /// </summary>
    public static ProblemHttpResult TenantQuotaExceeded(HttpContext context, string detail, string quota, long limit, long retryAfterSeconds)
    {
        context.Response.Headers.RetryAfter = retryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Problem(
            detail,
            statusCode: StatusCodes.Status429TooManyRequests,
            title: "Tenant quota exceeded",
            type: QuotaExceededType,
            extensions: new Dictionary<string, object?> { ["quota"] = quota, ["limit"] = limit });
    }

    /// <summary>A wait as <c>Retry-After</c> gives it: whole seconds, rounded up, at least 1.</summary>
    public static long WholeSeconds(TimeSpan wait) => Math.Max(1, (long)Math.Ceiling(wait.TotalSeconds));

    private static string RetryLater(bool keyed) => keyed ? "Retry later with the same idempotency key." : "Retry later.";
}
