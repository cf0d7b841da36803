namespace Orchestrator.Worker.Llm;

/// <summary>
/// Cancels a provider's call that sends nothing for <c>Llm:StreamIdleTimeout</c>: its token is the
/// call's, cancelled also when the attempt's is. Each chunk, and each read of the stream's bytes
/// (<see cref="StreamActivityPolicy"/>), only notes the time
/// (<see cref="Touch"/>); the timer, due at the earliest moment the call could have been silent that
/// long, looks then and sets itself again for the rest. Re-arming a timer at every chunk would take
/// the timer queue's lock for each streamed token (S6 streams half a million a second).
/// </summary>
internal sealed class StreamIdleTimer : IDisposable
{
    private readonly TimeSpan _limit;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _call;
    private readonly ITimer _timer;
    private long _lastHeard;
    private volatile bool _fired;

    public StreamIdleTimer(TimeSpan limit, TimeProvider time, CancellationToken attempt)
    {
        _limit = limit;
        _time = time;
        _call = CancellationTokenSource.CreateLinkedTokenSource(attempt);
        _lastHeard = time.GetTimestamp();
        _timer = time.CreateTimer(static s => ((StreamIdleTimer)s!).Check(), this, limit, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The call's token.</summary>
    public CancellationToken Token => _call.Token;

    /// <summary>Whether the call was cancelled for its silence.</summary>
    public bool Fired => _fired;

    /// <summary>Whether the provider sent any chunk.</summary>
    public bool Heard { get; private set; }

    /// <summary>Whether the provider's response headers came whole (<see cref="StreamActivityPolicy"/> saw its response).</summary>
    public bool Responded { get; set; }

    /// <summary>
    /// The timer of the call this flow is making, read by <see cref="StreamActivityPolicy"/> in the
    /// provider's pipeline, which the call's own arguments do not reach.
    /// </summary>
    public static StreamIdleTimer? Current
    {
        get => s_current.Value;
        set => s_current.Value = value;
    }

    private static readonly AsyncLocal<StreamIdleTimer?> s_current = new();

    /// <summary>
    /// The media type of a streamed call's successful body that was no event stream (an HTML page
    /// from a gateway), noted by <see cref="StreamActivityPolicy"/>: the SDK reads no event from it,
    /// and the call's failure says what came instead. Null for an event stream.
    /// </summary>
    public string? NotAStream { get; set; }

    /// <summary>The provider sent a chunk.</summary>
    public void Touch()
    {
        Heard = true;
        Received();
    }

    /// <summary>
    /// The provider sent bytes, a chunk or not: a comment line (<c>: keep-alive</c>, which OpenRouter
    /// sends while a model thinks) says it is alive, though the client reads no chunk from it.
    /// </summary>
    public void Received() => Volatile.Write(ref _lastHeard, _time.GetTimestamp());

    private void Check()
    {
        var silent = _time.GetElapsedTime(Volatile.Read(ref _lastHeard));
        if (silent < _limit)
        {
            // Disposed meanwhile: Change answers false and nothing fires.
            _timer.Change(_limit - silent, Timeout.InfiniteTimeSpan);
            return;
        }

        _fired = true;
        try
        {
            _call.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The call ended as the timer fired.
        }
    }

    public void Dispose()
    {
        _timer.Dispose();
        _call.Dispose();
    }
}
