using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Keeps the leases of every job this worker holds alive, renewing each every third of
/// <c>Worker:LeaseTimeout</c> (also while a job waits between attempts). A renewal that finds the
/// job claimed by another worker stops this worker's work on it.
/// </summary>
internal sealed class LeaseKeeper(JobStore store, IOptions<WorkerOptions> options, TimeProvider timeProvider, ILogger<LeaseKeeper> logger)
{
    private readonly ConcurrentDictionary<string, JobExecution> _held = new(StringComparer.Ordinal);

    public int Count => _held.Count;

    public IEnumerable<JobExecution> Held => _held.Values;

    public void Track(JobExecution execution) => _held[execution.Lease.EntryId] = execution;

    public void Untrack(JobExecution execution) => _held.TryRemove(execution.Lease.EntryId, out _);

    public bool IsHeld(string entryId) => _held.ContainsKey(entryId);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(options.Value.LeaseTimeout / 3, timeProvider);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                await RenewAllAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    internal async Task RenewAllAsync()
    {
        var renewals = _held.Values.Select(async execution =>
        {
            try
            {
                if (!await store.RenewLeaseAsync(execution.Lease).ConfigureAwait(false))
                {
                    WorkerLog.LeaseLost(logger, execution.Lease.JobId, execution.Attempt);
                    execution.OnLeaseLost();
                    Untrack(execution);
                }
            }
            catch (Exception e) when (RedisRetry.IsUnavailable(e))
            {
                // Keep the job: if Redis is back before the lease lapses nothing was lost; if not,
                // another worker reclaims it and this worker's next write is rejected.
                WorkerLog.RedisUnavailable(logger, "lease renewal", options.Value.LeaseTimeout / 3, e);
            }
        });
        await Task.WhenAll(renewals).ConfigureAwait(false);
    }
}
