namespace Orchestrator.ServiceDefaults;

/// <summary>Span attribute names the API and the Worker put on job spans.</summary>
public static class OrchestratorTags
{
    /// <summary>The job's id.</summary>
    public const string JobId = "orchestrator.job.id";

    /// <summary>
    /// The tenant a request acts for, or a job belongs to: on request and attempt spans, on the
    /// job metrics, and on log scopes. Tenants are configured (<c>Tenants:{tenant}</c>), so the
    /// tag's cardinality is bounded by configuration.
    /// </summary>
    public const string Tenant = "orchestrator.tenant";

    /// <summary>True on a submission answered from an idempotency key (no new job was created).</summary>
    public const string IdempotentReplay = "orchestrator.idempotent_replay";

    /// <summary>
    /// The tenant quota that refused a submission (<c>MaxQueuedJobs</c>, <c>RequestsPerMinute</c>):
    /// on the request span and on <c>orchestrator.jobs.quota_refusals</c>.
    /// </summary>
    public const string Quota = "orchestrator.quota";

    /// <summary>The attempt number, 1-based, never reset across workers.</summary>
    public const string Attempt = "orchestrator.attempt";

    /// <summary>The job's attempt limit (<c>Retry:MaxAttempts</c>).</summary>
    public const string MaxAttempts = "orchestrator.max_attempts";

    /// <summary>How the attempt ended: succeeded, transient-failure, permanent-failure, timeout.</summary>
    public const string Outcome = "orchestrator.attempt.outcome";

    /// <summary>The delay chosen before the next attempt, in ms (absent when no retry follows).</summary>
    public const string RetryDelayMs = "orchestrator.retry.delay_ms";

    /// <summary>Whether the job was reclaimed from a worker whose lease lapsed.</summary>
    public const string Reclaimed = "orchestrator.job.reclaimed";

    /// <summary>
    /// How many attempt outcomes were committed to Redis in the same call as this one (present when
    /// more than one; a lone outcome's write is a child span of its attempt instead).
    /// </summary>
    public const string OutcomeBatchSize = "orchestrator.outcome.batch_size";

    /// <summary>
    /// On a submission's request span: how many submissions were written to Redis in the same
    /// round trip (only when more than one; a lone submission's write is a child span of its request).
    /// </summary>
    public const string SubmitBatchSize = "orchestrator.submit.batch_size";

    /// <summary>
    /// On an attempt span: how many attempts' streamed text was appended to their events in the same
    /// Redis call as this attempt's last one (only when more than one).
    /// </summary>
    public const string DeltaBatchSize = "orchestrator.delta.batch_size";

    /// <summary>
    /// On the attempt span: how many LLM calls' flow-control reservations went to Redis in the same
    /// <c>reserve.lua</c> call as this attempt's (only when more than one).
    /// </summary>
    public const string ReserveBatchSize = "orchestrator.reserve.batch_size";

    /// <summary>On <c>orchestrator.worker.loop.faults</c>: the worker loop that met the fault (fetch, reclaim, claim, lease, outcome, stats).</summary>
    public const string Loop = "orchestrator.worker.loop";

    /// <summary>
    /// On <c>orchestrator.webhooks.deliveries</c>: how a webhook try ended: <c>delivered</c> (a 2xx),
    /// <c>retry</c> (no 2xx; another try is due), <c>failed</c> (no 2xx and the retry window is over: given up).
    /// </summary>
    public const string WebhookOutcome = "orchestrator.webhook.outcome";

    /// <summary>On a webhook try's span: the delivery's id (its <c>webhook-id</c> header, the same on every try).</summary>
    public const string WebhookId = "orchestrator.webhook.id";

    /// <summary>On a webhook try's span: which try of the delivery it is (1, 2, …).</summary>
    public const string WebhookTry = "orchestrator.webhook.try";

    /// <summary>OpenTelemetry's standard error type attribute.</summary>
    public const string ErrorType = "error.type";
}
