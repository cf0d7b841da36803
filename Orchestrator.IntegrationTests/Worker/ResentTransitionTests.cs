using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// Every Redis call can fail after it applied (a timeout, a dropped connection), and the worker then
/// sends it again. Each transition script is identified by what the call carries (lease token,
/// attempt, outcome) and answers a repeat as it answered the first time, changing nothing.
/// Regression: a re-sent start answered 'unexpected' (taken as a lost lease: the job lost an
/// attempt and waited a lease), and a re-sent finish answered 0 (the saved result was discarded).
/// </summary>
public sealed class ResentTransitionTests
{
    private static readonly TimeSpan Block = TimeSpan.FromMilliseconds(100);
    private static readonly JobResult Result = new("answer", "model", new TokenUsage(3, 2));

    [Fact]
    public async Task EveryTransition_SentAgainAfterItApplied_AnswersTheSameAndChangesNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        var ids = await harness.SubmitManyAsync(4, maxAttempts: 3);
        // The fourth job cannot be claimed: its attempt count is not a number.
        await harness.Db.HashSetAsync(harness.Keys.Job(ids[3]), "attempts", "x").Bounded();
        var deliveries = await store.ReadNewAsync("worker-a", 10, Block).Bounded();
        Assert.Equal(4, deliveries.Count);
        var leases = deliveries.Select(d => new JobLease(d.JobId, d.EntryId, Guid.NewGuid().ToString("N"), "worker-a")).ToArray();

        // claim (a batch, with a job set aside as corrupt)
        var claims = await SentTwiceAsync(harness, () => store.ClaimManyAsync(leases, startAttempt: true), Describe);
        Assert.Equal([ClaimOutcome.Claimed, ClaimOutcome.Claimed, ClaimOutcome.Claimed, ClaimOutcome.Corrupt], claims.Select(c => c.Outcome));
        var (a, b, c) = (leases[0], leases[1], leases[2]);

        // finish: completed, retrying, failed
        Assert.True(await SentTwiceAsync(harness, () => store.CompleteAsync(a, 1, Result), r => r.ToString()));
        Assert.True(await SentTwiceAsync(harness, () => store.ScheduleRetryAsync(b, 1, AttemptOutcome.TransientFailure, new JobError("transient", "busy"), TimeSpan.Zero), r => r.ToString()));

        // start
        Assert.Equal((StartAttemptOutcome.Started, 2), await SentTwiceAsync(harness, () => store.StartAttemptAsync(b, 2), r => r.ToString()));
        Assert.True(await SentTwiceAsync(harness, () => store.FailAsync(b, 2, AttemptOutcome.PermanentFailure, new JobError("invalid-request", "no")), r => r.ToString()));

        // renew (idle times aside, nothing changes) and release
        Assert.Equal(new[] { LeaseRenewal.Held }, await SentTwiceAsync(harness, () => store.RenewLeasesAsync([c]), r => string.Join(',', r)));
        Assert.Equal(ReleaseOutcome.AttemptReleased, await SentTwiceAsync(harness, () => store.ReleaseAsync(c), r => r.ToString()));

