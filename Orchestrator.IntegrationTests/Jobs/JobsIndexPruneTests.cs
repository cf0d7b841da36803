using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// The jobs index (GET /jobs) loses the ids whose job expired, walked from a cursor past the jobs
/// still kept (prune-index.lua): the sets kept every expired id up to their count bound, 100,000
/// each, ~12 MB a set. Real Redis, real scripts; an expiry is the job's keys deleted, as PEXPIRE
/// ends them.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class JobsIndexPruneTests
{
    private const int Page = 500;

    [Fact]
    public async Task Prune_DropsTheExpired_PastAnOlderJobStillKept_AndATenantLeftWithNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        // The oldest job of all is still queued: pruning that stopped at the first id kept would drop nothing.
        var kept = (await harness.SubmitForTenantAsync("tenant-one", 1)).Single();
        var gone = await harness.SubmitForTenantAsync("tenant-one", 2);
        var otherTenant = (await harness.SubmitForTenantAsync("tenant-two", 1)).Single();
        await ExpireAsync(harness, [.. gone, otherTenant]);
        // As after a dispatch found tenant-two idle: its finish tag kept for its return.
        await harness.Db.HashSetAsync(harness.Keys.DispatchState, "finish:tenant-two", "5").Bounded();
        Assert.True(await harness.Db.KeyExistsAsync(harness.Keys.TenantBacklog("tenant-two")).Bounded());

        var (dropped, looked) = await harness.Store.PruneJobsIndexAsync(Page, tenants: 4).Bounded();

        // Dropped: 3 of the global set's 4, 2 of tenant-one's 3, tenant-two's 1.
        Assert.Equal((6L, 8L), (dropped, looked));
        Assert.Equal([kept], await IdsAsync(harness, harness.Keys.Jobs));
        Assert.Equal([kept], await IdsAsync(harness, harness.Keys.TenantJobs("tenant-one")));
        Assert.False(await harness.Db.KeyExistsAsync(harness.Keys.TenantJobs("tenant-two")).Bounded());
        // tenant-two has nothing left and nothing waiting: it is no longer walked, until it submits again.
        Assert.Equal(["*", "tenant-one"], await CursorFieldsAsync(harness));
        // Its backlog and finish tag go with it (a tenant removed from the configuration left them for good).
        Assert.False(await harness.Db.KeyExistsAsync(harness.Keys.TenantBacklog("tenant-two")).Bounded());
        Assert.False(await harness.Db.HashExistsAsync(harness.Keys.DispatchState, "finish:tenant-two").Bounded());
        Assert.True(await harness.Db.KeyExistsAsync(harness.Keys.TenantBacklog("tenant-one")).Bounded());
        Assert.Equal(0, (await harness.Store.PruneJobsIndexAsync(Page, tenants: 4).Bounded()).Dropped);

        var again = (await harness.SubmitForTenantAsync("tenant-two", 1)).Single();
        Assert.Equal(["*", "tenant-one", "tenant-two"], await CursorFieldsAsync(harness));
        Assert.Equal([again], await IdsAsync(harness, harness.Keys.TenantJobs("tenant-two")));
    }

    [Fact]
    public async Task Prune_WalksAPageACall_FromItsCursor_ThenStartsAgainFromTheOldest()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.SubmitForTenantAsync("tenant-one", 1);
        // 1,200 older ids whose jobs expired, in the global set (scores 1 … 1,200).
        await IndexAsync(harness, "expired", 1_200, i => i, kept: false);

        Assert.Equal(Page, (await harness.Store.PruneJobsIndexAsync(Page, tenants: 0).Bounded()).Dropped);
        Assert.Equal("500", (string?)await harness.Db.HashGetAsync(harness.Keys.IndexCursors, "*").Bounded());
        Assert.Equal(Page, (await harness.Store.PruneJobsIndexAsync(Page, tenants: 0).Bounded()).Dropped);
        // The last 200 and the live job: the set's end, so the next call starts from the oldest.
        Assert.Equal((200L, 201L), await harness.Store.PruneJobsIndexAsync(Page, tenants: 0).Bounded());
        Assert.Equal("0", (string?)await harness.Db.HashGetAsync(harness.Keys.IndexCursors, "*").Bounded());
        Assert.Equal(1, await harness.Db.SortedSetLengthAsync(harness.Keys.Jobs).Bounded());
    }

    [Fact]
    public async Task Prune_MoreLiveIdsInOneMillisecondThanAPage_MovesPastThem()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.SubmitForTenantAsync("tenant-one", 1);
        var live = await IndexAsync(harness, "live", Page + 100, _ => 5, kept: true);

        Assert.Equal((0L, (long)Page), await harness.Store.PruneJobsIndexAsync(Page, tenants: 0).Bounded());
        // Every id looked at had score 5: the cursor moves past it rather than looking at them for ever.
        Assert.Equal("6", (string?)await harness.Db.HashGetAsync(harness.Keys.IndexCursors, "*").Bounded());
        Assert.Equal((0L, 1L), await harness.Store.PruneJobsIndexAsync(Page, tenants: 0).Bounded());
        Assert.Equal(live.Length + 1, await harness.Db.SortedSetLengthAsync(harness.Keys.Jobs).Bounded());
    }

    /// <summary>
    /// Redis full (maxmemory, noeviction) and a page of kept jobs under the cursor: the cursor still
    /// moves past them to the expired ids behind (the cursor's write was refused before, every call).
    /// </summary>
    [Fact]
    public async Task Prune_RedisFull_MovesPastKeptJobs_DropsTheExpiredBehind()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.SubmitForTenantAsync("tenant-one", 1);
        await IndexAsync(harness, "kept", Page, i => i, kept: true);
        await IndexAsync(harness, "expired", 100, i => Page + i, kept: false);
        await harness.Server.ConfigSetAsync("maxmemory-policy", "noeviction").Bounded();
        await harness.Server.ConfigSetAsync("maxmemory", "1").Bounded();
        try
        {
            Assert.Equal((0L, (long)Page), await harness.Store.PruneJobsIndexAsync(Page, tenants: 0).Bounded());
            Assert.Equal(100, (await harness.Store.PruneJobsIndexAsync(Page, tenants: 0).Bounded()).Dropped);
        }
        finally
        {
            await harness.Server.ConfigSetAsync("maxmemory", "0").Bounded();
        }

        Assert.Equal(Page + 1, await harness.Db.SortedSetLengthAsync(harness.Keys.Jobs).Bounded());
    }

    [Fact]
    public async Task Prune_SentTwice_LeavesTheSetsAsOnce()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var jobs = await harness.SubmitForTenantAsync("tenant-one", 3);
        await ExpireAsync(harness, [jobs[0]]);

        Assert.Equal(2, (await harness.Store.PruneJobsIndexAsync(Page, tenants: 4).Bounded()).Dropped);
        Assert.Equal(0, (await harness.Store.PruneJobsIndexAsync(Page, tenants: 4).Bounded()).Dropped);

        Assert.Equal(jobs.Skip(1).Order(), (await IdsAsync(harness, harness.Keys.TenantJobs("tenant-one"))).Order());
        Assert.Equal(jobs.Skip(1).Order(), (await IdsAsync(harness, harness.Keys.Jobs)).Order());
    }

    /// <summary>A running worker prunes the index with its queue stats (every 5 s), with no other traffic.</summary>
    [Fact]
    public async Task Worker_PrunesTheIndex_WithoutAnyJobToRun()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var jobs = await harness.SubmitForTenantAsync("tenant-one", 2);
        await ExpireAsync(harness, [jobs[0]]);
        await harness.StartWorkerAsync(new Dictionary<string, string> { ["Simulator:FailureRate"] = "0" }, "worker");

        await AsyncWait.WaitUntilAsync(
            async () => (await IdsAsync(harness, harness.Keys.Jobs)).Count == 1 && (await IdsAsync(harness, harness.Keys.TenantJobs("tenant-one"))).Count == 1,
            TimeSpan.FromSeconds(30), "the worker dropped the expired id from both sets");
        Assert.Equal([jobs[1]], await IdsAsync(harness, harness.Keys.TenantJobs("tenant-one")));
    }

    /// <summary>
    /// Expired ids behind 700 kept jobs in the global set go within a stats read or two: a worker walks
    /// past 800 kept ids a read (one call of 50 a read took 14 reads, 70 s, to reach them).
    /// </summary>
    [Fact]
    public async Task Worker_WalksPastKeptJobs_ToTheExpiredBehind_WithinARead()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var jobs = await harness.SubmitForTenantAsync("tenant-one", 1);
        var kept = await IndexAsync(harness, "kept", 700, i => i, kept: true);
        await IndexAsync(harness, "expired", 10, i => 1_000 + i, kept: false);
        await harness.StartWorkerAsync(new Dictionary<string, string> { ["Simulator:FailureRate"] = "0" }, "worker");

        await AsyncWait.WaitUntilAsync(
            async () => await harness.Db.SortedSetLengthAsync(harness.Keys.Jobs).Bounded() == kept.Length + jobs.Count,
            TimeSpan.FromSeconds(20), "the worker dropped the 10 expired ids behind the kept ones");
    }

    /// <summary>
    /// Puts ids <paramref name="name"/>-1 … -<paramref name="count"/> into the global set, id i at
    /// <paramref name="score"/>(i), each with a job hash when <paramref name="kept"/> (an expired
    /// id's job is gone).
    /// </summary>
    private static async Task<string[]> IndexAsync(WorkerHarness harness, string name, int count, Func<int, double> score, bool kept)
    {
        var ids = Enumerable.Range(1, count).Select(i => $"{name}-{i}").ToArray();
        var batch = harness.Db.CreateBatch();
        List<Task> writes = kept ? [.. ids.Select(id => batch.HashSetAsync(harness.Keys.Job(id), "status", "completed"))] : [];
        writes.Add(batch.SortedSetAddAsync(harness.Keys.Jobs, [.. ids.Select((id, i) => new SortedSetEntry(id, score(i + 1)))]));
        batch.Execute();
        await Task.WhenAll(writes).Bounded();
        return ids;
    }

    /// <summary>Ends <paramref name="jobIds"/> as their retention would: canceled (off the backlog), then their keys gone.</summary>
    private static async Task ExpireAsync(WorkerHarness harness, IEnumerable<string> jobIds)
    {
        foreach (var id in jobIds)
        {
            Assert.Equal(CancelOutcome.Canceled, await harness.Store.CancelAsync(id).Bounded());
            Assert.True(await harness.Db.KeyDeleteAsync(harness.Keys.Job(id)).Bounded());
        }
    }

    private static async Task<List<string>> IdsAsync(WorkerHarness harness, RedisKey set) =>
        [.. (await harness.Db.SortedSetRangeByRankAsync(set).Bounded()).Select(v => (string)v!)];

    private static async Task<List<string>> CursorFieldsAsync(WorkerHarness harness) =>
        [.. (await harness.Db.HashKeysAsync(harness.Keys.IndexCursors).Bounded()).Select(v => (string)v!).Order(StringComparer.Ordinal)];
}
