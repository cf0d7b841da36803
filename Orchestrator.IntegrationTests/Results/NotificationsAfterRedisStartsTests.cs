using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// An API started before Redis subscribes to job events once Redis answers (the subscription is
/// retried through the <c>redis</c> pipeline): a <c>?wait=</c> is then woken by the job's
/// completion, not ended by its timeout.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class NotificationsAfterRedisStartsTests
{
    [Fact]
    public async Task ApiStartedBeforeRedis_WaitWokenByTheCompletion()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var redis = RedisServer.Create();
        await using var api = ApiProcess.Start(redis.ConnectionString + ",abortConnect=false", new Dictionary<string, string>
        {
            ["Auth:AllowAnonymous"] = "true",
        });
        using var http = new HttpClient { BaseAddress = api.Address, Timeout = TimeSpan.FromSeconds(60) };

        // Alive with Redis down (its subscription being retried), then Redis comes.
        await AsyncWait.WaitUntilAsync(async () => await StatusOfAsync(http, "/alive") == HttpStatusCode.OK, ApiProcess.StartTimeout, "the API answers /alive");
        Assert.NotEqual(HttpStatusCode.OK, await StatusOfAsync(http, "/health"));
        await redis.StartAsync(cancellationToken);
        await api.WaitUntilHealthyAsync();

        using var submitted = await http.PostAsJsonAsync("/jobs",
            new { prompt = "Wake me when done.", metadata = new Dictionary<string, string> { ["simulator.latencyMs"] = "200" } }, cancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, submitted.StatusCode);
        var jobId = JsonNode.Parse(await submitted.Content.ReadAsStringAsync(cancellationToken))!["jobId"]!.GetValue<string>();
        await using var worker = WorkerProcess.Start(redis.ConnectionString, new Dictionary<string, string> { ["Simulator:FailureRate"] = "0" });

        var waited = Stopwatch.StartNew();
        var body = JsonNode.Parse(await http.GetStringAsync($"/jobs/{jobId}?wait=45", cancellationToken))!;
        waited.Stop();

        Assert.Equal("completed", body["status"]!.GetValue<string>());
        // Woken by the completion: the wait's timeout (45 s) is far off; the worker starts within seconds.
        Assert.True(waited.Elapsed < TimeSpan.FromSeconds(30), $"the wait took {waited.Elapsed}");
    }

    private static async Task<HttpStatusCode?> StatusOfAsync(HttpClient http, string path)
    {
        try
        {
            using var response = await http.GetAsync(path, TestContext.Current.CancellationToken);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }
}
