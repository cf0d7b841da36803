extern alias OrchestratorApi;

using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// The OpenAPI document generated from the code states the contract, and <c>docs/openapi.json</c> is
/// that document: a change to the API that changes it fails here until the file is regenerated
/// (<c>scripts/update-openapi.sh</c>). CI lints the file with Redocly (<c>tools/contract</c>).
/// </summary>
public sealed class OpenApiTests : IAsyncLifetime
{
    private const string UpdateVariable = "UPDATE_OPENAPI";

    // The API with its default settings (the document states the configured prompt limit), and no Redis: the document needs none.
    private readonly WebApplicationFactory<OrchestratorApi::Program> _api = new WebApplicationFactory<OrchestratorApi::Program>()
        .WithWebHostBuilder(b => b.UseSetting("ConnectionStrings:redis", "127.0.0.1:1,connectTimeout=100"));

    private string _document = "";

    public async ValueTask InitializeAsync()
    {
        using var client = _api.CreateClient();
        using var response = await client.GetAsync("/openapi/v1.json", TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        _document = (await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).ReplaceLineEndings("\n");
    }

    public ValueTask DisposeAsync() => _api.DisposeAsync();

    [Fact]
    public void CheckedInDocument_IsTheGeneratedDocument()
    {
        var path = Path.Combine(RepositoryFiles.Root, "docs", "openapi.json");
        if (Environment.GetEnvironmentVariable(UpdateVariable) == "1")
        {
            File.WriteAllText(path, _document);
        }

        var checkedIn = File.Exists(path) ? File.ReadAllText(path).ReplaceLineEndings("\n") : "";
        Assert.True(checkedIn == _document,
            $"docs/openapi.json differs from the document the API generates; run scripts/update-openapi.sh and commit the result.");
    }

    [Fact]
    public void Document_StatesStatusesHeadersAndConstraints()
    {
        using var json = JsonDocument.Parse(_document);
        var paths = json.RootElement.GetProperty("paths");
        var submit = paths.GetProperty("/jobs").GetProperty("post");
        var get = paths.GetProperty("/jobs/{jobId}").GetProperty("get");
        var deadLetters = paths.GetProperty("/dead-letters").GetProperty("get");

        Assert.Equal(["202", "400", "413", "415", "422", "431", "503"], Statuses(submit).Intersect(["202", "400", "413", "415", "422", "431", "503"]));
        Assert.Contains("404", Statuses(get));
        Assert.Contains("400", Statuses(deadLetters));
        Assert.Equal(["x-idempotency-key", "Idempotency-Key"], submit.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        var accepted = submit.GetProperty("responses").GetProperty("202").GetProperty("headers");
        Assert.True(accepted.TryGetProperty("Location", out _) && accepted.TryGetProperty("Idempotent-Replayed", out _));
        Assert.True(get.GetProperty("responses").GetProperty("503").GetProperty("headers").TryGetProperty("Retry-After", out _));
        // Every 401 states its WWW-Authenticate; the problem types a client tells answers apart by are named (an outside audit found neither).
        Assert.Contains("401", Statuses(submit));
        foreach (var operation in paths.EnumerateObject().SelectMany(p => p.Value.EnumerateObject()))
        {
            if (operation.Value.GetProperty("responses").TryGetProperty("401", out var unauthorized))
            {
                Assert.True(unauthorized.GetProperty("headers").TryGetProperty("WWW-Authenticate", out _), operation.Value.GetProperty("operationId").GetString());
            }
        }

        var refused = submit.GetProperty("responses").GetProperty("429").GetProperty("description").GetString();
        Assert.Contains("urn:orchestrator:problem:queue-full", refused, StringComparison.Ordinal);
        Assert.Contains("urn:orchestrator:problem:quota-exceeded", refused, StringComparison.Ordinal);
        // The redrive body's tenant follows the rule the query parameters state (the server checks it: 400).
        Assert.Equal(TenantNames.PatternText, json.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("RedriveRequest").GetProperty("properties").GetProperty("tenant").GetProperty("pattern").GetString());
        Assert.Contains("urn:orchestrator:problem:not-replicated", submit.GetProperty("responses").GetProperty("503").GetProperty("description").GetString(), StringComparison.Ordinal);

        var schemas = json.RootElement.GetProperty("components").GetProperty("schemas");
        var request = schemas.GetProperty("SubmitJobRequest");
        Assert.Equal(["prompt"], request.GetProperty("required").EnumerateArray().Select(r => r.GetString()));
        var properties = request.GetProperty("properties");
        Assert.Equal(100_000, properties.GetProperty("prompt").GetProperty("maxLength").GetInt32());
        Assert.Equal(1_000_000, properties.GetProperty("maxTokens").GetProperty("maximum").GetInt32());
        Assert.Equal(32, properties.GetProperty("metadata").GetProperty("maxProperties").GetInt32());
        // Numbers are numbers: no "integer | string" with a digit pattern.
        Assert.DoesNotContain("\"pattern\": \"^-?(?:0|[1-9]\\\\d*)$\"", _document, StringComparison.Ordinal);
        Assert.True(schemas.GetProperty("ProblemDetails").GetProperty("properties").TryGetProperty("traceId", out _));
        Assert.True(schemas.GetProperty("JobResource").GetProperty("properties").GetProperty("status").TryGetProperty("enum", out _));
        Assert.Equal(["queued"], schemas.GetProperty("SubmitJobResponse").GetProperty("properties").GetProperty("status").GetProperty("enum").EnumerateArray().Select(v => v.GetString()));
    }

    [Fact]
    public void Document_StatesQueryConstraintsEventStreamAndControlAnswers()
    {
        using var json = JsonDocument.Parse(_document);
        var paths = json.RootElement.GetProperty("paths");

        var list = Parameters(paths.GetProperty("/jobs").GetProperty("get"));
        Assert.Equal(100, list["limit"].GetProperty("schema").GetProperty("maximum").GetInt32());
        Assert.Equal(20, list["limit"].GetProperty("schema").GetProperty("default").GetInt32());
        Assert.Equal(JobStatus.All, list["status"].GetProperty("schema").GetProperty("enum").EnumerateArray().Select(v => v.GetString()));

        var wait = Parameters(paths.GetProperty("/jobs/{jobId}").GetProperty("get"))["wait"].GetProperty("schema");
        Assert.Equal("number", wait.GetProperty("type").GetString());
        Assert.Equal(60, wait.GetProperty("maximum").GetInt32());

        var events = paths.GetProperty("/jobs/{jobId}/events").GetProperty("get");
        Assert.True(events.GetProperty("responses").GetProperty("200").GetProperty("content").TryGetProperty("text/event-stream", out _));
        Assert.Equal("header", Parameters(events)["Last-Event-ID"].GetProperty("in").GetString());

        // Both operations that read a body answer Kestrel's 408 and the body limit's 413.
        Assert.Superset(new HashSet<string> { "408", "413", "415" }, Statuses(paths.GetProperty("/dead-letters/redrive").GetProperty("post")).ToHashSet());
        Assert.Superset(new HashSet<string> { "408", "413", "415" }, Statuses(paths.GetProperty("/jobs").GetProperty("post")).ToHashSet());
        var canceling = paths.GetProperty("/jobs/{jobId}/cancel").GetProperty("post").GetProperty("responses").GetProperty("202");
        Assert.True(canceling.GetProperty("headers").TryGetProperty("Location", out _));

        // Each parameter its own description (the tenant was once described as the cursor).
        var deadLetters = Parameters(paths.GetProperty("/dead-letters").GetProperty("get"));
        Assert.Contains("tenant", deadLetters["tenant"].GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Contains("nextCursor", deadLetters["cursor"].GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    private static Dictionary<string, JsonElement> Parameters(JsonElement operation) =>
        operation.GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);

    private static IEnumerable<string> Statuses(JsonElement operation) =>
        operation.GetProperty("responses").EnumerateObject().Select(r => r.Name);
}
