using System.Collections.Concurrent;
using Orchestrator.ServiceDefaults;

namespace Orchestrator.Worker.Resilience;

/// <summary>
/// Keeps the worker's background loops (fetch, reclaim, claim, lease, outcome, stats) running
/// through any exception: each fault is logged with its type, counted in
/// <c>orchestrator.worker.loop.faults</c> (tag <see cref="OrchestratorTags.Loop"/>), and the loop
/// backs off and goes on. A worker process exits only when asked to. The count of consecutive
/// faults per loop feeds <see cref="WorkerLoopsHealthCheck"/>.
/// </summary>
/// <remarks>
/// Transient Redis failures do not reach here: calls go through the <c>redis</c> pipeline, which
/// waits them out. What reaches here is what nobody foresaw: a bug, a corrupt reply, a script error.
/// </remarks>
internal sealed partial class LoopSupervisor(OrchestratorMetrics metrics, TimeProvider timeProvider, ILogger<LoopSupervisor> logger)
{
    /// <summary>The first wait after a fault; it doubles up to <see cref="MaxBackoff"/> while faults continue.</summary>
    public static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait after a fault.</summary>
    public static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly ConcurrentDictionary<string, int> _consecutiveFaults = new(StringComparer.Ordinal);

    /// <summary>Faults in a row per loop (0 once a step succeeds).</summary>
    public IReadOnlyDictionary<string, int> ConsecutiveFaults => _consecutiveFaults;

    /// <summary>
    /// Runs <paramref name="step"/> again and again until <paramref name="cancellationToken"/> ends
    /// it; a step that throws is a fault (see the class), followed by a backoff.
    /// </summary>
    public async Task RunAsync(string loop, Func<CancellationToken, Task> step, CancellationToken cancellationToken)
    {
        var backoff = FirstBackoff;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await step(cancellationToken).ConfigureAwait(false);
                Succeeded(loop);
                backoff = FirstBackoff;
                continue;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (ObjectDisposedException) when (cancellationToken.IsCancellationRequested)
            {
                // The host is stopping and disposed what the step used (a start that failed, its port
                // taken, disposes at once): the end of the loop, not a fault.
                return;
            }
            catch (Exception e)
            {
                Fault(loop, e, backoff);
            }

            try
            {
                await Task.Delay(backoff, timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxBackoff.Ticks));
        }
    }

    /// <summary>Records a fault of <paramref name="loop"/> that its caller survives by itself (no backoff here).</summary>
    public void Fault(string loop, Exception exception, TimeSpan backoff = default)
    {
        var inARow = _consecutiveFaults.AddOrUpdate(loop, 1, static (_, n) => n + 1);
        metrics.LoopFaults.Add(1, new KeyValuePair<string, object?>(OrchestratorTags.Loop, loop));
        LogFault(logger, loop, exception.GetType().FullName ?? exception.GetType().Name, inARow, backoff, exception);
    }

    /// <summary>Records that a step of <paramref name="loop"/> went through: its faults in a row are over.</summary>
    public void Succeeded(string loop)
    {
        // Read first: most steps succeed, and a write per step would contend for nothing.
        if (_consecutiveFaults.TryGetValue(loop, out var faults) && faults != 0)
        {
            _consecutiveFaults[loop] = 0;
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Worker loop {Loop} failed ({ExceptionType}; {InARow} in a row); going on after {Backoff}")]
    private static partial void LogFault(ILogger logger, string loop, string exceptionType, int inARow, TimeSpan backoff, Exception exception);
}
