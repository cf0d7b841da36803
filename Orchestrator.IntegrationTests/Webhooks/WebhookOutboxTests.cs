using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// The webhook outbox's scripts on a real Redis, driven through the store as workers drive it:
/// one delivery per final transition even when the transition is re-sent; a lease that keeps other
/// senders off until it lapses; a stale sender that changes nothing; a re-sent record answered as
/// the first; the retry window that gives a delivery up; the members whose record expired dropped
/// by a worker without a secret.
/// </summary>
public sealed class WebhookOutboxTests
{
    private const string Consumer = "outbox-test";

    [Fact]
    public async Task Prune_DropsTheMembersWhoseRecordExpired_KeepsTheOthers_SentAgainChangesNothing()
    {
        // Deliveries queued while no worker had a secret: two records expired with their jobs, one lives.
        await using var harness = await WorkerHarness.StartAsync();
        var job = WorkerHarness.NewJob("Say hello.", maxAttempts: 3);
        job = job with { Request = job.Request with { CallbackUrl = "https://hooks.example.com/a" } };
        await harness.Store.SubmitAsync(job, idempotency: null).Bounded();
        var live = $"{job.Id}.1";
        await harness.Db.HashSetAsync(harness.Keys.Webhook(live), "url", "https://hooks.example.com/a").Bounded();
        await harness.Db.SortedSetAddAsync(harness.Keys.WebhookOutbox, [new("gone-1.1", 1), new(live, 2), new("gone-2.1", 3)]).Bounded();

        Assert.Equal(2, (await harness.Store.PruneWebhookOutboxAsync(1000).Bounded()).Dropped);
        Assert.Equal(0, (await harness.Store.PruneWebhookOutboxAsync(1000).Bounded()).Dropped);

        Assert.Equal([live], (await harness.Db.SortedSetRangeByRankAsync(harness.Keys.WebhookOutbox).Bounded()).Select(v => (string)v!));
    }

    [Fact]
    public async Task Release_PutsALeasedDeliveryBackUnsent_DueAfterItsWait_NoTryCounted_SentAgainOrStaleChangesNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        var job = WorkerHarness.NewJob("Say hello.", maxAttempts: 3);
        var id = $"{job.Id}.1";
        await harness.Db.HashSetAsync(harness.Keys.Webhook(id), [new("jobId", job.Id), new("url", "https://hooks.example.com/a"),
            new("type", "job.completed"), new("jobStatus", "completed"), new("status", "pending"), new("attempts", 0)]).Bounded();
        await harness.Db.SortedSetAddAsync(harness.Keys.WebhookOutbox, id, 1).Bounded();
        var leased = Assert.Single(await store.ClaimWebhooksAsync(10, TimeSpan.FromSeconds(30), "token-a").Bounded());
        // A record stored without a tenant (before tenants were written into it) is the default tenant's.
        Assert.Equal(TenantNames.Default, leased.Tenant);

        // A stale sender's release (another lease) changes nothing; the holder's puts it back for 2 s.
        Assert.False(await store.ReleaseWebhookAsync(leased with { LeaseToken = "token-z" }, TimeSpan.Zero).Bounded());
        var before = DateTimeOffset.UtcNow;
        Assert.True(await store.ReleaseWebhookAsync(leased, TimeSpan.FromSeconds(2)).Bounded());
        // Re-sent (a lost reply): the lease is gone; nothing more is written.
        Assert.False(await store.ReleaseWebhookAsync(leased, TimeSpan.FromSeconds(60)).Bounded());

