using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.Worker.Llm;

namespace Orchestrator.Worker.Streaming;

/// <summary>
/// Makes the <see cref="DeltaWriter"/> of each attempt (none when <c>Worker:DeltaInterval</c> is 0)
/// and flushes them all from one timer, every <c>Worker:DeltaInterval</c>. A timer per attempt
/// meant 10,000 timers firing ten times a second with 10,000 calls in flight (S6): the timer queue
/// alone was ~8 % of the worker's CPU, mostly for writers with nothing to write.
/// </summary>
internal sealed partial class DeltaWriters : IDisposable
{
    private readonly DeltaCommit _commit;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<DeltaWriter> _logger;
    // Enumerated without a snapshot (no lock taken) on every tick; a writer leaves when its call ends.
    private readonly ConcurrentDictionary<DeltaWriter, byte> _open = new();
    private readonly ITimer? _ticker;
    private int _ticking;

    public DeltaWriters(DeltaCommit commit, IOptions<WorkerOptions> options, TimeProvider timeProvider, ILogger<DeltaWriter> logger)
    {
        _commit = commit;
        _interval = options.Value.DeltaInterval;
        _timeProvider = timeProvider;
        _logger = logger;
        if (_interval > TimeSpan.Zero)
        {
            // Not in the flow of whatever made this singleton: each write names its attempt's span.
            using (ExecutionContext.SuppressFlow())
            {
                _ticker = timeProvider.CreateTimer(static s => ((DeltaWriters)s!).Tick(), this, _interval, _interval);
            }
        }
    }

    public DeltaWriter? Start(JobLease lease, int attempt, Activity? attemptSpan)
    {
        if (_ticker is null)
        {
            return null;
        }

        var writer = new DeltaWriter(this, _commit, lease, attempt, attemptSpan, _interval, _timeProvider, _logger);
        _open.TryAdd(writer, 0);
        return writer;
    }

    public void Dispose() => _ticker?.Dispose();

    internal void Closed(DeltaWriter writer) => _open.TryRemove(writer, out _);

