using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Orchestrator.Api.Jobs;

namespace Orchestrator.IntegrationTests.Fuzz;

/// <summary>
/// Throws generated malformed calls at every endpoint but <c>POST /jobs</c> (<see cref="SubmitFuzzTests"/>
/// has it) of the real API with API keys required (in-process, over a real Redis), aimed at real
/// jobs of two tenants, queued, processing, canceled and dead-lettered: every answer must be the
/// operation's success or a 4xx problem details, never a 5xx, never a hang; no success without a
/// valid key, for another tenant's job or listing, on a wrong method or route; every closed event
/// stream lets go of its wait; <c>/health</c> stays 200.
/// </summary>
public sealed class EndpointFuzzTests(FuzzApiFactory api) : IClassFixture<FuzzApiFactory>
{
    /// <summary>Fixed, so a failure reproduces; the generator draws every case from it.</summary>
    private const int Seed = 20_261_205;
    private const int Cases = 1_500;

    [Fact]
    public async Task Fuzz_MalformedCallsToEveryEndpoint_AnswerSuccessOrProblem_NeverServerErrorOrHang()
    {
        var targets = await MakeTargetsAsync();
        var random = new Random(Seed);
        // The filtered redrives last: the first that matches would empty the dead letters the single redrives aim at.
        var cases = Enumerable.Range(0, Cases).Select(i => EndpointFuzzCases.Draw(random, i, targets))
            .OrderBy(c => c.Family == EndpointFuzzCases.RedriveMany).ToList();
        using var client = api.CreateApiClient();
        var runner = new FuzzRunner(client);

        await runner.RunAsync(cases, (fuzz, answer, _) => Task.FromResult(Check(fuzz, answer)));

        using var health = await ApiFactory.GetAsync(client, "/health");
        var waits = api.Services.GetRequiredService<JobNotifications>();
        TestContext.Current.TestOutputHelper?.WriteLine($"fuzz: {cases.Count} cases, seed {Seed}; answers {runner.Tally}; {runner.Failures.Count} failures");
        foreach (var family in runner.ByFamily.GroupBy(p => p.Key.Family).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"  {family.Key}: {string.Join(", ", family.OrderBy(p => p.Key.Status).Select(p => $"{p.Key.Status} ×{p.Value}"))}");
        }

        Assert.True(runner.Failures.Count == 0, runner.Report(cases.Count));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        // A stream the client closed ends on the server too: none keeps its place among Api:MaxConcurrentWaits.
        await AsyncWait.WaitUntilAsync(() => waits.Count == 0, TimeSpan.FromSeconds(10), $"every closed event stream let go of its wait ({waits.Count} left)");
        // The cases reach both sides of every operation, and the answers that need the targets.
        foreach (var operation in EndpointFuzzCases.Operations)
        {
            Assert.True(runner.ByFamily.Any(p => p.Key.Family == operation && p.Key.Status < 300), $"No case of {operation} succeeded: {runner.Tally}");
            Assert.True(runner.ByFamily.Any(p => p.Key.Family == operation && p.Key.Status >= 400), $"Every case of {operation} succeeded: {runner.Tally}");
        }

        Assert.All((int[])[200, 202, 204, 400, 401, 403, 404, 405, 409, 415, 431],
            status => Assert.True(runner.Statuses.ContainsKey(status), $"No case was answered {status}: {runner.Tally}"));
    }

    /// <summary>Null when the answer keeps the contract of the case's operation, else what is wrong with it.</summary>
    private static string? Check(FuzzCase fuzz, FuzzAnswer answer)
    {
        if (answer.Status >= 400)
        {
            return FuzzContract.ProblemViolation(answer);
        }

        if (fuzz.NoSuccessBecause is { } reason)
        {
            return $"a success, although {reason}";
        }

        return (fuzz.Family, answer.Status) switch
        {
            (EndpointFuzzCases.JobEvents, 200) => answer.MediaType == "text/event-stream"
                ? null
                : $"an event stream with content type '{answer.Response.Content.Headers.ContentType}'",
            (EndpointFuzzCases.JobEvents, 204) => answer.Body.Length == 0 ? null : $"a 204 with a body: {FuzzContract.Trim(answer.Body)}",
            (EndpointFuzzCases.CancelJob, 202) or (_, 200) => FuzzContract.JsonObjectViolation(answer),
            _ => $"not an answer of {fuzz.Family}",
        };
    }

    /// <summary>
    /// Jobs of both tenants, through the API and the store's worker-side calls: failed ones (dead
    /// letters), processing ones (an attempt started, never finished), queued ones, canceled ones.
    /// </summary>
    private async Task<FuzzTargets> MakeTargetsAsync()
    {
        using var a = api.CreateApiClient(TenantApiFactory.KeyA);
        using var b = api.CreateApiClient(TenantApiFactory.KeyB);
        // The test worker takes exactly the jobs queued so far, one tenant's at a time.
        var worker = await TestWorker.StartAsync(api);
        var failed = new List<FuzzJob>();
        var processing = new List<FuzzJob>();
        foreach (var (ofA, ofB) in new[] { (8, 0), (0, 3) })
        {
            var jobs = await SubmitAsync(a, b, ofA, ofB);
            await worker.FailTogetherAsync(await worker.StartAttemptsAsync(jobs.Count));
            failed.AddRange(jobs);
        }

        foreach (var (ofA, ofB) in new[] { (3, 0), (0, 1) })
        {
            var jobs = await SubmitAsync(a, b, ofA, ofB);
            await worker.StartAttemptsAsync(jobs.Count);
            processing.AddRange(jobs);
        }

        var queued = await SubmitAsync(a, b, 8, 3);
        var canceled = await SubmitAsync(a, b, 5, 2);
        foreach (var job in canceled)
        {
            using var response = await (job.Tenant == TenantApiFactory.TenantA ? a : b)
                .PostAsync($"/jobs/{job.Id}/cancel", null, TestContext.Current.CancellationToken)
                .WaitAsync(ApiFactory.RequestTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        return new FuzzTargets(queued, processing, canceled, failed);
    }

    private static async Task<List<FuzzJob>> SubmitAsync(HttpClient a, HttpClient b, int ofA, int ofB)
    {
        var jobs = new List<FuzzJob>();
        foreach (var (client, tenant) in Enumerable.Repeat((a, TenantApiFactory.TenantA), ofA).Concat(Enumerable.Repeat((b, TenantApiFactory.TenantB), ofB)))
        {
            using var response = await ApiFactory.PostJobAsync(client, ApiFactory.Json($$"""{"prompt":"fuzz target {{jobs.Count}}"}"""));
            var body = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
            jobs.Add(new FuzzJob(JsonDocument.Parse(body).RootElement.GetProperty("jobId").GetString()!, tenant));
        }

        return jobs;
    }
}
