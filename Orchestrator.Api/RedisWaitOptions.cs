using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Api;

/// <summary>
/// How many replicas must hold a submission before it is acknowledged, bound from the <c>Redis</c>
/// section and validated at start.
/// </summary>
public sealed class RedisWaitOptions : IValidatableObject
{
    /// <summary>The configuration section name.</summary>
    public const string Section = "Redis";

    /// <summary>
    /// How many replicas of the job's master must confirm a submission (Redis <c>WAIT</c>) before
    /// it is answered 202; when fewer confirm within <see cref="WaitTimeout"/> the answer is 503 with
    /// <c>Retry-After</c> (a retry with the same idempotency key is safe). 0 (default): answer as soon
    /// as the master has it (replication is asynchronous, so a master's crash can lose it).
    /// </summary>
    [Range(0, 16)]
    public int WaitReplicas { get; set; }

    /// <summary>
    /// The longest <c>WAIT</c> for <see cref="WaitReplicas"/> replicas, per round trip of submissions.
    /// Default 1 s; at most 2 s, below the API's Redis command timeout (3 s), since <c>WAIT</c> holds the connection.
    /// </summary>
    public TimeSpan WaitTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (WaitTimeout < TimeSpan.FromMilliseconds(1) || WaitTimeout > TimeSpan.FromSeconds(2))
        {
            yield return new ValidationResult("Redis:WaitTimeout must be from 00:00:00.001 to 00:00:02.", [nameof(WaitTimeout)]);
        }
    }
}
