using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.Chaos;

/// <summary>One checked invariant: how many things it was checked on, and the offenders.</summary>
internal sealed record InvariantResult(int Number, string Title, int Checked, IReadOnlyList<string> Violations)
{
    public bool Held => Violations.Count == 0;
}

/// <summary>
/// Checks the promise "an accepted job reaches exactly one final state, whatever fails" against
/// the client history, the workers' own reports and what Redis holds after the drain.
/// </summary>
internal sealed class InvariantChecker(ChaosOptions options, ClientHistory history, IReadOnlyDictionary<string, int> reportedCompletions)
{
    public async Task<List<InvariantResult>> CheckServiceStateAsync(JobStore store, IDatabase db)
    {
        var acknowledged = history.AcknowledgedJobs().Order(StringComparer.Ordinal).ToList();
        var jobs = new Dictionary<string, Job?>(StringComparer.Ordinal);
        foreach (var chunk in acknowledged.Chunk(200))
        {
            var found = await Task.WhenAll(chunk.Select(store.GetAsync));
            for (var i = 0; i < chunk.Length; i++)
            {
                jobs[chunk[i]] = found[i];
            }
        }

        // 1. Every acknowledged job exists and is final.
        var notFinal = new List<string>();
        foreach (var (id, job) in jobs)
        {
            if (job is null)
            {
                notFinal.Add($"{id}: acknowledged (202) but not in Redis");
            }
            else if (!JobStatus.IsTerminal(job.Status))
            {
                notFinal.Add($"{id}: still {job.Status} after the drain (attempts {job.Attempts}, deliveries {job.Deliveries})");
            }
        }

        // 2. At most one completion: one success record, the last one, a consistent history, a result never changed.
        var completedTwice = new List<string>();
        foreach (var (id, job) in jobs)
        {
            if (job is not null && JobStatus.IsTerminal(job.Status))
            {
                completedTwice.AddRange(HistoryProblems(job).Select(p => $"{id}: {p}"));
            }

            if (reportedCompletions.TryGetValue(id, out var reports) && (reports > 1 || job?.Status == JobStatus.Failed))
            {
                completedTwice.Add($"{id}: workers reported {reports} successful completion(s) of a {job?.Status ?? "missing"} job");
            }

            if (job is not null && history.Observed.TryGetValue(id, out var seen))
            {
                var now = new FinalObservation(job.Status, job.Result?.Text, job.CompletedAt, job.Attempts);
                if (now != seen)
                {
                    completedTwice.Add($"{id}: a client saw {ChaosClients.Describe(seen)}, Redis now holds {ChaosClients.Describe(now)}");
                }
            }
        }

        completedTwice.AddRange(history.ObservationConflicts);

        // 3. Attempts within Retry:MaxAttempts; failed jobs dead-lettered.
        var overAttempts = new List<string>();
        var failedIds = jobs.Where(p => p.Value?.Status == JobStatus.Failed).Select(p => p.Key).ToList();
        var batch = db.CreateBatch();
        var scores = failedIds.Select(id => batch.SortedSetScoreAsync(store.Keys.ForJob(id).DeadLetters, id)).ToList();
        batch.Execute();
        for (var i = 0; i < failedIds.Count; i++)
        {
            if (await scores[i] is null)
            {
                overAttempts.Add($"{failedIds[i]}: failed but not in the dead-letter list");
            }
        }

        // An attempt lost with a worker that crashed while running other jobs too (claim.lua's
        // sharedLosses), or cut off at a graceful shutdown (release.lua's releasedAttempts), is not
        // charged: the budget is Retry:MaxAttempts plus those.
        foreach (var (id, job) in jobs)
        {
            var budget = options.MaxAttempts + (job?.UnchargedAttempts ?? 0);
            if (job is not null && (job.Attempts > budget || job.History.Count > budget))
            {
                overAttempts.Add($"{id}: {job.Attempts} attempts ({job.History.Count} in history), more than Retry:MaxAttempts {options.MaxAttempts} + uncharged attempts");
            }
        }

        // 4. Every idempotency key maps to exactly one job, in every answer and in Redis.
        var keyViolations = new List<string>();
        var keys = history.Events.Where(e => e.IdempotencyKey is not null).GroupBy(e => e.IdempotencyKey!).ToList();
        var keyBatch = db.CreateBatch();
        var stored = keys.Select(g => (g.Key, Stored: keyBatch.HashGetAsync(store.Keys.Idempotency(TenantNames.Default, g.Key), "jobId"))).ToList();
        keyBatch.Execute();
        var acknowledgedKeys = 0;
        foreach (var (key, storedJob) in stored)
        {
            var answered = keys.First(g => g.Key == key).Where(e => e.Answer == 202).Select(e => e.JobId).Distinct().ToList();
            if (answered.Count == 0)
            {
                continue;
            }

            acknowledgedKeys++;
            var inRedis = (string?)await storedJob;
            if (answered.Count > 1)
            {
                keyViolations.Add($"key {key}: 202 answers carry {answered.Count} job ids ({string.Join(", ", answered)})");
            }
            else if (inRedis != answered[0])
            {
                keyViolations.Add($"key {key}: answered {answered[0]}, Redis maps it to {inRedis ?? "nothing"}");
            }
        }

        // 8. Every crash-hint job was set aside as a poison job, not completed nor failed otherwise.
        var poisonViolations = new List<string>();
        var poison = jobs.Where(p => PoisonJobs.IsPoison(p.Value?.Request.Metadata)).ToList();
        foreach (var (id, job) in poison)
        {
            if (job!.Status != JobStatus.Failed || job.Error?.Type != PoisonJobs.ErrorType)
            {
                poisonViolations.Add($"{id}: a crash-hint job ended {job.Status} ({job.Error?.Type ?? "no error"}), not failed/{PoisonJobs.ErrorType}");
            }
        }

        var completed = jobs.Values.Count(j => j?.Status == JobStatus.Completed);
        return
        [
            new(1, "every acknowledged job exists and is final", jobs.Count, notFinal),
            new(2, "no job completed more than once; histories consistent; results never overwritten", completed + failedIds.Count, completedTwice),
            new(3, $"attempts <= {options.MaxAttempts} (+ uncharged attempts); every failed job is dead-lettered", jobs.Count, overAttempts),
            new(4, "every idempotency key maps to exactly one job", acknowledgedKeys, keyViolations),
            new(8, $"every crash-hint job failed as {PoisonJobs.ErrorType}", poison.Count, poisonViolations),
        ];
    }

