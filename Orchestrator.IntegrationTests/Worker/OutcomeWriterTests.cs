using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Testing;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Processing;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// The worker's group commit: outcomes that arrive while a write is in flight are recorded together
/// in one script call, each still its own fenced compare-and-set; during a Redis outage the writer
/// keeps trying, and gives up only on the outcomes whose callers stopped waiting.
/// </summary>
public sealed class OutcomeWriterTests
{
    private const int MaxAttempts = 3;
    private const int JobCount = 200;
    private static readonly TimeSpan Block = TimeSpan.FromMilliseconds(100);
    private static readonly JobResult Result = new("answer", "model", new TokenUsage(3, 2));

    [Fact]
    public async Task WriteAsync_BurstOfOutcomes_CommitsThemInFewerCallsAndRefusesOnlyTheStaleOne()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();

        // The stale job: worker-a's lease lapsed mid-attempt and worker-b runs attempt 2 now.
        var staleId = await harness.SubmitAsync(MaxAttempts);
        var staleDelivery = Assert.Single(await store.ReadNewAsync("worker-a", 10, Block).Bounded());
        var stale = (await store.ClaimAsync(staleDelivery, "worker-a", startAttempt: true).Bounded()).Lease;
        var taken = Assert.Single(await store.ReclaimExpiredAsync("worker-b", TimeSpan.Zero, 10).Bounded());
        var takeover = await store.ClaimAsync(taken, "worker-b", startAttempt: true).Bounded();
        Assert.Equal((StartAttemptOutcome.Started, 2), await store.StartAttemptAsync(takeover.Lease, 2, alone: true).Bounded());

        var ids = await harness.SubmitManyAsync(JobCount, MaxAttempts);
        var deliveries = await store.ReadNewAsync("worker-a", JobCount + 1, Block).Bounded();
        Assert.Equal(JobCount, deliveries.Count);
        var claims = await store.ClaimManyAsync(deliveries, "worker-a", startAttempt: true).Bounded();
        Assert.All(claims, c => Assert.Equal(1, c.StartedAttempt));

        var finishes = claims.Select(c => AttemptFinish.Completed(c.Lease, 1, Result)).ToList();
        const int staleIndex = JobCount / 2;
        finishes.Insert(staleIndex, AttemptFinish.Completed(stale, 1, new JobResult("stale answer", "stale-model", new TokenUsage(1, 1))));
        // Unstarted spans: they only collect the batch-size tag the writer sets.
        var spans = finishes.Select(f => new Activity("attempt " + f.Lease.JobId)).ToArray();
        await using var parts = WorkerParts.Create(harness.Connection);
        var writer = parts.GetRequiredService<OutcomeWriter>();
        // Loads the script first, so every call counted below is one round trip.
        Assert.Equal(FinishReply.Stale, await writer.WriteAsync(AttemptFinish.Completed(new JobLease(JobIds.New(), "0-1", "no-lease", "worker-a"), 1, Result), null, TestContext.Current.CancellationToken).Bounded());

        var scriptCallsBefore = await ScriptCalls.CountAsync(harness.Db);
        var writes = finishes.Select((f, i) => writer.WriteAsync(f, spans[i], TestContext.Current.CancellationToken)).ToArray();
        var recorded = await Task.WhenAll(writes).Bounded();
        var scriptCalls = await ScriptCalls.CountAsync(harness.Db) - scriptCallsBefore;

        TestContext.Current.TestOutputHelper?.WriteLine($"{finishes.Count} outcomes recorded in {scriptCalls} script calls");
        Assert.Equal(Enumerable.Range(0, finishes.Count).Select(i => i != staleIndex ? FinishReply.Recorded : FinishReply.Stale), recorded);
        Assert.InRange(scriptCalls, 1, finishes.Count - 1);
        // The spans tell the same story as the server: each outcome written alone is untagged, and
        // each batch of k tags its k spans with k.
        var sizes = spans.Select(s => s.GetTagItem(OrchestratorTags.OutcomeBatchSize)).ToArray();
        var batchSizes = sizes.OfType<int>().GroupBy(k => k).ToArray();
        Assert.All(batchSizes, g => Assert.InRange(g.Key, 2, 64));
        Assert.All(batchSizes, g => Assert.Equal(0, g.Count() % g.Key));
        Assert.Equal(scriptCalls, sizes.Count(s => s is null) + batchSizes.Sum(g => g.Count() / g.Key));

