using Microsoft.Extensions.Time.Testing;

namespace Orchestrator.UnitTests.Worker;

/// <summary>
/// A fake host clock whose wall clock can be set (<see cref="Step"/>) while its monotonic clock goes
/// on, as a host's does when NTP or an operator steps it; <see cref="FakeTimeProvider"/> moves both.
/// </summary>
internal sealed class SteppedWallClock : TimeProvider
{
    /// <summary>Moves both clocks.</summary>
    public FakeTimeProvider Fake { get; } = new();

    /// <summary>How far the wall clock has been set from the monotonic clock's course.</summary>
    public TimeSpan Step { get; set; }

    public override DateTimeOffset GetUtcNow() => Fake.GetUtcNow() + Step;

    public override long GetTimestamp() => Fake.GetTimestamp();

    public override long TimestampFrequency => Fake.TimestampFrequency;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        Fake.CreateTimer(callback, state, dueTime, period);
}
