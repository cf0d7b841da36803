using Orchestrator.IntegrationTests.Worker;
using Orchestrator.Jobs;

namespace Orchestrator.IntegrationTests.Jobs;

/// <summary>
/// <c>dispatch.lua</c> on a real Redis, step by step (no worker process): the order in which jobs of
/// several tenants leave their ready sets, priorities and aging, tenants held back by their
/// concurrency, and the bookkeeping a cancel leaves.
/// </summary>
public sealed class DispatchStoreTests
{
    private static readonly TimeSpan LowWait = TimeSpan.FromMinutes(10);

    [Fact]
    public async Task TwoBackloggedTenants_Weights3To1_DispatchedThreeToOne_ALoneTenantGetsEverything()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = StoreWith(harness, new() { ["acme"] = new TenantQuotas { Weight = 3 } });
        await store.EnsureConsumerGroupAsync().Bounded();
        await SubmitAsync(store, "acme", 60);
        await SubmitAsync(store, "globex", 60);

        var first = await DispatchTenantsAsync(harness, store, 40, batch: 4);

        Assert.Equal(30, first.Count(t => t == "acme"));
        Assert.Equal(10, first.Count(t => t == "globex"));
        // Interleaved, not in runs: every window of 8 holds both.
        Assert.All(first.Chunk(8), window => Assert.Equal(2, window.Distinct().Count()));

