using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// The jobs index (GET /jobs, the jobs page) keeps the newest <see cref="JobStore.ListedJobs"/> ids,
/// for all tenants and for each one: a submit past the bound drops the oldest (submit.lua, jobs index).
/// </summary>
public sealed class JobsIndexBoundTests
{
    [Fact]
    public async Task Submit_IndexesFull_NewestKept_OldestDropped_BoundHeld()
    {
        await using var harness = await WorkerHarness.StartAsync();
        RedisKey[] indexes = [harness.Keys.Jobs, harness.Keys.Jobs.Append(":" + TenantNames.Default)];
        // Filled to the bound with older ids (scores 1 … ListedJobs, older than Redis's clock).
        var older = Enumerable.Range(1, JobStore.ListedJobs).Select(i => new SortedSetEntry($"old-{i}", i)).ToArray();
        foreach (var index in indexes)
        {
            Assert.Equal(JobStore.ListedJobs, await harness.Db.SortedSetAddAsync(index, older).Bounded());
        }

        var jobId = await harness.SubmitAsync(maxAttempts: 1);

        foreach (var index in indexes)
        {
            Assert.Equal(JobStore.ListedJobs, await harness.Db.SortedSetLengthAsync(index).Bounded());
            Assert.Null(await harness.Db.SortedSetScoreAsync(index, "old-1").Bounded());
            Assert.NotNull(await harness.Db.SortedSetScoreAsync(index, "old-2").Bounded());
            Assert.NotNull(await harness.Db.SortedSetScoreAsync(index, jobId).Bounded());
        }
    }
}
