using System.Net;
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

    [Fact]
    public async Task Fuzz_MalformedSubmitsAndGets_AnswerProblemOr202_NeverServerErrorOrHang()
    {
        var random = new Random(Seed);
        var submits = Enumerable.Range(0, SubmitCases).Select(i => SubmitFuzzCases.Submit(random, i)).ToList();
        var gets = Enumerable.Range(0, GetCases).Select(_ => SubmitFuzzCases.Get(random)).ToList();
        var accepted = 0;
        using var client = api.CreateApiClient();
        var runner = new FuzzRunner(client);

        await runner.RunAsync(submits.Concat(gets), async (fuzz, answer, ct) =>
        {
            var problem = await CheckAsync(client, fuzz, answer, ct);
            if (problem is null && answer.Status == 202)
            {
                Interlocked.Increment(ref accepted);
            }

            return problem;
        });

        using var health = await ApiFactory.GetAsync(client, "/health");
        var cases = submits.Count + gets.Count;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"fuzz: {cases} cases ({submits.Count} POST /jobs, {gets.Count} GET /jobs/{{id}}), seed {Seed}; " +
            $"answers {runner.Tally}; {accepted} accepted and found; {runner.Failures.Count} failures");

        Assert.True(cases >= 3_000);
        Assert.True(runner.Failures.Count == 0, runner.Report(cases));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        // The generator reaches both sides of the contract.
        Assert.True(accepted > 0, "No fuzz case was accepted: the generator never produced a valid submission.");
        Assert.True(runner.Statuses.Keys.Count(s => s is >= 400 and < 500) >= 3, "The fuzz cases hit fewer than three kinds of 4xx.");
    }

    /// <summary>Null when the answer keeps the contract, else what is wrong with it.</summary>
    private static async Task<string?> CheckAsync(HttpClient client, FuzzCase fuzz, FuzzAnswer answer, CancellationToken ct)
    {
        if (answer.Status == 202 && fuzz.IsSubmit)
        {
            string? jobId;
            try
            {
                jobId = JsonDocument.Parse(answer.Body).RootElement.GetProperty("jobId").GetString();
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
            {
                return $"a 202 whose body is not the submit answer: {FuzzContract.Trim(answer.Body)}";
            }

            using var job = await client.GetAsync($"/jobs/{jobId}", ct);
            return job.StatusCode == HttpStatusCode.OK ? null : $"accepted job {jobId} answers {(int)job.StatusCode} to GET";
        }

        return answer.Status == 200 && !fuzz.IsSubmit ? FuzzContract.JsonObjectViolation(answer) : FuzzContract.ProblemViolation(answer);
    }
}
