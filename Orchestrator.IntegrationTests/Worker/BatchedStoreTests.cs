using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// The store's batch calls (claim, finish, renew many jobs in one script) must treat each job
/// exactly as the single-job call would: its own compare-and-set, its own answer in input order,
/// and no effect on the other jobs of the batch when one of them is stale.
/// </summary>
public sealed class BatchedStoreTests
{
    private const int MaxAttempts = 3;
    private static readonly TimeSpan Block = TimeSpan.FromMilliseconds(100);
    private static readonly JobResult Result = new("answer", "model", new TokenUsage(3, 2));

    [Fact]
    public async Task ClaimMany_FreshFinalMissingAndLostJobs_OneScriptAnswersEachInInputOrder()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();

        // Lost: worker-a claimed it and started attempt 1, then died; worker-b took the entry over.
        var lostId = await harness.SubmitAsync(MaxAttempts);
        var lostFirst = Assert.Single(await store.ReadNewAsync("worker-a", 10, Block).Bounded());
        Assert.Equal(1, (await store.ClaimAsync(lostFirst, "worker-a", startAttempt: true).Bounded()).StartedAttempt);
        var lost = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 10).Bounded());

        // Final: completed through its entry; a second entry for it (a duplicate enqueue) arrives late.
        var finalId = await harness.SubmitAsync(MaxAttempts);
        var finalFirst = Assert.Single(await store.ReadNewAsync("worker-a", 10, Block).Bounded());
        var finalClaim = await store.ClaimAsync(finalFirst, "worker-a", startAttempt: true).Bounded();
        Assert.True(await store.CompleteAsync(finalClaim.Lease, 1, Result).Bounded());
        await harness.Db.StreamAddAsync(harness.Keys.Stream, "jobId", finalId).Bounded();

        // Missing: its hash is gone (deleted, evicted) while its entry still waits.
        var missingId = await harness.SubmitAsync(MaxAttempts);
        var freshId = await harness.SubmitAsync(MaxAttempts);
        var read = await store.ReadNewAsync("worker-b", 10, Block).Bounded();
        Assert.Equal([finalId, missingId, freshId], read.Select(d => d.JobId));
        await harness.Db.KeyDeleteAsync([harness.Keys.Job(missingId), harness.Keys.History(missingId)]).Bounded();
        Assert.Equal(4, (await PendingAsync(harness)).Length);

        Delivery[] batch = [read[1], read[2], lost, read[0]];
        var scriptCallsBefore = await ScriptCalls.CountAsync(harness.Db);
        var results = await store.ClaimManyAsync(batch, "worker-b", startAttempt: true).Bounded();
        var scriptCalls = await ScriptCalls.CountAsync(harness.Db) - scriptCallsBefore;

        Assert.Equal(1, scriptCalls);
        Assert.Equal([ClaimOutcome.Missing, ClaimOutcome.Claimed, ClaimOutcome.Claimed, ClaimOutcome.AlreadyFinal], results.Select(r => r.Outcome));
        Assert.Equal(batch.Select(d => (d.JobId, d.EntryId)), results.Select(r => (r.Lease.JobId, r.Lease.EntryId)));
        Assert.All(results, r => Assert.Equal("worker-b", r.Lease.Consumer));
        Assert.Equal(4, results.Select(r => r.Lease.Token).Distinct().Count());
        Assert.Null(results[0].Job);
        Assert.Null(results[3].Job);
        Assert.Equal(0, results[0].StartedAttempt);
        Assert.Equal(0, results[3].StartedAttempt);

        // Fresh: attempt 1 started and recorded; the returned job is as the claim left it.
        var fresh = results[1];
        Assert.Equal(1, fresh.StartedAttempt);
        Assert.Equal(freshId, fresh.Job!.Id);
        Assert.Equal(JobStatus.Processing, fresh.Job.Status);
        Assert.Equal(1, fresh.Job.Attempts);
        Assert.Equal(1, fresh.Job.Deliveries);
        var freshStored = await harness.GetAsync(freshId);
        Assert.Equal(JobStatus.Processing, freshStored.Status);
        Assert.Equal(1, freshStored.Attempts);
        Assert.NotNull(freshStored.FirstAttemptAt);
        var freshAttempt = Assert.Single(freshStored.History);
        Assert.Equal(1, freshAttempt.Attempt);
        Assert.Null(freshAttempt.Outcome);

        // Lost: attempt 1 closed as worker-lost; the job is a suspect, claimed without starting (its
        // worker starts it once it runs nothing else), returned as the claim left it.
        var reclaimed = results[2];
        Assert.Equal(0, reclaimed.StartedAttempt);
        Assert.Equal(lostId, reclaimed.Job!.Id);
        Assert.True(reclaimed.Job.Suspect);
        Assert.Equal(JobStatus.Retrying, reclaimed.Job.Status);
        Assert.Equal(1, reclaimed.Job.Attempts);
        Assert.Equal((StartAttemptOutcome.Started, 2), await store.StartAttemptAsync(reclaimed.Lease, 2, alone: true).Bounded());
        Assert.Equal(2, reclaimed.Job.Deliveries);
        Assert.Equal(AttemptOutcome.WorkerLost, reclaimed.Job.Error?.Type);
        var lostStored = await harness.GetAsync(lostId);
        Assert.Equal(JobStatus.Processing, lostStored.Status);
        Assert.Equal(2, lostStored.Attempts);
        Assert.Equal([AttemptOutcome.WorkerLost, null], lostStored.History.Select(a => a.Outcome));

        // Missing and final: nothing recreated or changed; their entries acknowledged and deleted.
        Assert.Null(await store.GetAsync(missingId).Bounded());
        var finalStored = await harness.GetAsync(finalId);
        Assert.Equal(JobStatus.Completed, finalStored.Status);
        Assert.Equal(Result, finalStored.Result);
        Assert.Equal(1, finalStored.Attempts);
        var pending = await PendingAsync(harness);
        Assert.Equal(
            new[] { (lost.EntryId, "worker-b"), (read[2].EntryId, "worker-b") }.Order(),
            pending.Select(p => ((string)p.MessageId!, (string)p.ConsumerName!)).Order());
        var stream = await harness.Db.StreamRangeAsync(harness.Keys.Stream).Bounded();
        Assert.Equal(new[] { lost.EntryId, read[2].EntryId }.Order(), stream.Select(e => (string)e.Id!).Order());

        // The claimed leases are live: each finishes its own started attempt.
        Assert.True(await store.CompleteAsync(fresh.Lease, 1, Result).Bounded());
        Assert.True(await store.CompleteAsync(reclaimed.Lease, 2, Result).Bounded());
    }

    [Fact]
    public async Task FinishAttempts_OneStaleLeaseInTheBatch_RefusesOnlyItAndRecordsTheOthers()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        var ids = await harness.SubmitManyAsync(4, MaxAttempts);
        var deliveries = await store.ReadNewAsync("worker-a", 10, Block).Bounded();
        Assert.Equal(4, deliveries.Count);
        var claims = await store.ClaimManyAsync(deliveries, "worker-a", startAttempt: true).Bounded();
        Assert.All(claims, c => Assert.Equal(1, c.StartedAttempt));
        var (complete, stale, retry, fail) = (claims[0].Lease, claims[1].Lease, claims[2].Lease, claims[3].Lease);

        // worker-a's lease on one job lapses; worker-b reclaims it and starts attempt 2.
        await store.ReturnUnclaimedAsync("worker-a", [Returned(stale)]).Bounded();
        var taken = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.FromHours(1), 10).Bounded());
        Assert.Equal(stale.EntryId, taken.EntryId);
        var staleTakeover = await store.ClaimAsync(taken, "worker-b", startAttempt: true).Bounded();
        Assert.True(staleTakeover.Job!.Suspect);
        Assert.Equal((StartAttemptOutcome.Started, 2), await store.StartAttemptAsync(staleTakeover.Lease, 2, alone: true).Bounded());
        var staleBefore = await RawAsync(harness, stale.JobId);

        // The batch is stamped with one reading of Redis's clock, taken between these two.
        var before = await RedisClock.NowAsync(harness.Db);
        var retryDelay = TimeSpan.FromSeconds(7);
        var transient = new JobError("transient", "overloaded");
        var permanent = new JobError("invalid-request", "prompt rejected");
        AttemptFinish[] batch =
        [
            AttemptFinish.Completed(complete, 1, Result),
            AttemptFinish.Completed(stale, 1, new JobResult("stale answer", "stale-model", new TokenUsage(1, 1))),
            AttemptFinish.Retrying(retry, 1, AttemptOutcome.TransientFailure, transient, retryDelay),
            AttemptFinish.Failed(fail, 1, AttemptOutcome.PermanentFailure, permanent),
        ];
        var scriptCallsBefore = await ScriptCalls.CountAsync(harness.Db);
        var recorded = await store.FinishAttemptsAsync(batch).Bounded();
        var scriptCalls = await ScriptCalls.CountAsync(harness.Db) - scriptCallsBefore;
        var after = await RedisClock.NowAsync(harness.Db);

        Assert.Equal(1, scriptCalls);
        Assert.Equal([FinishReply.Recorded, FinishReply.Stale, FinishReply.Recorded, FinishReply.Recorded], recorded);

        // The stale job: not a byte changed, its entry still worker-b's.
        Assert.Equal(staleBefore, await RawAsync(harness, stale.JobId));

        var completed = await harness.GetAsync(complete.JobId);
        Assert.Equal(JobStatus.Completed, completed.Status);
        Assert.Equal(Result, completed.Result);
        var now = completed.CompletedAt!.Value;
        Assert.InRange(now, before, after);
        var completedAttempt = Assert.Single(completed.History);
        Assert.Equal(AttemptOutcome.Succeeded, completedAttempt.Outcome);
        Assert.Equal(now, completedAttempt.EndedAt);
        Assert.NotNull(await harness.Db.KeyTimeToLiveAsync(harness.Keys.Job(complete.JobId)).Bounded());

        var retrying = await harness.GetAsync(retry.JobId);
        Assert.Equal(JobStatus.Retrying, retrying.Status);
        Assert.Equal(now + retryDelay, retrying.NextAttemptAt);
        Assert.Equal(transient, retrying.Error);
        Assert.Null(retrying.CompletedAt);
        var retryingAttempt = Assert.Single(retrying.History);
        Assert.Equal(AttemptOutcome.TransientFailure, retryingAttempt.Outcome);
        Assert.Equal((long)retryDelay.TotalMilliseconds, retryingAttempt.RetryDelayMs);
        Assert.Null(await harness.Db.KeyTimeToLiveAsync(harness.Keys.Job(retry.JobId)).Bounded());

        var failed = await harness.GetAsync(fail.JobId);
        Assert.Equal(JobStatus.Failed, failed.Status);
        Assert.Equal(permanent, failed.Error);
        Assert.Equal(now, failed.CompletedAt);
        Assert.Equal(AttemptOutcome.PermanentFailure, Assert.Single(failed.History).Outcome);
        Assert.Equal(now.ToUnixTimeMilliseconds(), await harness.Db.SortedSetScoreAsync(harness.Keys.DeadLetters, fail.JobId).Bounded());
        Assert.Equal(1, await harness.Db.SortedSetLengthAsync(harness.Keys.DeadLetters).Bounded());
        Assert.NotNull(await harness.Db.KeyTimeToLiveAsync(harness.Keys.Job(fail.JobId)).Bounded());

        // Final jobs' entries are acknowledged and deleted; the retrying one and the stale one stay with their holders.
        var pending = await PendingAsync(harness);
        Assert.Equal(
            new[] { (stale.EntryId, "worker-b"), (retry.EntryId, "worker-a") }.Order(),
            pending.Select(p => ((string)p.MessageId!, (string)p.ConsumerName!)).Order());
        var stream = await harness.Db.StreamRangeAsync(harness.Keys.Stream).Bounded();
        Assert.Equal(new[] { stale.EntryId, retry.EntryId }.Order(), stream.Select(e => (string)e.Id!).Order());
        Assert.Equal(ids.Order(), claims.Select(c => c.Lease.JobId).Order());

        // The current holder of the stale job still finishes it.
        Assert.True(await store.CompleteAsync(staleTakeover.Lease, 2, Result).Bounded());
        Assert.Equal(Result, (await harness.GetAsync(stale.JobId)).Result);
    }

    [Fact]
    public async Task FinishAttempts_HistoryEntryOfEitherKeyOrder_ClosedWithTheSameOutcomeAndUsage()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await harness.SubmitManyAsync(3, MaxAttempts);
        var deliveries = await store.ReadNewAsync("worker-a", 10, Block).Bounded();
        Assert.Equal(3, deliveries.Count);
        var leases = (await store.ClaimManyAsync(deliveries, "worker-a", startAttempt: true).Bounded()).Select(c => c.Lease).ToArray();
        var startedAt = new DateTimeOffset[3];
        for (var i = 0; i < 3; i++)
        {
            startedAt[i] = Assert.Single((await harness.GetAsync(leases[i].JobId)).History).StartedAt;
        }

        // An entry in the other key order (as cjson may have encoded it before the one shape) is
        // parsed and closed the general way; the others are closed as written.
        await harness.Db.HashSetAsync(
            harness.Keys.Job(leases[1].JobId), "attempt:1", $"{{\"startedAt\":{startedAt[1].ToUnixTimeMilliseconds()},\"attempt\":1}}").Bounded();
        var priced = new JobResult("priced", Model: null, new TokenUsage(5, 6), Cost: 0.25m);

        var recorded = await store.FinishAttemptsAsync(
            [AttemptFinish.Completed(leases[0], 1, Result), AttemptFinish.Completed(leases[1], 1, Result), AttemptFinish.Completed(leases[2], 1, priced)])
            .Bounded();
        Assert.Equal([FinishReply.Recorded, FinishReply.Recorded, FinishReply.Recorded], recorded);

        var ended = (await harness.GetAsync(leases[0].JobId)).CompletedAt;
        Assert.NotNull(ended);
        Assert.Equal(
            new AttemptRecord(1, startedAt[0], ended, AttemptOutcome.Succeeded, null, null, "model", new LlmUsage(3, 2, 0)),
            Assert.Single((await harness.GetAsync(leases[0].JobId)).History));
        Assert.Equal(
            new AttemptRecord(1, startedAt[1], ended, AttemptOutcome.Succeeded, null, null, "model", new LlmUsage(3, 2, 0)),
            Assert.Single((await harness.GetAsync(leases[1].JobId)).History));
        Assert.Equal(
            new AttemptRecord(1, startedAt[2], ended, AttemptOutcome.Succeeded, null, null, null, new LlmUsage(5, 6, 0.25m)),
            Assert.Single((await harness.GetAsync(leases[2].JobId)).History));
    }

    [Fact]
    public async Task AppendDeltas_OneStaleAttemptInTheBatch_OneScriptAppendsOnlyTheCurrentOnes()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await harness.SubmitManyAsync(3, MaxAttempts);
        var deliveries = await store.ReadNewAsync("worker-a", 10, Block).Bounded();
        var claims = await store.ClaimManyAsync(deliveries, "worker-a", startAttempt: true).Bounded();
        var (first, stale, second) = (claims[0].Lease, claims[1].Lease, claims[2].Lease);
        var staleBefore = await RawAsync(harness, stale.JobId);

        DeltaAppend[] batch =
        [
            new(first, 1, 1, "Hello"),
            new(stale, 2, 1, "not this attempt"),
            new(second, 1, 1, "World"),
        ];
        var scriptCallsBefore = await ScriptCalls.CountAsync(harness.Db);
        var appended = await store.AppendDeltasAsync(batch).Bounded();
        var scriptCalls = await ScriptCalls.CountAsync(harness.Db) - scriptCallsBefore;
        // Sent again (the reply was lost): answered the same, appended once.
        Assert.Equal(appended, await store.AppendDeltasAsync(batch).Bounded());

        Assert.Equal(1, scriptCalls);
        Assert.Equal([true, false, true], appended);
        Assert.Equal(staleBefore, await RawAsync(harness, stale.JobId));
        foreach (var (lease, text) in new[] { (first, "Hello"), (second, "World") })
        {
            var deltas = (await store.ReadEventsAsync(lease.JobId, JobStore.FirstEventId, 100).Bounded()).Where(e => e.Type == "delta").ToList();
            Assert.Equal(text, Assert.Single(deltas).Text);
            Assert.Equal(1, deltas[0].Attempt);
        }

        Assert.DoesNotContain(await store.ReadEventsAsync(stale.JobId, JobStore.FirstEventId, 100).Bounded(), e => e.Type == "delta");
    }

    [Fact]
    public async Task FinishAttempts_CarryingTheLastDelta_AppendItOnceBeforeTheFinalEventsAndNotForAStaleAttempt()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await harness.SubmitManyAsync(2, MaxAttempts);
        var deliveries = await store.ReadNewAsync("worker-a", 10, Block).Bounded();
        var claims = await store.ClaimManyAsync(deliveries, "worker-a", startAttempt: true).Bounded();
        var (current, stale) = (claims[0].Lease, claims[1].Lease);
        Assert.True(await store.AppendDeltaAsync(current, 1, 1, "Hello, ").Bounded());

        AttemptFinish[] batch =
        [
            AttemptFinish.Completed(current, 1, Result, "world"),
            AttemptFinish.Completed(stale, 2, Result, "not this attempt"),
        ];
        var finished = await store.FinishAttemptsAsync(batch).Bounded();
        // Sent again (the reply was lost): answered the same, appended once.
        Assert.Equal(finished, await store.FinishAttemptsAsync(batch).Bounded());
        Assert.Equal([FinishReply.Recorded, FinishReply.Stale], finished);

        var events = await store.ReadEventsAsync(current.JobId, JobStore.FirstEventId, 100).Bounded();
        var deltas = events.Where(e => e.Type == "delta").ToList();
        Assert.Equal(["Hello, ", "world"], deltas.Select(e => e.Text));
        Assert.All(deltas, e => Assert.Equal(1, e.Attempt));
        // The streamed text comes before the job's final events.
        var last = events.ToList().IndexOf(deltas[^1]);
        Assert.Equal(["status", JobEvent.Done], events.Skip(last + 1).Select(e => e.Type));
        Assert.Equal(JobStatus.Completed, events[last + 1].Status);
        Assert.DoesNotContain(await store.ReadEventsAsync(stale.JobId, JobStore.FirstEventId, 100).Bounded(), e => e.Type == "delta");
    }

    [Fact]
    public async Task RenewLeases_OneStaleLeaseInTheBatch_RenewsOnlyTheCurrentOnes()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        await harness.SubmitManyAsync(3, MaxAttempts);
        var deliveries = await store.ReadNewAsync("worker-a", 10, Block).Bounded();
        Assert.Equal(3, deliveries.Count);
        var leases = (await store.ClaimManyAsync(deliveries, "worker-a", startAttempt: true).Bounded()).Select(c => c.Lease).ToArray();

        // worker-a's lease on the middle job lapses and worker-b claims it.
        await store.ReturnUnclaimedAsync("worker-a", [Returned(leases[1])]).Bounded();
        var taken = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.FromHours(1), 10).Bounded());
        var takeover = await store.ClaimAsync(taken, "worker-b", startAttempt: true).Bounded();
        Assert.Equal(ClaimOutcome.Claimed, takeover.Outcome);

        // Every entry looks a day idle: a renewal is what makes one fresh again (no clock race).
        await store.ReturnUnclaimedAsync("worker-a", [Returned(leases[0]), Returned(leases[2])]).Bounded();
        await store.ReturnUnclaimedAsync("worker-b", [Returned(leases[1])]).Bounded();
        Assert.All(await PendingAsync(harness), p => Assert.True(p.IdleTimeInMilliseconds >= Hours(23)));

        var renewed = await store.RenewLeasesAsync(leases).Bounded();

        Assert.Equal([LeaseRenewal.Held, LeaseRenewal.Lost, LeaseRenewal.Held], renewed);
        var pending = (await PendingAsync(harness)).ToDictionary(p => (string)p.MessageId!);
        Assert.Equal(3, pending.Count);
        foreach (var current in new[] { leases[0], leases[2] })
        {
            Assert.Equal("worker-a", (string?)pending[current.EntryId].ConsumerName);
            Assert.True(pending[current.EntryId].IdleTimeInMilliseconds < Hours(1), "a renewed entry is fresh again");
        }

        // The stale renewal neither took the entry back nor refreshed it for worker-b.
        Assert.Equal("worker-b", (string?)pending[leases[1].EntryId].ConsumerName);
        Assert.True(pending[leases[1].EntryId].IdleTimeInMilliseconds >= Hours(23), "the stale renewal touched worker-b's entry");

        // worker-b's own renewal of it succeeds.
        var ownRenewal = await store.RenewLeasesAsync([takeover.Lease]).Bounded();
        Assert.Equal([LeaseRenewal.Held], ownRenewal);
        var afterOwnRenewal = (await PendingAsync(harness)).Single(p => p.MessageId == leases[1].EntryId);
        Assert.Equal("worker-b", (string?)afterOwnRenewal.ConsumerName);
        Assert.True(afterOwnRenewal.IdleTimeInMilliseconds < Hours(1));
    }

    private static long Hours(int hours) => (long)TimeSpan.FromHours(hours).TotalMilliseconds;

    private static async Task<StreamPendingMessageInfo[]> PendingAsync(WorkerHarness harness) =>
        await harness.Db.StreamPendingMessagesAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, 100, RedisValue.Null).Bounded();

    /// <summary>The job's hash (its history included) exactly as stored, to show a write changed nothing.</summary>
    private static async Task<string> RawAsync(WorkerHarness harness, string jobId)
    {
        var hash = await harness.Db.HashGetAllAsync(harness.Keys.Job(jobId)).Bounded();
        return string.Join('\n', hash.OrderBy(e => (string)e.Name!, StringComparer.Ordinal).Select(e => $"{e.Name}={e.Value}"));
    }

    // A held delivery handed back as unclaimed (entry ids are per partition: the job id names it).
    private static Delivery Returned(JobLease lease) => new(lease.EntryId, lease.JobId, Reclaimed: false);
}
