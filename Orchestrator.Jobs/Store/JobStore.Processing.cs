using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Text.Json;
using StackExchange.Redis;

namespace Orchestrator.Jobs;

// The worker's side of the store: delivery, leases, and the attempt state machine.
public sealed partial class JobStore
{
    /// <summary>Creates the consumer group (and the stream) of every partition if missing. Safe to call from every worker.</summary>
    public async Task EnsureConsumerGroupAsync()
    {
        foreach (var keys in _keys.All)
        {
            try
            {
                await Db.ExecuteAsync("XGROUP", "CREATE", keys.Stream, RedisKeys.ConsumerGroup, "0", "MKSTREAM").ConfigureAwait(false);
            }
            catch (RedisServerException e) when (e.Message.StartsWith("BUSYGROUP", StringComparison.Ordinal))
            {
                // Another worker created it first.
            }
            catch (RedisServerException e) when (RedisFailure.Classify(e) is RedisFailureKind.OutOfMemory or RedisFailureKind.CannotPersist)
            {
                // Redis at maxmemory (or failing to persist) refuses XGROUP CREATE before it looks for the
                // group: a worker started then waited for memory to come back with its group there all along.
                if (!await GroupExistsAsync(keys).ConfigureAwait(false))
                {
                    throw;
                }
            }
        }
    }

    private async Task<bool> GroupExistsAsync(RedisKeys keys)
    {
        try
        {
            return (await Db.StreamGroupInfoAsync(keys.Stream).ConfigureAwait(false)).Any(g => g.Name == RedisKeys.ConsumerGroup);
        }
        catch (RedisServerException e) when (e.Message.StartsWith("ERR no such key", StringComparison.Ordinal))
        {
            return false;
        }
    }

    /// <summary>
    /// Takes up to <paramref name="count"/> jobs for <paramref name="consumer"/> in one script
    /// (<c>dispatch.lua</c>): chosen by weighted fair sharing between the tenants with ready jobs,
    /// within a tenant by priority (a low job first once it has waited <paramref name="maxLowPriorityWait"/>),
    /// skipping tenants held back by <c>MaxConcurrency</c> or <c>TokensPerMinute</c>; each is sent into the
    /// stream (with its tenant permit) and delivered to the consumer, ready to claim. Empty when no
    /// tenant has a job that may run: wait for <see cref="RedisKeys.ReadyChannel"/>.
    /// </summary>
    /// <remarks>
    /// With several partitions one script cannot dispatch from them all (other slots): each
    /// partition dispatches in turn, from a different one each call (round robin from a random
    /// start), until <paramref name="count"/> jobs are taken. Fair sharing and priorities hold
    /// within each partition; with jobs spread evenly over partitions they hold overall.
    /// </remarks>
    public Task<IReadOnlyList<Delivery>> DispatchAsync(string consumer, int count, TimeSpan maxLowPriorityWait) =>
        FromPartitionsAsync(Partitions == 1 ? 0 : NextPartition(), count, (partition, wanted) => DispatchAsync(_keys.For(partition), consumer, wanted, maxLowPriorityWait));

    /// <summary>
    /// Takes up to <paramref name="count"/> items from one partition after another, starting at
    /// <paramref name="start"/>, until enough came: a worker's dispatch over the partitions.
    /// </summary>
    private async Task<IReadOnlyList<T>> FromPartitionsAsync<T>(int start, int count, Func<int, int, Task<T[]>> take)
    {
        await CheckedLayoutAsync().ConfigureAwait(false);
        if (Partitions == 1)
        {
            return await take(0, count).ConfigureAwait(false);
        }

        var items = new List<T>(count);
        var (answered, asked) = (false, false);
        Exception? failure = null;
        // A second pass when every partition was passed by (all of Redis away, or back): each is asked
        // again in turn until one fails, so that a Redis that is back is used at once, not at its
        // partitions' next probes (up to 10 s later: an outside audit measured 30 s).
        for (var pass = 0; pass < 2 && !asked; pass++)
        {
            for (var i = 0; i < Partitions && items.Count < count; i++)
            {
                var partition = (start + i) % Partitions;
                if (pass == 0 && _faults.PassBy(partition, () => ProbeAsync(partition), out var cause))
                {
                    failure ??= cause;
                    continue;
                }

                asked = true;
                try
                {
                    items.AddRange(await take(partition, count - items.Count).ConfigureAwait(false));
                    answered = true;
                    if (_faults.Any)
                    {
                        _faults.Answered(partition);
                    }
                }
                catch (Exception e) when (RedisFailure.IsTransient(e))
                {
                    // This partition and those of its master: the others' jobs go on (PartitionFaults).
                    MarkFailing(partition, e);
                    failure = pass == 0 ? failure ?? e : e;
                    if (pass == 1)
                    {
                        break;
                    }
                }
            }
        }

        // No partition answered: the call failed as a whole, as with one partition (the caller's retries and health).
        if (!answered && failure is not null)
        {
            ExceptionDispatchInfo.Throw(failure);
        }

        return items;
    }

