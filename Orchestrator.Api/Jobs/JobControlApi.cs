using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;
using Orchestrator.Api.Auth;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Api.Jobs;

/// <summary>Cancelling a job, and redriving dead letters (issue 19).</summary>
public static class JobControlApi
{
    /// <summary>Largest <c>limit</c> of <c>POST /dead-letters/redrive</c>.</summary>
    internal const int RedriveLimit = 1000;

    /// <summary>The <c>limit</c> of <c>POST /dead-letters/redrive</c> when none is given.</summary>
    internal const int RedriveDefault = 100;

    /// <summary>Dead letters one <c>POST /dead-letters/redrive</c> looks at, at most (matching or not): the call's work is bounded.</summary>
    internal const int RedriveScanLimit = 10_000;

    /// <summary><c>type</c> of the 409 answered for a job that is already final (cancel) or not a dead letter (redrive).</summary>
    internal const string ConflictType = "urn:orchestrator:problem:job-state";

    /// <summary>Maps <c>POST /jobs/{jobId}/cancel</c>, <c>POST /dead-letters/{jobId}/redrive</c> and <c>POST /dead-letters/redrive</c>.</summary>
    public static IEndpointRouteBuilder MapJobControlApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/jobs/{jobId}/cancel", CancelAsync)
            .WithTags("Jobs")
            .RequireAuthorization()
            .WithName("CancelJob")
            .WithSummary("Cancels a job: a queued or retrying job is canceled at once (200); a processing job's LLM call is aborted by its worker " +
                "and the answer waits for it (200, or 202 if it takes longer than Api:CancelWait); a completed or failed job → 409. Idempotent.")
            .Produces<JobResource>(StatusCodes.Status200OK)
            .Produces<JobResource>(StatusCodes.Status202Accepted)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        app.MapPost("/dead-letters/{jobId}/redrive", RedriveOneAsync)
            .WithTags("Jobs")
            .RequireAuthorization()
            .WithName("RedriveDeadLetter")
            .WithSummary("Sends a failed job back to queued with a fresh attempt budget; its history is kept and new attempts are appended. " +
                "409 when the job is not failed (also when it was redriven already).")
            .Produces<JobResource>(StatusCodes.Status200OK)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        app.MapPost("/dead-letters/redrive", RedriveManyAsync)
            .WithTags("Jobs")
            .RequireAuthorization()
            .WithName("RedriveDeadLetters")
            .WithSummary("Redrives the caller's tenant's dead letters that match a filter (error type, dead-lettered from/to), oldest first, " +
                "at most 'limit' (1 to 1,000) per call; an admin key redrives every tenant's, or one with 'tenant'. " +
                "Sent again, it redrives nothing twice; 'more' says whether another call may find more.")
            // Read by RedriveFilterReader, not bound: the body is optional.
            .Accepts(typeof(RedriveRequest), isOptional: true, "application/json")
            .Produces<RedriveResultResource>(StatusCodes.Status200OK)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            // Kestrel's, for a body that stops arriving (fewer bytes than its Content-Length, or too slowly).
            .ProducesProblem(StatusCodes.Status408RequestTimeout)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            // Routing answers it for a body that is not JSON (.Accepts above), RedriveFilterReader for one not in UTF-8.
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge)
            .ProducesProblem(StatusCodes.Status501NotImplemented)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    internal static async Task<IResult> CancelAsync(
        string jobId, HttpContext context, JobStore store, JobNotifications notifications, OrchestratorMetrics metrics,
        IOptions<ApiOptions> options, TimeProvider timeProvider)
    {
        if (await JobsApi.VisibleJobAsync(jobId, store, context.User) is null)
        {
            return JobsApi.JobNotFound();
        }

        // Listening before the cancel: the worker's 'canceled' cannot come before the wait begins.
        // No place to wait (either limit): answered at once, the cancel requested all the same.
        using var listener = notifications.Listen(jobId, finalOnly: true, context.User.TenantOf(), out _);
        var (outcome, canceledNow, finalStatus) = await store.CancelCountedAsync(jobId);
        var job = await store.GetAsync(jobId);
        if (outcome == CancelOutcome.Missing || job is null)
        {
            return JobsApi.JobNotFound();
        }

        if (outcome == CancelOutcome.AlreadyFinal)
        {
            // As the script found it: a job redriven since reads queued, and was answered 202 with nothing canceled.
            return AlreadyFinal(finalStatus);
        }

        if (canceledNow)
        {
            // A waiting job, canceled here; a running one is counted by the worker that aborts its call.
            metrics.JobsCanceled.Add(1, new KeyValuePair<string, object?>(OrchestratorTags.Tenant, job.Tenant));
        }

        if (outcome == CancelOutcome.Requested && listener is not null)
        {
            job = await JobWaits.UntilFinalAsync(store, listener, job, options.Value.CancelWait, timeProvider, context.RequestAborted) ?? job;
        }

        return job.Status switch
        {
            JobStatus.Canceled => TypedResults.Ok(JobResource.From(job)),
            JobStatus.Completed or JobStatus.Failed => AlreadyFinal(job.Status),
            // Still processing: its worker stops it shortly (a worker that died: the next claim does).
            _ => TypedResults.Accepted($"/jobs/{jobId}", JobResource.From(job)),
        };
    }

    private static ProblemHttpResult AlreadyFinal(string? status) => TypedResults.Problem(
        $"The job is already {status}; only a job that is not final can be canceled.",
        statusCode: StatusCodes.Status409Conflict, title: "Job already final", type: ConflictType);

    internal static async Task<IResult> RedriveOneAsync(
        string jobId, HttpContext context, JobStore store, IOptions<ApiOptions> options)
    {
        if (await JobsApi.VisibleJobAsync(jobId, store, context.User) is null)
        {
            return JobsApi.JobNotFound();
        }

        var (outcome, queued, found) = await store.RedriveCountedAsync(jobId, RedriveFilter.Any, options.Value.MaxQueuedJobs, options.Value.MaxAttemptsInAll);
        switch (outcome)
        {
            case RedriveOutcome.Redriven when await store.GetAsync(jobId) is { } job:
                return TypedResults.Ok(JobResource.From(job));
            case RedriveOutcome.NotDead:
                // The status the script found: read after it, a job failed again since said "failed, not a dead letter".
                return TypedResults.Problem(
                    $"The job is {found}, not a dead letter: only a failed job can be redriven (a redriven job is queued already).",
                    statusCode: StatusCodes.Status409Conflict, title: "Not a dead letter", type: ConflictType);
            case RedriveOutcome.AttemptsSpent:
                return TypedResults.Problem(
                    $"The job has run {options.Value.MaxAttemptsInAll:N0} attempts or more in all (Api:MaxAttemptsInAll), the most a job may run and still be redriven: submit its request again as a new job.",
                    statusCode: StatusCodes.Status409Conflict, title: "Attempts spent", type: ConflictType);
            case RedriveOutcome.QueueFull:
                return SubmitProblems.QueueFull(context, keyed: false, queued, options.Value.MaxQueuedJobs, store.Partitions);
            case RedriveOutcome.StorageFull:
                return SubmitProblems.StorageFull(context, keyed: false);
            default:
                return JobsApi.JobNotFound();
        }
    }

    internal static async Task<IResult> RedriveManyAsync(
        HttpContext context, JobStore store, IOptions<ApiOptions> options, IOptions<JsonOptions> json)
    {
        var (filter, refusal) = await RedriveFilterReader.ReadAsync(context, options.Value, json.Value.SerializerOptions);
        if (filter is null)
        {
            return refusal!;
        }

        var user = context.User;
        var errors = new Dictionary<string, string[]>();
        if (filter.Limit is < 1 or > RedriveLimit)
        {
            errors["limit"] = [$"limit must be from 1 to {RedriveLimit:N0}."];
        }

        // Blank matches no error type (they are words such as attempts-exhausted), yet it read as no filter at all.
        if (filter.ErrorType is not null && string.IsNullOrWhiteSpace(filter.ErrorType))
        {
            errors["errorType"] = ["errorType must not be blank: omit it to redrive dead letters of every error type."];
        }

        if (filter.Tenant is not null && !TenantNames.IsValid(filter.Tenant))
        {
            errors["tenant"] = [$"tenant must be a tenant name: {TenantNames.Rule}."];
        }

        if (filter.From > filter.To)
        {
            errors["from"] = ["from must not be later than to."];
        }

        if (errors.Count > 0)
        {
            return TypedResults.ValidationProblem(errors, title: "Invalid redrive filter");
        }

        var tenant = user.IsAdmin() ? filter.Tenant : user.TenantOf();
        if (!user.IsAdmin() && filter.Tenant is not null && filter.Tenant != tenant)
        {
            return TypedResults.Problem("Only an admin key redrives another tenant's dead letters.",
                statusCode: StatusCodes.Status403Forbidden, title: "Not allowed with this key");
        }

        var limit = filter.Limit ?? RedriveDefault;
        var match = new RedriveFilter(filter.ErrorType, filter.From, filter.To);
        var redriven = new List<string>(limit);
        // A job redriven here that fails again while the call goes on is dead-lettered anew, later
        // than the scan's cursor: the scan meets it again. One call redrives a job once (it redrove
        // one poison job 26 times in a call, each a fresh attempt budget spent on the LLM).
        var seen = new HashSet<string>(StringComparer.Ordinal);
        (long, string)? after = null;
        var scanned = 0;
        while (true)
        {
            var ids = await store.DeadLetterIdsAsync(tenant, filter.From, filter.To, after, Math.Min(200, RedriveScanLimit - scanned));
            foreach (var (id, deadAt) in ids)
            {
                after = (deadAt, id);
                scanned++;
                if (!seen.Add(id))
                {
                    if (scanned == RedriveScanLimit)
                    {
                        return TypedResults.Ok(new RedriveResultResource(redriven.Count, redriven, More: true));
                    }

                    continue;
                }

                // A job at Api:MaxAttemptsInAll stays a dead letter, as one the filter does not match.
                var (outcome, queued, _) = await store.RedriveCountedAsync(id, match, options.Value.MaxQueuedJobs, options.Value.MaxAttemptsInAll);
                if (outcome == RedriveOutcome.Redriven)
                {
                    redriven.Add(id);
                }
                else if (outcome is RedriveOutcome.QueueFull or RedriveOutcome.StorageFull)
                {
                    if (redriven.Count == 0)
                    {
                        return outcome == RedriveOutcome.QueueFull
                            ? SubmitProblems.QueueFull(context, keyed: false, queued, options.Value.MaxQueuedJobs, store.Partitions)
                            : SubmitProblems.StorageFull(context, keyed: false);
                    }

                    return TypedResults.Ok(new RedriveResultResource(redriven.Count, redriven, More: true));
                }

                if (redriven.Count == limit || scanned == RedriveScanLimit)
                {
                    return TypedResults.Ok(new RedriveResultResource(redriven.Count, redriven, More: true));
                }
            }

            if (ids.Count == 0)
            {
                return TypedResults.Ok(new RedriveResultResource(redriven.Count, redriven, More: false));
            }
        }
    }
}

