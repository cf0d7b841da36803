namespace Orchestrator.Api.Jobs;

/// <summary>
/// The problem details <c>POST /jobs</c> answers when the store has no room: their <c>type</c>
/// URIs (stable, for clients to branch on) and how long a client should wait before it re-sends.
/// </summary>
internal static class SubmitProblems
{
    /// <summary><c>type</c> of the 503 answered when Redis is at its memory limit.</summary>
    public const string StorageFullType = "urn:orchestrator:problem:storage-full";

    /// <summary><c>type</c> of the 429 answered when <c>Api:MaxQueuedJobs</c> jobs are not yet final.</summary>
    public const string QueueFullType = "urn:orchestrator:problem:queue-full";

    /// <summary><c>Retry-After</c> of both, in seconds: room comes back as workers finish jobs or an operator adds memory.</summary>
    public const int RetryAfterSeconds = 5;

    public static IResult StorageFull(HttpContext context)
    {
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Problem(
            "The job store (Redis) is at its memory limit and accepts no new jobs; nothing was stored. " +
            "Retry later with the same idempotency key. Operators: raise Redis's maxmemory (Redis:MaxMemory in the AppHost) " +
            "or shorten Api:JobRetention.",
            statusCode: StatusCodes.Status503ServiceUnavailable,
            title: "Job store full",
            type: StorageFullType);
    }

    public static IResult QueueFull(HttpContext context, long queued, int limit)
    {
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return TypedResults.Problem(
            $"{queued:N0} jobs are waiting or running; the limit is {limit:N0} (Api:MaxQueuedJobs). Nothing was stored. " +
            "Retry later with the same idempotency key.",
            statusCode: StatusCodes.Status429TooManyRequests,
            title: "Too many jobs queued",
            type: QueueFullType);
    }
}
