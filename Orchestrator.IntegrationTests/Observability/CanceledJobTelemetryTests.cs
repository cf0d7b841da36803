using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Observability;

/// <summary>
/// Canceled jobs are counted (<c>orchestrator.jobs.canceled</c>) once, by the process that made them
/// canceled: the API for a waiting job, the worker for a running one, whose attempt's span says
/// <c>canceled</c> as its history entry does. An outside audit found nothing counting cancels, and the
/// canceled attempt's span with status Ok and no <c>error.type</c>; and an attempt its claim started,
/// canceled while it waited for its turn, with no span and a duration measured from the clock's origin.
/// (Real API and worker in-process, one real <c>redis-server</c>.)
/// </summary>
public sealed class CanceledJobTelemetryTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Cancels_CountedOnceByWhoCanceled_CanceledAttemptSpanSaysCanceled()
    {
        var ct = TestContext.Current.CancellationToken;
        // The cancel of a running job waits for its worker longer than a renewal period (10 s with the
        // 30 s lease): a worker that missed the cancel channel's message then finds the flag in time.
        await using var apiHost = api.WithWebHostBuilder(builder => builder.UseSetting("Api:CancelWait", "00:00:20"));
        using var apiCanceled = new MetricCollector<long>(apiHost.Services.GetRequiredService<IMeterFactory>(), OrchestratorTelemetry.MeterName, "orchestrator.jobs.canceled");
        using var client = apiHost.CreateClient();
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
            // "attempt 1 started" (Debug) says the attempt's span has begun.
            ["Logging:LogLevel:Orchestrator"] = "Debug",
        });
        var meters = await Task.Run(() => worker.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, ct);
        using var workerCanceled = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.jobs.canceled");
        using var attempts = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.attempts");
        var running = await SubmitAsync(client, """{"prompt":"Run long.","metadata":{"simulator.latencyMs":"30000"}}""");
        // Not merely 'processing' (the claim's status): a cancel between the claim and the call's start
        // ends the attempt before it has a span.
        await AsyncWait.WaitUntilAsync(() => worker.Logs.Records.Any(r => Equals(r.Attributes.GetValueOrDefault("JobId"), running)
                && r.Message?.Contains("attempt 1 started", StringComparison.Ordinal) == true),
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

    [Fact]
    public async Task CanceledBeforeItsCallBegan_TheAttemptTheClaimStartedHasASpanAndADuration()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var harness = await WorkerHarness.StartAsync();
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        // A dead worker's two jobs: the suspect's attempt was cut off by its crash; the other was
        // handed back. Taken over in one reclaim batch, the suspect holds the worker's turn (it runs
        // apart from ordinary jobs) while the other, its attempt 2 started by the claim, waits for it.
        var suspect = await harness.SubmitAsync(maxAttempts: 3, new Dictionary<string, string> { ["simulator.latencyMs"] = "30000" });
        var waiting = await harness.SubmitAsync(maxAttempts: 3);
        var deliveries = await harness.Store.ReadNewAsync("dead-worker", 10, TimeSpan.FromMilliseconds(100)).Bounded();
        Assert.Equal([suspect, waiting], deliveries.Select(d => d.JobId));
        var claims = new List<ClaimResult>();
        foreach (var delivery in deliveries)
        {
            claims.Add(await harness.Store.ClaimAsync(delivery, "dead-worker", startAttempt: true).Bounded());
        }

        Assert.Equal(ReleaseOutcome.AttemptReleased, await harness.Store.ReleaseAsync(claims[1].Lease).Bounded());
        // The suspect's entry idle past the worker's lease: its first reclaim round takes both.
        await AsyncWait.WaitUntilAsync(async () => (await harness.Db.StreamPendingMessagesAsync(harness.Keys.Stream, RedisKeys.ConsumerGroup, 10, "dead-worker"))
            .All(p => p.IdleTimeInMilliseconds > 2_500), Timeout, "the dead worker's entries are idle past the lease", TimeSpan.FromMilliseconds(100));

        await using var worker = new WorkerFactory(harness.Redis.ConnectionString, new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Worker:LeaseTimeout"] = "00:00:02",
            ["Logging:LogLevel:Default"] = "Warning",
            // "attempt 2 started" (Debug) would say the call began.
            ["Logging:LogLevel:Orchestrator"] = "Debug",
        });
        var meters = await Task.Run(() => worker.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, ct);
        using var durations = new MetricCollector<double>(meters, OrchestratorTelemetry.MeterName, "orchestrator.attempt.duration");
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(waiting)) is { Status: JobStatus.Processing, Attempts: 2 }
                && (await harness.GetAsync(suspect)).Suspect,
            Timeout, "the worker took both over, the waiting job's attempt 2 started by its claim", TimeSpan.FromMilliseconds(20));
        Assert.DoesNotContain(worker.Logs.Records, r => Equals(r.Attributes.GetValueOrDefault("JobId"), waiting)
            && r.Message?.Contains("attempt 2 started", StringComparison.Ordinal) == true);

        Assert.Equal(CancelOutcome.Requested, await harness.Store.CancelAsync(waiting).Bounded());

        await AsyncWait.WaitUntilAsync(() => AttemptSpan(worker.Spans, waiting) is not null, Timeout, "the canceled attempt's span has ended");
        var span = AttemptSpan(worker.Spans, waiting)!;
        Assert.Equal(2, span.GetTagItem(OrchestratorTags.Attempt));
        Assert.Equal(AttemptOutcome.Canceled, span.GetTagItem(OrchestratorTags.Outcome));
        Assert.Equal(AttemptOutcome.Canceled, (await harness.GetAsync(waiting)).History[1].Outcome);
        // Measured from the claim, not from the clock's origin (the process's or the machine's start).
        var measured = Assert.Single(durations.GetMeasurementSnapshot(), m => Equals(m.Tags[OrchestratorTags.Outcome], AttemptOutcome.Canceled));
        Assert.InRange(measured.Value, 0, Timeout.TotalSeconds);

        // The suspect's call would hold the worker's shutdown for its 30 s.
        Assert.Equal(CancelOutcome.Requested, await harness.Store.CancelAsync(suspect).Bounded());
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
