using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// Throws thousands of generated malformed requests at <c>POST /jobs</c> and <c>GET /jobs/{id}</c>
/// of the real API (in-process, over a real Redis): every answer must be a 4xx problem details or a
/// valid 202 (and then the job exists), never a 5xx, never a hang; <c>/health</c> stays 200.
/// </summary>
public sealed class SubmitFuzzTests(ApiFactory api) : IClassFixture<ApiFactory>
{
    /// <summary>Fixed, so a failure reproduces; the generator draws every case from it.</summary>
    private const int Seed = 20_240_707;
    private const int SubmitCases = 3_200;
    private const int GetCases = 800;
    private static readonly TimeSpan PerRequestTimeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Fuzz_MalformedSubmitsAndGets_AnswerProblemOr202_NeverServerErrorOrHang()
    {
        var random = new Random(Seed);
        var submits = Enumerable.Range(0, SubmitCases).Select(i => FuzzCase.Submit(random, i)).ToList();
        var gets = Enumerable.Range(0, GetCases).Select(_ => FuzzCase.Get(random)).ToList();
        var failures = new ConcurrentQueue<string>();
        var statuses = new ConcurrentDictionary<int, int>();
        var accepted = 0;
        using var client = api.CreateApiClient();
        var options = new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = TestContext.Current.CancellationToken };

        await Parallel.ForEachAsync(submits.Concat(gets), options, async (fuzz, ct) =>
        {
            using var request = fuzz.ToRequest();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(PerRequestTimeout);
            try
            {
                using var response = await client.SendAsync(request, timeout.Token);
                var body = await response.Content.ReadAsStringAsync(timeout.Token);
                var status = (int)response.StatusCode;
                statuses.AddOrUpdate(status, 1, static (_, n) => n + 1);
                var problem = await CheckAsync(client, fuzz, response, body, timeout.Token);
                if (problem is not null)
                {
                    failures.Enqueue($"{fuzz.Describe()} → {status}: {problem}");
                }
                else if (status == 202)
                {
                    Interlocked.Increment(ref accepted);
                }
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                failures.Enqueue($"{fuzz.Describe()} → no answer within {PerRequestTimeout.TotalSeconds:0} s");
            }
        });

        using var health = await ApiFactory.GetAsync(client, "/health");
        var cases = submits.Count + gets.Count;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"fuzz: {cases} cases ({submits.Count} POST /jobs, {gets.Count} GET /jobs/{{id}}), seed {Seed}; " +
            $"answers {string.Join(", ", statuses.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}"))}; " +
            $"{accepted} accepted and found; {failures.Count} failures");

        Assert.True(cases >= 3_000);
        Assert.True(failures.IsEmpty, $"{failures.Count} of {cases} fuzz cases misbehaved:{Environment.NewLine}" +
            string.Join(Environment.NewLine, failures.Take(25)));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        // The generator reaches both sides of the contract.
        Assert.True(accepted > 0, "No fuzz case was accepted: the generator never produced a valid submission.");
        Assert.True(statuses.Keys.Count(s => s is >= 400 and < 500) >= 3, "The fuzz cases hit fewer than three kinds of 4xx.");
    }

    /// <summary>Null when the answer keeps the contract, else what is wrong with it.</summary>
    private static async Task<string?> CheckAsync(HttpClient client, FuzzCase fuzz, HttpResponseMessage response, string body, CancellationToken ct)
    {
        var status = (int)response.StatusCode;
        if (status == 202 && fuzz.IsSubmit)
        {
            string? jobId;
            try
            {
                jobId = JsonDocument.Parse(body).RootElement.GetProperty("jobId").GetString();
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                return $"a 202 whose body is not the submit answer: {Trim(body)}";
            }

            using var job = await client.GetAsync($"/jobs/{jobId}", ct);
            return job.StatusCode == HttpStatusCode.OK ? null : $"accepted job {jobId} answers {(int)job.StatusCode} to GET";
        }

        if (status == 200 && !fuzz.IsSubmit)
        {
            return null;
        }

        if (status is < 400 or >= 500)
        {
            return $"not a 4xx problem: {Trim(body)}";
        }

        if (response.Content.Headers.ContentType?.MediaType != "application/problem+json")
        {
            return $"a {status} with content type '{response.Content.Headers.ContentType}', not application/problem+json: {Trim(body)}";
        }

        try
        {
            using var problem = JsonDocument.Parse(body);
            return problem.RootElement.TryGetProperty("status", out var s) && s.TryGetInt32(out var n) && n == status
                ? null
                : $"problem details without a matching status: {Trim(body)}";
        }
        catch (JsonException)
        {
            return $"problem details that are not JSON: {Trim(body)}";
        }
    }

    private static string Trim(string text) => text.Length > 300 ? text[..300] + "…" : text;
}
