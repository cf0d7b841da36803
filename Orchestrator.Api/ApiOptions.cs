using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Api;

/// <summary>The API's limits and retention, bound from the <c>Api</c> section and validated at start.</summary>
public sealed class ApiOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Api";

    /// <summary>Longest accepted prompt, in characters (Unicode scalar values: an emoji is one). Default 100,000.</summary>
    [Range(1, 10_000_000)]
    public int MaxPromptLength { get; set; } = 100_000;

    /// <summary>Largest accepted request body, in bytes; larger bodies get 413 (Kestrel enforces it while reading). Default 1 MiB.</summary>
    [Range(1024, 256 * 1024 * 1024)]
    public int MaxRequestBodySize { get; set; } = 1024 * 1024;

    /// <summary>How long an idempotency key is remembered. Default 24 h.</summary>
    public TimeSpan IdempotencyKeyTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long a job is kept after it reaches a final state. Default 7 days.</summary>
    public TimeSpan JobRetention { get; set; } = TimeSpan.FromDays(7);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (IdempotencyKeyTtl < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Api:IdempotencyKeyTtl must be at least 00:00:01.", [nameof(IdempotencyKeyTtl)]);
        }

        if (JobRetention < TimeSpan.FromSeconds(1))
        {
            yield return new ValidationResult("Api:JobRetention must be at least 00:00:01.", [nameof(JobRetention)]);
        }

        if (MaxRequestBodySize < MaxPromptLength)
        {
            yield return new ValidationResult("Api:MaxRequestBodySize must be at least Api:MaxPromptLength.", [nameof(MaxRequestBodySize)]);
        }
    }
}
