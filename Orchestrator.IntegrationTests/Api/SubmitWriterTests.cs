using System.Diagnostics;
using Microsoft.Extensions.Options;
using Orchestrator.Api;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.IntegrationTests.Worker;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// The API's group commit of submissions: requests that arrive while a write is in flight go to
/// Redis together, yet each is still its own <c>submit.lua</c> call — its own job, and one job per
/// idempotency key even when several requests with that key share a round trip.
/// </summary>
public sealed class SubmitWriterTests
{
    private const int Submissions = 300;
    private const int KeyedEvery = 10;

    [Fact]
    public async Task SubmitAsync_BurstWithRepeatedKeys_EachAnsweredInOrderOneJobPerKeyFewerRoundTrips()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var writer = new SubmitWriter(harness.Store, Options.Create(new ApiOptions()));
        var key = "burst-" + Guid.NewGuid().ToString("N");
        // Loads the script first, so the burst below runs as it would on a warm API.
        Assert.Equal(SubmitOutcome.Created, (await writer.SubmitAsync(NewJob("warm-up"), null, null).Bounded()).Outcome);

        // Every tenth request carries the same key and the same request: the first of them creates
        // the job, the others are replays, whichever round trip they share.
        var jobs = Enumerable.Range(0, Submissions).Select(i => NewJob(i % KeyedEvery == 0 ? "keyed" : $"prompt {i}")).ToArray();
        var claims = jobs.Select((_, i) => i % KeyedEvery == 0 ? new IdempotencyClaim(key, "fingerprint", TimeSpan.FromHours(1)) : null).ToArray();
        // Unstarted spans: they only collect the batch-size tag the writer sets.
        var spans = jobs.Select(j => new Activity("POST /jobs " + j.Id)).ToArray();
        var results = await Task.WhenAll(jobs.Select((job, i) => writer.SubmitAsync(job, claims[i], spans[i]))).Bounded();

        var keyedJobId = jobs[0].Id;
        for (var i = 0; i < Submissions; i++)
        {
            // A replay answers with the first submission's job and creation time (Redis's clock).
            var expected = i % KeyedEvery != 0
                ? new SubmitResult(SubmitOutcome.Created, jobs[i].Id, results[i].CreatedAt)
                : i == 0 ? new SubmitResult(SubmitOutcome.Created, keyedJobId, results[0].CreatedAt) : new SubmitResult(SubmitOutcome.Replayed, keyedJobId, results[0].CreatedAt);
            Assert.Equal(expected, results[i]);
            Assert.NotEqual(default, results[i].CreatedAt);
        }

        // What Redis holds agrees: one job and one stream entry per created result, none for a replay.
        var created = results.Where(r => r.Outcome == SubmitOutcome.Created).Select(r => r.JobId).ToArray();
        Assert.Equal(Submissions - (Submissions / KeyedEvery) + 1, created.Length);
        Assert.Equal(created.Length + 1, (long)await harness.Db.HashGetAsync(harness.Keys.DispatchState, "ready").Bounded());
        var stored = await harness.GetAllAsync(created);
        Assert.All(stored, j => Assert.Equal(JobStatus.Queued, j.Status));
        Assert.Equal(created, stored.Select(j => j.Id));
        foreach (var replayed in jobs.Where((_, i) => i % KeyedEvery == 0 && i > 0))
        {
            Assert.False(await harness.Db.KeyExistsAsync(harness.Keys.Job(replayed.Id)).Bounded(), $"a replay created job {replayed.Id}");
        }

