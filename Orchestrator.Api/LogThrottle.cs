namespace Orchestrator.Api;

/// <summary>
/// At most one log line per <see cref="Interval"/> for a failure every request may meet, counting the
/// lines it stands for: a line per request (~900 bytes with the Redis client's diagnostics) wrote
/// 10 MB in 31 s of a Redis refusing writes at ~80 requests a second, and a refused <c>WAIT</c>
/// 783 lines in 69 s of a failover.
/// </summary>
internal sealed class LogThrottle(TimeProvider time)
{
    /// <summary>The shortest time between two lines.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private long? _lastLine;
    private int _notLogged;

    /// <summary>Whether this occurrence is logged; <paramref name="alsoSeen"/>: those since the last line, not logged.</summary>
    public bool ShouldLog(out int alsoSeen)
    {
        lock (_gate)
        {
            var now = time.GetTimestamp();
            if (_lastLine is { } last && time.GetElapsedTime(last, now) < Interval)
            {
                _notLogged++;
                alsoSeen = 0;
                return false;
            }

            alsoSeen = _notLogged;
            _notLogged = 0;
            _lastLine = now;
            return true;
        }
    }
}
