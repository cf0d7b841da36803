using System.Globalization;
using System.Net;

namespace Orchestrator.IntegrationTests.Api;

/// <summary>
/// While Redis is down the API's log says so, and says it without stack traces: each <c>/health</c>
/// probe logged the Redis client's exception with its stack, and the Redis retry pipeline's Polly
/// lines two more per retry. The API runs with its own <c>appsettings.json</c> (no log level given),
/// as an operator runs it.
/// </summary>
public sealed class OutageLogTests
{
    [Fact]
    public async Task RedisDown_HealthProbesAndSubmissions_LogNoStackTraces()
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        await using var redis = await RedisServer.StartAsync(cancellationToken: cancellationToken);
        var address = new Uri($"http://127.0.0.1:{LoopbackPort.Next().ToString(CultureInfo.InvariantCulture)}");
        await using var api = ChildProcess.Start(ServiceProcess.Options("api", ApiProcess.AssemblyPath, new Dictionary<string, string>
        {
            ["ConnectionStrings:redis"] = redis.ConnectionString,
            ["ASPNETCORE_URLS"] = address.ToString().TrimEnd('/'),
            ["ASPNETCORE_ENVIRONMENT"] = "Production",
            ["Auth:AllowAnonymous"] = "true",
        }));
        await ServiceHealth.WaitAsync(api, address, ApiProcess.StartTimeout);
        using var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };
        // Anonymous outside Development is said at start (an outside audit found it silent).
        Assert.Contains("Auth:AllowAnonymous is true in environment Production", api.Output, StringComparison.Ordinal);
        // A job's event stream open across the outage (no worker: the job stays queued): Redis failing
        // under a stream already begun was logged as an unhandled exception with its stack (an outside audit).
        using var streamClient = new HttpClient { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
        var jobId = await ApiFactory.SubmitPromptAsync(client, "streamed across the outage");
        using var stream = await streamClient.GetAsync($"/jobs/{jobId}/events", HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        Assert.Equal(HttpStatusCode.OK, stream.StatusCode);
        var streamed = stream.Content.ReadAsStringAsync(cancellationToken);

        await redis.StopAsync(cancellationToken);
        for (var probe = 0; probe < 3; probe++)
        {
            using var health = await client.GetAsync("/health", cancellationToken);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
            using var submit = await client.PostAsync("/jobs", ApiFactory.Json("""{"prompt":"while down"}"""), cancellationToken);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, submit.StatusCode);
        }

        // The probes were logged, naming Redis's state.
        await AsyncWait.WaitUntilAsync(() => HealthLines().Count() >= 3, TimeSpan.FromSeconds(10), "three health check lines");
        // Whole lines in the message: a CI run once found a line without "Unhealthy", cut short in the report.
        Assert.All(HealthLines(), line => Assert.True(
            line.Contains("Unhealthy", StringComparison.Ordinal) && line.Contains("Redis does not answer", StringComparison.Ordinal),
            $"{line}\n{api.Tail(4_000)}"));
        // It ends (at its next read, within a keep-alive) without 'done': the client resumes with Last-Event-ID.
        Assert.DoesNotContain("event: done", await streamed.WaitAsync(TimeSpan.FromSeconds(30), cancellationToken), StringComparison.Ordinal);
        // Its line reaches the captured output a moment after the stream ends (the console logger's queue).
        await AsyncWait.WaitUntilAsync(() => api.Output.Contains($"Events of job {jobId}: stream ended without 'done', Redis unavailable", StringComparison.Ordinal),
            TimeSpan.FromSeconds(10), "the API logs the stream's end");
        var frames = StackFrames.In(api.Output);
        Assert.True(frames.Count == 0, $"{frames.Count} stack frames logged while Redis was down, the first: {frames.FirstOrDefault()}\n{api.Tail(8_000)}");

        IEnumerable<string> HealthLines() =>
            api.Output.Split('\n').Where(line => line.Contains("Health check redis ", StringComparison.Ordinal));
    }
}
