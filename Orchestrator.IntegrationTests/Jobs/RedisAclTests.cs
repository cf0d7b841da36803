using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// The services as a Redis ACL user, on a real Redis and real API and worker processes. The user is
/// the one docs/operations.md gives, read from there: it runs the whole job path. A user missing a
/// right the services need (scripts, publishing, the keys) ended each start with an unhandled
/// exception (exit 134); denied only publishing, the API started, reported Healthy, and answered
/// 500 to submissions that scripts had already half-written (an outside audit). Now the start ends
/// with exit code 1 and one line quoting Redis's refusal.
/// </summary>
[Collection(RedisFaultProcessCollection.Name)]
public sealed partial class RedisAclTests
{
    private const string User = "orchestrator";
    private const string Password = "acl-test-password-7f3a";
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task DocumentedAclUser_RunsTheJobPath_SubmitReplayWaitEventsAndDeadLetters()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (api, worker) = await StartAsUserAsync(harness, new() { ["Simulator:Latency"] = "00:00:00.010", ["Retry:MaxAttempts"] = "1" });
        await using var apiProcess = api;
        using var client = api.CreateClient(key: null);

        var completed = await SubmitAsync(client, """{"prompt":"as an ACL user"}""", "acl-1");
        Assert.Equal(completed, await SubmitAsync(client, """{"prompt":"as an ACL user"}""", "acl-1"));
        var failed = await SubmitAsync(client, """{"prompt":"fail","metadata":{"simulator.permanentFailure":"true"}}""", "acl-2");

        using (var waited = await GetJsonAsync(client, $"/jobs/{completed}?wait=30"))
        {
            Assert.Equal("completed", waited.RootElement.GetProperty("status").GetString());
        }

        using (var waited = await GetJsonAsync(client, $"/jobs/{failed}?wait=30"))
        {
            Assert.Equal("failed", waited.RootElement.GetProperty("status").GetString());
        }

        // A final job's events are replayed from its list, and the stream ends.
        var events = await client.GetStringAsync($"/jobs/{completed}/events", TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Contains("\"status\":\"completed\"", events, StringComparison.Ordinal);
        Assert.Contains("event: done", events, StringComparison.Ordinal);

        using (var dead = await GetJsonAsync(client, "/dead-letters"))
        {
            Assert.Contains(dead.RootElement.GetProperty("items").EnumerateArray(), d => d.GetProperty("jobId").GetString() == failed);
        }

        Assert.False(worker.HasExited, worker.Tail());
        Assert.DoesNotContain("NOPERM", worker.Output, StringComparison.Ordinal);
    }

    /// <summary>
    /// A wait (<c>?wait=</c>) rides out a read Redis refuses for a moment: it reads again shortly
    /// and answers the final job. Before, the refused read answered 503 at once, a second into a
    /// 30 s wait (an outside audit: 4 of 36 waits under connection resets).
    /// </summary>
    [Fact]
    public async Task ReadRefusedDuringAWait_TheWaitReadsAgain_AnswersTheFinalJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await CreateUserAsync(harness, DocumentedRules());
        await using var api = await ApiProcess.StartAsync(harness.Redis.ConnectionString + $",user={User},password={Password}",
            new Dictionary<string, string> { ["Auth:AllowAnonymous"] = "true" });
        using var client = api.CreateClient(key: null);
        var jobId = await SubmitAsync(client, """{"prompt":"waited through a refusal"}""", "acl-wait");

        // The API reads a job with HGETALL and LRANGE: two reads of it (the one that finds it, the
        // one once its wait listens) mean the wait has begun. Nothing else here sends LRANGE.
        var before = await LrangeStatsAsync(harness);
        var waited = GetJsonAsync(client, $"/jobs/{jobId}?wait=30");
        await AsyncWait.WaitUntilAsync(async () => (await LrangeStatsAsync(harness)).Calls >= before.Calls + 2,
            TimeSpan.FromSeconds(30), "the API read the job twice: its wait has begun");

        // Its reads are refused (NOPERM) when the job becomes final and wakes the wait.
        await harness.Db.ExecuteAsync("ACL", "SETUSER", User, "-lrange").Bounded();
        Assert.Equal(CancelOutcome.Canceled, await harness.Store.CancelAsync(jobId).Bounded());
        await AsyncWait.WaitUntilAsync(async () => (await LrangeStatsAsync(harness)).Rejected > before.Rejected,
            TimeSpan.FromSeconds(30), "the woken wait's read was refused");
        await harness.Db.ExecuteAsync("ACL", "SETUSER", User, "+lrange").Bounded();