        var jobs = await harness.GetAllAsync(ids);
        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        Assert.All(jobs, j => Assert.Equal(Result, j.Result));
        var staleJob = await harness.GetAsync(staleId);
        Assert.Equal(JobStatus.Processing, staleJob.Status);
        Assert.Equal(2, staleJob.Attempts);
        Assert.Null(staleJob.Result);
        Assert.Equal([AttemptOutcome.WorkerLost, null], staleJob.History.Select(a => a.Outcome));
        // Only the stale job's entry is left, still worker-b's.
        var pending = Assert.Single(await harness.Db.StreamPendingMessagesAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, 10, RedisValue.Null).Bounded());
        Assert.Equal((stale.EntryId, "worker-b"), ((string)pending.MessageId!, (string)pending.ConsumerName!));
        Assert.Equal(1, await harness.StreamLengthAsync());
    }

    [Fact]
    public async Task WriteAsync_RedisDown_CancelledOutcomeIsDroppedAndTheOtherLandsWhenRedisIsBack()
    {
        // Append-only: the claimed jobs survive the stop and start.
        await using var harness = await WorkerHarness.StartAsync(new RedisServerOptions { AppendOnly = true });
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        await harness.SubmitManyAsync(2, MaxAttempts);
        var deliveries = await store.ReadNewAsync("worker-a", 10, Block).Bounded();
        Assert.Equal(2, deliveries.Count);
        var claims = await store.ClaimManyAsync(deliveries, "worker-a", startAttempt: true).Bounded();
        var (dropped, kept) = (claims[0].Lease, claims[1].Lease);
        // The log shows when a write has failed for want of Redis (and will be retried by the redis pipeline).
        using var logs = new FakeLoggerProvider();
        await using var parts = WorkerParts.Create(harness.Connection, logs);
        var writer = parts.GetRequiredService<OutcomeWriter>();

        await harness.Redis.StopAsync(TestContext.Current.CancellationToken).Bounded();
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        var droppedWrite = writer.WriteAsync(AttemptFinish.Completed(dropped, 1, Result), null, cancel.Token);
        var keptWrite = writer.WriteAsync(AttemptFinish.Completed(kept, 1, Result), null, CancellationToken.None);
        await AsyncWait.WaitUntilAsync(() => logs.Collector.GetSnapshot().Any(r => r.Category == typeof(RedisPipeline).FullName), TimeSpan.FromSeconds(30), "the writer has failed to reach Redis");
        cancel.Cancel();

        // While Redis is still down: the cancelled outcome is given up, the other keeps waiting.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => droppedWrite.Bounded());
        Assert.True(droppedWrite.IsCanceled);
        Assert.False(keptWrite.IsCompleted, "an outcome was settled while Redis was down");

        await harness.Redis.StartAsync(TestContext.Current.CancellationToken).Bounded();
        Assert.Equal(FinishReply.Recorded, await keptWrite.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken));

        var keptJob = await harness.GetAsync(kept.JobId);
        Assert.Equal(JobStatus.Completed, keptJob.Status);
        Assert.Equal(Result, keptJob.Result);
        // The dropped outcome never landed: its attempt is still open, for a lease renewal or a reclaim to settle.
        var droppedJob = await harness.GetAsync(dropped.JobId);
        Assert.Equal(JobStatus.Processing, droppedJob.Status);
        Assert.Null(Assert.Single(droppedJob.History).Outcome);
    }
}
