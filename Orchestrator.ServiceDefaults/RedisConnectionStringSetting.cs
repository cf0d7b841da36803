using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Microsoft.Extensions.Hosting;

/// <summary>
/// Checks the Redis connection string with the other settings, before anything connects: left to the
/// Redis client, a missing, empty or unreadable one was an unhandled exception when the connection was
/// first resolved (exit code 134 and a stack trace, not one line naming the key).
/// </summary>
internal static class RedisConnectionStringSetting
{
    /// <summary>Where Aspire's Redis client reads the connection string when <c>ConnectionStrings:{name}</c> is unset.</summary>
    private const string AspireKey = "Aspire:StackExchange:Redis:ConnectionString";

    /// <summary>Validates <c>ConnectionStrings:{connectionName}</c> when the host starts (<see cref="ConfigurationValidation.ConfigurationIsValid"/> reports it).</summary>
    public static IServiceCollection AddRedisConnectionStringCheck(this IServiceCollection services, string connectionName)
    {
        services.AddOptions<Setting>(connectionName)
            .Configure<IConfiguration>((setting, configuration) =>
            {
                // Aspire's precedence: the connection string, else its own key.
                var key = $"ConnectionStrings:{connectionName}";
                setting.Problem = configuration[key] is null && configuration[AspireKey] is { } aspire
                    ? Problem(AspireKey, aspire)
                    : Problem(key, configuration[key]);
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<Setting>, Validator>());
        return services;
    }

    /// <summary>
    /// What is wrong with <paramref name="value"/> read at <paramref name="key"/>, naming the key and never the
    /// value (it may hold a password); null when StackExchange.Redis reads it and it names an endpoint.
    /// </summary>
    internal static string? Problem(string key, string? value)
    {
        const string Form = "host:port, several for a Redis Cluster, then options: host:port,password=…";
        if (value is null)
        {
            return $"{key} is not set: the Redis to use ({Form})";
        }

        if (string.IsNullOrWhiteSpace(value))
        {
            return $"{key} is empty: it names the Redis to use ({Form})";
        }

        ConfigurationOptions parsed;
        try
        {
            parsed = ConfigurationOptions.Parse(value);
        }
        catch (Exception e) when (e is ArgumentException or FormatException)
        {
            return $"{key} is not a Redis connection string StackExchange.Redis can read ({Form})";
        }

        if (parsed.EndPoints.Count == 0)
        {
            return $"{key} names no Redis endpoint ({Form}; a port is a number)";
        }

        // redis://host:port is read as a host named "redis://host": connected to forever, never refused.
        return parsed.EndPoints.Any(e => e is System.Net.DnsEndPoint { Host: var host } && host.Contains('/', StringComparison.Ordinal))
            ? $"{key} is a URL; it takes {Form}"
            : null;
    }

    private sealed class Setting
    {
        public string? Problem { get; set; }
    }

    private sealed class Validator : IValidateOptions<Setting>
    {
        public ValidateOptionsResult Validate(string? name, Setting options) =>
            options.Problem is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
    }
}
