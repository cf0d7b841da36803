using System.Text.Json;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.Options;
using Orchestrator.Client;

namespace Orchestrator.Web.Components;

/// <summary>
/// A page that reads the API again every <see cref="WebOptions.RefreshInterval"/> while it is open
/// (live updates), and shows what went wrong instead of failing when the API does not answer.
/// </summary>
public abstract class LivePage : ComponentBase, IAsyncDisposable
{
    private readonly CancellationTokenSource _closed = new();
    private Task? _loop;

    /// <summary>The API client.</summary>
    [Inject]
    protected OrchestratorClient Api { get; set; } = null!;

    /// <summary>The page's settings.</summary>
    [Inject]
    protected IOptions<WebOptions> Options { get; set; } = null!;

    /// <summary>What the last read or action could not do; null when all went well.</summary>
    protected string? Problem { get; set; }

    /// <summary>What the last action did, for the person who clicked.</summary>
    protected string? Notice { get; set; }

    /// <summary>Reads what the page shows.</summary>
    protected abstract Task LoadAsync(CancellationToken cancellationToken);

    /// <inheritdoc />
    protected override async Task OnInitializedAsync()
    {
        await ReloadAsync();
        _loop = RefreshAsync(_closed.Token);
    }

    /// <summary>Reads again now, keeping the page up when the API fails.</summary>
    protected async Task ReloadAsync()
    {
        try
        {
            await LoadAsync(_closed.Token);
            Problem = null;
        }
        catch (Exception e) when (e is OrchestratorProblemException or HttpRequestException or JsonException or TaskCanceledException && !_closed.IsCancellationRequested)
        {
            Problem = Describe(e);
        }
    }

    /// <summary>Runs an action (cancel, redrive) and reads again; its outcome shows as a notice or a problem.</summary>
    protected Task ActAsync(Func<CancellationToken, Task> action, string done) =>
        ActAsync(async ct =>
        {
            await action(ct);
            return done;
        });

    /// <summary>Runs an action whose notice depends on its answer (a cancel the worker has yet to carry out).</summary>
    protected async Task ActAsync(Func<CancellationToken, Task<string>> action)
    {
        try
        {
            Notice = await action(_closed.Token);
            Problem = null;
        }
        catch (Exception e) when (e is OrchestratorProblemException or HttpRequestException or JsonException)
        {
            Notice = null;
            Problem = Describe(e);
        }

        await ReloadAsync();
    }

    /// <summary>
    /// What a cancel did: the job is <c>canceled</c>, or (a 202) still <c>processing</c> until its worker
    /// ends the running call, or gone.
    /// </summary>
    protected static string CancelNotice(string jobId, Job? job) => job?.Status switch
    {
        null => $"No job {jobId}.",
        JobStatuses.Canceled => $"Job {jobId} canceled.",
        _ => $"Cancel of job {jobId} recorded: it stops when its worker ends the running call.",
    };

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await _closed.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        _closed.Dispose();
        GC.SuppressFinalize(this);
    }

    private async Task RefreshAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Options.Value.RefreshInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                await ReloadAsync();
                await InvokeAsync(StateHasChanged);
            }
        }
        catch (OperationCanceledException)
        {
            // The page was closed.
        }
    }

    private static string Describe(Exception e) => e switch
    {
        OrchestratorProblemException problem => $"{problem.Title}: {problem.Detail}",
        // An answer that is not what the page reads (a proxy's page, another version of the API).
        JsonException => $"The API's answer could not be read: {e.Message}",
        _ => $"The API did not answer: {e.Message}",
    };
}
