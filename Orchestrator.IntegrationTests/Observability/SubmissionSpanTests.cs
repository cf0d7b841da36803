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

/// <summary>The API's side of a job's telemetry: the submission span, its stored context, and the replay attribute.</summary>
public sealed class SubmissionSpanTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private const string RedisInstrumentation = "OpenTelemetry.Instrumentation.StackExchangeRedis";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task SubmitThenReplay_FirstSpanStoredWithJob_ReplaySpanMarkedAndCountedNotCreated()
    {
        var spans = new SpanCapture();
        await using var apiHost = api.WithWebHostBuilder(builder => builder.ConfigureServices(services =>
            services.ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddProcessor(spans))));
        var meters = await Task.Run(() => apiHost.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        using var submitted = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.jobs.submitted");
        using var replays = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.jobs.idempotent_replays");
        using var client = apiHost.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        client.Timeout = ApiFactory.RequestTimeout;
        const string Body = """{"prompt":"Trace me once."}""";
        var key = "trace-" + Guid.NewGuid().ToString("N");

        using var first = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("Idempotency-Key", key));
        using var replay = await ApiFactory.PostJobAsync(client, ApiFactory.Json(Body), ("Idempotency-Key", key));

        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, replay.StatusCode);
        var jobId = (await first.Content.ReadFromJsonAsync<SubmitBody>(TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken))!.JobId;
        Assert.Equal(jobId, (await replay.Content.ReadFromJsonAsync<SubmitBody>(TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken))!.JobId);

        // The server span ends just after the response is sent: wait for both.
        List<Activity> requests = [];
        await AsyncWait.WaitUntilAsync(
            () => (requests = [.. spans.Spans.Where(s => s.Kind == ActivityKind.Server && Equals(s.GetTagItem(OrchestratorTags.JobId), jobId))]).Count == 2,
            Timeout, "both POST /jobs spans have ended");
        var created = Assert.Single(requests, s => Equals(s.GetTagItem(OrchestratorTags.IdempotentReplay), false));
        var replayed = Assert.Single(requests, s => Equals(s.GetTagItem(OrchestratorTags.IdempotentReplay), true));
        Assert.NotEqual(created.TraceId, replayed.TraceId);

        // The job keeps the W3C context of the request that created it, not of the replay.
        var job = await apiHost.Services.GetRequiredService<JobStore>().GetAsync(jobId).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.NotNull(job);
        Assert.Equal(created.Id, job.TraceParent);
        Assert.Equal($"00-{created.TraceId}-{created.SpanId}-01", job.TraceParent);

        // Each request was written alone (one at a time), so its submit script is a Redis child span
        // of it, not a batch call outside any span (the instrumentation reports spans every 100 ms).
        await AsyncWait.WaitUntilAsync(
            () => new[] { created, replayed }.All(r => spans.Spans.Any(s => s.Source.Name == RedisInstrumentation && s.ParentSpanId == r.SpanId)),
            Timeout, "each POST /jobs span has a Redis child span", TimeSpan.FromMilliseconds(200));
        Assert.All(new[] { created, replayed }, r => Assert.Null(r.GetTagItem(OrchestratorTags.SubmitBatchSize)));

        Assert.Equal(1, submitted.GetMeasurementSnapshot().Sum(m => m.Value));
        Assert.Equal(1, replays.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    private sealed record SubmitBody(string JobId);
}
