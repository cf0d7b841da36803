using System.ComponentModel.DataAnnotations;
using System.Text.Json;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// A maximum string length in Unicode scalar values (an emoji is one), as JSON Schema's
/// <c>maxLength</c> counts; a <see cref="StringLengthAttribute"/>, so the OpenAPI document states it.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class CharacterLengthAttribute(int maximumLength) : StringLengthAttribute(maximumLength)
{
    /// <summary>The number of Unicode scalar values in <paramref name="text"/>.</summary>
    public static int Count(string text)
    {
        // Only a surrogate pair is two code units for one scalar; most text has none.
        var length = text.Length;
        foreach (var c in text)
        {
            if (char.IsLowSurrogate(c))
            {
                length--;
            }
        }

        return length;
    }

    /// <inheritdoc />
    protected override ValidationResult? IsValid(object? value, ValidationContext validationContext)
    {
        if (value is not string text || Count(text) is var length && length <= MaximumLength)
        {
            return ValidationResult.Success;
        }

        var name = JsonNamingPolicy.CamelCase.ConvertName(validationContext.MemberName ?? validationContext.DisplayName);
        return new ValidationResult($"{name} is {length:N0} characters; the limit is {MaximumLength:N0}.", [name]);
    }
}