        var due = DateTimeOffset.FromUnixTimeMilliseconds((long)(await harness.Db.SortedSetScoreAsync(harness.Keys.WebhookOutbox, id).Bounded())!.Value);
        Assert.InRange(due, before + TimeSpan.FromSeconds(1.5), before + TimeSpan.FromSeconds(3));
        var record = (await harness.Db.HashGetAllAsync(harness.Keys.Webhook(id)).Bounded()).ToDictionary(e => (string)e.Name!, e => (string)e.Value!);
        Assert.False(record.ContainsKey("lease"));
        Assert.Equal(("0", "pending", due.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture)),
            (record["attempts"], record["status"], record["nextAttemptAt"]));
        Assert.Equal(0, await harness.Db.ListLengthAsync(harness.Keys.WebhookAttempts(id)).Bounded());

        // Not claimable until due; then claimed as any delivery, with a new lease.
        Assert.Empty(await store.ClaimWebhooksAsync(10, TimeSpan.FromSeconds(30), "token-b").Bounded());
        LeasedWebhook? again = null;
        await AsyncWait.WaitUntilAsync(async () =>
            (again = (await store.ClaimWebhooksAsync(10, TimeSpan.FromSeconds(30), "token-c")).SingleOrDefault()) is not null,
            TimeSpan.FromSeconds(10), "the delivery comes due again", TimeSpan.FromMilliseconds(50));
        Assert.True(DateTimeOffset.UtcNow >= due - TimeSpan.FromMilliseconds(50), "claimed before it was due again");
        Assert.Equal((id, 0), (again!.Delivery.Id, again.Delivery.Attempts));
    }

    /// <summary>
    /// A redriven job's deliveries live on with it: they expired with its first run's retention, so a
    /// job redriven late lost its webhook records, and a delivery still retrying its tries (an outside
    /// audit). At the job's next final transition they expire with it again.
    /// </summary>
    [Fact]
    public async Task Redrive_KeepsTheJobsDeliveriesForGood_TheNextFinalTransitionExpiresThemWithTheJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        var job = WorkerHarness.NewJob("Say hello.", maxAttempts: 1);
        job = job with { Request = job.Request with { CallbackUrl = "https://hooks.example.com/a" } };
        Assert.Equal(SubmitOutcome.Created, (await store.SubmitAsync(job, idempotency: null).Bounded()).Outcome);
        await FailOnceAsync();
        var first = $"{job.Id}.1";
        var leased = Assert.Single(await store.ClaimWebhooksAsync(10, TimeSpan.FromSeconds(30), "token-a").Bounded());
        await store.RecordWebhookAsync(leased, false, 500, "HTTP 500", TimeSpan.FromSeconds(1), TimeSpan.FromHours(24), TimeSpan.Zero).Bounded();
        Assert.NotNull(await harness.Db.KeyTimeToLiveAsync(harness.Keys.WebhookAttempts(first)).Bounded());

        Assert.Equal(RedriveOutcome.Redriven, await store.RedriveAsync(job.Id, RedriveFilter.Any).Bounded());

        Assert.Null(await harness.Db.KeyTimeToLiveAsync(harness.Keys.Webhook(first)).Bounded());
        Assert.Null(await harness.Db.KeyTimeToLiveAsync(harness.Keys.WebhookAttempts(first)).Bounded());

        await FailOnceAsync();
        foreach (var key in new[] { harness.Keys.Webhook(first), harness.Keys.WebhookAttempts(first), harness.Keys.Webhook($"{job.Id}.2") })
        {
            Assert.True(await harness.Db.KeyTimeToLiveAsync(key).Bounded() > TimeSpan.FromHours(23), $"{key} expires with the job again");
        }

        Assert.Equal(2, (await harness.GetAsync(job.Id)).Webhooks.Count);

        async Task FailOnceAsync()
        {
            var delivery = Assert.Single(await store.ReadNewAsync(Consumer, 2, TimeSpan.FromSeconds(1)).Bounded());
            var claim = await store.ClaimAsync(delivery, Consumer).Bounded();
            var (_, attempt) = await store.StartAttemptAsync(claim.Lease, 1).Bounded();
            Assert.True(await store.FailAsync(claim.Lease, attempt, AttemptOutcome.PermanentFailure, new JobError(AttemptOutcome.PermanentFailure, "no")).Bounded());
        }
    }

    [Fact]
    public async Task FinalTransition_EnqueuesOneDelivery_LeasedRecordedAndGivenUpByTheScripts()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var blocking = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        var job = WorkerHarness.NewJob("Say hello.", maxAttempts: 3);
        job = job with { Tenant = "acme", Request = job.Request with { CallbackUrl = "https://hooks.example.com/a" } };
        Assert.Equal(SubmitOutcome.Created, (await store.SubmitAsync(job, idempotency: null).Bounded()).Outcome);

        var delivery = Assert.Single(await store.ReadNewAsync(Consumer, 2, TimeSpan.FromSeconds(1)).Bounded());
        var claim = await store.ClaimAsync(delivery, Consumer).Bounded();
        var (_, attempt) = await store.StartAttemptAsync(claim.Lease, 1).Bounded();
        var error = new JobError(AttemptOutcome.PermanentFailure, "no");
        Assert.True(await store.FailAsync(claim.Lease, attempt, AttemptOutcome.PermanentFailure, error).Bounded());
        // The same transition again (a lost reply re-sent): answered, and no second delivery.
        Assert.True(await store.FailAsync(claim.Lease, attempt, AttemptOutcome.PermanentFailure, error).Bounded());

        var id = $"{job.Id}.1";
        Assert.Equal([id], (await harness.Db.SortedSetRangeByRankAsync(harness.Keys.WebhookOutbox).Bounded()).Select(v => (string)v!));
        var pending = Assert.Single((await harness.GetAsync(job.Id)).Webhooks);
        Assert.Equal(("job.failed", "pending", 0), (pending.Type, pending.Status, pending.Attempts));
        Assert.True(await harness.Db.KeyTimeToLiveAsync(harness.Keys.Webhook(id)).Bounded() > TimeSpan.FromHours(23), "expires with the job's retention");

        // Leased: no other sender gets it until the lease lapses, then another does, same id.
        var first = Assert.Single(await store.ClaimWebhooksAsync(10, TimeSpan.FromMilliseconds(300), "token-a").Bounded());
        Assert.Equal((id, "https://hooks.example.com/a", "no"), (first.Delivery.Id, first.Delivery.Url, first.Delivery.Error!.Message));
        // The job's tenant, by which workers share out their sending slots.
        Assert.Equal("acme", first.Tenant);
        Assert.Empty(await store.ClaimWebhooksAsync(10, TimeSpan.FromSeconds(30), "token-b").Bounded());
        LeasedWebhook? second = null;
        await AsyncWait.WaitUntilAsync(async () =>
            (second = (await store.ClaimWebhooksAsync(10, TimeSpan.FromSeconds(30), "token-c")).SingleOrDefault()) is not null,
            TimeSpan.FromSeconds(10), "the lapsed lease lets another sender claim it", TimeSpan.FromMilliseconds(50));
        Assert.Equal(id, second!.Delivery.Id);

        // The first sender, its lease lapsed, records nothing; the holder's record, re-sent, is answered the same.
        Assert.Null(await store.RecordWebhookAsync(first, false, 500, "HTTP 500", TimeSpan.FromSeconds(1), TimeSpan.FromHours(24), TimeSpan.Zero).Bounded());
        var recorded = await store.RecordWebhookAsync(second, false, 500, "HTTP 500", TimeSpan.FromSeconds(1), TimeSpan.FromHours(24), TimeSpan.Zero).Bounded();
        var again = await store.RecordWebhookAsync(second, false, 500, "HTTP 500", TimeSpan.FromSeconds(1), TimeSpan.FromHours(24), TimeSpan.Zero).Bounded();
        Assert.Equal(WebhookOutcome.Retrying, recorded!.Outcome);
        Assert.Equal(recorded, again);
        var retrying = Assert.Single((await harness.GetAsync(job.Id)).Webhooks);
        Assert.Equal(("pending", 1, 500, 1), (retrying.Status, retrying.Attempts, retrying.LastStatusCode, retrying.Tries.Count));
        Assert.Equal(recorded.NextAttemptAt, retrying.NextAttemptAt);

        // A next try beyond the retry window: given up, out of the outbox.
        LeasedWebhook? third = null;
        await AsyncWait.WaitUntilAsync(async () =>
            (third = (await store.ClaimWebhooksAsync(10, TimeSpan.FromSeconds(30), "token-d")).SingleOrDefault()) is not null,
            TimeSpan.FromSeconds(10), "the retry comes due", TimeSpan.FromMilliseconds(50));
        var gaveUp = await store.RecordWebhookAsync(third!, false, 0, "refused", TimeSpan.FromHours(2), TimeSpan.FromHours(1), TimeSpan.Zero).Bounded();
        Assert.Equal(WebhookOutcome.Failed, gaveUp!.Outcome);
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.WebhookOutbox).Bounded());
        var failed = Assert.Single((await harness.GetAsync(job.Id)).Webhooks);
        Assert.Equal(("failed", 2, 0), (failed.Status, failed.Attempts, failed.LastStatusCode));
        Assert.Equal([500, 0], failed.Tries.Select(t => t.StatusCode));
    }
}
