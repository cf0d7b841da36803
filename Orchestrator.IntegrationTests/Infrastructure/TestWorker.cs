using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Infrastructure;

/// <summary>
/// Drives jobs through the store's real worker-side API, as <c>JobProcessor</c> does but with no
/// LLM: dispatch → claim → start the attempt. The test then records the outcome with
/// <see cref="Store"/> (<c>CompleteAsync</c>, <c>FailAsync</c>, …).
/// </summary>
internal sealed class TestWorker
{
    private const string Consumer = "test-worker";

    private readonly IConnectionMultiplexer _redis;

    private TestWorker(JobStore store, IConnectionMultiplexer redis)
    {
        Store = store;
        _redis = redis;
    }

    /// <summary>The worker's store, on the test's connection.</summary>
    public JobStore Store { get; }

    /// <summary>Joins the consumer group of the API's Redis, on the test's connection to it.</summary>
    public static async Task<TestWorker> StartAsync(ApiFactory api)
    {
        var store = new JobStore(api.Redis);
        await store.EnsureConsumerGroupAsync().WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        return new TestWorker(store, api.Redis);
    }

    /// <summary>Takes exactly <paramref name="count"/> new jobs and starts an attempt on each, in dispatch order.</summary>
    public async Task<IReadOnlyList<(JobLease Lease, int Attempt)>> StartAttemptsAsync(int count)
    {
        var deliveries = await Store.ReadNewAsync(Consumer, count + 1, TimeSpan.FromSeconds(1))
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(count, deliveries.Count);

        var started = new List<(JobLease, int)>(count);
        foreach (var delivery in deliveries)
        {
            var claim = await Store.ClaimAsync(delivery, Consumer).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
            var (outcome, attempt) = await Store.StartAttemptAsync(claim.Lease, claim.Job!.Attempts + 1).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(StartAttemptOutcome.Started, outcome);
            started.Add((claim.Lease, attempt));
        }

        return started;
    }

    /// <summary>Records a permanent failure: the job is failed and dead-lettered.</summary>
    public async Task FailAsync(JobLease lease, int attempt) =>
        Assert.True(await Store.FailAsync(lease, attempt, AttemptOutcome.PermanentFailure,
            new JobError(AttemptOutcome.PermanentFailure, "The test worker failed the job for good.")).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));

    /// <summary>
    /// Records a permanent failure of every job given in one script call: they are dead-lettered at
    /// the same instant (one reading of Redis's clock), which that instant is returned.
    /// </summary>
    public async Task<DateTimeOffset> FailTogetherAsync(IReadOnlyList<(JobLease Lease, int Attempt)> started)
    {
        var error = new JobError(AttemptOutcome.PermanentFailure, "The test worker failed the job for good.");
        var recorded = await Store.FinishAttemptsAsync([.. started.Select(s => AttemptFinish.Failed(s.Lease, s.Attempt, AttemptOutcome.PermanentFailure, error))])
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.All(recorded, r => Assert.Equal(FinishReply.Recorded, r));
        var score = await _redis.GetDatabase().SortedSetScoreAsync(new RedisKeys().DeadLetters, started[0].Lease.JobId)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        return DateTimeOffset.FromUnixTimeMilliseconds((long)score!.Value);
    }
}
