using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Orchestrator.Client;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>
/// A job through the whole distributed app: API → Redis → Worker → LLM simulator (HTTP) → Redis →
/// API, with <see cref="OrchestratorClient"/>.
/// </summary>
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

    [Fact]
    public async Task Submit_NoProviderConfigured_AnsweredByTheSimulatorServiceOverHttp_WithUsage()
    {
        using var http = fixture.CreateHttpClient("api");
        var client = new OrchestratorClient(http);
        using var simulator = fixture.CreateHttpClient("llm-simulator");
        var cancellationToken = TestContext.Current.CancellationToken;
        // The worker's one provider is the simulator service, spoken to as any OpenAI endpoint: never the
        // in-process simulator (Kind simulated), which would answer the same text without the HTTP path.
        var workerState = await fixture.App.ResourceNotifications.WaitForResourceAsync("worker",
            e => e.Snapshot.EnvironmentVariables.Any(v => v.Name == "Llm__Providers__simulator__Endpoint"), cancellationToken)
            .WaitAsync(FinalStateTimeout, cancellationToken);
        var environment = workerState.Snapshot.EnvironmentVariables.Where(v => v.IsFromSpec).ToDictionary(v => v.Name, v => v.Value);
        Assert.Equal("openai", environment.GetValueOrDefault("Llm__Providers__simulator__Kind"));
        Assert.Equal(new Uri(simulator.BaseAddress!, "v1").ToString().TrimEnd('/'),
            environment.GetValueOrDefault("Llm__Providers__simulator__Endpoint")?.TrimEnd('/'));
        var before = await GetJsonAsync(simulator, "/stats");

        var submission = new JobSubmission("Answer over HTTP.", MaxTokens: 40,
            Metadata: new Dictionary<string, string> { ["simulator.failureRate"] = "0" });
        var submitted = await client.SubmitAsync(submission, cancellationToken: cancellationToken);
        Assert.Equal(JobStatuses.Completed, (await WaitAsync(client, submitted.JobId)).Status);

        // Usage and the answering model are read from the wire: the client library does not model them.
        var root = await GetJsonAsync(http, $"/jobs/{submitted.JobId}");
        Assert.Equal("simulated-llm", root.GetProperty("model").GetString());
        var attempt = root.GetProperty("history").EnumerateArray().Last();
        Assert.Equal("simulated-llm", attempt.GetProperty("model").GetString());
        Assert.True(attempt.GetProperty("usage").GetProperty("outputTokens").GetInt64() is > 0 and <= 40);
        Assert.Equal(attempt.GetProperty("usage").GetProperty("inputTokens").GetInt64(), root.GetProperty("usage").GetProperty("inputTokens").GetInt64());
        var after = await GetJsonAsync(simulator, "/stats");
        Assert.True(after.GetProperty("completed").GetInt64() > before.GetProperty("completed").GetInt64(), "the simulator service answered no call");
        // At least this job's tokens were served by the service (other tests' jobs may add theirs).
        var usage = root.GetProperty("usage");
        Assert.True(after.GetProperty("tokens").GetInt64() - before.GetProperty("tokens").GetInt64()
            >= usage.GetProperty("inputTokens").GetInt64() + usage.GetProperty("outputTokens").GetInt64(), "the simulator service served fewer tokens than the job used");

        async Task<JsonElement> GetJsonAsync(HttpClient httpClient, string path) =>
            JsonDocument.Parse(await httpClient.GetStringAsync(path, cancellationToken).WaitAsync(FinalStateTimeout, cancellationToken)).RootElement.Clone();
    }

    private static async Task<Job> WaitAsync(OrchestratorClient client, string jobId)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(FinalStateTimeout);
        return await client.WaitAsync(jobId, timeout.Token);
    }
}
