using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.IntegrationTests.Observability;

/// <summary>
/// An attempt whose lease another worker took over (a real in-process worker, the takeover made as a
/// reclaim makes it): the history says <c>worker-lost</c>, and so must the attempt's span and
/// <c>orchestrator.attempts</c>. An outside audit found <c>succeeded</c> or <c>transient-failure</c>
/// with a retry delay on them when the call ended after the loss, and no outcome at all (the attempt
/// not counted) when the loss cut the call off; and the renewal's line without the job's tenant.
/// </summary>
public sealed class LostAttemptTelemetryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Theory]
    // The call ends after the takeover: its answer's write is refused.
    [InlineData("00:00:30", 1_500)]
    // The worker's renewal (every second) finds the lease gone and cuts the call off.
    [InlineData("00:00:03", 8_000)]
    public async Task LeaseTakenOver_AttemptSpanAndMetricSayWorkerLost(string lease, int latencyMs)
    {
        var ct = TestContext.Current.CancellationToken;
        await using var harness = await WorkerHarness.StartAsync();
        await using var worker = new WorkerFactory(harness.Redis.ConnectionString, new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Worker:LeaseTimeout"] = lease,
            ["Logging:LogLevel:Default"] = "Warning",
        });
        var meters = await Task.Run(() => worker.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, ct);
        using var attempts = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.attempts");
        var jobId = await harness.SubmitAsync(maxAttempts: 5, new Dictionary<string, string>
        {
            ["simulator.latencyMs"] = latencyMs.ToString(CultureInfo.InvariantCulture),
        });
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(jobId)).Status == JobStatus.Processing,
            Timeout, "the worker runs attempt 1", TimeSpan.FromMilliseconds(20));

        // Another worker takes the entry over (idle time 0 stands in for a lapsed lease) and claims it.
        var reclaimed = Assert.Single(await harness.Store.ReclaimExpiredAsync("other-worker", TimeSpan.Zero, 10).Bounded());
        Assert.Equal(ClaimOutcome.Claimed, (await harness.Store.ClaimAsync(reclaimed, "other-worker").Bounded()).Outcome);
        Assert.Equal([AttemptOutcome.WorkerLost], (await harness.GetAsync(jobId)).History.Select(a => a.Outcome));

        await AsyncWait.WaitUntilAsync(() => FirstAttemptSpan(worker.Spans, jobId) is not null, Timeout, "attempt 1's span has ended");
        var span = FirstAttemptSpan(worker.Spans, jobId)!;
        Assert.Equal(AttemptOutcome.WorkerLost, span.GetTagItem(OrchestratorTags.Outcome));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        Assert.Null(span.GetTagItem(OrchestratorTags.RetryDelayMs));
        // Counted once, by the worker whose claim closed it (here the test's own claim), not here too.
        Assert.Empty(attempts.GetMeasurementSnapshot());
        // Its lines carry the tenant, also the renewal's (written by the lease loop, outside the job's flow).
        var lines = worker.Logs.Records.Where(r => Equals(r.Attributes.GetValueOrDefault("JobId"), jobId)).ToList();
        // One line says the attempt was lost: the lease loop's or the refused write's, not both.
        Assert.Single(lines, r => r.Message?.Contains("lease lost to another worker", StringComparison.Ordinal) == true);
        Assert.All(lines, r => Assert.Equal(TenantNames.Default, r.Scopes.GetValueOrDefault(OrchestratorTags.Tenant)));
    }

    /// <summary>
    /// A worker killed mid-attempt ends nothing: the worker whose claim takes the job over records the
    /// lost attempt's span, timed from the history, and counts it. Before, such an attempt had no span
    /// and no count (an outside audit: 22 lost attempts, none in either).
    /// </summary>
    [Fact]
    public async Task WorkerKilledMidAttempt_TheWorkerThatTakesOver_RecordsTheLostAttemptsSpanAndCountsIt()
    {
        var ct = TestContext.Current.CancellationToken;
        await using var harness = await WorkerHarness.StartAsync();
        var doomed = await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:01:00",
            ["Worker:LeaseTimeout"] = "00:00:03",
        }, "doomed");
        var jobId = await harness.SubmitAsync(maxAttempts: 3);
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(jobId)).Status == JobStatus.Processing,
            Timeout, "the doomed worker runs attempt 1", TimeSpan.FromMilliseconds(20));
        await doomed.KillAsync();

        await using var survivor = new WorkerFactory(harness.Redis.ConnectionString, new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Worker:LeaseTimeout"] = "00:00:03",
            ["Logging:LogLevel:Default"] = "Warning",
        });
        var meters = await Task.Run(() => survivor.Services.GetRequiredService<IMeterFactory>()).WaitAsync(Timeout, ct);
        using var attempts = new MetricCollector<long>(meters, OrchestratorTelemetry.MeterName, "orchestrator.attempts");
        var job = Assert.Single(await harness.WaitUntilAllFinalAsync([jobId], Timeout));
        Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));

        await AsyncWait.WaitUntilAsync(() => FirstAttemptSpan(survivor.Spans, jobId) is not null, Timeout, "the lost attempt's span was recorded");
        var span = FirstAttemptSpan(survivor.Spans, jobId)!;
        Assert.Equal(AttemptOutcome.WorkerLost, span.GetTagItem(OrchestratorTags.Outcome));
        Assert.Equal(AttemptOutcome.WorkerLost, span.GetTagItem(OrchestratorTags.ErrorType));
        Assert.Equal(ActivityStatusCode.Error, span.Status);
        var lost = job.History[0];
        Assert.Equal(lost.StartedAt.UtcDateTime, span.StartTimeUtc);
        Assert.Equal(lost.EndedAt!.Value - lost.StartedAt, span.Duration);
        Assert.Equal(
            [(AttemptOutcome.WorkerLost, 1), (AttemptOutcome.Succeeded, 1)],
            attempts.GetMeasurementSnapshot().GroupBy(m => (string)m.Tags[OrchestratorTags.Outcome]!).Select(g => (g.Key, g.Count())).OrderBy(g => g.Key, StringComparer.Ordinal).Reverse());
    }

    private static Activity? FirstAttemptSpan(SpanCapture capture, string jobId) =>
        capture.Spans.SingleOrDefault(s => s.OperationName == "llm attempt"
            && Equals(s.GetTagItem(OrchestratorTags.JobId), jobId) && Equals(s.GetTagItem(OrchestratorTags.Attempt), 1));
}
