using Orchestrator.Worker.Processing;

namespace Orchestrator.UnitTests.Worker;

public sealed class WorkerSlotsTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task OutcomeWriting_GivesTheSlotBack_BeforeTheJobIsDone()
    {
        using var slots = new WorkerSlots(1, 64);
        Assert.Equal(1, await slots.TakeAsync(64, Token));
        var slot = slots.ForJob();
        var next = slots.TakeAsync(64, Token);
        Assert.False(next.IsCompleted);

        slot.OutcomeWriting();

        Assert.Equal(1, await next.WaitAsync(TimeSpan.FromSeconds(10), Token));
        Assert.Equal(1, slots.Writing);
        slot.Dispose();
        Assert.Equal(0, slots.Writing);
        Assert.Equal(0, slots.Free);
    }

    [Theory]
    [InlineData(2, 64)]
    [InlineData(10, 2)]
    public async Task OutcomeWriting_BeyondTheEarlyLimit_KeepsTheSlotUntilDone(int concurrency, int earlyLimit)
    {
        // The limit is the smaller of the two: here 2.
        using var slots = new WorkerSlots(concurrency, earlyLimit);
        if (concurrency > 2)
        {
            // Jobs running beside these four, all along.
            Assert.Equal(concurrency - 2, await slots.TakeAsync(concurrency - 2, Token));
        }

        Assert.Equal(2, await slots.TakeAsync(64, Token));
        var (first, second) = (slots.ForJob(), slots.ForJob());
        first.OutcomeWriting();
        second.OutcomeWriting();
        Assert.Equal(2, await slots.TakeAsync(64, Token));
        var (third, fourth) = (slots.ForJob(), slots.ForJob());

        // Two outcomes are being written already: these two keep their slots.
        third.OutcomeWriting();
        fourth.OutcomeWriting();
        Assert.Equal(2, slots.Writing);
        Assert.Equal(0, slots.Free);

        // Once one written outcome is done, the next job that answers gives its slot back early again.
        first.Dispose();
        third.Dispose();
        Assert.Equal(1, slots.Free);
        fourth.OutcomeWriting();
        Assert.Equal(2, slots.Writing);
        Assert.Equal(2, slots.Free);
        second.Dispose();
        fourth.Dispose();
        Assert.Equal(0, slots.Writing);
        Assert.Equal(2, slots.Free);
    }

    [Fact]
    public async Task Slot_GivenBackOnce_WhateverTheOrder()
    {
        using var slots = new WorkerSlots(3, 64);
        Assert.Equal(3, await slots.TakeAsync(64, Token));
        var early = slots.ForJob();
        var plain = slots.ForJob();
        var unstarted = 1;

        early.OutcomeWriting();
        early.OutcomeWriting();
        early.Dispose();
        early.Dispose();
        plain.Dispose();
        plain.OutcomeWriting();
        plain.Dispose();
        slots.Return(unstarted);

        // A second release of any slot would throw SemaphoreFullException (its maximum is 3).
        Assert.Equal(3, slots.Free);
        Assert.Equal(0, slots.Writing);
    }

    [Fact]
    public async Task TakeAsync_TakesEveryFreeSlotUpToTheBatch()
    {
        using var slots = new WorkerSlots(100, 64);

        Assert.Equal(64, await slots.TakeAsync(64, Token));
        Assert.Equal(36, await slots.TakeAsync(64, Token));
        slots.Return(0);
        Assert.Equal(0, slots.Free);
    }

    [Fact]
    public async Task WaitStarting_LetsAnotherJobRun_AndReturnTakesASlotInLine()
    {
        using var slots = new WorkerSlots(1, 64);
        Assert.Equal(1, await slots.TakeAsync(64, Token));
        var waiting = slots.ForJob();

        // The job waits for its retry: its slot goes to the next dispatch.
        waiting.WaitStarting();
        Assert.Equal(1, slots.Waiting);
        Assert.Equal(1, await slots.TakeAsync(64, Token).WaitAsync(TimeSpan.FromSeconds(10), Token));
        var other = slots.ForJob();

        // Its wait is over while the other job runs: it waits for a slot, ahead of the next dispatch.
        var back = waiting.ReturnAsync(Token).AsTask();
        var dispatch = slots.TakeAsync(64, Token);
        Assert.False(back.IsCompleted);
        other.Dispose();
        await back.WaitAsync(TimeSpan.FromSeconds(10), Token);
        Assert.False(dispatch.IsCompleted);
        Assert.Equal(0, slots.Waiting);

        waiting.Dispose();
        Assert.Equal(1, await dispatch.WaitAsync(TimeSpan.FromSeconds(10), Token));
        slots.Return(1);
        Assert.Equal(1, slots.Free);
    }

    [Fact]
    public async Task WaitStarting_BeyondConcurrencyWaitingJobs_KeepsTheSlot()
    {
        using var slots = new WorkerSlots(2, 64);
        Assert.Equal(2, await slots.TakeAsync(64, Token));
        var (first, second) = (slots.ForJob(), slots.ForJob());
        first.WaitStarting();
        second.WaitStarting();
        Assert.Equal(2, await slots.TakeAsync(64, Token));
        var (third, fourth) = (slots.ForJob(), slots.ForJob());

        // Two jobs wait without a slot already (the concurrency): these two wait holding theirs.
        third.WaitStarting();
        Assert.Equal(2, slots.Waiting);
        Assert.Equal(0, slots.Free);
        await third.ReturnAsync(Token);

        // A job that ends during its wait (handed back, canceled) gives nothing back twice.
        first.Dispose();
        first.Dispose();
        Assert.Equal(1, slots.Waiting);
        Assert.Equal(0, slots.Free);
        third.Dispose();
        fourth.OutcomeWriting();
        fourth.Dispose();
        Assert.Equal(2, slots.Free);

        // Its wait for a slot cancelled (a drain): it ends holding none.
        Assert.Equal(2, await slots.TakeAsync(64, Token));
        using var stop = new CancellationTokenSource();
        var back = second.ReturnAsync(stop.Token).AsTask();
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => back);
        second.Dispose();
        Assert.Equal(0, slots.Waiting);
        slots.Return(2);
        Assert.Equal(2, slots.Free);
    }
}
