using Microsoft.AspNetCore.Diagnostics;
using Orchestrator.Api.Auth;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;

namespace Orchestrator.Api;

/// <summary>
/// Turns a submission that <c>Redis:WaitReplicas</c> replicas did not confirm in time into 503
/// problem details with <c>Retry-After</c>: not acknowledged, so not promised to survive a failover.
/// </summary>
internal sealed partial class ReplicasNotConfirmedHandler(IProblemDetailsService problems, ILogger<ReplicasNotConfirmedHandler> logger, TimeProvider time)
    : IExceptionHandler
{
    // At most one line a second, counting the 503s it stands for (every submission of a failover is refused).
    private readonly LogThrottle _log = new(time);

    /// <summary><c>type</c> of the 503 answered when too few replicas confirmed a submission in time.</summary>
    public const string NotReplicatedType = "urn:orchestrator:problem:not-replicated";

    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not ReplicasNotConfirmedException notConfirmed)
        {
            return false;
        }

        if (_log.ShouldLog(out var alsoAnswered))
        {
            using (TenantLogScope.For(context, logger))
            {
                if (alsoAnswered == 0)
                {
                    LogNotConfirmed(logger, notConfirmed.Confirmed, notConfirmed.Required);
                }
                else
                {
                    LogNotConfirmedAgain(logger, notConfirmed.Confirmed, notConfirmed.Required, alsoAnswered);
                }
            }
        }

        context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        context.Response.Headers.RetryAfter = "1";
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            Exception = exception,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Job not replicated",
                Type = NotReplicatedType,
                Detail = $"The job store could not confirm the job on {notConfirmed.Required} replica(s) in time " +
                    $"({notConfirmed.Confirmed} confirmed), so it is not acknowledged. Retry with the same idempotency key: " +
                    "the retry answers for the job if it was created, and creates it otherwise.",
            },
        });
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Submission not acknowledged: {Confirmed} of {Required} replicas confirmed it in time")]
    private static partial void LogNotConfirmed(ILogger logger, long confirmed, int required);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Submission not acknowledged: {Confirmed} of {Required} replicas confirmed it in time ({AlsoAnswered} more submissions answered 503 so since the last such line)")]
    private static partial void LogNotConfirmedAgain(ILogger logger, long confirmed, int required, int alsoAnswered);
}
