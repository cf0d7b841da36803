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
}
