using Orchestrator.Jobs;
using Orchestrator.Worker.Webhooks;

namespace Orchestrator.UnitTests.Webhooks;

/// <summary>
/// <see cref="ReceiverSlots"/> and <c>Webhooks:MaxConcurrentPerReceiver</c>: a receiver gets at most
/// its share of the sending slots, others theirs; a returned slot is free again; the default is half
/// of <c>Webhooks:MaxConcurrentDeliveries</c>, rounded up.
/// </summary>
public sealed class ReceiverSlotsTests
{
    private const string Hanging = "https://hanging.example";
    private const string Healthy = "https://healthy.example";

    [Fact]
    public void AReceiver_TakesAtMostItsShare_OthersStillTakeTheirs_AReturnedSlotIsFreeAgain()
    {
        var slots = new ReceiverSlots(perReceiver: 2);

        Assert.True(slots.TryTake(Hanging));
        Assert.True(slots.TryTake(Hanging));
        Assert.False(slots.TryTake(Hanging));
        Assert.True(slots.TryTake(Healthy));

        slots.Return(Hanging);
        Assert.True(slots.TryTake(Hanging));
        Assert.False(slots.TryTake(Hanging));
    }

    [Fact]
    public void OnlyReceiversWithATryInFlight_AreKept()
    {
        var slots = new ReceiverSlots(perReceiver: 3);
        Assert.True(slots.TryTake(Hanging));
        Assert.True(slots.TryTake(Healthy));
        Assert.Equal(2, slots.Count);

        slots.Return(Hanging);
        slots.Return(Healthy);

        Assert.Equal(0, slots.Count);
    }

    [Theory]
    [InlineData(16, null, 8)]
    [InlineData(1, null, 1)]
    [InlineData(5, null, 3)]
    [InlineData(16, 16, 16)]
    [InlineData(16, 1, 1)]
    public void PerReceiverLimit_IsTheSetting_OrHalfTheSlotsRoundedUp(int slots, int? setting, int limit) =>
        Assert.Equal(limit, new WebhookOptions { MaxConcurrentDeliveries = slots, MaxConcurrentPerReceiver = setting }.PerReceiverLimit());
}
