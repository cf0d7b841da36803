using System.Diagnostics;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;
using Orchestrator.Worker.Llm;

namespace Orchestrator.UnitTests.Worker;

/// <summary>The simulator's precise clock: waits end, never early, in deadline order, and can be cancelled.</summary>
public sealed class LatencyClockTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task WaitAsync_EndsNoEarlierThanHalfAMillisecondBeforeItsDeadline()
    {
        var started = Stopwatch.GetTimestamp();
        await LatencyClock.Shared.WaitAsync(TimeSpan.FromMilliseconds(30), CancellationToken.None).WaitAsync(Bound, TestContext.Current.CancellationToken);

        // A lower bound only: how late a wait ends depends on the machine and is a benchmark's business.
        Assert.True(Stopwatch.GetElapsedTime(started) >= TimeSpan.FromMilliseconds(29.5));
    }

    [Fact]
    public async Task WaitAsync_ShorterWaitQueuedLater_EndsFirst()
    {
        var order = new List<int>();
        var slow = LatencyClock.Shared.WaitAsync(TimeSpan.FromMilliseconds(300), CancellationToken.None).ContinueWith(_ => { lock (order) { order.Add(300); } }, TaskScheduler.Default);
        var fast = LatencyClock.Shared.WaitAsync(TimeSpan.FromMilliseconds(20), CancellationToken.None).ContinueWith(_ => { lock (order) { order.Add(20); } }, TaskScheduler.Default);

        await Task.WhenAll(slow, fast).WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.Equal([20, 300], order);
    }

    [Fact]
    public async Task WaitAsync_Cancelled_LeavesTheQueueAtOnce()
    {
        var clock = new LatencyClock();
        using var cancellation = new CancellationTokenSource();
        var wait = clock.WaitAsync(TimeSpan.FromMinutes(5), cancellation.Token);
        Assert.Equal(1, clock.Pending);

        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Bound, TestContext.Current.CancellationToken));
        Assert.Equal(0, clock.Pending);
    }

    [Fact]
    public async Task WaitAsync_Cancelled_EndsCancelledBeforeItsDeadline()
    {
        using var cancellation = new CancellationTokenSource();
        var wait = LatencyClock.Shared.WaitAsync(TimeSpan.FromMinutes(5), cancellation.Token);

        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => wait.WaitAsync(Bound, TestContext.Current.CancellationToken));
    }
}
