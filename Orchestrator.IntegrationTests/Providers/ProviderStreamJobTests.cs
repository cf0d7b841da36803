using Orchestrator.Jobs;

using Orchestrator.IntegrationTests.Worker;

using static Orchestrator.IntegrationTests.Providers.FakeAnswer;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// A real worker process against a <see cref="FakeProvider"/>: what a broken answer does to a job
/// (retried, never recorded as its answer).
/// </summary>
[Collection(ProviderProcessCollection.Name)]
public sealed class ProviderStreamJobTests
{
    [Fact]
    public async Task StreamCutShort_AttemptRetried_JobCompletesWithTheWholeAnswer()
    {
        await using var harness = await WorkerHarness.StartAsync();
        // The first call's stream ends cleanly but without a finish reason; the second is whole.
        await using var fake = await FakeProvider.StartAsync(request => request.Number == 1
            ? Stream(Chunk("Hel"), Chunk("lo"))
            : Answer("Hello", ", world."));
        _ = await harness.StartWorkerAsync(ProviderSetup.Worker(fake.Endpoint.ToString()), "worker");

        var id = await ProviderSetup.SubmitAsync(harness, new JobRequest("Say hello.", "sim-model"));
        var job = Assert.Single(await harness.WaitUntilAllFinalAsync([id], TimeSpan.FromSeconds(30)));

        Assert.Equal(JobStatus.Completed, job.Status);
        Assert.Equal("Hello, world.", job.Result!.Text);
        Assert.Equal(2, job.Attempts);
        Assert.Equal("transient", job.History[0].Error!.Type);
        Assert.Equal(2, fake.Requests.Count);
    }
}
