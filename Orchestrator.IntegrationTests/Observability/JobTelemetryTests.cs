using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using OpenTelemetry.Trace;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.IntegrationTests.Observability;

/// <summary>
/// One job followed end to end through the real API and the real Worker (both in-process, one
/// real <c>redis-server</c>): the submission span, one linked span per attempt, the Redis calls
/// inside them, the metrics, and the log lines, as the exporters receive them.
/// </summary>
public sealed class JobTelemetryTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    // The Redis instrumentation turns commands into spans later, on its own thread (every 100 ms while
    // busy, backing off to 10 s when idle): waiting for them takes up to one idle interval, plus slack.
    private static readonly TimeSpan RedisSpanTimeout = TimeSpan.FromSeconds(40);

    private static readonly Dictionary<string, string> WorkerSettings = new()
    {
        ["Retry:MaxAttempts"] = ApiFactory.MaxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Retry:BaseDelay"] = "00:00:00.05",
        // No jitter: the chosen delays are exactly 50 ms and 100 ms, so the test can check them.
        ["Retry:UseJitter"] = "false",
        ["Simulator:FailureRate"] = "0",
        ["Simulator:PermanentFailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.02",
        ["Worker:PollTimeout"] = "00:00:00.2",
        ["Worker:ReclaimInterval"] = "00:00:00.2",
        ["Logging:LogLevel:Default"] = "Warning",
        // AttemptStarted is a Debug line; it must carry the ids too.
        ["Logging:LogLevel:Orchestrator"] = "Debug",
    };

    [Fact]
    public async Task JobFailingTwiceThenSucceeding_ThreeAttemptSpansLinkedToSubmission_MetricsAndLogsMatch()
    {
        var apiSpans = new SpanCapture();
        await using var apiHost = api.WithWebHostBuilder(builder => builder.ConfigureServices(services =>
            services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(apiSpans))));
        await using var worker = new WorkerFactory(api.RedisServer.ConnectionString, WorkerSettings);
        var meters = await Task.Run(() => worker.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        using var attempts = Collector<long>(meters, "orchestrator.attempts");
        using var attemptDuration = Collector<double>(meters, "orchestrator.attempt.duration");
        using var completed = Collector<long>(meters, "orchestrator.jobs.completed");
        using var deadLettered = Collector<long>(meters, "orchestrator.jobs.dead_lettered");
        using var reclaimed = Collector<long>(meters, "orchestrator.jobs.reclaimed");
        using var queueWait = Collector<double>(meters, "orchestrator.job.queue_wait");
        using var jobDuration = Collector<double>(meters, "orchestrator.job.duration");
        using var llmTokens = Collector<long>(meters, "orchestrator.llm.tokens");

        using var client = apiHost.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        client.Timeout = ApiFactory.RequestTimeout;
        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(
            """{"prompt":"Follow me end to end.","metadata":{"simulator.failFirstAttempts":"2"}}"""));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = (await response.Content.ReadFromJsonAsync<SubmitBody>(TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken))!.JobId;

        var store = apiHost.Services.GetRequiredService<JobStore>();
        Job? job = null;
        await AsyncWait.WaitUntilAsync(
            async () => (job = await store.GetAsync(jobId).WaitAsync(Timeout, TestContext.Current.CancellationToken)) is { Status: JobStatus.Completed },
            Timeout, $"job {jobId} is completed");
        await AsyncWait.WaitUntilAsync(() => AttemptSpans(worker.Spans, jobId).Count == 3, Timeout, "the three attempt spans have ended");

        // The submission: the API's request span, whose context the job stored.
        var submission = Assert.Single(apiSpans.Spans, s => s.Kind == ActivityKind.Server && Tag(s, OrchestratorTags.JobId) == jobId);
        Assert.Equal(false, submission.GetTagItem(OrchestratorTags.IdempotentReplay));
        Assert.Equal(submission.Id, job!.TraceParent);
        // Anonymous (the fixture allows it): tenant 'default', on the request span and on every attempt span.
        Assert.Equal(TenantNames.Default, submission.GetTagItem(OrchestratorTags.Tenant));

        // The attempts: three short traces of their own, each linked to the submission.
        var spans = AttemptSpans(worker.Spans, jobId);
        Assert.All(spans, span =>
        {
            Assert.Equal("llm attempt", span.DisplayName);
            Assert.Equal(default, span.ParentSpanId);
            Assert.NotEqual(submission.TraceId, span.TraceId);
            var link = Assert.Single(span.Links);
            Assert.Equal(submission.TraceId, link.Context.TraceId);
            Assert.Equal(submission.SpanId, link.Context.SpanId);
            Assert.Equal(ApiFactory.MaxAttempts, span.GetTagItem(OrchestratorTags.MaxAttempts));
            Assert.Equal("simulated-llm", span.GetTagItem("gen_ai.request.model"));
            Assert.Equal(false, span.GetTagItem(OrchestratorTags.Reclaimed));
            Assert.Equal(TenantNames.Default, span.GetTagItem(OrchestratorTags.Tenant));
        });
        Assert.Equal(3, spans.Select(s => s.TraceId).Distinct().Count());
        Assert.Equal(new object?[] { 1, 2, 3 }, spans.Select(s => s.GetTagItem(OrchestratorTags.Attempt)));
        Assert.Equal(
            new object?[] { AttemptOutcome.TransientFailure, AttemptOutcome.TransientFailure, AttemptOutcome.Succeeded },
            spans.Select(s => s.GetTagItem(OrchestratorTags.Outcome)));
        Assert.Equal(new object?[] { 50L, 100L, null }, spans.Select(s => s.GetTagItem(OrchestratorTags.RetryDelayMs)));
        Assert.Equal(new object?[] { "transient", "transient", null }, spans.Select(s => s.GetTagItem(OrchestratorTags.ErrorType)));
        Assert.Equal([ActivityStatusCode.Error, ActivityStatusCode.Error, ActivityStatusCode.Ok], spans.Select(s => s.Status));
        Assert.Equal(new object?[] { null, null }, spans.Take(2).Select(s => s.GetTagItem("gen_ai.usage.output_tokens")));
        Assert.Equal(job.Result!.Usage.PromptTokens, spans[2].GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(job.Result.Usage.CompletionTokens, spans[2].GetTagItem("gen_ai.usage.output_tokens"));
        Assert.True(job.Result.Usage.CompletionTokens > 0);

        // Metrics, from this worker's meter only.
        Assert.Equal(2, Sum(attempts, AttemptOutcome.TransientFailure));
        Assert.Equal(1, Sum(attempts, AttemptOutcome.Succeeded));
        Assert.Equal(3, attemptDuration.GetMeasurementSnapshot().Count);
        Assert.Equal(1, completed.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.All(completed.GetMeasurementSnapshot(), m => Assert.Equal(TenantNames.Default, m.Tags[OrchestratorTags.Tenant]));
        Assert.All(attempts.GetMeasurementSnapshot(), m => Assert.Equal(TenantNames.Default, m.Tags[OrchestratorTags.Tenant]));
        // The answered call's tokens, by model, token type and tenant.
        Assert.Equal(job.Result.Usage.PromptTokens + job.Result.Usage.CompletionTokens, llmTokens.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.All(llmTokens.GetMeasurementSnapshot(), m => Assert.Equal(TenantNames.Default, m.Tags[OrchestratorTags.Tenant]));
        Assert.Empty(deadLettered.GetMeasurementSnapshot());
        Assert.Empty(reclaimed.GetMeasurementSnapshot());
        var wait = Assert.Single(queueWait.GetMeasurementSnapshot()).Value;
        var endToEnd = Assert.Single(jobDuration.GetMeasurementSnapshot()).Value;
        Assert.InRange(wait, 0, endToEnd);
        // End to end includes both retry delays (50 ms + 100 ms).
        Assert.True(endToEnd >= 0.15, $"orchestrator.job.duration was {endToEnd} s");

        // Logs: every line about the job carries JobId and Attempt, and was written inside that attempt's span.
        var lines = worker.Logs.Records.Where(r => Equals(r.Attributes.GetValueOrDefault("JobId"), jobId)).ToList();
        Assert.Equal(6, lines.Count); // started ×3, retrying ×2, completed
        Assert.All(lines, line =>
        {
            var attempt = Assert.IsType<int>(line.Attributes["Attempt"]);
            Assert.Equal(TenantNames.Default, line.Scopes.GetValueOrDefault(OrchestratorTags.Tenant));
            var span = spans[attempt - 1];
            Assert.Equal(span.TraceId, line.TraceId);
            Assert.Equal(span.SpanId, line.SpanId);
        });

        // Redis: each attempt's outcome write is a child span of it; no Redis span stands alone.
        await AsyncWait.WaitUntilAsync(
            () => spans.All(s => RedisSpans(worker.Spans).Any(r => r.ParentSpanId == s.SpanId)),
            RedisSpanTimeout, "every attempt span has a Redis child span", TimeSpan.FromMilliseconds(200));
        Assert.All(RedisSpans(worker.Spans), r => Assert.NotEqual(default, r.ParentSpanId));
    }

    [Fact]
    public async Task JobDeadLetteredAsItIsClaimed_LineCarriesAttemptAndSubmissionTrace_DurationRecorded()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        // The submission's trace context, stored with the job as the API stores it.
        var submissionTrace = ActivityTraceId.CreateRandom();
        var job = WorkerHarness.NewJob("Stop my worker.", maxAttempts: 1) with { TraceParent = $"00-{submissionTrace}-{ActivitySpanId.CreateRandom()}-01" };
        var jobId = (await harness.Store.SubmitAsync(job, idempotency: null).WaitAsync(Timeout, ct)).JobId;

        // Its only attempt runs alone and is lost with its worker: the next claim dead-letters it (attempts-exhausted).
        var delivery = Assert.Single(await harness.Store.ReadNewAsync("worker-gone", 10, TimeSpan.FromSeconds(1)).Bounded());
        var claim = await harness.Store.ClaimAsync(delivery, "worker-gone").Bounded();
        Assert.Equal((StartAttemptOutcome.Started, 1), await harness.Store.StartAttemptAsync(claim.Lease, 1, alone: true).Bounded());

        await using var worker = new WorkerFactory(harness.Redis.ConnectionString, new Dictionary<string, string>
        {
            // Long enough for the collectors below to listen before the worker reclaims the entry.
            ["Worker:LeaseTimeout"] = "00:00:05",
            ["Worker:ReclaimInterval"] = "00:00:00.2",
            ["Worker:PollTimeout"] = "00:00:00.2",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        var meters = await Task.Run(() => worker.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, ct);
        using var deadLettered = Collector<long>(meters, "orchestrator.jobs.dead_lettered");
        using var jobDuration = Collector<double>(meters, "orchestrator.job.duration");

        await AsyncWait.WaitUntilAsync(() => deadLettered.GetMeasurementSnapshot().Count > 0, Timeout, $"job {jobId} is dead-lettered by the worker's claim");

        Assert.Equal(JobStatus.Failed, (await harness.GetAsync(jobId)).Status);
        Assert.Equal(TenantNames.Default, Assert.Single(deadLettered.GetMeasurementSnapshot()).Tags[OrchestratorTags.Tenant]);
        // Final as it is claimed: its duration counts like any other final job's, from its submission.
        var duration = Assert.Single(jobDuration.GetMeasurementSnapshot());
        Assert.Equal(TenantNames.Default, duration.Tags[OrchestratorTags.Tenant]);
        Assert.InRange(duration.Value, 0, Timeout.TotalSeconds);
        // The line, written outside any span, names the attempt and the submission's trace.
        var line = Assert.Single(worker.Logs.Records, r => Equals(r.Attributes.GetValueOrDefault("JobId"), jobId));
        Assert.Equal(1, line.Attributes["Attempt"]);
        Assert.Equal(submissionTrace.ToHexString(), line.Attributes["SubmissionTraceId"]);
    }

    private sealed record SubmitBody(string JobId);

    /// <summary>
    /// With no provider configured the simulator answers any model name a client sends; the token and
    /// cost metrics are tagged with the simulator's own model, so clients cannot mint series (an outside
    /// audit: 300 model names, 300 series). The span still says what the job asked for.
    /// </summary>
    [Fact]
    public async Task AnyModelNameWithNoProvider_MetricsTaggedWithTheSimulatorsModel_NotTheClients()
    {
        await using var worker = new WorkerFactory(api.RedisServer.ConnectionString, WorkerSettings);
        var meters = await Task.Run(() => worker.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        using var llmTokens = Collector<long>(meters, "orchestrator.llm.tokens");
        using var client = api.CreateApiClient();
        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"Any model.","model":"a-name-a-client-made-up"}"""));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var jobId = (await response.Content.ReadFromJsonAsync<SubmitBody>(TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken))!.JobId;

        await AsyncWait.WaitUntilAsync(() => llmTokens.GetMeasurementSnapshot().Count >= 2, Timeout, $"job {jobId}'s tokens are counted");
        Assert.All(llmTokens.GetMeasurementSnapshot(), m => Assert.Equal("simulated-llm", m.Tags["gen_ai.request.model"]));
    }

    private static List<Activity> AttemptSpans(SpanCapture capture, string jobId) =>
        [.. capture.Spans
            .Where(s => s.Source.Name == OrchestratorTelemetry.ActivitySourceName && Tag(s, OrchestratorTags.JobId) == jobId)
            .OrderBy(s => (int)s.GetTagItem(OrchestratorTags.Attempt)!)];

    private static IEnumerable<Activity> RedisSpans(SpanCapture capture) =>
        capture.Spans.Where(s => s.Source.Name == "OpenTelemetry.Instrumentation.StackExchangeRedis");

    private static string? Tag(Activity activity, string name) => activity.GetTagItem(name) as string;

    private static MetricCollector<T> Collector<T>(IMeterFactory meters, string instrument) where T : struct =>
        new(meters, OrchestratorTelemetry.MeterName, instrument);

    private static long Sum(MetricCollector<long> collector, string outcome) =>
        collector.GetMeasurementSnapshot()
            .Where(m => Equals(m.Tags.GetValueOrDefault(OrchestratorTags.Outcome), outcome))
            .Sum(m => m.Value);
}
