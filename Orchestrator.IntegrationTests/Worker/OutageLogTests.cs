using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// While Redis is down the worker's log says so, one line per failure, without stack traces (as the
/// API's, <see cref="Api.OutageLogTests"/>): each loop's "Redis unavailable" line logged the Redis
/// client's exception with its stack. The worker runs with its own <c>appsettings.json</c> (no log
/// level given), as an operator runs it, and meets Redis down at start, frozen and stopped. A collection
/// of its own, beside the worker processes' (it measures no time): there it made that collection, the
/// suite's longest path, ~26 s longer.
/// </summary>
public sealed class OutageLogTests
{
    private static readonly TimeSpan WaitTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task RedisDown_AtStartFrozenAndStopped_WorkerLogsEachFailureWithoutStackTraces()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Redis.StopAsync(cancellationToken).Bounded();
        await using var worker = ServiceProcess.Start("worker", WorkerProcess.WorkerAssemblyPath, new Dictionary<string, string>
        {
            // A frozen Redis fails a call after asyncTimeout (5 s by default): 1 s keeps the test short.
            ["ConnectionStrings:redis"] = harness.Redis.ConnectionString + ",asyncTimeout=1000,syncTimeout=1000",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            // Renewed each second; the outbox gauge read twice a second.
            ["Worker:LeaseTimeout"] = "00:00:03",
            ["Webhooks:PollInterval"] = "00:00:00.5",
            ["Simulator:FailureRate"] = "0",
            // A deployment with limits, whose calls reserve capacity in Redis and settle it after, and one without.
            ["Llm:Providers:limited:Kind"] = "simulated",
            ["Llm:Providers:limited:TokensPerMinute"] = "1000000",
            ["Llm:Providers:limited:MaxConcurrency"] = "10",
            ["Llm:Providers:limited:Models:0:Name"] = "limited-model",
            ["Llm:Providers:free:Kind"] = "simulated",
            ["Llm:Providers:free:Models:0:Name"] = "free-model",
            // Webhook deliveries are claimed from Redis only by a worker that can sign them.
            ["Webhooks:Secret"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=",
        });

        // Started during an outage: the cancel channel cannot be subscribed to yet.
        await WaitForLineAsync(worker, 0, "Cannot subscribe to cancellations yet");
        await harness.Redis.StartAsync(cancellationToken).Bounded();
        await AsyncWait.WaitUntilAsync(() => worker.HasExited || worker.Output.Contains(" started: concurrency", StringComparison.Ordinal),
            WorkerProcess.StartTimeout, "the worker started");
        Assert.False(worker.HasExited, worker.Tail());

        // Jobs in flight when Redis goes, so their leases are being renewed: one answers after the
        // outage, one during it (its outcome and its deployment's settlement then wait for Redis).
        string[] jobs = [await SubmitAsync(harness, "free-model", latency: 60_000), await SubmitAsync(harness, "limited-model", latency: 5_000)];
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAllAsync(jobs)).All(j => j.Status == JobStatus.Processing),
            WaitTimeout, "both jobs are processing");
        var reserved = new StackExchange.Redis.RedisKey($"{harness.Keys.Prefix}:llm:limited:tpm");
        await AsyncWait.WaitUntilAsync(() => harness.Db.KeyExistsAsync(reserved), WaitTimeout, "the limited deployment's call has reserved its tokens");

        // Frozen: calls time out.
        var frozenAt = worker.Output.Length;
        harness.Redis.Pause();
        await WaitForLineAsync(worker, frozenAt, "Redis unavailable in lease renewal");

        // Stopped: connections are refused. Each loop fails at least once (queue stats every 5 s).
        var stoppedAt = worker.Output.Length;
        await harness.Redis.StopAsync(cancellationToken).Bounded();
        foreach (var operation in new[] { "lease renewal", "queue stats", "webhook outbox gauge" })
        {
            await WaitForLineAsync(worker, stoppedAt, $"Redis unavailable in {operation}");
        }

        // The answered call's settlement gives up after a lease (3 s) of Redis away.
        await WaitForLineAsync(worker, frozenAt, "Flow control of deployment limited could not be settled");

        Assert.False(worker.HasExited, worker.Tail());
        TestContext.Current.TestOutputHelper?.WriteLine($"--- worker output, last part ---\n{worker.Tail(8_000)}");
        var frames = StackFrames.In(worker.Output);
        Assert.True(frames.Count == 0, StackFrames.Describe(worker.Output, frames));
    }

    private static async Task<string> SubmitAsync(WorkerHarness harness, string model, int latency)
    {
        var request = new JobRequest("Explain leases in one sentence.", model, Metadata: new Dictionary<string, string>
        {
            ["simulator.latencyMs"] = latency.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        var result = await harness.Store.SubmitAsync(new NewJob(JobIds.New(), request, 3, TimeSpan.FromDays(1)), idempotency: null).Bounded();
        Assert.Equal(SubmitOutcome.Created, result.Outcome);
        return result.JobId;
    }

    private static async Task WaitForLineAsync(ChildProcess worker, int from, string text)
    {
        try
        {
            await AsyncWait.WaitUntilAsync(() => worker.HasExited || worker.Output.IndexOf(text, from, StringComparison.Ordinal) >= 0,
                WaitTimeout, $"the worker logs '{text}'");
        }
        catch (Xunit.Sdk.FailException e)
        {
            Assert.Fail($"{e.Message}\n{worker.Tail()}");
        }

        Assert.False(worker.HasExited, $"the worker exited:\n{worker.Tail()}");
    }
}
