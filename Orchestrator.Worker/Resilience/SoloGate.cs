namespace Orchestrator.Worker.Resilience;

/// <summary>
/// Poison isolation in the worker: a suspect (a job taken over from a worker that died mid-attempt,
/// see <see cref="Orchestrator.Jobs.Job.Suspect"/>) runs alone. It waits until the jobs already
/// running here are done; meanwhile and while it runs, no other job starts and the worker takes no
/// new work (<see cref="SuspectHeld"/>). So when a suspect crashes its worker, the crash is its own
/// (claim.lua counts it towards <c>Worker:MaxCrashes</c>) and no neighbour is lost with it.
/// </summary>
internal sealed class SoloGate
{
    private readonly Lock _gate = new();
    private int _shared;
    private int _suspects;
    private bool _aloneRunning;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether a suspect is held (waiting or running): the worker then fetches nothing new.</summary>
    public bool SuspectHeld => Volatile.Read(ref _suspects) > 0;

    /// <summary>
    /// Waits for the job's turn: a suspect (<paramref name="alone"/>) until nothing else runs, any
    /// other job while a suspect is held. Dispose the turn when the job is done.
    /// </summary>
    public async Task<IDisposable> EnterAsync(bool alone, CancellationToken cancellationToken)
    {
        if (alone)
        {
            Interlocked.Increment(ref _suspects);
        }

        try
        {
            while (true)
            {
                Task changed;
                lock (_gate)
                {
                    if (!_aloneRunning && (alone ? _shared == 0 : Volatile.Read(ref _suspects) == 0))
                    {
                        if (alone)
                        {
                            _aloneRunning = true;
                        }
                        else
                        {
                            _shared++;
                        }

                        return new Turn(this, alone);
                    }

                    changed = _changed.Task;
                }

                await changed.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch when (alone)
        {
            Leave(alone, entered: false);
            throw;
        }
    }

    private void Leave(bool alone, bool entered)
    {
        TaskCompletionSource changed;
        lock (_gate)
        {
            if (alone)
            {
                _aloneRunning &= !entered;
                Interlocked.Decrement(ref _suspects);
            }
            else
            {
                _shared--;
            }

            changed = _changed;
            _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        changed.SetResult();
    }

    private sealed class Turn(SoloGate gate, bool alone) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                gate.Leave(alone, entered: true);
            }
        }
    }
}
