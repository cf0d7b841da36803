using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Orchestrator.Jobs;
using Orchestrator.Worker;
using Orchestrator.Worker.Processing;

namespace Orchestrator.IntegrationTests.Worker;

/// <summary>
/// A renewal that finds the lease gone stops the job, unless the job's outcome is being written at
/// that moment: a final outcome drops the lease itself, and the write, not the renewal, then says
/// whether the lease was still this worker's. A cancel this worker did not hear while it held the job
/// (heard before it tracked the job, or never heard) still aborts the attempt.
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

    [Fact]
    public async Task RenewAll_JobCanceledWhileItsCancelMessageWasMissed_AbortsTheAttempt()
    {
        // The cancel was recorded (the flag) and published while nothing here held the job: the
        // renewal finds the flag and aborts the call all the same.
        await using var harness = await WorkerHarness.StartAsync();
        var (keeper, execution) = await HoldRunningJobAsync(harness);
        Assert.Equal(CancelOutcome.Requested, await harness.Store.CancelAsync(execution.Lease.JobId).Bounded());
        Assert.False(execution.CancelRequested);

        await keeper.RenewAllAsync().Bounded();

        Assert.True(execution.CancelRequested);
        Assert.True(execution.Token.IsCancellationRequested);
        Assert.False(execution.LeaseLost);
        Assert.True(keeper.IsHeld(execution.Lease.Key));
    }

    [Fact]
    public async Task CancelHeardBeforeTheJobWasTracked_TrackingItAbortsTheAttempt()
    {
        // The claim made the job processing; the cancel's message came before the claim's reply
        // reached the worker (D2 of the fault audit: the job ran on to completed).
        await using var harness = await WorkerHarness.StartAsync();
        var (keeper, execution) = await HoldRunningJobAsync(harness, track: false);
        keeper.OnCancelPublished("some-other-job");
        keeper.OnCancelPublished(execution.Lease.JobId);

        keeper.Track(execution);

        Assert.True(execution.CancelRequested);
        Assert.True(execution.Token.IsCancellationRequested);
    }

    [Fact]
    public async Task CancelHeardTooLongBeforeTheJobWasTracked_Forgotten()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var clock = new FakeTimeProvider();
        var (keeper, execution) = await HoldRunningJobAsync(harness, track: false, clock);
        keeper.OnCancelPublished(execution.Lease.JobId);
        clock.Advance(LeaseKeeper.CancelMemory + TimeSpan.FromSeconds(1));

        keeper.Track(execution);

        Assert.False(execution.CancelRequested);
    }

    /// <summary>A job this worker claimed, its attempt started.</summary>
    private static async Task<(LeaseKeeper Keeper, JobExecution Execution)> HoldRunningJobAsync(
        WorkerHarness harness, bool track = true, TimeProvider? clock = null)
    {
        await harness.Store.EnsureConsumerGroupAsync().Bounded();
        await harness.SubmitAsync(MaxAttempts);
        var delivery = Assert.Single(await harness.Store.ReadNewAsync("worker-a", 10, TimeSpan.FromMilliseconds(100)).Bounded());
        var claim = await harness.Store.ClaimAsync(delivery, "worker-a", startAttempt: true).Bounded();
        var keeper = new LeaseKeeper(harness.Store, Options.Create(new WorkerOptions()), clock ?? TimeProvider.System, NullLogger<LeaseKeeper>.Instance);
        var execution = new JobExecution(claim.Lease, claim.Job!, CancellationToken.None) { Attempt = 1 };
        if (track)
        {
            keeper.Track(execution);
        }

        return (keeper, execution);
    }

    /// <summary>A job this worker claimed and whose completion Redis has already recorded.</summary>
    private static async Task<(LeaseKeeper Keeper, JobExecution Execution)> HoldCompletedJobAsync(WorkerHarness harness, bool recordingOutcome)
    {
        var (keeper, execution) = await HoldRunningJobAsync(harness, track: false);
        Assert.True(await harness.Store.CompleteAsync(execution.Lease, 1, Result).Bounded());
        execution.RecordingOutcome = recordingOutcome;
        keeper.Track(execution);
        return (keeper, execution);
    }
}
