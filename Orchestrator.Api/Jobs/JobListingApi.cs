using System.Security.Claims;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Orchestrator.Api.Auth;
using Microsoft.AspNetCore.Http.HttpResults;
using Orchestrator.Jobs;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// The jobs listing and counts (what the jobs page shows): <c>GET /jobs</c> and <c>GET /jobs/counts</c>,
/// newest first, from the jobs index, scoped as every read is: a tenant's key sees its own jobs,
/// an admin key every tenant's or one's (<c>?tenant=</c>).
/// </summary>
public static class JobListingApi
{
    /// <summary>Largest <c>limit</c> of <c>GET /jobs</c>.</summary>
    internal const int PageLimit = 100;

    /// <summary>The <c>limit</c> of <c>GET /jobs</c> when none is given.</summary>
    internal const int PageDefault = 20;

    /// <summary>Ids one <c>GET /jobs</c> looks at before it answers with a cursor, however few matched the filters.</summary>
    internal const int MaxExamined = 1_000;

    /// <summary>How many of the newest jobs <c>GET /jobs/counts</c> counts.</summary>
    internal const int CountWindow = 10_000;

    /// <summary>A job's bytes in a listing's page: its JSON as answered, and the comma before the next.</summary>
    internal static long JsonBytes(Job job) => JsonSerializer.SerializeToUtf8Bytes(JobResource.From(job), ApiJsonContext.Default.JobResource).Length + 1;

    /// <summary>A job summary's bytes in a page of summaries, as <see cref="JsonBytes"/>.</summary>
    private static long SummaryJsonBytes(Job job) =>
        JsonSerializer.SerializeToUtf8Bytes(JobSummaryResource.From(job), ApiJsonContext.Default.JobSummaryResource).Length + 1;

    /// <summary>The parameters of <c>GET /jobs</c> that <c>GET /jobs/counts</c> refuses.</summary>
    private static readonly string[] ListingOnly = ["status", "model", "limit", "cursor"];

    /// <summary>Maps <c>GET /jobs</c> and <c>GET /jobs/counts</c>.</summary>
    public static IEndpointRouteBuilder MapJobListingApi(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/jobs").WithTags("Jobs").RequireAuthorization()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            // Api:ReadsPerSecondPerTenant.
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .ProducesProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        jobs.MapGet("", ListAsync).AlsoHead()
            .WithName("ListJobs")
            .WithSummary($"The caller's tenant's jobs, newest first (the newest {JobStore.ListedJobs:N0} are listed), filtered by status and model; " +
                $"an admin key sees every tenant's, or one's with ?tenant=. A page may be short (at most {MaxExamined:N0} jobs are examined per call, and its jobs' JSON stops at Api:MaxJobsPageBytes): follow nextCursor.");

        jobs.MapGet("/summaries", ListSummariesAsync).AlsoHead()
            .WithName("ListJobSummaries")
            .WithSummary("GET /jobs's page as summaries: each job's id, status, tenant, model, priority, attempts and times, without its prompt, " +
                "answer, history or deliveries (what a listing shows); the same filters and cursors, and a page cut by Api:MaxJobsPageBytes only past thousands of rows.");

        jobs.MapGet("/counts", CountAsync).AlsoHead()
            .WithName("CountJobs")
            .WithSummary($"The caller's tenant's newest {CountWindow:N0} jobs counted by status (an admin key: every tenant's, or one's with ?tenant=); a count may be up to a second old.");
        return app;
    }

    internal static async Task<Results<Ok<JobPageResource>, ProblemHttpResult>> ListAsync(
        JobStore store, IOptions<ApiOptions> apiOptions, ClaimsPrincipal user, HttpRequest request,
        string? limit, string? cursor, string? tenant, string? status, string? model)
    {
        var (page, problem) = await ReadPageAsync(store, apiOptions.Value, user, request, limit, cursor, tenant, status, model, JsonBytes);
        return page is null ? problem! : TypedResults.Ok(new JobPageResource([.. page.Items.Select(JobResource.From)], page.NextCursor));
    }

    internal static async Task<Results<Ok<JobSummaryPageResource>, ProblemHttpResult>> ListSummariesAsync(
        JobStore store, IOptions<ApiOptions> apiOptions, ClaimsPrincipal user, HttpRequest request,
        string? limit, string? cursor, string? tenant, string? status, string? model)
    {
        var (page, problem) = await ReadPageAsync(store, apiOptions.Value, user, request, limit, cursor, tenant, status, model, SummaryJsonBytes);
        return page is null ? problem! : TypedResults.Ok(new JobSummaryPageResource([.. page.Items.Select(JobSummaryResource.From)], page.NextCursor));
    }