    // A partition's call failed: it is passed by, and, when its master did not answer at all, so are the
    // other partitions of that master (as the client sees the slots), each of which cost a sweep the
    // client's timeout to find out (5 s a partition). A refusal (TRYAGAIN: a slot moving) is its own.
    private void MarkFailing(int partition, Exception cause)
    {
        _faults.Failed(partition, cause);
        if (RedisFailure.Classify(cause) != RedisFailureKind.Unavailable || MasterOf(partition) is not { } master)
        {
            return;
        }

        for (var other = 0; other < Partitions; other++)
        {
            if (other != partition && Equals(MasterOf(other), master))
            {
                _faults.Failed(other, cause);
            }
        }
    }

    private System.Net.EndPoint? MasterOf(int partition)
    {
        try
        {
            return SubmissionMaster(partition).EndPoint;
        }
        catch (RedisConnectionException)
        {
            return null; // no connection resolves the slot now: the partition alone
        }
    }

    // Whether a failing partition answers again: a read of one of its keys, which changes nothing.
    private Task ProbeAsync(int partition) => RedisReply.WithinAsync(Db.KeyExistsAsync(_keys.For(partition).DispatchState), RedisReply.BoundFor(redis));

    private async Task<Delivery[]> DispatchAsync(RedisKeys keys, string consumer, int count, TimeSpan maxLowPriorityWait)
    {
        var reply = (RedisResult[])(await LuaScripts.Dispatch.EvaluateAsync(
            Db,
            [keys.Stream, keys.ActiveTenants, keys.DispatchState],
            [RedisKeys.ConsumerGroup, consumer, count, (long)maxLowPriorityWait.TotalMilliseconds, _permits.PoliciesJson, _permits.LeaseMs])
            .ConfigureAwait(false))!;
        var deliveries = new Delivery[reply.Length / 2];
        for (var i = 0; i < deliveries.Length; i++)
        {
            deliveries[i] = new Delivery((string)reply[2 * i]!, (string)reply[(2 * i) + 1]!, Reclaimed: false);
        }

        return deliveries;
    }

    /// <summary>
    /// <see cref="DispatchAsync(string, int, TimeSpan)"/> and <see cref="ClaimManyAsync(IReadOnlyList{JobLease}, bool, int)"/>
    /// in one script call per partition: the entries delivered are claimed in the same call, entry i
    /// under the lease token <paramref name="claimToken"/><c>:i</c>. Sent again with the same
    /// <paramref name="claimToken"/> after it applied (the reply was lost), it answers the same.
    /// </summary>
    public Task<IReadOnlyList<(Delivery Delivery, ClaimResult Claim)>> DispatchAndClaimAsync(
        string consumer, int count, TimeSpan maxLowPriorityWait, string claimToken, bool startAttempt, int maxCrashes = DefaultMaxCrashes) =>
        // The partitions in an order the token fixes (a random start, as NextPartition's): a call sent
        // again asks them in the same order, so the ones that answered before answer the same again.
        // A token per partition: each partition's script remembers its own call.
        FromPartitionsAsync(
            (int)((uint)string.GetHashCode(claimToken, StringComparison.Ordinal) % (uint)Partitions),
            count,
            (partition, wanted) => Partitions == 1
                ? DispatchAndClaimAsync(_keys, consumer, wanted, maxLowPriorityWait, claimToken, startAttempt, maxCrashes)
                : DispatchAndClaimInAsync(partition, consumer, wanted, maxLowPriorityWait, $"{claimToken}.{partition}", startAttempt, maxCrashes));

    /// <summary>
    /// One partition's dispatch and claim. A call to it that failed may have applied (its reply lost):
    /// with several partitions the sweep goes on without it, so that call is remembered, and sent
    /// again as it was (its token and count) as the next call to the partition, which then answers
    /// what it claimed; until then its count may exceed the jobs the caller has room for, and the
    /// partition is passed by. Past <see cref="UnansweredClaimKept"/> it is forgotten: what it may
    /// have claimed is reclaimed when its leases lapse, and a busy worker asks the partition again.
    /// </summary>
    private async Task<(Delivery Delivery, ClaimResult Claim)[]> DispatchAndClaimInAsync(
        int partition, string consumer, int wanted, TimeSpan maxLowPriorityWait, string claimToken, bool startAttempt, int maxCrashes)
    {
        var (token, count, at) = _unansweredClaims.TryGetValue((consumer, partition), out var unanswered) && _time.GetElapsedTime(unanswered.At) < UnansweredClaimKept
            ? unanswered
            : (claimToken, wanted, _time.GetTimestamp());
        if (count > wanted)
        {
            return [];
        }

        try
        {
            var claimed = await DispatchAndClaimAsync(_keys.For(partition), consumer, count, maxLowPriorityWait, token, startAttempt, maxCrashes).ConfigureAwait(false);
            _unansweredClaims.TryRemove((consumer, partition), out _);
            return claimed;
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            _unansweredClaims[(consumer, partition)] = (token, count, at);
            throw;
        }
    }

