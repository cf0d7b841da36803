using System.Collections.Concurrent;
using System.Globalization;
using Orchestrator.IntegrationTests.Providers;
using Orchestrator.IntegrationTests.Webhooks;
using Orchestrator.Jobs;
using Orchestrator.Worker.Llm.FlowControl;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// A worker whose host clock is 10 minutes off (libfaketime; its monotonic clock true, as after a
/// step) reads Redis's clock for what it compares with the jobs' times, which Redis stamped. It
/// compared them with its own: a job it reclaimed waited the whole skew for its retry, holding the
/// worker (a suspect runs alone), and its webhooks carried a timestamp receivers refuse. A step of
/// its clock during a circuit's break lengthened the break by the step.
/// </summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class ClockSkewTests
{
    private const string Secret = WebhookSlowReceiverTests.Secret;

    [Fact]
    public async Task WorkerTenMinutesBehind_RetriesAJobItReclaimed_AtOnce()
    {
        await using var harness = await WorkerHarness.StartAsync();
        Dictionary<string, string> Settings(string latency) => new()
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = latency,
            ["Worker:LeaseTimeout"] = "00:00:02",
            ["Worker:ReclaimInterval"] = "00:00:00.200",
        };
        var first = await harness.StartWorkerAsync(Settings("00:01:00"), "worker-1");
        var id = await harness.SubmitAsync(maxAttempts: 3);
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(id)).Status == JobStatus.Processing,
            TimeSpan.FromSeconds(30), "worker-1 runs the job");
        await first.KillAsync();

        await harness.StartWorkerAsync(Skewed(Settings("00:00:00.010"), SkewedClock.Environment("-600s")), "worker-behind");

        var job = (await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(30))).Single();
        Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
        // Redis's clock throughout: the retry began as the reclaim found the job, not 10 minutes on.
        Assert.InRange(job.History[1].StartedAt - job.History[0].EndedAt!.Value, TimeSpan.Zero, TimeSpan.FromSeconds(5));
    }

    [Theory]
    [InlineData("-600s")]
    [InlineData("+600s")]
    public async Task WorkerTenMinutesOff_StampsItsWebhooksWithRedisClock_TheReceiverAcceptsThem(string offset)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var harness = await WorkerHarness.StartAsync();
        var job = WorkerHarness.NewJob("a prompt", maxAttempts: 1);
        var submitted = await harness.Store.SubmitAsync(job with { Request = job.Request with { CallbackUrl = receiver.Address.ToString() } }, idempotency: null).Bounded();

        await harness.StartWorkerAsync(Skewed(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Webhooks:Secret"] = Secret,
            ["Webhooks:AllowPrivateNetworks"] = "true",
            ["Webhooks:PollInterval"] = "00:00:00.200",
        }, SkewedClock.Environment(offset)), "worker-off");

        await AsyncWait.WaitUntilAsync(() => receiver.Received.Count > 0, TimeSpan.FromSeconds(30), "the receiver got the webhook");
        var received = receiver.Received[0];
        Assert.Contains(submitted.JobId, received.Body, StringComparison.Ordinal);
        // Within 5 minutes of the receiver's clock, as Standard Webhooks' receivers check (10 minutes off before).
        Assert.True(received.IsSignedWith(Secret), $"timestamp {received.Timestamp}, received at {received.At:O}");
    }

    [Fact]
    public async Task WorkerClockSetBackTenMinutes_DuringAReceiversBreak_SendsWhenTheBreakEnds()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.FailUntil = DateTimeOffset.MaxValue;
        await using var harness = await WorkerHarness.StartAsync();
        await WebhookSlowReceiverTests.SubmitAsync(harness, receiver.Address);
        var offsetFile = Path.Combine(Directory.CreateTempSubdirectory("orchestrator-clock-").FullName, "offset");
        var settings = WebhookSlowReceiverTests.Settings(TimeSpan.FromSeconds(5));
        settings["Webhooks:BaseDelay"] = "00:00:00.100";
        settings["Webhooks:MaxDelay"] = "00:00:00.200";
        settings["Webhooks:CircuitFailures"] = "2";
        settings["Webhooks:CircuitBreakDuration"] = "00:00:04";
        await harness.StartWorkerAsync(Skewed(settings, SkewedClock.Steppable(offsetFile)), "worker-stepped");

        // Two 500s in a row open the receiver's circuit; then the host's clock is set back.
        await AsyncWait.WaitUntilAsync(() => receiver.Received.Count >= 2, TimeSpan.FromSeconds(30), "two failed tries");
        SkewedClock.Step(offsetFile, "-600s");
        receiver.FailUntil = DateTimeOffset.MinValue;

        // The break ends 4 s on, as the monotonic clock counts (it ran 10 minutes longer on the wall clock before).
        await AsyncWait.WaitUntilAsync(() => receiver.Received.Any(r => r.AnsweredStatus == 200), TimeSpan.FromSeconds(20), "the webhook delivered after the break");
        Assert.Equal(2, receiver.Received.Count(r => r.AnsweredStatus == 500));
    }

    [Theory]
    [InlineData("-300s")]
    [InlineData("+300s")]
    public async Task WorkerFiveMinutesOff_ProviderAsksForADate8sPastItsDate_WaitsThe8s(string offset)
    {
        await using var harness = await WorkerHarness.StartAsync();
        // The provider's own clock an hour ahead of everyone's: only its Date tells what its date means.
        var providerClockOff = TimeSpan.FromHours(1);
        var calls = new ConcurrentQueue<DateTimeOffset>();
        await using var fake = await FakeProvider.StartAsync(request =>
        {
            calls.Enqueue(DateTimeOffset.UtcNow);
            if (request.Number > 1)
            {
                return FakeAnswer.Answer("Leases expire.");
            }

            var sent = DateTimeOffset.UtcNow + providerClockOff;
            return FakeAnswer.Json(429, """{"error":{"type":"requests","code":"rate_limit_exceeded","message":"Rate limit reached."}}""",
                new Dictionary<string, string>
                {
                    ["Date"] = sent.ToString("R", CultureInfo.InvariantCulture),
                    ["Retry-After"] = sent.AddSeconds(8).ToString("R", CultureInfo.InvariantCulture),
                });
        });
        await harness.StartWorkerAsync(Skewed(ProviderSetup.Worker(fake.Endpoint.ToString()), SkewedClock.Environment(offset)), "worker-off");

        var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("Explain leases.", "sim-model"));
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        var cooldown = TimeSpan.Zero;
        await AsyncWait.WaitUntilAsync(async () => (cooldown = await flow.CooldownLeftAsync("sim").Bounded()) > TimeSpan.Zero,
            TimeSpan.FromSeconds(30), "the 429 set the deployment's cooldown");
        // The fleet-wide cooldown is the provider's 8 s (less the part of a second its Date's resolution
        // drops), not 308 s behind (the job failed at once) or the shortest, 1 s, ahead.
        Assert.InRange(cooldown, TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(8));

        var job = Assert.Single(await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(30)));
        Assert.True(job.Status == JobStatus.Completed, WorkerHarness.Describe([job]));
        Assert.Equal(1, job.Attempts);
        Assert.InRange(calls.Last() - calls.First(), TimeSpan.FromSeconds(7), TimeSpan.FromSeconds(12));
    }

    /// <summary><paramref name="settings"/> and <paramref name="clock"/>, the environment that sets the process's clock (<see cref="SkewedClock"/>).</summary>
    private static Dictionary<string, string> Skewed(Dictionary<string, string> settings, IReadOnlyDictionary<string, string> clock)
    {
        foreach (var (name, value) in clock)
        {
            settings[name] = value;
        }

        return settings;
    }
}
