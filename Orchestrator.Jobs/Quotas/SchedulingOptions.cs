using System.ComponentModel.DataAnnotations;

namespace Orchestrator.Jobs;

/// <summary>
/// How workers order the jobs they take (section <c>Scheduling</c>); the shares between tenants are
/// each tenant's <see cref="TenantQuotas.Weight"/>. Layout: docs/design/job-store.md "Ready sets and dispatch".
/// </summary>
public sealed class SchedulingOptions : IValidatableObject
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Scheduling";

    /// <summary>The default of <see cref="MaxLowPriorityWait"/>.</summary>
    public static readonly TimeSpan DefaultMaxLowPriorityWait = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a <c>low</c>-priority job may wait behind its tenant's <c>high</c> and <c>normal</c>
    /// ones: once it has waited this long it goes before them (aging), so it cannot starve. Default 10 min.
    /// </summary>
    public TimeSpan MaxLowPriorityWait { get; set; } = DefaultMaxLowPriorityWait;

    /// <inheritdoc />
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (MaxLowPriorityWait < TimeSpan.FromMilliseconds(100) || MaxLowPriorityWait > TimeSpan.FromDays(1))
        {
            yield return new ValidationResult("Scheduling:MaxLowPriorityWait must be from 100 ms to 1 day.", [nameof(MaxLowPriorityWait)]);
        }
    }
}
