namespace Orchestrator.Client;

/// <summary>How <see cref="OrchestratorClient"/> re-sends submissions and waits for jobs.</summary>
public sealed class OrchestratorClientOptions
{
    /// <summary>The API key sent as <c>Authorization: Bearer</c> on every request. Default none (an API that allows anonymous callers).</summary>
    public string? ApiKey { get; set; }

    /// <summary>
    /// Re-sends of one submission (same idempotency key) after a 503, a timeout or a connection
    /// failure. Default 5; 0 sends once.
    /// </summary>
    public int MaxSubmitRetries { get; set; } = 5;

    /// <summary>Wait before the first re-send when the API gives no <c>Retry-After</c>; doubles each time. Default 500 ms.</summary>
    public TimeSpan SubmitRetryDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait for one submission attempt before it counts as timed out and is re-sent. Default 10 s.</summary>
    public TimeSpan SubmitAttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First pause in <see cref="OrchestratorClient.WaitAsync"/> while the API is unreachable (it long-polls otherwise); doubles up to <see cref="MaxPollInterval"/>. Default 100 ms.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest pause between polls. Default 2 s.</summary>
    public TimeSpan MaxPollInterval { get; set; } = TimeSpan.FromSeconds(2);
}
