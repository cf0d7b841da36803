using Orchestrator.IntegrationTests.Infrastructure;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// Scripts go by their SHA1 (<c>EVALSHA</c>, <see cref="RedisScript"/>); a server that lost its
/// script cache (<c>SCRIPT FLUSH</c> here, a restart or a failover in production) answers NOSCRIPT
/// and the source is sent instead. Real Redis, real scripts.
/// </summary>
public sealed class ScriptCacheTests
{
    [Fact]
    public async Task Submit_AfterScriptFlush_SendsTheSourceAndCreatesTheJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var first = await harness.Store.SubmitAsync(WorkerHarness.NewJob("a prompt", maxAttempts: 3), idempotency: null).Bounded();

        await harness.Server.ScriptFlushAsync().Bounded();
        var second = await harness.Store.SubmitAsync(WorkerHarness.NewJob("a prompt", maxAttempts: 3), idempotency: null).Bounded();

        Assert.Equal(SubmitOutcome.Created, first.Outcome);
        Assert.Equal(SubmitOutcome.Created, second.Outcome);
        Assert.Equal(JobStatus.Queued, (await harness.GetAsync(second.JobId)).Status);
        Assert.True(await harness.Server.ScriptExistsAsync(LuaScripts.Submit.Source).Bounded(), "the source sent after NOSCRIPT is cached again");
    }

    [Fact]
    public async Task SubmitMany_AfterScriptFlush_EverySubmissionInTheBatchIsCreated()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.SubmitAsync(WorkerHarness.NewJob("a prompt", maxAttempts: 3), idempotency: null).Bounded();

        await harness.Server.ScriptFlushAsync().Bounded();
        var replies = await Task.WhenAll(harness.Store.SubmitManyAsync(
            [.. Enumerable.Range(0, 5).Select(_ => (WorkerHarness.NewJob("a prompt", maxAttempts: 3), (IdempotencyClaim?)null))])).Bounded();

        Assert.All(replies, r => Assert.Equal(SubmitOutcome.Created, r.Outcome));
        Assert.Equal(6, (long)await harness.Db.HashGetAsync(harness.Keys.DispatchState, "ready").Bounded());
    }

    [Fact]
    public async Task Evaluate_InABatchWithoutADatabaseToResendOn_IsRefused()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var script = new RedisScript("return 1");

        await Assert.ThrowsAsync<ArgumentException>(() => script.EvaluateAsync(harness.Db.CreateBatch(), []));
        Assert.Equal(1, (int)await script.EvaluateAsync(harness.Db, []).Bounded());
    }
}
