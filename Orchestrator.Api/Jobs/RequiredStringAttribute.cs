using System.ComponentModel.DataAnnotations;
using System.Text.Json;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// <see cref="RequiredAttribute"/> (empty strings allowed: blankness is a rule of its own) whose
/// message tells a field sent as <c>null</c> ("must be a string, not null") from a missing one
/// ("is required"); a <see cref="RequiredAttribute"/>, so the OpenAPI document lists it as required.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class RequiredStringAttribute : RequiredAttribute
{
    /// <summary>Creates the attribute.</summary>
    public RequiredStringAttribute() => AllowEmptyStrings = true;

    /// <inheritdoc />
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not null)
        {
            return ValidationResult.Success;
        }

        var name = JsonNamingPolicy.CamelCase.ConvertName(validationContext.MemberName ?? validationContext.DisplayName);
        var sentAsNull = validationContext.ObjectInstance is SubmitJobRequest { PromptSent: true } && name == "prompt";
        return new ValidationResult(sentAsNull ? $"{name} must be a string, not null." : $"{name} is required.", [name]);
    }
}
