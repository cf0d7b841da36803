using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Client;

namespace Orchestrator.IntegrationTests.Client;

/// <summary>
/// <see cref="OrchestratorClient"/> against the real API on Kestrel, its real redis-server (stopped and
/// started for real) and, where jobs must finish, a real worker process.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class OrchestratorClientTests(KestrelApiFactory api) : IClassFixture<KestrelApiFactory>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Submit_WithKeyThroughRedisRestart_ResendsTheSameKeyAndMakesOneJob()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await api.FlushAsync();
        var attempts = new AttemptRecorder();
        using var http = new HttpClient(attempts) { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        var client = new OrchestratorClient(http, new OrchestratorClientOptions { MaxSubmitRetries = 30, SubmitRetryDelay = TimeSpan.FromMilliseconds(200) });
        var key = $"restart-{Guid.NewGuid():N}";

        await api.RedisServer.StopAsync(cancellationToken);
        Task<SubmittedJob> submit;
        try
        {
            submit = client.SubmitAsync(new JobSubmission("through a Redis restart"), key, cancellationToken);
            await AsyncWait.WaitUntilAsync(() => attempts.Statuses.Contains(HttpStatusCode.ServiceUnavailable), Bound, "the API answered 503 while Redis is down");
        }
        finally
        {
            await api.RedisServer.StartAsync(cancellationToken);
        }

        var submitted = await submit.WaitAsync(Bound, cancellationToken);
        var again = await client.SubmitAsync(new JobSubmission("through a Redis restart"), key, cancellationToken).WaitAsync(Bound, cancellationToken);

        Assert.Equal(HttpStatusCode.Accepted, attempts.Statuses[^2]);
        Assert.All(attempts.Keys, k => Assert.Equal(key, k));
        Assert.Equal(submitted.JobId, again.JobId);
        Assert.True(again.Replayed);
        Assert.Equal(1, (long)await api.Redis.GetDatabase().HashGetAsync(new Orchestrator.Jobs.RedisKeys().DispatchState, "ready").WaitAsync(Bound, cancellationToken));
        Assert.Equal(JobStatuses.Queued, (await client.GetAsync(submitted.JobId, cancellationToken))!.Status);
    }

    [Fact]
    public async Task WaitAsync_JobProcessedByAWorker_ReturnsTheFinalJob()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var worker = WorkerProcess.Start(api.RedisServer.ConnectionString,
            new Dictionary<string, string> { ["Simulator:FailureRate"] = "0", ["Simulator:Latency"] = "00:00:00.010" });
        await worker.WaitUntilStartedAsync(cancellationToken);
        using var http = new HttpClient { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        var client = new OrchestratorClient(http);

        var submitted = await client.SubmitAsync(
            new JobSubmission("Explain leases in one sentence.", FallbackModels: ["backup-model"]), cancellationToken: cancellationToken);
        var completed = await client.WaitAsync(submitted.JobId, cancellationToken).WaitAsync(Bound, cancellationToken);
        var failed = await client.WaitAsync((await client.SubmitAsync(
            new JobSubmission("fails for good", Metadata: new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" }),
            cancellationToken: cancellationToken)).JobId, cancellationToken).WaitAsync(Bound, cancellationToken);
        var deadLetters = new List<string>();
        await foreach (var job in client.GetDeadLettersAsync(pageSize: 1, cancellationToken))
        {
            deadLetters.Add(job.JobId);
        }

        Assert.Equal(JobStatuses.Completed, completed.Status);
        Assert.False(string.IsNullOrEmpty(completed.Result?.Text));
        // What the API returns beyond the basics reaches the client: fallbacks, usage and cost.
        Assert.Equal(["backup-model"], completed.FallbackModels);
        var attempt = Assert.Single(completed.History);
        Assert.Equal(completed.Result!.Model, attempt.Model);
        Assert.Equal(completed.Result.Usage.PromptTokens, attempt.Usage!.InputTokens);
        Assert.Equal(completed.Result.Usage.CompletionTokens, attempt.Usage.OutputTokens);
        Assert.Equal(attempt.Usage, completed.Usage);
        Assert.True(completed.Usage!.InputTokens > 0);
        Assert.Equal(0m, completed.Result.Cost);
        Assert.Equal(JobStatuses.Failed, failed.Status);
        Assert.NotNull(failed.Error);
        Assert.Contains(failed.JobId, deadLetters);
    }

    [Fact]
    public async Task SubmitAndGet_ProblemAnswers_AreTypedExceptionsOrNull()
    {
        using var http = new HttpClient { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        var client = new OrchestratorClient(http);

        var invalid = await Assert.ThrowsAsync<OrchestratorProblemException>(() =>
            client.SubmitAsync(new JobSubmission(" "), cancellationToken: TestContext.Current.CancellationToken));
        var key = $"conflict-{Guid.NewGuid():N}";
        await client.SubmitAsync(new JobSubmission("one"), key, TestContext.Current.CancellationToken);
        var conflict = await Assert.ThrowsAsync<OrchestratorProblemException>(() =>
            client.SubmitAsync(new JobSubmission("another"), key, TestContext.Current.CancellationToken));

        Assert.Equal(400, invalid.Status);
        Assert.Contains("prompt", invalid.Errors.Keys);
        Assert.NotNull(invalid.TraceId);
        Assert.Equal(422, conflict.Status);
        Assert.Contains("idempotency key", conflict.Detail, StringComparison.Ordinal);
        Assert.Null(await client.GetAsync(new string('A', 22), TestContext.Current.CancellationToken));
    }

    // Refused before anything is sent: HttpClient cannot send such a header, and the failure it throws
    // looks like the network's, which the submit pipeline used to re-send for 6 s.
    [Theory]
    [InlineData("bad key é")]
    [InlineData("tab\tkey")]
    [InlineData("")]
    public async Task Submit_KeyTheApiWouldRefuse_IsAnArgumentErrorAndSendsNothing(string key)
    {
        var attempts = new AttemptRecorder();
        using var http = new HttpClient(attempts) { BaseAddress = api.ServerAddress, Timeout = ApiFactory.RequestTimeout };
        var client = new OrchestratorClient(http);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => client.SubmitAsync(new JobSubmission("x"), key, TestContext.Current.CancellationToken));
        var tooLong = await Assert.ThrowsAsync<ArgumentException>(() =>
            client.SubmitAsync(new JobSubmission("x"), new string('k', 256), TestContext.Current.CancellationToken));

        Assert.Equal("idempotencyKey", error.ParamName);
        Assert.Equal("idempotencyKey", tooLong.ParamName);
        Assert.Empty(attempts.Statuses);
    }

    // An Aspire service's defaults give every HttpClient the standard resilience handler (10 s a try,
    // 30 s in all, retries): under it a 30 s long poll ended in a timeout exception and a 503 was sent
    // three more times. The client registered by AddOrchestratorClient runs without it.
    [Fact]
    public async Task AddOrchestratorClient_UnderTheStandardHandlerForEveryClient_SendsEachRequestOnce()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var sent = new SendCounter();
        var services = new ServiceCollection();
        services.ConfigureHttpClientDefaults(http => http.AddStandardResilienceHandler());
        services.AddOrchestratorClient(api.ServerAddress).AddHttpMessageHandler(() => sent);
        await using var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<OrchestratorClient>();

        await api.RedisServer.StopAsync(cancellationToken);
        OrchestratorProblemException unavailable;
        try
        {
            unavailable = await Assert.ThrowsAsync<OrchestratorProblemException>(() => client.GetAsync(new string('A', 22), cancellationToken));
        }
        finally
        {
            await api.RedisServer.StartAsync(cancellationToken);
        }

        Assert.Equal(503, unavailable.Status);
        Assert.Equal(1, sent.Count);
    }

    private sealed class SendCounter : DelegatingHandler
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            return base.SendAsync(request, cancellationToken);
        }
    }

    /// <summary>Records each attempt's status (0 when no answer) and idempotency key, as the server saw them.</summary>
    private sealed class AttemptRecorder() : DelegatingHandler(new SocketsHttpHandler())
    {
        private readonly List<HttpStatusCode> _statuses = [];
        private readonly List<string> _keys = [];

        public IReadOnlyList<HttpStatusCode> Statuses
        {
            get
            {
                lock (_statuses)
                {
                    return [.. _statuses];
                }
            }
        }

        public IReadOnlyList<string> Keys
        {
            get
            {
                lock (_statuses)
                {
                    return [.. _keys];
                }
            }
        }

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            HttpStatusCode status = 0;
            try
            {
                var response = await base.SendAsync(request, cancellationToken);
                status = response.StatusCode;
                return response;
            }
            finally
            {
                lock (_statuses)
                {
                    _statuses.Add(status);
                    _keys.Add(request.Headers.TryGetValues("Idempotency-Key", out var values) ? values.Single() : "");
                }
            }
        }
    }
}
