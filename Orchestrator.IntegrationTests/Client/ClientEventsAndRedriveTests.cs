using Orchestrator.Client;
using Orchestrator.IntegrationTests.Results;

namespace Orchestrator.IntegrationTests.Client;

/// <summary>
/// <see cref="OrchestratorClient.FollowAsync"/>, <see cref="OrchestratorClient.RedriveDeadLettersAsync"/> and <see cref="OrchestratorClient.GetModelsAsync"/>
/// against a real API process with keys, a real worker streaming from the simulator over HTTP and a
/// real Redis; the API restarted for real (SIGTERM, then a new process on the same address) while a
/// job streams.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class ClientEventsAndRedriveTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task FollowAsync_ThroughAnApiRestart_EveryEventOnceInOrder_DeltasAreTheAnswer()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        // 60 tokens at 20 a second: the answer streams over about 3 s, through the restart.
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.100",
            ["Simulator:TokensPerSecond"] = "20",
        });
        var settings = Providers.ProviderSetup.Worker(simulator, requestsPerMinute: 6_000, more: new() { ["Worker:DeltaInterval"] = "00:00:00.050" });
        await using var setup = await ResultsSetup.StartAsync(settings);
        await setup.Harness.StartWorkerAsync(settings, "worker");
        var streams = new StreamRecorder();
        using var http = new HttpClient(streams) { BaseAddress = setup.Api.Address, Timeout = ApiFactory.RequestTimeout };
        var client = new OrchestratorClient(http, new OrchestratorClientOptions { ApiKey = TenantApiFactory.KeyA });
        var models = await client.GetModelsAsync(cancellationToken);
        var submitted = await client.SubmitAsync(new JobSubmission("Tell me about leases.", MaxTokens: 60), cancellationToken: cancellationToken);

        var events = new List<JobEvent>();
        ApiProcess? second = null;
        var after = new List<JobEvent>();
        try
        {
            await foreach (var item in client.FollowAsync(submitted.JobId, cancellationToken: cancellationToken).WithCancellation(cancellationToken))
            {
                events.Add(item);
                if (second is null && item.Type == JobEventTypes.Delta)
                {
                    // A rolling restart: the stream ends between two events, the address refuses for a
                    // moment, then another API process answers there.
                    Assert.True(await setup.Api.TerminateAsync(TimeSpan.FromSeconds(30)), setup.Api.Tail());
                    var restarted = new Dictionary<string, string>(TenantApiFactory.AuthSettings);
                    foreach (var (key, value) in settings)
                    {
                        restarted[key] = value;
                    }

                    second = await ApiProcess.StartAsync(setup.Harness.Redis.ConnectionString, restarted, "api-2", address: setup.Api.Address);
                }
            }

            // Followed again after done: nothing more.
            await foreach (var item in client.FollowAsync(submitted.JobId, events[^1].Id, cancellationToken).WithCancellation(cancellationToken))
            {
                after.Add(item);
            }
        }
        finally
        {
            if (second is not null)
            {
                await second.DisposeAsync();
            }
        }

        Assert.NotNull(second);
        var done = events[^1];
        // The API serves the worker's provider: its one model, the default, and no other name.
        var model = Assert.Single(models.Items);
        Assert.Equal(("sim-model", "sim", 6_000), (model.Name, model.Provider, model.RequestsPerMinute));
        Assert.Equal((model.Name, true, false), (models.DefaultModel, model.IsDefault, models.AnyModel));
        Assert.Equal(model.Name, done.Job!.Model);
        Assert.Equal(JobEventTypes.Done, done.Type);
        Assert.Equal(JobStatuses.Completed, done.Job!.Status);
        // Ids are the job's event numbers: every one once, in order, none skipped across the restart.
        Assert.Equal(Enumerable.Range(1, events.Count).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), events.Select(e => e.Id));
        Assert.Equal([JobStatuses.Queued, JobStatuses.Processing, JobStatuses.Completed],
            events.Where(e => e.Type == JobEventTypes.Status).Select(e => e.Status));
        var deltas = events.Where(e => e.Type == JobEventTypes.Delta).ToList();
        Assert.True(deltas.Count >= 3, $"{deltas.Count} deltas");
        Assert.Equal(done.Job.Result!.Text, string.Concat(deltas.Select(e => e.Text)));
        Assert.All(deltas, d => Assert.Equal(1, d.Attempt));
        Assert.Empty(after);
        // Opened from the start, again after the restart from an event before done, and once after done.
        var opened = streams.LastEventIds;
        Assert.True(opened.Count >= 3, string.Join(", ", opened));
        Assert.Null(opened[0]);
        Assert.All(opened.Skip(1).SkipLast(1), id => Assert.Contains(id, events.SkipLast(1).Select(e => e.Id)));
        Assert.Equal(done.Id, opened[^1]);
    }

    [Fact]
    public async Task RedriveDeadLettersAsync_ByErrorTypeAndTime_RedrivesTheMatchOnce_RefusedFilterIsAProblem()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var setup = await ResultsSetup.StartAsync();
        await setup.Harness.StartWorkerAsync(
            new Dictionary<string, string> { ["Simulator:FailureRate"] = "0", ["Simulator:Latency"] = "00:00:00.010" }, "worker");
        using var http = new HttpClient { BaseAddress = setup.Api.Address, Timeout = ApiFactory.RequestTimeout };
        var client = new OrchestratorClient(http, new OrchestratorClientOptions { ApiKey = TenantApiFactory.KeyA });
        var failing = new JobSubmission("fails for good", Metadata: new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" });
        var failed = await client.WaitAsync((await client.SubmitAsync(failing, cancellationToken: cancellationToken)).JobId, cancellationToken)
            .WaitAsync(Bound, cancellationToken);
        Assert.Equal(JobStatuses.Failed, failed.Status);
        var filter = new DeadLetterFilter(ErrorType: failed.Error!.Type, From: failed.CompletedAt!.Value.AddMinutes(-1), To: failed.CompletedAt, Limit: 10);

        var other = await client.RedriveDeadLettersAsync(filter with { ErrorType = "timeout" }, cancellationToken);
        var redriven = await client.RedriveDeadLettersAsync(filter, cancellationToken);
        var failedAgain = await client.WaitAsync(failed.JobId, cancellationToken).WaitAsync(Bound, cancellationToken);
        // Dead-lettered again after the filter's 'to': the same call finds nothing to redrive.
        var again = await client.RedriveDeadLettersAsync(filter, cancellationToken);
        var refused = await Assert.ThrowsAsync<OrchestratorProblemException>(() => client.RedriveDeadLettersAsync(filter with { Limit = 5_000 }, cancellationToken));

        Assert.Equal((0, false), (other.Redriven, other.More));
        Assert.Empty(other.JobIds);
        Assert.Equal((1, false), (redriven.Redriven, redriven.More));
        Assert.Equal([failed.JobId], redriven.JobIds);
        Assert.Equal(JobStatuses.Failed, failedAgain.Status);
        Assert.Equal(2, failedAgain.Attempts);
        Assert.Equal(0, again.Redriven);
        Assert.Equal(400, refused.Status);
        Assert.True(refused.Errors?.ContainsKey("limit"), refused.Message);
    }

    /// <summary>Keeps the <c>Last-Event-ID</c> of each request for a job's events (null when it had none).</summary>
    private sealed class StreamRecorder() : DelegatingHandler(new SocketsHttpHandler())
    {
        private readonly List<string?> _lastEventIds = [];

        public IReadOnlyList<string?> LastEventIds
        {
            get
            {
                lock (_lastEventIds)
                {
                    return [.. _lastEventIds];
                }
            }
        }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.RequestUri?.AbsolutePath.EndsWith("/events", StringComparison.Ordinal) == true)
            {
                lock (_lastEventIds)
                {
                    _lastEventIds.Add(request.Headers.TryGetValues("Last-Event-ID", out var ids) ? ids.Single() : null);
                }
            }

            return base.SendAsync(request, cancellationToken);
        }
    }
}
