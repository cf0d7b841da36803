using Microsoft.Extensions.Time.Testing;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Api;

/// <summary><see cref="JobCountsCache"/>: one count per scope per second, however many callers.</summary>
public sealed class JobCountsCacheTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public async Task Get_WithinOneSecond_AnswersTheSameCount_ThenCountsAgain()
    {
        var cache = new JobCountsCache(_time);
        var counter = new FakeCounter();

        var first = await cache.GetAsync(null, counter.CountAsync);
        _time.Advance(TimeSpan.FromMilliseconds(999));
        var again = await cache.GetAsync(null, counter.CountAsync);
        _time.Advance(TimeSpan.FromMilliseconds(1));
        var fresh = await cache.GetAsync(null, counter.CountAsync);

        Assert.Same(first, again);
        Assert.NotSame(first, fresh);
        Assert.Equal(2, counter.Calls);
        Assert.Equal(2, fresh.Counted);
    }

    [Fact]
    public async Task Get_EachScopeCountedApart()
    {
        var cache = new JobCountsCache(_time);
        var all = new FakeCounter();
        var a = new FakeCounter();
        var b = new FakeCounter();

        await cache.GetAsync(null, all.CountAsync);
        await cache.GetAsync("tenant-a", a.CountAsync);
        await cache.GetAsync("tenant-b", b.CountAsync);
        await cache.GetAsync("tenant-a", a.CountAsync);

        Assert.Equal((1, 1, 1), (all.Calls, a.Calls, b.Calls));
    }

    [Fact]
    public async Task Get_WhileACountRuns_CallersShareIt_EvenPastOneSecond()
    {
        var cache = new JobCountsCache(_time);
        var running = new TaskCompletionSource<JobCounts>(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        Task<JobCounts> Slow()
        {
            calls++;
            return running.Task;
        }

        var first = cache.GetAsync(null, Slow);
        _time.Advance(TimeSpan.FromSeconds(3));
        var second = cache.GetAsync(null, Slow);
        running.SetResult(new JobCounts(new Dictionary<string, long> { ["queued"] = 1 }, 1, 10_000));

        Assert.Same(await first, await second);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task Get_AfterAFailedCount_CountsAgainAtOnce()
    {
        var cache = new JobCountsCache(_time);
        var counter = new FakeCounter { FailNext = true };

        await Assert.ThrowsAsync<InvalidOperationException>(() => cache.GetAsync(null, counter.CountAsync));
        var counts = await cache.GetAsync(null, counter.CountAsync);

        Assert.Equal(2, counter.Calls);
        Assert.Equal(2, counts.Counted);
    }

    [Fact]
    public async Task Get_ManyScopes_ExpiredOnesAreDropped_LiveOnesKept()
    {
        var cache = new JobCountsCache(_time);
        var counter = new FakeCounter();
        for (var i = 0; i < 100; i++)
        {
            await cache.GetAsync($"tenant-{i}", counter.CountAsync);
        }

        _time.Advance(TimeSpan.FromSeconds(2));
        await cache.GetAsync("tenant-new", counter.CountAsync);
        var before = counter.Calls;
        await cache.GetAsync("tenant-new", counter.CountAsync);
        await cache.GetAsync("tenant-0", counter.CountAsync);

        // tenant-new still cached; tenant-0 had expired and was counted again.
        Assert.Equal(before + 1, counter.Calls);
    }

    private sealed class FakeCounter
    {
        public int Calls { get; private set; }

        public bool FailNext { get; set; }

        public Task<JobCounts> CountAsync()
        {
            Calls++;
            if (FailNext)
            {
                FailNext = false;
                return Task.FromException<JobCounts>(new InvalidOperationException("Redis is away."));
            }

            return Task.FromResult(new JobCounts(new Dictionary<string, long> { ["completed"] = Calls }, Calls, 10_000));
        }
    }
}
