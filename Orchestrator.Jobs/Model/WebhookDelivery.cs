namespace Orchestrator.Jobs;

/// <summary>
/// One webhook delivery: a job's final transition announced to its <c>callbackUrl</c>. Its
/// <see cref="Id"/> is the <c>webhook-id</c> of every try. Times are UTC.
/// </summary>
/// <param name="Type">The event: <c>job.</c> + the final status (<c>job.completed</c>, <c>job.failed</c>, …).</param>
/// <param name="JobStatus">The job's status at the transition.</param>
/// <param name="CompletedAt">When the job became final; the payload's <c>timestamp</c>.</param>
/// <param name="Error">The job's error at the transition, if it failed.</param>
/// <param name="Status"><c>pending</c> (waiting for its next try), <c>delivered</c> (a 2xx came back) or <c>failed</c> (given up).</param>
/// <param name="LastStatusCode">The HTTP status of the last try; 0 when none came (connection refused, timeout).</param>
/// <param name="Tries">The last tries, oldest first.</param>
public sealed record WebhookDelivery(
    string Id,
    string JobId,
    string Url,
    string Type,
    string JobStatus,
    DateTimeOffset CompletedAt,
    JobError? Error,
    DateTimeOffset CreatedAt,
    string Status,
    int Attempts,
    DateTimeOffset? FirstAttemptAt,
    DateTimeOffset? LastAttemptAt,
    int? LastStatusCode,
    string? LastError,
    DateTimeOffset? NextAttemptAt,
    DateTimeOffset? DeliveredAt,
    IReadOnlyList<WebhookTry> Tries);

/// <summary>One try of a webhook delivery.</summary>
/// <param name="StatusCode">The receiver's HTTP status; 0 when no answer came.</param>
/// <param name="Error">Why it did not count as delivered, when no status says it.</param>
public sealed record WebhookTry(DateTimeOffset At, int StatusCode, string? Error);

/// <summary>A webhook delivery leased by <see cref="JobStore.ClaimWebhooksAsync"/>, to be sent by the holder of <see cref="LeaseToken"/>.</summary>
/// <param name="TraceParent">The job's submission span (W3C <c>traceparent</c>), the parent of each try's span; null for a job stored without one.</param>
/// <param name="TraceState">Its W3C <c>tracestate</c>, if any.</param>
/// <param name="Tenant">The job's tenant, by which a worker shares out its sending slots (<c>default</c> for a delivery stored without one).</param>
public sealed record LeasedWebhook(WebhookDelivery Delivery, string LeaseToken, string? TraceParent = null, string? TraceState = null, string Tenant = TenantNames.Default);

/// <summary>What <see cref="JobStore.RecordWebhookAsync"/> recorded: the outcome and, when retrying, the next try's time (Redis's clock).</summary>
public sealed record WebhookRecord(WebhookOutcome Outcome, DateTimeOffset? NextAttemptAt);

/// <summary>How one try of a webhook delivery ended, as <see cref="JobStore.RecordWebhookAsync"/> stores it.</summary>
public enum WebhookOutcome
{
    /// <summary>The receiver answered 2xx: taken out of the outbox.</summary>
    Delivered,

    /// <summary>Another try is due later.</summary>
    Retrying,

    /// <summary>Given up (its retry window is over): taken out of the outbox.</summary>
    Failed,
}
