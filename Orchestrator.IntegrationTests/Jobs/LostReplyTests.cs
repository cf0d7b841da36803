using Orchestrator.Api;
using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// Redis killed (<c>kill -9</c>) while batches of script calls are in flight. StackExchange.Redis can
/// leave a command caught in the connection failure with neither a reply nor its own timeout (issue
/// 2742). Without <see cref="RedisReply"/>'s bound, 3 of 4 runs of this test left 14 to 27 of
/// 17,000–37,000 calls with no outcome 20 s after the last kill; with it, each ends after the bound
/// as a timeout its caller re-sends. The 4th run found a write the reset cut mid-way, failed with
/// the pipe's ArgumentOutOfRangeException, now classified as transient (<see cref="RedisFailure"/>).
/// </summary>
public sealed class LostReplyTests
{
    [Fact]
    public async Task ScriptCalls_RedisKilledWhileBatchesAreInFlight_EveryCallEndsWithinTheReplyBound()
    {
        const int rounds = 4;
        await using var harness = await WorkerHarness.StartAsync();
        // The API's connection (fail fast while Redis is away), reconnecting at once between kills.
        var options = ConfigurationOptions.Parse(harness.Redis.ConnectionString);
        ApiRedisConnection.Configure(options);
        options.ReconnectRetryPolicy = new LinearRetry(100);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(options).Bounded();
        var store = new JobStore(connection);
        var calls = new List<Task<SubmitResult>>();
        for (var round = 0; round < rounds; round++)
        {
            await AsyncWait.WaitUntilAsync(() => connection.IsConnected, TimeSpan.FromSeconds(30), "the client has reconnected");
            using var firing = new CancellationTokenSource();
            var burst = Task.Run(async () =>
            {
                while (!firing.IsCancellationRequested)
                {
                    try
                    {
                        calls.AddRange(store.SubmitManyAsync([.. Enumerable.Range(0, 32).Select(_ => (WorkerHarness.NewJob("lost reply", maxAttempts: 3), (IdempotencyClaim?)null))]));
                    }
                    catch (RedisConnectionException)
                    {
                        // No connection at all: the batch is refused at once, nothing in flight.
                    }

                    await Task.Yield();
                }
            }, TestContext.Current.CancellationToken);
            await Task.Delay(TimeSpan.FromMilliseconds(20 + (round * 15)), TestContext.Current.CancellationToken);
            await harness.Redis.KillAsync().Bounded();
            await Task.Delay(TimeSpan.FromMilliseconds(10), TestContext.Current.CancellationToken);
            await firing.CancelAsync();
            await burst.Bounded();
            await harness.Redis.StartAsync(TestContext.Current.CancellationToken).Bounded();
        }

        // Every call ends: written, or failed with an error its caller treats as transient.
        var ended = Task.WhenAll(calls.Select(t => t.ContinueWith(static _ => { }, TaskScheduler.Default)));
        var bound = RedisReply.LostAfter + TimeSpan.FromSeconds(10);
        var late = await Task.WhenAny(ended, Task.Delay(bound, TestContext.Current.CancellationToken)) != ended;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{calls.Count} calls: {calls.Count(t => t.IsCompletedSuccessfully)} written, {calls.Count(t => t.IsFaulted)} failed, {calls.Count(t => !t.IsCompleted)} with no outcome");
        Assert.False(late, $"{calls.Count(t => !t.IsCompleted)} of {calls.Count} script calls had no outcome {bound.TotalSeconds} s after the last kill");
        Assert.All(calls.Where(t => t.IsFaulted), t => Assert.True(RedisFailure.IsTransient(t.Exception!.InnerException!), $"not a transient error: {t.Exception}"));
    }
}