        // acme runs out after 60: globex, alone, gets every slot.
        var rest = await DispatchTenantsAsync(harness, store, 80, batch: 16);
        Assert.Equal(30, rest.Count(t => t == "acme"));
        Assert.Equal(50, rest.Count(t => t == "globex"));
        Assert.Empty(await store.DispatchAsync("w", 16, LowWait).Bounded());
        Assert.Equal(0, (long)await harness.Db.HashGetAsync(harness.Keys.DispatchState, "ready").Bounded());
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.ActiveTenants).Bounded());
    }

    [Fact]
    public async Task NewTenantBehindABacklog_ItsFirstJobGoesNext_IdlingEarnsNoCredit()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        await SubmitAsync(store, "acme", 100);
        await DispatchTenantsAsync(harness, store, 50, batch: 10);

        // globex arrives after acme has had 50 turns: it gets the next turn, not 50 in a row.
        await SubmitAsync(store, "globex", 10);
        var next = await DispatchTenantsAsync(harness, store, 10, batch: 1);

        Assert.Equal(5, next.Count(t => t == "globex"));
        Assert.Equal("globex", next[0]);
    }

    [Fact]
    public async Task Priorities_HighFirstThenNormalThenLow_AnAgedLowGoesFirst()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        var low = await SubmitAsync(store, "acme", 1, JobPriority.Low);
        var normal = await SubmitAsync(store, "acme", 2);
        var high = await SubmitAsync(store, "acme", 2, JobPriority.High);

        var order = (await store.DispatchAsync("w", 10, LowWait).Bounded()).Select(d => d.JobId).ToList();

        Assert.Equal([.. high, .. normal, .. low], order);

        // Aged: a low job that has waited MaxLowPriorityWait goes before normal ones queued before it.
        var normals = await SubmitAsync(store, "acme", 3);
        var aged = await SubmitAsync(store, "acme", 1, JobPriority.Low);
        await Task.Delay(TimeSpan.FromMilliseconds(150), TestContext.Current.CancellationToken);
        var next = await store.DispatchAsync("w", 1, TimeSpan.FromMilliseconds(100)).Bounded();
        Assert.Equal(aged, next.Select(d => d.JobId).ToArray());
        Assert.Equal(normals, (await store.DispatchAsync("w", 10, LowWait).Bounded()).Select(d => d.JobId).ToArray());
    }

    [Fact]
    public async Task TenantAtItsConcurrency_HeldInItsReadySet_OthersServed_PermitReservedPerJob()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = StoreWith(harness, new() { ["acme"] = new TenantQuotas { MaxConcurrency = 2 } });
        await store.EnsureConsumerGroupAsync().Bounded();
        await SubmitAsync(store, "acme", 5);
        await SubmitAsync(store, "globex", 5);

        var tenants = await DispatchTenantsAsync(harness, store, 7, batch: 7);

        Assert.Equal(2, tenants.Count(t => t == "acme"));
        Assert.Equal(5, tenants.Count(t => t == "globex"));
        Assert.Equal(2, await harness.Db.SortedSetLengthAsync($"{harness.Keys.Prefix}:tenant:acme:permits").Bounded());
        Assert.Empty(await store.DispatchAsync("w", 10, LowWait).Bounded());
        // Held, not dropped: its jobs wait in its ready set, the tenant stays active, parked out of
        // the tag order until its first permit lapses (the reservations, 5 s) or one comes back.
        Assert.Equal(3, await harness.Db.SortedSetLengthAsync(harness.Keys.Ready("acme")).Bounded());
        Assert.Null(await harness.Db.SortedSetScoreAsync(harness.Keys.ActiveTenants, "acme").Bounded());
        var lookAgain = await harness.Db.SortedSetScoreAsync(harness.Keys.HeldTenants, "acme").Bounded();
        var firstLapse = (await harness.Db.SortedSetRangeByRankWithScoresAsync($"{harness.Keys.Prefix}:tenant:acme:permits", 0, 0).Bounded()).Single().Score;
        Assert.Equal(firstLapse, lookAgain);
    }

    /// <summary>
    /// More tenants held by their limits than a dispatch looks at (n + 100) do not stop a tenant
    /// without limits behind them: held tenants kept their low tags at the front, and every call saw
    /// only them (a tenant's 1,999 jobs waited 212 s with 64 slots free). Parked, they come back with
    /// their tags when due, first again.
    /// </summary>
    [Fact]
    public async Task MoreTenantsHeldThanADispatchLooksAt_ATenantWithoutLimits_IsServedAtOnce()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var held = Enumerable.Range(0, 150).Select(i => $"held-{i:000}").ToArray();
        var store = StoreWith(harness, held.ToDictionary(t => t, _ => new TenantQuotas { TokensPerMinute = 10 }));
        await store.EnsureConsumerGroupAsync().Bounded();
        foreach (var tenant in held)
        {
            await SubmitAsync(store, tenant, 1);
        }

        // Every held tenant's token clock 10 minutes ahead, as after a call of 100 tokens.
        var now = (await RedisClock.NowAsync(harness.Db)).ToUnixTimeMilliseconds();
        foreach (var tenant in held)
        {
            await harness.Db.StringSetAsync($"{harness.Keys.Prefix}:tenant:{tenant}:tpm", now + 600_000).Bounded();
        }

        // Named to sort after them: on equal tags the held tenants come first in the tag order.
        await SubmitAsync(store, "zz-free", 8);

        var tenants = await DispatchTenantsAsync(harness, store, 8, batch: 4);

        Assert.All(tenants, t => Assert.Equal("zz-free", t));
        Assert.Equal(held.Length, await harness.Db.SortedSetLengthAsync(harness.Keys.HeldTenants).Bounded());

        // One held tenant's clock falls back (its look-again time reached): it comes back first.
        await harness.Db.KeyDeleteAsync($"{harness.Keys.Prefix}:tenant:{held[7]}:tpm").Bounded();
        await harness.Db.SortedSetAddAsync(harness.Keys.HeldTenants, held[7], 0).Bounded();
        await SubmitAsync(store, "zz-free", 1);
        Assert.Equal([held[7], "zz-free"], await DispatchTenantsAsync(harness, store, 2, batch: 2));
        Assert.Equal(held.Length - 1, await harness.Db.SortedSetLengthAsync(harness.Keys.HeldTenants).Bounded());
    }

    /// <summary>
    /// A parked tenant whose queued jobs are all canceled leaves the parked set at the next dispatch,
    /// idle (its tag kept as its finish tag), not when its hold would have ended.
    /// </summary>
    [Fact]
    public async Task ParkedTenant_ItsQueuedJobsCanceled_LeavesTheParkedSetAtTheNextDispatch()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = StoreWith(harness, new() { ["acme"] = new TenantQuotas { MaxConcurrency = 1 } });
        await store.EnsureConsumerGroupAsync().Bounded();
        var ids = await SubmitAsync(store, "acme", 3);
        Assert.Single(await store.DispatchAsync("w", 1, LowWait).Bounded());
        Assert.Empty(await store.DispatchAsync("w", 1, LowWait).Bounded());
        Assert.NotNull(await harness.Db.SortedSetScoreAsync(harness.Keys.HeldTenants, "acme").Bounded());

        Assert.Equal(CancelOutcome.Canceled, await store.CancelAsync(ids[1]).Bounded());
        Assert.Equal(CancelOutcome.Canceled, await store.CancelAsync(ids[2]).Bounded());
        Assert.Empty(await store.DispatchAsync("w", 1, LowWait).Bounded());

        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.HeldTenants).Bounded());
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.ActiveTenants).Bounded());
        Assert.False(await harness.Db.HashExistsAsync(harness.Keys.DispatchState, "held:acme").Bounded());
        Assert.True(await harness.Db.HashExistsAsync(harness.Keys.DispatchState, "finish:acme").Bounded());
    }

    /// <summary>
    /// A tenant held by its <c>TokensPerMinute</c> whose limit a restart raised or removed runs at once:
    /// a starting worker makes parked tenants due, and tokens owed are counted at the new limit. It
    /// waited out the old limit's hold before (12 and 55 minutes in an outside audit).
    /// </summary>
    [Theory]
    [InlineData(100_000)]
    [InlineData(0)]
    public async Task TokensPerMinuteRaisedOrRemoved_AtARestart_TheHeldTenantRunsAtOnce(int tokensPerMinute)
    {
        await using var harness = await WorkerHarness.StartAsync();
        var before = StoreWith(harness, new() { ["acme"] = new TenantQuotas { TokensPerMinute = 10 } });
        await before.EnsureConsumerGroupAsync().Bounded();
        await SubmitAsync(before, "acme", 2);
        Assert.Single(await before.DispatchAsync("w", 1, LowWait).Bounded());
        // One call of 68 tokens at 10 a minute: the clock 6.8 minutes ahead, the next job held back.
        Assert.InRange(await before.ChargeTenantTokensAsync("acme", 68, 10).Bounded(), TimeSpan.FromMinutes(6.7), TimeSpan.FromMinutes(6.9));
        Assert.Empty(await before.DispatchAsync("w", 1, LowWait).Bounded());

        var after = StoreWith(harness, new() { ["acme"] = new TenantQuotas { TokensPerMinute = tokensPerMinute > 0 ? tokensPerMinute : null } });
        Assert.Equal(1, await after.WakeParkedTenantsAsync().Bounded());

        Assert.Single(await after.DispatchAsync("w", 1, LowWait).Bounded());
        Assert.Equal(0, await harness.Db.SortedSetLengthAsync(harness.Keys.HeldTenants).Bounded());
    }

    /// <summary>A permit that comes back makes its parked tenant due at once: its next job goes with the next dispatch.</summary>
    [Fact]
    public async Task TenantParkedAtItsConcurrency_APermitBack_DispatchedNext()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = StoreWith(harness, new() { ["acme"] = new TenantQuotas { MaxConcurrency = 1 } });
        await store.EnsureConsumerGroupAsync().Bounded();
        await SubmitAsync(store, "acme", 2);
        var claim = await store.ClaimAsync(Assert.Single(await store.DispatchAsync("w", 1, LowWait).Bounded()), "w").Bounded();
        Assert.Equal(StartAttemptOutcome.Started, (await store.StartAttemptAsync(claim.Lease!, 1).Bounded()).Outcome);
        Assert.Empty(await store.DispatchAsync("w", 1, LowWait).Bounded());
        Assert.NotNull(await harness.Db.SortedSetScoreAsync(harness.Keys.HeldTenants, "acme").Bounded());

        Assert.True(await store.FinishAttemptAsync(AttemptFinish.Completed(claim.Lease!, 1, new JobResult("done", "model", new TokenUsage(1, 1)))).Bounded());

        Assert.Equal(0, await harness.Db.SortedSetScoreAsync(harness.Keys.HeldTenants, "acme").Bounded());
        Assert.Single(await store.DispatchAsync("w", 1, LowWait).Bounded());
    }

    [Fact]
    public async Task PermitLapsedWhileItsAttemptRan_TakenAgainByTheRenewal_TheTenantHeldAtItsLimit()
    {
        // Redis stalled past the lease (its clock ran on): dispatch dropped the running attempts'
        // permits as lapsed and reserved others. The owners' renewals take theirs again.
        await using var harness = await WorkerHarness.StartAsync();
        var store = StoreWith(harness, new() { ["acme"] = new TenantQuotas { MaxConcurrency = 2 } });
        await store.EnsureConsumerGroupAsync().Bounded();
        await SubmitAsync(store, "acme", 5);
        var running = new List<JobLease>();
        foreach (var delivery in await store.DispatchAsync("w", 2, LowWait).Bounded())
        {
            var claim = await store.ClaimAsync(delivery, "w").Bounded();
            Assert.Equal(StartAttemptOutcome.Started, (await store.StartAttemptAsync(claim.Lease!, 1).Bounded()).Outcome);
            running.Add(claim.Lease!);
        }

        var permits = $"{harness.Keys.Prefix}:tenant:acme:permits";
        await harness.Db.KeyDeleteAsync(permits).Bounded();
        Assert.Equal(2, (await store.DispatchAsync("w", 2, LowWait).Bounded()).Count);

        Assert.All(await store.RenewLeasesAsync(running).Bounded(), renewal => Assert.Equal(LeaseRenewal.Held, renewal));

        // Four counted (the two running and the two reserved): over the limit, nothing more goes out.
        Assert.Equal(4, await harness.Db.SortedSetLengthAsync(permits).Bounded());
        Assert.All(running, lease => Assert.NotNull(harness.Db.SortedSetScore(permits, lease.JobId)));
        Assert.Empty(await store.DispatchAsync("w", 2, LowWait).Bounded());
    }

    [Fact]
    public async Task CancelOfAReadyJob_LeavesItsReadySet_CountedOnce_NeverDispatched()
    {
        await using var harness = await WorkerHarness.StartAsync();
        var store = harness.Store;
        await store.EnsureConsumerGroupAsync().Bounded();
        var ids = await SubmitAsync(store, "acme", 3);

        Assert.Equal(CancelOutcome.Canceled, await store.CancelAsync(ids[1]).Bounded());
        Assert.Equal(CancelOutcome.Canceled, await store.CancelAsync(ids[1]).Bounded());

        Assert.Equal(2, (long)await harness.Db.HashGetAsync(harness.Keys.DispatchState, "ready").Bounded());
        Assert.Equal([ids[0], ids[2]], [.. (await store.DispatchAsync("w", 10, LowWait).Bounded()).Select(d => d.JobId)]);
        Assert.Equal(0, (long)await harness.Db.HashGetAsync(harness.Keys.DispatchState, "ready").Bounded());
    }

    private static JobStore StoreWith(WorkerHarness harness, Dictionary<string, TenantQuotas> tenants)
    {
        var options = new TenantQuotaOptions();
        foreach (var (tenant, quotas) in tenants)
        {
            options.Tenants[tenant] = quotas;
        }

        return new JobStore(harness.Connection, harness.Keys, TenantPermits.From(options, TimeSpan.FromSeconds(30)));
    }

    /// <summary>Submits one after the other, so that their order in the ready set is the order here.</summary>
    private static async Task<string[]> SubmitAsync(JobStore store, string tenant, int count, string? priority = null)
    {
        var ids = new string[count];
        for (var i = 0; i < count; i++)
        {
            var job = WorkerHarness.NewJob($"{tenant} job {i}", maxAttempts: 1);
            var result = await store.SubmitAsync(job with { Tenant = tenant, Request = job.Request with { Priority = priority } }, idempotency: null).Bounded();
            Assert.Equal(SubmitOutcome.Created, result.Outcome);
            ids[i] = result.JobId;
        }

        return ids;
    }

    /// <summary>Dispatches <paramref name="count"/> jobs in calls of <paramref name="batch"/>, returning each job's tenant in order.</summary>
    private static async Task<List<string>> DispatchTenantsAsync(WorkerHarness harness, JobStore store, int count, int batch)
    {
        var tenants = new List<string>();
        while (tenants.Count < count)
        {
            var deliveries = await store.DispatchAsync("w", Math.Min(batch, count - tenants.Count), LowWait).Bounded();
            Assert.NotEmpty(deliveries);
            foreach (var delivery in deliveries)
            {
                tenants.Add((await harness.GetAsync(delivery.JobId)).Tenant);
            }
        }

        return tenants;
    }
}
