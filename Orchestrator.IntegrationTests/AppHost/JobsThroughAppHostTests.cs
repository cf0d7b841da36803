using Orchestrator.Client;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>A job through the whole distributed app: API → Redis → Worker → Redis → API, with <see cref="OrchestratorClient"/>.</summary>
[Collection("apphost")]
public sealed class JobsThroughAppHostTests(AppHostFixture fixture)
{
    private static readonly TimeSpan FinalStateTimeout = TimeSpan.FromSeconds(60);
    private static readonly string[] States = [JobStatuses.Queued, JobStatuses.Processing, JobStatuses.Retrying, JobStatuses.Completed, JobStatuses.Failed];

    [Fact]
    public async Task Submit_ThroughApi_WorkerBringsJobToAFinalState()
    {
        using var http = fixture.CreateHttpClient("api");
        var client = new OrchestratorClient(http);
        var key = "apphost-" + Guid.NewGuid().ToString("N");

        var submitted = await client.SubmitAsync(new JobSubmission("Say hello through the AppHost."), key, TestContext.Current.CancellationToken);
        var first = await client.GetAsync(submitted.JobId, TestContext.Current.CancellationToken);
        var job = await WaitAsync(client, submitted.JobId);

        Assert.Equal(key, submitted.IdempotencyKey);
        Assert.Contains(first!.Status, States);
        Assert.True(job.IsFinal, $"Job {job.JobId} ended as '{job.Status}'.");
    }

    [Fact]
    public async Task Submit_FirstAttemptFailsTransiently_CompletesOnTheSecondAttemptWithHistory()
    {
        using var http = fixture.CreateHttpClient("api");
        var client = new OrchestratorClient(http);
        // Per-job simulator hints: the first attempt fails transiently, none fails at random.
        var submission = new JobSubmission("Retry me once.",
            Metadata: new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "1", ["simulator.failureRate"] = "0" });

        var submitted = await client.SubmitAsync(submission, cancellationToken: TestContext.Current.CancellationToken);
        var job = await WaitAsync(client, submitted.JobId);

        Assert.Equal(JobStatuses.Completed, job.Status);
        Assert.Equal(2, job.Attempts);
        Assert.False(string.IsNullOrEmpty(job.Result?.Text));
        Assert.NotNull(job.CompletedAt);
        Assert.Equal(["transient-failure", "succeeded"], job.History.Select(a => a.Outcome));
    }

    private static async Task<Job> WaitAsync(OrchestratorClient client, string jobId)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(FinalStateTimeout);
        return await client.WaitAsync(jobId, timeout.Token);
    }
}
