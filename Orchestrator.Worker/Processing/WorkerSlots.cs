namespace Orchestrator.Worker.Processing;

/// <summary>
/// The worker's <c>Worker:Concurrency</c> slots. A job holds one from its dispatch until its attempt
/// is over: once the LLM has answered (or the job failed or was canceled for good) and its final
/// outcome goes to the <see cref="OutcomeWriter"/>, the slot goes back while the outcome is written,
/// so the next dispatch waits out that write's round trip beside it instead of after it (as a
/// BullMQ worker fetches its next job in the call that finishes the last). At most
/// <paramref name="earlyLimit"/> jobs (one write's batch of outcomes, and never more than
/// <c>Concurrency</c>) are being written after giving their slot back; beyond that a job keeps its
/// slot until its outcome is written: an outcome behind a full batch waits more than one round trip
/// anyway, and a worker answering thousands of calls at once must not take as many new ones while
/// it still holds the answers. So a worker runs at most <c>Concurrency</c> jobs and holds at most
/// <paramref name="earlyLimit"/> more (answered, their outcomes on the way to Redis).
/// </summary>
internal sealed class WorkerSlots(int concurrency, int earlyLimit) : IDisposable
{
    private readonly int _earlyLimit = Math.Min(concurrency, earlyLimit);
    private readonly SemaphoreSlim _free = new(concurrency, concurrency);
    private int _writing;

    /// <summary>Free slots now.</summary>
    public int Free => _free.CurrentCount;

    /// <summary>Jobs whose slot went back before their outcome was written, still being written.</summary>
    public int Writing => Volatile.Read(ref _writing);

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
        private bool _returned;

        /// <summary>
        /// The job's attempt is over and its final outcome is being written: the slot goes back now,
        /// unless as many jobs as the early limit are being written already.
        /// </summary>
        public void OutcomeWriting()
        {
            if (_returned)
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

        public void Dispose()
        {
            if (_early)
            {
                _early = false;
                Interlocked.Decrement(ref slots._writing);
            }
            else if (!_returned)
            {
                _returned = true;
                slots._free.Release();
            }
        }
    }
}
