using System.Diagnostics;

namespace Orchestrator.Llm.Simulation;

/// <summary>
/// Ends simulated calls on time. .NET timers fire up to a few milliseconds late on Linux (they run
/// on a coarse clock, then wait for a thread-pool thread): in the worker a 100 ms <c>Task.Delay</c>
/// took 101.0 ms at the median and 103.7 ms at p99 (measured at 500 calls/s). A simulated provider
/// that adds that to every call makes benchmarks charge it to the orchestrator. One background
/// thread sleeps until the earliest deadline (to the nearest millisecond) and completes every
/// wait that is due.
/// </summary>
internal sealed class LatencyClock
{
    private static readonly long HalfMillisecond = Stopwatch.Frequency / 2000;

    private readonly PriorityQueue<TaskCompletionSource, long> _due = new();
    // A monitor, not a Lock: the clock sleeps with Monitor.Wait and is woken with Monitor.Pulse.
    private readonly object _gate = new();

    /// <summary>A clock of its own (tests); the worker uses <see cref="Shared"/>.</summary>
    internal LatencyClock()
    {
        new Thread(Run) { IsBackground = true, Name = "Simulator latency clock" }.Start();
    }

    /// <summary>The process's clock, started on first use.</summary>
    public static LatencyClock Shared => LazyShared.Value;

    private static Lazy<LatencyClock> LazyShared { get; } = new(() => new LatencyClock());

    /// <summary>Waits queued and not yet due (a cancelled wait leaves the queue at once).</summary>
    internal int Pending
    {
        get
        {
            lock (_gate)
            {
                return _due.Count;
            }
        }
    }

    public Task WaitAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        // Continuations go to the thread pool: the clock thread only keeps time.
        var wait = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var deadline = Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);
        lock (_gate)
        {
            _due.Enqueue(wait, deadline);
            if (ReferenceEquals(_due.Peek(), wait))
            {
                // A new earliest deadline: wake the clock to sleep for less.
                Monitor.Pulse(_gate);
            }
        }

        if (!cancellationToken.CanBeCanceled)
        {
            return wait.Task;
        }

        // A cancelled wait leaves the queue at once: a long wait cancelled early (an attempt timed
        // out, a shutdown) must not stay queued, holding its task, until its deadline.
        var registration = cancellationToken.Register(static state =>
        {
            var (clock, wait, token) = ((LatencyClock, TaskCompletionSource, CancellationToken))state!;
            lock (clock._gate)
            {
                clock._due.Remove(wait, out _, out _);
            }

            wait.TrySetCanceled(token);
        }, (this, wait, cancellationToken));
        _ = wait.Task.ContinueWith(static (_, r) => ((CancellationTokenRegistration)r!).Dispose(), registration, CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return wait.Task;
    }

    private void Run()
    {
        lock (_gate)
        {
            while (true)
            {
                var now = Stopwatch.GetTimestamp();
                while (_due.TryPeek(out var wait, out var deadline) && deadline - now <= HalfMillisecond)
                {
                    _due.Dequeue();
                    wait.TrySetResult();
                }

                if (_due.TryPeek(out _, out var next))
                {
                    Monitor.Wait(_gate, Math.Max(1, (int)Math.Round((next - now) * 1000.0 / Stopwatch.Frequency)));
                }
                else
                {
                    Monitor.Wait(_gate);
                }
            }
        }
    }
}
