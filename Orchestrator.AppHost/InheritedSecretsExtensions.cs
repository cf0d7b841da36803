using Microsoft.Extensions.Configuration;

namespace Orchestrator.AppHost;

/// <summary>
/// Keeps the secrets given to the AppHost as environment variables out of the services not meant to
/// hold them. Every service the AppHost starts inherits the AppHost's own process environment, so
/// <c>Tenants__acme__ApiKeys__0=… dotnet run --project Orchestrator.AppHost</c> put a tenant's key in
/// the worker, the simulator, the jobs page and Redis, whatever sections were handed to each. Each
/// such variable a service was not given is set empty in its environment.
/// </summary>
internal static class InheritedSecretsExtensions
{
    /// <summary>Adds the blanking to every resource with an environment: call it once the graph is built.</summary>
    public static IDistributedApplicationBuilder KeepInheritedSecretsOut(this IDistributedApplicationBuilder builder)
    {
        // The variables as inherited, and as the configuration names them (read from the environment in
        // any form it accepts, or given otherwise, a blank that nothing overrides is harmless).
        var secrets = SecretNames(Environment.GetEnvironmentVariables().Keys.OfType<string>()
            .Concat(builder.Configuration.AsEnumerable().Where(setting => setting.Value is not null).Select(setting => setting.Key.Replace(":", "__", StringComparison.Ordinal))))
            .Distinct(StringComparer.Ordinal).ToList();
        if (secrets.Count == 0)
        {
            return builder;
        }

        foreach (var resource in builder.Resources.OfType<IResourceWithEnvironment>())
        {
            // Added last, it sees what the service was given; given in any casing, it is left as given.
            builder.CreateResourceBuilder(resource).WithEnvironment(context => Blank(context.EnvironmentVariables, secrets));
        }

        return builder;
    }

    /// <summary>Sets each of <paramref name="secrets"/> that <paramref name="environment"/> does not hold (in any casing) to the empty string.</summary>
    internal static void Blank(IDictionary<string, object> environment, IEnumerable<string> secrets)
    {
        var given = new HashSet<string>(environment.Keys, StringComparer.OrdinalIgnoreCase);
        foreach (var name in secrets)
        {
            if (!given.Contains(name))
            {
                environment[name] = "";
            }
        }
    }

    /// <summary>
    /// The names among <paramref name="names"/> that carry a secret: tenants' and admins' API keys, the
    /// providers' API keys, the webhook secrets, the jobs page's key, and the AppHost's own parameters.
    /// </summary>
    internal static IEnumerable<string> SecretNames(IEnumerable<string> names) => names.Where(IsSecret);

    private static bool IsSecret(string name) =>
        // Configuration reads "__" and ":" alike as the separator, in any casing.
        name.Replace("__", ":", StringComparison.Ordinal).ToUpperInvariant().Split(':') switch
        {
            ["TENANTS", _, "APIKEYS", ..] => true,
            ["AUTH", "ADMINKEYS", ..] => true,
            ["LLM", "PROVIDERS", _, "APIKEY"] => true,
            ["WEBHOOKS", "SECRET"] => true,
            ["WEBHOOKS", "TENANTSECRETS", ..] => true,
            ["WEB", "APIKEY"] => true,
            ["PARAMETERS", ..] => true,
            _ => false,
        };
}
