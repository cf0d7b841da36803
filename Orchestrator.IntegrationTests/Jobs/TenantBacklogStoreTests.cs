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

    private static async Task<long> BacklogAsync(WorkerHarness harness, string tenant) =>
        (long)await harness.Db.HashGetAsync(harness.Keys.TenantBacklog(tenant), "jobs").Bounded();
}
