using System.Collections.Concurrent;
using Orchestrator.Llm;

namespace Orchestrator.Worker.Llm.FlowControl;

/// <summary>
/// When <c>reserve.lua</c> last found a deployment without configured limits clear (no cooldown, no
/// limit learned from a 429: nothing to reserve and nothing to settle), per deployment. A call that
/// starts within <see cref="ReuseFor"/> of that reading's question goes on it instead of asking Redis
/// again. At the send the reading's age is checked as a reservation's answer is, so the call waits
/// for another worker's 429 exactly when it did when every call reserved. It saves the one Redis
/// call per LLM call a deployment without limits needed only to learn that nothing applies.
/// Also, for every deployment, when Redis last said it was not cooling down: a call's check at the
/// send (older than <see cref="DeploymentFlowControl.FreshFor"/>: <c>cooldown-left.lua</c> is asked)
/// is answered by any such answer fresh enough, whichever call asked, so a burst of calls that reach
/// the send late do not each ask on their own. A call that goes on a reading past
/// <see cref="RenewAfter"/> has it renewed off its path (<see cref="TryStartRenewal"/>): while a
/// deployment's calls come closer together than that, none waits for Redis to learn it is clear.
/// </summary>
public sealed class ClearReadings(TimeProvider timeProvider)
{
    /// <summary>
    /// How long after its question a reading is reused: half of <see cref="DeploymentFlowControl.FreshFor"/>,
    /// the other half left for the way to the send, so that a reused reading does not by itself make
    /// the send's freshness check ask Redis (<c>cooldown-left.lua</c>, one script call per call).
    /// </summary>
    public static readonly TimeSpan ReuseFor = DeploymentFlowControl.FreshFor / 2;

    /// <summary>
    /// How old a reading is when the call that goes on it has it renewed: half of <see cref="ReuseFor"/>,
    /// so that the renewal, a round trip, is back before the reading lapses.
    /// </summary>
    public static readonly TimeSpan RenewAfter = ReuseFor / 2;

    private readonly ConcurrentDictionary<string, long> _askedAt = new(StringComparer.Ordinal);
    // Deployments whose reading is being renewed: one renewal at a time each.
    private readonly ConcurrentDictionary<string, byte> _renewing = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _withoutCooldownAt = new(StringComparer.Ordinal);
    // When each deployment was last forgotten: an answer asked before that, arriving after it (a
    // call that was in flight when the 429 was heard), is not taken.
    private readonly ConcurrentDictionary<string, long> _forgottenAt = new(StringComparer.Ordinal);

    /// <summary>Whether the deployment's own configuration bounds nothing (requests, tokens, concurrency).</summary>
    public static bool Applies(ProviderOptions options) =>
        options.RequestsPerMinute is null && options.TokensPerMinute is null && options.MaxConcurrency is null;

    /// <summary>When the last clear reading of <paramref name="provider"/> was asked, if it is still fresh.</summary>
    public long? Fresh(string provider) =>
        _askedAt.TryGetValue(provider, out var askedAt) && timeProvider.GetElapsedTime(askedAt) < ReuseFor
            ? askedAt
            : null;

    /// <summary>
    /// Whether the call that goes on the reading asked at <paramref name="askedAt"/> should renew it:
    /// true (and the renewal is this call's until <see cref="RenewalEnded"/>) when the reading is past
    /// <see cref="RenewAfter"/> and no renewal of it is in flight.
    /// </summary>
    public bool TryStartRenewal(string provider, long askedAt) =>
        timeProvider.GetElapsedTime(askedAt) >= RenewAfter && _renewing.TryAdd(provider, 0);

    /// <summary>The renewal <see cref="TryStartRenewal"/> started has its answer (or failed).</summary>
    public void RenewalEnded(string provider) => _renewing.TryRemove(provider, out _);

    /// <summary>
    /// When Redis was last asked and answered that <paramref name="provider"/> was not cooling down
    /// (a clear reading, any reservation made, <c>cooldown-left.lua</c> answering 0), however old;
    /// none once forgotten. All a call's freshness check at the send needs, whichever call asked.
    /// </summary>
    public long? LatestWithoutCooldown(string provider) => _withoutCooldownAt.TryGetValue(provider, out var askedAt) ? askedAt : null;

    /// <summary>A question asked at <paramref name="askedAt"/> found <paramref name="provider"/> not cooling down (the later of two stays).</summary>
    public void RecordWithoutCooldown(string provider, long askedAt)
    {
        if (!AskedBeforeForgotten(provider, askedAt))
        {
            Later(_withoutCooldownAt, provider, askedAt);
        }
    }

    /// <summary>A reading asked at <paramref name="askedAt"/> found <paramref name="provider"/> clear (the later of two readings stays).</summary>
    public void Record(string provider, long askedAt)
    {
        if (!AskedBeforeForgotten(provider, askedAt))
        {
            Later(_askedAt, provider, askedAt);
            Later(_withoutCooldownAt, provider, askedAt);
        }
    }

    /// <summary>
    /// The deployment is not clear (this worker heard a 429, or found a cooldown): the next call asks
    /// Redis, and answers to questions asked before now are not taken.
    /// </summary>
    public void Forget(string provider)
    {
        _forgottenAt[provider] = timeProvider.GetTimestamp();
        _askedAt.TryRemove(provider, out _);
        _withoutCooldownAt.TryRemove(provider, out _);
    }

    private bool AskedBeforeForgotten(string provider, long askedAt) =>
        _forgottenAt.TryGetValue(provider, out var forgottenAt) && askedAt <= forgottenAt;

    private static void Later(ConcurrentDictionary<string, long> readings, string provider, long askedAt) =>
        readings.AddOrUpdate(provider, static (_, asked) => asked, static (_, known, asked) => Math.Max(known, asked), askedAt);
}
