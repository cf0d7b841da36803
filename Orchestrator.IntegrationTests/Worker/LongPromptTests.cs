using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>A prompt at the API's length limit with no space in it, run by a real worker process.</summary>
[Collection(WorkerProcessCollection.Name)]
public sealed class LongPromptTests
{
    // 100,000 characters (Api:MaxPromptLength) of emoji: one run for the tokenizer. Counted whole, as
    // the worker's flow control and the simulator each did before every attempt, it took over 40 s, so
    // every attempt timed out and the job was dead-lettered minutes later.
    [Fact]
    public async Task APromptOfOneRunAtTheLengthLimit_CompletesOnItsFirstAttempt()
    {
        await using var harness = await WorkerHarness.StartAsync();
        await harness.StartWorkerAsync(new Dictionary<string, string>
        {
            ["Simulator:FailureRate"] = "0",
            ["Simulator:Latency"] = "00:00:00.010",
            ["Retry:AttemptTimeout"] = "00:00:10",
        }, "worker");

        var prompt = string.Concat(Enumerable.Repeat("😀", 100_000));
        var jobId = await harness.SubmitAsync(maxAttempts: 2, prompt: prompt);
        var job = (await harness.WaitUntilAllFinalAsync([jobId], TimeSpan.FromSeconds(60)))[0];

        Assert.Equal(JobStatus.Completed, job.Status);
        Assert.Equal(1, job.Attempts);
        // One token an emoji, counted in pieces (a cut may add a few), and the message's framing.
        Assert.InRange(job.Result!.Usage.PromptTokens, 100_006, 101_000);
    }
}