        using var job = await waited;
        Assert.Equal("canceled", job.RootElement.GetProperty("status").GetString());
    }

    /// <summary>
    /// The channel rights taken away while jobs run, and given back: every job completes. Redis 7.0
    /// raises a refused PUBLISH inside a script as a string, which the scripts read as the job's own
    /// error: each job finishing meanwhile was set aside as <c>corrupt</c>, its answer thrown away,
    /// half-written (failed, yet not in the dead letters; an outside audit: 60 of 100).
    /// </summary>
    [Fact]
    public async Task ChannelRightsTakenAwayWhileJobsRun_GivenBack_EveryJobCompletes()
    {
        const int Jobs = 10;
        await using var harness = await WorkerHarness.StartAsync();
        var (api, worker) = await StartAsUserAsync(harness, new() { ["Simulator:Latency"] = "00:00:02" });
        await using var apiProcess = api;
        using var client = api.CreateClient(key: null);
        var ids = new List<string>();
        for (var i = 0; i < Jobs; i++)
        {
            ids.Add(await SubmitAsync(client, $$"""{"prompt":"through a channel refusal {{i}}"}""", $"acl-channels-{i}"));
        }

        await AsyncWait.WaitUntilAsync(
            async () => (await Task.WhenAll(ids.Select(id => harness.Store.GetAsync(id)))).All(j => j?.Status == JobStatus.Processing),
            TimeSpan.FromSeconds(30), $"all {Jobs} jobs are processing");
        // Only the channel the Redis client needs for itself is left.
        await harness.Db.ExecuteAsync("ACL", "SETUSER", User, "resetchannels", "&__Booksleeve_MasterChanged").Bounded();
        try
        {
            // The calls end (2 s) and their outcomes are written meanwhile.
            await AsyncWait.WaitUntilAsync(
                async () => (await Task.WhenAll(ids.Select(id => harness.Store.GetAsync(id)))).All(j => j is not null && JobStatus.IsTerminal(j.Status)),
                TimeSpan.FromSeconds(20), $"all {Jobs} jobs are final");
        }
        finally
        {
            await harness.Db.ExecuteAsync("ACL", ["SETUSER", User, .. DocumentedRules().Split(' ').Where(r => r.StartsWith('&'))]).Bounded();
        }

        var jobs = await Task.WhenAll(ids.Select(id => harness.Store.GetAsync(id)));
        Assert.All(jobs, job => Assert.True(job!.Status == JobStatus.Completed,
            $"{job.Id} {job.Status}: {job.Error?.Type} {job.Error?.Message}"));
        Assert.False(worker.HasExited, worker.Tail());
    }

    /// <summary>
    /// The channel rights reset (which closes the user's subscriptions) and given back: the services
    /// subscribe again. The client subscribes again by itself once, at its reconnect, which Redis
    /// refused: the API and the worker ran on without pub/sub, silently, for good (an outside audit:
    /// every cancel waited its 3 s, every <c>?wait=</c> its timeout).
    /// </summary>
    [Fact]
    public async Task ChannelRightsResetAndGivenBack_TheServicesSubscribeAgain()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (api, _) = await StartAsUserAsync(harness, new() { ["Simulator:Latency"] = "00:00:00.010" });
        await using var apiProcess = api;
        using var client = api.CreateClient(key: null);
        // A job run: the worker's fetch loop has subscribed to the ready channel too.
        var jobId = await SubmitAsync(client, """{"prompt":"subscribed"}""", "acl-subscribed");
        using (var waited = await GetJsonAsync(client, $"/jobs/{jobId}?wait=30"))
        {
            Assert.Equal("completed", waited.RootElement.GetProperty("status").GetString());
        }

        string[] channels = [harness.Keys.EventsChannel.ToString(), harness.Keys.CancelChannel.ToString(), harness.Keys.ReadyChannel.ToString()];
        async Task<long[]> SubscribersAsync() =>
            [.. ((StackExchange.Redis.RedisResult[])(await harness.Db.ExecuteAsync("PUBSUB", ["NUMSUB", .. channels]).Bounded())!)
                .Where((_, i) => i % 2 == 1).Select(n => (long)n)];
        await AsyncWait.WaitUntilAsync(async () => (await SubscribersAsync()).All(n => n >= 1), TimeSpan.FromSeconds(30), "every channel has a subscriber");

        await harness.Db.ExecuteAsync("ACL", "LOG", "RESET").Bounded();
        await harness.Db.ExecuteAsync("ACL", "SETUSER", User, "resetchannels", "&__Booksleeve_MasterChanged").Bounded();
        // Closed, the subscriptions are made again at the client's reconnect, and refused: every channel's.
        await AsyncWait.WaitUntilAsync(async () => (await RefusedChannelsAsync(harness)).IsSupersetOf(channels), TimeSpan.FromSeconds(30),
            "Redis refused the services' subscriptions to every channel (ACL LOG)");
        Assert.All(await SubscribersAsync(), n => Assert.Equal(0, n));
        await harness.Db.ExecuteAsync("ACL", ["SETUSER", User, .. DocumentedRules().Split(' ').Where(r => r.StartsWith('&'))]).Bounded();

        await AsyncWait.WaitUntilAsync(async () => (await SubscribersAsync()).All(n => n >= 1), TimeSpan.FromSeconds(15),
            "the API and the worker subscribed again to the events, cancel and ready channels");
    }

    /// <summary>The channels <c>ACL LOG</c> names as refused to the user.</summary>
    private static async Task<HashSet<string>> RefusedChannelsAsync(WorkerHarness harness)
    {
        var entries = (StackExchange.Redis.RedisResult[])(await harness.Db.ExecuteAsync("ACL", "LOG").Bounded())!;
        var refused = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in entries)
        {
            var fields = (StackExchange.Redis.RedisResult[])entry!;
            var byName = Enumerable.Range(0, fields.Length / 2).ToDictionary(i => (string)fields[2 * i]!, i => fields[(2 * i) + 1].ToString(), StringComparer.Ordinal);
            if (byName.GetValueOrDefault("reason") == "channel" && byName.GetValueOrDefault("username") == User)
            {
                refused.Add(byName["object"]);
            }
        }

        return refused;
    }

    /// <summary>LRANGE's calls and refusals (<c>INFO commandstats</c>).</summary>
    private static async Task<(long Calls, long Rejected)> LrangeStatsAsync(WorkerHarness harness)
    {
        var info = (string)(await harness.Db.ExecuteAsync("INFO", "commandstats").Bounded())!;
        var line = info.Split('\n').FirstOrDefault(l => l.StartsWith("cmdstat_lrange:", StringComparison.Ordinal));
        if (line is null)
        {
            return (0, 0);
        }

        var fields = line["cmdstat_lrange:".Length..].Trim().Split(',').Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1], StringComparer.Ordinal);
        return (long.Parse(fields["calls"], System.Globalization.CultureInfo.InvariantCulture),
            long.Parse(fields.GetValueOrDefault("rejected_calls", "0"), System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData("api", "-@pubsub")]
    [InlineData("worker", "-@pubsub")]
    [InlineData("api", "-@scripting")]
    [InlineData("worker", "-@scripting")]
    [InlineData("worker", "resetkeys ~myapp:*")]
    // Only the reclaim sends it, outside any script: a worker without it ran, and a dead worker's jobs stayed pending.
    [InlineData("worker", "-xautoclaim")]
    public async Task AclUserWithoutARight_ServiceExits1QuotingTheRefusal(string service, string taken)
    {
        await using var harness = await WorkerHarness.StartAsync();
        await CreateUserAsync(harness, $"{DocumentedRules()} {taken}");
        var assembly = service == "api"
            ? WorkerProcess.WorkerAssemblyPath.Replace("Orchestrator.Worker", "Orchestrator.Api", StringComparison.Ordinal)
            : WorkerProcess.WorkerAssemblyPath;
        await using var process = ServiceProcess.Start(service, assembly, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = $"{harness.Redis.ConnectionString},user={User},password={Password}",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        });

        Assert.True(await process.WaitForExitAsync(ExitTimeout, TestContext.Current.CancellationToken),
            $"{service} did not exit within {ExitTimeout}:{Environment.NewLine}{process.Tail()}");
        Assert.True(process.ExitCode == 1, $"{service} exited with {process.ExitCode}:{Environment.NewLine}{process.Tail()}");
        Assert.Single(process.Output.Split('\n'), l => l.Contains("The Redis user may not run what the service needs", StringComparison.Ordinal));
        Assert.DoesNotContain("Unhandled exception", process.Output, StringComparison.Ordinal);
        // Nothing was half-written: no job, no stream.
        Assert.False(await harness.Db.KeyExistsAsync(new RedisKeys().Stream));
    }

    // A wrong password read as "Redis is not reachable yet (RedisConnectionException)": the cause was
    // only in later lines. The line now quotes the client's reason, and never the password.
    [Fact]
    public async Task WrongPassword_TheStartLineSaysRedisRefusedIt_WithoutThePassword()
    {
        const string wrong = "not-the-password-3c9e";
        await using var harness = await WorkerHarness.StartAsync();
        await CreateUserAsync(harness, DocumentedRules());
        // The default user takes a password too, as in production: a refused AUTH leaves a connection
        // as the default user, which here would let the worker in.
        await harness.Db.ExecuteAsync("ACL", "SETUSER", "default", "resetpass", $">{Password}").Bounded();
        await using var process = ServiceProcess.Start("worker", WorkerProcess.WorkerAssemblyPath, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = $"{harness.Redis.ConnectionString},user={User},password={wrong}",
            ["ASPNETCORE_URLS"] = "http://127.0.0.1:0",
        });

        await AsyncWait.WaitUntilAsync(() => process.HasExited || process.Output.Contains("will be checked when it connects", StringComparison.Ordinal),
            ExitTimeout, "the worker says why it cannot use Redis yet");
        // One line per check (the policy's, the partitions').
        var lines = process.Output.Split('\n').Where(l => l.Contains("Redis is not reachable yet", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(lines);
        Assert.All(lines, line => Assert.Contains("NOAUTH", line, StringComparison.Ordinal));
        Assert.DoesNotContain(wrong, process.Output, StringComparison.Ordinal);
    }

    /// <summary>The rules of the ACL line in docs/operations.md, after the password.</summary>
    private static string DocumentedRules()
    {
        var operations = File.ReadAllText(Path.Combine(RepositoryFiles.Root, "docs", "operations.md"));
        var line = AclLine().Match(operations);
        Assert.True(line.Success, "docs/operations.md has no 'ACL SETUSER orchestrator on >PASSWORD …' line");
        return line.Groups["rules"].Value.Trim();
    }

    /// <summary>The documented user created, and an API and a worker (no simulated failures, <paramref name="workerSettings"/>) started as it.</summary>
    private static async Task<(ApiProcess Api, WorkerProcess Worker)> StartAsUserAsync(WorkerHarness harness, Dictionary<string, string> workerSettings)
    {
        await CreateUserAsync(harness, DocumentedRules());
        var asUser = $",user={User},password={Password}";
        var api = await ApiProcess.StartAsync(harness.Redis.ConnectionString + asUser, new Dictionary<string, string> { ["Auth:AllowAnonymous"] = "true" });
        try
        {
            return (api, await harness.StartWorkerAsync(new Dictionary<string, string>(workerSettings) { ["Simulator:FailureRate"] = "0" }, "worker", asUser));
        }
        catch
        {
            await api.DisposeAsync();
            throw;
        }
    }

    private static async Task CreateUserAsync(WorkerHarness harness, string rules) =>
        await harness.Db.ExecuteAsync("ACL", ["SETUSER", User, "on", $">{Password}", .. rules.Split(' ', StringSplitOptions.RemoveEmptyEntries)]).Bounded();

    private static async Task<string> SubmitAsync(HttpClient client, string body, string idempotencyKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = ApiFactory.Json(body) };
        request.Headers.Add("Idempotency-Key", idempotencyKey);
        using var response = await client.SendAsync(request, TestContext.Current.CancellationToken).WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"answered {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("jobId").GetString()!;
    }

    private static async Task<JsonDocument> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text);
    }

    [GeneratedRegex(@"^ACL SETUSER orchestrator on >PASSWORD (?<rules>.+)$", RegexOptions.Multiline)]
    private static partial Regex AclLine();
}
