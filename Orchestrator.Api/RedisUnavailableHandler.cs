using Microsoft.AspNetCore.Diagnostics;
using Orchestrator.Jobs;

namespace Orchestrator.Api;

/// <summary>
/// Turns "Redis is unreachable" into 503 problem details with <c>Retry-After</c>, and Kestrel's own
/// request errors into their 4xx, so neither ever surfaces as a 500.
/// </summary>
internal sealed partial class RedisUnavailableHandler(IProblemDetailsService problems, ILogger<RedisUnavailableHandler> logger)
    : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        int status;
        string title, detail;
        // Kestrel's own request errors are not Redis's, even when a broken connection lies beneath.
        var kind = exception is BadHttpRequestException ? RedisFailureKind.None : RedisFailure.Classify(exception);
        switch (exception)
        {
            case not BadHttpRequestException when kind != RedisFailureKind.None:
                LogRedisUnavailable(logger, kind, exception.GetType().Name, exception.Message);
                status = StatusCodes.Status503ServiceUnavailable;
                title = "Job store unavailable";
                // A connection lost mid-command may have run it: for a submission the honest advice is the
                // idempotent retry; a read has no key and changes nothing, so it is simply retried.
                detail = HttpMethods.IsPost(context.Request.Method)
                    ? "The job store (Redis) is not answering. Retry with the same idempotency key: the retry answers for " +
                      "the job if this request created one, and creates it otherwise."
                    : "The job store (Redis) is not answering. Retry after the Retry-After delay.";
                context.Response.Headers.RetryAfter = "1";
                break;
            case BadHttpRequestException bad:
                status = bad.StatusCode;
                title = "Bad request";
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
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis unavailable ({Kind}, {ExceptionType}): {Reason}")]
    private static partial void LogRedisUnavailable(ILogger logger, RedisFailureKind kind, string exceptionType, string reason);
}
