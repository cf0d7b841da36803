using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.WebUtilities;
using Orchestrator.Api.Auth;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;

namespace Orchestrator.Api;

/// <summary>
/// Turns "Redis is unreachable" into 503 problem details with <c>Retry-After</c>, and Kestrel's own
/// request errors into their 4xx, so neither ever surfaces as a 500.
/// </summary>
internal sealed partial class RedisUnavailableHandler(IProblemDetailsService problems, ILogger<RedisUnavailableHandler> logger, TimeProvider time)
    : IExceptionHandler
{
    // At most one line a second, counting the 503s it stands for.
    private readonly LogThrottle _log = new(time);

    /// <summary><c>type</c> of the 503 answered while Redis does not answer (unreachable, paused, timing out) or refuses for now (not ready, read-only, persistence failing, a right taken away). A contract: unchanged.</summary>
    public const string UnavailableType = "urn:orchestrator:problem:store-unavailable";

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        int status;
        string title, detail;
        string? type = null;
        // Kestrel's own request errors are not Redis's, even when a broken connection lies beneath.
        var kind = exception is BadHttpRequestException ? RedisFailureKind.None : RedisFailure.Classify(exception);
        switch (exception)
        {
            case not BadHttpRequestException when kind != RedisFailureKind.None:
                if (_log.ShouldLog(out var alsoAnswered))
                {
                    using (TenantLogScope.For(context, logger))
                    {
                        if (alsoAnswered == 0)
                        {
                            LogRedisUnavailable(logger, kind, exception.GetType().Name, exception.Message);
                        }
                        else
                        {
                            LogRedisUnavailableAgain(logger, kind, exception.GetType().Name, exception.Message, alsoAnswered);
                        }
                    }
                }

                status = StatusCodes.Status503ServiceUnavailable;
                title = "Job store unavailable";
                type = UnavailableType;
                // A connection lost mid-command may have run it: for a submission the honest advice is the
                // idempotent retry (only POST /jobs has a key), or, sent without one, that a retry may make a
                // second job; a cancel or redrive applied once is not applied again (cancel.lua, redrive.lua),
                // and a read changes nothing, so both are simply retried.
                var state = StateOf(kind);
                detail = IsSubmission(context)
                    ? IdempotencyKeyHeader.Read(context.Request.Headers).Key is not null
                        ? $"{state} Retry with the same idempotency key: the retry answers for " +
                          "the job if this request created one, and creates it otherwise."
                        : $"{state} This request may have created the job: a retry without an " +
                          "idempotency key may create a second one. Send one (x-idempotency-key) to make a retry safe."
                    : HttpMethods.IsPost(context.Request.Method)
                        ? $"{state} Retry the request after the Retry-After delay: a cancel or redrive " +
                          "is safe to send again, as one that took effect is not applied twice (a job's own redrive then answers 409)."
                        : $"{state} Retry after the Retry-After delay.";
                context.Response.Headers.RetryAfter = "1";
                break;
            case BadHttpRequestException bad:
                status = bad.StatusCode;
                title = TitleOf(status);
                detail = bad.Message;
                break;
            default:
                return false;
        }

        context.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails = { Status = status, Title = title, Detail = detail, Type = type },
        });
    }

    /// <summary>
    /// What Redis did, for the detail: a refusal is said as one (TRYAGAIN, CLUSTERDOWN, LOADING,
    /// MASTERDOWN, BUSY, MOVED under a pinned call; READONLY; OOM, MISCONF, NOPERM), not as Redis "not
    /// answering": that sent operators looking for a dead node during a slot migration.
    /// </summary>
    private static string StateOf(RedisFailureKind kind) => kind switch
    {
        RedisFailureKind.NotReady or RedisFailureKind.ReadOnly =>
            "The job store (Redis) answered that it cannot serve this request yet (a failover, a slot being moved, a node loading or busy).",
        RedisFailureKind.OutOfMemory => "The job store (Redis) refuses writes: its memory is full (maxmemory).",
        RedisFailureKind.CannotPersist => "The job store (Redis) refuses writes: it cannot save its data to disk (MISCONF).",
        RedisFailureKind.PermissionDenied =>
            "The job store (Redis) refused this request: the service's Redis user lacks a right it needs (NOPERM), which an operator must grant.",
        _ => "The job store (Redis) is not answering.",
    };

    /// <summary>
    /// The title of Kestrel's refusal by its status, as the API's own problems of that status are
    /// titled: a 413 or 408 is not a "Bad request".
    /// </summary>
    private static string TitleOf(int status) => status switch
    {
        StatusCodes.Status400BadRequest => "Bad request",
        StatusCodes.Status408RequestTimeout => "Request timeout",
        StatusCodes.Status413PayloadTooLarge => RequestBodyLimit.Title,
        StatusCodes.Status431RequestHeaderFieldsTooLarge => RequestHeadersLimit.Title,
        // Any other (411 Length Required, …): its reason phrase, in the API's sentence case.
        _ => ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? ApiProblemDefaults.SentenceCase(phrase) : "Bad request",
    };

    /// <summary>
    /// Whether the failed request is <c>POST /jobs</c>. The exception handler has cleared the request's
    /// endpoint by now; its feature keeps the one that failed.
    /// </summary>
    private static bool IsSubmission(HttpContext context) =>
        context.Features.Get<IExceptionHandlerFeature>()?.Endpoint?.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == JobsApi.SubmitJobName;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis unavailable ({Kind}, {ExceptionType}): {Reason}")]
    private static partial void LogRedisUnavailable(ILogger logger, RedisFailureKind kind, string exceptionType, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis unavailable ({Kind}, {ExceptionType}): {Reason} ({AlsoAnswered} more requests answered 503 since the last such line)")]
    private static partial void LogRedisUnavailableAgain(ILogger logger, RedisFailureKind kind, string exceptionType, string reason, int alsoAnswered);
}
