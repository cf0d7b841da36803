using Orchestrator.Jobs;
using Orchestrator.Worker.Webhooks;

namespace Orchestrator.UnitTests.Webhooks;

/// <summary>
/// <see cref="SlotShares"/>, <c>Webhooks:MaxConcurrentPerReceiver</c> and <c>Webhooks:MaxConcurrentPerTenant</c>:
/// a receiver, and a tenant, gets at most its share of the sending slots, others theirs; a returned
/// slot is free again; the defaults are half of <c>Webhooks:MaxConcurrentDeliveries</c>, rounded up,
/// per receiver, and all but a quarter of it per tenant.
/// </summary>
public sealed class SlotSharesTests
{
    private const string Hanging = "https://hanging.example";
    private const string Healthy = "https://healthy.example";
    private const string Tenant = "acme";

    [Fact]
    public void AReceiver_TakesAtMostItsShare_OthersStillTakeTheirs_AReturnedSlotIsFreeAgain()
    {
        var slots = new SlotShares(perReceiver: 2, perTenant: 10, total: 16);

        Assert.True(slots.TryTake(Hanging, Tenant, out _));
        Assert.True(slots.TryTake(Hanging, Tenant, out _));
        Assert.False(slots.TryTake(Hanging, Tenant, out var receiverFull));
        Assert.True(receiverFull);
        Assert.True(slots.TryTake(Healthy, Tenant, out _));

        slots.Return(Hanging, Tenant);
        Assert.True(slots.TryTake(Hanging, Tenant, out _));
        Assert.False(slots.TryTake(Hanging, Tenant, out _));
    }

    [Fact]
    public void ATenant_TakesAtMostItsShare_WhateverItsReceivers_AnotherTenantStillTakesItsOwn()
    {
        var slots = new SlotShares(perReceiver: 2, perTenant: 3, total: 16);

        Assert.True(slots.TryTake("https://a.example", Tenant, out _));
        Assert.True(slots.TryTake("https://b.example", Tenant, out _));
        Assert.True(slots.TryTake("https://c.example", Tenant, out _));
        Assert.False(slots.TryTake("https://d.example", Tenant, out var receiverFull));
        Assert.False(receiverFull);
        Assert.True(slots.TryTake("https://d.example", "globex", out _));

        // Refused for its tenant, a try took no slot of its receiver's either.
        Assert.True(slots.TryTake("https://d.example", "globex", out _));
        Assert.False(slots.TryTake("https://d.example", "globex", out _));

        slots.Return("https://a.example", Tenant);
        Assert.True(slots.TryTake("https://e.example", Tenant, out _));
    }

    [Fact]
    public void OnlyReceiversAndTenantsWithATryInFlight_AreKept()
    {
        var slots = new SlotShares(perReceiver: 3, perTenant: 3, total: 16);
        Assert.True(slots.TryTake(Hanging, Tenant, out _));
        Assert.True(slots.TryTake(Healthy, "globex", out _));
        Assert.Equal((2, 2), slots.Kept);

        slots.Return(Hanging, Tenant);
        slots.Return(Healthy, "globex");

        Assert.Equal((0, 0), slots.Kept);
    }

    [Fact]
    public void TwoSharesThatHang_LeaveTheReserve_ToAReceiverAndTenantHoldingNone()
    {
        // The defaults: 16 slots, 8 a receiver, 12 a tenant; two tenants' receivers that hang would take 8 + 8.
        var slots = new SlotShares(perReceiver: 8, perTenant: 12, total: 16);
        Assert.Equal(2, slots.Reserve);
        var taken = 0;
        while (slots.TryTake(Hanging, Tenant, out _))
        {
            taken++;
        }

        while (slots.TryTake("https://slow.example", "globex", out _))
        {
            taken++;
        }

        Assert.Equal(14, taken);
        // A third tenant, and another receiver of one holding slots, find the reserve kept ...
        Assert.False(slots.TryTake("https://other.example", Tenant, out var receiverFull));
        Assert.False(receiverFull);
        Assert.False(slots.TryTake("https://slow.example", "initech", out receiverFull));
        Assert.True(receiverFull);
        // ... which serves those holding none, one slot each.
        Assert.True(slots.TryTake(Healthy, "initech", out _));
        Assert.False(slots.TryTake(Healthy, "initech", out _));
        Assert.True(slots.TryTake("https://third.example", "umbrella", out _));

        // All 16 taken (the sender asks only with a slot free). One back: the hanging receiver may not have it again.
        slots.Return(Hanging, Tenant);
        Assert.False(slots.TryTake(Hanging, Tenant, out _));
        Assert.True(slots.TryTake("https://fourth.example", "hooli", out _));
    }

    [Fact]
    public void BelowEightSlots_NoneIsKept_AReceiverTakesItsWholeShare()
    {
        // Two slots, both for one receiver: a slot kept back halved a worker serving one receiver.
        var slots = new SlotShares(perReceiver: 2, perTenant: 2, total: 2);
        Assert.Equal(0, slots.Reserve);
        Assert.True(slots.TryTake(Healthy, Tenant, out _));
        Assert.True(slots.TryTake(Healthy, Tenant, out _));
        Assert.Equal(1, new SlotShares(perReceiver: 4, perTenant: 6, total: 8).Reserve);
    }

    [Theory]
    [InlineData(16, null, 8)]
    [InlineData(1, null, 1)]
    [InlineData(5, null, 3)]
    [InlineData(16, 16, 16)]
    [InlineData(16, 1, 1)]
    public void PerReceiverLimit_IsTheSetting_OrHalfTheSlotsRoundedUp(int slots, int? setting, int limit) =>
        Assert.Equal(limit, new WebhookOptions { MaxConcurrentDeliveries = slots, MaxConcurrentPerReceiver = setting }.PerReceiverLimit());

    [Theory]
    [InlineData(16, null, 12)]
    [InlineData(4, null, 3)]
    [InlineData(3, null, 2)]
    [InlineData(2, null, 1)]
    [InlineData(1, null, 1)]
    [InlineData(16, 16, 16)]
    [InlineData(16, 2, 2)]
    public void PerTenantLimit_IsTheSetting_OrAllButAQuarterOfTheSlots(int slots, int? setting, int limit) =>
        Assert.Equal(limit, new WebhookOptions { MaxConcurrentDeliveries = slots, MaxConcurrentPerTenant = setting }.PerTenantLimit());
}
