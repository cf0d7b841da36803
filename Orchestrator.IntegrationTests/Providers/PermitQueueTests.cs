using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm.FlowControl;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// A deployment's concurrency permits go to the calls waiting for them in the order they first
/// asked (<c>reserve.lua</c>'s permit queue), whoever asks first when one is freed; a waiter that
/// stops asking leaves the queue, so it holds no one up for long. Real Redis, real script. Before the
/// queue, a permit went to whichever call asked first once it was free: an audit saw job 4 of a
/// burst wait ~4 minutes behind later ones.
/// </summary>
public sealed class PermitQueueTests
{
    private static readonly ProviderOptions OnePermit = new() { Kind = ProviderKinds.OpenAI, MaxConcurrency = 1 };
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task FreedPermit_GoesToTheFirstWaiter_NotToWhoeverAsksFirst()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        var running = (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-0").Bounded()).Reservation!;

        foreach (var waiter in new[] { "job-1", "job-2", "job-3" })
        {
            Assert.Equal(FlowWait.Concurrency, (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: waiter).Bounded()).Wait);
        }

        await flow.SettleAsync(running, 100).Bounded();
        // The permit is free: the later waiters, and a call that never queues, ask first and wait on.
        Assert.Equal(FlowWait.Concurrency, (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-3").Bounded()).Wait);
        Assert.Equal(FlowWait.Concurrency, (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-2").Bounded()).Wait);
        Assert.Equal(FlowWait.Concurrency, (await flow.ReserveAsync("p", OnePermit, 100, Lease).Bounded()).Wait);
        var first = await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-1").Bounded();
        Assert.Equal(FlowWait.None, first.Wait);

        await flow.SettleAsync(first.Reservation!, 100).Bounded();
        Assert.Equal(FlowWait.Concurrency, (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-3").Bounded()).Wait);
        var second = await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-2").Bounded();
        Assert.Equal(FlowWait.None, second.Wait);

        await flow.SettleAsync(second.Reservation!, 100).Bounded();
        Assert.Equal(FlowWait.None, (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-3").Bounded()).Wait);
        // The queue is empty again: it leaves no key behind.
        Assert.False(await harness.Db.KeyExistsAsync(flow.Key("p", "permit-queue")).Bounded());
        Assert.False(await harness.Db.KeyExistsAsync(flow.Key("p", "permit-seen")).Bounded());
    }

    [Fact]
    public async Task AWaiterThatStopsAsking_LeavesTheQueue_AndTheNextGetsThePermit()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        var running = (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-0").Bounded()).Reservation!;
        // job-1 asks once and goes away (canceled, served by a fallback, its worker killed).
        Assert.Equal(FlowWait.Concurrency, (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-1").Bounded()).Wait);
        Assert.Equal(FlowWait.Concurrency, (await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-2").Bounded()).Wait);
        await flow.SettleAsync(running, 100).Bounded();
        var freed = DateTime.UtcNow;

        // job-2 asks on, as a waiting call does, and gets the permit once job-1 has not asked for 2 s.
        ReserveAnswer answer;
        while ((answer = await flow.ReserveAsync("p", OnePermit, 100, Lease, waiter: "job-2").Bounded()).Wait == FlowWait.Concurrency)
        {
            Assert.True(DateTime.UtcNow - freed < TimeSpan.FromSeconds(10), "job-2 still waits 10 s after the permit was freed");
            await Task.Delay(answer.Delay, TestContext.Current.CancellationToken);
        }

        var waited = DateTime.UtcNow - freed;
        TestContext.Current.TestOutputHelper?.WriteLine($"job-2 got the permit {waited.TotalMilliseconds:F0} ms after it was freed");
        Assert.Equal(FlowWait.None, answer.Wait);
        Assert.InRange(waited, TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(5));
    }
}
