namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// The tries this worker has in flight per receiver (scheme, host and port), at most
/// <c>Webhooks:MaxConcurrentPerReceiver</c> each: a receiver that hangs, or answers slowly, holds that
/// many sending slots, not all of them. Only receivers with a try in flight are kept.
/// </summary>
internal sealed class ReceiverSlots(int perReceiver)
{
    private readonly Dictionary<string, int> _inFlight = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Takes one of <paramref name="receiver"/>'s slots; false when it has none free.</summary>
    public bool TryTake(string receiver)
    {
        lock (_gate)
        {
            var held = _inFlight.GetValueOrDefault(receiver);
            if (held >= perReceiver)
            {
                return false;
            }

            _inFlight[receiver] = held + 1;
            return true;
        }
    }

    /// <summary>Gives back a slot <see cref="TryTake"/> took.</summary>
    public void Return(string receiver)
    {
        lock (_gate)
        {
            if (_inFlight.TryGetValue(receiver, out var held) && held > 1)
            {
                _inFlight[receiver] = held - 1;
            }
            else
            {
                _inFlight.Remove(receiver);
            }
        }
    }

    /// <summary>Receivers with a try in flight.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _inFlight.Count;
            }
        }
    }
}