    private void Tick()
    {
        // A tick that finds the previous one still going leaves the writers to it.
        if (Interlocked.Exchange(ref _ticking, 1) == 1)
        {
            return;
        }

        try
        {
            foreach (var (writer, _) in _open)
            {
                writer.Tick();
            }
        }
        catch (Exception e)
        {
            // A timer callback that throws would end the process; the next tick tries again.
            LogTickFailed(_logger, e);
        }
        finally
        {
            Volatile.Write(ref _ticking, 0);
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Flushing the attempts' streamed text failed; the next tick tries again")]
    private static partial void LogTickFailed(ILogger logger, Exception exception);
}

/// <summary>
/// Writes the text a provider streams during one attempt into the job's events
/// (<c>append-delta.lua</c>, through the worker's <see cref="DeltaCommit"/>), batched every
/// <c>Worker:DeltaInterval</c> (the <see cref="DeltaWriters"/>' tick) so a chatty stream costs one
/// append per interval, not one per token; one flush at a time per writer.
/// When the attempt's call ends (<see cref="CloseAsync"/>) what is left is written before the outcome
/// is recorded, or, after an answer, handed to the outcome, whose script appends it before the job's
/// final event: either way the deltas come first. A failed write keeps its batch (same number) for
/// the next flush: a re-send is recognised, never appended twice. Deltas are a view of the call in
/// progress, not the result: if Redis stays away past <see cref="MaxBuffered"/> characters the rest
/// of the attempt's text is dropped from the events (the result itself is stored whole).
/// </summary>
internal sealed partial class DeltaWriter : IDeltaSink
{
    /// <summary>Most characters held while Redis does not take them.</summary>
    public const int MaxBuffered = 1 << 20;

    /// <summary>The longest pause between writes while Redis keeps refusing them.</summary>
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);

    private readonly DeltaCommit _commit;
    private readonly JobLease _lease;
    private readonly int _attempt;
    private readonly ILogger _logger;
    private readonly DeltaWriters _writers;
    private readonly StringBuilder _buffer = new();
    private readonly Lock _gate = new();
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    // A flush runs on the shared timer, outside the attempt's flow: its write names the span itself.
    private readonly Activity? _attemptSpan;
    private (int Batch, string Text)? _pending;
    private int _batches;
    // The flush a tick started, until it is done (guarded by _gate); none starts once closed.
    private TaskCompletionSource? _flushing;
    private bool _closed;

    // Failed writes in a row, and when the next may be tried: an outage costs a few calls, not one
    // per interval per streaming job (and one log line per outage, not one per call).
    private int _failures;
    private long _retryAt;

    internal DeltaWriter(DeltaWriters writers, DeltaCommit commit, JobLease lease, int attempt, Activity? attemptSpan, TimeSpan interval, TimeProvider timeProvider, ILogger logger)
    {
        _writers = writers;
        _attemptSpan = attemptSpan;
        _commit = commit;
        _lease = lease;
        _attempt = attempt;
        _logger = logger;
        _interval = interval;
        _time = timeProvider;
    }

    /// <inheritdoc />
    public void Append(string text)
    {
        lock (_gate)
        {
            if (_buffer.Length + text.Length <= MaxBuffered)
            {
                _buffer.Append(text);
            }
        }
    }

    /// <summary>
    /// Ends the writes when the attempt's call is over. A batch whose write failed is tried once more
    /// now, whatever the backoff says; then the text that came after it is written too, or, when
    /// <paramref name="handOver"/>, returned (null when there is none) for the attempt's outcome to
    /// carry (<see cref="AttemptFinish.LastDelta"/>): a streaming job's end is then one script call.
    /// </summary>
    public async ValueTask<string?> CloseAsync(bool handOver)
    {
        Task? flushing;
        lock (_gate)
        {
            _closed = true;
            flushing = _flushing?.Task;
        }

        _writers.Closed(this);
        if (flushing is not null)
        {
            await flushing.ConfigureAwait(false);
        }

        if (!handOver || _pending is not null)
        {
            await FlushAsync(force: true).ConfigureAwait(false);
        }

        if (!handOver)
        {
            await FlushAsync(force: true).ConfigureAwait(false);
            return null;
        }

        lock (_gate)
        {
            var rest = _buffer.Length == 0 ? null : _buffer.ToString();
            _buffer.Clear();
            return rest;
        }
    }

    /// <summary>
    /// The <see cref="DeltaWriters"/>' tick: starts a flush when there is text to write and none is
    /// in flight (a slow write is not overtaken: its batch number would be reused).
    /// </summary>
    internal void Tick()
    {
        TaskCompletionSource flushing;
        lock (_gate)
        {
            if (_closed || _flushing is { Task.IsCompleted: false } || (_buffer.Length == 0 && _pending is null))
            {
                return;
            }

            _flushing = flushing = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        _ = FlushThenSignalAsync(flushing);
    }

    private async Task FlushThenSignalAsync(TaskCompletionSource flushing)
    {
        try
        {
            await FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            flushing.TrySetResult();
        }
    }

    private async Task FlushAsync(bool force = false)
    {
        if (!force && _failures > 0 && _time.GetTimestamp() < _retryAt)
        {
            return;
        }

        if (_pending is null)
        {
            lock (_gate)
            {
                if (_buffer.Length == 0)
                {
                    return;
                }

                _pending = (++_batches, _buffer.ToString());
                _buffer.Clear();
            }
        }

        var (batch, text) = _pending.Value;
        try
        {
            await _commit.WriteAsync(new DeltaAppend(_lease, _attempt, batch, text), _attemptSpan).ConfigureAwait(false);
            _pending = null;
            _failures = 0;
        }
        catch (Exception e)
        {
            // Whatever the failure (a transient one, or one the client reports oddly mid-failover, such
            // as a cancelled task), a write of deltas never fails the attempt: the text is a view of
            // the call in progress (the result is stored whole), kept and tried again.
            _failures++;
            var backoff = TimeSpan.FromTicks(Math.Min(_interval.Ticks << Math.Min(_failures, 10), MaxBackoff.Ticks));
            _retryAt = _time.GetTimestamp() + (long)(backoff.TotalSeconds * _time.TimestampFrequency);
            if (_failures == 1)
            {
                LogDeltaFailed(_logger, _lease.JobId, _attempt, e.GetType().Name, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt}: streamed text not written to its events yet ({ErrorType}: {Error}); kept, and tried again with backoff")]
    private static partial void LogDeltaFailed(ILogger logger, string jobId, int attempt, string errorType, string error);
}
