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
    IEnumerable<IValidateOptions<TOptions>> validations) : IOptionsFactory<TOptions>
    where TOptions : class
{
    private readonly OptionsFactory<TOptions> _factory = new(setups, postConfigures, validations);

    public TOptions Create(string name)
    {
        try
        {
            return _factory.Create(name);
        }
        // The binder's own words (ConfigurationBinder's "Failed to convert configuration value …").
        catch (InvalidOperationException e) when (e.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal))
        {
            throw new OptionsValidationException(name, typeof(TOptions), [e.Message]);
        }
    }
}
