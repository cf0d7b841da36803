using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;

namespace Orchestrator.UnitTests.Jobs;

/// <summary>
/// Redis's clock as a process reads it: the server's time at a reading, moved on by the process's
/// monotonic clock, whatever the host's wall clock says.
/// </summary>
public sealed class StoreClockTests
{
    private static readonly DateTimeOffset HostNow = new(2026, 12, 7, 1, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset ServerNow = HostNow + TimeSpan.FromMinutes(10);

    [Fact]
    public void BeforeAnyReading_TheHostsClock()
    {
        var time = new FakeTimeProvider(HostNow);
        Assert.Equal(HostNow, new StoreClock(time).UtcNow);
    }

    [Fact]
    public void AReading_TakenHalfwayThroughItsRoundTrip_ThenMovedOnByTheMonotonicClock()
    {
        var time = new FakeTimeProvider(HostNow);
        var clock = new StoreClock(time);

        var sent = time.GetTimestamp();
        time.Advance(TimeSpan.FromMilliseconds(20));
        clock.Observe(ServerNow, sent, time.GetTimestamp());

        Assert.Equal(ServerNow + TimeSpan.FromMilliseconds(10), clock.UtcNow);
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(ServerNow + TimeSpan.FromMilliseconds(3_010), clock.UtcNow);
    }

    [Fact]
    public void ASlowRoundTrip_LeavesTheLastReading_ButTheFirstIsTaken()
    {
        var time = new FakeTimeProvider(HostNow);
        var clock = new StoreClock(time);
        var sent = time.GetTimestamp();
        time.Advance(TimeSpan.FromSeconds(2));
        clock.Observe(ServerNow, sent, time.GetTimestamp());
        Assert.Equal(ServerNow + TimeSpan.FromSeconds(1), clock.UtcNow);

        sent = time.GetTimestamp();
        time.Advance(TimeSpan.FromSeconds(2));
        clock.Observe(ServerNow + TimeSpan.FromHours(1), sent, time.GetTimestamp());

        Assert.Equal(ServerNow + TimeSpan.FromSeconds(3), clock.UtcNow);
    }
}