        // claim that dead-letters: the job crashed its worker while running alone
        var lastId = await harness.SubmitAsync(maxAttempts: 1);
        var first = await store.ClaimAsync(Assert.Single(await store.ReadNewAsync("worker-a", 10, Block).Bounded()), "worker-a").Bounded();
        Assert.Equal((StartAttemptOutcome.Started, 1), await store.StartAttemptAsync(first.Lease, 1, alone: true).Bounded());
        var lapsed = (await store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 100).Bounded()).Single(d => d.JobId == lastId);
        var deadLease = new JobLease(lapsed.JobId, lapsed.EntryId, Guid.NewGuid().ToString("N"), "worker-b");
        var dead = await SentTwiceAsync(harness, () => store.ClaimManyAsync([deadLease], startAttempt: true, maxCrashes: 1), Describe);
        Assert.Equal(ClaimOutcome.DeadLettered, Assert.Single(dead).Outcome);
        // The reply holds the job as it now is (its worker logs its attempts, measures its duration), sent twice or not.
        Assert.Equal((lastId, 1, JobStatus.Failed), (dead[0].Job!.Id, dead[0].Job!.Attempts, dead[0].Job!.Status));

        var jobs = await harness.GetAllAsync([ids[0], ids[1], ids[2], lastId]);
        Assert.Equal([JobStatus.Completed, JobStatus.Failed, JobStatus.Retrying, JobStatus.Failed], jobs.Select(j => j.Status));
        Assert.Equal(Result, jobs[0].Result);
        Assert.Equal(0, jobs[2].Deliveries);
        // The corrupt job does not parse (that is why it was set aside): its fields, as stored.
        Assert.Equal(JobStatus.Failed, (string?)await harness.Db.HashGetAsync(harness.Keys.Job(ids[3]), "status").Bounded());
        Assert.Contains("\"corrupt\"", (string?)await harness.Db.HashGetAsync(harness.Keys.Job(ids[3]), "error").Bounded(), StringComparison.Ordinal);
        // Every final transition (completed, failed, set aside, dead-lettered by a claim) took its job
        // off the tenant's backlog exactly once, sent twice or not: only the job handed back counts.
        Assert.Equal(1, (long)await harness.Db.HashGetAsync(harness.Keys.TenantBacklog(TenantNames.Default), "jobs").Bounded());
    }

    [Fact]
    public async Task CancelRedriveAndDelta_SentAgainAfterTheyApplied_ChangeNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        var ids = await harness.SubmitManyAsync(5, maxAttempts: 1);
        var deliveries = await store.ReadNewAsync("worker-a", 10, Block).Bounded();
        var claims = await store.ClaimManyAsync(deliveries, "worker-a", startAttempt: true).Bounded();
        var (running, failing, waiting, retried, lost) = (claims[0].Lease, claims[1].Lease, claims[2].Lease, claims[3].Lease, claims[4].Lease);
        // The third job waits for its retry; the second fails for good.
        Assert.True(await store.ScheduleRetryAsync(waiting, 1, AttemptOutcome.TransientFailure, new JobError("transient", "busy"), TimeSpan.FromMinutes(1)).Bounded());
        Assert.True(await store.FailAsync(failing, 1, AttemptOutcome.PermanentFailure, new JobError("invalid-request", "no")).Bounded());

        // A streamed batch, then cancel of a processing job (flagged) and of a retrying one (canceled).
        Assert.True(await SentTwiceAsync(harness, () => store.AppendDeltaAsync(running, 1, 1, "Hello"), r => r.ToString()));
        Assert.Equal(CancelOutcome.Requested, await SentTwiceAsync(harness, () => store.CancelAsync(running.JobId), r => r.ToString()));
        // Canceled once: only the call that made it canceled says so (what orchestrator.jobs.canceled counts).
        Assert.Equal((CancelOutcome.Canceled, true, (string?)null), await store.CancelCountedAsync(waiting.JobId).Bounded());
        Assert.Equal((CancelOutcome.Canceled, false, (string?)null), await SentTwiceAsync(harness, () => store.CancelCountedAsync(waiting.JobId), r => r.ToString()));
        // The canceled attempt's outcome, as its worker records it.
        Assert.True(await SentTwiceAsync(harness, () => store.FinishAttemptAsync(AttemptFinish.Canceled(running, 1)), r => r.ToString()));

        // A worker that missed the cancel sends its failed attempt's retry: the job is canceled
        // instead, and the answer says so (its worker stops and counts the cancel), sent twice or not.
        Assert.Equal(CancelOutcome.Requested, await store.CancelAsync(retried.JobId).Bounded());
        var retry = AttemptFinish.Retrying(retried, 1, AttemptOutcome.TransientFailure, new JobError("transient", "busy"), TimeSpan.FromSeconds(1));
        Assert.Equal([FinishReply.CanceledInstead], await SentTwiceAsync(harness, () => store.FinishAttemptsAsync([retry]), r => string.Join(',', r)));

        // A worker lost while its job's cancel was flagged: the claim that takes the job up cancels it
        // and answers with the job as it now is, sent twice or not.
        Assert.Equal(CancelOutcome.Requested, await store.CancelAsync(lost.JobId).Bounded());
        var lapsed = (await store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 100).Bounded()).Single(d => d.JobId == lost.JobId);
        var lostLease = new JobLease(lapsed.JobId, lapsed.EntryId, Guid.NewGuid().ToString("N"), "worker-b");
        var canceledClaim = Assert.Single(await SentTwiceAsync(harness, () => store.ClaimManyAsync([lostLease], startAttempt: true), Describe));
        Assert.Equal((ClaimOutcome.Canceled, lost.JobId, JobStatus.Canceled), (canceledClaim.Outcome, canceledClaim.Job!.Id, canceledClaim.Job.Status));

        // Redrive: sent again, the job is no longer a dead letter and nothing changes.
        Assert.Equal(RedriveOutcome.Redriven, await store.RedriveAsync(failing.JobId, RedriveFilter.Any).Bounded());
        var after = await SnapshotAsync(harness);
        Assert.Equal(RedriveOutcome.NotDead, await store.RedriveAsync(failing.JobId, RedriveFilter.Any).Bounded());
        Assert.Equal(after, await SnapshotAsync(harness));

        var jobs = await harness.GetAllAsync(ids);
        Assert.Equal([JobStatus.Canceled, JobStatus.Queued, JobStatus.Canceled, JobStatus.Canceled, JobStatus.Canceled], jobs.Select(j => j.Status));
        Assert.Equal(AttemptOutcome.TransientFailure, Assert.Single(jobs[3].History).Outcome);
        Assert.Equal(AttemptOutcome.WorkerLost, Assert.Single(jobs[4].History).Outcome);
        Assert.Equal(2, jobs[1].MaxAttempts);
        Assert.Equal(AttemptOutcome.Canceled, Assert.Single(jobs[0].History).Outcome);
        var events = await store.ReadEventsAsync(running.JobId, JobStore.FirstEventId, 100).Bounded();
        Assert.Equal(["status:queued", "status:processing", "delta:Hello", "status:canceled", "done:canceled"],
            events.Select(e => $"{e.Type}:{e.Text ?? e.Status}"));
    }

    [Fact]
    public async Task DispatchThatClaims_OneScriptCall_SentAgainAfterItApplied_AnswersTheSameAndChangesNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        // Loads the script first, so the call counted below is one round trip.
        Assert.Empty(await store.DispatchAndClaimAsync("worker-b", 10, TimeSpan.FromMinutes(1), JobStore.NewToken(), startAttempt: true).Bounded());
        var ids = await harness.SubmitManyAsync(4, maxAttempts: 3);
        // The fourth job cannot be claimed: its attempt count is not a number.
        await harness.Db.HashSetAsync(harness.Keys.Job(ids[3]), "attempts", "x").Bounded();

        var token = JobStore.NewToken();
        var scriptCallsBefore = await ScriptCalls.CountAsync(harness.Db);
        var claimed = await SentTwiceAsync(
            harness,
            () => store.DispatchAndClaimAsync("worker-a", 10, TimeSpan.FromMinutes(1), token, startAttempt: true),
            r => $"{string.Join(',', r.Select(c => c.Delivery))} {Describe([.. r.Select(c => c.Claim)])}");

        Assert.Equal(2, await ScriptCalls.CountAsync(harness.Db) - scriptCallsBefore);
        Assert.Equal(ids, claimed.Select(c => c.Delivery.JobId));
        Assert.Equal([ClaimOutcome.Claimed, ClaimOutcome.Claimed, ClaimOutcome.Claimed, ClaimOutcome.Corrupt], claimed.Select(c => c.Claim.Outcome));
        Assert.All(claimed, (c, i) => Assert.Equal($"{token}:{i + 1}", c.Claim.Lease.Token));
        Assert.All(claimed.Take(3), c => Assert.Equal(1, c.Claim.StartedAttempt));
        Assert.All(claimed.Take(3), c => Assert.Equal((JobStatus.Processing, 1, 1, "worker-a"), (c.Claim.Job!.Status, c.Claim.Job.Attempts, c.Claim.Job.Deliveries, c.Claim.Lease.Consumer)));
        // The leases are the ones the worker holds: a write under one is taken.
        Assert.True(await store.CompleteAsync(claimed[0].Claim.Lease, 1, Result).Bounded());
        // Another call (a new token) dispatches anew: nothing is left.
        Assert.Empty(await store.DispatchAndClaimAsync("worker-a", 10, TimeSpan.FromMinutes(1), JobStore.NewToken(), startAttempt: true).Bounded());
        Assert.Equal(JobStatus.Completed, (await harness.GetAsync(ids[0])).Status);
    }

    [Fact]
    public async Task Requeue_SentAgainAfterItApplied_ChangesNothing_TheJobIsDispatchedAgainAsASuspect()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        var jobId = await harness.SubmitAsync(maxAttempts: 3);
        var running = Assert.Single(await store.DispatchAndClaimAsync("worker-a", 10, TimeSpan.FromMinutes(1), JobStore.NewToken(), startAttempt: true).Bounded());
        Assert.Equal(1, running.Claim.StartedAttempt);

        // worker-a dies mid-attempt: worker-b takes the job over as a suspect, claimed, not started.
        var lapsed = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 100).Bounded());
        var lease = new JobLease(lapsed.JobId, lapsed.EntryId, JobStore.NewToken(), "worker-b");
        var suspect = Assert.Single(await store.ClaimManyAsync([lease], startAttempt: true).Bounded());
        Assert.True(suspect.Job!.Suspect);

        // Back in its tenant's ready set: no entry, no lease, the delivery given back, still a suspect.
        Assert.True(await SentTwiceAsync(harness, () => store.RequeueAsync(lease), r => r.ToString()));
        Assert.NotNull(await harness.Db.SortedSetScoreAsync(harness.Keys.Ready(TenantNames.Default), jobId).Bounded());
        Assert.Equal((0, 0), (await harness.StreamLengthAsync(), await harness.PendingCountAsync()));
        var job = await harness.GetAsync(jobId);
        Assert.Equal((JobStatus.Retrying, 1, 1, true), (job.Status, job.Attempts, job.Deliveries, job.Suspect));
        Assert.Null((string?)await harness.Db.HashGetAsync(harness.Keys.Job(jobId), "lease").Bounded());
        // Another worker's lease is not this one: nothing happens.
        Assert.False(await store.RequeueAsync(lease with { Token = JobStore.NewToken() }).Bounded());

        // Dispatched again (with a permit, for a limited tenant), it is claimed as a suspect: its worker runs it apart.
        var again = Assert.Single(await store.DispatchAndClaimAsync("worker-c", 10, TimeSpan.FromMinutes(1), JobStore.NewToken(), startAttempt: true).Bounded());
        Assert.Equal((jobId, ClaimOutcome.Claimed, 0, true), (again.Delivery.JobId, again.Claim.Outcome, again.Claim.StartedAttempt, again.Claim.Job!.Suspect));
        // The requeue re-sent late answers as it did and takes nothing from worker-c.
        Assert.True(await store.RequeueAsync(lease).Bounded());
        Assert.Equal(again.Claim.Lease.Token, (string?)await harness.Db.HashGetAsync(harness.Keys.Job(jobId), "lease").Bounded());
        Assert.Equal(1, await harness.PendingCountAsync());
    }

    /// <summary>Sends the call, then again; both answers and the whole of Redis after each must agree.</summary>
    private static async Task<T> SentTwiceAsync<T>(WorkerHarness harness, Func<Task<T>> call, Func<T, string> describe)
    {
        var first = await call().Bounded();
        var after = await SnapshotAsync(harness);
        var again = await call().Bounded();
        Assert.Equal(describe(first), describe(again));
        Assert.Equal(after, await SnapshotAsync(harness));
        return first;
    }

    private static string Describe(IReadOnlyList<ClaimResult> claims) =>
        string.Join(" | ", claims.Select(c => $"{c.Outcome} {c.Lease.Token} {c.StartedAttempt} {c.Reason} {c.Job?.Status} {c.Job?.Attempts} {c.Job?.Deliveries} {c.Job?.Error}"));

    /// <summary>Every key's content, and who holds which pending entry (idle times left out: a renewal resets them).</summary>
    private static async Task<string> SnapshotAsync(WorkerHarness harness)
    {
        var lines = new List<string>();
        await foreach (var key in harness.Server.KeysAsync(pattern: "*"))
        {
            var type = await harness.Db.KeyTypeAsync(key).Bounded();
            var ttl = await harness.Db.KeyTimeToLiveAsync(key).Bounded();
            lines.Add($"{key} {type} ttl={(ttl is null ? "none" : "set")}");
            switch (type)
            {
                case RedisType.Hash:
                    lines.AddRange((await harness.Db.HashGetAllAsync(key).Bounded()).Select(e => $"  {e.Name}={e.Value}").Order(StringComparer.Ordinal));
                    break;
                case RedisType.List:
                    lines.AddRange((await harness.Db.ListRangeAsync(key).Bounded()).Select(v => $"  {v}"));
                    break;
                case RedisType.SortedSet:
                    lines.AddRange((await harness.Db.SortedSetRangeByRankWithScoresAsync(key).Bounded()).Select(e => $"  {e.Element} {e.Score}"));
                    break;
                case RedisType.Stream:
                    lines.AddRange((await harness.Db.StreamRangeAsync(key).Bounded()).Select(e => $"  entry {e.Id}"));
                    // Only the jobs stream has a consumer group (a job's events from before the list are read by range).
                    if (key == harness.Keys.Stream)
                    {
                        lines.AddRange((await harness.Db.StreamPendingMessagesAsync(key, RedisKeys.ConsumerGroup, 1000, RedisValue.Null).Bounded())
                            .Select(p => $"  pending {p.MessageId} {p.ConsumerName}"));
                    }

                    break;
            }
        }

        lines.Sort(StringComparer.Ordinal);
        return string.Join('\n', lines);
    }
}
