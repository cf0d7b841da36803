using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.Worker.Telemetry;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Keeps the leases of every job this worker holds alive, renewing each every third of
/// <c>Worker:LeaseTimeout</c> (also while a job waits between attempts). A renewal that finds the
/// job claimed by another worker stops this worker's work on it.
/// </summary>
internal sealed class LeaseKeeper(
    JobStore store, IOptions<WorkerOptions> options, TimeProvider timeProvider, ILogger<LeaseKeeper> logger, ReclaimHold? reclaimHold = null)
{
    private const int RenewBatch = 256;

    private readonly ConcurrentDictionary<string, JobExecution> _held = new(StringComparer.Ordinal);

    // Cancels heard for jobs not held here, by job id, with when they were heard (OnCancelPublished).
    private readonly ConcurrentDictionary<string, long> _cancelsMissed = new(StringComparer.Ordinal);

    /// <summary>How long a cancel heard for a job not held here is remembered.</summary>
    internal static readonly TimeSpan CancelMemory = TimeSpan.FromSeconds(10);

    private const int MaxCancelsRemembered = 10_000;

    // Each partition's last renewal; one not yet answered is not sent again (RenewAllAsync).
    private readonly Task?[] _renewing = new Task?[store.Partitions];

    // A failed renewal logged once a round at most (half a round: a round's failures come together).
    private readonly LogThrottle _unavailableLines = new(timeProvider, options.Value.LeaseTimeout / 6);

    public int Count => _held.Count;

    public IEnumerable<JobExecution> Held => _held.Values;

    public void Track(JobExecution execution)
    {
        _held[execution.Lease.Key] = execution;
        // A cancel published between the claim's reply and this moment found nothing held here.
        if (_cancelsMissed.TryRemove(execution.Lease.JobId, out var heardAt) && timeProvider.GetElapsedTime(heardAt) <= CancelMemory)
        {
            Cancel(execution, "before its worker tracked it");
        }
    }

    public void Untrack(JobExecution execution) => _held.TryRemove(execution.Lease.Key, out _);

    public bool IsHeld(string deliveryKey) => _held.ContainsKey(deliveryKey);

    /// <summary>
    /// A client canceled <paramref name="jobId"/> (the cancel channel): aborts its attempt if this
    /// worker holds it. If not, the job is remembered for <see cref="CancelMemory"/>: its claim's
    /// reply may be on its way here (the claim made the job <c>processing</c>, the cancel flagged it
    /// and was published before the worker tracked it), and <see cref="Track"/> then cancels it at
    /// once. Whatever this misses, the next renewal finds flagged (<see cref="LeaseRenewal.CancelRequested"/>).
    /// </summary>
    public void OnCancelPublished(string jobId)
    {
        var found = false;
        foreach (var execution in _held.Values)
        {
            if (execution.Lease.JobId == jobId)
            {
                found = true;
                Cancel(execution, "on the cancel channel");
            }
        }

        if (!found)
        {
            RememberMissedCancel(jobId);
        }
    }

    private void RememberMissedCancel(string jobId)
    {
        // Every worker hears every cancel of the fleet: kept a few seconds, and at most so many.
        var now = timeProvider.GetTimestamp();
        if (_cancelsMissed.Count >= MaxCancelsRemembered)
        {
            foreach (var (id, at) in _cancelsMissed)
            {
                if (timeProvider.GetElapsedTime(at, now) > CancelMemory)
                {
                    _cancelsMissed.TryRemove(id, out _);
                }
            }

            if (_cancelsMissed.Count >= MaxCancelsRemembered)
            {
                return;
            }
        }

        _cancelsMissed[jobId] = now;
    }

    private void Cancel(JobExecution execution, string how)
    {
        if (!execution.CancelRequested)
        {
            // Heard on the cancel channel or at a renewal, outside the job's own flow: its scope again.
            using var scope = WorkerLog.JobScope(logger, execution.Job);
            WorkerLog.CancelingForClient(logger, execution.Lease.JobId, execution.Attempt, how, AttemptSpan.SubmissionTraceId(execution.Job));
            execution.RequestCancel();
        }
    }

    /// <summary>
    /// Renews every lease held, once (the worker's lease loop calls this every third of the lease):
    /// one renewal per partition, concurrently. A Redis failure skips that partition's round: if
    /// Redis is back before the leases lapse nothing was lost. A partition whose renewal is still
    /// unanswered after a third of the lease goes on waiting for it alone and is passed by until it
    /// answers: a master that does not answer must not hold the other partitions' renewals (they
    /// waited for its client timeout, and beyond the first 256 jobs were not renewed at all while it
    /// failed, so their leases lapsed and other workers ran them again).
    /// </summary>
    public async Task RenewAllAsync()
    {
        for (var p = 0; p < _renewing.Length; p++)
        {
            if (_renewing[p] is { IsFaulted: true } failed)
            {
                // Not a Redis failure (those are caught inside): the loop's supervisor hears of it.
                _renewing[p] = null;
                await failed.ConfigureAwait(false);
            }
        }

        var started = new List<(int Partition, Task Renewal)>();
        foreach (var partition in _held.Values.GroupBy(e => store.Keys.ForJob(e.Lease.JobId).Partition))
        {
            if (_renewing[partition.Key] is { IsCompleted: false })
            {
                continue;
            }

            var renewal = RenewPartitionAsync([.. partition]);
            _renewing[partition.Key] = renewal;
            started.Add((partition.Key, renewal));
        }

        var timedOut = false;
        try
        {
            await Task.WhenAll(started.Select(s => s.Renewal)).WaitAsync(options.Value.LeaseTimeout / 3, timeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The partitions still unanswered are passed by until they answer (above).
            timedOut = true;
        }
        finally
        {
            // Those that ended here are done with, but a fault not thrown just now (the wait timed out
            // on another partition) is kept for the next round to throw.
            foreach (var (partition, renewal) in started)
            {
                if (renewal.IsCompletedSuccessfully || (renewal.IsCompleted && !timedOut))
                {
                    _renewing[partition] = null;
                }
            }
        }
    }

    private async Task RenewPartitionAsync(JobExecution[] held)
    {
        // One script call per chunk of leases, not one per job: 500 jobs in flight are 2 calls.
        foreach (var chunk in held.Chunk(RenewBatch))
        {
            LeaseRenewal[] renewed;
            try
            {
                renewed = await store.RenewLeasesAsync([.. chunk.Select(e => e.Lease)]).ConfigureAwait(false);
            }
            catch (Exception e) when (RedisFailure.IsTransient(e))
            {
                // Keep the jobs: if Redis is back before the leases lapse nothing was lost; if not,
                // other workers reclaim them and this worker's next writes are rejected.
                // One line a round, not one per partition: with all of Redis away, every partition fails.
                if (_unavailableLines.ShouldLog(out _))
                {
                    WorkerLog.RedisUnavailable(logger, "lease renewal", options.Value.LeaseTimeout / 3, e);
                }

                if (RedisFailure.Classify(e) is not RedisFailureKind.OutOfMemory)
                {
                    // Others' renewals likely failed too: their leases may look lapsed when Redis is back.
                    reclaimHold?.Stalled();
                }

                return;
            }

            for (var i = 0; i < chunk.Length; i++)
            {
                // An outcome being written may have just ended the lease itself: that write decides.
                if (renewed[i] == LeaseRenewal.CancelRequested)
                {
                    Cancel(chunk[i], "found at its lease's renewal");
                }
                else if (renewed[i] == LeaseRenewal.Lost && !chunk[i].RecordingOutcome)
                {
                    using var scope = WorkerLog.JobScope(logger, chunk[i].Job);
                    WorkerLog.LeaseLostAtRenewal(logger, chunk[i].Lease.JobId, chunk[i].Attempt, AttemptSpan.SubmissionTraceId(chunk[i].Job));
                    chunk[i].OnLeaseLost();
                    Untrack(chunk[i]);
                }
            }
        }
    }
}
