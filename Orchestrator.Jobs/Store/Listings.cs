namespace Orchestrator.Jobs;

/// <summary>One page of dead-lettered jobs, newest first.</summary>
/// <param name="NextCursor">Pass back to get the next page; null on the last page.</param>
public sealed record DeadLetterPage(IReadOnlyList<Job> Items, string? NextCursor);

/// <summary>The size of the queue, for gauges and operators.</summary>
/// <param name="StreamLength">Entries in the jobs stream: queued plus in progress.</param>
/// <param name="Pending">Entries delivered to a worker and not yet finished.</param>
/// <param name="DeadLetters">Jobs in the dead-letter list.</param>
/// <param name="Delayed">Jobs waiting in the delayed set (a retry delay or a deployment wait), not in the stream.</param>
public sealed record QueueStats(long StreamLength, long Pending, long DeadLetters, long Delayed = 0);
