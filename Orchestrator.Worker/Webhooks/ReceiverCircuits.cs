using Orchestrator.Worker.Resilience;

namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// A circuit per webhook receiver (scheme, host and port), in this worker: after
/// <c>Webhooks:CircuitFailures</c> tries in a row without a 2xx, deliveries to it are not sent for
/// <c>Webhooks:CircuitBreakDuration</c> (each is recorded as a failed try and comes due when the
/// circuit opens again), then one try at a time probes it. A receiver that hangs then holds one
/// delivery slot per break, not every slot while its deliveries queue up before everyone else's.
/// Written by hand, not Polly's breaker: receivers are any URL a tenant names, and a pipeline per
/// receiver would be kept for ever; this keeps only receivers failing now, at most <see cref="MaxTracked"/>
/// (when full, those not open make room).
/// </summary>
internal sealed class ReceiverCircuits(int failures, TimeSpan breakDuration, TimeProvider timeProvider)
{
    /// <summary>Most receivers tracked at once; past it, while every one is open, a new failing receiver is sent to as if healthy.</summary>
    internal const int MaxTracked = 10_000;

    // A break is an interval: a step of the host's clock must not lengthen or end it.
    private readonly TimeProvider _clock = new MonotonicTimeProvider(timeProvider);
    private readonly Dictionary<string, Receiver> _receivers = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Receivers tracked now (failing, or open).</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _receivers.Count;
            }
        }
    }

    /// <summary>
    /// Whether a delivery to <paramref name="receiver"/> may be sent now: not while its circuit is open
    /// (<see cref="CircuitEntry.OpenFor"/> says how long), nor while another try probes it (zero then).
    /// </summary>
    public CircuitEntry TryEnter(string receiver)
    {
        if (failures == 0)
        {
            return CircuitEntry.Closed;
        }

        lock (_gate)
        {
            if (!_receivers.TryGetValue(receiver, out var state) || state.OpenUntil is not { } until)
            {
                return CircuitEntry.Closed;
            }

            var left = until - _clock.GetUtcNow();
            if (left > TimeSpan.Zero || state.Probing)
            {
                return new CircuitEntry(Go: false, Probe: false, left > TimeSpan.Zero ? left : TimeSpan.Zero, state.Failures, state.LastError);
            }

            state.Probing = true;
            return new CircuitEntry(Go: true, Probe: true, TimeSpan.Zero, state.Failures, state.LastError);
        }
    }

    /// <summary>Records a try sent to <paramref name="receiver"/>: delivered (2xx) or not, and why not.</summary>
    public void Record(string receiver, bool delivered, string? error)
    {
        if (failures == 0)
        {
            return;
        }

        lock (_gate)
        {
            if (delivered)
            {
                _receivers.Remove(receiver);
                return;
            }

            if (!_receivers.TryGetValue(receiver, out var state))
            {
                if (_receivers.Count >= MaxTracked && !DropClosed())
                {
                    return;
                }

                _receivers[receiver] = state = new Receiver();
            }

            state.LastError = error;
            state.Failures++;
            // A failed probe opens it again at once; otherwise the failures in a row open it.
            if (state.Probing || state.Failures >= failures)
            {
                state.OpenUntil = _clock.GetUtcNow() + breakDuration;
                state.Probing = false;
            }
        }
    }

    /// <summary>
    /// Makes room in a full table: drops the receivers whose circuit is not open now (failing, but
    /// not yet n in a row, or past their break with no probe out), whose counts start again. Receivers
    /// that failed once and were never sent to again would otherwise fill it for good. False when
    /// every one is open.
    /// </summary>
    private bool DropClosed()
    {
        var now = _clock.GetUtcNow();
        foreach (var (name, state) in _receivers)
        {
            if (!state.Probing && !(state.OpenUntil > now))
            {
                _receivers.Remove(name);
            }
        }

        return _receivers.Count < MaxTracked;
    }

    /// <summary>
    /// Gives up a probe <see cref="TryEnter"/> let through whose try ended with nothing to record (the
    /// worker stopping): the next delivery probes instead.
    /// </summary>
    public void Abandon(string receiver)
    {
        lock (_gate)
        {
            if (_receivers.TryGetValue(receiver, out var state))
            {
                state.Probing = false;
            }
        }
    }

    /// <summary>The receiver a delivery URL is sent to: its scheme, host and port.</summary>
    public static string Of(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.GetLeftPart(UriPartial.Authority) : url;

    private sealed class Receiver
    {
        public int Failures { get; set; }

        public DateTimeOffset? OpenUntil { get; set; }

        public bool Probing { get; set; }

        public string? LastError { get; set; }
    }
}

/// <summary>What <see cref="ReceiverCircuits.TryEnter"/> answered.</summary>
/// <param name="Go">Whether to send the delivery now.</param>
/// <param name="Probe">Whether this try probes a circuit that was open.</param>
/// <param name="OpenFor">When not sent: how long the circuit stays open (zero while a probe is out).</param>
/// <param name="Failures">The receiver's tries in a row without a 2xx.</param>
/// <param name="LastError">The last of them.</param>
internal readonly record struct CircuitEntry(bool Go, bool Probe, TimeSpan OpenFor, int Failures, string? LastError)
{
    /// <summary>A receiver not failing: send.</summary>
    public static CircuitEntry Closed => new(Go: true, Probe: false, TimeSpan.Zero, 0, null);
}
