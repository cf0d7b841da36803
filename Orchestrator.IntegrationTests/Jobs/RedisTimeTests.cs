using Orchestrator.IntegrationTests.Infrastructure;
using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// The scripts stamp their writes with Redis's clock (<c>TIME</c>), not a caller's: a job's
/// creation time, and what an idempotent replay answers with it. Real Redis, real scripts.
/// </summary>
public sealed class RedisTimeTests
{
    [Fact]
    public async Task Submit_CreatedAtComesFromRedisClock_AndAReplayAnswersTheSameInstant()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var claim = new IdempotencyClaim("key-" + Guid.NewGuid().ToString("N"), "fingerprint", TimeSpan.FromHours(1));

        var before = await RedisClock.NowAsync(harness.Db);
        var created = await harness.Store.SubmitAsync(WorkerHarness.NewJob("a prompt", maxAttempts: 3), claim).Bounded();
        var after = await RedisClock.NowAsync(harness.Db);
        await RedisClock.WaitPastAsync(harness.Db, after);
        var replayed = await harness.Store.SubmitAsync(WorkerHarness.NewJob("a prompt", maxAttempts: 3), claim).Bounded();

        Assert.Equal(SubmitOutcome.Created, created.Outcome);
        Assert.InRange(created.CreatedAt, before, after);
        var job = await harness.GetAsync(created.JobId);
        Assert.Equal(created.CreatedAt, job.CreatedAt);
        Assert.Equal(created.CreatedAt, job.UpdatedAt);
        Assert.Equal(new SubmitResult(SubmitOutcome.Replayed, created.JobId, created.CreatedAt), replayed);
    }

    [Fact]
    public async Task Submit_KeyStoredByAnEarlierVersion_ReplaysTheStoredBodyVerbatim()
    {
        await using var harness = await WorkerHarness.StartAsync();
        // Before times came from Redis, the idempotency hash held the whole first 202 body.
        const string body = """{"jobId":"earlier-job-id-000000000","status":"queued","createdAt":"2026-12-01T10:00:00.123Z"}""";
        await harness.Db.HashSetAsync(harness.Keys.Idempotency(TenantNames.Default, "earlier"),
            [new HashEntry("jobId", "earlier-job-id-000000000"), new HashEntry("fingerprint", "fingerprint"), new HashEntry("response", body)]).Bounded();

        var replayed = await harness.Store.SubmitAsync(
            WorkerHarness.NewJob("a prompt", maxAttempts: 3), new IdempotencyClaim("earlier", "fingerprint", TimeSpan.FromHours(1))).Bounded();

        Assert.Equal(new SubmitResult(SubmitOutcome.Replayed, "earlier-job-id-000000000", ReplayedResponseBody: body), replayed);
    }
}
