using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// Redis at <c>maxmemory</c> (<c>noeviction</c>): no new work goes out, and what is out can still end.
/// Dispatch is refused whole, taking nothing from the ready set (its first writes are none Redis
/// refuses, and it used to take jobs whose calls were then made and whose outcomes could not be
/// written); an attempt's outcome, a cancel and a hand-back are written all the same, making jobs
/// final (they then expire) or giving them back. On a real redis-server.
/// </summary>
public sealed class MemoryFullTransitionsTests
{
    private static readonly JobResult Result = new("answer", "model", new TokenUsage(1, 1));

    [Fact]
    public async Task AtMaxMemory_DispatchTakesNothing_TheRunningJobCompletes_AQueuedJobIsCanceled()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var running = await harness.ClaimOneAsync(maxAttempts: 3);
        var queued = await harness.SubmitManyAsync(3, maxAttempts: 3);
        await harness.Server.ConfigSetAsync("maxmemory-policy", "noeviction").Bounded();
        await harness.Server.ConfigSetAsync("maxmemory", "1").Bounded();
        try
        {
            var refused = await Assert.ThrowsAsync<RedisServerException>(() => harness.Store.DispatchAsync("worker-a", 8, TimeSpan.FromMinutes(5)).Bounded());
            Assert.StartsWith("OOM", refused.Message, StringComparison.Ordinal);
            Assert.All(await harness.GetAllAsync(queued), job => Assert.Equal(JobStatus.Queued, job.Status));
            Assert.Equal(1, await harness.StreamLengthAsync()); // the running job's entry alone

            Assert.True(await harness.Store.CompleteAsync(running.Lease!, 1, Result).Bounded());
            Assert.Equal(CancelOutcome.Canceled, await harness.Store.CancelAsync(queued[0]).Bounded());
        }
        finally
        {
            await harness.Server.ConfigSetAsync("maxmemory", "0").Bounded();
        }

        Assert.Equal(JobStatus.Completed, (await harness.GetAsync(running.Job!.Id)).Status);
        Assert.Equal(JobStatus.Canceled, (await harness.GetAsync(queued[0])).Status);
        // Memory back: dispatch takes the rest.
        Assert.Equal(2, (await harness.Store.ReadNewAsync("worker-a", 8, TimeSpan.FromSeconds(5)).Bounded()).Count);
    }

    [Fact]
    public async Task AtMaxMemory_AClaimedJobNotStarted_IsPutBackInItsReadySet()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        var jobId = await harness.SubmitAsync(maxAttempts: 3);
        var held = Assert.Single(await harness.Store.DispatchAndClaimAsync("worker-a", 8, TimeSpan.FromMinutes(5), JobStore.NewToken(), startAttempt: false).Bounded());
        await harness.Server.ConfigSetAsync("maxmemory-policy", "noeviction").Bounded();
        await harness.Server.ConfigSetAsync("maxmemory", "1").Bounded();
        try
        {
            // requeue.lua runs with allow-oom, as a hand-back does: what a worker holds goes back.
            Assert.True(await harness.Store.RequeueAsync(held.Claim.Lease).Bounded());
        }
        finally
        {
            await harness.Server.ConfigSetAsync("maxmemory", "0").Bounded();
        }

        Assert.NotNull(await harness.Db.SortedSetScoreAsync(harness.Keys.Ready(TenantNames.Default), jobId).Bounded());
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(jobId, Assert.Single(await harness.Store.ReadNewAsync("worker-b", 8, TimeSpan.FromSeconds(5)).Bounded()).JobId);
    }

    [Fact]
    public async Task AtMaxMemory_AWorkerStarting_FindsItsConsumerGroupThere()
    {
        // XGROUP CREATE is refused at maxmemory even when the group exists: a worker started then
        // could not start until memory was back.
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        await harness.SubmitAsync(maxAttempts: 3);
        await harness.Server.ConfigSetAsync("maxmemory-policy", "noeviction").Bounded();
        await harness.Server.ConfigSetAsync("maxmemory", "1").Bounded();
        try
        {
            await harness.Store.EnsureConsumerGroupAsync().Bounded();
        }
        finally
        {
            await harness.Server.ConfigSetAsync("maxmemory", "0").Bounded();
        }
    }
}
