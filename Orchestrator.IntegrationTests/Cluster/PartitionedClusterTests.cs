using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Cluster;

/// <summary>
/// <c>Jobs:Partitions</c> over a real local Redis Cluster (issue 18): the job system spread over
/// every master, with several API and worker processes.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class PartitionedClusterTests
{
    private const int Partitions = 6;

    private static readonly Dictionary<string, string> WorkerSettings = new()
    {
        ["Simulator:FailureRate"] = "0",
        ["Simulator:Latency"] = "00:00:00.005",
        ["Worker:Concurrency"] = "32",
    };

    [Fact]
    public async Task SixPartitionsOnThreeMasters_3000Jobs_TwoApisThreeWorkers_EachCompletedOnceSpreadOverEveryMaster()
    {
        const int Jobs = 3000;
        await using var harness = await ClusterHarness.StartAsync(new RedisClusterOptions { Masters = 3 }, Partitions);
        var apis = await Task.WhenAll(harness.StartApiAsync(new Dictionary<string, string>(), "api-1"), harness.StartApiAsync(new Dictionary<string, string>(), "api-2"));
        await Task.WhenAll(Enumerable.Range(1, 3).Select(i => harness.StartWorkerAsync(WorkerSettings, $"worker-{i}")));

        // Half the jobs through each API, at once; each key its own (so each job's partition is its key's).
        var reports = await Task.WhenAll(apis.Select((api, i) =>
            ClusterHarness.SubmitAsync(api, Jobs / 2, concurrency: 16, deadline: TimeSpan.FromSeconds(60), keyPrefix: $"api-{i}-")));
        var ids = reports.SelectMany(r => r.Acknowledged.Values).ToList();
        var jobs = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));

        Assert.Equal(Jobs, ids.Distinct(StringComparer.Ordinal).Count());
        Assert.All(reports, r => Assert.Equal(0, r.Refused + r.Lost));
        Assert.All(jobs, job =>
        {
            Assert.Equal(JobStatus.Completed, job.Status);
            Assert.Equal(AttemptOutcome.Succeeded, Assert.Single(job.History).Outcome);
        });
        // Completed once: across the three workers, each job is logged completed exactly once.
        var completed = harness.Workers.SelectMany(w => w.CompletedJobIds()).ToList();
        Assert.Equal(Jobs, completed.Count);
        Assert.Equal(ids.ToHashSet(StringComparer.Ordinal), completed.ToHashSet(StringComparer.Ordinal));
        Assert.All(harness.Workers, w => Assert.NotEmpty(w.CompletedJobIds()));

        // Every partition got jobs, and each master holds 20–45 % of the job hashes.
        Assert.Equal(Partitions, ids.Select(id => JobPartitions.Of(id, Partitions)).Distinct().Count());
        var perMaster = new List<(int Port, long Jobs)>();
        foreach (var master in await harness.Cluster.MastersAsync())
        {
            var server = harness.Connection.GetServer("127.0.0.1", master.Port);
            long count = 0;
            await foreach (var key in server.KeysAsync(pattern: "{orch:*}:job:*", pageSize: 1000))
            {
                count += ((string)key!).EndsWith(":attempts", StringComparison.Ordinal) || ((string)key!).EndsWith(":eventlog", StringComparison.Ordinal) ? 0 : 1;
            }

            perMaster.Add((master.Port, count));
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"job hashes per master: {string.Join(", ", perMaster.Select(m => $":{m.Port} {m.Jobs}"))}");
        Assert.Equal(3, perMaster.Count);
        Assert.Equal(Jobs, perMaster.Sum(m => m.Jobs));
        Assert.All(perMaster, m => Assert.InRange(m.Jobs, Jobs * 20 / 100, Jobs * 45 / 100));
        // The one-partition layout's keys are not used.
        Assert.False(await harness.Connection.GetDatabase().KeyExistsAsync("{orch}:stream"));
    }

    [Fact]
    public async Task SixPartitions_ListingsMergeThePartitionsNewestFirst_AndAServiceWithAnotherCountRefusesToStart()
    {
        const int Jobs = 120;
        await using var harness = await ClusterHarness.StartAsync(new RedisClusterOptions { Masters = 3 }, Partitions);
        var api = await harness.StartApiAsync(new Dictionary<string, string>(), "api-1");
        var submitted = await ClusterHarness.SubmitAsync(api, Jobs, concurrency: 8, deadline: TimeSpan.FromSeconds(30));
        var ids = submitted.Acknowledged.Values.ToHashSet(StringComparer.Ordinal);

        // GET /jobs pages through every partition's index with one cursor: each job once, newest first.
        using var client = api.CreateClient(key: null);
        var listed = new List<(string Id, DateTimeOffset CreatedAt)>();
        string? cursor = null;
        do
        {
            var page = await client.GetFromJsonAsync<JsonElement>(
                cursor is null ? "/jobs?limit=17" : $"/jobs?limit=17&cursor={Uri.EscapeDataString(cursor)}", TestContext.Current.CancellationToken);
            listed.AddRange(page.GetProperty("items").EnumerateArray()
                .Select(j => (j.GetProperty("jobId").GetString()!, j.GetProperty("createdAt").GetDateTimeOffset())));
            cursor = page.TryGetProperty("nextCursor", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (cursor is not null);

        Assert.Equal(Jobs, ids.Count);
        Assert.Equal(Jobs, listed.Count);
        Assert.Equal(ids, listed.Select(l => l.Id).ToHashSet(StringComparer.Ordinal));
        Assert.Equal(listed.Select(l => l.CreatedAt).OrderDescending(), listed.Select(l => l.CreatedAt));
        var counts = await client.GetFromJsonAsync<JsonElement>("/jobs/counts", TestContext.Current.CancellationToken);
        Assert.Equal(Jobs, counts.GetProperty("byStatus").GetProperty("queued").GetInt32());

        // {orch}:meta says 6: a worker configured with 1 partition exits at start, saying why.
        Assert.Equal("6", (string?)await harness.Connection.GetDatabase().HashGetAsync("{orch}:meta", "partitions"));
        await using var wrong = WorkerProcess.Start(harness.Cluster.ConnectionString, new Dictionary<string, string> { ["Jobs:Partitions"] = "1" }, "worker-wrong");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(wrong.HasExited), TimeSpan.FromSeconds(60), "the misconfigured worker exited");
        Assert.Equal(1, wrong.ExitCode);
        Assert.Contains("Jobs:Partitions is 1 but the job data in Redis is laid out in 6 partition(s)", wrong.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SixPartitionsOnThreeMasters_OneMasterFrozen_SubmissionsToTheOtherMastersAnswered202AtOnce()
    {
        // The node timeout outlasts the freeze: the cluster must not mark the frozen master failed
        // (with no replica to promote, every master would then refuse for want of full coverage).
        await using var harness = await ClusterHarness.StartAsync(new RedisClusterOptions { Masters = 3, NodeTimeout = TimeSpan.FromSeconds(60) }, Partitions);
        // A tenant with a MaxQueuedJobs quota: its submissions read every partition's count first.
        const string QuotaTenant = "quota", QuotaKey = "quota-tenant-key-0123456789";
        var api = await harness.StartApiAsync(new Dictionary<string, string>
        {
            [$"Tenants:{QuotaTenant}:ApiKeys:0"] = QuotaKey,
            [$"Tenants:{QuotaTenant}:MaxQueuedJobs"] = "1000",
        }, "api-1");
        using var client = api.CreateClient(key: null);
        using var quotaClient = api.CreateClient(QuotaKey);
        var masters = new List<RedisServer>();
        for (var p = 0; p < Partitions; p++)
        {
            masters.Add(await harness.Cluster.MasterOfAsync(harness.Store.Keys.For(p).Stream));
        }

        var frozen = masters[0];
        bool OnFrozen(int partition) => masters[partition].Port == frozen.Port;
        Assert.InRange(Enumerable.Range(0, Partitions).Count(OnFrozen), 1, Partitions - 1);
        // Keys drawn as the API draws the job: into the idempotency key's partition (JobStore.NewJobId).
        var partitionOf = (string key) => JobPartitions.OfIdempotencyKey(TenantNames.Default, key, Partitions);
        var keys = Enumerable.Range(0, 1000).Select(i => $"frozen-test-{i}").ToList();
        var frozenKeys = keys.Where(k => OnFrozen(partitionOf(k))).Take(8).ToList();
        var healthyKeys = keys.Where(k => !OnFrozen(partitionOf(k))).Take(40).ToList();
        // One submission per partition first: submit.lua loaded and a connection open on every master.
        var warmKeys = Enumerable.Range(0, 1000).Select(i => $"warm-{i}").ToList();
        foreach (var key in Enumerable.Range(0, Partitions).Select(p => warmKeys.First(k => partitionOf(k) == p)))
        {
            Assert.Equal(HttpStatusCode.Accepted, (await TimedPostAsync(client, key)).Status);
        }

        frozen.Pause();
        (HttpStatusCode Status, TimeSpan Took, string Body)[] healthy;
        List<Task<(HttpStatusCode Status, TimeSpan Took, string Body)>> stalled;
        int answeredDuringFreeze;
        try
        {
            // In flight through the whole healthy burst: each waits for a round trip the frozen master does not answer.
            stalled = [.. frozenKeys.Select(k => TimedPostAsync(client, k))];
            // Its job goes to a healthy master, but its count reads the frozen one: it waits, and
            // must not hold up the submissions of its partition that read only their own.
            var quotaKey = keys.First(k => !OnFrozen(JobPartitions.OfIdempotencyKey(QuotaTenant, k, Partitions)));
            stalled.Add(TimedPostAsync(quotaClient, quotaKey));
            // Four at a time, so healthy submissions also share round trips (of their own partitions).
            healthy = [.. (await Task.WhenAll(healthyKeys.Chunk(healthyKeys.Count / 4).Select(async lane =>
            {
                var answers = new List<(HttpStatusCode, TimeSpan, string)>();
                foreach (var key in lane)
                {
                    answers.Add(await TimedPostAsync(client, key));
                }

                return answers;
            })).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken)).SelectMany(a => a)];
            answeredDuringFreeze = stalled.Count(t => t.IsCompleted);
        }
        finally
        {
            frozen.Resume();
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"master :{frozen.Port} frozen; {healthy.Length} submissions to the other masters answered in " +
            $"{string.Join(", ", healthy.Select(h => $"{h.Took.TotalMilliseconds:0}"))} ms");
        Assert.All(healthy, h =>
        {
            Assert.True(h.Status == HttpStatusCode.Accepted, $"answered {(int)h.Status} after {h.Took.TotalMilliseconds:0} ms: {h.Body}");
            Assert.True(h.Took < TimeSpan.FromSeconds(1), $"answered 202 only after {h.Took.TotalMilliseconds:0} ms");
        });
        // The freeze held throughout: no submission to the frozen master was answered meanwhile.
        Assert.Equal(0, answeredDuringFreeze);

        // Once the master runs again, the stalled submissions were answered (503 or 202) and a re-send
        // with the same key is accepted, with the job in the key's partition.
        var after = await Task.WhenAll(stalled).WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.All(after, a => Assert.Contains(a.Status, new[] { HttpStatusCode.Accepted, HttpStatusCode.ServiceUnavailable }));
        foreach (var key in frozenKeys.Concat(healthyKeys))
        {
            var resent = await TimedPostAsync(client, key);
            Assert.True(resent.Status == HttpStatusCode.Accepted, $"re-send of {key} answered {(int)resent.Status}: {resent.Body}");
            var jobId = JsonDocument.Parse(resent.Body).RootElement.GetProperty("jobId").GetString()!;
            Assert.Equal(partitionOf(key), JobPartitions.Of(jobId, Partitions));
            Assert.Equal(JobStatus.Queued, (await harness.Store.GetAsync(jobId).WaitAsync(ClusterHarness.RequestTimeout, TestContext.Current.CancellationToken))?.Status);
        }
    }

    // A worker's dispatch went through the partitions in turn and threw at the first whose master did
    // not answer; sent again in the same order, it never reached the others, and no job of any
    // partition started until that master was back (an outside audit: up to 60 s during a slot move).
    [Fact]
    public async Task SixPartitionsOnThreeMasters_OneMasterFrozen_JobsOfTheOtherPartitionsRunMeanwhile()
    {
        await using var harness = await ClusterHarness.StartAsync(new RedisClusterOptions { Masters = 3, NodeTimeout = TimeSpan.FromSeconds(60) }, Partitions);
        var api = await harness.StartApiAsync(new Dictionary<string, string>(), "api-1");
        var worker = await harness.StartWorkerAsync(WorkerSettings, "worker-1");
        using var client = api.CreateClient(key: null);
        var masters = new List<RedisServer>();
        for (var p = 0; p < Partitions; p++)
        {
            masters.Add(await harness.Cluster.MasterOfAsync(harness.Store.Keys.For(p).Stream));
        }

        // Not the master of {orch} (the fleet's LLM flow control and leases, every job's path): one
        // that holds partitions alone.
        var orchMaster = await harness.Cluster.MasterOfAsync(harness.Store.Keys.Meta);
        var frozen = masters.First(m => m.Port != orchMaster.Port);
        bool OnFrozen(int partition) => masters[partition].Port == frozen.Port;
        Assert.InRange(Enumerable.Range(0, Partitions).Count(OnFrozen), 1, Partitions - 1);
        var partitionOf = (string key) => JobPartitions.OfIdempotencyKey(TenantNames.Default, key, Partitions);
        async Task<string> SubmitAsync(string key)
        {
            var (status, _, body) = await TimedPostAsync(client, key);
            Assert.True(status == HttpStatusCode.Accepted, $"{key} answered {(int)status}: {body}");
            return JsonDocument.Parse(body).RootElement.GetProperty("jobId").GetString()!;
        }

        // A job run in every partition first: the worker has asked every master.
        var warmKeys = Enumerable.Range(0, 1000).Select(i => $"warm-{i}").ToList();
        var warm = new List<string>();
        foreach (var key in Enumerable.Range(0, Partitions).Select(p => warmKeys.First(k => partitionOf(k) == p)))
        {
            warm.Add(await SubmitAsync(key));
        }

        await harness.WaitUntilAllFinalAsync(warm, TimeSpan.FromSeconds(60));

        var healthyKeys = Enumerable.Range(0, 1000).Select(i => $"meanwhile-{i}").Where(k => !OnFrozen(partitionOf(k))).Take(30).ToList();
        IReadOnlyList<Job> ran;
        var frozenAt = Stopwatch.GetTimestamp();
        frozen.Pause();
        try
        {
            var ids = new List<string>();
            foreach (var key in healthyKeys)
            {
                ids.Add(await SubmitAsync(key));
            }

            ran = await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(30));
        }
        finally
        {
            frozen.Resume();
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"master :{frozen.Port} frozen; {ran.Count} jobs of the other partitions final {Stopwatch.GetElapsedTime(frozenAt).TotalSeconds:0.0} s after");
        Assert.All(ran, job =>
        {
            Assert.Equal(JobStatus.Completed, job.Status);
            Assert.Equal(AttemptOutcome.Succeeded, Assert.Single(job.History).Outcome);
        });
        Assert.False(worker.HasExited);
    }

    // A worker's outcomes went out in one commit over every partition, and its lease renewals in
    // chunks of 256 over every partition: with a master frozen, the jobs of the other partitions
    // waited for it to finish (an outside audit: 15 jobs 30 s), and the jobs beyond the first chunk
    // were not renewed while it failed, so their leases lapsed and another worker ran them again.
    [Fact]
    public async Task SixPartitionsOnThreeMasters_OneMasterFrozenWhile330JobsRun_TheOtherPartitionsJobsCompleteMeanwhileEachOnce()
    {
        const int Jobs = 330;
        await using var harness = await ClusterHarness.StartAsync(new RedisClusterOptions { Masters = 3, NodeTimeout = TimeSpan.FromSeconds(60) }, Partitions);
        var api = await harness.StartApiAsync(new Dictionary<string, string>(), "api-1");
        // Every job in one worker (more than one renewal chunk); calls that outlast two leases.
        var settings = new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            // 2 s, then 60 tokens streamed over 6 s: the running jobs write their text as it comes.
            ["Simulator:Latency"] = "00:00:02",
            ["Simulator:TokensPerSecond"] = "10",
            ["Simulator:CompletionTokens"] = "60",
            ["Worker:Concurrency"] = "400",
            ["Worker:LeaseTimeout"] = "00:00:03",
        };
        await harness.StartWorkerAsync(settings, "worker-1");
        var masters = new List<RedisServer>();
        for (var p = 0; p < Partitions; p++)
        {
            masters.Add(await harness.Cluster.MasterOfAsync(harness.Store.Keys.For(p).Stream));
        }

        var orchMaster = await harness.Cluster.MasterOfAsync(harness.Store.Keys.Meta);
        var frozen = masters.First(m => m.Port != orchMaster.Port);
        var report = await ClusterHarness.SubmitAsync(api, Jobs, concurrency: 16, deadline: TimeSpan.FromSeconds(30), keyPrefix: "running-");
        var ids = report.Acknowledged.Values.ToList();
        Assert.Equal(Jobs, ids.Count);
        await AsyncWait.WaitUntilAsync(
            async () => (await Task.WhenAll(ids.Select(id => harness.Store.GetAsync(id)))).All(j => j?.Status == JobStatus.Processing),
            TimeSpan.FromSeconds(10), $"all {Jobs} jobs are processing", TimeSpan.FromMilliseconds(100));
        // A second worker, idle, that reclaims any lease left to lapse.
        await harness.StartWorkerAsync(settings, "worker-2");
        var healthy = ids.Where(id => masters[JobPartitions.Of(id, Partitions)].Port != frozen.Port).ToList();
        Assert.InRange(healthy.Count, 1, Jobs - 1);

        // A lease is its stream entry's idle time (renew.lua resets it): read on the healthy partitions
        // throughout the freeze, none may reach the lease's length.
        var healthyStreams = Enumerable.Range(0, Partitions).Where(p => masters[p].Port != frozen.Port).Select(p => harness.Store.Keys.For(p).Stream).ToList();
        var db = harness.Connection.GetDatabase();
        long longestIdleMs = 0;
        IReadOnlyList<Job> ran;
        var frozenAt = Stopwatch.GetTimestamp();
        frozen.Pause();
        try
        {
            using var done = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            var idleReader = Task.Run(async () =>
            {
                while (!done.IsCancellationRequested)
                {
                    foreach (var stream in healthyStreams)
                    {
                        var pending = await db.StreamPendingMessagesAsync(stream, RedisKeys.ConsumerGroup, 1000, RedisValue.Null);
                        longestIdleMs = Math.Max(longestIdleMs, pending.Select(m => m.IdleTimeInMilliseconds).DefaultIfEmpty(0).Max());
                    }

                    await Task.Delay(250, CancellationToken.None);
                }
            }, CancellationToken.None);
            ran = await harness.WaitUntilAllFinalAsync(healthy, TimeSpan.FromSeconds(25));
            await done.CancelAsync();
            await idleReader;
        }
        finally
        {
            frozen.Resume();
        }

        TestContext.Current.TestOutputHelper?.WriteLine(
            $"master :{frozen.Port} frozen; {ran.Count} running jobs of the other partitions final {Stopwatch.GetElapsedTime(frozenAt).TotalSeconds:0.0} s after; " +
            $"their leases idle {longestIdleMs} ms at most");
        Assert.True(longestIdleMs < 3000, $"a running job's lease was left idle {longestIdleMs} ms, past its 3 s lease");
        Assert.All(ran, job =>
        {
            Assert.Equal(JobStatus.Completed, job.Status);
            Assert.Equal(AttemptOutcome.Succeeded, Assert.Single(job.History).Outcome);
        });
        Assert.All(await harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60)), job => Assert.Equal(JobStatus.Completed, job.Status));
    }

    /// <summary>POST /jobs with <paramref name="idempotencyKey"/>: the status, how long the answer took, and its body.</summary>
    internal static async Task<(HttpStatusCode Status, TimeSpan Took, string Body)> TimedPostAsync(HttpClient client, string idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/jobs")
        {
            Content = new StringContent("""{"prompt":"Explain partitions."}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        var started = Stopwatch.GetTimestamp();
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken);
        var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, Stopwatch.GetElapsedTime(started), body);
    }
}
