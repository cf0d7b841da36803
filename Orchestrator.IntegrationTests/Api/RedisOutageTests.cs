using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Api.Jobs;

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
