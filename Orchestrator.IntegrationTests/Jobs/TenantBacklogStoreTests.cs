using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// The tenant backlog counter behind <c>Tenants:{t}:MaxQueuedJobs</c>, through the real store
/// scripts on a real Redis: counted per tenant by <c>submit.lua</c>, taken off once by the final
/// transition (cancel too), never below zero; a redriven dead letter counts again; a refused
/// submission writes nothing. (Re-sent transitions: <c>ResentTransitionTests</c>.)
/// </summary>
public sealed class TenantBacklogStoreTests
{
    private static readonly TimeSpan Block = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task Backlog_CountedPerTenant_RefusedAtTheQuotaWritingNothing_NeverBelowZero()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        var quotas = new TenantQuotas { MaxQueuedJobs = 2 };
        NewJob Job(string tenant) => WorkerHarness.NewJob("count me", maxAttempts: 1) with { Tenant = tenant, Quotas = quotas };

        Assert.Equal(SubmitOutcome.Created, (await store.SubmitAsync(Job("acme"), null).Bounded()).Outcome);
        Assert.Equal(SubmitOutcome.Created, (await store.SubmitAsync(Job("acme"), null).Bounded()).Outcome);
        Assert.Equal(SubmitOutcome.Created, (await store.SubmitAsync(Job("globex"), null).Bounded()).Outcome);
        var keysBefore = await harness.Server.DatabaseSizeAsync().Bounded();
        var refused = await store.SubmitAsync(Job("acme"), null).Bounded();

        Assert.Equal(SubmitOutcome.QuotaExceeded, refused.Outcome);
        Assert.Equal(new QuotaRefusal(QuotaRefusal.MaxQueuedJobs, 2, TimeSpan.FromSeconds(5)), refused.Quota);
        Assert.Equal(keysBefore, await harness.Server.DatabaseSizeAsync().Bounded());
        Assert.Equal(2, await harness.Db.SortedSetLengthAsync(harness.Keys.Ready("acme")).Bounded());
        Assert.Equal(1, await harness.Db.SortedSetLengthAsync(harness.Keys.Ready("globex")).Bounded());
        Assert.Equal(2, await BacklogAsync(harness, "acme"));
        Assert.Equal(1, await BacklogAsync(harness, "globex"));

        // An operator deleted the counter: the jobs still finish, and it stays at zero, never negative.
        await harness.Db.KeyDeleteAsync(harness.Keys.TenantBacklog("acme")).Bounded();
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        foreach (var delivery in await store.ReadNewAsync("w", 10, Block).Bounded())
        {
            var claim = await store.ClaimAsync(delivery, "w", startAttempt: true).Bounded();
            Assert.True(await store.CompleteAsync(claim.Lease, 1, new JobResult("done", "model", new TokenUsage(1, 1))).Bounded());
        }

        Assert.Equal(0, await BacklogAsync(harness, "acme"));
        Assert.Equal(0, await BacklogAsync(harness, "globex"));
        Assert.Equal(SubmitOutcome.Created, (await store.SubmitAsync(Job("acme"), null).Bounded()).Outcome);
        Assert.Equal(1, await BacklogAsync(harness, "acme"));

        // Cancel is a final transition: it leaves the backlog, once, however often it is sent.
        var canceled = await store.SubmitAsync(Job("globex"), null).Bounded();
        Assert.Equal(CancelOutcome.Canceled, await store.CancelAsync(canceled.JobId).Bounded());
        Assert.Equal(CancelOutcome.Canceled, await store.CancelAsync(canceled.JobId).Bounded());
        Assert.Equal(0, await BacklogAsync(harness, "globex"));

