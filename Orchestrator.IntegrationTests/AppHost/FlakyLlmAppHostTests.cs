using System.Net;
using System.Text;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.AppHost;

/// <summary>The AppHost with an LLM that fails half its calls and quick retries.</summary>
public sealed class FlakyLlmAppHostFixture() : AppHostFixture(
    "Simulator:FailureRate=0.5",
    "Simulator:Latency=00:00:00.02",
    "Retry:BaseDelay=00:00:00.05",
    // Half the calls fail at random: that is this test's weather, not a deployment to stop calling.
    // A ratio of 1 alone does not keep the circuit closed: failures answer before the successes have
    // streamed, so on a slow start the first 10 outcomes were all failures, the circuit opened and the
    // retries waited for its probes (19-38 s instead of ~3 s). No more calls than the run makes may open it.
    "Llm:CircuitFailureRatio=1",
    "Llm:CircuitMinimumThroughput=1000000");

/// <summary>Its own AppHost (settings differ from the shared one); runs beside one other collection, like the "apphost" collection.</summary>
[CollectionDefinition("apphost-flaky-llm")]
public sealed class FlakyLlmAppHostCollection : ICollectionFixture<FlakyLlmAppHostFixture>;

/// <summary>Many jobs through API → Redis → Worker with a flaky LLM: each ends completed or dead-lettered.</summary>
[Collection("apphost-flaky-llm")]
public sealed class FlakyLlmAppHostTests(FlakyLlmAppHostFixture fixture)
{
    private const int JobCount = 30;
    private const int MaxAttempts = 5;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan FinalStateTimeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task FailureRateHalf_EveryJobCompletesOrIsDeadLettered()
    {
        using var client = fixture.CreateHttpClient("api");

        // Whether any of the 30 fails is chance (about 60 %); two that always fail make sure the
        // dead-letter side is checked on every run.
        var doomed = await Task.WhenAll(Enumerable.Range(0, 2).Select(i => SubmitAsync(client, $"Doomed job {i}.", alwaysFail: true)));
        var jobIds = await Task.WhenAll(Enumerable.Range(0, JobCount - doomed.Length).Select(i => SubmitAsync(client, $"Flaky job {i}: summarise retries.")));
        jobIds = [.. doomed, .. jobIds];
        var jobs = new Dictionary<string, JsonElement>();
        await AsyncWait.WaitUntilAsync(
            async () =>
            {
                foreach (var jobId in jobIds.Where(id => !jobs.ContainsKey(id)))
                {
                    var job = await GetAsync(client, $"/jobs/{jobId}");
                    if (job.GetProperty("status").GetString() is "completed" or "failed")
                    {
                        jobs[jobId] = job;
                    }
                }

                return jobs.Count == JobCount;
            },
            FinalStateTimeout,
            $"all {JobCount} jobs are completed or failed",
            TimeSpan.FromMilliseconds(250));

        var deadLetters = (await GetAsync(client, "/dead-letters?limit=500")).GetProperty("items").EnumerateArray()
            .Select(j => j.GetProperty("jobId").GetString()!).ToHashSet();
        var failed = jobs.Values.Where(j => j.GetProperty("status").GetString() == "failed").ToList();
        var completed = jobs.Values.Where(j => j.GetProperty("status").GetString() == "completed").ToList();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{completed.Count} completed, {failed.Count} failed; attempts used: {string.Join(", ", jobs.Values.GroupBy(Attempts).OrderBy(g => g.Key).Select(g => $"{g.Count()}×{g.Key}"))}");

        Assert.All(doomed, id => Assert.Equal("failed", jobs[id].GetProperty("status").GetString()));
        Assert.All(failed, job =>
        {
            Assert.Contains(job.GetProperty("jobId").GetString()!, deadLetters);
            // With only transient failures, a job fails only once all its attempts are used.
            Assert.Equal(MaxAttempts, Attempts(job));
            Assert.Equal("transient", job.GetProperty("error").GetProperty("type").GetString());
        });
        Assert.All(completed, job =>
        {
            Assert.DoesNotContain(job.GetProperty("jobId").GetString()!, deadLetters);
            Assert.False(string.IsNullOrEmpty(job.GetProperty("result").GetProperty("text").GetString()));
            Assert.Equal("succeeded", History(job)[^1].GetProperty("outcome").GetString());
        });

        // Nothing else went wrong: no lost worker, no timeout, only the simulated transient failures.
        Assert.All(jobs.Values.SelectMany(History), a => Assert.Contains(a.GetProperty("outcome").GetString(), new[] { "transient-failure", "succeeded" }));

        // The settings reached the worker: half the calls fail (some job needed a retry; the chance that
        // none did is 2^-30), and every retry waited Retry:BaseDelay × 2^(n−1) give or take the 25 % jitter.
        Assert.Contains(jobs.Values, job => Attempts(job) > 1);
        foreach (var attempt in jobs.Values.SelectMany(History).Where(a => a.GetProperty("outcome").GetString() == "transient-failure"))
        {
            var n = attempt.GetProperty("attempt").GetInt32();
            if (n == MaxAttempts)
            {
                continue;
            }

            var nominal = 50 * Math.Pow(2, n - 1);
            Assert.InRange(attempt.GetProperty("retryDelayMs").GetInt64(), (long)(nominal * 0.75) - 1, (long)(nominal * 1.25) + 1);
        }
    }

    private static int Attempts(JsonElement job) => job.GetProperty("attempts").GetInt32();

    private static List<JsonElement> History(JsonElement job) => [.. job.GetProperty("history").EnumerateArray()];

    private static async Task<string> SubmitAsync(HttpClient client, string prompt, bool alwaysFail = false)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        var body = alwaysFail
            ? JsonSerializer.Serialize(new { prompt, metadata = new Dictionary<string, string> { ["simulator.failureRate"] = "1" } })
            : JsonSerializer.Serialize(new { prompt });
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await client.PostAsync("/jobs", content, cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"POST /jobs answered {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        return json.RootElement.GetProperty("jobId").GetString()!;
    }

    private static async Task<JsonElement> GetAsync(HttpClient client, string path)
    {
        var cancellationToken = TestContext.Current.CancellationToken;
        using var response = await client.GetAsync(path, cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).WaitAsync(RequestTimeout, cancellationToken);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} answered {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        return json.RootElement.Clone();
    }
}
