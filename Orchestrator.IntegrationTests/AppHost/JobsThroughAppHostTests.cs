using System.Net;
using System.Text;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>A job through the whole distributed app: API → Redis → Worker → Redis → API.</summary>
[Collection("apphost")]
public sealed class JobsThroughAppHostTests(AppHostFixture fixture)
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan FinalStateTimeout = TimeSpan.FromSeconds(60);
    private static readonly string[] States = ["queued", "processing", "retrying", "completed", "failed"];

    [Fact]
    public async Task Submit_ThroughApi_WorkerBringsJobToAFinalState()
    {
        using var client = fixture.CreateHttpClient("api");
        var key = "apphost-" + Guid.NewGuid().ToString("N");

        var jobId = await SubmitAsync(client, """{"prompt":"Say hello through the AppHost."}""", key);
        using (var first = await GetJobAsync(client, jobId))
        {
            Assert.Contains(first.RootElement.GetProperty("status").GetString(), States);
        }

        var status = await WaitForFinalStateAsync(client, jobId);

        Assert.True(status is "completed" or "failed", $"Job {jobId} ended as '{status}'.");
    }

    [Fact]
    public async Task Submit_FirstAttemptFailsTransiently_CompletesOnTheSecondAttemptWithHistory()
    {
        using var client = fixture.CreateHttpClient("api");
        // Per-job simulator hints: the first attempt fails transiently, none fails at random.
        const string body = """{"prompt":"Retry me once.","metadata":{"simulator.failFirstAttempts":"1","simulator.failureRate":"0"}}""";

        var jobId = await SubmitAsync(client, body, idempotencyKey: null);
        var status = await WaitForFinalStateAsync(client, jobId);

        Assert.Equal("completed", status);
        using var job = await GetJobAsync(client, jobId);
        var root = job.RootElement;
        Assert.Equal(2, root.GetProperty("attempts").GetInt32());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("result").GetProperty("text").GetString()));
        Assert.NotEqual(JsonValueKind.Null, root.GetProperty("completedAt").ValueKind);
        var history = root.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(2, history.Count);
        Assert.Equal("transient-failure", history[0].GetProperty("outcome").GetString());
        Assert.Equal("succeeded", history[1].GetProperty("outcome").GetString());
    }

    private static async Task<string> SubmitAsync(HttpClient client, string body, string? idempotencyKey)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/jobs")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (idempotencyKey is not null)
        {
            request.Headers.Add("x-idempotency-key", idempotencyKey);
        }

        using var response = await client.SendAsync(request, cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"POST /jobs answered {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        var jobId = json.RootElement.GetProperty("jobId").GetString()!;
        Assert.Equal($"/jobs/{jobId}", response.Headers.Location?.OriginalString);
        return jobId;
    }

    private static async Task<JsonDocument> GetJobAsync(HttpClient client, string jobId)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var response = await client.GetAsync($"/jobs/{jobId}", cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /jobs/{jobId} answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text);
    }

    private static async Task<string> WaitForFinalStateAsync(HttpClient client, string jobId)
    {
        string? status = null;
        await AsyncWait.WaitUntilAsync(async () =>
        {
            using var job = await GetJobAsync(client, jobId);
            status = job.RootElement.GetProperty("status").GetString();
            Assert.Contains(status, States);
            return status is "completed" or "failed";
        }, FinalStateTimeout, $"job {jobId} is completed or failed", TimeSpan.FromMilliseconds(200));
        return status!;
    }
}
