using Orchestrator.Jobs;
using Orchestrator.IntegrationTests.Worker;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// The per-tenant dead-letter sets the scripts write beside the global one (both dead-lettering
/// paths: a failed attempt in <c>finish-attempt.lua</c>, exhausted attempts in <c>claim.lua</c>), jobs
/// stored before tenants existed, and dead-letter pages bounded in bytes. Real Redis, real scripts.
/// </summary>
public sealed class TenantDeadLetterStoreTests
{
    private const int MaxAttempts = 1;

    [Fact]
    public async Task ClaimDeadLettersExhaustedJob_IntoItsTenantsSetOnly()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var jobId = await DeadLetterOneAsync(harness, "tenant-one");

        Assert.Equal([jobId], await IdsAsync(harness, "tenant-one"));
        Assert.Empty(await IdsAsync(harness, "tenant-two"));
        Assert.Equal([jobId], await IdsAsync(harness, tenant: null));
        Assert.Equal("tenant-one", (await harness.GetAsync(jobId)).Tenant);
    }

    [Fact]
    public async Task FailedJobStoredBeforeTenants_BelongsToDefault()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var jobId = await SubmitAsync(harness, "tenant-one");
        // As a job written by a version without tenants: no 'tenant' field.
        Assert.True(await harness.Db.HashDeleteAsync(harness.Keys.Job(jobId), "tenant").Bounded());

        await FailAllAsync(harness, 1);

        Assert.Equal(TenantNames.Default, (await harness.GetAsync(jobId)).Tenant);
        Assert.Equal([jobId], await IdsAsync(harness, TenantNames.Default));
        Assert.Empty(await IdsAsync(harness, "tenant-one"));
    }

    [Theory]
    [InlineData(250, 2)]
    [InlineData(100, 1)]
    [InlineData(99, 1)]
    [InlineData(1000, 5)]
    public async Task ListDeadLetters_BoundedInBytes_StopsBeforeTheBoundAndPagesOnFromThere(long maxBytes, int perPage)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var jobIds = new List<string>();
        for (var i = 0; i < 7; i++)
        {
            jobIds.Add(await SubmitAsync(harness, "tenant-one"));
        }

        await FailAllAsync(harness, jobIds.Count);

        var seen = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            // Every job counts 100 bytes; a page holds as many as fit, at least one, at most the limit.
            var page = await harness.Store.ListDeadLettersAsync(5, cursor, "tenant-one", maxBytes, _ => 100).Bounded();
            Assert.Equal(pages * perPage + perPage <= jobIds.Count ? perPage : jobIds.Count - (pages * perPage), page.Items.Count);
            seen.AddRange(page.Items.Select(j => j.Id));
            cursor = page.NextCursor;
            pages++;
            Assert.True(pages <= jobIds.Count, "Paging did not end.");
        }
        while (cursor is not null);

        Assert.Equal(jobIds.Order(StringComparer.Ordinal), seen.Order(StringComparer.Ordinal));
        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Equal((jobIds.Count + perPage - 1) / perPage, pages);
    }

    /// <summary>
    /// A dead letter kept for less than the others (stored by an API with a shorter
    /// <c>Api:JobRetention</c>) drops no dead letter whose job is still kept, and does not shorten its
    /// tenant's set: one with 5 s of retention emptied the global set of every tenant's day-long ones,
    /// and set its tenant's set to expire with it.
    /// </summary>
    [Fact]
    public async Task ADeadLetterKeptForLess_DropsNoneStillKept_NorShortensItsTenantsSet()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var kept = await SubmitAsync(harness, "tenant-one");
        await FailAllAsync(harness, 1);
        var failedAt = (long)(await harness.Db.SortedSetScoreAsync(harness.Keys.DeadLetters, kept).Bounded())!;
        // Past the shorter retention (1 s) since the first dead letter, on Redis's clock.
        await AsyncWait.WaitUntilAsync(async () => (await RedisClock.NowAsync(harness.Db)).ToUnixTimeMilliseconds() > failedAt + 1_100,
            TimeSpan.FromSeconds(10), "Redis's clock 1.1 s on");

        var brief = await SubmitAsync(harness, "tenant-one", TimeSpan.FromSeconds(1));
        await FailAllAsync(harness, 1);

        Assert.Equal([brief, kept], (await harness.Db.SortedSetRangeByRankAsync(harness.Keys.DeadLetters, order: Order.Descending).Bounded()).Select(v => (string)v!));
        Assert.Equal(2, await harness.Db.SortedSetLengthAsync(harness.Keys.TenantDeadLetters("tenant-one")).Bounded());
        Assert.InRange((await harness.Db.KeyTimeToLiveAsync(harness.Keys.TenantDeadLetters("tenant-one")).Bounded())!.Value, TimeSpan.FromHours(23), TimeSpan.FromDays(1));
    }

    /// <summary>
    /// Dead letters whose job expired, not yet pruned: one listing call examines at most 1,000 and
    /// hands out a cursor, and each set is read from the last score, not by a growing offset. Before,
    /// every call read them all, from the start each page (an outside audit: 25,000 expired dead
    /// letters, 0.45–1.4 s and hundreds of range reads per call).
    /// </summary>
    [Fact]
    public async Task ExpiredDeadLetters_OneCallExaminesAtMost1000_TheCursorsReachTheLiveOne()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var live = await DeadLetterOneAsync(harness, "tenant-one");
        var liveScore = (await harness.Db.SortedSetScoreAsync(harness.Keys.DeadLetters, live).Bounded())!.Value;
        // 2,500 newer ones whose jobs are gone; 600 share one score, across the reads' page boundaries.
        var expired = Enumerable.Range(0, 2_500)
            .Select(i => new SortedSetEntry($"expiredDeadLetter{i:D5}", liveScore + 1_000 + (i < 600 ? 0 : i)))
            .ToArray();
        await harness.Db.SortedSetAddAsync(harness.Keys.DeadLetters, expired).Bounded();

        var found = new List<string>();
        var calls = 0;
        string? cursor = null;
        do
        {
            var page = await harness.Store.ListDeadLettersAsync(50, cursor).Bounded();
            found.AddRange(page.Items.Select(j => j.Id));
            cursor = page.NextCursor;
            calls++;
        }
        while (cursor is not null && calls < 10);

        Assert.Equal([live], found);
        // 1,000 + 1,000 + the last 500 and the live one.
        Assert.Equal(3, calls);
    }

    /// <summary>
    /// A job of <paramref name="tenant"/> dead-lettered by a claim: its worker died while it ran alone,
    /// and the next claim (one crash allowed) dead-letters it.
    /// </summary>
    private static async Task<string> DeadLetterOneAsync(WorkerHarness harness, string tenant)
    {
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var jobId = await SubmitAsync(harness, tenant);
        var delivery = Assert.Single(await harness.Store.ReadNewAsync("worker-1", 10, TimeSpan.FromMilliseconds(100)).Bounded());
        var claim = await harness.Store.ClaimAsync(delivery, "worker-1").Bounded();
        Assert.Equal((StartAttemptOutcome.Started, 1), await harness.Store.StartAttemptAsync(claim.Lease, 1, alone: true).Bounded());
        delivery = Assert.Single(await harness.Store.ReclaimExpiredAsync("worker-2", TimeSpan.Zero, 10).Bounded());
        Assert.Equal(ClaimOutcome.DeadLettered, (await harness.Store.ClaimAsync(delivery, "worker-2", maxCrashes: 1).Bounded()).Outcome);
        return jobId;
    }

    private static async Task<string> SubmitAsync(WorkerHarness harness, string tenant, TimeSpan? retention = null)
    {
        var job = WorkerHarness.NewJob("a prompt", MaxAttempts) with { Tenant = tenant };
        var result = await harness.Store.SubmitAsync(job with { Retention = retention ?? job.Retention }, idempotency: null).Bounded();
        Assert.Equal(SubmitOutcome.Created, result.Outcome);
        return result.JobId;
    }

    /// <summary>
    /// The oldest dead letter kept longer than those after it (another API's <c>Api:JobRetention</c>,
    /// or one from before the setting was shortened): the walk goes past it. It stopped at the first
    /// job kept, and an audit found 1,500 expired dead letters kept behind one, with GET /dead-letters
    /// answering empty pages.
    /// </summary>
    [Fact]
    public async Task PruneDeadLetters_TheOldestKeptLonger_TheExpiredBehindItAreDropped_APageACallFromACursor()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var oldestFirst = await ThreeDeadLettersAsync(harness);
        // Failed in one call, they may share a millisecond: a millisecond each, in the same order (a
        // page of one score is passed whole, so a page of one would pass the others of its millisecond).
        await harness.Db.SortedSetAddAsync(harness.Keys.DeadLetters, [.. oldestFirst.Select((id, i) => new SortedSetEntry(id, 1_000 + i))]).Bounded();
        await harness.Db.KeyDeleteAsync([harness.Keys.Job(oldestFirst[1]), harness.Keys.Job(oldestFirst[2])]).Bounded();

        // One member a call: the kept one, then each expired one, then the end (the walk starts again).
        // More: a full page that dropped some.
        Assert.Equal((0, 1, false), await harness.Store.PruneDeadLettersAsync(1).Bounded());
        Assert.Equal((1, 1, true), await harness.Store.PruneDeadLettersAsync(1).Bounded());
        Assert.Equal((1, 1, true), await harness.Store.PruneDeadLettersAsync(1).Bounded());
        Assert.Equal((0, 0, false), await harness.Store.PruneDeadLettersAsync(1).Bounded());
        Assert.Equal((0, 1, false), await harness.Store.PruneDeadLettersAsync(100).Bounded());
        Assert.Equal([oldestFirst[0]], await IdsAsync(harness, tenant: null));
    }

    /// <summary>
    /// A tenant's dead letters whose jobs expired behind one kept longer: its set is pruned only at its
    /// next dead letter, up to the first job kept, so its listing answered empty pages (an outside
    /// audit: 1,500 behind one). A listing that meets them drops them from the tenant's set and the
    /// global one.
    /// </summary>
    [Fact]
    public async Task ListDeadLetters_OfATenant_ExpiredBehindOneKept_TheListingDropsThemFromBothSets()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var oldestFirst = await ThreeDeadLettersAsync(harness);
        await harness.Db.KeyDeleteAsync([harness.Keys.Job(oldestFirst[1]), harness.Keys.Job(oldestFirst[2])]).Bounded();

        Assert.Equal([oldestFirst[0]], await IdsAsync(harness, "tenant-one"));

        Assert.Equal([oldestFirst[0]], (await harness.Db.SortedSetRangeByRankAsync(harness.Keys.TenantDeadLetters("tenant-one")).Bounded()).Select(v => (string)v!));
        Assert.Equal([oldestFirst[0]], (await harness.Db.SortedSetRangeByRankAsync(harness.Keys.DeadLetters).Bounded()).Select(v => (string)v!));
    }

    /// <summary>
    /// Dead letters whose job expired leave the global set without waiting for the next dead letter
    /// (the set, and the orchestrator.dead_letters gauge read from it, kept them until then), from the
    /// oldest; a dead letter whose job is still kept stays.
    /// </summary>
    [Fact]
    public async Task PruneDeadLetters_DropsTheExpiredFromTheOldest_KeepsTheLive()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var oldestFirst = await ThreeDeadLettersAsync(harness);

        // The two oldest expire (as PEXPIRE ends them); the youngest is kept.
        await harness.Db.KeyDeleteAsync([harness.Keys.Job(oldestFirst[0]), harness.Keys.Job(oldestFirst[1])]).Bounded();

        Assert.Equal(2, (await harness.Store.PruneDeadLettersAsync(100).Bounded()).Dropped);
        Assert.Equal(0, (await harness.Store.PruneDeadLettersAsync(100).Bounded()).Dropped);
        Assert.Equal(1, (await harness.Store.GetStatsAsync().Bounded()).DeadLetters);
        Assert.Equal([oldestFirst[2]], await IdsAsync(harness, tenant: null));
    }

    /// <summary>
    /// A tenant's dead-letter set expires with the job of its newest member, when every member's job is
    /// gone: workers prune only the global set (a job gone does not say its tenant), and the tenant's
    /// was trimmed only by its next dead letter, so a tenant that had no more kept its expired ids.
    /// </summary>
    [Fact]
    public async Task TenantsDeadLetterSet_ExpiresWithItsNewestMembersJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        await SubmitAsync(harness, "tenant-one");
        await FailAllAsync(harness, 1);
        var older = (await IdsAsync(harness, "tenant-one")).Single();
        var newest = await SubmitAsync(harness, "tenant-one");
        await FailAllAsync(harness, 1);

        var setExpiry = await harness.Db.KeyTimeToLiveAsync(harness.Keys.TenantDeadLetters("tenant-one")).Bounded();
        var jobExpiry = await harness.Db.KeyTimeToLiveAsync(harness.Keys.Job(newest)).Bounded();
        var olderExpiry = await harness.Db.KeyTimeToLiveAsync(harness.Keys.Job(older)).Bounded();

        Assert.NotNull(setExpiry);
        Assert.NotNull(jobExpiry);
        // Set in the same script as the newest job's: the same instant, read a moment apart.
        Assert.InRange(setExpiry.Value, jobExpiry.Value - TimeSpan.FromSeconds(1), jobExpiry.Value + TimeSpan.FromSeconds(1));
        Assert.True(olderExpiry <= setExpiry, $"the older member's job ({olderExpiry}) outlives the set ({setExpiry})");
    }

    /// <summary>Reads, claims, starts and fails every job for good, as a worker whose LLM refuses them.</summary>
    private static async Task FailAllAsync(WorkerHarness harness, int count)
    {
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        var deliveries = await harness.Store.ReadNewAsync("worker-1", count + 1, TimeSpan.FromMilliseconds(100)).Bounded();
        Assert.Equal(count, deliveries.Count);
        foreach (var delivery in deliveries)
        {
            var claim = await harness.Store.ClaimAsync(delivery, "worker-1").Bounded();
            var (_, attempt) = await harness.Store.StartAttemptAsync(claim.Lease, 1).Bounded();
            Assert.True(await harness.Store.FailAsync(claim.Lease, attempt, AttemptOutcome.PermanentFailure,
                new JobError(AttemptOutcome.PermanentFailure, "refused")).Bounded());
        }
    }

    private static async Task<List<string>> IdsAsync(WorkerHarness harness, string? tenant) =>
        [.. (await harness.Store.ListDeadLettersAsync(50, cursor: null, tenant).Bounded()).Items.Select(j => j.Id)];

    /// <summary>Three jobs of one tenant dead-lettered; their ids, oldest first.</summary>
    private static async Task<string[]> ThreeDeadLettersAsync(WorkerHarness harness)
    {
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        string[] jobs = [await SubmitAsync(harness, "tenant-one"), await SubmitAsync(harness, "tenant-one"), await SubmitAsync(harness, "tenant-one")];
        await FailAllAsync(harness, 3);
        var oldestFirst = (await harness.Db.SortedSetRangeByRankAsync(harness.Keys.DeadLetters).Bounded()).Select(v => (string)v!).ToArray();
        Assert.Equal(jobs.Order(), oldestFirst.Order());
        return oldestFirst;
    }
}
