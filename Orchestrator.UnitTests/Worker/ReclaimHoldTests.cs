using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;
using Orchestrator.Worker;
using Orchestrator.Worker.Processing;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// <see cref="ReclaimHold"/>: after this worker saw Redis stall, reclaim waits a renewal period, two
/// of the retry pipeline's longest waits and a second; a refusal Redis answered at once is no stall.
/// </summary>
public sealed class ReclaimHoldTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _clock = new();
    private readonly RedisRetryStreaks _streaks;
    private readonly ReclaimHold _hold;

    public ReclaimHoldTests()
    {
        _streaks = new RedisRetryStreaks(_clock);
        _hold = new ReclaimHold(_streaks, Options.Create(new WorkerOptions { LeaseTimeout = Lease }), _clock);
    }

    [Fact]
    public void NoStallSeen_NoHold()
    {
        Assert.Equal(TimeSpan.FromSeconds(10 + 2 + 2 + 1), _hold.Length);
        Assert.Equal(TimeSpan.Zero, _hold.Remaining);
    }

    [Theory]
    [InlineData(RedisFailureKind.Unavailable)]
    [InlineData(RedisFailureKind.NotReady)]
    [InlineData(RedisFailureKind.ReadOnly)]
    [InlineData(RedisFailureKind.NoScript)]
    public void ARetryRedisDidNotAnswer_HoldsFromTheLastOne(RedisFailureKind kind)
    {
        _streaks.Retried("dispatch", kind);
        _clock.Advance(TimeSpan.FromSeconds(10));
        _streaks.Retried("reclaim", kind);
        _clock.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(_hold.Length - TimeSpan.FromSeconds(1), _hold.Remaining);
        _clock.Advance(_hold.Length - TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.Zero, _hold.Remaining);
    }

    [Theory]
    [InlineData(RedisFailureKind.OutOfMemory)]
    [InlineData(RedisFailureKind.NoGroup)]
    public void ARefusalRetried_NoHold(RedisFailureKind kind)
    {
        _streaks.Retried("dispatch", kind);
        _streaks.Retried("submit");

        Assert.Equal(TimeSpan.Zero, _hold.Remaining);
    }

    [Fact]
    public void ACallLongerThanARenewalPeriod_Holds_AShorterOneDoesNot()
    {
        var started = _clock.GetTimestamp();
        _clock.Advance(_hold.RenewalPeriod);
        _hold.Timed(started);
        Assert.Equal(TimeSpan.Zero, _hold.Remaining);

        _clock.Advance(TimeSpan.FromMilliseconds(1));
        _hold.Timed(started);
        Assert.Equal(_hold.Length, _hold.Remaining);
    }

    [Fact]
    public void AFailedRenewal_Holds()
    {
        _hold.Stalled();
        _clock.Advance(TimeSpan.FromSeconds(3));

        Assert.Equal(_hold.Length - TimeSpan.FromSeconds(3), _hold.Remaining);
    }
}
