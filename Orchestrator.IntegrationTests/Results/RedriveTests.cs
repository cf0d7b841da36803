using System.Net;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Results;

/// <summary>
/// Issue 19, "what it must show" 1: a redriven dead letter completes with its old history kept and
/// its new attempts appended; the filtered redrive of many is bounded and idempotent.
/// </summary>
[Collection(ApiProcessCollection.Name)]
public sealed class RedriveTests
{
    [Fact]
    public async Task Redrive_DeadLetter_CompletesWithOldHistoryKept_BatchRedriveIsIdempotent()
    {
        await using var setup = await ResultsSetup.StartAsync(new() { ["Retry:MaxAttempts"] = "2" });
        await setup.Harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Retry:BaseDelay"] = "00:00:00.050",
            ["Retry:UseJitter"] = "false",
        }, "worker");
        // Attempts 1 and 2 fail (the budget is 2): dead-lettered. A redriven attempt 3 succeeds.
        var hint = new Dictionary<string, string> { ["simulator.failFirstAttempts"] = "2" };
        var one = await setup.SubmitAsync("redrive me", hint);
        var many = await Task.WhenAll(Enumerable.Range(0, 3).Select(i => setup.SubmitAsync($"redrive us {i}", hint)));
        await setup.Harness.WaitUntilAllFinalAsync([one, .. many], TimeSpan.FromSeconds(60));
        var dead = await setup.GetJobAsync(one);
        Assert.Equal("failed", dead["status"]!.GetValue<string>());
        var errorType = dead["error"]!["type"]!.GetValue<string>();

        var (status, body) = await setup.SendAsync(HttpMethod.Post, $"/dead-letters/{one}/redrive");
        Assert.Equal(HttpStatusCode.OK, status);
        // Queued again (the idle worker may have taken it already).
        Assert.Contains(body!["status"]!.GetValue<string>(), new[] { "queued", "processing", "completed" });
        var (again, problem) = await setup.SendAsync(HttpMethod.Post, $"/dead-letters/{one}/redrive");
        Assert.True(again == HttpStatusCode.Conflict, $"{again}: {problem}");

        await setup.WaitForStatusAsync(one, JobStatus.Completed, TimeSpan.FromSeconds(30));
        var job = await setup.GetJobAsync(one);
        var history = job["history"]!.AsArray();
        Assert.Equal(3, history.Count);
        Assert.Equal(dead["history"]![0]!.ToJsonString(), history[0]!.ToJsonString());
        Assert.Equal(dead["history"]![1]!.ToJsonString(), history[1]!.ToJsonString());
        Assert.Equal("succeeded", history[2]!["outcome"]!.GetValue<string>());
        Assert.Equal(3, job["attempts"]!.GetValue<int>());
        Assert.Equal(4, job["maxAttempts"]!.GetValue<int>());

        // The rest by filter, two per call: 2, then 1 (more: false), then none.
        var filter = new { errorType, limit = 2 };
        var (s1, r1) = await setup.SendAsync(HttpMethod.Post, "/dead-letters/redrive", filter);
        var (s2, r2) = await setup.SendAsync(HttpMethod.Post, "/dead-letters/redrive", filter);
        var (s3, r3) = await setup.SendAsync(HttpMethod.Post, "/dead-letters/redrive", filter);
        Assert.All(new[] { s1, s2, s3 }, s => Assert.Equal(HttpStatusCode.OK, s));
        Assert.Equal(2, r1!["redriven"]!.GetValue<int>());
        Assert.True(r1["more"]!.GetValue<bool>());
        Assert.Equal(1, r2!["redriven"]!.GetValue<int>());
        Assert.False(r2["more"]!.GetValue<bool>());
        Assert.Equal(0, r3!["redriven"]!.GetValue<int>());
        Assert.Equal(many.Order(), r1["jobIds"]!.AsArray().Concat(r2["jobIds"]!.AsArray()).Select(n => n!.GetValue<string>()).Order());
        var redriven = await setup.Harness.WaitUntilAllFinalAsync(many, TimeSpan.FromSeconds(60));
        Assert.All(redriven, j => Assert.Equal(JobStatus.Completed, j.Status));
        Assert.All(redriven, j => Assert.Equal(3, j.History.Count));

        // Another tenant's filter finds none of them; an unknown type matches nothing.
        using var b = setup.Api.CreateClient(TenantApiFactory.KeyB);
        Assert.Equal(HttpStatusCode.NotFound, (await setup.SendAsync(HttpMethod.Post, $"/dead-letters/{one}/redrive", client: b)).Status);
        var (bad, _) = await setup.SendAsync(HttpMethod.Post, "/dead-letters/redrive", new { limit = 5000 });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
    }

    [Fact]
    public async Task FilteredRedrive_JobsFailingAgainDuringTheCall_EachRedrivenOnce()
    {
        // Jobs that fail for good at once: redriven, each is dead-lettered again within milliseconds,
        // later than the call's scan has reached, and the scan met it again (one job 26 times a call).
        await using var setup = await ResultsSetup.StartAsync();
        await setup.Harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.001",
            ["Worker:Concurrency"] = "64",
        }, "worker");
        var hint = new Dictionary<string, string> { ["simulator.permanentFailure"] = "true" };
        var ids = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => setup.SubmitAsync($"poison {i}", hint)));
        await setup.Harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));

        for (var call = 0; call < 3; call++)
        {
            var (status, body) = await setup.SendAsync(HttpMethod.Post, "/dead-letters/redrive", new { limit = 1000 });
            Assert.Equal(HttpStatusCode.OK, status);
            var redriven = body!["jobIds"]!.AsArray().Select(n => n!.GetValue<string>()).ToList();
            Assert.True(redriven.Count == redriven.Distinct().Count(), $"call {call}: {redriven.Count} redrives of {redriven.Distinct().Count()} jobs");
            Assert.Equal(redriven.Count, body["redriven"]!.GetValue<int>());
            Assert.Subset(ids.ToHashSet(), redriven.ToHashSet());
            await setup.Harness.WaitUntilAllFinalAsync(ids, TimeSpan.FromSeconds(60));
        }
    }
}
