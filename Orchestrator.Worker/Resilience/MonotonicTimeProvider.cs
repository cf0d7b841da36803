namespace Orchestrator.Worker.Resilience;

/// <summary>
/// A clock for how long something lasts in this process: the wall clock read once, moved on by the
/// monotonic clock since. Circuit breaks are timed as "open until now + break" on
/// <see cref="TimeProvider.GetUtcNow"/> (Polly's breaker too), so a step of the host's clock back by
/// ten minutes kept a circuit open ten minutes past its break, and every job for that deployment
/// waited. Only for intervals: its <see cref="GetUtcNow"/> does not follow the host's clock when it
/// is set.
/// </summary>
internal sealed class MonotonicTimeProvider : TimeProvider
{
    private readonly TimeProvider _inner;
    private readonly DateTimeOffset _origin;
    private readonly long _start;

    public MonotonicTimeProvider(TimeProvider inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        _inner = inner;
        _origin = inner.GetUtcNow();
        _start = inner.GetTimestamp();
    }

    public override DateTimeOffset GetUtcNow() => _origin + _inner.GetElapsedTime(_start);

    public override long GetTimestamp() => _inner.GetTimestamp();

    public override long TimestampFrequency => _inner.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => _inner.LocalTimeZone;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
        _inner.CreateTimer(callback, state, dueTime, period);
}
