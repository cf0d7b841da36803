using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Options;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// <c>Auth</c> and <c>Tenants</c> are validated at start: the API refuses to start on one key
/// configured for two tenants, naming the tenants, never the key (the validator's rules are unit-tested).
/// </summary>
public sealed class AuthOptionsStartupTests
{
    private const string Key = "a-perfectly-good-key-0123456789";

    [Fact]
    public async Task Start_SameKeyForTwoTenants_RefusesToStartWithoutNamingTheKey()
    {
        await using var api = new MisconfiguredApiFactory();
        await api.InitializeAsync();

        var error = Assert.Throws<OptionsValidationException>(() => api.Server);

        Assert.Contains("tenant-a", error.Message, StringComparison.Ordinal);
        Assert.Contains("tenant-b", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Key, error.Message, StringComparison.Ordinal);
    }

    private sealed class MisconfiguredApiFactory : ApiFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Tenants:tenant-a:ApiKeys:0", Key);
            builder.UseSetting("Tenants:tenant-b:ApiKeys:0", Key);
        }
    }
}
