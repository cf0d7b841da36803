using System.Text;
using System.Text.RegularExpressions;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Observability;

/// <summary>What a worker exports over OTLP when it is stopped: the lines of its shutdown reach the backend too.</summary>
[Collection(ApiProcessCollection.Name)]
public sealed partial class ShutdownTelemetryTests
{
    /// <summary>
    /// SIGTERM while a call outlasts the shutdown timeout: the "draining" line and the Warning for the
    /// call cut off are written during the hosted services' stop, after the last scheduled export,
    /// and still reach the OTLP endpoint before the process ends. The exported resource names this
    /// process (service.instance.id), so replicas do not collide.
    /// </summary>
    [Fact]
    public async Task SigtermWithACallInFlight_ShutdownLogLinesAreExported()
    {
        await using var receiver = await OtlpReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        var settings = new Dictionary<string, string>(receiver.ExporterSettings("orch-worker-test"))
        {
            // The stop follows the first scheduled export at once and ends before the next: its lines
            // are left to the export at exit. (Stopping before any export would not do: a worker that
            // ran longer than the 5 s default delay has exported, and the first export built the
            // exporter's HTTP client, whose pipeline the exit's export then found disposed.)
            ["OTEL_BLRP_SCHEDULE_DELAY"] = "2500",
            ["Simulator:FailureRate"] = "0",
            // Outlasts the 1 s shutdown timeout: the call is cut off and the job handed back.
            ["Simulator:Latency"] = "00:00:30",
            ["shutdownTimeoutSeconds"] = "1",
        };
        var jobId = await harness.SubmitAsync(maxAttempts: 3);
        var worker = await harness.StartWorkerAsync(settings, "worker-otlp");
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(jobId)).Status == JobStatus.Processing,
            TimeSpan.FromSeconds(30), "the call is running", TimeSpan.FromMilliseconds(20));
        await AsyncWait.WaitUntilAsync(() => receiver.Count("/v1/logs", $"Worker {worker.Consumer} started") > 0,
            TimeSpan.FromSeconds(10), "the first scheduled export arrived", TimeSpan.FromMilliseconds(10));

        await worker.StopGracefullyAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(0, worker.ExitCode);
        var handedBack = $"Job {jobId} handed back at shutdown; attempt 1 was cut off (in its call, or waiting for its deployment)";
        Assert.Contains(handedBack, worker.Output, StringComparison.Ordinal);
        // The exporter posted before the process ended; the receiver may still be storing the last body.
        await AsyncWait.WaitUntilAsync(() => receiver.Count("/v1/logs", handedBack) > 0, TimeSpan.FromSeconds(2),
            "the hand-back Warning reached the OTLP endpoint", TimeSpan.FromMilliseconds(20));
        Assert.Equal(1, receiver.Occurrences("/v1/logs", handedBack));
        Assert.Equal(1, receiver.Occurrences("/v1/logs", $"Worker {worker.Consumer} draining:"));
        // The spans and metrics of the same moment: the released attempt (tagged with its job) and its count.
        Assert.True(receiver.Count("/v1/traces", jobId) > 0, "the released attempt's span was not exported");
        // It carries the history's error (error.type released, and its message as the span's status), as api.md says.
        Assert.True(receiver.Count("/v1/traces", "handed the job back; this attempt is not counted") > 0, "the released attempt's span has no error");
        Assert.True(receiver.Count("/v1/metrics", "orchestrator.attempts") > 0, "no export of orchestrator.attempts");

        // Every export names the service and this process: one instance id, a UUID, in every body.
        var bodies = receiver.Bodies("/v1/logs");
        Assert.All(bodies, body => Assert.Contains("orch-worker-test", Encoding.Latin1.GetString(body), StringComparison.Ordinal));
        var instanceIds = bodies.Select(body => InstanceId().Match(Encoding.Latin1.GetString(body))).ToList();
        Assert.All(instanceIds, id => Assert.True(id.Success, "a log export without service.instance.id"));
        Assert.Single(instanceIds.Select(id => id.Groups["id"].Value).Distinct());
    }

    // The resource attribute as protobuf writes it: the key, then (after the value's tag and length bytes) the string.
    [GeneratedRegex(@"service\.instance\.id[\s\S]{2,6}?(?<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})")]
    private static partial Regex InstanceId();
}
