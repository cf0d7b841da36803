using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// What one client can make a job store, beyond the body's own limits: a W3C <c>tracestate</c>
/// over 512 characters is dropped (the job is still accepted), and metadata is bounded in bytes as
/// stored (<c>Api:MaxMetadataBytes</c>; the 400 cases are in <see cref="SubmitJobValidationTests"/>).
/// </summary>
public sealed class SubmitCapsTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    private const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    [Theory]
    [InlineData(12, true)]
    [InlineData(100, true)]
    [InlineData(512, true)]
    [InlineData(513, false)]
    [InlineData(8192, false)]
    public async Task Submit_TraceState_KeptUpTo512CharactersDroppedAbove(int length, bool kept)
    {
        var traceState = TraceState(length);
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"trace state"}"""),
            ("traceparent", TraceParent), ("tracestate", traceState));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var job = await ReadJobAsync(response);
        // The trace still links: the job's span context continues the caller's trace.
        Assert.Contains("0af7651916cd43dd8448eb211c80319c", job.TraceParent, StringComparison.Ordinal);
        Assert.Equal(kept ? traceState : null, job.TraceState);
    }

    [Fact]
    public async Task Submit_MetadataExactlyAtMaxMetadataBytes_Returns202AndStoresIt()
    {
        // {"a":"…","b":"…"} is 15 bytes around the values.
        var metadata = new Dictionary<string, string>
        {
            ["a"] = new('x', 1017),
            ["b"] = new('y', ApiFactory.MaxMetadataBytes - 15 - 1017),
        };
        Assert.Equal(ApiFactory.MaxMetadataBytes, JobMetadata.StoredBytes(metadata));
        var body = JsonSerializer.Serialize(new { prompt = "metadata at the limit", metadata });
        using var client = api.CreateApiClient();

        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json(body));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(metadata, (await ReadJobAsync(response)).Request.Metadata);
    }

    /// <summary>
    /// A valid <c>tracestate</c> of exactly <paramref name="length"/> characters: list members
    /// <c>kNN=value</c>, values of at most 256 characters as the W3C spec allows.
    /// </summary>
    private static string TraceState(int length)
    {
        var members = new List<string>();
        var remaining = length;
        for (var i = 0; remaining > 0; i++)
        {
            var prefix = $"{(members.Count > 0 ? "," : "")}k{i:00}=";
            var value = Math.Min(remaining - prefix.Length, 200);
            if (value < 1)
            {
                // Too short for another member: lengthen the previous one.
                members[^1] += new string('y', remaining);
                break;
            }

            members.Add(prefix + new string('x', value));
            remaining -= prefix.Length + value;
        }

        var text = string.Concat(members);
        Assert.Equal(length, text.Length);
        return text;
    }

    private async Task<Job> ReadJobAsync(HttpResponseMessage response)
    {
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        var jobId = json.RootElement.GetProperty("jobId").GetString()!;
        var job = await api.Services.GetRequiredService<JobStore>().GetAsync(jobId).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        return job ?? throw new InvalidOperationException($"Job {jobId} is not stored.");
    }
}