        // The spans tell how the burst was written: each submission written alone is untagged, each
        // round trip of k tags its k spans with k; under this burst some round trips carried many.
        var sizes = spans.Select(s => s.GetTagItem(OrchestratorTags.SubmitBatchSize)).ToArray();
        var batchSizes = sizes.OfType<int>().GroupBy(k => k).ToArray();
        Assert.All(batchSizes, g => Assert.InRange(g.Key, 2, 64));
        Assert.All(batchSizes, g => Assert.Equal(0, g.Count() % g.Key));
        var roundTrips = sizes.Count(s => s is null) + batchSizes.Sum(g => g.Count() / g.Key);
        TestContext.Current.TestOutputHelper?.WriteLine($"{Submissions} submissions written in {roundTrips} round trips");
        Assert.InRange(roundTrips, Submissions / 64, Submissions - 1);
    }

    [Fact]
    public async Task SubmitAsync_RedisDown_FailsEachWaitingRequestWithTheRedisError()
    {
        await using var harness = await WorkerHarness.StartAsync();
        // Configured as the API's connection is: while Redis is away a command fails at once; 3 s timeouts.
        await using var connection = await ApiConnectionAsync(harness).Bounded();
        var writer = new SubmitWriter(new JobStore(connection), Options.Create(new ApiOptions()));
        Assert.Equal(SubmitOutcome.Created, (await writer.SubmitAsync(NewJob("before"), null, null).Bounded()).Outcome);

        await harness.Redis.StopAsync(TestContext.Current.CancellationToken).Bounded();
        var failed = await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
            await Record.ExceptionAsync(() => writer.SubmitAsync(NewJob($"during {i}"), null, null).Bounded()))).Bounded();

        // The API answers these 503: the error each request sees is the one that says Redis is away.
        Assert.All(failed, e => Assert.True(e is not null && RedisFailure.IsTransient(e), $"not a Redis-unavailable error: {e}"));

        await harness.Redis.StartAsync(TestContext.Current.CancellationToken).Bounded();
        // Both clients: the writer's, and the harness's that reads the job back.
        await AsyncWait.WaitUntilAsync(() => connection.IsConnected && harness.Db.Multiplexer.IsConnected, TimeSpan.FromSeconds(30), "the clients have reconnected");
        // The writer is not left stuck behind the failed round trips.
        var after = await writer.SubmitAsync(NewJob("after"), null, null).Bounded();
        Assert.Equal(SubmitOutcome.Created, after.Outcome);
        Assert.Equal(JobStatus.Queued, (await harness.GetAsync(after.JobId)).Status);
    }

    [Fact]
    public async Task SubmitAsync_RedisFrozen_EverySubmissionFailsWithinFiveSeconds_EvenQueuedBehindAnUnansweredRoundTrip()
    {
        await using var harness = await WorkerHarness.StartAsync();
        // Configured as the API's connection is: while Redis is away a command fails at once; 3 s timeouts.
        await using var connection = await ApiConnectionAsync(harness).Bounded();
        var writer = new SubmitWriter(new JobStore(connection), Options.Create(new ApiOptions()));
        Assert.Equal(SubmitOutcome.Created, (await writer.SubmitAsync(NewJob("before"), null, null).Bounded()).Outcome);

        // SIGSTOP: the connection stays up and nothing answers. Requests keep arriving while the first
        // round trip waits: before the bound they waited for its timeout, then their own (up to 7.7 s).
        harness.Redis.Pause();
        try
        {
            var submissions = new List<Task<TimeSpan>>();
            for (var i = 0; i < 16; i++)
            {
                submissions.Add(TimedFailureAsync(writer, NewJob($"frozen {i}")));
                await Task.Delay(TimeSpan.FromMilliseconds(50), TestContext.Current.CancellationToken);
            }

            var took = await Task.WhenAll(submissions).Bounded();
            Assert.All(took, t => Assert.True(t < TimeSpan.FromSeconds(5), $"answered after {t.TotalSeconds:0.00} s"));
        }
        finally
        {
            harness.Redis.Resume();
        }
    }

    private static Task<ConnectionMultiplexer> ApiConnectionAsync(WorkerHarness harness)
    {
        var options = ConfigurationOptions.Parse(harness.Redis.ConnectionString);
        ApiRedisConnection.Configure(options);
        return ConnectionMultiplexer.ConnectAsync(options);
    }

    /// <summary>How long <paramref name="job"/>'s submission took to fail with an error the API answers 503.</summary>
    private static async Task<TimeSpan> TimedFailureAsync(SubmitWriter writer, NewJob job)
    {
        var started = Stopwatch.GetTimestamp();
        var e = await Record.ExceptionAsync(() => writer.SubmitAsync(job, null, null).Bounded());
        Assert.True(e is not null && RedisFailure.IsTransient(e), $"not a Redis-unavailable error: {e}");
        return Stopwatch.GetElapsedTime(started);
    }

    [Fact]
    public async Task SubmitAsync_OneSubmissionOfARoundTripFails_EveryOtherIsAnsweredCreated()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var writer = new SubmitWriter(harness.Store, Options.Create(new ApiOptions()));
        Assert.Equal(SubmitOutcome.Created, (await writer.SubmitAsync(NewJob("warm-up"), null, null).Bounded()).Outcome);
        // This key's record is not a hash: its submit.lua call fails (WRONGTYPE), the others must not.
        await harness.Db.StringSetAsync(harness.Keys.Idempotency(TenantNames.Default, "broken"), "not a hash").Bounded();

        const int count = 50, broken = 25;
        var jobs = Enumerable.Range(0, count).Select(i => NewJob($"prompt {i}")).ToArray();
        var spans = jobs.Select(j => new Activity("POST /jobs " + j.Id)).ToArray();
        var submissions = jobs.Select((job, i) => writer.SubmitAsync(
            job, i == broken ? new IdempotencyClaim("broken", "fingerprint", TimeSpan.FromHours(1)) : null, spans[i])).ToArray();
        var outcomes = await Task.WhenAll(submissions.Select(async t => await Record.ExceptionAsync(() => t))).Bounded();

        Assert.IsType<RedisServerException>(outcomes[broken]);
        Assert.InRange(Assert.IsType<int>(spans[broken].GetTagItem(OrchestratorTags.SubmitBatchSize)), 2, 64);
        for (var i = 0; i < count; i++)
        {
            if (i != broken)
            {
                Assert.Null(outcomes[i]);
                var submitted = await submissions[i];
                Assert.Equal((SubmitOutcome.Created, jobs[i].Id), (submitted.Outcome, submitted.JobId));
                Assert.Equal(JobStatus.Queued, (await harness.GetAsync(jobs[i].Id)).Status);
            }
        }

        Assert.False(await harness.Db.KeyExistsAsync(harness.Keys.Job(jobs[broken].Id)).Bounded());
    }

    private static NewJob NewJob(string prompt) => WorkerHarness.NewJob(prompt, maxAttempts: 3);
}
