using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Worker;

/// <summary>How a worker process takes and holds jobs, bound from the <c>Worker</c> section.</summary>
public sealed class WorkerOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Worker";

    /// <summary>
    /// Jobs this process runs an attempt for at once (its slots). A job waiting here for its next
    /// attempt lends its slot to another job meanwhile (WorkerSlots). Default 32.
    /// </summary>
    [Range(1, 10_000)]
    public int Concurrency { get; set; } = 32;

    /// <summary>
    /// How long a job stays with a worker that stopped renewing its lease (crashed, paused,
    /// partitioned) before another worker reclaims it. Renewed every third of this. Default 30 s.
    /// </summary>
    public TimeSpan LeaseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often this worker looks for jobs whose lease has lapsed. Default 1 s.</summary>
    public TimeSpan ReclaimInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Crashes of its worker a job may cause while running alone before it is dead-lettered as
    /// <c>poison-job</c>. A job taken over from a worker that died mid-attempt is a suspect: the dead
    /// worker's jobs run again together, apart from ordinary jobs, and the jobs of such a group that
    /// dies too run alone (see <c>SoloGate</c>); only crashes while alone count. Default 2.
    /// </summary>
    [Range(1, 100)]
    public int MaxCrashes { get; set; } = 2;

    /// <summary>
    /// The longest wait a worker sits out holding the job (its slot and its lease): a retry delay or a
    /// wait for the deployment (429 cooldown, rate or concurrency limit, open circuit). A longer wait
    /// parks the job in the delayed set (<c>{orch}:delayed</c>), holding no slot and no lease, until
    /// a worker's promotion (every <see cref="ReclaimInterval"/>) puts it back in the queue. 0 parks
    /// every wait. Default 5 s.
    /// </summary>
    public TimeSpan MaxInProcessDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Longest an idle worker waits for the ready channel before it dispatches again (pub/sub may drop
    /// a wake-up; a tenant held by its token rate is looked at again after it). Default 1 s.
    /// </summary>
    public TimeSpan PollTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Port of the health endpoints (<c>/health</c>, <c>/alive</c>) on 127.0.0.1. Default 0: a free
    /// port, so several workers run on one host; with 0, URLs given the usual way
    /// (<c>ASPNETCORE_URLS</c>, as the AppHost does) are used instead. Kestrel logs the bound address.
    /// </summary>
    [Range(0, 65_535)]
    public int HealthPort { get; set; }

    /// <summary>
    /// How often text a provider streams during an attempt is written to the job's events (the
    /// <c>delta</c> events of <c>GET /jobs/{id}/events</c>), batched: one Redis call per interval
    /// per streaming job; what is left when the call ends goes with the attempt's outcome (after a
    /// failure, in one more call). 0 writes no deltas. Default 100 ms.
    /// </summary>
    public TimeSpan DeltaInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var leaseTimeoutIsValid = LeaseTimeout >= TimeSpan.FromSeconds(1) && LeaseTimeout <= TimeSpan.FromHours(1);
        if (!leaseTimeoutIsValid)
        {
            yield return new ValidationResult("Worker:LeaseTimeout must be from 00:00:01 to 01:00:00.", [nameof(LeaseTimeout)]);
        }

        // Against a lease timeout that is itself wrong, against its own bound: one mistake, one line.
        if (ReclaimInterval < TimeSpan.FromMilliseconds(10) || ReclaimInterval > (leaseTimeoutIsValid ? LeaseTimeout : TimeSpan.FromHours(1)))
        {
            yield return new ValidationResult("Worker:ReclaimInterval must be from 10 ms up to Worker:LeaseTimeout.", [nameof(ReclaimInterval)]);
        }

        if (DeltaInterval != TimeSpan.Zero && (DeltaInterval < TimeSpan.FromMilliseconds(10) || DeltaInterval > TimeSpan.FromSeconds(10)))
        {
            yield return new ValidationResult("Worker:DeltaInterval must be 0 (no deltas) or from 10 ms to 10 s.", [nameof(DeltaInterval)]);
        }

        if (MaxInProcessDelay < TimeSpan.Zero || MaxInProcessDelay > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Worker:MaxInProcessDelay must be from 00:00:00 to 01:00:00.", [nameof(MaxInProcessDelay)]);
        }

        if (PollTimeout < TimeSpan.FromMilliseconds(10) || PollTimeout > TimeSpan.FromSeconds(10))
        {
            yield return new ValidationResult("Worker:PollTimeout must be from 10 ms to 10 s.", [nameof(PollTimeout)]);
        }
    }
}
