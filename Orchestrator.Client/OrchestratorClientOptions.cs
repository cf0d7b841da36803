namespace Orchestrator.Client;

/// <summary>How <see cref="OrchestratorClient"/> re-sends submissions and waits for jobs.</summary>
public sealed class OrchestratorClientOptions
{
    /// <summary>The API key sent as <c>Authorization: Bearer</c> on every request. Default none (an API that allows anonymous callers).</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Re-sends of one submission (same idempotency key) after a 503, a timeout or a connection
    /// failure. Default 5; 0 sends once; at most 100.
    /// </summary>
    public int MaxSubmitRetries { get; set; } = 5;

    /// <summary>Wait before the first re-send when the API gives no <c>Retry-After</c>; doubles each time. Default 500 ms; 0 to 1 day.</summary>
    public TimeSpan SubmitRetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait for one submission attempt before it counts as timed out and is re-sent. Default 10 s; 10 ms to 1 day.</summary>
    public TimeSpan SubmitAttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First pause in <see cref="OrchestratorClient.WaitAsync"/> while the API is unreachable (it long-polls otherwise); doubles up to <see cref="MaxPollInterval"/>. Default 100 ms; 1 ms to 1 day.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest pause between polls. Default 2 s; from <see cref="PollInterval"/> to 1 day.</summary>
    public TimeSpan MaxPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Throws for a value out of its range, naming it: a zero poll interval polled a refusing API in
    /// a busy loop (8,013 polls in 5 s), a negative one threw from deep inside a wait, and a bad
    /// submission setting surfaced as the resilience library's own exception when the client was made.
    /// </summary>
    internal void Check()
    {
        var day = TimeSpan.FromDays(1);
        Within(MaxSubmitRetries, 0, 100, nameof(MaxSubmitRetries));
        Within(SubmitRetryDelay, TimeSpan.Zero, day, nameof(SubmitRetryDelay));
        Within(SubmitAttemptTimeout, TimeSpan.FromMilliseconds(10), day, nameof(SubmitAttemptTimeout));
        Within(PollInterval, TimeSpan.FromMilliseconds(1), day, nameof(PollInterval));
        Within(MaxPollInterval, PollInterval, day, nameof(MaxPollInterval));
    }

    private static void Within<T>(T value, T min, T max, string name)
        where T : IComparable<T>
    {
        if (value.CompareTo(min) < 0 || value.CompareTo(max) > 0)
        {
            throw new ArgumentException($"OrchestratorClientOptions.{name} must be from {min} to {max}; it is {value}.", "options");
        }
    }
}
