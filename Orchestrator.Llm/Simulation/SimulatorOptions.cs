using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Llm.Simulation;

/// <summary>
/// The simulated LLM, bound from the <c>Simulator</c> section: read by the in-process simulated
/// provider and by the <c>Orchestrator.LlmSimulator</c> service alike (one simulation logic).
/// </summary>
public sealed class SimulatorOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Simulator";

    /// <summary>Share of calls, 0 to 1, that fail with a transient error. Default 0.2.</summary>
    [Range(0.0, 1.0)]
    public double FailureRate { get; set; } = 0.2;

    /// <summary>Share of calls, 0 to 1, that fail with a permanent "invalid request" error. Default 0.</summary>
    [Range(0.0, 1.0)]
    public double PermanentFailureRate { get; set; }

    /// <summary>Time each call takes. Default 200 ms.</summary>
    public TimeSpan Latency { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Seed for reproducible failures; unset means a different sequence every run.</summary>
    public int? Seed { get; set; }

    /// <summary>
    /// Whether the job metadata hint <c>simulator.crashProcess: "true"</c> is obeyed: the worker
    /// process then dies abruptly when such a job's attempt starts (tests and demos of poison-job
    /// isolation). Default false: the hint is ignored, so no client can crash a worker.
    /// Only the in-process simulated provider obeys it: the simulator service never crashes.
    /// </summary>
    public bool AllowCrashHint { get; set; }

    /// <summary>The model name the simulator reports. Default "simulated-llm".</summary>
    [Required]
    public string Model { get; set; } = "simulated-llm";

    /// <summary>Requests per minute served; beyond it, 429 with <c>Retry-After</c>. Unset: no limit.</summary>
    [Range(1, int.MaxValue)]
    public int? RequestsPerMinute { get; set; }

    /// <summary>Tokens (prompt + completion) per minute served; beyond it, 429. Unset: no limit.</summary>
    [Range(1, int.MaxValue)]
    public int? TokensPerMinute { get; set; }

    /// <summary>
    /// How far ahead of the steady rate a burst may go, as time at the limit's rate: with 60,000
    /// tokens per minute and 10 s, 10,000 tokens may arrive at once. Default 10 s.
    /// </summary>
    public TimeSpan Burst { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Completion tokens streamed per second after <see cref="Latency"/>; unset: all at once.</summary>
    [Range(0.001, double.MaxValue)]
    public double? TokensPerSecond { get; set; }

    /// <summary>
    /// Completion tokens of every answer: the composed text is lengthened with filler words to this
    /// count (or cut to it, as <c>max_tokens</c> cuts, when it is longer), so a benchmark can shape its
    /// answers like a real model's. A request's smaller <c>max_tokens</c> still cuts. Unset: the
    /// composed answer as it is (some 40–60 tokens).
    /// </summary>
    [Range(1, 100_000)]
    public int? CompletionTokens { get; set; }

    /// <summary>Prompt plus completion tokens accepted; beyond it, 400 <c>context_length_exceeded</c>. Unset: no limit.</summary>
    [Range(1, int.MaxValue)]
    public int? ContextWindow { get; set; }

    /// <summary>
    /// How long after a 429 was answered a call arriving inside its Retry-After still counts as one
    /// that could not have known of it (<c>/stats</c> <c>callsInsideRetryAfterPastGrace</c>): the time
    /// for the client that got the 429 to tell its fleet, and for a call already past its check to
    /// reach the wire. Judged per 429, from the request's arrival. Default 100 ms; 0 to 1 minute
    /// (a negative grace would count every call inside a window as past it).
    /// </summary>
    public TimeSpan AnnouncementGrace { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Latency < TimeSpan.Zero || Latency > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Simulator:Latency must be from 00:00:00 to 01:00:00.", [nameof(Latency)]);
        }

        if (Burst < TimeSpan.Zero || Burst > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult("Simulator:Burst must be from 00:00:00 to 00:01:00.", [nameof(Burst)]);
        }

        if (AnnouncementGrace < TimeSpan.Zero || AnnouncementGrace > TimeSpan.FromMinutes(1))
        {
            yield return new ValidationResult("Simulator:AnnouncementGrace must be from 00:00:00 to 00:01:00.", [nameof(AnnouncementGrace)]);
        }

        if (FailureRate + PermanentFailureRate > 1)
        {
            yield return new ValidationResult("Simulator:FailureRate plus Simulator:PermanentFailureRate must not exceed 1.", [nameof(FailureRate)]);
        }
    }
}
