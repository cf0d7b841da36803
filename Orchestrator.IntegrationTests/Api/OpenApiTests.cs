using System.Net;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>The OpenAPI document is served and describes the job endpoints.</summary>
public sealed class OpenApiTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task GetOpenApiDocument_Returns200DescribingTheJobEndpoints()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, "/openapi/v1.json");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        var paths = document.RootElement.GetProperty("paths");
        Assert.True(paths.GetProperty("/jobs").TryGetProperty("post", out _));
        Assert.True(paths.GetProperty("/jobs/{jobId}").TryGetProperty("get", out _));
        Assert.True(paths.GetProperty("/dead-letters").TryGetProperty("get", out _));
    }
}