    /// <summary>The page of jobs a listing's parameters ask for, its bytes measured by <paramref name="sizeOf"/>; or the problem with them.</summary>
    private static async Task<(DeadLetterPage? Page, ProblemHttpResult? Problem)> ReadPageAsync(
        JobStore store, ApiOptions apiOptions, ClaimsPrincipal user, HttpRequest request,
        string? limit, string? cursor, string? tenant, string? status, string? model, Func<Job, long> sizeOf)
    {
        // Sent twice, a model is bound as both joined by a comma: a name no job has, and an empty last
        // page where the other parameters answer 400 (their joined values do not read).
        if (request.Query["model"].Count > 1)
        {
            return (null, BadRequest("Invalid model", "model must be sent once."));
        }

        if (!QueryLimit.TryRead(limit, PageLimit, out var pageSize))
        {
            return (null, QueryLimit.Invalid(PageLimit));
        }

        if (!JobStore.IsValidDeadLetterCursor(cursor))
        {
            return (null, BadRequest("Invalid cursor", "cursor is not one this API handed out; pass nextCursor from the previous page."));
        }

        if (status is not null && !JobStatus.All.Contains(status, StringComparer.Ordinal))
        {
            return (null, BadRequest("Invalid status", $"status must be one of {string.Join(", ", JobStatus.All)}."));
        }

        if (model is not null && CharacterLengthAttribute.Count(model) is 0 or > JobLimits.MaxModelLength)
        {
            return (null, BadRequest("Invalid model", $"model must be 1 to {JobLimits.MaxModelLength} characters."));
        }

        var scope = Scope(user, tenant, "lists another tenant's jobs");
        if (scope.Problem is { } problem)
        {
            return (null, problem);
        }

        var page = await store.ListJobsAsync(pageSize ?? PageDefault, cursor, scope.Tenant,
            job => (status is null || job.Status == status) && (model is null || job.Request.Model == model), MaxExamined,
            apiOptions.MaxJobsPageBytes, sizeOf);
        return (page, null);
    }

    internal static async Task<Results<Ok<JobCountsResource>, ProblemHttpResult>> CountAsync(
        JobStore store, JobCountsCache cache, ClaimsPrincipal user, HttpRequest request, string? tenant)
    {
        // The listing's filters do not filter the counts: ?status=failed answered every status's
        // count, as if filtered. Other unknown parameters are ignored, as every read ignores them.
        if (ListingOnly.FirstOrDefault(name => request.Query.ContainsKey(name)) is { } filter)
        {
            return BadRequest($"Invalid {filter}", $"GET /jobs/counts counts every status of the scope and takes only tenant; {filter} is GET /jobs's.");
        }

        var scope = Scope(user, tenant, "lists another tenant's jobs");
        if (scope.Problem is { } problem)
        {
            return problem;
        }

        // At most a second old (JobCountsCache): the jobs page asks every second, once per viewer.
        var counts = await cache.GetAsync(scope.Tenant, () => store.CountJobsAsync(scope.Tenant, CountWindow));
        return TypedResults.Ok(new JobCountsResource(counts.ByStatus, counts.Counted, counts.Window));
    }

    /// <summary>
    /// Whose jobs a caller reads: its tenant's; an admin every tenant's (null) or the one asked for.
    /// A bad tenant name is 400; a tenant's key asking for another tenant is 403 ("Only an admin key
    /// <paramref name="refused"/>.").
    /// </summary>
    internal static (string? Tenant, ProblemHttpResult? Problem) Scope(ClaimsPrincipal user, string? tenant, string refused)
    {
        if (tenant is not null && !TenantNames.IsValid(tenant))
        {
            return (null, BadRequest("Invalid tenant", $"tenant must be a tenant name: {TenantNames.Rule}."));
        }

        if (user.IsAdmin())
        {
            return (tenant, null);
        }

        return tenant is not null && tenant != user.TenantOf()
            ? (null, TypedResults.Problem($"Only an admin key {refused}.",
                statusCode: StatusCodes.Status403Forbidden, title: "Not allowed with this key"))
            : (user.TenantOf(), null);
    }

    private static ProblemHttpResult BadRequest(string title, string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: title);
}
