using System.Diagnostics;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;
using Orchestrator.Api.Auth;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Api.Jobs;

/// <summary>The job endpoints: submit, get, and the dead-letter list.</summary>
public static class JobsApi
{
    /// <summary>The endpoint name (and OpenAPI operation id) of <c>POST /jobs</c>.</summary>
    internal const string SubmitJobName = "SubmitJob";

    /// <summary>Maps <c>POST /jobs</c>, <c>GET /jobs/{jobId}</c> and <c>GET /dead-letters</c>.</summary>
    public static IEndpointRouteBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        // Every job endpoint needs an API key (401 without one); a job belongs to the caller's tenant.
        var jobs = app.MapGroup("/jobs").WithTags("Jobs").RequireAuthorization().ProducesProblem(StatusCodes.Status401Unauthorized);

        jobs.MapPost("", SubmitAsync)
            .RequireAuthorization(AuthServiceCollectionExtensions.TenantPolicy)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .WithName(SubmitJobName)
            .WithSummary("Submit a prompt; answers 202 with the job id at once.")
            .Accepts<SubmitJobRequest>("application/json")
            .Produces<SubmitJobResponse>(StatusCodes.Status202Accepted)
            // Also a plain problem (no errors) for a malformed body or idempotency key.
            .ProducesValidationProblem()
            // Kestrel's, for a body that stops arriving (fewer bytes than its Content-Length, or too slowly).
            .ProducesProblem(StatusCodes.Status408RequestTimeout)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge)
            // A body sent with a transfer coding other than chunked (TransferCodingCheck).
            .ProducesProblem(StatusCodes.Status501NotImplemented)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        jobs.MapGet("/{jobId}", GetAsync).AlsoHead()
            .WithName("GetJob")
            .WithSummary("A job's status, result or error, and the history of its attempts (404 for another tenant's job, as for an unknown one). " +
                "With ?wait=<seconds> (at most 60) it answers as soon as the job is final, or with its current state when the wait ends.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        app.MapGet("/dead-letters", ListDeadLettersAsync).AlsoHead()
            .WithTags("Jobs")
            .WithName("ListDeadLetters")
            .WithSummary("The caller's tenant's jobs that failed for good (retries exhausted or a permanent error), newest first; an admin key sees every tenant's, or one with ?tenant=.")
            .WithDescription($"A page may be short, even empty (at most {JobStore.DeadLettersExamined:N0} dead letters are examined per call, those whose job expired among them, and its jobs' JSON stops at Api:MaxDeadLetterPageBytes): follow nextCursor until it is null.")
            .RequireAuthorization()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        return app;
    }

    internal static async Task<IResult> SubmitAsync(
        HttpContext context,
        SubmitWriter submissions,
        IOptions<ApiOptions> apiOptions,
        IOptions<RetryOptions> retryOptions,
        IOptions<WebhookOptions> webhookOptions,
        IOptions<TenantQuotaOptions> quotaOptions,
        OrchestratorMetrics metrics,
        ModelCatalog models,
        CancellationToken cancellationToken)
    {
        var options = apiOptions.Value;
        var (key, keyError) = IdempotencyKeyHeader.Read(context.Request.Headers);
        if (keyError is not null)
        {
            return TypedResults.Problem(keyError, statusCode: StatusCodes.Status400BadRequest, title: "Invalid idempotency key");
        }

        var read = await SubmitRequestReader.ReadAsync(context, options, cancellationToken);
        if (read.Request is not { } request)
        {
            return read.Errors is { } errors
                ? TypedResults.ValidationProblem(errors, title: read.Title)
                : TypedResults.Problem(read.Detail, statusCode: read.StatusCode, title: read.Title);
        }

        if (ModelsApi.Unserved(request, models) is { } unserved)
        {
            return TypedResults.ValidationProblem(unserved, title: "Model not served");
        }

        // Where the callback's host leads is checked after its form (SubmitJobRequest.Validate):
        // resolving a name takes a DNS round trip, so only a well-formed URL gets one.
        if (request.CallbackUrl is { } callbackUrl
            && await CallbackUrls.AddressProblemAsync(new Uri(callbackUrl), webhookOptions.Value.AllowPrivateNetworks, cancellationToken) is { } addressProblem)
        {
            return TypedResults.ValidationProblem(
                new Dictionary<string, string[]>(StringComparer.Ordinal) { ["callbackUrl"] = [addressProblem] }, title: "Callback URL not allowed");
        }

        var activity = Activity.Current;
        // The tenant policy guarantees a tenant claim (an admin key gets 403 before this runs).
        var tenant = context.User.TenantOf()!;
        // With partitions, a job with an idempotency key is drawn into the key's partition.
        var jobId = submissions.NewJobId(tenant, key);
        var tenantTag = new KeyValuePair<string, object?>(OrchestratorTags.Tenant, tenant);
        var traceState = activity?.TraceStateString is { Length: > 0 and <= JobLimits.MaxTraceStateLength } kept ? kept : null;
        // The job names the model it will get: the default is resolved now, not when a worker runs it.
        var stored = request.Model is null && !models.ServesAnyModel ? request with { Model = models.DefaultModel } : request;
        var job = new NewJob(jobId, stored, retryOptions.Value.MaxAttempts, options.JobRetention,
            activity?.Id, traceState) { Tenant = tenant, Quotas = quotaOptions.Value.For(tenant) };
        var claim = key is null ? null : new IdempotencyClaim(key, RequestFingerprint.Compute(request), options.IdempotencyKeyTtl);

        var submitted = await submissions.SubmitAsync(job, claim, activity);
        switch (submitted.Outcome)
        {
            case SubmitOutcome.Conflict:
                return TypedResults.Problem(
                    $"The idempotency key '{key}' was already used with different request parameters. " +
                    "Reuse a key only to retry the same request; use a new key for a new job.",
                    statusCode: StatusCodes.Status422UnprocessableEntity,
                    title: "Idempotency key reused with other parameters");
            case SubmitOutcome.QueueFull:
                return SubmitProblems.QueueFull(context, key is not null, submitted.QueuedJobs, options.MaxQueuedJobs, submissions.Partitions);
            case SubmitOutcome.QuotaExceeded when submitted.Quota is { } refusal:
                activity?.SetTag(OrchestratorTags.Quota, refusal.Name);
                metrics.QuotaRefusals.Add(1, tenantTag, new KeyValuePair<string, object?>(OrchestratorTags.Quota, refusal.Name));
                return SubmitProblems.QuotaExceeded(context, key is not null, tenant, refusal);
            case SubmitOutcome.StorageFull:
                return SubmitProblems.StorageFull(context, key is not null);
            case SubmitOutcome.Replayed:
                activity?.SetTag(OrchestratorTags.IdempotentReplay, true);
                activity?.SetTag(OrchestratorTags.JobId, submitted.JobId);
                context.Response.Headers["Idempotent-Replayed"] = "true";
                metrics.IdempotentReplays.Add(1, tenantTag);
                return Accepted(submitted.JobId, submitted.ReplayedResponseBody is { } storedBody ? Encoding.UTF8.GetBytes(storedBody) : AcceptedBody(submitted));
            default:
                activity?.SetTag(OrchestratorTags.IdempotentReplay, false);
                activity?.SetTag(OrchestratorTags.JobId, jobId);
                metrics.JobsSubmitted.Add(1, tenantTag);
                return Accepted(jobId, AcceptedBody(submitted));
        }
    }

    internal static async Task<Results<Ok<JobResource>, ProblemHttpResult>> GetAsync(
        string jobId, string? wait, JobStore store, JobNotifications notifications, IOptions<ApiOptions> apiOptions, TimeProvider timeProvider,
        HttpContext context)
    {
        var timeout = TimeSpan.Zero;
        if (wait is not null && !JobWaits.TryParse(wait, out timeout))
        {
            return TypedResults.Problem($"wait must be a number of seconds from 0 to {JobWaits.MaxWaitSeconds}.",
                statusCode: StatusCodes.Status400BadRequest, title: "Invalid wait");
        }

        if (await VisibleJobAsync(jobId, store, context.User) is not { } job)
        {
            return JobNotFound();
        }

        if (timeout > TimeSpan.Zero && !JobStatus.IsTerminal(job.Status))
        {
            using var listener = notifications.Listen(jobId, finalOnly: true, context.User.TenantOf(), out var refusal);
            if (listener is null)
            {
                return WaitRefused(context, refusal, apiOptions.Value);
            }

            // Gone meanwhile (expired, or lost with Redis's data): as a GET now answers.
            if (await JobWaits.UntilFinalAsync(store, listener, job, timeout, timeProvider, context.RequestAborted) is not { } waited)
            {
                return JobNotFound();
            }

            job = waited;
        }

        return TypedResults.Ok(JobResource.From(job));
    }

    /// <summary>The job when it exists and the caller may see it (its tenant's key or an admin key); else null.</summary>
    internal static async Task<Job?> VisibleJobAsync(string jobId, JobStore store, ClaimsPrincipal user)
    {
        var job = JobIds.IsWellFormed(jobId) ? await store.GetAsync(jobId) : null;
        // Another tenant's job is answered exactly as a job that does not exist: the answer must not
        // tell a caller which ids exist.
        return job is not null && (user.IsAdmin() || job.Tenant == user.TenantOf()) ? job : null;
    }

    /// <summary>The 404 of an unknown job (also for another tenant's). The detail does not echo the id (it is the raw path).</summary>
    internal static ProblemHttpResult JobNotFound() =>
        TypedResults.Problem("No such job (job ids are 22 characters; finished jobs expire after Api:JobRetention).",
            statusCode: StatusCodes.Status404NotFound, title: "Job not found");

    /// <summary>
    /// The answer to a wait <see cref="JobNotifications.Listen"/> refused: 503 when
    /// <c>Api:MaxConcurrentWaits</c> requests already wait in this process, 429 <c>quota-exceeded</c>
    /// when the caller's tenant holds its <c>Api:MaxConcurrentWaitsPerTenant</c>; both with <c>Retry-After: 1</c>.
    /// </summary>
    internal static ProblemHttpResult WaitRefused(HttpContext context, WaitRefusal refusal, ApiOptions options)
    {
        if (refusal == WaitRefusal.TenantFull && options.MaxConcurrentWaitsPerTenant is { } limit)
        {
            return SubmitProblems.TenantQuotaExceeded(context,
                $"Tenant '{context.User.TenantOf()}' holds {limit:N0} waiting requests on this API process, its limit (Api:MaxConcurrentWaitsPerTenant). " +
                "Retry once one has ended, or read the job without wait.",
                nameof(ApiOptions.MaxConcurrentWaitsPerTenant), limit, retryAfterSeconds: 1);
        }

        context.Response.Headers.RetryAfter = "1";
        return TypedResults.Problem(
            "This API process holds as many waiting requests as Api:MaxConcurrentWaits allows. Retry shortly, or read the job without wait.",
            statusCode: StatusCodes.Status503ServiceUnavailable, title: "Too many waiting requests", type: "urn:orchestrator:problem:too-many-waits");
    }

    internal static async Task<Results<Ok<DeadLetterPageResource>, ProblemHttpResult>> ListDeadLettersAsync(
        JobStore store, IOptions<ApiOptions> apiOptions, ClaimsPrincipal user, string? limit, string? cursor, string? tenant)
    {
        if (!QueryLimit.TryRead(limit, DeadLetterPageLimit, out var pageSize))
        {
            return QueryLimit.Invalid(DeadLetterPageLimit);
        }

        if (!JobStore.IsValidDeadLetterCursor(cursor))
        {
            return TypedResults.Problem("cursor is not one this API handed out; pass nextCursor from the previous page.",
                statusCode: StatusCodes.Status400BadRequest, title: "Invalid cursor");
        }

        // A tenant's key lists its own tenant; an admin key lists every tenant, or the one asked for.
        var (listed, refused) = JobListingApi.Scope(user, tenant, "lists another tenant's dead letters");
        if (refused is not null)
        {
            return refused;
        }

        var page = await store.ListDeadLettersAsync(pageSize ?? DeadLetterPageDefault, cursor, listed, apiOptions.Value.MaxDeadLetterPageBytes, JobListingApi.JsonBytes);
        return TypedResults.Ok(new DeadLetterPageResource([.. page.Items.Select(JobResource.From)], page.NextCursor));
    }

    /// <summary>Largest <c>limit</c> of <c>GET /dead-letters</c>.</summary>
    internal const int DeadLetterPageLimit = 500;

    /// <summary>The <c>limit</c> of <c>GET /dead-letters</c> when none is given.</summary>
    internal const int DeadLetterPageDefault = 50;

    private static IResult Accepted(string jobId, byte[] body) => new AcceptedJson($"/jobs/{jobId}", body);

    // Built from what submit.lua answered (the job and its creation time on Redis's clock, which a
    // GET shows too), so a replay, built from the same answer, is byte for byte the first 202.
    // UTF-8 straight from the serializer: the body is not made a string first.
    private static byte[] AcceptedBody(SubmitResult submitted) => JsonSerializer.SerializeToUtf8Bytes(
        new SubmitJobResponse(submitted.JobId, JobStatus.Queued, submitted.CreatedAt.UtcDateTime), ApiJsonContext.Default.SubmitJobResponse);

    /// <summary>202 with a pre-serialised body, so a replay is byte for byte the first answer.</summary>
    private sealed class AcceptedJson(string location, byte[] body) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = StatusCodes.Status202Accepted;
            httpContext.Response.Headers.Location = location;
            httpContext.Response.ContentType = "application/json; charset=utf-8";
            // A known length: one write with Content-Length instead of chunked framing.
            httpContext.Response.ContentLength = body.Length;
            return httpContext.Response.Body.WriteAsync(body).AsTask();
        }
    }
}
