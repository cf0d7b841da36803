using System.Net;
using System.Net.Http.Json;
using System.Text;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Cluster;

/// <summary>
/// The orchestrator on a real local Redis Cluster, with real API and worker processes. Every key
/// carries the hash tag <c>{orch}</c>, so the whole job system lives in one slot on one master
/// (one partition); spreading jobs over masters needs <c>Jobs:Partitions</c>.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterJobsTests
{
    private static readonly Dictionary<string, string> WorkerSettings = new()
    {
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.005",
        ["Worker:Concurrency"] = "16",
    };

    [Fact]
    public async Task ThreeMasters500Jobs_OneApiTwoWorkers_EachCompletedOnceAllOnTheOrchMaster()
    {
        await using var harness = await ClusterHarness.StartAsync(new RedisClusterOptions { Masters = 3 });
        var api = await harness.StartApiAsync(new Dictionary<string, string>(), "api-1");
        await harness.StartWorkerAsync(WorkerSettings, "worker-1");
        await harness.StartWorkerAsync(WorkerSettings, "worker-2");

        var submitted = await ClusterHarness.SubmitAsync(api, count: 500, concurrency: 16, deadline: TimeSpan.FromSeconds(60));
        var jobs = await harness.WaitUntilAllFinalAsync([.. submitted.Acknowledged.Values], TimeSpan.FromSeconds(60));

        Assert.Equal(500, submitted.Acknowledged.Count);
        Assert.Equal(0, submitted.Refused + submitted.Lost);
        Assert.All(jobs, job =>
        {
            Assert.Equal(JobStatus.Completed, job.Status);
            Assert.Equal(AttemptOutcome.Succeeded, Assert.Single(job.History).Outcome);
        });
        // One partition: every job key is in {orch}'s slot, so on the one master that owns it.
        var orchMaster = await harness.Cluster.MasterOfAsync(harness.Store.Keys.Stream);
        foreach (var jobId in submitted.Acknowledged.Values.Take(20))
        {
            Assert.Equal(orchMaster.Port, (await harness.Cluster.MasterOfAsync(harness.Store.Keys.Job(jobId))).Port);
        }

        Assert.All(harness.Workers, w => Assert.NotEmpty(w.CompletedJobIds()));
    }

    [Fact]
    public async Task WaitReplicas1_ReplicaFrozen_Answers503ThenTheRetryWithTheSameKeyIsAccepted()
    {
        await using var harness = await ClusterHarness.StartAsync(new RedisClusterOptions { Masters = 3, ReplicasPerMaster = 1 });
        var api = await harness.StartApiAsync(new Dictionary<string, string>
        {
            ["Redis:WaitReplicas"] = "1",
            ["Redis:WaitTimeout"] = "00:00:00.500",
        }, "api-1");
        using var client = api.CreateClient(key: null);
        var master = await harness.Cluster.MasterOfAsync(harness.Store.Keys.Stream);
        var replica = Assert.Single(await harness.Cluster.ReplicasOfAsync(master));

        // The replica's link may still be coming up after the cluster formed: a first WAIT can time out.
        HttpResponseMessage? first = null;
        await AsyncWait.WaitUntilAsync(async () =>
        {
            first?.Dispose();
            first = await PostAsync(client, "healthy");
            return first.StatusCode == HttpStatusCode.Accepted;
        }, TimeSpan.FromSeconds(30), "the replica confirms a submission", TimeSpan.FromMilliseconds(200));
        using var healthy = first!;
        replica.Pause();
        HttpResponseMessage frozen;
        try
        {
            frozen = await PostAsync(client, "frozen");
        }
        finally
        {
            replica.Resume();
        }

        using (frozen)
        {
            using var retried = await PostAsync(client, "frozen");

            Assert.Equal(HttpStatusCode.Accepted, healthy.StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, frozen.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), frozen.Headers.RetryAfter?.Delta);
            Assert.Equal("application/problem+json", frozen.Content.Headers.ContentType?.MediaType);
            var refusal = await frozen.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.Contains("Job not replicated", refusal, StringComparison.Ordinal);
            Assert.Contains("\"type\":\"urn:orchestrator:problem:not-replicated\"", refusal, StringComparison.Ordinal);
            // The master had the job when WAIT gave up: the retry answers for it instead of creating another.
            Assert.Equal(HttpStatusCode.Accepted, retried.StatusCode);
            Assert.Equal("true", Assert.Single(retried.Headers.GetValues("Idempotent-Replayed")));
            var jobId = (await retried.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>(TestContext.Current.CancellationToken)).GetProperty("jobId").GetString()!;
            Assert.Equal(JobStatus.Queued, (await harness.Store.GetAsync(jobId).WaitAsync(ClusterHarness.RequestTimeout, TestContext.Current.CancellationToken))?.Status);
            // Two jobs queued (no worker runs here): both wait in the ready sets.
            Assert.Equal(2, (long)await harness.Connection.GetDatabase().HashGetAsync(harness.Store.Keys.DispatchState, "ready").WaitAsync(ClusterHarness.RequestTimeout, TestContext.Current.CancellationToken));
        }
    }

    [Fact]
    public async Task KillOrchMaster_WaitReplicas1_2000JobsFlowing_EveryAcknowledgedJobCompletesOnceNoProcessExits()
    {
        const int Jobs = 2000;
        await using var harness = await ClusterHarness.StartAsync(
            new RedisClusterOptions { Masters = 3, ReplicasPerMaster = 1, NodeTimeout = TimeSpan.FromSeconds(2) });
        var api = await harness.StartApiAsync(new Dictionary<string, string> { ["Redis:WaitReplicas"] = "1" }, "api-1");
        await harness.StartWorkerAsync(WorkerSettings, "worker-1");
        await harness.StartWorkerAsync(WorkerSettings, "worker-2");
        var master = await harness.Cluster.MasterOfAsync(harness.Store.Keys.Stream);

        // The kill comes once a fifth of the jobs are acknowledged, while submissions and processing flow.
        var killAt = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var submitting = ClusterHarness.SubmitAsync(api, Jobs, concurrency: 16, deadline: TimeSpan.FromSeconds(60),
            onAcknowledged: n => { if (n >= Jobs / 5) killAt.TrySetResult(); });
        await killAt.Task.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        await harness.Cluster.KillAsync(master);
        var promoted = await harness.Cluster.WaitForFailoverAsync(harness.Store.Keys.Stream, master, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        // The crashed node comes back (as a supervisor would restart it) and rejoins as the new master's
        // replica: until then WAIT finds no replica, and submissions are refused (503), not acknowledged.
        await master.StartAsync(TestContext.Current.CancellationToken);
        var submitted = await submitting;
        var jobs = await harness.WaitUntilAllFinalAsync([.. submitted.Acknowledged.Values], TimeSpan.FromSeconds(60));

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"master :{master.Port} killed, :{promoted.Port} promoted; {submitted.Acknowledged.Count} acknowledged, {submitted.Refused} 503s, {submitted.Lost} lost answers");
        Assert.NotEqual(master.Port, promoted.Port);
        Assert.Equal(Jobs, submitted.Acknowledged.Count);
        Assert.Equal(Jobs, submitted.Acknowledged.Values.Distinct(StringComparer.Ordinal).Count());
        Assert.All(jobs, job =>
        {
            Assert.Equal(JobStatus.Completed, job.Status);
            Assert.Equal(AttemptOutcome.Succeeded, Assert.Single(job.History, h => h.Outcome == AttemptOutcome.Succeeded).Outcome);
        });
        Assert.All(harness.Apis, a => Assert.False(a.HasExited, $"{a.Name} exited"));
        Assert.All(harness.Workers, w => Assert.False(w.HasExited, $"{w.Name} exited"));
    }

    private static Task<HttpResponseMessage> PostAsync(HttpClient client, string idempotencyKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/jobs")
        {
            Content = new StringContent("""{"prompt":"Explain WAIT."}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        return client.SendAsync(request, TestContext.Current.CancellationToken);
    }
}
