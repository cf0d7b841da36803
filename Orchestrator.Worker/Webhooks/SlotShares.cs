namespace Orchestrator.Worker.Webhooks;

/// <summary>
/// The tries this worker has in flight per receiver (scheme, host and port) and per tenant, at most
/// <c>Webhooks:MaxConcurrentPerReceiver</c> and <c>Webhooks:MaxConcurrentPerTenant</c> each: a receiver
/// that hangs, or answers slowly, holds that many sending slots, and a tenant whose callbacks name many
/// such receivers holds its share, not all of them. Only receivers and tenants with a try in flight are kept.
/// </summary>
internal sealed class SlotShares(int perReceiver, int perTenant)
{
    private readonly Dictionary<string, int> _receivers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _tenants = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>Slots one receiver may hold.</summary>
    public int PerReceiver => perReceiver;

    /// <summary>Slots one tenant may hold.</summary>
    public int PerTenant => perTenant;

    /// <summary>
    /// Takes one of <paramref name="receiver"/>'s slots and one of <paramref name="tenant"/>'s, or neither:
    /// false when either has none free (<paramref name="receiverFull"/>: the receiver's, else the tenant's).
    /// </summary>
    public bool TryTake(string receiver, string tenant, out bool receiverFull)
    {
        lock (_gate)
        {
            var byReceiver = _receivers.GetValueOrDefault(receiver);
            var byTenant = _tenants.GetValueOrDefault(tenant);
            receiverFull = byReceiver >= perReceiver;
            if (receiverFull || byTenant >= perTenant)
            {
                return false;
            }

            _receivers[receiver] = byReceiver + 1;
            _tenants[tenant] = byTenant + 1;
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
