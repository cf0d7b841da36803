using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.IntegrationTests.Webhooks;

/// <summary>
/// The webhook instruments of a real worker (in-process, real Redis, a receiver on loopback):
/// <c>orchestrator.webhooks.deliveries</c> counts each try by outcome and tenant, and the gauge
/// <c>orchestrator.webhooks.outbox</c> shows the deliveries waiting, then none.
/// </summary>
public sealed class WebhookMetricsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Deliveries_CountedByOutcome_OutboxGaugeRisesThenEmpties()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        await using var worker = new WorkerFactory(harness.Redis.ConnectionString, new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Webhooks:Secret"] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1fEXAMPLEk0=",
            ["Webhooks:AllowPrivateNetworks"] = "true",
            ["Webhooks:BaseDelay"] = "00:00:00.200",
            ["Webhooks:MaxDelay"] = "00:00:00.500",
            // The delivery to a port nobody listens on is given up ('failed') after 3 s of tries.
            ["Webhooks:MaxAge"] = "00:00:03",
            ["Webhooks:RequestTimeout"] = "00:00:02",
            ["Webhooks:LeaseTimeout"] = "00:00:05",
            ["Webhooks:PollInterval"] = "00:00:00.100",
            // Off: five refusals in a row would open the receiver's circuit for its break (30 s), and a
            // try put off past MaxAge gives the delivery up (the circuit's own test: WebhookSlowReceiverTests).
            ["Webhooks:CircuitFailures"] = "0",
        });
        // The process's HTTP client metrics, as any metrics provider would read them: none may name a callback's port.
        var callbackPorts = new System.Collections.Concurrent.ConcurrentBag<object?>();
        using var httpMetrics = new MeterListener();
        httpMetrics.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == "System.Net.Http")
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        httpMetrics.SetMeasurementEventCallback<double>((_, _, tags, _) => RecordPort(tags));
        httpMetrics.SetMeasurementEventCallback<long>((_, _, tags, _) => RecordPort(tags));
        httpMetrics.Start();
        void RecordPort(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "server.port")
                {
                    callbackPorts.Add(tag.Value);
                }
            }
        }

        var meters = await Task.Run(() => worker.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, ct);
        using var deliveries = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.webhooks.deliveries");
        using var outbox = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.webhooks.outbox");

        // The receiver refuses for 2 s from now, before its job exists (tries counted 'retry'), then accepts ('delivered').
        receiver.FailUntil = DateTimeOffset.UtcNow + TimeSpan.FromSeconds(2);
        // Its job was submitted in a recorded span, as the API stores it: each try's span is that span's child.
        var submission = new ActivityContext(ActivityTraceId.CreateRandom(), ActivitySpanId.CreateRandom(), ActivityTraceFlags.Recorded);
        string? receiverJob = null;
        foreach (var url in new[] { receiver.Address.ToString(), $"http://127.0.0.1:{LoopbackPort.Next()}/hooks" })
        {
            var job = WorkerHarness.NewJob("Tell me when done.", maxAttempts: 3);
            job = job with { Request = job.Request with { CallbackUrl = url } };
            if (receiverJob is null)
            {
                job = job with { TraceParent = $"00-{submission.TraceId.ToHexString()}-{submission.SpanId.ToHexString()}-01" };
                receiverJob = job.Id;
            }

            Assert.Equal(SubmitOutcome.Created, (await harness.Store.SubmitAsync(job, idempotency: null).WaitAsync(Timeout, ct)).Outcome);
        }

        long mostWaiting = 0;
        await AsyncWait.WaitUntilAsync(() =>
        {
            outbox.RecordObservableInstruments();
            mostWaiting = Math.Max(mostWaiting, outbox.LastMeasurement?.Value ?? 0);
            return Task.FromResult(Sum(deliveries, "delivered") == 1 && Sum(deliveries, "failed") == 1);
        }, Timeout, "one delivery delivered and one given up", TimeSpan.FromMilliseconds(50));

        // The refused tries before: some for the receiver (refused for 2 s, retried 200 ms to 500 ms
        // apart) and for the closed port (3 s of tries); both were in the outbox together.
        Assert.InRange(Sum(deliveries, "retry"), 2, 40);
        Assert.Equal(2, mostWaiting);
        // Each try is counted under its job's tenant, as the jobs' own instruments are.
        Assert.All(deliveries.GetMeasurementSnapshot(), m => Assert.Equal(TenantNames.Default, m.Tags.GetValueOrDefault(OrchestratorTags.Tenant)));
        await AsyncWait.WaitUntilAsync(() =>
        {
            outbox.RecordObservableInstruments();
            return Task.FromResult(outbox.LastMeasurement?.Value == 0);
        }, Timeout, "the gauge shows an empty outbox", TimeSpan.FromMilliseconds(50));
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.WebhookOutbox).WaitAsync(Timeout, ct));

        // Every try joined the job's trace: its span a child of the submission's, and the receiver's traceparent in that trace.
        var received = receiver.Received.Where(r => r.Body.Contains(receiverJob!, StringComparison.Ordinal)).ToList();
        Assert.Single(received, r => r.AnsweredStatus == 200);
        Assert.All(received, r => Assert.StartsWith($"00-{submission.TraceId.ToHexString()}-", r.TraceParent, StringComparison.Ordinal));
        List<Activity> TrySpans() => [.. worker.Spans.Spans.Where(s => s.OperationName == "webhook delivery" && Equals(s.GetTagItem(OrchestratorTags.JobId), receiverJob))];
        await AsyncWait.WaitUntilAsync(() => TrySpans().Count == received.Count, Timeout, "a span for each try has ended");
        var trySpans = TrySpans();
        Assert.All(trySpans, s => Assert.Equal((submission.TraceId, submission.SpanId), (s.TraceId, s.ParentSpanId)));
        Assert.Equal(["delivered"], trySpans.Where(s => s.Status != ActivityStatusCode.Error).Select(s => s.GetTagItem(OrchestratorTags.WebhookOutcome)));

        // No http.client.* series per callback: a tenant could mint them at will.
        Assert.DoesNotContain(receiver.Address.Port, callbackPorts.Select(p => Convert.ToInt32(p, System.Globalization.CultureInfo.InvariantCulture)));

        // A try is Try on its line, never Attempt: a job's lines filtered by Attempt are its LLM attempts only.
        var tries = worker.Logs.Records.Where(r => r.Attributes.ContainsKey("DeliveryId") && r.Attributes.ContainsKey("JobId")).ToList();
        Assert.NotEmpty(tries);
        Assert.All(tries, r =>
        {
            Assert.IsType<int>(r.Attributes["Try"]);
            Assert.False(r.Attributes.ContainsKey("Attempt"));
            // And its tenant, as every line about a job (an outside audit: none did).
            Assert.Equal(TenantNames.Default, r.Scopes.GetValueOrDefault(OrchestratorTags.Tenant));
        });
    }

    private static long Sum(MetricCollector<long> collector, string outcome) =>
        collector.GetMeasurementSnapshot()
            .Where(m => Equals(m.Tags.GetValueOrDefault(OrchestratorTags.WebhookOutcome), outcome))
            .Sum(m => m.Value);
}
