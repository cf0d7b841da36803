using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Resilience;

namespace Orchestrator.Worker.Telemetry;

/// <summary>The worker's log messages; job lines carry JobId and Attempt as structured properties.</summary>
internal static partial class WorkerLog
{
    /// <summary>The scope every line about <paramref name="job"/> is written in: it carries the job's tenant (<see cref="OrchestratorTags.Tenant"/>).</summary>
    public static IDisposable? JobScope(ILogger logger, Job job) => TenantScope(logger, job.Tenant);

    /// <summary>The scope every line about a job of <paramref name="tenant"/> is written in (<see cref="JobScope"/>; a webhook try's too).</summary>
    public static IDisposable? TenantScope(ILogger logger, string tenant) =>
        logger.BeginScope(new ServiceDefaults.TenantScope(tenant));

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Consumer} started: concurrency {Concurrency}, lease {LeaseTimeout}")]
    public static partial void Started(ILogger logger, string consumer, int concurrency, TimeSpan leaseTimeout);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {Consumer} draining: {InFlight} job(s) in flight")]
    public static partial void Draining(ILogger logger, string consumer, int inFlight);

    // Redis down, frozen or failing over is expected and waited out: the line names the failure as the
    // API's and the redis pipeline's do, kind, type and message. Its stack trace (with the client's
    // inner exception, ~20 lines) came from every loop at every tick of an outage; it is kept for an
    // exception that is not a transient Redis failure, a bug.
    /// <summary>A Redis call of <paramref name="operation"/> failed; the loop tries again after <paramref name="delay"/>.</summary>
    public static void RedisUnavailable(ILogger logger, string operation, TimeSpan delay, Exception exception)
    {
        var kind = RedisFailure.Classify(exception);
        LogRedisUnavailable(logger, operation, kind, exception.GetType().Name, delay, exception.Message, StackWorthy(kind, exception));
    }

    /// <summary>As <see cref="RedisUnavailable"/>, in one job's step (deferral, hand-back); the hand-back runs outside any span.</summary>
    public static void RedisUnavailableForJob(ILogger logger, string operation, string jobId, int attempt, TimeSpan delay, string? submissionTraceId, Exception exception)
    {
        var kind = RedisFailure.Classify(exception);
        LogRedisUnavailableForJob(logger, operation, jobId, attempt, kind, exception.GetType().Name, delay, submissionTraceId, exception.Message,
            StackWorthy(kind, exception));
    }

    /// <summary>The exception to log with a Redis failure line: none when <paramref name="kind"/> names a Redis failure (the line says it), itself for a bug.</summary>
    public static Exception? StackWorthy(RedisFailureKind kind, Exception exception) => kind == RedisFailureKind.None ? exception : null;

    // EventName: the event id (a hash of the name) stays what it was before these lines named the failure.
    [LoggerMessage(EventName = nameof(RedisUnavailable), Level = LogLevel.Warning,
        Message = "Redis unavailable in {Operation} ({Kind}, {ExceptionType}); retrying in {Delay}: {Reason}")]
    private static partial void LogRedisUnavailable(
        ILogger logger, string operation, RedisFailureKind kind, string exceptionType, TimeSpan delay, string reason, Exception? exception);

    [LoggerMessage(EventName = nameof(RedisUnavailableForJob), Level = LogLevel.Warning,
        Message = "Redis unavailable in {Operation} of job {JobId} attempt {Attempt} ({Kind}, {ExceptionType}); retrying in {Delay} (submission trace {SubmissionTraceId}): {Reason}")]
    private static partial void LogRedisUnavailableForJob(
        ILogger logger, string operation, string jobId, int attempt, RedisFailureKind kind, string exceptionType, TimeSpan delay, string? submissionTraceId,
        string reason, Exception? exception);

    // Logged outside any attempt span, so the submission's trace id is carried explicitly.
    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} reclaimed from a lapsed lease (attempts so far {Attempt}, submission trace {SubmissionTraceId})")]
    public static partial void Reclaimed(ILogger logger, string jobId, int attempt, string? submissionTraceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Redis stalled: lapsed leases are left to their owners' renewals (every {RenewalPeriod}) for {Hold} before this worker reclaims any")]
    public static partial void ReclaimHeld(ILogger logger, TimeSpan hold, TimeSpan renewalPeriod);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} taken up after a worker handed it back at shutdown (attempts so far {Attempt}, submission trace {SubmissionTraceId})")]
    public static partial void TakenUpAfterHandBack(ILogger logger, string jobId, int attempt, string? submissionTraceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} canceled during attempt {Attempt}; the LLM call was aborted")]
    public static partial void Canceled(ILogger logger, string jobId, int attempt);

    // The attempt's failure was recorded as the job's end: a client had canceled it meanwhile.
    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} failed ({Outcome}) after a client canceled the job: canceled, no further attempt")]
    public static partial void CanceledInsteadOfRetry(ILogger logger, string jobId, int attempt, string outcome);

    // Outside any span (the claim starts none): the submission's trace id is carried explicitly.
    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} canceled when claimed after {Attempt} attempt(s): a client canceled it while its worker was lost (submission trace {SubmissionTraceId})")]
    public static partial void CanceledOnClaim(ILogger logger, string jobId, int attempt, string? submissionTraceId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {JobId} attempt {Attempt} started")]
    public static partial void AttemptStarted(ILogger logger, string jobId, int attempt);

    // Debug: success is the common case, counted by orchestrator.jobs.completed and shown by the
    // attempt's span; a line per success is a measurable share of the worker's CPU per job
    // (docs/performance.md, "Settings chosen by measurement").
    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {JobId} completed on attempt {Attempt}")]
    public static partial void Completed(ILogger logger, string jobId, int attempt);

    // A retried failure is expected (a provider's 503, a timeout): the classified error says what
    // happened; a stack trace comes only with an unexpected one (a bug). Rendering it for every
    // failed attempt was ~37 % of the worker's CPU on S4's retry path.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} failed ({Outcome}, {ErrorType}: {ErrorMessage}); retrying in {RetryDelay}")]
    public static partial void Retrying(ILogger logger, string jobId, int attempt, string outcome, string errorType, string errorMessage, TimeSpan retryDelay, Exception? exception);

    // Debug: a busy limited tenant's retries meet it all the time (every retry of a tenant at its limit).
    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {JobId} is held for tenant {Tenant}'s MaxConcurrency permits: back to its tenant's ready set, to be dispatched with a permit, holding no slot meanwhile")]
    public static partial void RequeuedHeld(ILogger logger, string jobId, string tenant);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} canceled before attempt {Attempt}'s call: a client canceled it while the attempt waited for deployment {Provider} ({Reason}); the attempt was taken back")]
    public static partial void CanceledWhileWaiting(ILogger logger, string jobId, int attempt, string provider, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} deferred, not spent: deployment {Provider} {Reason}; the job waits {Wait} in the delayed set")]
    public static partial void Deferred(ILogger logger, string jobId, int attempt, string provider, string reason, TimeSpan wait);

    // As Retrying: the stored error (keys redacted), a stack trace only with an unexpected one. The
    // exception itself would print the provider's text unredacted (its message, the SDK's inner one).
    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} failed on attempt {Attempt} ({Outcome}, {ErrorType}: {ErrorMessage}) and was dead-lettered")]
    public static partial void DeadLettered(ILogger logger, string jobId, int attempt, string outcome, string errorType, string errorMessage, Exception? exception);

    // Outside any span (the claim starts none): the submission's trace id is carried explicitly.
    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} dead-lettered when claimed after {Attempt} attempt(s): attempts or deliveries exhausted (submission trace {SubmissionTraceId})")]
    public static partial void DeadLetteredOnClaim(ILogger logger, string jobId, int attempt, string? submissionTraceId);

    // The job could not be read, so neither its attempt nor its trace is known.
    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} set aside as corrupt when claimed (failed, dead-lettered): {Reason}")]
    public static partial void SetAsideOnClaim(ILogger logger, string jobId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} attempt {Attempt} set aside as corrupt (failed, dead-lettered): {Reason}")]
    public static partial void SetAside(ILogger logger, string jobId, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt}: lease lost to another worker (or the job is gone from Redis); this worker's result is discarded")]
    public static partial void LeaseLost(ILogger logger, string jobId, int attempt);

    // Found by the lease loop, outside any span: the submission's trace id is carried explicitly.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt}: lease lost to another worker at renewal (or the job is gone from Redis); this worker's result is discarded (submission trace {SubmissionTraceId})")]
    public static partial void LeaseLostAtRenewal(ILogger logger, string jobId, int attempt, string? submissionTraceId);

    // Logged outside any span (the cancel channel's callback, the lease loop): the submission's trace id is carried explicitly.
    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} canceled by a client; aborting attempt {Attempt} (heard {How}; submission trace {SubmissionTraceId})")]
    public static partial void CancelingForClient(ILogger logger, string jobId, int attempt, string how, string? submissionTraceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {JobId} handed back at shutdown after attempt {Attempt} (submission trace {SubmissionTraceId})")]
    public static partial void Released(ILogger logger, string jobId, int attempt, string? submissionTraceId);

    // The host's shutdown timeout ended during the call; release.lua closed the attempt as 'released'.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} handed back at shutdown; attempt {Attempt} was cut off (in its call, or waiting for its deployment) and is not counted (submission trace {SubmissionTraceId})")]
    public static partial void ReleasedMidAttempt(ILogger logger, string jobId, int attempt, string? submissionTraceId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Delivery of job {JobId} skipped: {Reason}")]
    public static partial void Skipped(ILogger logger, string jobId, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {JobId} attempt {Attempt}: unexpected error in the worker (submission trace {SubmissionTraceId})")]
    public static partial void Unexpected(ILogger logger, string jobId, int attempt, string? submissionTraceId, Exception exception);
}