    private async Task<(Delivery Delivery, ClaimResult Claim)[]> DispatchAndClaimAsync(
        RedisKeys keys, string consumer, int count, TimeSpan maxLowPriorityWait, string claimToken, bool startAttempt, int maxCrashes)
    {
        var reply = (RedisResult[])(await LuaScripts.Dispatch.EvaluateAsync(
            Db,
            [keys.Stream, keys.ActiveTenants, keys.DispatchState, keys.DeadLetters],
            [RedisKeys.ConsumerGroup, consumer, count, (long)maxLowPriorityWait.TotalMilliseconds, _permits.PoliciesJson, _permits.LeaseMs,
                claimToken, startAttempt ? "1" : RedisValue.EmptyString, maxCrashes])
            .ConfigureAwait(false))!;
        var claimed = new (Delivery Delivery, ClaimResult Claim)[reply.Length / 3];
        for (var i = 0; i < claimed.Length; i++)
        {
            var delivery = new Delivery((string)reply[3 * i]!, (string)reply[(3 * i) + 1]!, Reclaimed: false);
            var lease = new JobLease(delivery.JobId, delivery.EntryId, $"{claimToken}:{i + 1}", consumer);
            claimed[i] = (delivery, await ClaimResultOfAsync(lease, (RedisResult[])reply[(3 * i) + 2]!).ConfigureAwait(false));
        }

        return claimed;
    }

