using System.Diagnostics;
using System.Net;
using System.Text;

namespace Orchestrator.IntegrationTests.Cluster;

/// <summary>
/// <c>Redis:WaitReplicas</c> 1 right after a failover that leaves the new master without a replica
/// (its only replica was the dead node). An audit saw 8–10 submissions answered 202 in the ~1 s after
/// the election: the client's slot map still named the dead master, so the master pinned for
/// <c>WAIT</c> was another connected one (with a replica, which confirmed at once) while the script
/// followed MOVED to the new master. No submission may be acknowledged while no replica has it.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class ClusterFailoverWaitTests
{
    [Fact]
    public async Task WaitReplicas1_MasterKilled_NewMasterHasNoReplica_No202UntilOneConfirms()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var harness = await ClusterHarness.StartAsync(
            new RedisClusterOptions { Masters = 3, ReplicasPerMaster = 1, NodeTimeout = TimeSpan.FromSeconds(2) });
        var api = await harness.StartApiAsync(new Dictionary<string, string>
        {
            ["Redis:WaitReplicas"] = "1",
            ["Redis:WaitTimeout"] = "00:00:00.300",
        }, "api-1");
        using var client = api.CreateClient(key: null);
        var master = await harness.Cluster.MasterOfAsync(harness.Store.Keys.Stream);
        var key = 0;
        // The replica's link may still be coming up after the cluster formed: a first WAIT can time out.
        await AsyncWait.WaitUntilAsync(async () => (await PostAsync(client, $"warm-{key++}")).Status == HttpStatusCode.Accepted,
            TimeSpan.FromSeconds(30), "the replica confirms a submission", TimeSpan.FromMilliseconds(100));

        // From the kill on, the partition's master has no replica (the dead node does not come back
        // here): every submission must be refused. Four lanes, so several fall in the window after the election.
        await harness.Cluster.KillAsync(master);
        var answers = new List<(HttpStatusCode Status, string Body, bool AfterFailover)>();
        var failedOver = false;
        var failover = harness.Cluster.WaitForFailoverAsync(harness.Store.Keys.Stream, master, TimeSpan.FromSeconds(30), cancellationToken)
            .ContinueWith(t => Volatile.Write(ref failedOver, t.IsCompletedSuccessfully), TaskScheduler.Default);
        var stopwatch = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(async lane =>
        {
            // Until the API has found the new master and its WAIT there confirms none: a few "not
            // replicated" answers after the failover (before the fix, 202s came first).
            while (stopwatch.Elapsed < TimeSpan.FromSeconds(30))
            {
                // A client's steady rate (the refusals come at once: unpaced, the lanes spun at ~3,000 a second).
                await Task.Delay(25, cancellationToken);
                var after = Volatile.Read(ref failedOver);
                var answer = await PostAsync(client, $"lane-{lane}-{Interlocked.Increment(ref key)}");
                lock (answers)
                {
                    answers.Add((answer.Status, answer.Body, after));
                    if (answers.Count(a => a.AfterFailover && a.Body.Contains("not-replicated", StringComparison.Ordinal)) >= 8)
                    {
                        return;
                    }
                }
            }
        }));
        await failover;

        var accepted = answers.Where(a => a.Status == HttpStatusCode.Accepted).ToList();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"master :{master.Port} killed; {answers.Count} submissions in {stopwatch.Elapsed.TotalSeconds:0.0} s: {accepted.Count} × 202 " +
            $"({accepted.Count(a => a.AfterFailover)} after the failover), " +
            $"{answers.Count(a => a.Body.Contains("not-replicated", StringComparison.Ordinal))} not-replicated, " +
            $"{answers.Count(a => a.Body.Contains("store-unavailable", StringComparison.Ordinal))} store-unavailable " +
            $"({answers.Count(a => a.AfterFailover && a.Body.Contains("store-unavailable", StringComparison.Ordinal))} after the failover)");
        Assert.True(failedOver, "the replica was not promoted");
        Assert.Empty(accepted);
        // Refused for the right reason in the end: the API wrote on the new master and its WAIT found no replica.
        Assert.True(answers.Count(a => a.AfterFailover && a.Body.Contains("not-replicated", StringComparison.Ordinal)) >= 8, "no not-replicated answers after the failover");
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a.Status));
    }

    private static async Task<(HttpStatusCode Status, string Body)> PostAsync(HttpClient client, string idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/jobs")
        {
            Content = new StringContent("""{"prompt":"Explain WAIT after a failover."}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(ClusterHarness.RequestTimeout, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, body);
    }
}
