using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Worker.Llm;

/// <summary>The simulated LLM (the default provider), bound from the <c>Simulator</c> section.</summary>
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
    /// </summary>
    public bool AllowCrashHint { get; set; }

    /// <summary>The model name the simulator reports. Default "simulated-llm".</summary>
    [Required]
    public string Model { get; set; } = "simulated-llm";

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Latency < TimeSpan.Zero || Latency > TimeSpan.FromHours(1))
        {
            yield return new ValidationResult("Simulator:Latency must be from 00:00:00 to 01:00:00.", [nameof(Latency)]);
        }

        if (FailureRate + PermanentFailureRate > 1)
        {
            yield return new ValidationResult("Simulator:FailureRate plus Simulator:PermanentFailureRate must not exceed 1.", [nameof(FailureRate)]);
        }
    }
}
