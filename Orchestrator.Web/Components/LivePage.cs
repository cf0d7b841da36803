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

    // One read at a time, each from the state when it starts: a refresh's read begun before a move (next
    // page, a filter) and answered after the move's own read put the rows it read back, under the new
    // address, until the next refresh (page 1's rows after "Next page"; LivePageTests).
    private readonly SemaphoreSlim _reading = new(1, 1);
    private Task? _loop;

    /// <summary>The API client.</summary>
    [Inject]
    protected OrchestratorClient Api { get; set; } = null!;

    /// <summary>The page's settings.</summary>
    [Inject]
    protected IOptions<WebOptions> Options { get; set; } = null!;

    /// <summary>The clock of the live refresh.</summary>
    [Inject]
    private TimeProvider Clock { get; set; } = null!;

    /// <summary>Whether the browser is connected: a page whose browser has gone reads nothing until it comes back.</summary>
    [Inject]
    private CircuitConnection Connection { get; set; } = null!;

    /// <summary>
    /// What the last read or action could not do; null when all went well. An action's refusal stays
    /// until the next action: the reads after it (one at once, then one per refresh) would otherwise
    /// erase it before anyone saw it.
    /// </summary>
    protected string? Problem => _readProblem ?? _actionProblem;

    /// <summary>Canceled when the page is closed: for work a page runs beside its reads.</summary>
    protected CancellationToken Closed => _closed.Token;

    /// <summary>What the last action did, for the person who clicked.</summary>
    protected string? Notice { get; set; }

    private string? _readProblem;
    private string? _actionProblem;

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
            await _reading.WaitAsync(_closed.Token);
        }
        catch (OperationCanceledException)
        {
            return; // The page was closed.
        }

        try
        {
            await LoadAsync(_closed.Token);
            _readProblem = null;
        }
        catch (Exception e)
        {
            // Whatever the read met (a refusal, no answer in Web:ApiTimeout, an unreadable answer) is
            // shown, and the next refresh reads again: an exception let through ended the page's updates.
            // A page closed meanwhile shows nothing (let through, it failed the circuit's disposal).
            _readProblem = _closed.IsCancellationRequested ? _readProblem : Describe(e);
        }
        finally
        {
            _reading.Release();
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
            _actionProblem = null;
        }
        catch (Exception e)
        {
            Notice = null;
            _actionProblem = _closed.IsCancellationRequested ? null : Describe(e);
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
        using var timer = new PeriodicTimer(Options.Value.RefreshInterval, Clock);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                if (!Connection.IsUp)
                {
                    // Its browser is gone (closed without a goodbye, asleep, offline): Blazor keeps the
                    // circuit for minutes in case it comes back, and nobody sees what a read would show.
                    continue;
                }

                await ReloadAsync();
                await InvokeAsync(StateHasChanged);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            // The page was closed.
        }
    }

    private static string Describe(Exception e) => e switch
    {
        OrchestratorProblemException problem => $"{problem.Title}: {problem.Detail}",
        // An answer that is not what the page reads (a proxy's page, another version of the API).
        JsonException => $"The API's answer could not be read: {e.Message}",
        // HttpClient's timeout (Web:ApiTimeout): an API that accepts and does not answer (paused, hung).
        TaskCanceledException or TimeoutException => "The API did not answer in time; reading again.",
        _ => $"The API did not answer: {e.Message}",
    };
}
