using System.Diagnostics;
using Orchestrator.Jobs;
using Orchestrator.Worker.Resilience;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// One job held by this worker, as state only (what to do with it is <see cref="JobProcessor"/>'s):
/// its lease, the attempt running, and the token that stops work on it (lease lost, shutdown
/// hand-off, or the host's hard stop).
/// </summary>
internal sealed class JobExecution : IDisposable
{
    private readonly CancellationTokenSource _cancellation;
    private readonly Lock _gate = new();
    private bool _inAttempt;
    private bool _draining;
    private int _startedAttempt;
    private bool _recordingOutcome;

    public JobExecution(JobLease lease, Job job, CancellationToken hardStop)
    {
        Lease = lease;
        Job = job;
        // The job's own budget, fixed when it was submitted (claim.lua enforces the same number),
        // plus the attempts lost beside a crashing job, which are not charged to it.
        MaxAttempts = (job.MaxAttempts ?? 1) + job.UnchargedAttempts;
        Attempt = job.Attempts;
        // The waits recorded when the job was deferred: the bound Llm:MaxRateLimitWait is the job's.
        DeploymentWait = job.RateLimitWait;
        Booking = BookingOf(job);
        _cancellation = CancellationTokenSource.CreateLinkedTokenSource(hardStop);
    }

    public JobLease Lease { get; }

    /// <summary>The job's <c>Worker:Concurrency</c> slot (null where no worker loop runs the job).</summary>
    public WorkerSlots.Slot? Slot { get; init; }

    /// <summary>
    /// An ordinary job's turn (<see cref="SoloGate"/>) while it holds one; null for a suspect, and
    /// while an ordinary job waits for its next attempt with its slot lent (JobProcessor).
    /// </summary>
    public SoloGate.Turn? OrdinaryTurn { get; set; }

    /// <summary>
    /// A suspect's turn apart (<see cref="SoloGate"/>) until its first attempt here ends: a retry
    /// recorded, it is an ordinary job (finish-attempt.lua drops <c>suspect</c>), and waits as one.
    /// </summary>
    public SoloGate.Turn? SuspectTurn { get; set; }

    public Job Job { get; }

    public int Attempt { get; set; }

    /// <summary>Text the answered attempt streamed that is not in the job's events yet (written with its outcome).</summary>
    public string? LastDelta { get; set; }

    public int MaxAttempts { get; }

    /// <summary>
    /// Whether nothing else runs in this process during the job's turn (a suspect's turn of one, see
    /// <see cref="SoloGate"/>): its attempts are recorded as alone, and a crash during one is its own.
    /// </summary>
    public bool Alone { get; set; }

    /// <summary>Whether this worker took the job over from one whose lease lapsed.</summary>
    public bool Reclaimed { get; init; }

    /// <summary>Set when a renewal or a write found that another worker holds the job now.</summary>
    public bool LeaseLost { get; private set; }

    /// <summary>Set once the job waits in the delayed set: this worker holds it no longer and hands nothing back.</summary>
    public bool Deferred { get; private set; }

    /// <summary>The span of the attempt running (or just ended), so the outcome lands on it.</summary>
    public Activity? AttemptActivity { get; set; }

    public long AttemptStartedTimestamp { get; set; }

    /// <summary>
    /// Set while the attempt's outcome is being written. A renewal that finds the lease gone then
    /// proves nothing: the write itself may have ended the lease (a final outcome drops it), and if
    /// another worker holds the job the write is refused and says so.
    /// </summary>
    public bool RecordingOutcome
    {
        get => Volatile.Read(ref _recordingOutcome);
        set => Volatile.Write(ref _recordingOutcome, value);
    }

    public CancellationToken Token => _cancellation.Token;

    /// <summary>Time this job has waited for deployments so far (429 cooldowns, capacity, open circuits).</summary>
    public TimeSpan DeploymentWait { get; private set; }

    /// <summary>
    /// The slot the job's last wait booked with its deployment, presented by its next call; set by
    /// each wait, dropped by an attempt's failure (a booking serves one call).
    /// </summary>
    public Llm.DeploymentBooking? Booking { get; set; }

