namespace Orchestrator.Jobs;

/// <summary>
/// At most one log line per interval for a failure that many requests, connections or loops may
/// meet at once, counting the occurrences it stands for: a line per request (~900 bytes with the
/// Redis client's diagnostics) wrote 10 MB in 31 s of a Redis refusing writes at ~80 requests a
/// second, a refused <c>WAIT</c> 783 lines in 69 s of a failover, and a check per restored
/// connection 699 lines at once.
/// </summary>
public sealed class LogThrottle(TimeProvider time, TimeSpan interval)
{
    private readonly Lock _gate = new();
    private long? _lastLine;
    private int _notLogged;

    /// <summary>At most one line a second.</summary>
    public LogThrottle(TimeProvider time)
        : this(time, TimeSpan.FromSeconds(1))
    {
    }

    /// <summary>Whether this occurrence is logged; <paramref name="alsoSeen"/>: those since the last line, not logged.</summary>
    public bool ShouldLog(out int alsoSeen)
    {
        lock (_gate)
        {
            var now = time.GetTimestamp();
            if (_lastLine is { } last && time.GetElapsedTime(last, now) < interval)
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
