using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.Worker.Llm;

namespace Orchestrator.Worker.Streaming;

/// <summary>Makes the <see cref="DeltaWriter"/> of each attempt (none when <c>Worker:DeltaInterval</c> is 0).</summary>
internal sealed class DeltaWriters(DeltaCommit commit, IOptions<WorkerOptions> options, TimeProvider timeProvider, ILogger<DeltaWriter> logger)
{
    public DeltaWriter? Start(JobLease lease, int attempt) =>
        options.Value.DeltaInterval > TimeSpan.Zero ? new DeltaWriter(commit, lease, attempt, options.Value.DeltaInterval, timeProvider, logger) : null;
}

/// <summary>
/// Writes the text a provider streams during one attempt into the job's events stream
/// (<c>append-delta.lua</c>, through the worker's <see cref="DeltaCommit"/>), batched every
/// <c>Worker:DeltaInterval</c> so a chatty stream costs one append per interval, not one per token.
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
    private readonly StringBuilder _buffer = new();
    private readonly Lock _gate = new();
    // Disposed to end the flush loop: a pending tick then answers false, where a cancelled token
    // would throw, and an exception with its stack trace per attempt cost ~8 % of a busy worker's CPU.
    private readonly PeriodicTimer _timer;
    private readonly Task _loop;
    private readonly TimeSpan _interval;
    private readonly TimeProvider _time;
    private (int Batch, string Text)? _pending;
    private int _batches;

    // Failed writes in a row, and when the next may be tried: an outage costs a few calls, not one
    // per interval per streaming job (and one log line per outage, not one per call).
    private int _failures;
    private long _retryAt;

    internal DeltaWriter(DeltaCommit commit, JobLease lease, int attempt, TimeSpan interval, TimeProvider timeProvider, ILogger logger)
    {
        _commit = commit;
        _lease = lease;
        _attempt = attempt;
        _logger = logger;
        _interval = interval;
        _time = timeProvider;
        _timer = new PeriodicTimer(interval, timeProvider);
        _loop = FlushLoopAsync();
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
        _timer.Dispose();
        await _loop.ConfigureAwait(false);
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

    // Ends when the attempt's call does (the timer is disposed); DisposeAsync writes the rest.
    private async Task FlushLoopAsync()
    {
        while (await _timer.WaitForNextTickAsync().ConfigureAwait(false))
        {
            await FlushAsync().ConfigureAwait(false);
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
            await _commit.WriteAsync(new DeltaAppend(_lease, _attempt, batch, text), Activity.Current).ConfigureAwait(false);
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
