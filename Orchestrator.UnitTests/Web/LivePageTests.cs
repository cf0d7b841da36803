using System.Collections.Concurrent;
using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Client;
using Orchestrator.Web;
using Orchestrator.Web.Components;

namespace Orchestrator.UnitTests.Web;

/// <summary>
/// A live page's reads, one at a time: a refresh's read still out when a person moves (next page, a
/// filter) used to end after the move's own read and put the rows it read back under the new address.
/// </summary>
public sealed class LivePageTests : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly BunitContext _context = new();
    private readonly FakeTimeProvider _time = new();
    private readonly WebOptions _options = new() { ApiUrl = "http://127.0.0.1:1" };

    public LivePageTests()
    {
        _context.Services.AddSingleton<TimeProvider>(_time);
        _context.Services.AddSingleton(Options.Create(_options));
        _context.Services.AddSingleton(new CircuitConnection());
        _context.Services.AddSingleton(new OrchestratorClient(new HttpClient { BaseAddress = new Uri(_options.ApiUrl) }));
    }

    [Fact]
    public async Task RefreshOutWhenAPersonMoves_TheMovesReadComesAfterIt_AndItsRowsStay()
    {
        var page = _context.Render<ControlledReads>();
        page.Instance.Answer(0);

        // A refresh reads what the page shows now (page 1) and its answer is slow. (The clock moves on
        // until it begins: the refresh's timer starts once the first read has ended.)
        await AsyncWait.WaitUntilAsync(
            () =>
            {
                _time.Advance(_options.RefreshInterval);
                return page.Instance.Begun >= 2;
            },
            Patience, "the refresh's read begins");

        // The person moves on to page 2; its read, had it begun, answers at once, then the refresh's.
        var move = page.InvokeAsync(() => page.Instance.MoveToAsync(2));
        page.Instance.AnswerIfBegun(2);
        page.Instance.Answer(1);
        await page.Instance.WaitForReadsAsync(3, "the move's read begins");
        page.Instance.Answer(2);
        await move.WaitAsync(Patience, Xunit.TestContext.Current.CancellationToken);

        Assert.Equal(2, page.Instance.Shown);
        Assert.Equal(1, page.Instance.MostReadsAtOnce);
    }

    public async ValueTask DisposeAsync() => await _context.DisposeAsync();

    /// <summary>A live page whose reads answer when the test says: each shows the page wanted when it began.</summary>
    private sealed class ControlledReads : LivePage
    {
        private readonly ConcurrentDictionary<int, TaskCompletionSource> _answers = new();
        private int _begun;
        private int _reading;
        private int _wanted = 1;

        public int Shown { get; private set; }

        public int MostReadsAtOnce { get; private set; }

        public Task MoveToAsync(int page)
        {
            _wanted = page;
            return ReloadAsync();
        }

        /// <summary>Answers read <paramref name="read"/> (counted from 0), now or as soon as it begins.</summary>
        public void Answer(int read) => AnswerTo(read).TrySetResult();

        public void AnswerIfBegun(int read)
        {
            if (Begun > read)
            {
                Answer(read);
            }
        }

        public int Begun => Volatile.Read(ref _begun);

        public Task WaitForReadsAsync(int begun, string what) => AsyncWait.WaitUntilAsync(() => Begun >= begun, Patience, what);

        protected override async Task LoadAsync(CancellationToken cancellationToken)
        {
            var wanted = _wanted;
            var read = Interlocked.Increment(ref _begun) - 1;
            MostReadsAtOnce = Math.Max(MostReadsAtOnce, Interlocked.Increment(ref _reading));
            try
            {
                await AnswerTo(read).Task.WaitAsync(cancellationToken);
                Shown = wanted;
            }
            finally
            {
                Interlocked.Decrement(ref _reading);
            }
        }

        private TaskCompletionSource AnswerTo(int read) =>
            _answers.GetOrAdd(read, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
    }
}
