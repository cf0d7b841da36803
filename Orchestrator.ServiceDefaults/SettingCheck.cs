using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// One configuration key checked with the other settings when the host starts, for a key no options
/// class binds (<c>shutdownTimeoutSeconds</c>, <c>urls</c>, a Kestrel limit): each problem is a line of
/// the start-up report (<see cref="ConfigurationValidation.ConfigurationIsValid"/>).
/// </summary>
internal static class SettingCheck
{
    /// <summary>Checks the value at <paramref name="key"/> (null when unset): <paramref name="problems"/> lists what is wrong with it.</summary>
    public static IServiceCollection AddSettingCheck(this IServiceCollection services, string key, Func<string?, IEnumerable<string>> problems)
    {
        services.AddOptions<Setting>(key)
            .Configure<IConfiguration>((setting, configuration) => setting.Value = configuration[key])
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<Setting>>(new Validator(key, problems));
        return services;
    }

    /// <summary>The key's value, as options named by the key.</summary>
    private sealed class Setting
    {
        public string? Value { get; set; }
    }

    private sealed class Validator(string key, Func<string?, IEnumerable<string>> problems) : IValidateOptions<Setting>
    {
        public ValidateOptionsResult Validate(string? name, Setting options)
        {
            if (name != key)
            {
                return ValidateOptionsResult.Skip;
            }

            var failures = problems(options.Value).ToList();
            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}
