using Orchestrator.IntegrationTests.Infrastructure;
using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// <c>WAIT</c> sent to the master that took a round trip's writes after it became a replica (a
/// failover between the writes and their confirmation): Redis refuses it, and the store answers
/// that no replica confirmed them, so the API answers 503 (send again) rather than 500. Real Redis.
/// </summary>
public sealed class ReplicaWaitTests
{
    [Fact]
    public async Task WaitForReplicas_OnAMasterThatBecameAReplica_ConfirmsNone()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var master = harness.Store.SubmissionMaster(0);
        await harness.Store.SubmitAsync(WorkerHarness.NewJob("a prompt", maxAttempts: 1), idempotency: null).Bounded();

        // What a failover does to the old master: it becomes a replica (of a primary that does not
        // answer here, so it keeps its data).
        await harness.Db.ExecuteAsync("REPLICAOF", "127.0.0.1", "1").Bounded();
        try
        {
            Assert.Equal(0, await harness.Store.WaitForReplicasAsync(master, 1, TimeSpan.FromMilliseconds(100)).Bounded());
        }
        finally
        {
            await harness.Db.ExecuteAsync("REPLICAOF", "NO", "ONE").Bounded();
        }
    }
}