/// <summary>The body of <c>POST /dead-letters/redrive</c>; every member is optional (an empty body redrives the oldest dead letters).</summary>
/// <param name="ErrorType">Only jobs that failed with this error type (<c>error.type</c>, e.g. <c>transient</c>).</param>
/// <param name="From">Only jobs dead-lettered at or after this time (with its UTC offset).</param>
/// <param name="To">Only jobs dead-lettered at or before this time (with its UTC offset).</param>
/// <param name="Tenant">With an admin key: only this tenant's dead letters (default: every tenant's).</param>
/// <param name="Limit">Most jobs to redrive in this call, 1 to 1,000 (default 100).</param>
/// <remarks>
/// A member it does not know is refused, unlike a submission's: a misspelled filter member, left
/// unread, would make the filter broader than meant and redrive more than meant.
/// </remarks>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record RedriveRequest(
    string? ErrorType = null,
    [property: JsonConverter(typeof(OffsetTimeConverter))] DateTimeOffset? From = null,
    [property: JsonConverter(typeof(OffsetTimeConverter))] DateTimeOffset? To = null,
    string? Tenant = null,
    int? Limit = null);

/// <summary>What <c>POST /dead-letters/redrive</c> did.</summary>
/// <param name="Redriven">How many jobs went back to queued.</param>
/// <param name="JobIds">Their ids, oldest dead letter first.</param>
/// <param name="More">True when the call stopped at its limit (or its scan bound) and another call may redrive more.</param>
public sealed record RedriveResultResource(int Redriven, IReadOnlyList<string> JobIds, bool More);
