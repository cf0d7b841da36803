using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using Orchestrator.AppHost;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>
/// Secrets given to the AppHost reach only the services handed them: the services inherit the
/// AppHost's own environment, so without a blank of their own the worker, the simulator and the
/// jobs page held the tenants' keys given as <c>Tenants__{t}__ApiKeys__0</c> (an outside audit read
/// them in each process's environment). Read from the application model, nothing started.
/// </summary>
public sealed class InheritedSecretsTests
{
    private const string TenantKey = "tenant-key-0123456789abcdef0123456789";
    private const string AdminKey = "admin-key-0123456789abcdef0123456789";
    private const string TenantSecret = "whsec_dGVuYW50LXNlY3JldC0wMTIzNDU2Nzg5YWJj";

    [Fact]
    public async Task TenantAndAdminKeysAndTheWebhookSecrets_OnlyInTheServicesHandedThem_BlankInTheOthers()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Orchestrator_AppHost>(
            ["--Redis:Mode=local", $"--Tenants:acme:ApiKeys:0={TenantKey}", "--Tenants:acme:MaxConcurrency=2", $"--Auth:AdminKeys:0={AdminKey}",
             "--Webhooks:Secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", $"--Webhooks:TenantSecrets:acme={TenantSecret}"], cancellationToken);

        var api = await EnvironmentOfAsync(builder, "api");
        var worker = await EnvironmentOfAsync(builder, "worker");

        Assert.Equal(TenantKey, api["Tenants__acme__ApiKeys__0"]);
        Assert.Equal(AdminKey, api["Auth__AdminKeys__0"]);
        Assert.Equal("", api["Webhooks__Secret"]);
        Assert.Equal("", api["Webhooks__TenantSecrets__acme"]);
        Assert.Equal("", worker["Tenants__acme__ApiKeys__0"]);
        Assert.Equal(TenantSecret, worker["Webhooks__TenantSecrets__acme"]);
        Assert.Equal("2", worker["Tenants__acme__MaxConcurrency"]);
        Assert.Equal("", worker["Auth__AdminKeys__0"]);
        // The worker signs with the secret parameter, not a blank.
        Assert.IsAssignableFrom<IValueProvider>(worker["Webhooks__Secret"]);
        foreach (var other in new[] { "web", "llm-simulator" })
        {
            var environment = await EnvironmentOfAsync(builder, other);
            Assert.Equal("", environment["Tenants__acme__ApiKeys__0"]);
            Assert.Equal("", environment["Auth__AdminKeys__0"]);
            Assert.Equal("", environment["Webhooks__Secret"]);
            Assert.Equal("", environment["Webhooks__TenantSecrets__acme"]);
        }
    }

    /// <summary>
    /// The API started with the blanks the AppHost hands it (above) serves: it exited 1 on the empty
    /// tenant's signing key, which the worker, where it signs, refuses (an outside audit).
    /// </summary>
    [Fact]
    public async Task Api_WithTheWebhookSecretsBlanked_AsTheAppHostHandsThem_Serves()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var redis = await RedisServer.StartAsync(cancellationToken: cancellationToken);

        await using var api = await ApiProcess.StartAsync(redis.ConnectionString, new Dictionary<string, string>
        {
            ["Webhooks:Secret"] = "",
            ["Webhooks:TenantSecrets:acme"] = "",
            ["Tenants:acme:ApiKeys:0"] = TenantKey,
        });

        using var client = api.CreateClient(TenantKey);
        using var response = await client.PostAsync("/jobs", ApiFactory.Json("""{"prompt":"signed by the workers, not here"}"""), cancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
    }

    [Theory]
    [InlineData("Tenants__acme__ApiKeys__0", true)]
    [InlineData("TENANTS__ACME__APIKEYS__3", true)]
    [InlineData("Tenants:acme:ApiKeys:0", true)]
    [InlineData("Auth__AdminKeys__web", true)]
    [InlineData("Llm__Providers__openai__ApiKey", true)]
    [InlineData("Webhooks__Secret", true)]
    [InlineData("Webhooks__TenantSecrets__acme", true)]
    [InlineData("Web__ApiKey", true)]
    [InlineData("Parameters__llm-openai-api-key", true)]
    [InlineData("Tenants__acme__MaxConcurrency", false)]
    [InlineData("Llm__Providers__openai__Endpoint", false)]
    [InlineData("Webhooks__MaxAge", false)]
    [InlineData("PATH", false)]
    public void SecretNames_KeysSecretsAndParameters_NotTheOtherSettings(string name, bool secret) =>
        Assert.Equal(secret, InheritedSecretsExtensions.SecretNames([name]).Any());

    [Fact]
    public void Blank_GivenInAnyCasing_LeftAsGiven()
    {
        var environment = new Dictionary<string, object> { ["tenants__acme__apikeys__0"] = TenantKey };

        InheritedSecretsExtensions.Blank(environment, ["Tenants__acme__ApiKeys__0", "Auth__AdminKeys__0"]);

        Assert.Equal(2, environment.Count);
        Assert.Equal(TenantKey, environment["tenants__acme__apikeys__0"]);
        Assert.Equal("", environment["Auth__AdminKeys__0"]);
    }

    private static Task<Dictionary<string, object>> EnvironmentOfAsync(IDistributedApplicationTestingBuilder builder, string name) =>
        ResourceEnvironment.OfAsync(builder.Resources, name, new DistributedApplicationExecutionContext(DistributedApplicationOperation.Run));
}
