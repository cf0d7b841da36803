using System.Text.Json;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;
using Orchestrator.Worker.Llm.FlowControl;
using Orchestrator.Worker.Resilience;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// Every error kind of the taxonomy, produced by the simulator service over HTTP and met by a real
/// worker process, reaches its outcome; an answered job records its usage and cost.
/// </summary>
[Collection(ProviderProcessCollection.Name)]
public sealed class ProviderErrorTests
{
    public static TheoryData<string, string, int> PermanentErrors => new()
    {
        { "insufficient_quota", "insufficient-quota", 1 },
        { "invalid_request", "invalid-request", 1 },
        { "context_length_exceeded", "context-length-exceeded", 1 },
        { "request_too_large", "request-too-large", 1 },
        { "authentication", "authentication", 1 },
        { "permission", "permission", 1 },
        { "model_not_found", "model-not-found", 1 },
        // Transient: retried with backoff until the attempts run out.
        { "server_error", "transient", 3 },
    };

    [Fact]
    public async Task EachErrorKind_OverHttp_ReachesItsOutcome()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.005",
        });
        _ = await harness.StartWorkerAsync(ProviderSetup.Worker(simulator), "worker");

        var ids = new Dictionary<string, (string Type, int Attempts)>();
        foreach (var (error, type, attempts) in PermanentErrors.Select(r => ((string)r.Data.Item1, (string)r.Data.Item2, (int)r.Data.Item3)))
        {
            var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("Explain leases.", "sim-model",
                Metadata: new Dictionary<string, string> { [SimulatorHints.Error] = error }));
            ids[id] = (type, attempts);
        }

        var answered = await ProviderSetup.SubmitAsync(harness, new JobRequest("Explain leases in one sentence.", "sim-model", MaxTokens: 30));
        var jobs = await harness.WaitUntilAllFinalAsync([.. ids.Keys, answered], TimeSpan.FromSeconds(60));

        foreach (var job in jobs.Where(j => j.Id != answered))
        {
            var (type, attempts) = ids[job.Id];
            Assert.True(job.Status == JobStatus.Failed, $"{type}: {WorkerHarness.Describe([job])}");
            Assert.Equal(type, job.Error!.Type);
            Assert.True(attempts == job.Attempts, $"{type}: {job.Attempts} attempts: " +
                string.Join("; ", job.History.Select(a => $"{a.Attempt} {a.Outcome} {a.Error?.Type} {a.Error?.Message}")));
        }

        Assert.Equal(ids.Count, await harness.Db.SortedSetLengthAsync(harness.Keys.DeadLetters));
        var ok = jobs.Single(j => j.Id == answered);
        Assert.Equal(JobStatus.Completed, ok.Status);
        var usage = Assert.Single(ok.History).Usage!;
        Assert.Equal(ok.Result!.Usage.PromptTokens, usage.InputTokens);
        Assert.InRange(usage.OutputTokens, 1, 30);
        // Prices: 1.5 per million prompt tokens, 6 per million completion tokens.
        Assert.Equal(((usage.InputTokens * 1.5m) + (usage.OutputTokens * 6m)) / 1_000_000m, usage.Cost);
        Assert.Equal(usage, ok.Usage);
        Assert.Equal("sim-model", ok.History[0].Model);
    }

    [Fact]
    public async Task RateLimitedForever_WaitsWithoutSpendingAttempts_ThenFailsAsRateLimited()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var simulator = await LlmSimulatorProcess.StartAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.005",
        });
        _ = await harness.StartWorkerAsync(
            ProviderSetup.Worker(simulator, more: new() { ["Llm:MaxRateLimitWait"] = "00:00:03" }), "worker");

        // Every call answers 429 with Retry-After 1 s: the job waits about 1 s at a time until its 3 s are spent, then gives up.
        var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("Explain leases.", "sim-model",
            Metadata: new Dictionary<string, string> { [SimulatorHints.Error] = "rate_limit" }), maxAttempts: 5);
        var job = Assert.Single(await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(60)));

        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("rate-limited", job.Error!.Type);
        Assert.Equal(1, job.Attempts);
        var stats = await simulator.StatsAsync();
        // 3 s of budget holds three waits of about 1 s: whether the third fits depends on a few
        // milliseconds of rounding between the cooldown and the clock (a 1 ms remainder is a wait
        // too), so the job calls 4 times, or 3 when the third wait would pass the budget.
        Assert.InRange(stats.Calls, 3, 4);
        Assert.Equal(stats.Calls, stats.RateLimited);
        // Each call waited out the Retry-After the previous 429 announced.
        Assert.Equal(0, stats.CallsInsideRetryAfter);
        Assert.Equal(0, stats.CallsInsideRetryAfterPastGrace);
    }

    [Fact]
    public async Task RateLimitedForeverWithRetryAfterZero_WaitsAtLeastASecondEachTime_ThenFailsAsRateLimited()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => FakeAnswer.Json(429,
            """{"error":{"type":"requests","code":"rate_limit_exceeded","message":"Rate limit reached."}}""",
            new Dictionary<string, string> { ["Retry-After"] = "0", ["retry-after-ms"] = "0" }));
        _ = await harness.StartWorkerAsync(
            ProviderSetup.Worker(fake.Endpoint.ToString(), more: new() { ["Llm:MaxRateLimitWait"] = "00:00:03" }), "worker");

        // Zero waits never added up to the job's 3 s: it called again and again, without end.
        var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("Explain leases.", "sim-model"), maxAttempts: 5);
        var job = Assert.Single(await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(20)));

        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("rate-limited", job.Error!.Type);
        Assert.Equal(1, job.Attempts);
        // Each call waits 1 s: the 3 s budget holds three waits, maybe a fourth call (see above).
        Assert.InRange(fake.Requests.Count, 3, 4);
    }

    [Fact]
    public async Task RateLimitedWithRetryAfterBeyondReason_FailsRateLimitedAtOnce_CooldownWritten()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await using var fake = await FakeProvider.StartAsync(_ => FakeAnswer.Json(429,
            """{"error":{"type":"requests","code":"rate_limit_exceeded","message":"Rate limit reached."}}""",
            new Dictionary<string, string> { ["Retry-After"] = "1e20" }));
        _ = await harness.StartWorkerAsync(ProviderSetup.Worker(fake.Endpoint.ToString()), "worker");

        var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("Explain leases.", "sim-model"));
        var job = Assert.Single(await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(20)));

        // A wait past Llm:MaxRateLimitWait (1 min here): the job fails rate-limited without waiting it.
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal("rate-limited", job.Error!.Type);
        Assert.Single(fake.Requests);
        var cooldown = await new DeploymentFlowControl(harness.Connection, harness.Keys).CooldownLeftAsync("sim").Bounded();
        Assert.InRange(cooldown, RateLimitHeaders.MaximumWait - TimeSpan.FromMinutes(1), RateLimitHeaders.MaximumWait);
    }

    [Fact]
    public async Task ServerErrorWithAMegabyteMessage_StoredMessagesBounded()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var message = "The upstream said: " + new string('x', 1024 * 1024);
        await using var fake = await FakeProvider.StartAsync(_ => FakeAnswer.Json(500,
            JsonSerializer.Serialize(new { error = new { type = "server_error", message } })));
        _ = await harness.StartWorkerAsync(ProviderSetup.Worker(fake.Endpoint.ToString()), "worker");

        var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("Explain leases.", "sim-model"));
        var job = Assert.Single(await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(30)));

        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal(3, job.Attempts);
        Assert.All(job.History.Select(a => a.Error!.Message).Append(job.Error!.Message), stored =>
        {
            Assert.StartsWith("500 server_error: The upstream said: xxx", stored, StringComparison.Ordinal);
            Assert.InRange(stored.Length, AttemptFailure.MaxMessageLength, AttemptFailure.MaxMessageLength + 64);
        });
        // The job as Redis holds it: its hash and its attempt history, three messages of a megabyte before.
        // SAMPLES 0 counts every field: by default Redis sizes a hash from 5 of them, and the estimate
        // ran from ~1.7 KB to over 64 KB as the draw took the small fields or the four messages.
        var bytes = (long)await harness.Db.ExecuteAsync("MEMORY", "USAGE", harness.Keys.Job(id).ToString(), "SAMPLES", "0").Bounded()
            + (long)await harness.Db.ExecuteAsync("MEMORY", "USAGE", harness.Keys.History(id).ToString(), "SAMPLES", "0").Bounded();
        Assert.InRange(bytes, 1, 64 * 1024);
    }
}
