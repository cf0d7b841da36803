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
internal sealed class LeaseKeeper(JobStore store, IOptions<WorkerOptions> options, ILogger<LeaseKeeper> logger)
{
    private const int RenewBatch = 256;

    private readonly ConcurrentDictionary<string, JobExecution> _held = new(StringComparer.Ordinal);

    public int Count => _held.Count;

    public IEnumerable<JobExecution> Held => _held.Values;

    public void Track(JobExecution execution) => _held[execution.Lease.Key] = execution;

    public void Untrack(JobExecution execution) => _held.TryRemove(execution.Lease.Key, out _);

    public bool IsHeld(string deliveryKey) => _held.ContainsKey(deliveryKey);

    /// <summary>
    /// Renews every lease held, once (the worker's lease loop calls this every third of the lease).
    /// A Redis failure skips this round: if Redis is back before the leases lapse nothing was lost.
    /// </summary>
    public async Task RenewAllAsync()
    {
        // One script call per chunk of leases, not one per job: 500 jobs in flight are 2 calls.
        foreach (var chunk in _held.Values.Chunk(RenewBatch))
        {
            bool[] renewed;
            try
            {
                renewed = await store.RenewLeasesAsync([.. chunk.Select(e => e.Lease)]).ConfigureAwait(false);
            }
            catch (Exception e) when (RedisFailure.IsTransient(e))
            {
                // Keep the jobs: if Redis is back before the leases lapse nothing was lost; if not,
                // other workers reclaim them and this worker's next writes are rejected.
                WorkerLog.RedisUnavailable(logger, "lease renewal", options.Value.LeaseTimeout / 3, e);
                return;
            }

            for (var i = 0; i < chunk.Length; i++)
            {
                // An outcome being written may have just ended the lease itself: that write decides.
                if (!renewed[i] && !chunk[i].RecordingOutcome)
                {
                    WorkerLog.LeaseLostAtRenewal(logger, chunk[i].Lease.JobId, chunk[i].Attempt, AttemptSpan.SubmissionTraceId(chunk[i].Job));
                    chunk[i].OnLeaseLost();
                    Untrack(chunk[i]);
                }
            }
        }
    }
}