    /// <summary>
    /// <see cref="DispatchAsync"/> for tests and tools: asks again every 10 ms until a job comes or
    /// <paramref name="wait"/> is over (the worker waits on <see cref="RedisKeys.ReadyChannel"/> instead).
    /// Low-priority jobs age after <see cref="SchedulingOptions.DefaultMaxLowPriorityWait"/>.
    /// </summary>
    public async Task<IReadOnlyList<Delivery>> ReadNewAsync(string consumer, int count, TimeSpan wait)
    {
        var deadline = Environment.TickCount64 + (long)wait.TotalMilliseconds;
        while (true)
        {
            var deliveries = await DispatchAsync(consumer, count, SchedulingOptions.DefaultMaxLowPriorityWait).ConfigureAwait(false);
            if (deliveries.Count > 0 || Environment.TickCount64 >= deadline)
            {
                return deliveries;
            }

            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Charges the tokens one LLM call used to its tenant's <c>TokensPerMinute</c> (<c>tenant-tokens.lua</c>).
    /// Returns how far the tenant's token clock runs ahead of now; past a minute its jobs are held back.
    /// </summary>
    /// <remarks>
    /// With several partitions each has the tenant's token clock (dispatch.lua reads its own
    /// partition's): every call's tokens are charged to all of them, so each holds the tenant back
    /// on the fleet's use and the limit holds fleet-wide (N calls per charge).
    /// </remarks>
    public async Task<TimeSpan> ChargeTenantTokensAsync(string tenant, long tokens, int tokensPerMinute)
    {
        var ahead = await Task.WhenAll(_keys.All.Select(async keys => (long)await LuaScripts.TenantTokens.EvaluateAsync(
            Db, [keys.TenantTokens(tenant)], [tokens, tokensPerMinute]).ConfigureAwait(false))).ConfigureAwait(false);
        return TimeSpan.FromMilliseconds(ahead.Max());
    }

    /// <summary>
    /// Makes every parked tenant due (<c>{orch}:tenants:held</c>, score 0), so the next dispatch looks
    /// at each again under this process's policies. A worker does it as it starts: a tenant parked
    /// under a limit since raised or removed otherwise waited until the old limit's hold ended (12
    /// minutes, measured). One still held is parked again by that dispatch.
    /// </summary>
    /// <returns>The tenants made due.</returns>
    public async Task<long> WakeParkedTenantsAsync()
    {
        var woken = 0L;
        foreach (var keys in _keys.All)
        {
            var parked = await Db.SortedSetRangeByRankAsync(keys.HeldTenants).ConfigureAwait(false);
            if (parked.Length > 0)
            {
                // Only members still parked (XX): one a dispatch took back meanwhile stays out.
                await Db.SortedSetAddAsync(keys.HeldTenants, [.. parked.Select(t => new SortedSetEntry(t, 0))], SortedSetWhen.Exists).ConfigureAwait(false);
                woken += parked.Length;
            }
        }

        return woken;
    }

    /// <summary>
    /// Takes over entries whose holder has not renewed its lease for <paramref name="leaseTimeout"/>
    /// (a crashed, paused or partitioned worker), scanning the pending entries from the start.
    /// </summary>
    public async Task<IReadOnlyList<Delivery>> ReclaimExpiredAsync(string consumer, TimeSpan leaseTimeout, int count) =>
        (await ReclaimExpiredAsync(consumer, leaseTimeout, count, ReclaimPage.Start).ConfigureAwait(false)).Deliveries;

    /// <summary>
    /// One XAUTOCLAIM step from <paramref name="cursor"/>: takes up to <paramref name="count"/>
    /// entries idle past <paramref name="leaseTimeout"/>. Redis examines at most 10 × count pending
    /// entries per call, so the caller keeps <see cref="ReclaimPage.Next"/> and passes it back: the
    /// scan moves on across calls instead of restarting where live entries hide lapsed ones.
    /// </summary>
    /// <remarks>
    /// With several partitions the cursor also names the partition: a pass starts at a random one,
    /// scans each partition's pending entries in turn, and ends (<see cref="ReclaimPage.Start"/>)
    /// when it is back at the first.
    /// </remarks>
    public async Task<ReclaimPage> ReclaimExpiredAsync(string consumer, TimeSpan leaseTimeout, int count, string cursor)
    {
        await CheckedLayoutAsync().ConfigureAwait(false);
        if (Partitions == 1)
        {
            return await ReclaimExpiredAsync(_keys, consumer, leaseTimeout, count, cursor).ConfigureAwait(false);
        }

        var (first, partition, entry) = ReclaimCursor.Parse(cursor, Partitions) ?? (NextPartition(), -1, ReclaimPage.Start);
        partition = partition < 0 ? first : partition;
        ReclaimPage page;
        if (_faults.PassBy(partition, () => ProbeAsync(partition), out _))
        {
            // Not reachable now: the pass goes on to the next partition (PartitionFaults).
            page = new ReclaimPage([], ReclaimPage.Start);
        }
        else
        {
            try
            {
                page = await ReclaimExpiredAsync(_keys.For(partition), consumer, leaseTimeout, count, entry).ConfigureAwait(false);
            }
            catch (Exception e) when (RedisFailure.IsTransient(e))
            {
                MarkFailing(partition, e);
                throw;
            }
        }

        if (page.Next != ReclaimPage.Start)
        {
            return page with { Next = ReclaimCursor.Format(first, partition, page.Next) };
        }

        // This partition is done: the next one, unless the pass is back where it started.
        var next = (partition + 1) % Partitions;
        return page with { Next = next == first ? ReclaimPage.Start : ReclaimCursor.Format(first, next, ReclaimPage.Start) };
    }

    /// <summary>
    /// Proves the Redis user may run <c>XAUTOCLAIM</c>, the one command workers send outside a script
    /// that no script call proves: a user without it started, and a dead worker's jobs were never
    /// taken over (an outside audit). Asked of a key that does not exist, it changes nothing: NOGROUP
    /// when allowed; NOPERM, thrown, when not.
    /// </summary>
    public async Task CheckReclaimRightAsync()
    {
        try
        {
            await RedisReply.WithinAsync(Db.ExecuteAsync("XAUTOCLAIM", $"{_keys.Meta}:rights", RedisKeys.ConsumerGroup, "rights-check", 0, "0-0", "COUNT", 1),
                RedisReply.BoundFor(Db.Multiplexer)).ConfigureAwait(false);
        }
        catch (RedisServerException e) when (!RedisFailure.IsPermissionDenied(e))
        {
            // NOGROUP, or a refusal of writes (OOM, MISCONF, READONLY): the right is there.
        }
    }

    private async Task<ReclaimPage> ReclaimExpiredAsync(RedisKeys keys, string consumer, TimeSpan leaseTimeout, int count, string cursor)
    {
        // Not a script: bounded here, so that a reply the client lost cannot stop the reclaim loop.
        var result = await RedisReply.WithinAsync(Db.StreamAutoClaimAsync(
            keys.Stream, RedisKeys.ConsumerGroup, consumer,
            (long)leaseTimeout.TotalMilliseconds, cursor, count), RedisReply.BoundFor(Db.Multiplexer)).ConfigureAwait(false);
        return new ReclaimPage(
            [.. result.ClaimedEntries
                .Where(e => !e.IsNull)
                .Select(e => new Delivery(e.Id!, (string)e["jobId"]!, Reclaimed: true))],
            (string?)result.NextStartId ?? ReclaimPage.Start);
    }

    /// <summary>
    /// How soon the leases held by other consumers lapse at the latest, for the soonest consumer: a
    /// consumer's idle time (XINFO CONSUMERS) is since its last read or renewal, and each of its
    /// entries was delivered or renewed no later, so all of them lapse within
    /// <paramref name="leaseTimeout"/> − that idle time. Null when no other consumer holds an entry
    /// whose lease has yet to lapse. One call per partition.
    /// </summary>
    /// <remarks>
    /// A reclaimer that sleeps until then instead of a whole <c>Worker:ReclaimInterval</c> takes a
    /// dead worker's jobs over as their leases lapse, not up to an interval later.
    /// </remarks>
    public async Task<TimeSpan?> NextLapseAsync(string self, TimeSpan leaseTimeout)
    {
        TimeSpan? next = null;
        foreach (var keys in _keys.All)
        {
            foreach (var consumer in await Db.StreamConsumerInfoAsync(keys.Stream, RedisKeys.ConsumerGroup).ConfigureAwait(false))
            {
                var lapse = leaseTimeout - TimeSpan.FromMilliseconds(consumer.IdleTimeInMilliseconds);
                if (consumer.PendingMessageCount > 0 && consumer.Name != self && lapse > TimeSpan.Zero && (next is null || lapse < next))
                {
                    next = lapse;
                }
            }
        }

        return next;
    }

    /// <summary>
    /// The longest <c>Worker:LeaseTimeout</c> among the workers that called this within the last
    /// <paramref name="counts"/> of theirs, <paramref name="leaseTimeout"/> (the caller's, recorded
    /// for <paramref name="counts"/>) included (<c>fleet-lease.lua</c>): what a worker reclaims on,
    /// so that it takes no live job from a worker whose lease is longer than its own.
    /// </summary>
    public async Task<TimeSpan> FleetLeaseAsync(string consumer, TimeSpan leaseTimeout, TimeSpan counts)
    {
        var longest = (long)await LuaScripts.FleetLease.EvaluateAsync(
            Db, [_keys.FleetLeases], [$"{(long)leaseTimeout.TotalMilliseconds}:{consumer}", (long)counts.TotalMilliseconds]).ConfigureAwait(false);
        return TimeSpan.FromMilliseconds(Math.Max(longest, (long)leaseTimeout.TotalMilliseconds));
    }

    /// <summary>
    /// Removes consumers that hold no pending entry and were not seen for <paramref name="idle"/>
    /// (stopped workers), never <paramref name="self"/>. Returns how many went.
    /// </summary>
    public async Task<long> PruneConsumersAsync(string self, TimeSpan idle)
    {
        long removed = 0;
        foreach (var keys in _keys.All)
        {
            removed += (long)await LuaScripts.PruneConsumers.EvaluateAsync(
                Db, [keys.Stream], [RedisKeys.ConsumerGroup, (long)idle.TotalMilliseconds, self]).ConfigureAwait(false);
        }

        return removed;
    }

    /// <summary>
    /// Makes the caller the job's lease holder (fencing out any earlier one) and returns the job.
    /// With <paramref name="startAttempt"/>, the same script also starts the next attempt when the
    /// job may start now (as <see cref="StartAttemptAsync"/> would, one round trip fewer); see
    /// <see cref="ClaimResult.StartedAttempt"/>. The attempt budget is the job's own (fixed at submission).
    /// </summary>
    public async Task<ClaimResult> ClaimAsync(Delivery delivery, string consumer, bool startAttempt = false, int maxCrashes = DefaultMaxCrashes) =>
        (await ClaimManyAsync(NewLeases([delivery], consumer), startAttempt, maxCrashes).ConfigureAwait(false))[0];

    /// <summary>Crashes while running alone before a job is dead-lettered as poison, unless the caller says otherwise.</summary>
    public const int DefaultMaxCrashes = 2;

    /// <summary>
    /// <see cref="ClaimAsync"/> for a whole batch of deliveries in one script: one round trip, each
    /// job claimed exactly as it would be alone. Results are in the order of <paramref name="deliveries"/>.
    /// A job that cannot be claimed or parsed is set aside (<see cref="ClaimOutcome.Corrupt"/>) alone.
    /// Re-sent after it applied (the reply was lost), the call answers the same.
    /// </summary>
    public async Task<IReadOnlyList<ClaimResult>> ClaimManyAsync(
        IReadOnlyList<Delivery> deliveries, string consumer, bool startAttempt = false, int maxCrashes = DefaultMaxCrashes)
    {
        if (deliveries.Count == 0)
        {
            return [];
        }

        return await ClaimManyAsync(NewLeases(deliveries, consumer), startAttempt, maxCrashes).ConfigureAwait(false);
    }

    /// <summary>A new lease (a fresh random token) on each delivery, for <see cref="ClaimManyAsync(IReadOnlyList{JobLease}, bool)"/>.</summary>
    public static JobLease[] NewLeases(IReadOnlyList<Delivery> deliveries, string consumer)
    {
        var leases = new JobLease[deliveries.Count];
        for (var i = 0; i < deliveries.Count; i++)
        {
            leases[i] = new JobLease(deliveries[i].JobId, deliveries[i].EntryId, NewToken(), consumer);
        }

        return leases;
    }

    /// <summary>
    /// Claims with the given leases (their tokens identify the claims): sending the same leases
    /// again after the call applied answers as the first call did and changes nothing.
    /// </summary>
    /// <param name="maxCrashes">Crashes while running alone before the job is dead-lettered as poison (<c>Worker:MaxCrashes</c>).</param>
    public async Task<IReadOnlyList<ClaimResult>> ClaimManyAsync(IReadOnlyList<JobLease> leases, bool startAttempt, int maxCrashes = DefaultMaxCrashes) =>
        await ByPartitionAsync(leases, static l => l.JobId, (partition, part) => ClaimManyAsync(partition, part, startAttempt, maxCrashes)).ConfigureAwait(false);

    private async Task<ClaimResult[]> ClaimManyAsync(RedisKeys partition, IReadOnlyList<JobLease> leases, bool startAttempt, int maxCrashes)
    {
        var keys = new RedisKey[2 + (2 * leases.Count)];
        var values = new RedisValue[5 + (2 * leases.Count)];
        keys[0] = partition.Stream;
        keys[1] = partition.DeadLetters;
        values[0] = RedisKeys.ConsumerGroup;
        values[1] = leases[0].Consumer;
        values[2] = startAttempt ? "1" : RedisValue.EmptyString;
        values[3] = maxCrashes;
        values[4] = _permits.PoliciesJson;
        for (var i = 0; i < leases.Count; i++)
        {
            keys[2 + (2 * i)] = _keys.Job(leases[i].JobId);
            keys[3 + (2 * i)] = _keys.History(leases[i].JobId);
            values[5 + (2 * i)] = leases[i].EntryId;
            values[6 + (2 * i)] = leases[i].Token;
        }

        var replies = (RedisResult[])(await LuaScripts.Claim.EvaluateAsync(Db, keys, values).ConfigureAwait(false))!;
        var results = new ClaimResult[leases.Count];
        for (var i = 0; i < results.Length; i++)
        {
            results[i] = await ClaimResultOfAsync(leases[i], (RedisResult[])replies[i]!).ConfigureAwait(false);
        }

        return results;
    }

    // One job's claim reply (includes/claim.lua) read.
    private async ValueTask<ClaimResult> ClaimResultOfAsync(JobLease lease, RedisResult[] reply) => (string)reply[0]! switch
    {
        "missing" => new ClaimResult(ClaimOutcome.Missing, lease, null),
        "terminal" => new ClaimResult(ClaimOutcome.AlreadyFinal, lease, null),
        "dead-lettered" => new ClaimResult(ClaimOutcome.DeadLettered, lease, FinalJob(reply)),
        "canceled" => new ClaimResult(ClaimOutcome.Canceled, lease, FinalJob(reply)),
        "corrupt" => new ClaimResult(ClaimOutcome.Corrupt, lease, null, Reason: (string?)reply[1]),
        _ => await ParseClaimedAsync(lease, reply).ConfigureAwait(false),
    };

    // The job a claim made final (dead-lettered, canceled), for its worker's log line and metrics;
    // null when it does not parse (it is final already: nothing more to set aside).
    private static Job? FinalJob(RedisResult[] reply)
    {
        try
        {
            return JobParser.ParsePacked(((ReadOnlyMemory<byte>)(RedisValue)reply[2]).Span);
        }
        catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or OverflowException)
        {
            return null;
        }
    }

    // A job whose hash the worker cannot read is set aside, as claim.lua sets aside one it cannot claim.
    private async Task<ClaimResult> ParseClaimedAsync(JobLease lease, RedisResult[] reply)
    {
        try
        {
            return new ClaimResult(ClaimOutcome.Claimed, lease, JobParser.ParsePacked(((ReadOnlyMemory<byte>)(RedisValue)reply[2]).Span), StartedAttempt: (int)reply[1]);
        }
        catch (Exception e) when (e is FormatException or JsonException or KeyNotFoundException or OverflowException)
        {
            var reason = $"{e.GetType().Name}: {e.Message}";
            await SetAsideAsync(lease, reason).ConfigureAwait(false);
            return new ClaimResult(ClaimOutcome.Corrupt, lease, null, Reason: reason);
        }
    }

    /// <summary>
    /// Sets aside a job the caller holds but cannot run: failed, dead-lettered with error type
    /// <c>corrupt</c>. False when the caller no longer held the lease.
    /// </summary>
    public async Task<bool> SetAsideAsync(JobLease lease, string reason) =>
        (long)await LuaScripts.SetAside.EvaluateAsync(
            Db,
            [_keys.ForJob(lease.JobId).Stream, _keys.ForJob(lease.JobId).DeadLetters, _keys.Job(lease.JobId), _keys.History(lease.JobId)],
            [RedisKeys.ConsumerGroup, lease.Token, lease.EntryId, reason]).ConfigureAwait(false) == 1;

    /// <summary>Extends the lease. <see cref="LeaseRenewal.Lost"/> means another worker owns the job now: stop working on it.</summary>
    public async Task<LeaseRenewal> RenewLeaseAsync(JobLease lease) =>
        (await RenewLeasesAsync([lease]).ConfigureAwait(false))[0];

    /// <summary>
    /// <see cref="RenewLeaseAsync"/> for many leases of one consumer in one script; the answers are
    /// in the order of <paramref name="leases"/>.
    /// </summary>
    public async Task<LeaseRenewal[]> RenewLeasesAsync(IReadOnlyList<JobLease> leases) => leases.Count == 0
        ? []
        : await ByPartitionAsync(leases, static l => l.JobId, RenewLeasesAsync).ConfigureAwait(false);

    private async Task<LeaseRenewal[]> RenewLeasesAsync(RedisKeys partition, IReadOnlyList<JobLease> leases)
    {
        var keys = new RedisKey[1 + leases.Count];
        var values = new RedisValue[2 + (2 * leases.Count)];
        keys[0] = partition.Stream;
        values[0] = RedisKeys.ConsumerGroup;
        values[1] = leases[0].Consumer;
        for (var i = 0; i < leases.Count; i++)
        {
            keys[1 + i] = _keys.Job(leases[i].JobId);
            values[2 + (2 * i)] = leases[i].EntryId;
            values[3 + (2 * i)] = leases[i].Token;
        }

        var replies = (RedisResult[])(await LuaScripts.Renew.EvaluateAsync(Db, keys, values).ConfigureAwait(false))!;
        return [.. replies.Select(r => (LeaseRenewal)(long)r)];
    }

    /// <summary>
    /// Records the start of attempt <paramref name="attempt"/> (the job's attempts so far + 1),
    /// durably, before the LLM is called. Sent again after it applied, it answers the same. When the
    /// job's tenant has all its <c>MaxConcurrency</c> permits taken, nothing starts
    /// (<see cref="StartAttemptOutcome.Held"/>): put it back in its ready set (<see cref="RequeueAsync"/>).
    /// </summary>
    /// <param name="alone">Whether the caller runs this attempt with nothing else in its process (a suspect; see <see cref="Job.Suspect"/>).</param>
    /// <param name="tenant">The job's tenant, when the caller knows it: only its policy is sent (every tenant's otherwise).</param>
    public async Task<(StartAttemptOutcome Outcome, int Attempt)> StartAttemptAsync(JobLease lease, int attempt, bool alone = false, string? tenant = null)
    {
        var reply = (RedisResult[])(await LuaScripts.StartAttempt.EvaluateAsync(
            Db,
            [_keys.Job(lease.JobId), _keys.History(lease.JobId)],
            [lease.Token, attempt, alone ? "1" : RedisValue.EmptyString, tenant is null ? _permits.PoliciesJson : _permits.PolicyJsonOf(tenant), _permits.LeaseMs]).ConfigureAwait(false))!;
        return (string)reply[0]! switch
        {
            "ok" => (StartAttemptOutcome.Started, (int)reply[1]),
            "exhausted" => (StartAttemptOutcome.Exhausted, 0),
            "held" => (StartAttemptOutcome.Held, 0),
            _ => (StartAttemptOutcome.LeaseLost, 0),
        };
    }

    /// <summary>Stores the result; the job is completed. False when the caller's lease or attempt is stale.</summary>
    public Task<bool> CompleteAsync(JobLease lease, int attempt, JobResult result) =>
        FinishAttemptAsync(AttemptFinish.Completed(lease, attempt, result));

    /// <summary>Records a failed attempt and when the next one starts; the job is retrying.</summary>
    public Task<bool> ScheduleRetryAsync(JobLease lease, int attempt, string outcome, JobError error, TimeSpan delay) =>
        FinishAttemptAsync(AttemptFinish.Retrying(lease, attempt, outcome, error, delay));

    /// <summary>Records the final failed attempt; the job is failed and dead-lettered.</summary>
    public Task<bool> FailAsync(JobLease lease, int attempt, string outcome, JobError error) =>
        FinishAttemptAsync(AttemptFinish.Failed(lease, attempt, outcome, error));

    /// <summary>Records one attempt's outcome. False when the caller's lease or attempt is stale.</summary>
    public async Task<bool> FinishAttemptAsync(AttemptFinish finish) =>
        (await FinishAttemptsAsync([finish]).ConfigureAwait(false))[0] != FinishReply.Stale;

    /// <summary>
    /// Records the outcomes of many attempts in one script, each its own compare-and-set on lease,
    /// attempt and status. The answers are in the order of <paramref name="finishes"/>.
    /// </summary>
    public async Task<FinishReply[]> FinishAttemptsAsync(IReadOnlyList<AttemptFinish> finishes) => finishes.Count == 0
        ? []
        : await ByPartitionAsync(finishes, static f => f.Lease.JobId, FinishAttemptsAsync).ConfigureAwait(false);

    private async Task<FinishReply[]> FinishAttemptsAsync(RedisKeys partition, IReadOnlyList<AttemptFinish> finishes)
    {
        var keys = new RedisKey[3 + (2 * finishes.Count)];
        var values = new RedisValue[1 + (11 * finishes.Count)];
        keys[0] = partition.Stream;
        keys[1] = partition.DeadLetters;
        keys[2] = partition.Delayed;
        values[0] = RedisKeys.ConsumerGroup;
        for (var i = 0; i < finishes.Count; i++)
        {
            var finish = finishes[i];
            keys[3 + (2 * i)] = _keys.Job(finish.Lease.JobId);
            keys[4 + (2 * i)] = _keys.History(finish.Lease.JobId);
            var at = 1 + (11 * i);
            values[at] = finish.Lease.Token;
            values[at + 1] = finish.Attempt;
            values[at + 2] = finish.Outcome;
            values[at + 3] = finish.NextStatus;
            values[at + 4] = finish.Lease.EntryId;
            values[at + 5] = finish.Result is null ? RedisValue.EmptyString : JsonSerializer.Serialize(finish.Result, JobsJsonContext.Default.JobResult);
            values[at + 6] = finish.Error is null ? RedisValue.EmptyString : JsonSerializer.Serialize(finish.Error, JobsJsonContext.Default.JobError);
            values[at + 7] = finish.RetryDelay is { } delay ? (long)delay.TotalMilliseconds : RedisValue.EmptyString;
            values[at + 8] = finish.ToDelayedSet ? "1" : RedisValue.EmptyString;
            values[at + 9] = finish.Result is { } spent ? SpendMembers(spent) : RedisValue.EmptyString;
            values[at + 10] = finish.LastDelta ?? RedisValue.EmptyString;
        }

        var replies = (RedisResult[])(await LuaScripts.FinishAttempt.EvaluateAsync(Db, keys, values).ConfigureAwait(false))!;
        return [.. replies.Select(static r => r.Resp2Type != ResultType.Integer ? FinishReply.Stale : (long)r switch
        {
            1 => FinishReply.Recorded,
            2 => FinishReply.CanceledInstead,
            _ => FinishReply.Stale,
        })];
    }

    // The result's model and usage as members of the attempt's history entry ('"model":…,"usage":{…}'),
    // in the names and defaults finish-attempt.lua gives them when it parses a result itself.
    private static string SpendMembers(JobResult result)
    {
        var json = JsonSerializer.Serialize(
            new AttemptSpend(result.Model, new LlmUsage(result.Usage.PromptTokens, result.Usage.CompletionTokens, result.Cost ?? 0)),
            JobsJsonContext.Default.AttemptSpend);
        return json[1..^1];
    }

    /// <summary>
    /// Takes back the attempt <paramref name="attempt"/> that met a long wait for its deployment
    /// before its LLM call, and parks the job in the delayed set until <paramref name="wait"/> is over:
    /// no attempt spent, no lease and no worker slot held meanwhile (<c>defer.lua</c>).
    /// <paramref name="totalWait"/> is the job's wait for deployments so far, this one included, kept
    /// in the job so that <c>Llm:MaxRateLimitWait</c> bounds it across workers. Sent again after it
    /// applied, it answers the same. Returns <see cref="DeferOutcome.Deferred"/>;
    /// <see cref="DeferOutcome.Canceled"/> when a client canceled the job meanwhile (it ends canceled
    /// instead of waiting); <see cref="DeferOutcome.Stale"/> when the caller's lease or attempt is no longer current.
    /// </summary>
    /// <param name="booking">The slot the wait booked with a deployment, <c>&lt;slot&gt;:&lt;provider&gt;</c>, kept for the next claim; null: none.</param>
    public async Task<DeferOutcome> DeferAsync(JobLease lease, int attempt, TimeSpan wait, TimeSpan totalWait, string? booking = null)
    {
        var reply = await LuaScripts.Defer.EvaluateAsync(
            Db,
            [_keys.Job(lease.JobId), _keys.History(lease.JobId), _keys.ForJob(lease.JobId).Stream, _keys.ForJob(lease.JobId).DeadLetters, _keys.ForJob(lease.JobId).Delayed],
            [lease.Token, attempt, (long)wait.TotalMilliseconds, (long)totalWait.TotalMilliseconds, RedisKeys.ConsumerGroup, lease.EntryId, booking ?? ""])
            .ConfigureAwait(false);
        return reply.Resp2Type != ResultType.Integer
            ? DeferOutcome.Corrupt
            : (long)reply switch
            {
                1 => DeferOutcome.Deferred,
                2 => DeferOutcome.Canceled,
                _ => DeferOutcome.Stale,
            };
    }

    /// <summary>
    /// Puts a claimed job whose attempt has not started back in its tenant's ready set, in the place
    /// of its submission (<c>requeue.lua</c>): dispatch sends it again with a permit reserved. For a
    /// job held for its tenant's <c>MaxConcurrency</c> permit, which would hold a slot (a suspect: its
    /// worker's other work) while it waits there. A suspect keeps <c>suspect</c>. Sent again after it applied, it answers
    /// true again; false when the caller's lease is no longer current or the attempt has started.
    /// </summary>
    public async Task<bool> RequeueAsync(JobLease lease) =>
        (long)await LuaScripts.Requeue.EvaluateAsync(
            Db,
            [_keys.Job(lease.JobId), _keys.ForJob(lease.JobId).Stream],
            [lease.Token, RedisKeys.ConsumerGroup, lease.EntryId]).ConfigureAwait(false) == 1;

    /// <summary>
    /// Gives the jobs of the delayed set that are due a new stream entry, up to
    /// <paramref name="limit"/> of them (<c>promote.lua</c>). Any worker may call it at any time; two
    /// at once promote each job once. Returns the jobs promoted and the members examined (when that
    /// equals <paramref name="limit"/>, more may be due). With several partitions each is promoted
    /// (one call each): the jobs promoted are summed, and Examined is the largest of one partition.
    /// </summary>
    public async Task<(long Promoted, long Examined)> PromoteDueAsync(int limit)
    {
        long promoted = 0, examined = 0;
        foreach (var keys in _keys.All)
        {
            var reply = (RedisResult[])(await LuaScripts.Promote.EvaluateAsync(
                Db,
                [keys.Delayed, keys.Stream, keys.DeadLetters],
                [limit, RedisKeys.ConsumerGroup]).ConfigureAwait(false))!;
            promoted += (long)reply[0];
            examined = Math.Max(examined, (long)reply[1]);
        }

        return (promoted, examined);
    }

    /// <summary>
    /// Hands a job back at shutdown: the lease is dropped and the entry made claimable at once; an
    /// attempt still running is closed as <see cref="AttemptOutcome.Released"/>, not charged.
    /// </summary>
    public async Task<ReleaseOutcome> ReleaseAsync(JobLease lease) =>
        (ReleaseOutcome)(long)await LuaScripts.Release.EvaluateAsync(
            Db,
            [_keys.Job(lease.JobId), _keys.ForJob(lease.JobId).Stream, _keys.History(lease.JobId)],
            [lease.Token, RedisKeys.ConsumerGroup, lease.EntryId, lease.Consumer, (long)TimeSpan.FromDays(1).TotalMilliseconds])
            .ConfigureAwait(false);

    /// <summary>
    /// Gives back entries read but never claimed (read while shutting down): they become idle
    /// enough for another worker's next reclaim at once.
    /// </summary>
    public async Task ReturnUnclaimedAsync(string consumer, IReadOnlyList<Delivery> deliveries)
    {
        if (deliveries.Count == 0)
        {
            return;
        }

        // Entry ids are per stream: each partition's go back to its own.
        await ByPartitionAsync(deliveries, static d => d.JobId, async (partition, part) =>
        {
            var args = new List<object> { partition.Stream, RedisKeys.ConsumerGroup, consumer, 0 };
            args.AddRange(part.Select(static d => d.EntryId));
            args.AddRange(["IDLE", (long)TimeSpan.FromDays(1).TotalMilliseconds, "JUSTID"]);
            await Db.ExecuteAsync("XCLAIM", [.. args]).ConfigureAwait(false);
            return new bool[part.Count];
        }).ConfigureAwait(false);
    }

    private static string JobIdOf(RedisResult[] fields)
    {
        for (var i = 0; i + 1 < fields.Length; i += 2)
        {
            if ((string)fields[i]! == "jobId")
            {
                return (string)fields[i + 1]!;
            }
        }

        throw new InvalidOperationException("Stream entry without a jobId field.");
    }

    /// <summary>A fresh random lease token (or the stem of a dispatch's, <see cref="DispatchAndClaimAsync(string, int, TimeSpan, string, bool, int)"/>).</summary>
    public static string NewToken() => Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture);
}
