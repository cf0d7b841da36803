namespace Orchestrator.Jobs;

/// <summary>What <see cref="JobStore.CancelAsync"/> did.</summary>
public enum CancelOutcome
{
    /// <summary>No such job (or it expired).</summary>
    Missing,

    /// <summary>The job is canceled (now, or by an earlier request).</summary>
    Canceled,

    /// <summary>The job is processing: the worker running it was told to abort the call.</summary>
    Requested,

    /// <summary>The job had already completed or failed; nothing changed.</summary>
    AlreadyFinal,
}

/// <summary>What <see cref="JobStore.RedriveAsync"/> did to one job.</summary>
public enum RedriveOutcome
{
    /// <summary>The job is queued again with a fresh attempt budget.</summary>
    Redriven,

    /// <summary>No such job (or it expired).</summary>
    Missing,

    /// <summary>The job is not failed (already redriven, or never dead-lettered): nothing changed.</summary>
    NotDead,

    /// <summary>The job failed, but not with the filter's error type or within its time range.</summary>
    Skipped,

    /// <summary>The backlog bound was reached: nothing written.</summary>
    QueueFull,

    /// <summary>Redis refused the write at its memory limit: nothing written.</summary>
    StorageFull,

    /// <summary>The job has run the most attempts one job may run in all, across its redrives: nothing written.</summary>
    AttemptsSpent,
}

/// <summary>Which dead letters <see cref="JobStore.RedriveAsync"/> may redrive; null members match anything.</summary>
/// <param name="ErrorType">The error type the job failed with (<c>error.type</c>).</param>
/// <param name="From">Dead-lettered at or after this instant.</param>
/// <param name="To">Dead-lettered at or before this instant.</param>
public sealed record RedriveFilter(string? ErrorType = null, DateTimeOffset? From = null, DateTimeOffset? To = null)
{
    /// <summary>Matches every dead letter.</summary>
    public static readonly RedriveFilter Any = new();
}

/// <summary>A read of a job's events (<see cref="JobStore.TryReadEventPageAsync"/>).</summary>
/// <param name="Events">The events read, in order.</param>
/// <param name="More">Whether the read stopped at its count or its bound with events left: read on at once.</param>
public sealed record EventPage(IReadOnlyList<JobEvent> Events, bool More)
{
    /// <summary>No event, none left: wait for the next.</summary>
    public static readonly EventPage None = new([], More: false);
}

/// <summary>One of the job's events (<see cref="RedisKeys.Events"/>), as stored.</summary>
/// <param name="Id">The event's number (a stream entry id for a job whose events began in a stream): its SSE id, and where a reader resumes.</param>
/// <param name="Type"><c>status</c>, <c>delta</c> or <c>done</c>.</param>
/// <param name="Status">The job's status (<c>status</c>, <c>done</c>).</param>
/// <param name="Attempt">The attempt (<c>status</c>: the job's attempts so far; <c>delta</c>: the attempt streaming).</param>
/// <param name="At">When (<c>status</c>).</param>
/// <param name="Text">The streamed text (<c>delta</c>).</param>
public sealed record JobEvent(string Id, string Type, string? Status, int? Attempt, DateTimeOffset? At, string? Text)
{
    /// <summary>The event that ends a job's stream: the job is final.</summary>
    public const string Done = "done";

    /// <summary>A status transition.</summary>
    public const string StatusType = "status";

    /// <summary>Text streamed by the provider.</summary>
    public const string Delta = "delta";
}
