namespace Orchestrator.Worker.Processing;

/// <summary>
/// The worker's <c>Worker:Concurrency</c> slots: at most that many jobs run an attempt at once. A job
/// takes one at its dispatch and gives it back in three cases:
/// <list type="bullet">
/// <item>When its attempt is over and its final outcome goes to the <see cref="OutcomeWriter"/>: the
/// slot goes back while the outcome is written, so the next dispatch waits out that write's round
/// trip beside it instead of after it (as a BullMQ worker fetches its next job in the call that
/// finishes the last). At most <paramref name="earlyLimit"/> jobs (one write's batch of outcomes, and
/// never more than <c>Concurrency</c>) are being written so; beyond that a job keeps its slot until
/// its outcome is written: an outcome behind a full batch waits more than one round trip anyway, and
/// a worker answering thousands of calls at once must not take as many new ones while it still holds
/// the answers.</item>
/// <item>While it waits in this worker for its next attempt (a retry delay or a deployment wait up to
/// <c>Worker:MaxInProcessDelay</c>), still under its lease: another job runs meanwhile, as a BullMQ
/// job in backoff leaves its worker's concurrency. It takes a slot again before its next attempt
/// (<see cref="Slot.ReturnAsync"/>), in line with the dispatches waiting for one. Only an ordinary
/// job lends its slot, and it leaves its <see cref="Resilience.SoloGate"/> turn for the wait too,
/// taking the slot and then the turn again (<see cref="JobProcessor"/>). At most
/// <c>Concurrency</c> jobs wait so; beyond that a job waits holding its slot, so a worker holds at
/// most <c>Concurrency</c> waiting jobs beside the running ones.</item>
/// <item>When the job is done.</item>
/// </list>
/// </summary>
internal sealed class WorkerSlots(int concurrency, int earlyLimit) : IDisposable
{
    private readonly int _earlyLimit = Math.Min(concurrency, earlyLimit);
    private readonly int _waitLimit = concurrency;
    private readonly SemaphoreSlim _free = new(concurrency, concurrency);
    private int _writing;
    private int _waiting;

    /// <summary>Free slots now.</summary>
    public int Free => _free.CurrentCount;

    /// <summary>Jobs whose slot went back before their outcome was written, still being written.</summary>
    public int Writing => Volatile.Read(ref _writing);

    /// <summary>Jobs that gave their slot back to wait for their next attempt and have not taken one again.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Waits for a free slot, then takes every other free one too, up to <paramref name="max"/>.</summary>
    public async Task<int> TakeAsync(int max, CancellationToken cancellationToken)
    {
        await _free.WaitAsync(cancellationToken).ConfigureAwait(false);
        var taken = 1;
        while (taken < max && _free.Wait(0))
        {
            taken++;
        }

        return taken;
    }

    /// <summary>Gives back slots taken for jobs that never started (none dispatched, a failed claim).</summary>
    public void Return(int count)
    {
        if (count > 0)
        {
            _free.Release(count);
        }
    }

    /// <summary>The slot of one job that is starting; <see cref="Slot.Dispose"/> when the job is done.</summary>
    public Slot ForJob() => new(this);

    public void Dispose() => _free.Dispose();

    /// <summary>One job's slot. Not thread-safe: a job's steps run one after another.</summary>
    internal sealed class Slot(WorkerSlots slots) : IDisposable
    {
        private bool _early;
        private bool _waiting;
        private bool _returned;

        /// <summary>
        /// The job's attempt is over and its final outcome is being written: the slot goes back now,
        /// unless as many jobs as the early limit are being written already.
        /// </summary>
        public void OutcomeWriting()
        {
            if (_returned || _waiting)
            {
                return;
            }

            if (Interlocked.Increment(ref slots._writing) > slots._earlyLimit)
            {
                Interlocked.Decrement(ref slots._writing);
                return;
            }

            _early = true;
            _returned = true;
            slots._free.Release();
        }

        /// <summary>Whether the job gave its slot back for a wait and has not taken one again.</summary>
        public bool Lent => _waiting;

        /// <summary>
        /// The job waits for its next attempt: the slot goes back for the wait, unless as many jobs
        /// as <c>Concurrency</c> wait so already. <see cref="ReturnAsync"/> takes one again. True when it went back.
        /// </summary>
        public bool WaitStarting()
        {
            if (_returned || _waiting)
            {
                return false;
            }

            if (Interlocked.Increment(ref slots._waiting) > slots._waitLimit)
            {
                Interlocked.Decrement(ref slots._waiting);
                return false;
            }

            _waiting = true;
            slots._free.Release();
            return true;
        }

        /// <summary>Before an attempt: takes a slot again if the job gave its own back for a wait.</summary>
        public async ValueTask ReturnAsync(CancellationToken cancellationToken)
        {
            if (!_waiting)
            {
                return;
            }

            // Cancelled (a drain, a lost lease, the client's cancel): the job ends holding no slot. Checked
            // first: the worker cancels its jobs before it disposes the slots, never the other way round.
            cancellationToken.ThrowIfCancellationRequested();
            await slots._free.WaitAsync(cancellationToken).ConfigureAwait(false);
            _waiting = false;
            Interlocked.Decrement(ref slots._waiting);
        }

        public void Dispose()
        {
            if (_early)
            {
                _early = false;
                Interlocked.Decrement(ref slots._writing);
            }
            else if (_waiting)
            {
                // Ended during its wait: the slot went back when the wait began.
                _waiting = false;
                _returned = true;
                Interlocked.Decrement(ref slots._waiting);
            }
            else if (!_returned)
            {
                _returned = true;
                slots._free.Release();
            }
        }
    }
}
