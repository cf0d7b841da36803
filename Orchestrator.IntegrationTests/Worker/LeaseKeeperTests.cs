using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.Worker;
using Orchestrator.Worker.Processing;
using StackExchange.Redis;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// A renewal that finds the lease gone stops the job, unless the job's outcome is being written at
/// that moment: a final outcome drops the lease itself, and the write, not the renewal, then says
/// whether the lease was still this worker's.
/// </summary>
public sealed class LeaseKeeperTests
{
    private const int MaxAttempts = 3;
    private static readonly JobResult Result = new("answer", "model", new TokenUsage(1, 1));

    [Fact]
    public async Task RenewAll_LeaseEndedByTheOutcomeBeingWritten_KeepsTheJobAndReportsNoLoss()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (keeper, execution) = await HoldCompletedJobAsync(harness, recordingOutcome: true);

        await keeper.RenewAllAsync().Bounded();

        Assert.False(execution.LeaseLost);
        Assert.False(execution.Token.IsCancellationRequested);
        Assert.True(keeper.IsHeld(execution.Lease.Key));
    }

    [Fact]
    public async Task RenewAll_LeaseGoneWithNoOutcomeBeingWritten_StopsTheJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var (keeper, execution) = await HoldCompletedJobAsync(harness, recordingOutcome: false);

        await keeper.RenewAllAsync().Bounded();

        Assert.True(execution.LeaseLost);
        Assert.True(execution.Token.IsCancellationRequested);
        Assert.False(keeper.IsHeld(execution.Lease.Key));
    }

    /// <summary>A job this worker claimed and whose completion Redis has already recorded.</summary>
    private static async Task<(LeaseKeeper Keeper, JobExecution Execution)> HoldCompletedJobAsync(WorkerHarness harness, bool recordingOutcome)
    {
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        await harness.SubmitAsync(MaxAttempts);
        await using var reader = await ConnectionMultiplexer.ConnectAsync(harness.Redis.ConnectionString).Bounded();
        var delivery = Assert.Single(await harness.Store.ReadNewAsync("worker-a", 10, TimeSpan.FromMilliseconds(100)).Bounded());
        var claim = await harness.Store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();
        Assert.True(await harness.Store.CompleteAsync(claim.Lease, 1, Result).Bounded());

        var keeper = new LeaseKeeper(harness.Store, Options.Create(new WorkerOptions()), NullLogger<LeaseKeeper>.Instance);
        var execution = new JobExecution(claim.Lease, claim.Job!, CancellationToken.None) { RecordingOutcome = recordingOutcome };
        keeper.Track(execution);
        return (keeper, execution);
    }
}
