using System.Net;
using System.Net.Http.Json;

namespace Orchestrator.Client;

// Listing, counting and redriving: what the jobs page does (with GetAsync and CancelAsync); redriving by filter; the models served.
public sealed partial class OrchestratorClient
{
    /// <summary>
    /// One page of jobs, newest first (<c>GET /jobs</c>), filtered by <paramref name="status"/>,
    /// <paramref name="model"/> and, with an admin key, <paramref name="tenant"/>. A page may be
    /// short while more jobs match: follow <see cref="JobPage.NextCursor"/> until it is null.
    /// </summary>
    public async Task<JobPage> ListJobsAsync(
        string? status = null, string? model = null, string? tenant = null, int limit = 20, string? cursor = null, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, $"jobs?{ListingQuery(status, model, tenant, limit, cursor)}", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            ? await ReadAnswerAsync(response, ClientJsonContext.Default.JobPage, cancellationToken).ConfigureAwait(false) ?? new JobPage([], null)
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <see cref="ListJobsAsync"/>'s page as summaries (<c>GET /jobs/summaries</c>): each job without its
    /// prompt, answer, history or deliveries, what a listing shows; the same filters, and the cursors of either serve both.
    /// </summary>
    public async Task<JobSummaryPage> ListJobSummariesAsync(
        string? status = null, string? model = null, string? tenant = null, int limit = 20, string? cursor = null, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, $"jobs/summaries?{ListingQuery(status, model, tenant, limit, cursor)}", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            ? await ReadAnswerAsync(response, ClientJsonContext.Default.JobSummaryPage, cancellationToken).ConfigureAwait(false) ?? new JobSummaryPage([], null)
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The newest jobs counted by status (<c>GET /jobs/counts</c>); with an admin key, every tenant's or <paramref name="tenant"/>'s.</summary>
    public async Task<JobCounts> CountJobsAsync(string? tenant = null, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, $"jobs/counts?{Query(("tenant", tenant))}", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            ? await ReadAnswerAsync(response, ClientJsonContext.Default.JobCounts, cancellationToken).ConfigureAwait(false)
                ?? new JobCounts(new Dictionary<string, long>(), 0, 0)
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One page of dead-lettered jobs, newest first (<c>GET /dead-letters</c>); with an admin key every tenant's or <paramref name="tenant"/>'s.</summary>
    public async Task<JobPage> ListDeadLettersAsync(string? tenant = null, int limit = 20, string? cursor = null, CancellationToken cancellationToken = default)
    {
        var query = Query(("limit", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("tenant", tenant), ("cursor", cursor));
        using var response = await SendAsync(HttpMethod.Get, $"dead-letters?{query}", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            ? await ReadAnswerAsync(response, ClientJsonContext.Default.JobPage, cancellationToken).ConfigureAwait(false) ?? new JobPage([], null)
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends a dead-lettered job back to the queue with a fresh attempt budget (<c>POST /dead-letters/{id}/redrive</c>).</summary>
    /// <exception cref="OrchestratorProblemException">404 when no job has that id; 409 for a job that is not a dead letter (also one redriven already).</exception>
    public Task<Job> RedriveAsync(string jobId, CancellationToken cancellationToken = default) =>
        PostForJobAsync($"dead-letters/{Uri.EscapeDataString(jobId)}/redrive", cancellationToken);

    /// <summary>
    /// Sends the dead letters <paramref name="filter"/> matches back to the queue, oldest first, each with a
    /// fresh attempt budget (<c>POST /dead-letters/redrive</c>): the caller's tenant's (with an admin key
    /// every tenant's, or the filter's <see cref="DeadLetterFilter.Tenant"/>). At most the filter's
    /// <see cref="DeadLetterFilter.Limit"/> per call: while <see cref="RedriveResult.More"/> is true, call
    /// again for the rest (a job is redriven once; sending the call again redrives nothing twice).
    /// </summary>
    /// <exception cref="OrchestratorProblemException">400 for a filter the API refuses (it names the member); 429/503 as for a submission.</exception>
    public async Task<RedriveResult> RedriveDeadLettersAsync(DeadLetterFilter? filter = null, CancellationToken cancellationToken = default)
    {
        using var request = Request(HttpMethod.Post, "dead-letters/redrive");
        request.Content = JsonContent.Create(filter ?? new DeadLetterFilter(), ClientJsonContext.Default.DeadLetterFilter);
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            && await ReadAnswerAsync(response, ClientJsonContext.Default.RedriveResult, cancellationToken).ConfigureAwait(false) is { } result
            ? result
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The models the API serves (<c>GET /models</c>): a job's <c>model</c> and <c>fallbackModels</c> must be among them.</summary>
    public async Task<ModelCatalog> GetModelsAsync(CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, "models", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            && await ReadAnswerAsync(response, ClientJsonContext.Default.ModelCatalog, cancellationToken).ConfigureAwait(false) is { } models
            ? models
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Job> PostForJobAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, path, cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode
            && await ReadAnswerAsync(response, ClientJsonContext.Default.Job, cancellationToken).ConfigureAwait(false) is { } job
            ? job
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The query of <c>GET /jobs</c> and <c>GET /jobs/summaries</c>.</summary>
    private static string ListingQuery(string? status, string? model, string? tenant, int limit, string? cursor) =>
        Query(("limit", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("status", status), ("model", model),
            ("tenant", tenant), ("cursor", cursor));

    private static string Query(params (string Name, string? Value)[] parameters) =>
        string.Join('&', parameters.Where(p => p.Value is not null).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}"));
}

/// <summary>A page of jobs, newest first.</summary>
/// <param name="Items">The jobs of this page.</param>
/// <param name="NextCursor">Pass back as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record JobPage(IReadOnlyList<Job> Items, string? NextCursor);

/// <summary>A page of job summaries, newest first.</summary>
/// <param name="Items">The summaries of this page.</param>
/// <param name="NextCursor">Pass back as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record JobSummaryPage(IReadOnlyList<JobSummary> Items, string? NextCursor);

/// <summary>The newest jobs counted by status.</summary>
/// <param name="ByStatus">Status → number of jobs (statuses with none are absent).</param>
/// <param name="Counted">Jobs counted.</param>
/// <param name="Window">How many of the newest jobs were looked at, at most.</param>
public sealed record JobCounts(IReadOnlyDictionary<string, long> ByStatus, long Counted, int Window);

/// <summary>Which dead letters <see cref="OrchestratorClient.RedriveDeadLettersAsync"/> redrives; every member is optional.</summary>
/// <param name="ErrorType">Only jobs whose <c>error.type</c> is this (<c>transient</c>, <c>timeout</c>, <c>rate-limited</c>, …).</param>
/// <param name="From">Only jobs dead-lettered at or after this time.</param>
/// <param name="To">Only jobs dead-lettered at or before this time.</param>
/// <param name="Tenant">With an admin key: only this tenant's dead letters.</param>
/// <param name="Limit">Most jobs to redrive in this call, 1 to 1,000 (the API's default: 100).</param>
public sealed record DeadLetterFilter(string? ErrorType = null, DateTimeOffset? From = null, DateTimeOffset? To = null, string? Tenant = null, int? Limit = null);

/// <summary>What one <see cref="OrchestratorClient.RedriveDeadLettersAsync"/> call did.</summary>
/// <param name="Redriven">How many jobs went back to the queue.</param>
/// <param name="JobIds">Their ids, oldest dead letter first.</param>
/// <param name="More">True when the call stopped at its limit (or its scan bound) and another may redrive more.</param>
public sealed record RedriveResult(int Redriven, IReadOnlyList<string> JobIds, bool More);

/// <summary>The models the API serves.</summary>
/// <param name="Items">Each model, by provider then name.</param>
/// <param name="DefaultModel">The model a job that names none gets.</param>
/// <param name="AnyModel">True when no provider is configured: any model name is taken (the in-process simulator answers).</param>
public sealed record ModelCatalog(IReadOnlyList<ServedModel> Items, string DefaultModel, bool AnyModel);

/// <summary>A model the API serves, with its provider's limits and its prices.</summary>
/// <param name="Name">The name a job gives as <c>model</c>.</param>
/// <param name="Provider">The provider entry (<c>Llm:Providers</c>) serving it; its limits are the provider's.</param>
/// <param name="Kind"><c>openai</c> (an OpenAI-compatible endpoint) or <c>simulated</c>.</param>
/// <param name="IsDefault">Whether it is <see cref="ModelCatalog.DefaultModel"/>.</param>
/// <param name="ContextWindow">Prompt plus completion tokens; null when not configured.</param>
/// <param name="InputCostPerMillion">Price of a million prompt tokens (0 when not configured).</param>
/// <param name="OutputCostPerMillion">Price of a million completion tokens (0 when not configured).</param>
/// <param name="RequestsPerMinute">The provider's requests-per-minute limit as configured; null when not.</param>
/// <param name="TokensPerMinute">The provider's tokens-per-minute limit as configured; null when not.</param>
/// <param name="MaxConcurrency">Calls in flight at once across the fleet; null when unbounded.</param>
public sealed record ServedModel(
    string Name, string Provider, string Kind, bool IsDefault, int? ContextWindow, decimal InputCostPerMillion, decimal OutputCostPerMillion,
    int? RequestsPerMinute, int? TokensPerMinute, int? MaxConcurrency);
