using System.ComponentModel.DataAnnotations;
using System.Reflection;

namespace Orchestrator.Api.Jobs;

/// <summary>
/// <see cref="Validator.TryValidateObject(object, ValidationContext, ICollection{ValidationResult}?, bool)"/>
/// (all properties) for <see cref="SubmitJobRequest"/>, with the reflection done once: the framework's
/// version looks the properties and their attributes up and builds a context for each on every call,
/// ~4 % of the API's CPU per <c>POST /jobs</c>. Same rules, same order: each property's attributes,
/// a required one first (the others are skipped when it fails); then, only when every property
/// passed, <see cref="IValidatableObject.Validate"/>.
/// </summary>
internal static class SubmitJobRequestValidator
{
    // The public properties that carry validation attributes, in declaration order (as the framework reads them).
    private static readonly ValidatedProperty[] Properties =
    [
        .. typeof(SubmitJobRequest).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0)
            .Select(p => new ValidatedProperty(p, p.GetCustomAttribute<DisplayAttribute>()?.GetName() ?? p.Name,
                [.. p.GetCustomAttributes<ValidationAttribute>(inherit: true).OrderBy(a => a is RequiredAttribute ? 0 : 1)]))
            .Where(p => p.Attributes.Length > 0),
    ];

    /// <summary>What the attributes and <see cref="SubmitJobRequest.Validate"/> refuse, in the order found.</summary>
    public static List<ValidationResult> Validate(SubmitJobRequest request, IServiceProvider services)
    {
        var results = new List<ValidationResult>();
        // One context serves every property in turn: a property's name is all that differs.
        var propertyContext = new ValidationContext(request, services, null);
        foreach (var property in Properties)
        {
            propertyContext.MemberName = property.Info.Name;
            propertyContext.DisplayName = property.DisplayName;
            var value = property.Info.GetValue(request);
            foreach (var attribute in property.Attributes)
            {
                if (attribute.GetValidationResult(value, propertyContext) is { } failed && failed != ValidationResult.Success)
                {
                    results.Add(failed);
                    if (attribute is RequiredAttribute)
                    {
                        break;
                    }
                }
            }
        }

        if (results.Count > 0)
        {
            return results;
        }

        foreach (var result in request.Validate(new ValidationContext(request, services, null)))
        {
            if (result != ValidationResult.Success)
            {
                results.Add(result);
            }
        }

        return results;
    }

    private sealed record ValidatedProperty(PropertyInfo Info, string DisplayName, ValidationAttribute[] Attributes);
}
