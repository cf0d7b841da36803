using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>A real API process with keys, a real Redis, and the HTTP calls the results tests make.</summary>
internal sealed class ResultsSetup : IAsyncDisposable
{
    private ResultsSetup(WorkerHarness harness, ApiProcess api)
    {
        Harness = harness;
        Api = api;
        Client = api.CreateClient(TenantApiFactory.KeyA);
        Client.Timeout = TimeSpan.FromSeconds(90);
    }

    public WorkerHarness Harness { get; }

    public ApiProcess Api { get; }

    /// <summary>Tenant A's client.</summary>
    public HttpClient Client { get; }

    /// <param name="favoured">
    /// Runs the API and Redis's main thread at a higher scheduling priority
    /// (<see cref="ServiceProcess.Favoured"/>): for a test of the latency from Redis to the API's answer.
    /// </param>
    public static async Task<ResultsSetup> StartAsync(Dictionary<string, string>? apiSettings = null, bool favoured = false)
    {
        var harness = await WorkerHarness.StartAsync();
        if (favoured)
        {
            // Redis delivers the completion's pub/sub message: it is part of the path measured.
            ServiceProcess.Favour(harness.Redis.ProcessId);
        }

        var settings = new Dictionary<string, string>(TenantApiFactory.AuthSettings);
        foreach (var (key, value) in apiSettings ?? [])
        {
            settings[key] = value;
        }

        try
        {
            return new ResultsSetup(harness, await ApiProcess.StartAsync(harness.Redis.ConnectionString, settings, favoured: favoured));
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    /// <summary>Submits a job through the API as tenant A; returns its id.</summary>
    public async Task<string> SubmitAsync(string prompt, Dictionary<string, string>? metadata = null, int? maxTokens = null)
    {
        var body = new JsonObject { ["prompt"] = prompt };
        if (metadata is not null)
        {
            body["metadata"] = JsonSerializer.SerializeToNode(metadata);
        }

        if (maxTokens is { } tokens)
        {
            body["maxTokens"] = tokens;
        }

        using var response = await Client.PostAsync("/jobs", new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
            TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!["jobId"]!.GetValue<string>();
    }

    public async Task<(HttpStatusCode Status, JsonNode? Body)> SendAsync(HttpMethod method, string path, object? json = null, HttpClient? client = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = JsonContent.Create(json);
        }

        using var response = await (client ?? Client).SendAsync(request, TestContext.Current.CancellationToken)
            .WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public async Task<JsonNode> GetJobAsync(string jobId)
    {
        var (status, body) = await SendAsync(HttpMethod.Get, $"/jobs/{jobId}");
        Assert.Equal(HttpStatusCode.OK, status);
        return body!;
    }

    /// <summary>Waits (bounded) until the job's status is <paramref name="status"/>.</summary>
    public Task WaitForStatusAsync(string jobId, string status, TimeSpan timeout) =>
        AsyncWait.WaitUntilAsync(async () => (string?)await Harness.Db.HashGetAsync(Harness.Keys.Job(jobId), "status") == status,
            timeout, $"job {jobId} {status}", TimeSpan.FromMilliseconds(20));

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Api.DisposeAsync();
        await Harness.DisposeAsync();
    }
}
