using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.IntegrationTests.Observability;

/// <summary>
/// Canceled jobs are counted (<c>orchestrator.jobs.canceled</c>) once, by the process that made them
/// canceled: the API for a waiting job, the worker for a running one, whose attempt's span says
/// <c>canceled</c> as its history entry does. An outside audit found nothing counting cancels, and the
/// canceled attempt's span with status Ok and no <c>error.type</c>. (Real API and worker in-process,
/// one real <c>redis-server</c>.)
/// </summary>
public sealed class CanceledJobTelemetryTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Cancels_CountedOnceByWhoCanceled_CanceledAttemptSpanSaysCanceled()
    {
        var ct = TestContext.Current.CancellationToken;
        using var apiCanceled = new MetricCollector<long>(api.Services.GetRequiredService<IMeterFactory>(), OrchestratorTelemetry.MeterName, "orchestrator.jobs.canceled");
        using var client = api.CreateClient();
        client.Timeout = ApiFactory.RequestTimeout;

        // No worker yet: the job waits, and the API cancels it. Canceled twice, counted once.
        var queued = await SubmitAsync(client, """{"prompt":"Never run."}""");
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/jobs/{queued}/cancel", null, ct).WaitAsync(Timeout, ct)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/jobs/{queued}/cancel", null, ct).WaitAsync(Timeout, ct)).StatusCode);
        var counted = Assert.Single(apiCanceled.GetMeasurementSnapshot());
        Assert.Equal((1L, TenantNames.Default), (counted.Value, counted.Tags[OrchestratorTags.Tenant]));

        // A running job: its worker aborts the call, records 'canceled' and counts it.
        await using var worker = new WorkerFactory(api.RedisServer.ConnectionString, new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        var meters = await Task.Run(() => worker.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, ct);
        using var workerCanceled = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.jobs.canceled");
        using var attempts = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.attempts");
        var running = await SubmitAsync(client, """{"prompt":"Run long.","metadata":{"simulator.latencyMs":"30000"}}""");
        var store = api.Services.GetRequiredService<JobStore>();
        await AsyncWait.WaitUntilAsync(async () => (await store.GetAsync(running).WaitAsync(Timeout, ct))!.Status == JobStatus.Processing,
            Timeout, "the worker runs attempt 1", TimeSpan.FromMilliseconds(20));
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/jobs/{running}/cancel", null, ct).WaitAsync(Timeout, ct)).StatusCode);

        await AsyncWait.WaitUntilAsync(() => AttemptSpan(worker.Spans, running) is not null, Timeout, "the canceled attempt's span has ended");
        var span = AttemptSpan(worker.Spans, running)!;
        Assert.Equal(AttemptOutcome.Canceled, span.GetTagItem(OrchestratorTags.Outcome));
        Assert.Equal(AttemptOutcome.Canceled, span.GetTagItem(OrchestratorTags.ErrorType));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        var byWorker = Assert.Single(workerCanceled.GetMeasurementSnapshot());
        Assert.Equal((1L, TenantNames.Default), (byWorker.Value, byWorker.Tags[OrchestratorTags.Tenant]));
        Assert.Equal(AttemptOutcome.Canceled, Assert.Single(attempts.GetMeasurementSnapshot()).Tags[OrchestratorTags.Outcome]);
        // The API did not count the running job's cancel: it only flagged it.
        Assert.Single(apiCanceled.GetMeasurementSnapshot());
    }

    private static async Task<string> SubmitAsync(HttpClient client, string body)
    {
        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(body)).WaitAsync(Timeout, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<SubmitBody>(TestContext.Current.CancellationToken).WaitAsync(Timeout, TestContext.Current.CancellationToken))!.JobId;
    }

    private static Activity? AttemptSpan(SpanCapture capture, string jobId) =>
        capture.Spans.SingleOrDefault(s => s.OperationName == "llm attempt" && Equals(s.GetTagItem(OrchestratorTags.JobId), jobId));

    private sealed record SubmitBody(string JobId);
}
