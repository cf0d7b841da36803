extern alias OrchestratorApi;

using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OrchestratorApi::Orchestrator.Api;
using OrchestratorApi::Orchestrator.Api.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>Every time in the API's JSON is fixed-width ISO-8601 UTC with milliseconds.</summary>
public sealed partial class TimestampFormatTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public void Serialize_WithTheHttpJsonOptions_KeepsThreeDigits()
    {
        // What TypedResults.Ok writes (GET /jobs/{id}, GET /dead-letters) goes through these options, not the context's.
        var options = api.Services.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var at = new DateTime(2026, 11, 28, 2, 51, 28, 940, DateTimeKind.Utc);

        var json = JsonSerializer.Serialize(new AttemptResource(1, at, at.AddSeconds(1), "succeeded", null, null, null, null), options);

        Assert.Contains("\"startedAt\":\"2026-11-28T02:51:28.940Z\"", json, StringComparison.Ordinal);
        Assert.Contains("\"endedAt\":\"2026-11-28T02:51:29.940Z\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubmitAndGet_EveryTimestampHasMilliseconds()
    {
        using var client = api.CreateApiClient();
        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"what time is it"}"""));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        using var accepted = JsonDocument.Parse(await submitted.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var createdAt = accepted.RootElement.GetProperty("createdAt").GetString()!;

        using var job = await ApiFactory.GetAsync(client, submitted.Headers.Location!.OriginalString);
        using var resource = JsonDocument.Parse(await job.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        Assert.Matches(Timestamp(), createdAt);
        Assert.Equal(createdAt, resource.RootElement.GetProperty("createdAt").GetString());
        Assert.Matches(Timestamp(), resource.RootElement.GetProperty("updatedAt").GetString()!);
    }

    [GeneratedRegex(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")]
    private static partial Regex Timestamp();
}
