using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Options validated at start with messages that name the configuration key an operator sets
/// (<c>Simulator:FailureRate must be between 0 and 1</c>), not the C# member; and a start that ends
/// with those lines and exit code 1 instead of an unhandled exception.
/// </summary>
public static class ConfigurationValidation
{
    /// <summary>
    /// Binds <typeparamref name="TOptions"/> to <paramref name="section"/> and validates its data
    /// annotations (and <see cref="IValidatableObject"/>) when the host starts.
    /// </summary>
    public static OptionsBuilder<TOptions> AddValidatedOptions<TOptions>(this IServiceCollection services, string section)
        where TOptions : class
    {
        services.AddSingleton<IValidateOptions<TOptions>>(new ConfigurationKeyValidator<TOptions>(section));
        services.AddSingleton(new OptionsSection<TOptions>(section));
        services.AddKnownSettings(section, typeof(TOptions));
        return services.AddOptions<TOptions>().BindConfiguration(section).ValidateOnStart();
    }

    /// <summary>
    /// Has a value the configuration binder cannot convert reported with the other bad settings (as a
    /// failed validation of its options), not thrown before them (<see cref="UnreadableSettingOptionsFactory{TOptions}"/>).
    /// </summary>
    public static IServiceCollection AddUnreadableSettingsReported(this IServiceCollection services)
    {
        services.AddOptions();
        return services.Replace(ServiceDescriptor.Transient(typeof(IOptionsFactory<>), typeof(UnreadableSettingOptionsFactory<>)));
    }

    /// <summary>
    /// Validates every option registered with <c>ValidateOnStart</c>; on a bad setting writes one line per
    /// problem to standard error and returns false (the caller exits with 1). A key that nearly spells
    /// a setting is warned of first (<see cref="MisspelledSettings"/>).
    /// </summary>
    public static bool ConfigurationIsValid(this IHost host)
    {
        host.WarnOfMisspelledSettings();
        try
        {
            host.Services.GetService<IStartupValidator>()?.Validate();
            return true;
        }
        // A value the binder cannot convert is an InvalidOperationException naming the key.
        catch (Exception e) when (e is OptionsValidationException or AggregateException or InvalidOperationException)
        {
            // Once each: two options read from one section (the API's Auth and its tenants' quotas both
            // read Tenants) report a problem of that section in the same words, and it is one problem.
            var lines = (e is AggregateException all ? all.InnerExceptions : [e])
                .SelectMany(failure => failure is OptionsValidationException invalid ? invalid.Failures : [failure.Message]);
            foreach (var line in lines.Distinct(StringComparer.Ordinal))
            {
                Console.Error.WriteLine(line);
            }

            return false;
        }
    }

    private sealed class ConfigurationKeyValidator<TOptions>(string section) : IValidateOptions<TOptions>
        where TOptions : class
    {
        public ValidateOptionsResult Validate(string? name, TOptions options)
        {
            var results = new List<ValidationResult>();
            return Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true)
                ? ValidateOptionsResult.Success
                : ValidateOptionsResult.Fail(results.Select(KeyNamed));
        }

        /// <summary>"The field FailureRate must be …" becomes "Simulator:FailureRate must be …".</summary>
        private string KeyNamed(ValidationResult result)
        {
            var message = (result.ErrorMessage ?? "is not valid.").TrimEnd('.');
            if (message.Contains(section + ":", StringComparison.Ordinal) || result.MemberNames.FirstOrDefault() is not { } member)
            {
                return message;
            }

            var key = $"{section}:{member}";
            foreach (var phrase in (string[])[$"The field {member}", $"The {member} field"])
            {
                if (message.StartsWith(phrase, StringComparison.Ordinal))
                {
                    return key + message[phrase.Length..];
                }
            }

            return $"{key}: {message}";
        }
    }
}
