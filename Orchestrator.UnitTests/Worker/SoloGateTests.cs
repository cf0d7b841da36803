using Orchestrator.Worker.Resilience;

namespace Orchestrator.UnitTests.Worker;

public sealed class SoloGateTests
{
    private static CancellationToken Token => TestContext.Current.CancellationToken;

    [Fact]
    public async Task GroupSuspects_WaitForRunningOrdinaryJobs_ThenRunTogetherNotAlone()
    {
        var gate = new SoloGate();
        var ordinary = await gate.EnterAsync(Isolation.None, Token);

        var first = gate.EnterAsync(Isolation.Group, Token);
        var second = gate.EnterAsync(Isolation.Group, Token);
        Assert.True(gate.SuspectHeld);
        Assert.False(first.IsCompleted);
        Assert.False(second.IsCompleted);

        ordinary.Dispose();
        var turns = await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10), Token);

        Assert.All(turns, t => Assert.False(t.Alone));
        Assert.All(turns, t => t.Dispose());
        Assert.False(gate.SuspectHeld);
    }

    [Fact]
    public async Task GroupOfOne_IsAlone()
    {
        var gate = new SoloGate();

        using var turn = await gate.EnterAsync(Isolation.Group, Token).WaitAsync(TimeSpan.FromSeconds(10), Token);

        Assert.True(turn.Alone);
    }

    [Fact]
    public async Task OrdinaryJob_WaitsWhileASuspectIsHeld_RunsOnceTheLastLeaves()
    {
        var gate = new SoloGate();
        var suspect = await gate.EnterAsync(Isolation.Group, Token);

        var ordinary = gate.EnterAsync(Isolation.None, Token);
        Assert.False(ordinary.IsCompleted);

        suspect.Dispose();
        using var turn = await ordinary.WaitAsync(TimeSpan.FromSeconds(10), Token);

        Assert.False(turn.Alone);
        Assert.False(gate.SuspectHeld);
    }

    [Fact]
    public async Task SuspectArrivingDuringATurn_WaitsForTheNextTurn()
    {
        var gate = new SoloGate();
        var running = await gate.EnterAsync(Isolation.Group, Token);

        var late = gate.EnterAsync(Isolation.Group, Token);
        Assert.False(late.IsCompleted);

        running.Dispose();
        using var turn = await late.WaitAsync(TimeSpan.FromSeconds(10), Token);

        // It runs after the first turn, by itself: a crash now is its own.
        Assert.True(turn.Alone);
    }

    [Fact]
    public async Task AloneSuspects_RunOneAtATime_AndGroupOnesTogether_InArrivalOrder()
    {
        var gate = new SoloGate();
        var ordinary = await gate.EnterAsync(Isolation.None, Token);
        var alone1 = gate.EnterAsync(Isolation.Alone, Token);
        var group1 = gate.EnterAsync(Isolation.Group, Token);
        var alone2 = gate.EnterAsync(Isolation.Alone, Token);
        var group2 = gate.EnterAsync(Isolation.Group, Token);

        ordinary.Dispose();
        var first = await alone1.WaitAsync(TimeSpan.FromSeconds(10), Token);
        Assert.True(first.Alone);
        Assert.False(group1.IsCompleted || alone2.IsCompleted || group2.IsCompleted);

        first.Dispose();
        var groups = await Task.WhenAll(group1, group2).WaitAsync(TimeSpan.FromSeconds(10), Token);
        Assert.All(groups, t => Assert.False(t.Alone));
        Assert.False(alone2.IsCompleted);

        groups[0].Dispose();
        Assert.False(alone2.IsCompleted);
        groups[1].Dispose();
        using var last = await alone2.WaitAsync(TimeSpan.FromSeconds(10), Token);
        Assert.True(last.Alone);
    }

    [Fact]
    public async Task CanceledSuspectWait_ReleasesTheHold_OrdinaryJobsRunAgain()
    {
        var gate = new SoloGate();
        var ordinary = await gate.EnterAsync(Isolation.None, Token);
        using var cancel = new CancellationTokenSource();
        var suspect = gate.EnterAsync(Isolation.Alone, cancel.Token);
        var waitingOrdinary = gate.EnterAsync(Isolation.None, Token);
        Assert.True(gate.SuspectHeld);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => suspect);
        Assert.False(gate.SuspectHeld);
        using var turn = await waitingOrdinary.WaitAsync(TimeSpan.FromSeconds(10), Token);
        ordinary.Dispose();
    }

    [Fact]
    public async Task Turn_DisposedTwice_LeavesOnce()
    {
        var gate = new SoloGate();
        var first = await gate.EnterAsync(Isolation.Group, Token);
        var second = gate.EnterAsync(Isolation.Group, Token);

        first.Dispose();
        first.Dispose();
        using var turn = await second.WaitAsync(TimeSpan.FromSeconds(10), Token);

        Assert.True(turn.Alone);
        Assert.True(gate.SuspectHeld);
    }

    [Fact]
    public async Task HeldTogether_ShareOneTurn_WhicheverReachesTheGateFirst()
    {
        var gate = new SoloGate();
        var tickets = gate.Hold([Isolation.Group, Isolation.None, Isolation.Group, Isolation.Group]);
        Assert.Null(tickets[1]);

        // The first one's task reaches the gate before the others: it still shares their turn.
        using var first = await tickets[0]!.WaitAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
        using var second = await tickets[2]!.WaitAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
        using var third = await tickets[3]!.WaitAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);

        Assert.False(first.Alone);
        Assert.False(second.Alone);
        Assert.False(third.Alone);
    }

    [Fact]
    public async Task TicketDisposedUnused_LeavesTheLineOrItsTurn()
    {
        var gate = new SoloGate();
        var ordinary = await gate.EnterAsync(Isolation.None, Token);
        var waiting = gate.Hold([Isolation.Alone])[0]!;
        var admitted = gate.Hold([Isolation.Group, Isolation.Group]);
        Assert.True(gate.SuspectHeld);

        // Never waited for (its job ended before its turn): the line moves on without it.
        waiting.Dispose();
        ordinary.Dispose();
        var turn = await admitted[0]!.WaitAsync(Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
        Assert.False(turn.Alone);
        // Its turn given but never taken up: disposing the ticket ends it, and the turn's own disposal does not count twice.
        admitted[1]!.Dispose();
        admitted[1]!.Dispose();
        turn.Dispose();
        admitted[0]!.Dispose();

        Assert.False(gate.SuspectHeld);
        using var next = await gate.EnterAsync(Isolation.None, Token).WaitAsync(TimeSpan.FromSeconds(10), Token);
    }
}
