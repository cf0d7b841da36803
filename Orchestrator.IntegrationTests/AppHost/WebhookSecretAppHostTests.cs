using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>
/// The AppHost gives workers a signing secret (the secret parameter <c>webhooks-secret</c>), valid
/// as <c>Webhooks:Secret</c>, so a local run sends signed webhooks; the API gets no copy.
/// </summary>
[Collection("apphost")]
public sealed class WebhookSecretAppHostTests(AppHostFixture fixture)
{
    [Fact]
    public async Task LocalRun_WorkerGetsTheWebhooksSecretParameter_ValidAsWebhooksSecret_ApiGetsNone()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var resources = fixture.App.Services.GetRequiredService<DistributedApplicationModel>().Resources;
        var parameter = resources.OfType<ParameterResource>().Single(r => r.Name == "webhooks-secret");
        Assert.True(parameter.Secret);
        var value = await parameter.GetValueAsync(cancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(30), cancellationToken);

        var worker = await EnvironmentOfAsync(resources, "worker");
        var api = await EnvironmentOfAsync(resources, "api");

        var secret = await ValueAsync(worker["Webhooks__Secret"]);
        Assert.Equal(value, secret);
        var options = new WebhookOptions { Secret = secret };
        Assert.Empty(options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)));
        Assert.Equal(24, Assert.Single(options.SecretKeys()).Length);
        Assert.False(api.ContainsKey("Webhooks__Secret"));
    }

    private Task<Dictionary<string, object>> EnvironmentOfAsync(IEnumerable<IResource> resources, string name) =>
        ResourceEnvironment.OfAsync(resources, name, fixture.App.Services.GetRequiredService<DistributedApplicationExecutionContext>());

    private static async Task<string?> ValueAsync(object value) => value switch
    {
        string text => text,
        IValueProvider provider => await provider.GetValueAsync(TestContext.Current.CancellationToken),
        _ => value.ToString(),
    };
}
