using Microsoft.AspNetCore.Diagnostics;
using StackExchange.Redis;

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
        switch (exception)
        {
            case RedisConnectionException or RedisTimeoutException:
                LogRedisUnavailable(logger, exception.GetType().Name, exception.Message);
                status = StatusCodes.Status503ServiceUnavailable;
                title = "Job store unavailable";
                detail = "The job store (Redis) is not answering. Nothing was recorded; retry with the same idempotency key.";
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

    [LoggerMessage(Level = LogLevel.Warning, Message = "Redis unavailable ({ExceptionType}): {Reason}")]
    private static partial void LogRedisUnavailable(ILogger logger, string exceptionType, string reason);
}
