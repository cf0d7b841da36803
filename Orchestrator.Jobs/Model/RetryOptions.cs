using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Jobs;

/// <summary>
/// The retry policy, bound from the <c>Retry</c> section. The worker enforces it; the API stamps
/// <see cref="MaxAttempts"/> on new jobs so clients see the limit before a worker picks them up.
/// </summary>
public sealed class RetryOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Retry";

    /// <summary>Attempts in total, the first one included. Also caps deliveries of a job that keeps crashing its worker. Default 5.</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Delay before the second attempt; each later one doubles it. Default 1 s.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Upper bound on any retry delay. Default 60 s.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Whether each delay is spread uniformly within ±25 % (still capped) so retries of many jobs do not arrive in waves. Default true.</summary>
    public bool UseJitter { get; set; } = true;

    /// <summary>
    /// How long one LLM call may take, its whole streamed answer included, before it is abandoned and
    /// counted as a timeout. Default 10 minutes (a long answer streams for minutes; a stalled provider
    /// is cut sooner by <c>Llm:StreamIdleTimeout</c>); 10 ms to 1 hour.
    /// </summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var baseDelayIsValid = BaseDelay >= TimeSpan.Zero && BaseDelay <= TimeSpan.FromHours(1);
        if (!baseDelayIsValid)
        {
            yield return new ValidationResult("Retry:BaseDelay must be between 00:00:00 and 01:00:00.", [nameof(BaseDelay)]);
        }

        // Against a base delay that is itself wrong, against its own bound: one mistake, one line.
        if (MaxDelay < (baseDelayIsValid ? BaseDelay : TimeSpan.Zero) || MaxDelay > TimeSpan.FromDays(1))
        {
            yield return new ValidationResult("Retry:MaxDelay must be at least Retry:BaseDelay and at most one day.", [nameof(MaxDelay)]);
        }

        // Polly's timeout refuses less than 10 ms (the worker's pipeline would not build); the hour is ours.
        if (AttemptTimeout < TimeSpan.FromMilliseconds(10) || AttemptTimeout > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Retry:AttemptTimeout must be from 00:00:00.010 to 01:00:00.", [nameof(AttemptTimeout)]);
        }
    }
}
