using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// The options factory, with a value the configuration binder cannot convert reported as a failed
/// validation of its options ("Failed to convert configuration value 'abc' at 'Worker:Concurrency' …"),
/// not thrown as is. The start-up check collects validation failures of every options type but stops at
/// any other exception: one unreadable value hid every other bad setting (an outside audit).
/// </summary>
/// <remarks>Registered over the default factory (<see cref="ConfigurationValidation.AddUnreadableSettingsReported"/>); it creates the options alike.</remarks>
internal sealed class UnreadableSettingOptionsFactory<TOptions>(
    IEnumerable<IConfigureOptions<TOptions>> setups,
    IEnumerable<IPostConfigureOptions<TOptions>> postConfigures,
    IEnumerable<IValidateOptions<TOptions>> validations,
    IEnumerable<OptionsSection<TOptions>> sections,
    IServiceProvider services) : IOptionsFactory<TOptions>
    where TOptions : class
{
    private const string Unreadable = "Failed to convert configuration value";

    private readonly OptionsFactory<TOptions> _factory = new(setups, postConfigures, validations);

    public TOptions Create(string name)
    {
        try
        {
            return _factory.Create(name);
        }
        // The binder's own words (ConfigurationBinder's "Failed to convert configuration value …").
        catch (InvalidOperationException e) when (e.Message.StartsWith(Unreadable, StringComparison.Ordinal))
        {
            throw new OptionsValidationException(name, typeof(TOptions), [e.Message, .. OtherUnreadableValues(e.Message)]);
        }
    }

    /// <summary>
    /// The binder stops at the first value it cannot convert: each other setting of the section is bound
    /// on its own, so two unreadable values of one options type are two lines, not one at a time.
    /// </summary>
    private IEnumerable<string> OtherUnreadableValues(string first)
    {
        if (services.GetService(typeof(IConfiguration)) is not IConfiguration configuration)
        {
            yield break;
        }

        var properties = typeof(TOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance);
        foreach (var setting in sections.SelectMany(section => configuration.GetSection(section.Name).GetChildren()))
        {
            if (properties.FirstOrDefault(p => string.Equals(p.Name, setting.Key, StringComparison.OrdinalIgnoreCase)) is { } property
                && UnreadableValue(setting, property.PropertyType) is { } failure
                && failure != first)
            {
                yield return failure;
            }
        }
    }

    /// <summary>The binder's "cannot convert" for <paramref name="setting"/>; anything else the full bind has reported.</summary>
    private static string? UnreadableValue(IConfigurationSection setting, Type type)
    {
        try
        {
            setting.Get(type);
            return null;
        }
        catch (Exception e)
        {
            return e is InvalidOperationException && e.Message.StartsWith(Unreadable, StringComparison.Ordinal) ? e.Message : null;
        }
    }
}

/// <summary>The configuration section <typeparamref name="TOptions"/> is bound from, as <c>AddValidatedOptions</c> registered it.</summary>
internal sealed record OptionsSection<TOptions>(string Name);