    /// <summary>
    /// The booking a deferral kept in the job (<c>&lt;attempt&gt;:&lt;slot&gt;:&lt;provider&gt;</c>) for the attempt
    /// it took back: good while that attempt is the next to run, or the one the claim started. Once
    /// an attempt has run on it, it is spent (a retry's attempt is a later one).
    /// </summary>
    private static Llm.DeploymentBooking? BookingOf(Job job) =>
        job.Booking?.Split(':', 3) is [var attempt, var slot, var provider]
        && int.TryParse(attempt, System.Globalization.CultureInfo.InvariantCulture, out var n)
        && (job.Status == JobStatus.Processing ? job.Attempts == n : job.Attempts == n - 1)
            ? new Llm.DeploymentBooking(provider, slot)
            : null;

    /// <summary>Set while the attempt waits for its deployment: the next run resumes it instead of starting one.</summary>
    public bool ResumeAttempt { get; set; }

    /// <summary>The attempt waits <paramref name="delay"/> for its deployment and then runs on, not spent.</summary>
    public void WaitForDeployment(TimeSpan delay)
    {
        DeploymentWait += delay;
        ResumeAttempt = true;
    }

    /// <summary>The job waits in the delayed set now: stop this worker's work on it (nothing to hand back).</summary>
    public void OnDeferred()
    {
        Deferred = true;
        Cancel();
    }

    /// <summary>Whether the claim started an attempt that has not run yet.</summary>
    public bool HasStartedAttempt => Volatile.Read(ref _startedAttempt) > 0;

    /// <summary>
    /// Keeps the attempt the claim started for the first run of the pipeline. It is recorded
    /// already, so it counts as running: a drain lets it finish instead of handing the job back.
    /// </summary>
    public void HoldStartedAttempt(int attempt)
    {
        lock (_gate)
        {
            _startedAttempt = attempt;
            _inAttempt = true;
        }
    }

    /// <summary>The attempt the claim started, once (later attempts start on their own); null when none.</summary>
    public int? TakeStartedAttempt()
    {
        var attempt = Interlocked.Exchange(ref _startedAttempt, 0);
        return attempt > 0 ? attempt : null;
    }

    /// <summary>Marks the LLM call as running: a shutdown lets it finish instead of cancelling it.</summary>
    public void EnterAttempt()
    {
        lock (_gate)
        {
            _inAttempt = true;
        }
    }

    /// <summary>Marks the LLM call as over; a pending shutdown now stops the job at its next wait.</summary>
    public void ExitAttempt()
    {
        lock (_gate)
        {
            _inAttempt = false;
        }
    }

    /// <summary>
    /// Shutdown began: a job waiting (for its first attempt or a retry) stops now and is handed
    /// back; a job mid-call finishes the call and stops after recording its outcome.
    /// </summary>
    public void BeginDrain()
    {
        lock (_gate)
        {
            _draining = true;
            if (!_inAttempt)
            {
                Cancel();
            }
        }
    }

    /// <summary>
    /// Stops the job if the worker drains, and says whether it did: called once an outcome is recorded
    /// and a wait would follow, and when a call failed for a passing reason (the failure then most
    /// likely the stop's own: a provider or sidecar stopped beside the worker, so the job is handed back
    /// with the attempt closed <c>released</c>, not charged).
    /// </summary>
    public bool StopIfDraining()
    {
        lock (_gate)
        {
            if (_draining)
            {
                Cancel();
            }

            return _draining;
        }
    }

    /// <summary>Set when a client canceled the job (<see cref="Cancellation.CancellationListener"/>): record it canceled, do not hand it back.</summary>
    public bool CancelRequested { get; private set; }

    /// <summary>A client canceled the job: stop now, whatever runs (the LLM call is aborted).</summary>
    public void RequestCancel()
    {
        CancelRequested = true;
        Cancel();
    }

    public void OnLeaseLost()
    {
        LeaseLost = true;
        Cancel();
    }

    public void Dispose() => _cancellation.Dispose();

    private void Cancel()
    {
        try
        {
            _cancellation.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The job finished meanwhile.
        }
    }
}