        // A dead letter redriven is not final any more: it counts again until it is.
        var failed = await store.SubmitAsync(Job("globex"), null).Bounded();
        var toFail = Assert.Single(await store.ReadNewAsync("w", 10, Block).Bounded(), d => d.JobId == failed.JobId);
        var held = await store.ClaimAsync(toFail, "w", startAttempt: true).Bounded();
        Assert.True(await store.FailAsync(held.Lease, 1, AttemptOutcome.PermanentFailure, new JobError("invalid-request", "no")).Bounded());
        Assert.Equal(0, await BacklogAsync(harness, "globex"));
        Assert.Equal(RedriveOutcome.Redriven, await store.RedriveAsync(failed.JobId, RedriveFilter.Any).Bounded());
        Assert.Equal(1, await BacklogAsync(harness, "globex"));
    }

    [Fact]
    public async Task Backlog_OneBatchOfFinalTransitions_CountsEachJobOnceAndAveragesAsOneByOne()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        NewJob Job(string tenant) => WorkerHarness.NewJob("count me in a batch", maxAttempts: 1) with { Tenant = tenant };
        foreach (var tenant in new[] { "acme", "acme", "acme", "globex", "globex" })
        {
            Assert.Equal(SubmitOutcome.Created, (await store.SubmitAsync(Job(tenant), null).Bounded()).Outcome);
        }

        // acme's recent interval between final transitions, as earlier final transitions left it.
        var lastFinalAt = (await RedisClock.NowAsync(harness.Db)).ToUnixTimeMilliseconds() - 10_000;
        await harness.Db.HashSetAsync(harness.Keys.TenantBacklog("acme"), [new("lastFinalAt", lastFinalAt), new("finalEveryMs", 5_000)]).Bounded();
        var claims = await store.ClaimManyAsync(await store.ReadNewAsync("w", 10, Block).Bounded(), "w", startAttempt: true).Bounded();
        Assert.Equal(5, claims.Count);
        var globex = claims.Where(c => c.Job!.Tenant == "globex").ToArray();
        var finishing = claims.Where(c => c.Job!.Tenant == "acme").Append(globex[0])
            .Select(c => AttemptFinish.Completed(c.Lease, 1, new JobResult("done", "model", new TokenUsage(1, 1)))).ToArray();

        // Four final transitions in one call, sent twice (a lost reply): each job leaves its backlog once.
        var first = await store.FinishAttemptsAsync(finishing).Bounded();
        var again = await store.FinishAttemptsAsync(finishing).Bounded();
        Assert.Equal([FinishReply.Recorded, FinishReply.Recorded, FinishReply.Recorded, FinishReply.Recorded], first);
        Assert.Equal([FinishReply.Recorded, FinishReply.Recorded, FinishReply.Recorded, FinishReply.Recorded], again);

        Assert.Equal(0, await BacklogAsync(harness, "acme"));
        Assert.Equal(1, await BacklogAsync(harness, "globex"));
        // The average as three final transitions one after another would leave it: the first after
        // 10 s (capped at a minute), the two others at the same moment (an interval of 0).
        var finishedAt = (await harness.GetAsync(finishing[0].Lease.JobId)).CompletedAt!.Value.ToUnixTimeMilliseconds();
        var average = 5_000L;
        foreach (var interval in new[] { Math.Min(60_000, finishedAt - lastFinalAt), 0, 0 })
        {
            average = Math.Max(1, (long)Math.Floor((0.8 * average) + (0.2 * interval)));
        }

        var acme = await harness.Db.HashGetAsync(harness.Keys.TenantBacklog("acme"), ["lastFinalAt", "finalEveryMs"]).Bounded();
        Assert.Equal(finishedAt, (long)acme[0]);
        Assert.Equal(average, (long)acme[1]);
        // Their entries went in one acknowledgement; the unfinished job's stays pending.
        var pending = Assert.Single(await harness.Db.StreamPendingMessagesAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, 10, RedisValue.Null).Bounded());
        Assert.Equal(globex[1].Lease.EntryId, (string?)pending.MessageId);
        Assert.Equal(1, await harness.Db.StreamLengthAsync(harness.Keys.Stream).Bounded());
    }

    private static async Task<long> BacklogAsync(WorkerHarness harness, string tenant) =>
        (long)await harness.Db.HashGetAsync(harness.Keys.TenantBacklog(tenant), "jobs").Bounded();
}
