using System.Net;
using System.Text.Json;
using Orchestrator.IntegrationTests.Infrastructure;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// A connection string naming a database (<c>defaultDatabase=3</c>) with <c>Redis:WaitReplicas</c>,
/// against a real master and replica, while the API's connections are killed between submissions (as
/// a network blip or failover does). A submission that waits for replicas is sent to the master node
/// itself, and that command named no database: after a reconnect it ran in database 0, answered
/// 202, and nothing ever read the job (an outside audit: 4 of 75 jobs in db0, a re-sent key made a
/// second job). Meanwhile a submission that found no connected node was a 500.
/// </summary>
public sealed class DefaultDatabaseTests
{
    private const int Rounds = 8;

    [Fact]
    public async Task Submit_WithDefaultDatabaseAndWaitReplicas_AcrossReconnects_EveryJobInThatDatabase()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var master = await RedisServer.StartAsync(cancellationToken: cancellationToken);
        await using var replica = await RedisServer.StartAsync(
            new RedisServerOptions { Config = new Dictionary<string, string> { ["replicaof"] = $"127.0.0.1 {master.Port}" } },
            cancellationToken);
        await using var redis = await master.ConnectAsync();
        var server = redis.GetServer(redis.GetEndPoints().Single());
        await AsyncWait.WaitUntilAsync(
            async () => (await server.ExecuteAsync("INFO", "replication")).ToString().Contains("connected_slaves:1", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the replica connected");

        await using var api = await ApiProcess.StartAsync($"{master.ConnectionString},defaultDatabase=3", new Dictionary<string, string>
        {
            ["Auth:AllowAnonymous"] = "true",
            ["Redis:WaitReplicas"] = "1",
            ["Redis:WaitTimeout"] = "00:00:02",
        });
        using var client = api.CreateClient(key: null);

        var accepted = new List<string>();
        for (var round = 0; round < Rounds; round++)
        {
            accepted.Add(await SubmitUntilAcceptedAsync(client, $"round-{round}"));
            // Every connection but this test's own (SKIPME yes): the API's reconnect.
            await server.ExecuteAsync("CLIENT", "KILL", "TYPE", "normal").WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        }

        accepted.Add(await SubmitUntilAcceptedAsync(client, "last"));
        foreach (var id in accepted)
        {
            using var response = await client.GetAsync($"/jobs/{id}", cancellationToken).WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"job {id}: {(int)response.StatusCode}");
        }

        Assert.Equal(0L, await server.DatabaseSizeAsync(0).WaitAsync(ApiFactory.RequestTimeout, cancellationToken));
    }

    /// <summary>Submits under <paramref name="key"/> until 202 (a 503 while the API reconnects is sent again, as a client does); any other answer fails.</summary>
    private static async Task<string> SubmitUntilAcceptedAsync(HttpClient client, string key)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = ApiFactory.Json("""{"prompt":"which database?"}""") };
            request.Headers.Add("x-idempotency-key", key);
            using var response = await client.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            if (response.StatusCode == HttpStatusCode.Accepted)
            {
                using var json = JsonDocument.Parse(body);
                return json.RootElement.GetProperty("jobId").GetString()!;
            }

            Assert.True(response.StatusCode == HttpStatusCode.ServiceUnavailable, $"{key}: answered {(int)response.StatusCode}: {body}");
            Assert.True(DateTime.UtcNow < deadline, $"{key}: still 503 after 30 s: {body}");
            await Task.Delay(TimeSpan.FromMilliseconds(100), TestContext.Current.CancellationToken);
        }
    }
}
