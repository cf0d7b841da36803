using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Api.Jobs;
using Orchestrator.Jobs;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// Redis goes away: the API answers 503 problem details quickly (the bound is 5 s), and
/// recovers by itself when Redis is back, without a restart.
/// </summary>
public sealed class RedisOutageTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    /// <summary>The behavioural bound on answering while Redis is down.</summary>
    private static readonly TimeSpan UnavailableAnswerBound = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan RecoveryTimeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task RedisStopped_SubmitAndGetAnswer503Within5s_ThenRecoverWhenRedisIsBack()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = api.CreateApiClient();
        var jobId = await SubmitAsync(client);

        await api.RedisServer.StopAsync(cancellationToken);
        try
        {
            await AssertUnavailableAsync(() => ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"while down"}"""),
                ("x-idempotency-key", "outage-" + Guid.NewGuid().ToString("N"))));
            await AssertUnavailableAsync(() => ApiFactory.GetAsync(client, $"/jobs/{jobId}"));
            await AssertUnavailableAsync(() => ApiFactory.GetAsync(client, "/dead-letters"));
            // A second submit: not only the first request after the drop fails fast.
            await AssertUnavailableAsync(() => ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"still down"}""")));
            // POSTs without an idempotency key: told to simply retry.
            await AssertUnavailableAsync(() => client.PostAsync($"/jobs/{jobId}/cancel", null, cancellationToken).WaitAsync(ApiFactory.RequestTimeout, cancellationToken));
            await AssertUnavailableAsync(() => client.PostAsync("/dead-letters/redrive", ApiFactory.Json("{}"), cancellationToken)
                .WaitAsync(ApiFactory.RequestTimeout, cancellationToken));
        }
        finally
        {
            await api.RedisServer.StartAsync(cancellationToken);
        }

        // No restart of the API: its connection comes back on its own.
        var recovery = Stopwatch.StartNew();
        await AsyncWait.WaitUntilAsync(async () =>
        {
            using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"after the outage"}"""));
            return response.StatusCode == HttpStatusCode.Accepted;
        }, RecoveryTimeout, "POST /jobs answers 202 again after Redis restarted", TimeSpan.FromMilliseconds(250));

        TestContext.Current.TestOutputHelper?.WriteLine($"POST /jobs → 202 again {recovery.Elapsed.TotalMilliseconds:0} ms after Redis answered PING");
        var after = await SubmitAsync(client);
        using var get = await ApiFactory.GetAsync(client, $"/jobs/{after}");
        Assert.Equal(HttpStatusCode.OK, get.StatusCode);
    }

    /// <summary>
    /// A wait whose last read Redis does not answer (frozen: connected, silent) ends at its time, with
    /// 503. That read waited for the client's command timeout: an outside audit's 3 s wait answered
    /// after 6.1 s.
    /// </summary>
    [Fact]
    public async Task RedisFrozenDuringAWait_AnswersWhenTheWaitEnds_503()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = api.CreateApiClient();
        var jobId = await SubmitAsync(client); // no worker: it stays queued
        var waits = api.Services.GetRequiredService<JobNotifications>();
        var waitsBefore = waits.Count;

        var stopwatch = Stopwatch.StartNew();
        var waiting = ApiFactory.GetAsync(client, $"/jobs/{jobId}?wait=2");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(waits.Count > waitsBefore), RecoveryTimeout, "the wait has begun");
        api.RedisServer.Pause();
        HttpResponseMessage response;
        try
        {
            response = await waiting;
        }
        finally
        {
            api.RedisServer.Resume();
        }

        using (response)
        {
            stopwatch.Stop();
            using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.ServiceUnavailable);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(3.5), $"a 2 s wait answered after {stopwatch.Elapsed.TotalSeconds:0.00} s");
        }
    }

    /// <summary>
    /// A job lost with Redis's data (a restart without persistence) while a client follows it: the
    /// event stream ends without 'done' and gives its place back, and a wait answers 404, as a GET
    /// then does. The stream read an empty event log and sent keep-alives for good, holding a place
    /// of Api:MaxConcurrentWaits (an outside audit: 2,000 streams still open 80 s on), and the wait
    /// answered 200 with the job as it was.
    /// </summary>
    [Fact]
    public async Task JobLostInARedisRestart_ItsEventStreamEndsWithoutDone_AndAWaitAnswers404()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var client = api.CreateApiClient();
        var jobId = await SubmitAsync(client); // no worker: it stays queued
        var waits = api.Services.GetRequiredService<JobNotifications>();
        var waitsBefore = waits.Count;
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{jobId}/events");
        using var stream = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).WaitAsync(ApiFactory.RequestTimeout, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        var waiting = ApiFactory.GetAsync(client, $"/jobs/{jobId}?wait=30");
        await AsyncWait.WaitUntilAsync(() => Task.FromResult(waits.Count == waitsBefore + 2), RecoveryTimeout, "the stream and the wait have begun");

        await api.RedisServer.StopAsync(cancellationToken);
        await api.RedisServer.StartAsync(cancellationToken);

        using var body = new StreamReader(await stream.Content.ReadAsStreamAsync(cancellationToken));
        var sent = await body.ReadToEndAsync(cancellationToken).WaitAsync(RecoveryTimeout, cancellationToken);
        Assert.Contains("event: status", sent, StringComparison.Ordinal);
        Assert.DoesNotContain("event: done", sent, StringComparison.Ordinal);
        using (var waited = await waiting.WaitAsync(RecoveryTimeout, cancellationToken))
        {
            using var problem = await ProblemAssert.IsProblemAsync(waited, HttpStatusCode.NotFound);
        }

        await AsyncWait.WaitUntilAsync(() => Task.FromResult(waits.Count == waitsBefore), RecoveryTimeout, "the stream's and the wait's places are given back");
        using var get = await ApiFactory.GetAsync(client, $"/jobs/{jobId}");
        Assert.Equal(HttpStatusCode.NotFound, get.StatusCode);
    }

    /// <summary>
    /// Redis rolled back to a snapshot (killed, restarted from an older dump) while a client follows a
    /// running job: the job is there with fewer events than the stream sent, so the stream waits for
    /// the events past its last (ids the rollback reuses are not sent twice) and ends at 'done'. An
    /// outside review saw the stream ended as if the job were gone, and its reconnect answered 400.
    /// </summary>
    [Fact]
    public async Task RedisRolledBackUnderAStream_TheJobStillThere_TheStreamGoesOnToDone()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await api.FlushAsync(); // the other tests' queued jobs: the worker below takes this one
        using var client = api.CreateApiClient();
        var jobId = await SubmitAsync(client);
        var worker = await TestWorker.StartAsync(api);
        var (lease, attempt) = Assert.Single(await worker.StartAttemptsAsync(1));
        Assert.True(await worker.Store.AppendDeltaAsync(lease, attempt, 1, "one").Bounded());
        await using var admin = await api.RedisServer.ConnectAsync("allowAdmin=true");
        var dir = (string)(await admin.GetDatabase().ExecuteAsync("CONFIG", "GET", "dir").Bounded())[1]!;
        try
        {
            // The snapshot holds events 1-3; the stream reads 1-5 before Redis dies.
            await admin.GetDatabase().ExecuteAsync("SAVE").Bounded();
            Assert.True(await worker.Store.AppendDeltaAsync(lease, attempt, 2, "two").Bounded());
            Assert.True(await worker.Store.AppendDeltaAsync(lease, attempt, 3, "three").Bounded());
            using var stream = await SseReader.OpenAsync(client, jobId, lastEventId: null);
            Assert.Equal("5", (await stream.NextAsync(5))[^1].Id);

            await api.RedisServer.KillAsync();
            await api.RedisServer.StartAsync(cancellationToken);
            await AsyncWait.WaitUntilAsync(async () =>
            {
                try
                {
                    return await worker.Store.AppendDeltaAsync(lease, attempt, 4, "four again");
                }
                catch (RedisException)
                {
                    return false;
                }
            }, RecoveryTimeout, "the job, rolled back to three events, takes a fourth");
            Assert.True(await worker.Store.AppendDeltaAsync(lease, attempt, 5, "five again").Bounded());
            Assert.True(await worker.Store.AppendDeltaAsync(lease, attempt, 6, "six").Bounded());
            Assert.True(await worker.Store.CompleteAsync(lease, attempt, new JobResult("one four again five again six", "model", new TokenUsage(1, 1))).Bounded());

            Assert.Equal(["6 delta six", "7 status completed", "8 done completed"], (await stream.ToEndAsync()).Select(e => e.Brief));
        }
        finally
        {
            // Later restarts of this class's Redis start empty, as its other tests expect.
            File.Delete(Path.Combine(dir, "dump.rdb"));
        }
    }

    private static async Task AssertUnavailableAsync(Func<Task<HttpResponseMessage>> send)
    {
        var stopwatch = Stopwatch.StartNew();
        using var response = await send();
        stopwatch.Stop();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.PathAndQuery} → {(int)response.StatusCode} in {stopwatch.Elapsed.TotalMilliseconds:0} ms");

        using var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.ServiceUnavailable);
        Assert.True(stopwatch.Elapsed < UnavailableAnswerBound,
            $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} took {stopwatch.Elapsed.TotalSeconds:0.00} s to answer 503.");
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("urn:orchestrator:problem:store-unavailable", problem.RootElement.GetProperty("type").GetString());
        var detail = problem.RootElement.GetProperty("detail").GetString();
        Assert.Contains("Redis", detail, StringComparison.Ordinal);
        // Only a submission has an idempotency key to retry with; a cancel or redrive is safe to send again.
        var request = response.RequestMessage!;
        var submission = request.Method == HttpMethod.Post && request.RequestUri?.AbsolutePath == "/jobs";
        Assert.Equal(submission, detail!.Contains("idempotency key", StringComparison.Ordinal));
        Assert.Equal(request.Method == HttpMethod.Post && !submission, detail.Contains("safe to send again", StringComparison.Ordinal));
    }

    private static async Task<string> SubmitAsync(HttpClient client)
    {
        using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json("""{"prompt":"before the outage"}"""));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)
            .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken));
        return json.RootElement.GetProperty("jobId").GetString()!;
    }
}
