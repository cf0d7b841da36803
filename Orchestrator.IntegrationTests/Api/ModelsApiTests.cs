using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;


namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// The API serves only configured models: <c>GET /models</c> lists them, <c>POST /jobs</c> refuses
/// any other <c>model</c> or <c>fallbackModels</c> entry with 400, and a job with no model gets <c>Llm:DefaultModel</c>.
/// </summary>
public sealed class ModelsApiTests(ModelsApiTests.ProvidersApiFactory api) : IClassFixture<ModelsApiTests.ProvidersApiFactory>
{
    [Fact]
    public async Task Submit_UnknownModel_Returns400NamingModel()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"hi","model":"gpt-5-ultra"}"""));

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Contains("gpt-5-ultra", problem.RootElement.GetProperty("errors").GetProperty("model")[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_UnknownFallbackModel_Returns400NamingFallbackModels()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"hi","model":"big","fallbackModels":["small","nope"]}"""));

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
        var errors = problem.RootElement.GetProperty("errors");
        Assert.Contains("'nope'", errors.GetProperty("fallbackModels")[0].GetString(), StringComparison.Ordinal);
        Assert.False(errors.TryGetProperty("model", out _));
    }

    [Fact]
    public async Task Submit_NoModel_StoresDefaultModelAndFallbacks()
    {
        using var client = api.CreateApiClient();

        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"hi","fallbackModels":["small"]}"""));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var jobId = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement.GetProperty("jobId").GetString();

        using var response = await ApiFactory.GetAsync(client, $"/jobs/{jobId}");
        var job = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal("big", job.GetProperty("model").GetString());
        Assert.Equal(["small"], job.GetProperty("fallbackModels").EnumerateArray().Select(e => e.GetString()));
        var usage = job.GetProperty("usage");
        Assert.Equal(0, usage.GetProperty("inputTokens").GetInt64());
        Assert.Equal(0, usage.GetProperty("cost").GetDecimal());
    }

    [Fact]
    public async Task ListModels_ReturnsEachServedModelWithProviderWindowPricesAndLimits()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, "/models");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var root = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal("big", root.GetProperty("defaultModel").GetString());
        Assert.False(root.GetProperty("anyModel").GetBoolean());
        var items = root.GetProperty("items").EnumerateArray().ToDictionary(m => m.GetProperty("name").GetString()!);
        Assert.Equal(["big", "small"], items.Keys.Order(StringComparer.Ordinal));
        var big = items["big"];
        Assert.Equal("primary", big.GetProperty("provider").GetString());
        Assert.Equal(128000, big.GetProperty("contextWindow").GetInt32());
        Assert.Equal(0.15m, big.GetProperty("inputCostPerMillion").GetDecimal());
        Assert.Equal(0.6m, big.GetProperty("outputCostPerMillion").GetDecimal());
        Assert.Equal(200, big.GetProperty("requestsPerMinute").GetInt32());
        Assert.Equal(20000, big.GetProperty("tokensPerMinute").GetInt32());
        Assert.True(big.GetProperty("isDefault").GetBoolean());
        Assert.Equal(JsonValueKind.Null, items["small"].GetProperty("tokensPerMinute").ValueKind);
    }

    /// <summary>The API with no provider and the worker's simulator named <c>house-model</c>.</summary>
    public sealed class SimulatorModelApiFactory : ApiFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Simulator:Model", "house-model");
        }
    }

    /// <summary>The API with two providers configured.</summary>
    public sealed class ProvidersApiFactory : ApiFactory
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.UseSetting("Llm:DefaultModel", "big");
            builder.UseSetting("Llm:Providers:primary:Kind", "openai");
            builder.UseSetting("Llm:Providers:primary:Endpoint", "http://127.0.0.1:9/v1");
            builder.UseSetting("Llm:Providers:primary:ApiKey", "sk-test");
            builder.UseSetting("Llm:Providers:primary:RequestsPerMinute", "200");
            builder.UseSetting("Llm:Providers:primary:TokensPerMinute", "20000");
            builder.UseSetting("Llm:Providers:primary:Models:0:Name", "big");
            builder.UseSetting("Llm:Providers:primary:Models:0:ContextWindow", "128000");
            builder.UseSetting("Llm:Providers:primary:Models:0:InputCostPerMillion", "0.15");
            builder.UseSetting("Llm:Providers:primary:Models:0:OutputCostPerMillion", "0.6");
            builder.UseSetting("Llm:Providers:local:Kind", "simulated");
            builder.UseSetting("Llm:Providers:local:Models:0:Name", "small");
            builder.UseSetting("Llm:Providers:local:Models:0:ContextWindow", "100");
        }
    }
}

/// <summary>
/// With no provider configured, <c>GET /models</c> names as default the model the worker's in-process
/// simulator answers as (<c>Simulator:Model</c>; a job submitted without a model is stored without one
/// and the worker gives it that name).
/// </summary>
public sealed class SimulatorModelNameTests(ModelsApiTests.SimulatorModelApiFactory api) : IClassFixture<ModelsApiTests.SimulatorModelApiFactory>
{
    [Fact]
    public async Task NoProvider_ListModels_DefaultIsSimulatorModel()
    {
        using var client = api.CreateApiClient();

        using var models = await ApiFactory.GetAsync(client, "/models");
        var root = JsonDocument.Parse(await models.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal("house-model", root.GetProperty("defaultModel").GetString());
        Assert.True(root.GetProperty("anyModel").GetBoolean());
    }
}
