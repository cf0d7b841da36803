using System.Globalization;
using System.Net;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Api;

/// <summary><c>GET /jobs/{jobId}</c>: the full job resource, 404 for unknown ids, never a 5xx for odd ones.</summary>
public sealed class GetJobTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    [Fact]
    public async Task Get_AfterSubmit_Returns200WithEveryFieldOfTheQueuedJob()
    {
        using var client = api.CreateApiClient();
        const string body = """{"prompt":"Write a haiku.","model":"sim-1","maxTokens":128,"temperature":0.7,"metadata":{"team":"docs","ticket":"42"}}""";

        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json(body));
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        using var accepted = JsonDocument.Parse(await ReadAsync(submitted));
        var jobId = accepted.RootElement.GetProperty("jobId").GetString()!;
        var createdAt = accepted.RootElement.GetProperty("createdAt").GetString()!;
        Assert.Equal("queued", accepted.RootElement.GetProperty("status").GetString());
        Assert.Equal($"/jobs/{jobId}", submitted.Headers.Location?.OriginalString);
        Assert.StartsWith("application/json", submitted.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);

        using var response = await ApiFactory.GetAsync(client, $"/jobs/{jobId}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var job = JsonDocument.Parse(await ReadAsync(response));
        var root = job.RootElement;

        Assert.Equal(jobId, root.GetProperty("jobId").GetString());
        Assert.Equal("queued", root.GetProperty("status").GetString());
        Assert.Equal("Write a haiku.", root.GetProperty("prompt").GetString());
        Assert.Equal("sim-1", root.GetProperty("model").GetString());
        Assert.Equal(128, root.GetProperty("maxTokens").GetInt32());
        Assert.Equal(0.7, root.GetProperty("temperature").GetDouble());
        var metadata = root.GetProperty("metadata");
        Assert.Equal(2, metadata.EnumerateObject().Count());
        Assert.Equal("docs", metadata.GetProperty("team").GetString());
        Assert.Equal("42", metadata.GetProperty("ticket").GetString());
        Assert.Equal(0, root.GetProperty("attempts").GetInt32());
        Assert.Equal(ApiFactory.MaxAttempts, root.GetProperty("maxAttempts").GetInt32());

        // The same instant, written the same way, as the 202 answer: ISO-8601 in UTC.
        Assert.Equal(createdAt, root.GetProperty("createdAt").GetString());
        AssertIsoUtc(createdAt);
        var created = DateTimeOffset.Parse(createdAt, CultureInfo.InvariantCulture);
        Assert.InRange(created, DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddMinutes(1));
        var updatedAt = root.GetProperty("updatedAt").GetString()!;
        AssertIsoUtc(updatedAt);
        Assert.Equal(created, DateTimeOffset.Parse(updatedAt, CultureInfo.InvariantCulture));

        Assert.Equal(JsonValueKind.Null, root.GetProperty("completedAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("nextAttemptAt").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("result").ValueKind);
        Assert.Equal(JsonValueKind.Null, root.GetProperty("error").ValueKind);
        Assert.Equal(JsonValueKind.Array, root.GetProperty("history").ValueKind);
        Assert.Equal(0, root.GetProperty("history").GetArrayLength());
    }

    [Fact]
    public async Task Get_OnlyPrompt_OptionalFieldsAreNull()
    {
        using var client = api.CreateApiClient();

        using var submitted = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"Just this."}"""));
        using var accepted = JsonDocument.Parse(await ReadAsync(submitted));
        using var response = await ApiFactory.GetAsync(client, $"/jobs/{accepted.RootElement.GetProperty("jobId").GetString()}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var job = JsonDocument.Parse(await ReadAsync(response));
        foreach (var field in new[] { "model", "maxTokens", "temperature", "metadata" })
        {
            Assert.Equal(JsonValueKind.Null, job.RootElement.GetProperty(field).ValueKind);
        }
    }

    [Fact]
    public async Task Get_UnknownWellFormedId_Returns404Problem()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, $"/jobs/{Orchestrator.Jobs.JobIds.New()}");

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("/jobs/%20")]
    [InlineData("/jobs/abc")]
    [InlineData("/jobs/../x")]
    [InlineData("/jobs/%2E%2E%2Fx")]
    [InlineData("/jobs/aaaaaaaaaaaaaaaaaaaaa!")]
    [InlineData("/jobs/%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80%F0%9F%98%80")]
    [InlineData("/jobs/%FF%FE")]
    [InlineData("/jobs/*")]
    [InlineData("/jobs/{orch}:stream")]
    public async Task Get_MalformedId_Returns4xxProblemNever5xx(string path)
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, path);

        Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound,
            $"{path} answered {(int)response.StatusCode}.");
        using var problem = await ProblemAssert.IsProblemAsync(response, response.StatusCode);
    }

    [Fact]
    public async Task Get_VeryLongId_Returns4xxProblemNever5xx()
    {
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.GetAsync(client, "/jobs/" + new string('a', 8000));

        Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound,
            $"A long id answered {(int)response.StatusCode}.");
        using var problem = await ProblemAssert.IsProblemAsync(response, response.StatusCode);
    }

    private static void AssertIsoUtc(string timestamp)
    {
        Assert.EndsWith("Z", timestamp, StringComparison.Ordinal);
        Assert.True(DateTimeOffset.TryParseExact(timestamp, "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal, out _), $"'{timestamp}' is not ISO-8601 UTC.");
    }

    private static Task<string> ReadAsync(HttpResponseMessage response) =>
        response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
}
