using System.Diagnostics;
using System.Net;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// Issue 19, "what it must show" 1: cancel of a queued job, of a retrying one, and of a processing
/// one that runs on another worker process (the simulator sees its request aborted within 1 s; no
/// further attempt); cancel of a final job → 409; cancel twice → the same answer.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class CancelJobTests
{
    [Fact]
    public async Task Cancel_QueuedJob_CanceledAtOnce_Twice_SameAnswer_NoAttempt()
    {
        await using var setup = await ResultsSetup.StartAsync();
        var id = await setup.SubmitAsync("no worker runs yet");

        var (first, body) = await setup.SendAsync(HttpMethod.Post, $"/jobs/{id}/cancel");
        var (second, again) = await setup.SendAsync(HttpMethod.Post, $"/jobs/{id}/cancel");
        Assert.Equal(HttpStatusCode.OK, first);
        Assert.Equal(HttpStatusCode.OK, second);
        Assert.Equal("canceled", body!["status"]!.GetValue<string>());
        Assert.Null(body["error"]);
        Assert.Equal(body["completedAt"]!.ToJsonString(), again!["completedAt"]!.ToJsonString());

        // A worker started now finds nothing to run: the entry is gone, the job stays canceled with no attempt.
        Assert.Equal(0, await setup.Harness.StreamLengthAsync());
        await setup.Harness.StartWorkerAsync(new Dictionary<string, string> { ["Simulator:FailureRate"] = "0" }, "worker");
        var done = await setup.SubmitAsync("a later job");
        await setup.WaitForStatusAsync(done, JobStatus.Completed, TimeSpan.FromSeconds(30));
        var job = await setup.Harness.GetAsync(id);
        Assert.Equal(JobStatus.Canceled, job.Status);
        Assert.Equal(0, job.Attempts);

        // Another tenant cannot cancel it (404, as for an unknown job); a final job → 409.
        using var b = setup.Api.CreateClient(TenantApiFactory.KeyB);
        Assert.Equal(HttpStatusCode.NotFound, (await setup.SendAsync(HttpMethod.Post, $"/jobs/{done}/cancel", client: b)).Status);
        var (final, problem) = await setup.SendAsync(HttpMethod.Post, $"/jobs/{done}/cancel");
        Assert.Equal(HttpStatusCode.Conflict, final);
        Assert.Equal("Job already final", problem!["title"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cancel_RetryingJob_CanceledAtOnce_NoFurtherAttempt()
    {
        await using var setup = await ResultsSetup.StartAsync();
        // The first attempt fails; the next would start 20 s later.
        await setup.Harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Retry:BaseDelay"] = "00:00:20",
            ["Retry:UseJitter"] = "false",
        }, "worker");
        var id = await setup.SubmitAsync("fail once", new() { ["simulator.failFirstAttempts"] = "1" });
        await setup.WaitForStatusAsync(id, JobStatus.Retrying, TimeSpan.FromSeconds(30));

        var (status, body) = await setup.SendAsync(HttpMethod.Post, $"/jobs/{id}/cancel");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("canceled", body!["status"]!.GetValue<string>());
        Assert.Equal(1, body["attempts"]!.GetValue<int>());
        // Canceled between attempts, the job keeps the error of the attempt it was waiting to retry.
        var lastAttemptError = body["history"]![0]!["error"];
        Assert.NotNull(lastAttemptError);
        Assert.Equal(lastAttemptError.ToJsonString(), body["error"]?.ToJsonString());
        Assert.Equal(0, await setup.Harness.StreamLengthAsync());
        Assert.Equal(0, await setup.Harness.PendingCountAsync());
        // The worker holding it stopped waiting (its token canceled) and wrote nothing after.
        var job = await setup.Harness.GetAsync(id);
        Assert.Equal(JobStatus.Canceled, job.Status);
        Assert.Equal(1, job.Attempts);
    }

    [Fact]
    public async Task Cancel_ProcessingJobOnAnotherWorkerProcess_SimulatorSeesAbortWithin1s_ThenCanceled()
    {
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
        });
        var settings = Providers.ProviderSetup.Worker(simulator);
        await using var setup = await ResultsSetup.StartAsync(settings);
        await setup.Harness.StartWorkerAsync(settings, "worker-1");
        await setup.Harness.StartWorkerAsync(settings, "worker-2");
        // A call that would take a minute.
        var id = await setup.SubmitAsync("a long answer", new() { ["simulator.latencyMs"] = "60000" });
        await setup.WaitForStatusAsync(id, JobStatus.Processing, TimeSpan.FromSeconds(30));
        await AsyncWait.WaitUntilAsync(async () => (await simulator.StatsAsync()).Calls == 1, TimeSpan.FromSeconds(30), "the call reached the simulator");

        var clock = Stopwatch.StartNew();
        var answer = setup.SendAsync(HttpMethod.Post, $"/jobs/{id}/cancel");
        await AsyncWait.WaitUntilAsync(async () => (await simulator.StatsAsync()).Aborted == 1, TimeSpan.FromSeconds(10),
            "the simulator saw the request aborted", TimeSpan.FromMilliseconds(20));
        var seenAt = DateTimeOffset.UtcNow;
        var sinceRequest = clock.Elapsed;
        var (status, body) = await answer;

        // From the cancel recorded in Redis (cancelRequestedAt, Redis's clock) to this test seeing the
        // simulator count the abort: the cancel channel, the worker, the HTTP close, and this poll.
        var requestedAt = DateTimeOffset.FromUnixTimeMilliseconds(long.Parse(
            (string)(await setup.Harness.Db.HashGetAsync(setup.Harness.Keys.Job(id), "cancelRequestedAt"))!, System.Globalization.CultureInfo.InvariantCulture));
        var abortedAfter = seenAt - requestedAt;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"cancel recorded → request aborted at the simulator: {abortedAfter.TotalMilliseconds:0} ms ({sinceRequest.TotalMilliseconds:0} ms from sending the cancel)");
        Assert.True(abortedAfter < TimeSpan.FromSeconds(1), $"aborted {abortedAfter.TotalMilliseconds:0} ms after the cancel was recorded");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("canceled", body!["status"]!.GetValue<string>());
        var attempt = Assert.Single(body["history"]!.AsArray());
        Assert.Equal("canceled", attempt!["outcome"]!.GetValue<string>());
        Assert.Equal("canceled", body["error"]!["type"]!.GetValue<string>());
        // Final: nothing left to run anywhere, and the simulator got no other call.
        Assert.Equal(0, await setup.Harness.StreamLengthAsync());
        Assert.Equal(0, await setup.Harness.PendingCountAsync());
        Assert.Equal(1, (await simulator.StatsAsync()).Calls);
        var (twice, same) = await setup.SendAsync(HttpMethod.Post, $"/jobs/{id}/cancel");
        Assert.Equal(HttpStatusCode.OK, twice);
        Assert.Equal("canceled", same!["status"]!.GetValue<string>());
    }
}
