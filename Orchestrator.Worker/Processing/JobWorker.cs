using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Resilience;
using Polly;
using Polly.Registry;
using Orchestrator.Worker.Telemetry;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// The worker loop: dispatch new jobs (fair share between tenants, <c>dispatch.lua</c>; idle, it
/// waits for the <see cref="ReadySignal"/>) and reclaim lapsed ones, up to
/// <c>Worker:Concurrency</c> jobs at once, each run by <see cref="JobProcessor"/> in its own task so
/// one bad job never stops the host. Every loop (fetch, lease, stats) runs under the
/// <see cref="LoopSupervisor"/> and every Redis call through the <c>redis</c> pipeline, so nothing
/// but a stop request ends the process. On shutdown: stop fetching, hand back waiting jobs at once,
/// let running LLM calls finish within the host's shutdown timeout, then hand back the rest.
/// </summary>
internal sealed class JobWorker(
    JobStore store,
    JobProcessor processor,
    LeaseKeeper leases,
    ReclaimHold reclaimHold,
    SoloGate solo,
    LoopSupervisor loops,
    ResiliencePipelineProvider<string> pipelines,
    ReadySignal readySignal,
    OrchestratorMetrics metrics,
    IOptions<WorkerOptions> options,
    IOptions<SchedulingOptions> scheduling,
    TimeProvider timeProvider,
    StoreClock clock,
    ILogger<JobWorker> logger) : BackgroundService
{
    private const int MaxBatch = 64;
    // Bounds one reclaim round: with one free slot a step looks at 10 pending entries, so this
    // covers 10,000 of them; a longer list is covered over the next rounds (the cursor is kept).
    private const int MaxReclaimSteps = 1_000;
    // A consumer unseen this many leases with nothing pending is a stopped worker's.
    private const int ConsumerIdleLeases = 10;
    // How many of its leases a worker's own lease counts in the fleet's (FleetLeaseAsync); renewed
    // every third of one, with the leases it holds.
    private const int FleetLeaseCounts = 3;
    // Due jobs moved from the delayed set to the stream per promote.lua call, and calls per round:
    // a round promotes at most their product, the rest waits for the next round.
    private const int PromoteBatch = 500;
    private const int MaxPromoteCalls = 20;
    private static readonly TimeSpan StatsInterval = TimeSpan.FromSeconds(5);
    // Expired dead letters dropped per partition per call, and calls per stats read (every 5 s, by
    // every worker) while a call drops a full batch: up to 2,000 a second per worker. One call a read
    // took 5 minutes over 60,000 expired at once with two workers (an outside audit).
    private const int DeadLetterPruneLimit = 500;
    private const int MaxDeadLetterPruneCalls = 20;
    // The jobs index's expired ids (prune-index.lua): ids looked at per set, tenants' sets per call,
    // the global set's page (it holds every tenant's ids), calls per stats read past kept jobs, and
    // calls while a call dropped any. A call looks at most at 400 ids (~1 ms of Redis when half were
    // dropped, 0.45 ms for 200 kept ones, measured): a read walks past 800 kept ids of the global
    // set (at one call a read of 50, the lap of a full set took hours), and a backlog of expired
    // ones goes at up to 16,000 ids a read.
    private const int IndexPrunePage = 50;
    private const int IndexPruneGlobalPage = 200;
    private const int IndexPruneTenants = 4;
    private const int IndexPruneCallsPastKept = 4;
    private const int MaxIndexPruneCalls = 40;
    private static readonly TimeSpan SuspectPause = TimeSpan.FromMilliseconds(20);
    // After a lease's computed lapse, so that Redis (which measures idle time in ms) sees it lapsed.
    private static readonly TimeSpan LapseMargin = TimeSpan.FromMilliseconds(5);

    private readonly WorkerOptions _options = options.Value;
    private readonly TimeSpan _maxLowPriorityWait = scheduling.Value.MaxLowPriorityWait;
    private readonly ResiliencePipeline _redis = pipelines.GetPipeline(RedisPipeline.Name);
    private readonly WorkerSlots _slots = new(options.Value.Concurrency, OutcomeWriter.MaxBatch);
    private readonly ConcurrentDictionary<string, Task> _inFlight = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _hardStop = new();
    private volatile bool _draining;
    private Task _leaseLoop = Task.CompletedTask;
    private long _lastReclaim = long.MinValue;
    // From the last reclaim round to the next: Worker:ReclaimInterval, or less when another
    // worker's leases are due to lapse sooner (NextLapseAsync).
    private TimeSpan _reclaimAfter = options.Value.ReclaimInterval;
    private long _lastPrune = long.MinValue;
    // The longest lease among the fleet's workers (FleetLeaseAsync), what reclaim goes by: ticks.
    private long _reclaimLease = options.Value.LeaseTimeout.Ticks;
    // Whether the reclaim hold now in force has been logged.
    private bool _holdLogged;
    private bool _groupReady;
    private string _reclaimCursor = ReclaimPage.Start;
    private QueueStats? _stats;

    /// <summary>This process's consumer name in the group: unique per process, readable in XINFO.</summary>
    public string Consumer { get; } = $"{Environment.MachineName}-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..6]}";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        metrics.Meter.CreateObservableGauge("orchestrator.queue.length", () => _stats?.StreamLength ?? 0, "{entry}", "Entries in the jobs stream (jobs dispatched to a worker and not yet final).");
        metrics.Meter.CreateObservableGauge("orchestrator.queue.ready", () => _stats?.Ready ?? 0, "{job}", "Jobs waiting in the tenants' ready sets for a worker (fair sharing).");
        metrics.Meter.CreateObservableGauge("orchestrator.queue.pending", () => _stats?.Pending ?? 0, "{entry}", "Entries delivered to a worker and not yet finished.");
        metrics.Meter.CreateObservableGauge("orchestrator.queue.delayed", () => _stats?.Delayed ?? 0, "{job}", "Jobs waiting in the delayed set (a retry delay or a deployment wait), holding no worker slot.");
        metrics.Meter.CreateObservableGauge("orchestrator.dead_letters", () => _stats?.DeadLetters ?? 0, "{job}", "Jobs in the dead-letter list.");

        WorkerLog.Started(logger, Consumer, _options.Concurrency, _options.LeaseTimeout);
        // Leases are renewed until the hard stop (StopAsync awaits it): jobs finishing during a drain keep theirs.
        _leaseLoop = RunLeaseLoopAsync(_hardStop.Token);
        var statsLoop = RunStatsLoopAsync(stoppingToken);
        var promoteLoop = RunPromoteLoopAsync(stoppingToken);
        try
        {
            await loops.RunAsync("fetch", FetchStepAsync, stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            await statsLoop.ConfigureAwait(false);
            await promoteLoop.ConfigureAwait(false);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _draining = true;
        WorkerLog.Draining(logger, Consumer, _inFlight.Count);
        foreach (var execution in leases.Held)
        {
            execution.BeginDrain();
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_inFlight.Values).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // The host's shutdown timeout is up: cancel the calls still running and hand their jobs back.
            await _hardStop.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(_inFlight.Values).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None)
                .ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
        }
        finally
        {
            try
            {
                await _hardStop.CancelAsync().ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                // The host disposed this service while its stop was still finishing (seen once in a
                // test host under load): the lease loop was stopped by that disposal's cancel already.
            }

            await _leaseLoop.ConfigureAwait(false);
        }
    }

    public override void Dispose()
    {
        // The loops' token first: the fetch loop waiting for a slot then ends as stopped, not as a
        // fault of the disposed slots (a worker whose port was taken logged one with its stack).
        base.Dispose();
        _hardStop.Cancel();
        _hardStop.Dispose();
        // A job still writing past the stop (Redis not answering: an outside audit's half-open link)
        // gives its slot back later: the slots stay undisposed for it (they held no handle then), where
        // it met them disposed and was logged as an unexpected error.
        if (_inFlight.IsEmpty)
        {
            _slots.Dispose();
        }
    }

    /// <summary>One turn of the fetch loop: take free slots, reclaim lapsed leases when due, dispatch new jobs.</summary>
    private async Task FetchStepAsync(CancellationToken stoppingToken)
    {
        if (!_groupReady)
        {
            // A fresh Redis has neither the stream nor the group: made before the first reclaim,
            // which would otherwise meet NOGROUP (a warning on every first start) and make them then.
            await _redis.ExecuteRedisAsync("create group", async _ =>
            {
                await store.EnsureConsumerGroupAsync().ConfigureAwait(false);
                await store.SyncClockAsync(clock).ConfigureAwait(false);
                // Tenants' limits may have changed with this start: parked tenants are looked at again.
                await store.WakeParkedTenantsAsync().ConfigureAwait(false);
                // Known before the first reclaim round: the fleet's workers may hold longer leases.
                await LearnFleetLeaseAsync().ConfigureAwait(false);
                return true;
            }, stoppingToken).ConfigureAwait(false);
            _groupReady = true;
        }

        if (solo.SuspectHeld && UntilReclaim > TimeSpan.Zero)
        {
            // Suspects run apart from ordinary jobs: no new work until they have run (their turns
            // end it), only more of a dead worker's jobs (below), which may join their group.
            await Task.Delay(SuspectPause, timeProvider, stoppingToken).ConfigureAwait(false);
            return;
        }

        var taken = await _slots.TakeAsync(MaxBatch, stoppingToken).ConfigureAwait(false);
        try
        {
            // Lapsed leases are taken over here, with the slots this loop holds, and not in a loop
            // of their own: while it waits below this loop holds every free slot, so a separate
            // reclaimer would (almost) never find one and an idle worker would leave a crashed
            // worker's jobs pending forever.
            // Redis stalled a moment ago (HoldReclaim): the owners renew first, the round comes once the hold is over.
            if (UntilReclaim <= TimeSpan.Zero && !HoldReclaim())
            {
                _lastReclaim = timeProvider.GetTimestamp();
                _reclaimAfter = _options.ReclaimInterval;
                await PruneConsumersAsync().ConfigureAwait(false);
                var used = await ReclaimAsync(taken, stoppingToken).ConfigureAwait(false);
                if (used > 0 && used == taken)
                {
                    // Every slot went to a lapsed lease: more may be waiting, so the next turn
                    // with free slots reclaims again rather than a ReclaimInterval later.
                    _lastReclaim = long.MinValue;
                }
                else
                {
                    await ScheduleReclaimAsync().ConfigureAwait(false);
                }

                if (used > 0)
                {
                    // Taken-over jobs may be suspects, which run apart: the next turn sees them
                    // (SuspectHeld) before it dispatches more.
                    taken -= used;
                    return;
                }
            }

            if (solo.SuspectHeld)
            {
                return;
            }

            // A signal from before this dispatch is served by it; one after it wakes the wait below.
            await readySignal.ResetAsync().ConfigureAwait(false);
            if (_draining)
            {
                // Shutting down: nothing new is claimed (a job dispatched now goes straight back).
                var batch = await _redis.ExecuteRedisAsync(
                    "dispatch", _ => store.DispatchAsync(Consumer, taken, _maxLowPriorityWait), stoppingToken).ConfigureAwait(false);
                if (batch.Count > 0)
                {
                    await ReturnAsync(batch).ConfigureAwait(false);
                }

                return;
            }

            // The jobs are claimed (and their attempts started) in the call that dispatches them. Its
            // token names the claims: sent again after a lost reply, it is the same call and answers the same.
            var claimToken = JobStore.NewToken();
            var dispatchedAt = timeProvider.GetTimestamp();
            var claimed = await _redis.ExecuteRedisAsync(
                "dispatch", _ => store.DispatchAndClaimAsync(Consumer, taken, _maxLowPriorityWait, claimToken, startAttempt: true, _options.MaxCrashes),
                stoppingToken).ConfigureAwait(false);
            reclaimHold.Timed(dispatchedAt);
            _slots.Return(taken - claimed.Count);
            taken = 0;
            if (claimed.Count == 0)
            {
                // An idle loop waits at most until the next reclaim is due.
                var untilReclaim = UntilReclaim;
                var idleWait = _options.PollTimeout < untilReclaim ? _options.PollTimeout : untilReclaim;
                await readySignal.WaitAsync(idleWait > TimeSpan.Zero ? idleWait : TimeSpan.Zero, timeProvider, stoppingToken).ConfigureAwait(false);
                return;
            }

            StartAll([.. claimed.Select(static c => c.Delivery)], [.. claimed.Select(static c => c.Claim)]);
        }
        finally
        {
            // Slots not handed to a claim (a fault or a stop mid-step) go back.
            _slots.Return(taken);
        }
    }

    /// <summary>
    /// Claims a batch of reclaimed entries in one script call (through the <c>redis</c> pipeline) and
    /// starts a task per job. Each delivery holds a slot, released when its job is done.
    /// </summary>
    private async Task ClaimAndStartAsync(IReadOnlyList<Delivery> deliveries, string loop, CancellationToken stoppingToken)
    {
        if (deliveries.Count == 0)
        {
            return;
        }

        // The leases (their tokens identify this claim) are made once: a claim sent again after a
        // timeout must be the same claim, which claim.lua then answers as it did the first time.
        var leases = JobStore.NewLeases(deliveries, Consumer);
        // A draining worker claims without starting an attempt: the job is handed back unspent.
        var startAttempt = !_draining;
        IReadOnlyList<ClaimResult> claims;
        try
        {
            claims = await _redis.ExecuteRedisAsync(
                "claim", _ => store.ClaimManyAsync(leases, startAttempt, _options.MaxCrashes), stoppingToken).ConfigureAwait(false);
            loops.Succeeded(loop);
        }
        catch (Exception e)
        {
            // Unclaimed, the entries stay pending and are reclaimed once idle past the lease.
            _slots.Return(deliveries.Count);
            if (e is not OperationCanceledException)
            {
                loops.Fault(loop, e);
            }

            return;
        }

        StartAll(deliveries, claims);
    }

    /// <summary>Starts a task per claimed job.</summary>
    private void StartAll(IReadOnlyList<Delivery> deliveries, IReadOnlyList<ClaimResult> claims)
    {
        // The batch's suspects (a dead worker's jobs) are put in line together, so they share a turn.
        var tickets = claims.Any(static c => c.Job is { Suspect: true })
            ? solo.Hold([.. claims.Select(static c => c.Job is { } job ? SoloGate.IsolationOf(job) : Isolation.None)])
            : null;
        for (var i = 0; i < deliveries.Count; i++)
        {
            Start(deliveries[i], claims[i], tickets?[i]);
        }
    }

    /// <summary>
    /// Whether this worker runs the entry: idle in the pending list all the same when Redis refused
    /// its renewals for a while (an outage, memory full), and still this worker's. Reclaiming it
    /// would claim it twice, the second claim fencing out the first.
    /// </summary>
    private bool IsOurs(Delivery delivery) => _inFlight.ContainsKey(delivery.Key);

    /// <summary>
    /// Takes over up to <paramref name="slots"/> entries whose lease lapsed; returns how many slots
    /// it used. XAUTOCLAIM looks at no more than 10 × COUNT pending entries per call, so a scan that
    /// restarted at the first pending entry each time would never get past live entries ahead of a
    /// dead worker's. The cursor is kept across rounds, and within a round the scan goes on until
    /// the slots are used or it has gone once round the whole pending list.
    /// </summary>
    private async Task<int> ReclaimAsync(int slots, CancellationToken stoppingToken)
    {
        try
        {
            var taken = new List<Delivery>(slots);
            var wrapped = false;
            for (var step = 0; step < MaxReclaimSteps && taken.Count < slots && !wrapped; step++)
            {
                var from = _reclaimCursor;
                var startedAt = timeProvider.GetTimestamp();
                var page = await _redis.ExecuteRedisAsync(
                    "reclaim", _ => store.ReclaimExpiredAsync(Consumer, ReclaimLease, slots - taken.Count, from), stoppingToken).ConfigureAwait(false);
                reclaimHold.Timed(startedAt);
                _reclaimCursor = page.Next;
                wrapped = page.Next == ReclaimPage.Start;
                taken.AddRange(page.Deliveries.Where(d => !IsOurs(d)));
            }

            if (taken.Count > 0 && HoldReclaim())
            {
                // Redis stalled during the round: what it took may be live workers' entries that looked
                // lapsed only for the stall. Left unclaimed: a live owner's renewal takes its entry
                // back; a dead one's is taken again once idle past the lease.
                loops.Succeeded("reclaim");
                return 0;
            }

            await ClaimAndStartAsync(taken, "reclaim", stoppingToken).ConfigureAwait(false);
            loops.Succeeded("reclaim");
            return taken.Count;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            loops.Fault("reclaim", e);
            return 0;
        }
    }

    /// <summary>
    /// Whether reclaim waits for now (<see cref="ReclaimHold"/>); if so the next round is set for the
    /// hold's end, and the hold is logged once.
    /// </summary>
    private bool HoldReclaim()
    {
        var remaining = reclaimHold.Remaining;
        if (remaining <= TimeSpan.Zero)
        {
            _holdLogged = false;
            return false;
        }

        _lastReclaim = timeProvider.GetTimestamp();
        _reclaimAfter = remaining;
        if (!_holdLogged)
        {
            _holdLogged = true;
            WorkerLog.ReclaimHeld(logger, remaining, reclaimHold.RenewalPeriod);
        }

        return true;
    }

    private TimeSpan UntilReclaim =>
        _lastReclaim == long.MinValue ? TimeSpan.Zero : _reclaimAfter - timeProvider.GetElapsedTime(_lastReclaim);

    /// <summary>
    /// Brings the next reclaim round forward to the moment another worker's leases lapse, when that
    /// comes before the next ReclaimInterval: a dead worker's jobs are taken over then, not up to an
    /// interval later. Advisory: on a fault the round comes at its interval.
    /// </summary>
    private async Task ScheduleReclaimAsync()
    {
        try
        {
            if (await store.NextLapseAsync(Consumer, ReclaimLease).ConfigureAwait(false) is { } lapse
                && lapse + LapseMargin < _options.ReclaimInterval)
            {
                _lastReclaim = timeProvider.GetTimestamp();
                _reclaimAfter = lapse + LapseMargin;
            }
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            // The round comes at its interval.
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            loops.Fault("reclaim", e);
        }
    }

    /// <summary>
    /// Housekeeping beside reclaim, once per lease: consumers of stopped workers that hold nothing
    /// and were not seen for <see cref="ConsumerIdleLeases"/> leases leave the group.
    /// </summary>
    private async Task PruneConsumersAsync()
    {
        if (_lastPrune != long.MinValue && timeProvider.GetElapsedTime(_lastPrune) < _options.LeaseTimeout)
        {
            return;
        }

        _lastPrune = timeProvider.GetTimestamp();
        try
        {
            await store.PruneConsumersAsync(Consumer, _options.LeaseTimeout * ConsumerIdleLeases).ConfigureAwait(false);
            loops.Succeeded("prune");
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            // Housekeeping only: the next round tries again.
        }
        catch (Exception e)
        {
            loops.Fault("prune", e);
        }
    }

    private Task RunLeaseLoopAsync(CancellationToken cancellationToken)
    {
        var timer = new PeriodicTimer(_options.LeaseTimeout / 3, timeProvider);
        return loops.RunAsync("lease", async ct =>
        {
            if (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                await leases.RenewAllAsync().ConfigureAwait(false);
                try
                {
                    // Here, not in the fetch loop: a worker with no free slot makes no reclaim round,
                    // and its lease must go on counting while it holds jobs. Left at the stop: the
                    // stop waits for this loop, and a Redis not answering held it for the command's
                    // timeout.
                    await LearnFleetLeaseAsync().WaitAsync(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (RedisFailure.IsTransient(e))
                {
                    // The next tick tries again; reclaim goes by the lease last learnt.
                }
            }
        }, cancellationToken).ContinueWith(_ => timer.Dispose(), TaskScheduler.Default);
    }

    /// <summary>
    /// What reclaim goes by: the longest <c>Worker:LeaseTimeout</c> among the fleet's workers, this
    /// one's included. A worker with a shorter lease than another's (a rolling change of the setting)
    /// took that worker's live jobs, idle between its renewals for up to a third of its lease (an
    /// outside audit: a job taken 3 s into its call, which was paid twice).
    /// </summary>
    private TimeSpan ReclaimLease => TimeSpan.FromTicks(Volatile.Read(ref _reclaimLease));

    private async Task LearnFleetLeaseAsync()
    {
        var longest = await store.FleetLeaseAsync(Consumer, _options.LeaseTimeout, _options.LeaseTimeout * FleetLeaseCounts).ConfigureAwait(false);
        Volatile.Write(ref _reclaimLease, longest.Ticks);
    }

    /// <summary>
    /// Every <c>Worker:ReclaimInterval</c>, moves the jobs of the delayed set that are due back into
    /// their tenants' ready sets. Every worker does it, in a loop of its own (not the fetch loop, which waits for a
    /// free slot): promotion is idempotent, so no leader is needed and a dead worker's delayed jobs
    /// are promoted by the others.
    /// </summary>
    private Task RunPromoteLoopAsync(CancellationToken stoppingToken)
    {
        var timer = new PeriodicTimer(_options.ReclaimInterval, timeProvider);
        return loops.RunAsync("promote", async ct =>
        {
            for (var call = 0; call < MaxPromoteCalls; call++)
            {
                var (_, examined) = await _redis.ExecuteRedisAsync(
                    "promote", _ => store.PromoteDueAsync(PromoteBatch), ct).ConfigureAwait(false);
                if (examined < PromoteBatch)
                {
                    break;
                }
            }

            await timer.WaitForNextTickAsync(ct).ConfigureAwait(false);
        }, stoppingToken).ContinueWith(_ => timer.Dispose(), TaskScheduler.Default);
    }

    private Task RunStatsLoopAsync(CancellationToken stoppingToken)
    {
        var timer = new PeriodicTimer(StatsInterval, timeProvider);
        return loops.RunAsync("stats", async ct =>
        {
            try
            {
                // Expired dead letters first: the gauge counts the jobs GET /dead-letters lists. Then the
                // jobs index's expired ids.
                // A page a round; more while pages come full and drop something (a backlog of expired ones).
                for (var call = 0; call < MaxDeadLetterPruneCalls; call++)
                {
                    // A partition's full page that dropped some: more may follow (decided per partition:
                    // summed, one partition's short page stopped every other's backlog at a page a round).
                    if (!(await store.PruneDeadLettersAsync(DeadLetterPruneLimit).ConfigureAwait(false)).More)
                    {
                        break;
                    }
                }

                for (var call = 0; call < MaxIndexPruneCalls; call++)
                {
                    var (dropped, looked) = await store.PruneJobsIndexAsync(IndexPrunePage, IndexPruneTenants, IndexPruneGlobalPage).ConfigureAwait(false);
                    if (dropped == 0 && (looked == 0 || call + 1 >= IndexPruneCallsPastKept))
                    {
                        break;
                    }
                }

                _stats = await store.GetStatsAsync().ConfigureAwait(false);
                await store.SyncClockAsync(clock).ConfigureAwait(false);
            }
            catch (Exception e) when (RedisFailure.IsTransient(e))
            {
                // Gauges only: the next tick tries again.
                WorkerLog.RedisUnavailable(logger, "queue stats", StatsInterval, e);
            }

            await timer.WaitForNextTickAsync(ct).ConfigureAwait(false);
        }, stoppingToken).ContinueWith(_ => timer.Dispose(), TaskScheduler.Default);
    }

    private void Start(Delivery delivery, ClaimResult claim, SoloGate.Ticket? ticket)
    {
        // Registered before it starts, so its own removal (in its finally) can never come first.
        var run = new Task<Task>(() => RunJobAsync(delivery, claim, ticket));
        _inFlight[delivery.Key] = run.Unwrap();
        run.Start(TaskScheduler.Default);
    }

    private async Task RunJobAsync(Delivery delivery, ClaimResult claim, SoloGate.Ticket? ticket)
    {
        using var line = ticket;
        // Goes back once the job is done, or earlier, while its final outcome is written (WorkerSlots).
        var slot = _slots.ForJob();
        try
        {
            await processor.ProcessAsync(claim, delivery, ticket, slot, () => _draining, _hardStop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_hardStop.IsCancellationRequested)
        {
        }
        catch (Exception e)
        {
            // One bad job never stops the host; its entry stays pending and is reclaimed later.
            // The attempt as claimed (the job's attempts so far, with the one the claim started).
            WorkerLog.Unexpected(logger, delivery.JobId, claim.Job?.Attempts ?? 0, claim.Job is { } job ? AttemptSpan.SubmissionTraceId(job) : null, e);
        }
        finally
        {
            _inFlight.TryRemove(delivery.Key, out _);
            slot.Dispose();
        }
    }

    private async Task ReturnAsync(IReadOnlyList<Delivery> batch)
    {
        try
        {
            await store.ReturnUnclaimedAsync(Consumer, batch).ConfigureAwait(false);
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            // They stay pending here and are reclaimed once idle past the lease. Nothing is lost.
            WorkerLog.RedisUnavailable(logger, "return entries", TimeSpan.Zero, e);
        }
    }
}
