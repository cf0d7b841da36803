using System.Net;
using System.Net.Http.Json;

namespace Orchestrator.Client;

// Listing, counting and redriving: what the jobs page does (with GetAsync and CancelAsync).
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
        var query = Query(("limit", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("status", status), ("model", model),
            ("tenant", tenant), ("cursor", cursor));
        using var response = await SendAsync(HttpMethod.Get, $"jobs?{query}", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            ? await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.JobPage, cancellationToken).ConfigureAwait(false) ?? new JobPage([], null)
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The newest jobs counted by status (<c>GET /jobs/counts</c>); with an admin key, every tenant's or <paramref name="tenant"/>'s.</summary>
    public async Task<JobCounts> CountJobsAsync(string? tenant = null, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(HttpMethod.Get, $"jobs/counts?{Query(("tenant", tenant))}", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            ? await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.JobCounts, cancellationToken).ConfigureAwait(false)
                ?? new JobCounts(new Dictionary<string, long>(), 0, 0)
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One page of dead-lettered jobs, newest first (<c>GET /dead-letters</c>); with an admin key every tenant's or <paramref name="tenant"/>'s.</summary>
    public async Task<JobPage> ListDeadLettersAsync(string? tenant = null, int limit = 20, string? cursor = null, CancellationToken cancellationToken = default)
    {
        var query = Query(("limit", limit.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("tenant", tenant), ("cursor", cursor));
        using var response = await SendAsync(HttpMethod.Get, $"dead-letters?{query}", cancellationToken).ConfigureAwait(false);
        return response.StatusCode == HttpStatusCode.OK
            ? await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.JobPage, cancellationToken).ConfigureAwait(false) ?? new JobPage([], null)
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Sends a dead-lettered job back to the queue with a fresh attempt budget (<c>POST /dead-letters/{id}/redrive</c>).</summary>
    /// <exception cref="OrchestratorProblemException">404 when no job has that id; 409 for a job that is not a dead letter (also one redriven already).</exception>
    public Task<Job> RedriveAsync(string jobId, CancellationToken cancellationToken = default) =>
        PostForJobAsync($"dead-letters/{Uri.EscapeDataString(jobId)}/redrive", cancellationToken);

    private async Task<Job> PostForJobAsync(string path, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, path, cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode
            && await response.Content.ReadFromJsonAsync(ClientJsonContext.Default.Job, cancellationToken).ConfigureAwait(false) is { } job
            ? job
            : throw await ProblemAsync(response, cancellationToken).ConfigureAwait(false);
    }

    private static string Query(params (string Name, string? Value)[] parameters) =>
        string.Join('&', parameters.Where(p => p.Value is not null).Select(p => $"{p.Name}={Uri.EscapeDataString(p.Value!)}"));
}

/// <summary>A page of jobs, newest first.</summary>
/// <param name="Items">The jobs of this page.</param>
/// <param name="NextCursor">Pass back as <c>cursor</c> for the next page; null on the last page.</param>
public sealed record JobPage(IReadOnlyList<Job> Items, string? NextCursor);

/// <summary>The newest jobs counted by status.</summary>
/// <param name="ByStatus">Status → number of jobs (statuses with none are absent).</param>
/// <param name="Counted">Jobs counted.</param>
/// <param name="Window">How many of the newest jobs were looked at, at most.</param>
public sealed record JobCounts(IReadOnlyDictionary<string, long> ByStatus, long Counted, int Window);
