using Orchestrator.Worker.Resilience;

namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// When the deliveries a worker puts back come due again. A delivery is put back when its receiver's
/// (or its tenant's) share of the sending slots is taken; put back for a fixed
/// <c>Webhooks:PollInterval</c>, a receiver with a backlog got about its share of deliveries per
/// interval however fast it answered, and every delivery of the backlog was leased and put back
/// again each interval. Here the deliveries put back for one share form a line, spaced one try's
/// time (a running average of that share's tries) divided by the share's slots apart, so each comes
/// due about when a slot of the share frees: a receiver that answers in 2 ms gets its backlog at
/// its own pace. No wait is longer than one try's time, up to <see cref="LongestFactor"/> intervals, or
/// <c>Webhooks:PollInterval</c>, whichever is longer: capped at the interval alone, a backlog to a
/// receiver that hangs or answers in seconds was leased and put back whole every interval (an audit:
/// 3,000 deliveries, up to 4,500 script calls a second); capped at a whole try (15 s by default), a
/// receiver that recovered waited that long for its backlog (an audit: 11–15 s more). Until one of a
/// new line's tries has ended, its try time is taken as the line's age (up to
/// <c>Webhooks:RequestTimeout</c>): none of the share's tries has ended since its slots filled.
/// Written by hand (no library paces a queue by its observed service time); keeps only the shares
/// with a line, at most <see cref="MaxTracked"/> (when full, those whose line has come due make room).
/// </summary>
internal sealed class PutBackPacer(TimeSpan maxDelay, TimeSpan longestTry, TimeProvider timeProvider)
{
    /// <summary>Most shares tracked at once; past it, while every line is still ahead, a new share's put-backs wait <c>maxDelay</c>.</summary>
    internal const int MaxTracked = 10_000;

    /// <summary>The longest wait, in <c>Webhooks:PollInterval</c>s, however long a try takes.</summary>
    internal const int LongestFactor = 5;

    /// <summary>A share's try time until one of its tries has been timed.</summary>
    internal static readonly TimeSpan FirstGuess = TimeSpan.FromMilliseconds(10);

    private static readonly TimeSpan Shortest = TimeSpan.FromMilliseconds(1);

    // A line's spacing is an interval: a step of the host's clock must not move its tries.
    private readonly TimeProvider _clock = new MonotonicTimeProvider(timeProvider);
    private readonly Dictionary<string, Line> _lines = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Shares tracked now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _lines.Count;
            }
        }
    }

    /// <summary>
    /// The wait before a delivery put back for <paramref name="share"/> (a receiver's or a tenant's,
    /// of <paramref name="slots"/> slots, all taken) comes due again: after those already in its line,
    /// one try's time ÷ <paramref name="slots"/> later than the last, at most one try's time (up to
    /// <see cref="LongestFactor"/> × <c>maxDelay</c>) or <c>maxDelay</c> from now, whichever is longer.
    /// </summary>
    public TimeSpan PutBack(string share, int slots)
    {
        lock (_gate)
        {
            var now = _clock.GetUtcNow();
            if (!_lines.TryGetValue(share, out var line))
            {
                if (_lines.Count >= MaxTracked && !MakeRoom(now))
                {
                    return maxDelay;
                }

                line = new Line { Try = FirstGuess, Started = now };
                _lines[share] = line;
            }

            var tryTime = line.Timed ? line.Try : Max(FirstGuess, Min(longestTry, now - line.Started));
            line.Spacing = tryTime / Math.Max(1, slots);
            var due = (line.Next > now ? line.Next : now) + line.Spacing;
            var latest = now + Max(maxDelay, Min(tryTime, maxDelay * LongestFactor));
            line.Next = due < latest ? due : latest;
            return line.Next - now;
        }
    }

    /// <summary>A try of <paramref name="share"/>'s held its slot for <paramref name="took"/>: its line's spacing follows the running average.</summary>
    public void Sent(string share, TimeSpan took)
    {
        lock (_gate)
        {
            if (_lines.TryGetValue(share, out var line))
            {
                line.Try = line.Timed ? (line.Try * 3 + took) / 4 : took;
                line.Timed = true;
            }
        }
    }

    /// <summary>
    /// How long until the next delivery put back is due, at most <paramref name="longest"/>: an idle
    /// sender's wait, so that a line is served at its pace rather than once per poll.
    /// </summary>
    public TimeSpan NextDue(TimeSpan longest)
    {
        lock (_gate)
        {
            var now = _clock.GetUtcNow();
            var wait = longest;
            foreach (var line in _lines.Values)
            {
                if (line.Next > now && line.Spacing < wait)
                {
                    wait = line.Spacing;
                }
            }

            return wait > Shortest ? wait : Shortest;
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    private bool MakeRoom(DateTimeOffset now)
    {
        foreach (var (share, line) in _lines)
        {
            if (line.Next <= now)
            {
                _lines.Remove(share);
            }
        }

        return _lines.Count < MaxTracked;
    }

    private sealed class Line
    {
        public TimeSpan Try { get; set; }

        public bool Timed { get; set; }

        public DateTimeOffset Started { get; init; }

        public TimeSpan Spacing { get; set; }

        public DateTimeOffset Next { get; set; }
    }
}
