namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// The tries this worker has in flight per receiver (scheme, host and port) and per tenant, at most
/// <c>Webhooks:MaxConcurrentPerReceiver</c> and <c>Webhooks:MaxConcurrentPerTenant</c> each: a receiver
/// that hangs, or answers slowly, holds that many sending slots, and a tenant whose callbacks name many
/// such receivers holds its share, not all of them. The shares add up to more than the worker's
/// <paramref name="total"/> slots, so the last <see cref="Reserve"/> free slots go only to a try whose
/// receiver and tenant hold none: two that hang together (two tenants, or one tenant's two receivers)
/// held all 16 slots by default, and every other tenant's deliveries waited a
/// <c>Webhooks:RequestTimeout</c> (an audit: 11.6–12.4 s). Only receivers and tenants with a try in flight are kept.
/// </summary>
internal sealed class SlotShares(int perReceiver, int perTenant, int total)
{
    private readonly Dictionary<string, int> _receivers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _tenants = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private int _inFlight;

    /// <summary>Slots one receiver may hold.</summary>
    public int PerReceiver => perReceiver;

    /// <summary>Slots one tenant may hold.</summary>
    public int PerTenant => perTenant;

    /// <summary>
    /// Free slots kept for a receiver and tenant that hold none: an eighth of the slots (2 of 16); none
    /// below 8, where one kept would halve a worker that serves one receiver (an audit: 2 slots, 9.1 → 19.7 s).
    /// </summary>
    public int Reserve { get; } = total / 8;

    /// <summary>
    /// Takes one of <paramref name="receiver"/>'s slots and one of <paramref name="tenant"/>'s, or neither:
    /// false when either has none free, or only the reserve is left and either holds a slot
    /// (<paramref name="receiverFull"/>: the receiver's share refused it, else the tenant's).
    /// </summary>
    public bool TryTake(string receiver, string tenant, out bool receiverFull)
    {
        lock (_gate)
        {
            var byReceiver = _receivers.GetValueOrDefault(receiver);
            var byTenant = _tenants.GetValueOrDefault(tenant);
            var inReserve = Reserve > 0 && total - _inFlight <= Reserve && (byReceiver > 0 || byTenant > 0);
            receiverFull = byReceiver >= perReceiver || (inReserve && byReceiver > 0);
            if (receiverFull || byTenant >= perTenant || inReserve)
            {
                return false;
            }

            _receivers[receiver] = byReceiver + 1;
            _tenants[tenant] = byTenant + 1;
            _inFlight++;
            return true;
        }
    }

    /// <summary>Gives back the slots <see cref="TryTake"/> took.</summary>
    public void Return(string receiver, string tenant)
    {
        lock (_gate)
        {
            Release(_receivers, receiver);
            Release(_tenants, tenant);
            _inFlight--;
        }
    }

    /// <summary>Receivers and tenants with a try in flight.</summary>
    public (int Receivers, int Tenants) Kept
    {
        get
        {
            lock (_gate)
            {
                return (_receivers.Count, _tenants.Count);
            }
        }
    }

    private static void Release(Dictionary<string, int> inFlight, string key)
    {
        if (inFlight.TryGetValue(key, out var held) && held > 1)
        {
            inFlight[key] = held - 1;
        }
        else
        {
            inFlight.Remove(key);
        }
    }
}
