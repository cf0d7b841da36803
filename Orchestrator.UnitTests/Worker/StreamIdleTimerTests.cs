using Microsoft.Extensions.Time.Testing;
using Orchestrator.Worker.Llm;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// <see cref="StreamIdleTimer"/>: a call is cut once the provider has been silent for the whole limit,
/// counted from its last chunk, not from the call's start; the attempt's own cancellation passes through.
/// </summary>
public sealed class StreamIdleTimerTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    [Fact]
    public void SilentFromTheStart_CutAtTheLimit_NotBefore()
    {
        var clock = new FakeTimeProvider();
        using var idle = new StreamIdleTimer(Limit, clock, CancellationToken.None);

        clock.Advance(Limit - TimeSpan.FromMilliseconds(1));
        Assert.False(idle.Token.IsCancellationRequested);

        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(idle.Token.IsCancellationRequested);
        Assert.True(idle.Fired);
        Assert.False(idle.Heard);
    }

    [Fact]
    public void ChunksCloserThanTheLimit_NeverCut_ThenASilenceIsCutALimitAfterTheLastChunk()
    {
        var clock = new FakeTimeProvider();
        using var idle = new StreamIdleTimer(Limit, clock, CancellationToken.None);

        // Ten minutes of chunks 20 s apart: far longer than the limit in all, never silent that long.
        for (var i = 0; i < 30; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(20));
            Assert.False(idle.Token.IsCancellationRequested, $"cut after chunk {i}");
            idle.Touch();
        }

        clock.Advance(Limit - TimeSpan.FromMilliseconds(1));
        Assert.False(idle.Token.IsCancellationRequested);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(idle.Fired);
        Assert.True(idle.Heard);
    }

    [Fact]
    public void AttemptCancelled_CallCancelled_NotForItsSilence()
    {
        var clock = new FakeTimeProvider();
        using var attempt = new CancellationTokenSource();
        using var idle = new StreamIdleTimer(Limit, clock, attempt.Token);

        attempt.Cancel();

        Assert.True(idle.Token.IsCancellationRequested);
        Assert.False(idle.Fired);
    }

    [Fact]
    public void Disposed_TheLimitPassing_CancelsNothing()
    {
        var clock = new FakeTimeProvider();
        var idle = new StreamIdleTimer(Limit, clock, CancellationToken.None);
        var token = idle.Token;

        idle.Dispose();
        clock.Advance(Limit * 2);

        Assert.False(token.IsCancellationRequested);
        Assert.False(idle.Fired);
    }
}
