using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orchestrator.Api.Auth;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Worker;

namespace Orchestrator.UnitTests.Hosting;

/// <summary>
/// A key that nearly spells a setting is named with the setting it likely meant (the binder ignored
/// <c>Worker:Concurency</c> without a word); a key far from every setting, which another service may
/// read from the same configuration, is not.
/// </summary>
public sealed class MisspelledSettingsTests
{
    [Fact]
    public void NearMisses_AtEveryDepth_NamedWithTheSettingMeant()
    {
        var found = Find(new()
        {
            ["Worker:Concurency"] = "4",
            ["Worker:leasetimout"] = "00:00:10",
            ["Llm:MaxRateLimitWiat"] = "00:00:05",
            ["Llm:Providers:a:Endpiont"] = "http://127.0.0.1:9/v1",
            ["Llm:Providers:a:Models:0:Nmae"] = "m",
            ["Tenants:acme:Weigth"] = "2",
            ["Tenants:acme:ApiKey:0"] = "a-key-of-sixteen-chars",
        });

        Assert.Equal(
        [
            ("Llm:MaxRateLimitWiat", "Llm:MaxRateLimitWait"),
            ("Llm:Providers:a:Endpiont", "Llm:Providers:a:Endpoint"),
            ("Llm:Providers:a:Models:0:Nmae", "Llm:Providers:a:Models:0:Name"),
            ("Tenants:acme:ApiKey", "Tenants:acme:ApiKeys"),
            ("Tenants:acme:Weigth", "Tenants:acme:Weight"),
            ("Worker:Concurency", "Worker:Concurrency"),
            ("Worker:leasetimout", "Worker:LeaseTimeout"),
        ], found.OrderBy(static f => f.Key, StringComparer.Ordinal));
    }

    [Fact]
    public void Settings_AnyCase_AndKeysFarFromEverySetting_NotNamed()
    {
        var found = Find(new()
        {
            ["worker:CONCURRENCY"] = "4",
            ["Worker:Labels:x"] = "y",
            // Read by the API (keys) and the worker (quotas): each service knows its own members.
            ["Tenants:acme:ApiKeys:0"] = "a-key-of-sixteen-chars",
            ["Tenants:acme:MaxConcurrency"] = "2",
            // Another service's section entirely, or another member of one this service reads.
            ["Redis:MaxMemory"] = "1gb",
            ["Llm:Providers:a:Models:0:Name"] = "m",
            ["Llm:Providers:a:Models:0:InputCostPerMillion"] = "1.5",
        });

        Assert.Empty(found);
    }

    private static IReadOnlyList<(string Key, string Meant)> Find(Dictionary<string, string?> settings)
    {
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddValidatedOptions<WorkerOptions>(WorkerOptions.Section);
        services.AddKnownSettings(LlmOptions.Section, typeof(LlmOptions))
            .AddKnownSettings(TenantQuotaOptions.Section, typeof(Dictionary<string, TenantQuotas>))
            .AddKnownSettings(AuthOptions.TenantsSection, typeof(Dictionary<string, TenantOptions>));
        using var provider = services.BuildServiceProvider();
        return provider.FindMisspelledSettings();
    }
}
