using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>A real worker process retrying a job that always fails, until it is dead-lettered.</summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class WorkerRetryTests
{
    private const int ClockGrainMs = 5;

    [Fact]
    public async Task FailureRateOne_RetriesWithDoublingDelaysThenDeadLetters()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "1",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Retry:MaxAttempts"] = "4",
            ["Retry:UseJitter"] = "false",
            ["Retry:BaseDelay"] = "00:00:00.1",
        }, "worker");

        var jobId = await harness.SubmitAsync(maxAttempts: 4);
        var job = (await harness.WaitUntilAllFinalAsync([jobId], TimeSpan.FromSeconds(60)))[0];

        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.Equal(4, job.Attempts);
        Assert.Equal([1, 2, 3, 4], job.History.Select(a => a.Attempt));
        Assert.All(job.History, a => Assert.Equal(AttemptOutcome.TransientFailure, a.Outcome));
        Assert.All(job.History, a => Assert.Equal("transient", a.Error?.Type));
        Assert.All(job.History, a => Assert.NotNull(a.EndedAt));
        Assert.Equal([100L, 200L, 400L, null], job.History.Select(a => a.RetryDelayMs));

        TestContext.Current.TestOutputHelper?.WriteLine("attempt gaps (start to start, end to next start): " + string.Join(", ",
            job.History.Skip(1).Select((a, i) => $"{(a.StartedAt - job.History[i].StartedAt).TotalMilliseconds}/{(a.StartedAt - job.History[i].EndedAt!.Value).TotalMilliseconds} ms")));

        // Each attempt starts no sooner than its predecessor's delay after it (the delay runs from its end).
        for (var i = 1; i < job.History.Count; i++)
        {
            var previous = job.History[i - 1];
            var gap = job.History[i].StartedAt - previous.StartedAt;
            Assert.True(gap >= TimeSpan.FromMilliseconds(previous.RetryDelayMs!.Value),
                $"attempt {i + 1} started {gap.TotalMilliseconds} ms after attempt {i}; its delay was {previous.RetryDelayMs} ms");
            // From the end, allow the clocks' grain: stored times are whole wall-clock milliseconds and
            // .NET timers count whole milliseconds of a coarse monotonic clock, so a wait of 200 ms can
            // measure 199 ms here (seen once in about 20 runs).
            Assert.True(job.History[i].StartedAt >= previous.EndedAt!.Value.AddMilliseconds(previous.RetryDelayMs.Value - ClockGrainMs),
                $"attempt {i + 1} started {(job.History[i].StartedAt - previous.EndedAt.Value).TotalMilliseconds} ms after attempt {i} ended; its delay was {previous.RetryDelayMs} ms");
        }

        // The last attempt's error is kept on the job; the job is final and dead-lettered.
        Assert.Equal(job.History[^1].Error, job.Error);
        Assert.Null(job.Result);
        Assert.Null(job.NextAttemptAt);
        Assert.NotNull(job.CompletedAt);
        var deadLetters = await harness.Store.ListDeadLettersAsync(50, cursor: null).WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);
        Assert.Contains(jobId, deadLetters.Items.Select(j => j.Id));
        Assert.Equal(0, await harness.StreamLengthAsync());
        Assert.Equal(0, await harness.PendingCountAsync());
    }

    [Fact]
    public async Task FailFirstAttemptsHint_CompletesOnThirdAttemptWithHistory()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Retry:UseJitter"] = "false",
            ["Retry:BaseDelay"] = "00:00:00.05",
        }, "worker");

        var jobId = await harness.SubmitAsync(maxAttempts: 5, new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "2" });
        var job = (await harness.WaitUntilAllFinalAsync([jobId], TimeSpan.FromSeconds(60)))[0];

        Assert.Equal(JobStatus.Completed, job.Status);
        Assert.Equal(3, job.Attempts);
        Assert.Equal([AttemptOutcome.TransientFailure, AttemptOutcome.TransientFailure, AttemptOutcome.Succeeded], job.History.Select(a => a.Outcome));
        Assert.Equal([50L, 100L, null], job.History.Select(a => a.RetryDelayMs));
        Assert.NotNull(job.Result);
        Assert.True(job.Result.Usage.CompletionTokens > 0);
        Assert.Null(job.Error);
        Assert.Equal(0, await harness.StreamLengthAsync());
    }

    [Fact]
    public async Task JobWaitingForItsRetry_LetsAnotherJobRun_ConcurrencyOne()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Worker:Concurrency"] = "1",
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Retry:UseJitter"] = "false",
            // Under Worker:MaxInProcessDelay (5 s): the worker waits with the job, under its lease.
            ["Retry:BaseDelay"] = "00:00:02",
        }, "worker");

        var retried = await harness.SubmitAsync(maxAttempts: 3, new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "1" });
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(retried)).Status == JobStatus.Retrying,
            TimeSpan.FromSeconds(30), "the first job's first attempt failed");
        var other = await harness.SubmitAsync(maxAttempts: 3);
        var jobs = await harness.WaitUntilAllFinalAsync([retried, other], TimeSpan.FromSeconds(60));

        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        var (first, second) = (jobs[0].History, Assert.Single(jobs[1].History));
        Assert.Equal([1, 2], first.Select(a => a.Attempt));
        // The second job ran while the first waited out its 2 s delay in the worker, not after it.
        Assert.True(second.EndedAt < first[1].StartedAt,
            $"the other job ended at {second.EndedAt:O}; the retried job's attempt 2 started at {first[1].StartedAt:O}");
        Assert.True(first[1].StartedAt >= first[0].EndedAt!.Value.AddMilliseconds(2_000 - ClockGrainMs));
        // One slot: no two attempts ran at once.
        Assert.All(first, a => Assert.True(a.EndedAt <= second.StartedAt || a.StartedAt >= second.EndedAt,
            $"attempt {a.Attempt} ({a.StartedAt:O} → {a.EndedAt:O}) overlaps the other job's ({second.StartedAt:O} → {second.EndedAt:O})"));
    }

    [Fact]
    public async Task JobWaitingForItsRetry_ASuspectTakenOverMeanwhileRunsAlone_ThenTheJobGoesOn()
    {
        // The waiting job lent its one slot; a dead worker's job, taken over with that slot, is a
        // suspect that runs only once no ordinary job runs here. The waiting job must not hold its
        // turn while it waits (it would wait for the suspect's slot, the suspect for its turn).
        await using var harness = await WorkerHarness.StartAsync();
        var suspect = (await harness.ClaimOneAsync(maxAttempts: 3)).Job!.Id;
        var entry = (await harness.Db.StreamRangeAsync(harness.Keys.Stream).Bounded()).Single().Id;
        using var deadWorkerDies = new CancellationTokenSource();
        // "worker-a" is alive until told: its entry stays fresh.
        var renewer = harness.KeepPendingFreshAsync("worker-a", [entry], deadWorkerDies.Token);

        await harness.StartWorkerAsync(OneSlotTakingOverSettings("00:00:06"), "worker");
        var waiting = await harness.SubmitAsync(maxAttempts: 3, new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "1" });
        await AsyncWait.WaitUntilAsync(async () => (await harness.GetAsync(waiting)).Status == JobStatus.Retrying,
            TimeSpan.FromSeconds(30), "the ordinary job's first attempt failed; it waits 6 s in the worker");
        await deadWorkerDies.CancelAsync();
        await renewer;

        var jobs = await harness.WaitUntilAllFinalAsync([waiting, suspect], TimeSpan.FromSeconds(60));

        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        var (ordinary, takenOver) = (jobs[0].History, jobs[1].History);
        Assert.Equal(AttemptOutcome.WorkerLost, takenOver[0].Outcome);
        // The suspect's attempt ran during the ordinary job's wait, before its attempt 2.
        Assert.True(takenOver[1].EndedAt < ordinary[1].StartedAt,
            $"the suspect's attempt 2 ended at {takenOver[1].EndedAt:O}; the waiting job's attempt 2 started at {ordinary[1].StartedAt:O}");
        Assert.True(takenOver[1].StartedAt > ordinary[0].EndedAt);
    }

    [Fact]
    public async Task SuspectWaitingForItsRetry_LetsTheWorkersOtherJobsRunMeanwhile()
    {
        // A dead worker's job, taken over here, runs apart; its attempt here fails and it waits 6 s
        // for the next. The attempt has ended: it is an ordinary job now, and must not hold the
        // worker's one slot and its other work for the wait (it did: 0 completions here meanwhile).
        await using var harness = await WorkerHarness.StartAsync();
        var suspect = (await harness.ClaimOneAsync(maxAttempts: 3, new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "2" })).Job!.Id;

        // After attempt 2: 3 s × 2, in the worker (under Worker:MaxInProcessDelay).
        await harness.StartWorkerAsync(OneSlotTakingOverSettings("00:00:03"), "worker");
        // Attempt 1 lost with worker-a, attempt 2 here failed: the suspect waits for attempt 3.
        await AsyncWait.WaitUntilAsync(async () => await harness.GetAsync(suspect) is { History.Count: 2, Status: JobStatus.Retrying },
            TimeSpan.FromSeconds(30), "the suspect's attempt here failed; it waits 6 s in the worker");
        var ordinary = await harness.SubmitManyAsync(3, maxAttempts: 1);

        var jobs = await harness.WaitUntilAllFinalAsync([suspect, .. ordinary], TimeSpan.FromSeconds(60));

        Assert.All(jobs, j => Assert.Equal(JobStatus.Completed, j.Status));
        var takenOver = jobs[0].History;
        Assert.Equal([AttemptOutcome.WorkerLost, AttemptOutcome.TransientFailure, AttemptOutcome.Succeeded], takenOver.Select(a => a.Outcome));
        // The ordinary jobs ran during the suspect's wait, before its attempt 3.
        Assert.All(jobs.Skip(1), j => Assert.True(j.CompletedAt < takenOver[2].StartedAt,
            $"job {j.Id} completed at {j.CompletedAt:O}; the suspect's attempt 3 started at {takenOver[2].StartedAt:O}"));
    }

    /// <summary>
    /// One slot, a dead worker's lease taken over within a few seconds, and retries waited for in the
    /// worker (<c>Worker:MaxInProcessDelay</c> 10 s) after <paramref name="baseDelay"/>, without jitter.
    /// </summary>
    private static Dictionary<string, string> OneSlotTakingOverSettings(string baseDelay) => new()
    {
        ["Worker:Concurrency"] = "1",
        ["Worker:LeaseTimeout"] = "00:00:02",
        ["Worker:ReclaimInterval"] = "00:00:00.5",
        ["Worker:MaxInProcessDelay"] = "00:00:10",
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.010",
        ["Retry:UseJitter"] = "false",
        ["Retry:BaseDelay"] = baseDelay,
    };

    [Fact]
    public async Task PermanentFailureHint_FailsAfterOneAttemptWithoutRetry()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
        }, "worker");

        var jobId = await harness.SubmitAsync(maxAttempts: 5, new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" });
        var job = (await harness.WaitUntilAllFinalAsync([jobId], TimeSpan.FromSeconds(60)))[0];

        Assert.Equal(JobStatus.Failed, job.Status);
        var attempt = Assert.Single(job.History);
        Assert.Equal(AttemptOutcome.PermanentFailure, attempt.Outcome);
        Assert.Null(attempt.RetryDelayMs);
        Assert.Equal("invalid-request", job.Error?.Type);
        var deadLetters = await harness.Store.ListDeadLettersAsync(50, cursor: null).WaitAsync(WorkerHarness.CommandTimeout, TestContext.Current.CancellationToken);
        Assert.Contains(jobId, deadLetters.Items.Select(j => j.Id));
    }
}
