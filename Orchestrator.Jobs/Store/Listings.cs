namespace Orchestrator.Jobs;

/// <summary>One page of dead-lettered jobs, newest first.</summary>
/// <param name="NextCursor">Pass back to get the next page; null on the last page.</param>
public sealed record DeadLetterPage(IReadOnlyList<Job> Items, string? NextCursor);

/// <summary>The size of the queue, for gauges and operators.</summary>
/// <param name="StreamLength">Entries in the jobs stream: jobs dispatched to a worker and not yet final.</param>
/// <param name="Pending">Entries delivered to a worker and not yet finished.</param>
/// <param name="DeadLetters">Jobs in the dead-letter list.</param>
/// <param name="Delayed">Jobs waiting in the delayed set (a retry delay or a deployment wait), not in the stream.</param>
/// <param name="Ready">Jobs waiting in the tenants' ready sets for a worker to dispatch them, not in the stream.</param>
public sealed record QueueStats(long StreamLength, long Pending, long DeadLetters, long Delayed = 0, long Ready = 0)
{
    /// <summary>Jobs not yet final: ready, dispatched (in the stream) or delayed.</summary>
    public long Unfinished => StreamLength + Delayed + Ready;
}
