using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Llm;
using Orchestrator.Worker.Llm.FlowControl;

namespace Orchestrator.IntegrationTests.Providers;

/// <summary>
/// <c>reserve.lua</c>'s bookings: a call that must wait for a deployment's limits books its slot, in
/// the order calls asked, and goes at it without asking the limits again; a cooldown voids the
/// bookings made before it. Real Redis, real scripts.
/// </summary>
public sealed class BookingTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task WaitsAreBookedInTheOrderAsked_AndABookingGoesAtItsSlotWithoutAskingAgain()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        // 60 requests a minute, a 2 s burst: two calls pass at once, then one a second.
        var paced = new ProviderOptions { Kind = ProviderKinds.OpenAI, RequestsPerMinute = 60 };
        var ahead = TimeSpan.FromSeconds(30);

        var answers = new List<ReserveAnswer>();
        for (var i = 0; i < 5; i++)
        {
            answers.Add(await flow.ReserveAsync("paced", paced, 10, Lease, bookAhead: ahead).Bounded());
        }

        Assert.Equal([FlowWait.None, FlowWait.None, FlowWait.Booked, FlowWait.Booked, FlowWait.Booked], answers.Select(a => a.Wait));
        var booked = answers.Skip(2).ToList();
        // One slot apart, in the order asked.
        Assert.True(booked[0].Delay < booked[1].Delay && booked[1].Delay < booked[2].Delay, string.Join(", ", booked.Select(b => b.Delay)));
        Assert.All(booked, b => Assert.NotNull(b.Booking));

        // Presented too early: the wait left, the booking kept.
        var early = await flow.ReserveAsync("paced", paced, 10, Lease, booked[0].Booking, ahead).Bounded();
        Assert.Equal((FlowWait.Capacity, booked[0].Booking), (early.Wait, early.Booking));

        // At its slot it goes, though a new call would wait three slots more.
        await Task.Delay(early.Delay + TimeSpan.FromMilliseconds(30), TestContext.Current.CancellationToken);
        var onTime = await flow.ReserveAsync("paced", paced, 10, Lease, booked[0].Booking, ahead).Bounded();
        Assert.Equal(FlowWait.None, onTime.Wait);
        Assert.True(onTime.Reservation!.RequestsPaced);
        var newcomer = await flow.ReserveAsync("paced", paced, 10, Lease, bookAhead: ahead).Bounded();
        Assert.Equal(FlowWait.Booked, newcomer.Wait);
        Assert.True(newcomer.Delay > booked[2].Delay - early.Delay, $"{newcomer.Delay} after {booked[2].Delay}");
    }

    [Fact]
    public async Task ABookingOutlivesACooldown_TheCallWaitsItOut_ThenGoesAtItsSlot()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        var paced = new ProviderOptions { Kind = ProviderKinds.OpenAI, RequestsPerMinute = 600 };
        var ahead = TimeSpan.FromSeconds(30);
        ReserveAnswer booked;
        do
        {
            booked = await flow.ReserveAsync("paced", paced, 10, Lease, bookAhead: ahead).Bounded();
        }
        while (booked.Wait != FlowWait.Booked);

        // A 429 heard meanwhile: the cooldown only raises the limits' TATs, where the booking's charge is.
        await flow.ExtendCooldownAsync("paced", paced, TimeSpan.FromSeconds(1), announced: null).Bounded();
        var cooling = await flow.ReserveAsync("paced", paced, 10, Lease, booked.Booking, ahead).Bounded();
        Assert.Equal((FlowWait.Cooldown, booked.Booking), (cooling.Wait, cooling.Booking));

        await Task.Delay(cooling.Delay + TimeSpan.FromMilliseconds(30), TestContext.Current.CancellationToken);
        var after = await flow.ReserveAsync("paced", paced, 10, Lease, booked.Booking, ahead).Bounded();
        Assert.Equal(FlowWait.None, after.Wait);
    }

    [Fact]
    public async Task ABookingPresentedPastItsWindow_IsAskedAfresh()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var flow = new DeploymentFlowControl(harness.Connection, harness.Keys);
        var paced = new ProviderOptions { Kind = ProviderKinds.OpenAI, RequestsPerMinute = 60 };

        // A slot 3 s ago, past the burst (2 s): as a job that came back too late.
        var stale = (DateTimeOffset.UtcNow - TimeSpan.FromSeconds(3)).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var answers = new List<ReserveAnswer>();
        for (var i = 0; i < 3; i++)
        {
            answers.Add(await flow.ReserveAsync("paced", paced, 10, Lease, stale).Bounded());
        }

        // Reserved as any call: two pass, the third waits (booking nothing: no horizon given).
        Assert.Equal([FlowWait.None, FlowWait.None, FlowWait.Capacity], answers.Select(a => a.Wait));
        Assert.Null(answers[2].Booking);
    }
}
