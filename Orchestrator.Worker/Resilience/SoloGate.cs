using Orchestrator.Jobs;

namespace Orchestrator.Worker.Resilience;

/// <summary>
/// Poison isolation in the worker: a suspect (a job taken over from a worker that died mid-attempt,
/// see <see cref="Orchestrator.Jobs.Job.Suspect"/>) runs apart from ordinary jobs. Suspects wait
/// until the ordinary jobs already running here are done; meanwhile and while they run, no ordinary
/// job starts and the worker takes no new work (<see cref="SuspectHeld"/>). Then the suspects
/// waiting take their turn, in the order they were held: one of <see cref="Isolation.Alone"/> by
/// itself, or every <see cref="Isolation.Group"/> one waiting, together; a suspect held during a
/// turn waits for the next. So a dead worker's jobs run again in one go, and a crash during a turn
/// of one is that job's own (<see cref="Turn.Alone"/>: claim.lua counts it towards
/// <c>Worker:MaxCrashes</c>) with no neighbour lost with it.
/// </summary>
internal sealed class SoloGate
{
    private readonly Lock _gate = new();
    private readonly List<Ticket> _waiting = [];
    private int _ordinary;
    private int _turnSize;
    private int _held;
    private TaskCompletionSource _cleared = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>How apart a job runs (claim.lua sets <c>suspect</c>).</summary>
    public static Isolation IsolationOf(Job job) =>
        !job.Suspect ? Isolation.None : job.SuspectAlone ? Isolation.Alone : Isolation.Group;

    /// <summary>Whether a suspect is held (waiting or running): the worker then fetches nothing new.</summary>
    public bool SuspectHeld => Volatile.Read(ref _held) > 0;

    /// <summary>
    /// Holds suspects in line for their turn, all at once: a claim batch's suspects (a dead worker's
    /// jobs, taken over together) are in line before any of their tasks reaches the gate, so they
    /// share one turn. Returns a ticket per job, null for an ordinary one. Dispose each ticket when
    /// its job is done (it leaves the line, or its turn).
    /// </summary>
    public Ticket?[] Hold(IReadOnlyList<Isolation> isolations)
    {
        var tickets = new Ticket?[isolations.Count];
        lock (_gate)
        {
            for (var i = 0; i < tickets.Length; i++)
            {
                if (isolations[i] != Isolation.None)
                {
                    tickets[i] = new Ticket(this, isolations[i]);
                    _waiting.Add(tickets[i]!);
                    Volatile.Write(ref _held, _held + 1);
                }
            }

            Admit();
        }

        return tickets;
    }

    /// <summary>Waits for a job's turn; dispose the turn when the job is done.</summary>
    public async Task<Turn> EnterAsync(Isolation isolation, CancellationToken cancellationToken)
    {
        if (isolation != Isolation.None)
        {
            return await Hold([isolation])[0]!.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        while (true)
        {
            Task cleared;
            lock (_gate)
            {
                if (_held == 0)
                {
                    _ordinary++;
                    return new Turn(this, suspect: false, alone: false);
                }

                cleared = _cleared.Task;
            }

            await cleared.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Under the lock: starts the next suspects' turn when nothing runs.</summary>
    private void Admit()
    {
        if (_ordinary > 0 || _turnSize > 0 || _waiting.Count == 0)
        {
            return;
        }

        var turn = _waiting[0].Isolation == Isolation.Alone
            ? [_waiting[0]]
            : _waiting.FindAll(static w => w.Isolation == Isolation.Group);
        _turnSize = turn.Count;
        foreach (var ticket in turn)
        {
            _waiting.Remove(ticket);
            // Continuations run asynchronously: nothing runs under this lock.
            ticket.Admitted.SetResult(new Turn(this, suspect: true, alone: turn.Count == 1));
        }
    }

    /// <summary>Under the lock: one suspect less held. Returns the signal to set for the ordinary jobs waiting, when it was the last.</summary>
    private TaskCompletionSource? Release()
    {
        Volatile.Write(ref _held, _held - 1);
        if (_held > 0)
        {
            Admit();
            return null;
        }

        var cleared = _cleared;
        _cleared = new(TaskCreationOptions.RunContinuationsAsynchronously);
        return cleared;
    }

    private void Leave(bool suspect)
    {
        TaskCompletionSource? cleared = null;
        lock (_gate)
        {
            if (suspect)
            {
                _turnSize--;
                cleared = Release();
            }
            else if (--_ordinary == 0 && _held > 0)
            {
                Admit();
            }
        }

        cleared?.SetResult();
    }

    /// <summary>Leaves the line if still in it; else ends the turn it was given (once: see <see cref="Turn.Dispose"/>).</summary>
    private void Drop(Ticket ticket)
    {
        TaskCompletionSource? cleared = null;
        lock (_gate)
        {
            if (_waiting.Remove(ticket))
            {
                cleared = Release();
            }
        }

        cleared?.SetResult();
        if (ticket.Admitted.Task.IsCompletedSuccessfully)
        {
            ticket.Admitted.Task.Result.Dispose();
        }
    }

    /// <summary>A suspect's place in line (<see cref="Hold"/>).</summary>
    public sealed class Ticket(SoloGate gate, Isolation isolation) : IDisposable
    {
        public Isolation Isolation { get; } = isolation;

        internal TaskCompletionSource<Turn> Admitted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Waits for the turn. Canceled, the ticket leaves the line (or the turn it was just given).</summary>
        public async Task<Turn> WaitAsync(CancellationToken cancellationToken)
        {
            try
            {
                return await Admitted.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Dispose();
                throw;
            }
        }

        public void Dispose() => gate.Drop(this);
    }

    /// <summary>A job's turn to run; disposing it ends the turn.</summary>
    public sealed class Turn(SoloGate gate, bool suspect, bool alone) : IDisposable
    {
        private int _disposed;

        /// <summary>Whether nothing else runs in this process during the turn: a suspect's turn of one.</summary>
        public bool Alone { get; } = alone;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                gate.Leave(suspect);
            }
        }
    }
}
