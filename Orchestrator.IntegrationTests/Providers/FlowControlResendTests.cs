using Orchestrator.Llm;
using Orchestrator.Worker.Llm.FlowControl;

using Orchestrator.IntegrationTests.Worker;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// The flow-control calls a worker re-sends through the <c>redis</c> pipeline, on a real Redis: a
/// settlement sent twice gives capacity back once and the permit back once; a permit renewal sent
/// twice is the same as once.
/// </summary>
public sealed class FlowControlResendTests
{
    [Fact]
    public async Task Settle_SentTwice_GivesCapacityAndPermitBackOnce()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        var options = new ProviderOptions { Kind = ProviderKinds.OpenAI, TokensPerMinute = 60_000, MaxConcurrency = 2 };
        var lease = TimeSpan.FromSeconds(30);

        var (wait, _, reservation, _) = await flow.ReserveAsync("p", options, estimatedTokens: 1_500, lease).Bounded();
        Assert.Equal(FlowWait.None, wait);
        Assert.NotNull(reservation);
        Assert.Equal(1, await flow.PermitsHeldAsync("p").Bounded());
        Assert.True(await flow.RenewPermitAsync(reservation, lease).Bounded());
        Assert.True(await flow.RenewPermitAsync(reservation, lease).Bounded());
        Assert.Equal(1, await flow.PermitsHeldAsync("p").Bounded());
        var reserved = (double)await harness.Db.StringGetAsync(flow.Key("p", "tpm")).Bounded();

        // The call used 500 of the 1,500 tokens reserved: 1,000 come back (1 ms of TAT each at 60,000 TPM), once.
        Assert.True(await flow.SettleAsync(reservation, 500).Bounded());
        var settled = (double)await harness.Db.StringGetAsync(flow.Key("p", "tpm")).Bounded();
        Assert.InRange(reserved - settled, 999, 1_001);
        Assert.Equal(0, await flow.PermitsHeldAsync("p").Bounded());

        // Sent again (its reply was lost): nothing more is given back.
        Assert.False(await flow.SettleAsync(reservation, 500).Bounded());
        Assert.Equal(settled, (double)await harness.Db.StringGetAsync(flow.Key("p", "tpm")).Bounded());
        Assert.Equal(0, await flow.PermitsHeldAsync("p").Bounded());
        // The marker that makes it so expires: it is not a key that grows without bound.
        var ttl = await harness.Db.KeyTimeToLiveAsync(flow.Key("p", "settled:" + reservation.Id)).Bounded();
        Assert.InRange(ttl!.Value, TimeSpan.FromSeconds(1), DeploymentFlowControl.SettlementMemory);
    }
    [Fact]
    public async Task RenewPermit_ThatLapsedWhileItsCallRan_IsTakenAgain_AndNothingMoreStartsUntilUnderTheLimit()
    {
        // Redis stalled longer than a lease (CLIENT PAUSE, a restart): two calls' permits lapse, two
        // more start in their place, and the first two run on. An audit saw 8 calls in flight at a
        // MaxConcurrency of 4 for 8.8 s when the lapsed permits stayed given back.
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        var options = new ProviderOptions { Kind = ProviderKinds.OpenAI, MaxConcurrency = 2 };
        var lease = TimeSpan.FromSeconds(30);
        var stalled = new[]
        {
            (await flow.ReserveAsync("p", options, 100, TimeSpan.FromMilliseconds(300)).Bounded()).Reservation!,
            (await flow.ReserveAsync("p", options, 100, TimeSpan.FromMilliseconds(300)).Bounded()).Reservation!,
        };
        await AsyncWait.WaitUntilAsync(async () => await flow.PermitsHeldAsync("p") == 0, TimeSpan.FromSeconds(10), "both permits lapsed");
        var inTheirPlace = new[]
        {
            (await flow.ReserveAsync("p", options, 100, lease).Bounded()).Reservation!,
            (await flow.ReserveAsync("p", options, 100, lease).Bounded()).Reservation!,
        };

        foreach (var call in stalled)
        {
            Assert.False(await flow.RenewPermitAsync(call, lease).Bounded());
            Assert.True(await flow.RenewPermitAsync(call, lease).Bounded());
        }

        Assert.Equal(4, await flow.PermitsHeldAsync("p").Bounded());
        // One of the four ends: three run, more than the limit, so a new call waits.
        Assert.True(await flow.SettleAsync(inTheirPlace[0], 100).Bounded());
        Assert.Equal(FlowWait.Concurrency, (await flow.ReserveAsync("p", options, 100, lease).Bounded()).Wait);
        Assert.True(await flow.SettleAsync(stalled[0], 100).Bounded());
        Assert.True(await flow.SettleAsync(stalled[1], 100).Bounded());
        Assert.Equal(FlowWait.None, (await flow.ReserveAsync("p", options, 100, lease).Bounded()).Wait);
    }

    [Fact]
    public async Task Settle_OfADeploymentWithoutLimits_HasNothingToGiveBackAndSendsNothing()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        var unlimited = new ProviderOptions { Kind = ProviderKinds.OpenAI };

        var (wait, _, reservation, _) = await flow.ReserveAsync("p", unlimited, estimatedTokens: 1_500, TimeSpan.FromSeconds(30)).Bounded();
        Assert.Equal(FlowWait.None, wait);
        Assert.False(reservation!.NeedsSettling);
        var scriptCallsBefore = await ScriptCalls.CountAsync(harness.Db);
        Assert.True(await flow.SettleAsync(reservation, 500).Bounded());
        Assert.Equal(scriptCallsBefore, await ScriptCalls.CountAsync(harness.Db));
        Assert.False(await harness.Db.KeyExistsAsync(flow.Key("p", "settled:" + reservation.Id)).Bounded());

        // A tokens limit learnt from a 429 (as cooldown.lua remembers it) is charged, and so settled, like a configured one.
        await harness.Db.HashSetAsync(flow.Key("p", "learned"), "tpm", 60_000).Bounded();
        var (_, _, learned, _) = await flow.ReserveAsync("p", unlimited, estimatedTokens: 1_500, TimeSpan.FromSeconds(30)).Bounded();
        Assert.True(learned!.NeedsSettling);
        Assert.True(await flow.SettleAsync(learned, 500).Bounded());
        Assert.True(await harness.Db.KeyExistsAsync(flow.Key("p", "settled:" + learned.Id)).Bounded());
    }
}