    /// <summary>
    /// Answers other than 202, a 503 (Redis away, or at its memory limit: storage-full), or no answer
    /// at all, are bugs (a 500, a 4xx to a valid request).
    /// </summary>
    public InvariantResult CheckAnswers()
    {
        var wrong = history.Events.Where(e => e.Answer is not (0 or 202 or 503))
            .Select(e => $"{e.Operation} key {e.IdempotencyKey ?? "-"} try {e.Try}: {e.Answer} {e.Error}")
            .ToList();
        return new(6, "every request answered 202, 503 (Redis away or full) or not at all (API down)", history.Events.Count, wrong);
    }

    /// <summary>Every process the run started is gone, and no child of this process is left.</summary>
    public static InvariantResult CheckProcesses(IReadOnlyList<int> startedPids)
    {
        var left = new List<string>();
        var self = Environment.ProcessId;
        foreach (var pid in startedPids)
        {
            if (ParentOf(pid) == self)
            {
                left.Add($"pid {pid} ({Describe(pid)}) still running");
            }
        }

        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), out var pid) && !startedPids.Contains(pid) && ParentOf(pid) == self)
            {
                left.Add($"pid {pid} ({Describe(pid)}), a child of the chaos run, still running");
            }
        }

        return new(5, "no process left behind", startedPids.Count, left);
    }

    private static IEnumerable<string> HistoryProblems(Job job)
    {
        var succeeded = job.History.Count(a => a.Outcome == AttemptOutcome.Succeeded);
        if (job.History.Count != job.Attempts)
        {
            yield return $"{job.Attempts} attempts counted, {job.History.Count} in the history";
        }

        for (var i = 0; i < job.History.Count; i++)
        {
            if (job.History[i].Attempt != i + 1)
            {
                yield return $"history entry {i + 1} is numbered {job.History[i].Attempt}";
            }

            if (job.History[i].Outcome is null)
            {
                yield return $"attempt {i + 1} of a final job has no outcome";
            }
        }

        if (job.Status == JobStatus.Completed)
        {
            if (succeeded != 1)
            {
                yield return $"completed with {succeeded} succeeded attempts";
            }
            else if (job.History[^1].Outcome != AttemptOutcome.Succeeded)
            {
                yield return "completed, but the succeeded attempt is not the last";
            }
            else if (job.History[^1].EndedAt != job.CompletedAt)
            {
                yield return $"completedAt {job.CompletedAt:O} differs from the succeeded attempt's end {job.History[^1].EndedAt:O}";
            }

            if (job.Result is null)
            {
                yield return "completed without a result";
            }
        }
        else if (succeeded != 0 || job.Result is not null)
        {
            yield return $"failed, yet {succeeded} attempt(s) succeeded{(job.Result is null ? "" : " and a result is stored")}";
        }
    }

    private static int? ParentOf(int pid)
    {
        try
        {
            // /proc/<pid>/stat: "pid (comm) state ppid …"; comm may hold spaces, so read after the last ')'.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[0] == "Z" ? null : int.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private static string Describe(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ').Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "?";
        }
    }
}
