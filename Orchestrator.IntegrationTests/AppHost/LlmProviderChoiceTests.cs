using Aspire.Hosting.Testing;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>
/// Which provider the AppHost's services call, read from its application model: the simulator, also
/// when only its provider entry's limits are set; a configured provider replaces it.
/// </summary>
public sealed class LlmProviderChoiceTests
{
    [Theory]
    [InlineData(true)]
    // Replaced the simulator with a provider without an endpoint: API and worker refused to start.
    [InlineData(true, "--Llm:Providers:simulator:RequestsPerMinute=60")]
    [InlineData(true, "--Llm:Providers:Simulator:TokensPerMinute=6000", "--Llm:Providers:simulator:MaxConcurrency=2")]
    [InlineData(false, "--Llm:Providers:openai:Kind=openai", "--Llm:Providers:openai:Endpoint=http://127.0.0.1:9/v1", "--Llm:Providers:openai:Models:0:Name=m")]
    [InlineData(false, "--Llm:Providers:simulator:Kind=openai", "--Llm:Providers:simulator:Endpoint=http://127.0.0.1:9/v1", "--Llm:Providers:simulator:Models:0:Name=m")]
    public async Task Simulator_RunsUnlessAProviderWithAnEndpointIsConfigured(bool simulated, params string[] settings)
    {
        await using var builder = await DistributedApplicationTestingBuilder.CreateAsync<Projects.Orchestrator_AppHost>(
            ["--Redis:Mode=container", .. settings], TestContext.Current.CancellationToken);

        Assert.Equal(simulated, builder.Resources.Any(r => r.Name == "llm-simulator"));
    }
}
