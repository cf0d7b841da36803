using System.Collections.Concurrent;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

// Partitions (issue 18): which partition's keys a call uses, and the layout check at start.
public sealed partial class JobStore
{
    // Where the next sweep over partitions starts (ReadNew, ClaimWebhooks): random, then round robin.
    private int _nextPartition = Random.Shared.Next(JobPartitions.Max);

    /// <summary>How long a failed dispatch-and-claim call is kept to be sent again (two leases of the default 30 s).</summary>
    internal static readonly TimeSpan UnansweredClaimKept = TimeSpan.FromMinutes(1);

    private readonly TimeProvider _time = TimeProvider.System;

    // The partitions a sweep passes by while no master can serve them.
    private readonly PartitionFaults _faults = new(TimeProvider.System);

    // Whether the services' writes wait for the partition count to have matched Redis's record once (RequireLayoutCheck), and whether it has.
    private volatile bool _layoutRequired;
    private volatile bool _layoutChecked;

    // A consumer's dispatch-and-claim call to a partition that failed: its token and count, sent again as the next call there.
    private readonly ConcurrentDictionary<(string Consumer, int Partition), (string Token, int Count, long At)> _unansweredClaims = new();

    /// <summary>How many partitions the job system has (<c>Jobs:Partitions</c>).</summary>
    public int Partitions => _keys.Partitions;

    /// <summary>
    /// A new job id for a submission of <paramref name="tenant"/>: with an idempotency key, one in
    /// the key's partition (so the key and the job share a slot); without, any (its partition is
    /// then as random as the id).
    /// </summary>
    public string NewJobId(string tenant, string? idempotencyKey) => idempotencyKey is null || Partitions == 1
        ? JobIds.New()
        : JobPartitions.NewJobId(JobPartitions.OfIdempotencyKey(tenant, idempotencyKey, Partitions), Partitions);

    /// <summary>
    /// Records the partition count in <see cref="RedisKeys.Meta"/> when none is recorded, and
    /// answers the count the data was laid out with. A count differing from this store's means the
    /// service must not start: jobs would sit in keys nobody reads. A store of several partitions
    /// also refuses data of the one-partition layout recorded before <c>{orch}:meta</c> existed.
    /// </summary>
    public async Task<PartitionCheck> CheckPartitionsAsync()
    {
        // The root's Stream and Jobs are the one-partition layout's keys, in the slot of {orch}:meta.
        var recorded = await LuaScripts.RecordPartitions.EvaluateAsync(Db,
            [_keys.Meta, _keys.Stream, _keys.Jobs], [Partitions, Partitions > 1 ? "1" : RedisValue.EmptyString, _keys.CheckChannel.ToString()]).ConfigureAwait(false);
        var check = new PartitionCheck(Partitions, (int)(long)recorded);
        if (check.Matches)
        {
            _layoutChecked = true;
        }

        return check;
    }

    /// <summary>
    /// Makes submissions (<see cref="CheckedLayoutAsync"/>, before the API writes), dispatches, webhook
    /// leases and reclaims wait until the partition count has matched Redis's record once
    /// (<see cref="CheckPartitionsAsync"/>): until then each checks it first, and a count that differs,
    /// or a record out of reach, fails it as Redis not ready (<see cref="LayoutNotCheckedException"/>,
    /// or the unreachable master's error). A service started while the master of <c>{orch}:meta</c>
    /// was down checked at its reconnect, and meanwhile, configured with another count, wrote jobs to
    /// the partitions it could reach under keys no other service reads (an outside audit: 3 of 5
    /// acknowledged jobs answered 404 for good). The services call it at start (<c>EvictionPolicyGuard</c>).
    /// </summary>
    public void RequireLayoutCheck() => _layoutRequired = true;

    /// <summary>Whether a write must check the partition count first (<see cref="RequireLayoutCheck"/>).</summary>
    public bool LayoutCheckPending => _layoutRequired && !_layoutChecked;

    /// <summary>Checks the partition count when <see cref="LayoutCheckPending"/>; throws when it cannot or it differs.</summary>
    public ValueTask CheckedLayoutAsync() => LayoutCheckPending ? new ValueTask(CheckLayoutAsync()) : ValueTask.CompletedTask;

    private async Task CheckLayoutAsync()
    {
        var check = await CheckPartitionsAsync().ConfigureAwait(false);
        if (!check.Matches)
        {
            throw new LayoutNotCheckedException(check);
        }
    }

    // The first sweep position, advanced once per sweep.
    private int NextPartition() => (int)((uint)Interlocked.Increment(ref _nextPartition) % (uint)Partitions);

    /// <summary>
    /// Sends <paramref name="items"/> in one call per partition (concurrently), each call with its
    /// partition's keys, and answers in the order of <paramref name="items"/>. Re-sent with the
    /// same items, the same calls go out: a script's re-send rules hold per call.
    /// </summary>
    private async Task<TResult[]> ByPartitionAsync<TItem, TResult>(
        IReadOnlyList<TItem> items, Func<TItem, string> jobIdOf, Func<RedisKeys, IReadOnlyList<TItem>, Task<TResult[]>> send)
    {
        if (Partitions == 1)
        {
            return await send(_keys, items).ConfigureAwait(false);
        }

        var groups = items.Select((item, index) => (Item: item, Index: index))
            .GroupBy(x => JobPartitions.Of(jobIdOf(x.Item), Partitions))
            .ToList();
        if (groups.Count == 1)
        {
            return await send(_keys.For(groups[0].Key), items).ConfigureAwait(false);
        }

        var results = new TResult[items.Count];
        await Task.WhenAll(groups.Select(async group =>
        {
            var members = group.ToList();
            var answers = await send(_keys.For(group.Key), [.. members.Select(m => m.Item)]).ConfigureAwait(false);
            for (var i = 0; i < members.Count; i++)
            {
                results[members[i].Index] = answers[i];
            }
        })).ConfigureAwait(false);
        return results;
    }
}

/// <summary>What <see cref="JobStore.CheckPartitionsAsync"/> found.</summary>
/// <param name="Configured">This service's <c>Jobs:Partitions</c>.</param>
/// <param name="Recorded">The count the data in Redis was laid out with.</param>
public sealed record PartitionCheck(int Configured, int Recorded)
{
    /// <summary>Whether the service may start.</summary>
    public bool Matches => Configured == Recorded;
}
