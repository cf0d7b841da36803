using System.ComponentModel.DataAnnotations;
using System.Text.Json;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// An integer range whose message names the value found ("got 0"); a <see cref="RangeAttribute"/>,
/// so the OpenAPI document states its bounds.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class IntegerRangeAttribute(int minimum, int maximum) : RangeAttribute(minimum, maximum)
{
    /// <inheritdoc />
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not int number || number >= (int)Minimum && number <= (int)Maximum)
        {
            return ValidationResult.Success;
        }

        var name = JsonNamingPolicy.CamelCase.ConvertName(validationContext.MemberName ?? validationContext.DisplayName);
        return new ValidationResult($"{name} must be from {Minimum:N0} to {Maximum:N0}; got {number}.", [name]);
    }
}
