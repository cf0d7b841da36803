using System.Net;
using Microsoft.AspNetCore.Hosting;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// The backlog bound (<c>Api:MaxQueuedJobs</c>): concurrent submissions against a small bound get
/// exactly as many 202s as it has room for, the rest 429 <c>queue-full</c> with <c>Retry-After</c>;
/// a replay is still answered; room made by a final job is taken by the next submission. The detail
/// asks for the same idempotency key only of a request that sent one.
/// </summary>
public sealed class QueueFullTests(QueueFullTests.BoundedApiFactory api) : IClassFixture<QueueFullTests.BoundedApiFactory>, IAsyncLifetime
{
    private const int Submissions = 60;

    private readonly RedisKeys _keys = new();

    public ValueTask InitializeAsync() => new(api.FlushAsync());

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    [Fact]
    public async Task Submit_ConcurrentAboveTheBound_ExactlyTheBoundAccepted_Rest429QueueFull_ReplayStillAnswered()
    {
        using var client = api.CreateApiClient();
        var run = Guid.NewGuid().ToString("N");
        var responses = await Task.WhenAll(Enumerable.Range(0, Submissions).Select(i => ApiFactory.PostJobAsync(client,
            ApiFactory.Json($$"""{"prompt":"job {{i}}"}"""), ("x-idempotency-key", $"{run}-{i}"))));
        var accepted = new List<int>();
        var refused = new List<int>();
        for (var i = 0; i < responses.Length; i++)
        {
            using var response = responses[i];
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                accepted.Add(i);
                continue;
            }

            using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.TooManyRequests);
            Assert.EndsWith("queue-full", problem.RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
            Assert.Contains("Api:MaxQueuedJobs", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Contains("with the same idempotency key", problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.NotNull(response.Headers.RetryAfter?.Delta);
            refused.Add(i);
        }

        Assert.Equal(BoundedApiFactory.MaxQueuedJobs, accepted.Count);
        // Queued jobs wait in their tenant's ready set until a worker dispatches them.
        Assert.Equal(BoundedApiFactory.MaxQueuedJobs, await api.Redis.GetDatabase().SortedSetLengthAsync(_keys.Ready(TenantNames.Default)));
        Assert.False(await api.Redis.GetDatabase().KeyExistsAsync(_keys.Idempotency(TenantNames.Default, $"{run}-{refused[0]}")));

        // At the bound, a replay of an accepted submission is still its 202.
        string acceptedId;
        using (var replay = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"job {{accepted[0]}}"}"""),
            ("x-idempotency-key", $"{run}-{accepted[0]}")))
        {
            Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
            Assert.Equal(["true"], replay.Headers.GetValues("Idempotent-Replayed"));
            using var body = System.Text.Json.JsonDocument.Parse(await replay.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
            acceptedId = body.RootElement.GetProperty("jobId").GetString()!;
        }

        // A job reaching a final state (here: canceled) no longer counts: room for one more.
        using (var cancel = await client.PostAsync($"/jobs/{acceptedId}/cancel", null, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        }
        using (var next = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"job {{refused[0]}}"}"""),
            ("x-idempotency-key", $"{run}-{refused[0]}")))
        {
            Assert.Equal(HttpStatusCode.Accepted, next.StatusCode);
        }

        using var again = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"job {{refused[1]}}"}"""),
            ("x-idempotency-key", $"{run}-{refused[1]}"));
        Assert.Equal(HttpStatusCode.TooManyRequests, again.StatusCode);
    }

    [Fact]
    public async Task SubmitWithoutKey_Or_Redrive_AtTheBound_429DetailDoesNotAskForAKey()
    {
        using var client = api.CreateApiClient();
        var (_, deadLetter) = await DeadLetterOneAsync(client);
        for (var i = 0; i < BoundedApiFactory.MaxQueuedJobs; i++)
        {
            using var filling = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"job {{i}}"}"""));
            Assert.Equal(HttpStatusCode.Accepted, filling.StatusCode);
        }

        // None sent an idempotency key (a redrive takes none): "retry with the same key" would not fit.
        using var keyless = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"one too many"}"""));
        using var one = await client.PostAsync($"/dead-letters/{deadLetter}/redrive", null, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        using var many = await client.PostAsync("/dead-letters/redrive", ApiFactory.Json("{}"), TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        foreach (var response in (HttpResponseMessage[])[keyless, one, many])
        {
            using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.TooManyRequests);
            Assert.EndsWith("queue-full", problem.RootElement.GetProperty("type").GetString(), StringComparison.Ordinal);
            var detail = problem.RootElement.GetProperty("detail").GetString()!;
            Assert.DoesNotContain("idempotency key", detail, StringComparison.Ordinal);
            Assert.EndsWith("Retry later.", detail, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Redrive_OverTheBound_429DetailStatesTheJobsCountedAndTheLimit()
    {
        using var client = api.CreateApiClient();
        var (worker, deadLetter) = await DeadLetterOneAsync(client);
        // More jobs than the bound (written past it, as a lowered Api:MaxQueuedJobs leaves them): the count is not the limit.
        const int queued = BoundedApiFactory.MaxQueuedJobs + 3;
        for (var i = 0; i < queued; i++)
        {
            var job = new NewJob(JobIds.New(), new JobRequest($"job {i}"), 3, TimeSpan.FromDays(1));
            var created = await worker.Store.SubmitAsync(job, idempotency: null).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(SubmitOutcome.Created, created.Outcome);
        }

        using var one = await client.PostAsync($"/dead-letters/{deadLetter}/redrive", null, TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        using var many = await client.PostAsync("/dead-letters/redrive", ApiFactory.Json("{}"), TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        foreach (var response in (HttpResponseMessage[])[one, many])
        {
            using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.TooManyRequests);
            Assert.StartsWith($"{queued} jobs are waiting or running; the limit is {BoundedApiFactory.MaxQueuedJobs} (Api:MaxQueuedJobs).",
                problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
    }

    /// <summary>Submits a job and fails its one attempt: a dead letter to redrive. Returns the test worker and the job's id.</summary>
    private async Task<(TestWorker Worker, string JobId)> DeadLetterOneAsync(HttpClient client)
    {
        using (var first = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"dead letter"}""")))
        {
            Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        }

        var worker = await TestWorker.StartAsync(api);
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        await worker.FailAsync(lease, attempt);
        return (worker, lease.JobId);
    }

    /// <summary>The API with <c>Api:MaxQueuedJobs</c> = <see cref="MaxQueuedJobs"/>.</summary>
    public sealed class BoundedApiFactory : ApiFactory
    {
        /// <summary>The bound as configured here.</summary>
        public const int MaxQueuedJobs = 25;

        /// <inheritdoc />
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Api:MaxQueuedJobs", MaxQueuedJobs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
    }
}
