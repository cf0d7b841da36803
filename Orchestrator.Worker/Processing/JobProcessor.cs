using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using Orchestrator.Jobs;
using Orchestrator.ServiceDefaults;
using Orchestrator.Worker.Llm;
using Orchestrator.Worker.Resilience;
using Orchestrator.Worker.Streaming;
using Orchestrator.Worker.Telemetry;
using Orchestrator.Llm;
using Polly;
using Polly.Registry;

namespace Orchestrator.Worker.Processing;

/// <summary>
/// Runs one claimed job to a recorded outcome. A job's whole path, top to bottom:
/// <list type="number">
/// <item>fetch and claim: <see cref="JobWorker"/> takes a batch (<c>dispatch.lua</c>: fair share
/// between tenants, priorities; or reclaims lapsed leases) and claims it in one <c>claim.lua</c> call, which also starts the attempt of a
/// job that may start at once;</item>
/// <item><see cref="ProcessAsync"/>: the claim's answer, lease renewal (<see cref="LeaseKeeper"/>),
/// a suspect's turn to run alone (<see cref="SoloGate"/>);</item>
/// <item><see cref="RunAsync"/>: wait for the retry time, then the attempts through the <c>llm</c>
/// pipeline (<see cref="LlmPipeline"/>: retry owner, per-attempt timeout);</item>
/// <item><see cref="RunAttemptAsync"/>: start the attempt (<c>start-attempt.lua</c>) unless the claim
/// did, then <see cref="CallLlmAsync"/> (<see cref="LlmCaller"/>; streamed text goes to the job's
/// events through a <see cref="DeltaWriter"/>); a failure comes back as the attempt's outcome, not thrown;</item>
/// <item>finish: <see cref="RecordRetryAsync"/> between attempts (the pipeline calls it through
/// <see cref="AttemptState"/>), <see cref="RecordSuccessAsync"/> or <see cref="RecordFailureAsync"/>
/// at the end, each one <c>finish-attempt.lua</c> write through <see cref="OutcomeWriter"/>;</item>
/// <item>or, when a client cancels the job (<see cref="Cancellation.CancellationListener"/>),
/// <see cref="RecordCanceledAsync"/>; at shutdown or when the lease is lost, <see cref="HandBackAsync"/>
/// (<c>release.lua</c>).</item>
/// </list>
/// Every write is fenced by the lease token; <see cref="JobExecution"/> holds the job's state.
/// </summary>
internal sealed class JobProcessor(
    JobStore store,
    LlmCaller llm,
    ModelCatalog models,
    ResiliencePipelineProvider<string> pipelines,
    LeaseKeeper leases,
    SoloGate solo,
    OutcomeWriter outcomes,
    DeltaWriters deltaWriters,
    TenantTokens tenantTokens,
    OrchestratorMetrics metrics,
    IOptions<WorkerOptions> workerOptions,
    TimeProvider timeProvider,
    StoreClock clock,
    ILogger<JobProcessor> logger)
{
    private readonly TimeSpan _maxInProcessDelay = workerOptions.Value.MaxInProcessDelay;

    // A job deferred with a booked slot comes back this much before the slot: a promotion runs every
    // Worker:ReclaimInterval, and a booking presented after its window is lost (and its charge with it).
    private readonly TimeSpan _bookingLead = TimeSpan.FromTicks(Math.Min(
        workerOptions.Value.MaxInProcessDelay.Ticks, (workerOptions.Value.ReclaimInterval + TimeSpan.FromSeconds(1)).Ticks));
    private readonly ResiliencePipeline _pipeline = pipelines.GetPipeline(LlmPipeline.Name);
    private readonly ResiliencePipeline _redis = pipelines.GetPipeline(RedisPipeline.Name);

    /// <summary>
    /// Runs a job the worker has claimed (<see cref="JobWorker"/> claims each batch it reads in one
    /// call); a claim that found nothing to run is only logged.
    /// </summary>
    /// <param name="drain">Whether the worker is shutting down; read once the job is tracked, so no drain is missed.</param>
    /// <param name="ticket">A suspect's place in line for its turn (<see cref="SoloGate.Hold"/>); null for an ordinary job.</param>
    /// <param name="slot">The job's <c>Worker:Concurrency</c> slot, lent to another job while this one waits for its next attempt, and given back early while its final outcome is written (WorkerSlots).</param>
    public async Task ProcessAsync(ClaimResult claim, Delivery delivery, SoloGate.Ticket? ticket, WorkerSlots.Slot slot, Func<bool> drain, CancellationToken hardStop)
    {
        if (claim.Job is { LostAttempt: { } lost } lostWith)
        {
            RecordLostAttempt(lostWith, lost);
        }

        switch (claim.Outcome)
        {
            case ClaimOutcome.Missing or ClaimOutcome.AlreadyFinal:
                WorkerLog.Skipped(logger, delivery.JobId, claim.Outcome.ToString());
                return;
            case ClaimOutcome.DeadLettered when claim.Job is { } dead:
                WorkerLog.DeadLetteredOnClaim(logger, delivery.JobId, dead.Attempts, AttemptSpan.SubmissionTraceId(dead));
                CountFinal(metrics.JobsDeadLettered, dead);
                return;
            case ClaimOutcome.Canceled:
                WorkerLog.CanceledOnClaim(logger, delivery.JobId, claim.Job?.Attempts ?? 0, claim.Job is { } canceled ? AttemptSpan.SubmissionTraceId(canceled) : null);
                CountFinal(metrics.JobsCanceled, claim.Job);
                return;
            case ClaimOutcome.DeadLettered:
                // Its hash did not parse: neither its attempts nor its creation are known.
                WorkerLog.DeadLetteredOnClaim(logger, delivery.JobId, 0, null);
                CountFinal(metrics.JobsDeadLettered, null);
                return;
            case ClaimOutcome.Corrupt:
                // Unreadable: no creation time to measure its duration from.
                WorkerLog.SetAsideOnClaim(logger, delivery.JobId, claim.Reason ?? "unknown");
                CountFinal(metrics.JobsDeadLettered, null);
                return;
        }

        var job = claim.Job!;
        // Every log line about the job carries its tenant (OrchestratorTags.Tenant).
        using var tenantScope = WorkerLog.JobScope(logger, job);
        if (delivery.Reclaimed)
        {
            var attemptsSoFar = claim.StartedAttempt > 0 ? job.Attempts - 1 : job.Attempts;
            if (job.HandedBack)
            {
                // Its entry came through reclaim, but nothing lapsed: orchestrator.jobs.reclaimed counts lapsed leases only.
                WorkerLog.TakenUpAfterHandBack(logger, job.Id, attemptsSoFar, AttemptSpan.SubmissionTraceId(job));
            }
            else
            {
                metrics.JobsReclaimed.Add(1, new KeyValuePair<string, object?>(OrchestratorTags.Tenant, job.Tenant));
                WorkerLog.Reclaimed(logger, job.Id, attemptsSoFar, AttemptSpan.SubmissionTraceId(job));
            }
        }

        using var execution = new JobExecution(claim.Lease, job, hardStop) { Reclaimed = delivery.Reclaimed && !job.HandedBack, Slot = slot };
        if (claim.StartedAttempt > 0)
        {
            // The attempt is recorded: it runs even if a drain begins now, as a started call would.
            execution.HoldStartedAttempt(claim.StartedAttempt);
            // Its clock and span start with its history entry: a cancel, a hand-back or a takeover
            // while it waits for its turn (behind a suspect) ends an attempt that has both.
            BeginAttempt(execution, claim.StartedAttempt);
        }

        leases.Track(execution);
        if (drain())
        {
            execution.BeginDrain();
        }
        try
        {
            // A suspect waits until no ordinary job runs here; an ordinary job while a suspect is held.
            using var turn = await (ticket?.WaitAsync(execution.Token) ?? solo.EnterAsync(SoloGate.IsolationOf(job), execution.Token)).ConfigureAwait(false);
            execution.Alone = turn.Alone;
            var ordinary = ticket is null && SoloGate.IsolationOf(job) == Isolation.None;
            execution.OrdinaryTurn = ordinary ? turn : null;
            execution.SuspectTurn = ordinary ? null : turn;
            await RunAsync(execution).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (execution.Token.IsCancellationRequested && execution.CancelRequested && !execution.Deferred)
        {
            await RecordCanceledAsync(execution).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (execution.Token.IsCancellationRequested)
        {
            await HandBackAsync(execution).ConfigureAwait(false);
        }
        finally
        {
            leases.Untrack(execution);
            // The turn taken again after a wait (disposing one twice is harmless).
            execution.OrdinaryTurn?.Dispose();
            execution.AttemptActivity?.Dispose();
        }
    }

    private async Task RunAsync(JobExecution execution)
    {
        // A reclaimed job that was waiting for a retry keeps its schedule (the claim started no attempt),
        // on Redis's clock, which stamped it: the host's own may be minutes off.
        if (!execution.HasStartedAttempt && execution.Job.NextAttemptAt is { } next && next - clock.UtcNow is { Ticks: > 0 } wait)
        {
            // Taken back before its first attempt here (the pipeline's AttemptGateStrategy).
            LendSlotForWait(execution);
            await Task.Delay(wait, timeProvider, execution.Token).ConfigureAwait(false);
        }

        var context = ResilienceContextPool.Shared.Get(execution.Token);
        context.Properties.Set(LlmPipeline.StateKey, new AttemptState(this, execution));
        Outcome<LlmAnswer> outcome;
        try
        {
            // Outcome-based: a failed attempt reaches the retry strategy and this method as a value, not
            // rethrown at every frame between the provider and here.
            outcome = await _pipeline.ExecuteOutcomeAsync(
                static (ctx, state) => state.Processor.RunAttemptAsync(state.Execution, ctx.CancellationToken),
                context,
                (Processor: this, Execution: execution)).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // What the pipeline itself threw (recording a retry), handled as the attempt's outcome.
            outcome = Outcome.FromException<LlmAnswer>(e);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }

        switch (outcome.Exception)
        {
            case null:
                await RecordSuccessAsync(execution, outcome.Result!).ConfigureAwait(false);
                break;
            case OperationCanceledException when execution.Token.IsCancellationRequested:
                // Canceled, drained or the lease lost: ProcessAsync records or hands back.
                outcome.ThrowIfException();
                break;
            case LeaseLostException:
                throw new OperationCanceledException(execution.Token);
            case var e when AttemptFailure.IsTransient(e) && execution.StopIfDraining():
                // Its last attempt failed as the worker stops (a provider or sidecar stopped beside it): handed
                // back, released; recorded, the job failed for the stop's sake.
                throw new OperationCanceledException(execution.Token);
            case var e:
                await RecordFailureAsync(execution, e).ConfigureAwait(false);
                break;
        }
    }

    /// <summary>What the <c>llm</c> pipeline's retry strategy reads and calls between two attempts of one job.</summary>
    private sealed class AttemptState(JobProcessor processor, JobExecution execution) : IAttemptState
    {
        public int Attempt => execution.Attempt;

        public int MaxAttempts => execution.MaxAttempts;

        public TimeSpan DeploymentWait => execution.DeploymentWait;

        public async ValueTask OnRetryAsync(Exception exception, TimeSpan delay)
        {
            // The failed attempt's call used its booking, if it had one.
            execution.Booking = null;
            await processor.RecordRetryAsync(execution, exception, delay).ConfigureAwait(false);
            LendSlotForWait(execution, attemptEnded: true);
        }

        public ValueTask BeforeAttemptAsync(CancellationToken cancellationToken) =>
            execution.Slot is { Lent: true } slot ? processor.TakeSlotBackAsync(execution, slot, cancellationToken) : ValueTask.CompletedTask;

        public async ValueTask OnDeploymentWaitAsync(CapacityWaitException wait, TimeSpan delay)
        {
            // A tenant hold comes before the attempt starts (defer.lua takes back a started attempt; a
            // held one has none). It is the tenant's own backlog, not a deployment's wait, so it does
            // not count against Llm:MaxRateLimitWait.
            if (!wait.BeforeAttempt)
            {
                execution.Booking = wait.Booking is { } slot ? new DeploymentBooking(wait.Provider, slot) : null;
                execution.WaitForDeployment(delay);
                // A long wait parks the job in the delayed set instead (Worker:MaxInProcessDelay).
                await processor.DeferAsync(execution, wait, delay).ConfigureAwait(false);
            }
            else
            {
                // Back to its tenant's ready set: waiting here would hold a slot (a suspect: the whole
                // worker) while dispatch gives the permits that come free to the tenant's next jobs.
                // Only if Redis refuses that does it wait here and ask again.
                await processor.RequeueAsync(execution).ConfigureAwait(false);
            }

            // Waiting is not calling: a shutdown now hands the job back instead of waiting with it.
            execution.StopIfDraining();
            LendSlotForWait(execution);
        }
    }

    /// <summary>
    /// A job that waits here for its next attempt lets another job run meanwhile (WorkerSlots). Only
    /// an ordinary job lends its slot, and it leaves its turn too: waiting is not running, and a
    /// suspect taken over meanwhile (holding a slot, waiting for the ordinary jobs here to be done)
    /// must not wait for a job that waits for a slot. Every job takes a slot, then a turn; none waits
    /// for a slot while holding a turn. A suspect whose attempt ended (<paramref name="attemptEnded"/>:
    /// a retry recorded) is ordinary from then on: it ends its turn apart and waits as ordinary jobs
    /// do, where it held the worker's other work for the whole wait (up to <c>Worker:MaxInProcessDelay</c>).
    /// </summary>
    private static void LendSlotForWait(JobExecution execution, bool attemptEnded = false)
    {
        var turn = execution.OrdinaryTurn ?? (attemptEnded ? execution.SuspectTurn : null);
        if (turn is not null && execution.Slot is { } slot && !execution.Token.IsCancellationRequested && slot.WaitStarting())
        {
            execution.OrdinaryTurn = null;
            execution.SuspectTurn = null;
            // Its next attempt runs beside ordinary jobs: not recorded as alone.
            execution.Alone = false;
            turn.Dispose();
        }
    }

    /// <summary>After a wait with its slot lent: a slot, then a turn (suspects held here run first).</summary>
    private async ValueTask TakeSlotBackAsync(JobExecution execution, WorkerSlots.Slot slot, CancellationToken cancellationToken)
    {
        await slot.ReturnAsync(cancellationToken).ConfigureAwait(false);
        execution.OrdinaryTurn = await solo.EnterAsync(Isolation.None, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>One attempt, as the pipeline's outcome callback: it answers every failure, never throws.</summary>
    private async ValueTask<Outcome<LlmAnswer>> RunAttemptAsync(JobExecution execution, CancellationToken cancellationToken)
    {
        try
        {
            if (execution.ResumeAttempt)
            {
                // The attempt waited for its deployment (429 cooldown, capacity, open circuit): it goes on, unspent.
                execution.ResumeAttempt = false;
                // Polly runs this outside the flow that started the span: the call's lines and Redis
                // spans belong to the attempt, as on its first call.
                Activity.Current = execution.AttemptActivity;
                return await CallLlmAsync(execution, execution.Attempt, cancellationToken).ConfigureAwait(false);
            }

            // An attempt the claim started has begun already (ProcessAsync).
            if (execution.TakeStartedAttempt() is not { } attempt)
            {
                StartAttemptOutcome outcome;
                var next = execution.Attempt + 1;
                (outcome, attempt) = await _redis.ExecuteRedisAsync(
                    "start attempt", _ => store.StartAttemptAsync(execution.Lease, next, execution.Alone, execution.Job.Tenant), cancellationToken).ConfigureAwait(false);
                if (outcome == StartAttemptOutcome.Held)
                {
                    // Tenants:{t}:MaxConcurrency: held back unstarted; OnDeploymentWaitAsync puts it back in its ready set.
                    return Outcome.FromException<LlmAnswer>(CapacityWaitException.TenantConcurrency(execution.Job.Tenant, TenantPermits.PollInterval));
                }

                if (outcome != StartAttemptOutcome.Started)
                {
                    execution.OnLeaseLost();
                    return Outcome.FromException<LlmAnswer>(new LeaseLostException());
                }

                BeginAttempt(execution, attempt);
            }

            // Polly runs this outside the flow that began the span: the call's lines and Redis spans belong to the attempt.
            Activity.Current = execution.AttemptActivity;
            WorkerLog.AttemptStarted(logger, execution.Job.Id, attempt);
            if (attempt == 1)
            {
                metrics.QueueWait.Record((clock.UtcNow - execution.Job.CreatedAt).TotalSeconds, TenantTag(execution));
            }

            return await CallLlmAsync(execution, attempt, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // What did throw (Redis unavailable when starting, a cancellation) is the outcome too.
            return Outcome.FromException<LlmAnswer>(e);
        }
    }

    /// <summary>
    /// Starts the attempt's clock and span as its history entry is written. The span is not left
    /// current here: the flow that began it goes on to other work (the next attempt's Redis calls).
    /// </summary>
    private void BeginAttempt(JobExecution execution, int attempt)
    {
        execution.Attempt = attempt;
        execution.AttemptStartedTimestamp = timeProvider.GetTimestamp();
        execution.AttemptActivity?.Dispose();
        var ambient = Activity.Current;
        execution.AttemptActivity = AttemptSpan.Start(execution, models.Find(execution.Job.Request.Model));
        Activity.Current = ambient;
    }

    private async ValueTask<Outcome<LlmAnswer>> CallLlmAsync(JobExecution execution, int attempt, CancellationToken cancellationToken)
    {
        execution.EnterAttempt();
        var deltas = deltaWriters.Start(execution.Lease, attempt, execution.AttemptActivity);
        var answered = false;
        try
        {
            // The job's own token tells the attempt's timeout (cancellationToken alone) from the job's cancellation.
            var outcome = await llm.CallOutcomeAsync(execution.Job.Id, execution.Job.Request, attempt, cancellationToken, deltas, execution.Token,
                execution.Booking).ConfigureAwait(false);
            answered = outcome.Exception is null;
            return outcome;
        }
        finally
        {
            if (deltas is not null)
            {
                // After an answer the last text goes with the outcome (RecordSuccessAsync), in its script.
                execution.LastDelta = await deltas.CloseAsync(handOver: answered).ConfigureAwait(false);
            }

            execution.ExitAttempt();
        }
    }

    private async ValueTask RecordRetryAsync(JobExecution execution, Exception exception, TimeSpan delay)
    {
        if (execution.StopIfDraining())
        {
            // Failed as the worker stops: handed back with the attempt released, not charged (RunAsync).
            throw new OperationCanceledException(execution.Token);
        }

        var outcome = AttemptFailure.OutcomeOf(exception);
        // Polly calls this outside the attempt's async flow. The outcome's log line belongs to the
        // attempt (its trace id on the line): make its span current again. Setting it here lasts only
        // until this async method returns. (OutcomeWriter parents the Redis write itself.)
        Activity.Current = execution.AttemptActivity;
        // A long delay is waited out in the delayed set, not here: the job holds no slot and no lease.
        var toDelayedSet = delay > _maxInProcessDelay;
        var error = AttemptFailure.ErrorOf(exception);
        var reply = await WriteOutcomeAsync(
            execution, AttemptFinish.Retrying(execution.Lease, execution.Attempt, outcome, error, delay, toDelayedSet),
            execution.Token).ConfigureAwait(false);
        if (reply == FinishReply.CanceledInstead)
        {
            // A client canceled the job while the attempt ran: no retry follows, the job is final.
            leases.Untrack(execution);
            WorkerLog.CanceledInsteadOfRetry(logger, execution.Job.Id, execution.Attempt, outcome);
            CountFinal(metrics.JobsCanceled, execution.Job);
            EndAttempt(execution, outcome, error, delay: null);
            execution.OnDeferred();
            return;
        }

        var recorded = reply == FinishReply.Recorded;
        if (recorded && toDelayedSet)
        {
            // Untracked first: a renewal would find the lease gone, which is no loss here.
            leases.Untrack(execution);
            WorkerLog.Retrying(logger, execution.Job.Id, execution.Attempt, outcome, error.Type, error.Message, delay, error.Type == AttemptFailure.UnexpectedType ? exception : null);
            EndAttempt(execution, outcome, error, delay);
            execution.OnDeferred();
            return;
        }

        // The job waits for its next attempt under the same lease: renewals speak for it again.
        execution.RecordingOutcome = false;
        if (!recorded)
        {
            LogLeaseLost(execution);
            EndLostAttempt(execution);
            execution.OnLeaseLost();
            return;
        }

        WorkerLog.Retrying(logger, execution.Job.Id, execution.Attempt, outcome, error.Type, error.Message, delay, error.Type == AttemptFailure.UnexpectedType ? exception : null);
        EndAttempt(execution, outcome, error, delay);
        execution.StopIfDraining();
    }

    /// <summary>
    /// The attempt met a wait for its deployment before its call. Up to <c>Worker:MaxInProcessDelay</c>
    /// the worker waits with the job; a longer wait takes the attempt back and parks the job in the
    /// delayed set (defer.lua), so it holds no slot and no lease while it waits. When Redis cannot
    /// take the deferral, the worker waits with the job as it would for a short wait: nothing is lost.
    /// </summary>
    private async ValueTask DeferAsync(JobExecution execution, CapacityWaitException wait, TimeSpan delay)
    {
        if (delay <= _maxInProcessDelay)
        {
            return;
        }

        // Polly calls this outside the attempt's async flow (see RecordRetryAsync): the lines below
        // belong to the attempt.
        Activity.Current = execution.AttemptActivity;
        execution.RecordingOutcome = true;
        DeferOutcome outcome;
        try
        {
            // Back before a booked slot, to wait out the rest in process (reserve.lua answers how long).
            var due = execution.Booking is null ? delay : delay - _bookingLead;
            outcome = await _redis.ExecuteRedisAsync(
                "defer", _ => store.DeferAsync(execution.Lease, execution.Attempt, due, execution.DeploymentWait,
                    execution.Booking is { } booking ? $"{booking.Slot}:{booking.Provider}" : null), execution.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException && RedisFailure.IsTransient(e))
        {
            WorkerLog.RedisUnavailableForJob(logger, "defer", execution.Job.Id, execution.Attempt, delay, AttemptSpan.SubmissionTraceId(execution.Job), e);
            return;
        }
        finally
        {
            execution.RecordingOutcome = false;
        }

        leases.Untrack(execution);
        // Logged before the span ends, so the line carries its trace id.
        switch (outcome)
        {
            case DeferOutcome.Deferred:
                WorkerLog.Deferred(logger, execution.Job.Id, execution.Attempt, wait.Provider, wait.Reason, delay);
                break;
            case DeferOutcome.Corrupt:
                WorkerLog.SetAside(logger, execution.Job.Id, execution.Attempt, "its history could not be read when it was deferred");
                CountFinal(metrics.JobsDeadLettered, execution.Job);
                break;
            case DeferOutcome.Canceled:
                WorkerLog.CanceledWhileWaiting(logger, execution.Job.Id, execution.Attempt, wait.Provider, wait.Reason);
                CountFinal(metrics.JobsCanceled, execution.Job);
                break;
            default:
                LogLeaseLost(execution);
                break;
        }

        AttemptSpan.End(execution.AttemptActivity, "deferred", AttemptFailure.DeferredErrorOf(wait), delay);
        execution.AttemptActivity = null;
        if (outcome is DeferOutcome.Deferred or DeferOutcome.Canceled)
        {
            execution.OnDeferred();
        }
        else
        {
            execution.OnLeaseLost();
        }
    }

    /// <summary>
    /// A job whose tenant runs its <c>MaxConcurrency</c> jobs already (a retry, a job taken over, a
    /// reservation that lapsed) goes back to its tenant's ready set in its submission's place
    /// (<c>requeue.lua</c>), and dispatch sends it again with a permit reserved. Waiting here, it held
    /// a slot while the permits that came free went to the tenant's new jobs (an outside audit: such
    /// retries filled the slots, and another tenant kept 28–49 % of its throughput); a suspect held
    /// its whole worker (SoloGate), for as long as the permits stayed taken elsewhere (31–39 s after a
    /// rollback). A suspect keeps <c>suspect</c>. Should Redis not take the step, the job waits here.
    /// </summary>
    private async ValueTask RequeueAsync(JobExecution execution)
    {
        // The step drops the lease: a renewal meanwhile that finds it gone proves nothing.
        execution.RecordingOutcome = true;
        bool requeued;
        try
        {
            requeued = await _redis.ExecuteRedisAsync("requeue", _ => store.RequeueAsync(execution.Lease), execution.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException && RedisFailure.IsTransient(e))
        {
            WorkerLog.RedisUnavailableForJob(logger, "requeue", execution.Job.Id, execution.Attempt, TimeSpan.Zero, AttemptSpan.SubmissionTraceId(execution.Job), e);
            return;
        }
        finally
        {
            execution.RecordingOutcome = false;
        }

        leases.Untrack(execution);
        if (requeued)
        {
            WorkerLog.RequeuedHeld(logger, execution.Job.Id, execution.Job.Tenant);
            execution.OnDeferred();
        }
        else
        {
            LogLeaseLost(execution);
            execution.OnLeaseLost();
        }
    }

    private async Task RecordSuccessAsync(JobExecution execution, LlmAnswer answer)
    {
        var usage = new TokenUsage(answer.InputTokens, answer.OutputTokens);
        var result = new JobResult(answer.Text, answer.ResponseModel, usage, answer.Cost, answer.FinishReason);
        AttemptSpan.Answered(execution.AttemptActivity, answer);
        // With no provider configured the simulator answers any model name a client sends (and echoes
        // it): tagged with it, the series would be the clients' to mint (an outside audit: 300 names,
        // 300 series). The configured default names them all.
        metrics.RecordLlmUsage(models.ServesAnyModel ? models.DefaultModel : answer.Model.Name, execution.Job.Tenant, answer.InputTokens, answer.OutputTokens, answer.Cost);
        await tenantTokens.ChargeAsync(execution.Job.Tenant, answer.InputTokens + answer.OutputTokens).ConfigureAwait(false);

        // The attempt's span is current while its outcome is logged (see RecordRetryAsync).
        Activity.Current = execution.AttemptActivity;
        execution.Slot?.OutcomeWriting();
        // Recording runs to the end even during shutdown: the LLM has answered, the result must land.
        var recorded = await WriteOutcomeAsync(
            execution, AttemptFinish.Completed(execution.Lease, execution.Attempt, result, execution.LastDelta),
            execution.LeaseLost ? execution.Token : CancellationToken.None).ConfigureAwait(false) != FinishReply.Stale;
        if (!recorded)
        {
            LogLeaseLost(execution);
            EndLostAttempt(execution);
            return;
        }

        CountFinal(metrics.JobsCompleted, execution.Job);
        WorkerLog.Completed(logger, execution.Job.Id, execution.Attempt);
        EndAttempt(execution, AttemptOutcome.Succeeded, error: null, delay: null);
    }

    private async Task RecordFailureAsync(JobExecution execution, Exception exception)
    {
        var outcome = AttemptFailure.OutcomeOf(exception);
        // The attempt's span is current while its outcome is logged (see RecordRetryAsync).
        Activity.Current = execution.AttemptActivity;
        execution.Slot?.OutcomeWriting();
        var error = AttemptFailure.ErrorOf(exception, execution.DeploymentWait);
        var recorded = await WriteOutcomeAsync(
            execution, AttemptFinish.Failed(execution.Lease, execution.Attempt, outcome, error),
            CancellationToken.None).ConfigureAwait(false) != FinishReply.Stale;
        if (!recorded)
        {
            LogLeaseLost(execution);
            EndLostAttempt(execution);
            return;
        }

        CountFinal(metrics.JobsDeadLettered, execution.Job);
        WorkerLog.DeadLettered(logger, execution.Job.Id, execution.Attempt, outcome, error.Type, error.Message, error.Type == AttemptFailure.UnexpectedType ? exception : null);
        EndAttempt(execution, outcome, error, delay: null);
    }

    /// <summary>
    /// Writes the attempt's outcome (see <see cref="OutcomeWriter"/>); until it is recorded a renewal
    /// that finds the lease gone does not count as a loss (see <see cref="JobExecution.RecordingOutcome"/>).
    /// </summary>
    private Task<FinishReply> WriteOutcomeAsync(JobExecution execution, AttemptFinish finish, CancellationToken cancellationToken)
    {
        execution.RecordingOutcome = true;
        return outcomes.WriteAsync(finish, execution.AttemptActivity, cancellationToken);
    }

    /// <summary>
    /// A client canceled the job and its call was aborted: record the attempt's end as canceled
    /// (finish-attempt.lua accepts it only for a job whose cancel was requested). A job that was
    /// waiting, not running, was canceled by cancel.lua already: the write is refused, nothing to do.
    /// </summary>
    private async Task RecordCanceledAsync(JobExecution execution)
    {
        Activity.Current = execution.AttemptActivity;
        execution.Slot?.OutcomeWriting();
        var finish = AttemptFinish.Canceled(execution.Lease, execution.Attempt);
        if (await WriteOutcomeAsync(execution, finish, CancellationToken.None).ConfigureAwait(false) != FinishReply.Stale)
        {
            WorkerLog.Canceled(logger, execution.Job.Id, execution.Attempt);
            CountFinal(metrics.JobsCanceled, execution.Job);
            // The span says what the history says: error.type 'canceled'.
            EndAttempt(execution, AttemptOutcome.Canceled, finish.Error, delay: null);
        }
    }

    private async Task HandBackAsync(JobExecution execution)
    {
        if (execution.LeaseLost && execution.AttemptActivity is not null)
        {
            // Cut off mid-call by the lost lease: the attempt is the new holder's worker-lost.
            EndLostAttempt(execution);
        }

        if (execution.LeaseLost || execution.Deferred)
        {
            return;
        }

        try
        {
            switch (await store.ReleaseAsync(execution.Lease).ConfigureAwait(false))
            {
                case ReleaseOutcome.Released:
                    WorkerLog.Released(logger, execution.Job.Id, execution.Attempt, AttemptSpan.SubmissionTraceId(execution.Job));
                    break;
                case ReleaseOutcome.AttemptReleased:
                    // The call was cut off: recorded 'released', not charged, and measured as such.
                    WorkerLog.ReleasedMidAttempt(logger, execution.Job.Id, execution.Attempt, AttemptSpan.SubmissionTraceId(execution.Job));
                    // The history's error (release.lua), as every other outcome's span carries its own.
                    EndAttempt(execution, AttemptOutcome.Released, ReleasedError, delay: null);
                    break;
            }
        }
        catch (Exception e) when (RedisFailure.IsTransient(e))
        {
            // Not released: another worker reclaims the job once the lease lapses. Nothing is lost.
            WorkerLog.RedisUnavailableForJob(logger, "release", execution.Job.Id, execution.Attempt, TimeSpan.Zero, AttemptSpan.SubmissionTraceId(execution.Job), e);
        }
    }

    /// <summary>
    /// Says the write was refused because another worker holds the job, unless the lease loop said so
    /// already (<see cref="WorkerLog.LeaseLostAtRenewal"/>): one line per lost attempt, not two.
    /// </summary>
    private void LogLeaseLost(JobExecution execution)
    {
        if (!execution.LeaseLost)
        {
            WorkerLog.LeaseLost(logger, execution.Job.Id, execution.Attempt);
        }
    }

    /// <summary>
    /// A job this worker saw reach a final state (completed, dead-lettered, canceled): counted on
    /// <paramref name="jobs"/>, and its time from submission measured.
    /// </summary>
    private void CountFinal(Counter<long> jobs, Job? job)
    {
        if (job is null)
        {
            // Its hash did not parse: neither its tenant nor its creation is known.
            jobs.Add(1);
            return;
        }

        jobs.Add(1, TenantTag(job));
        metrics.EndToEnd.Record((clock.UtcNow - job.CreatedAt).TotalSeconds, TenantTag(job));
    }

    /// <param name="error">The attempt's error as written with its outcome (one reading of the exception serves both); null when none.</param>
    private void EndAttempt(JobExecution execution, string outcome, JobError? error, TimeSpan? delay)
    {
        CountAttempt(execution.Job, outcome, timeProvider.GetElapsedTime(execution.AttemptStartedTimestamp));
        AttemptSpan.End(execution.AttemptActivity, outcome, error, delay);
        execution.AttemptActivity = null;
    }

    /// <summary>One attempt in <c>orchestrator.attempts</c> and <c>orchestrator.attempt.duration</c>, by outcome and tenant.</summary>
    private void CountAttempt(Job job, string outcome, TimeSpan duration)
    {
        var tag = new KeyValuePair<string, object?>(OrchestratorTags.Outcome, outcome);
        metrics.Attempts.Add(1, tag, TenantTag(job));
        metrics.AttemptDuration.Record(duration.TotalSeconds, tag, TenantTag(job));
    }

    /// <summary>
    /// Ends an attempt whose lease another worker took: that worker recorded it <c>worker-lost</c> in
    /// the history, and so does its span, whatever the call's own end (its answer or error is discarded
    /// and no retry follows from here). It said <c>succeeded</c> or <c>transient-failure</c> with a
    /// retry delay, or, cut off mid-call, nothing. The worker whose claim closed the attempt counts it
    /// (<see cref="RecordLostAttempt"/>): this one learns of the loss only if it lives on.
    /// </summary>
    private static void EndLostAttempt(JobExecution execution)
    {
        AttemptSpan.End(execution.AttemptActivity, AttemptOutcome.WorkerLost, LostError, retryDelay: null);
        execution.AttemptActivity = null;
    }

    /// <summary>
    /// This worker's claim closed attempt <paramref name="record"/> as <c>worker-lost</c>: it counts
    /// the attempt in <c>orchestrator.attempts</c> and its duration, once for every lost attempt, and
    /// records its span, which a worker killed mid-attempt never ended (an outside audit: 22 lost
    /// attempts, none with a span or a count). Timed from the history. A lost worker that lives on (a
    /// stall) ends its own span too: such an attempt has two, one from each worker.
    /// </summary>
    private void RecordLostAttempt(Job job, AttemptRecord record)
    {
        CountAttempt(job, AttemptOutcome.WorkerLost, (record.EndedAt ?? record.StartedAt) - record.StartedAt);
        AttemptSpan.Lost(job, record, (job.MaxAttempts ?? 1) + job.UnchargedAttempts, models.Find(job.Request.Model), record.Error!);
    }

    private static readonly JobError ReleasedError = new(AttemptOutcome.Released,
        "The worker shut down during the call and handed the job back; this attempt is not counted.");

    private static readonly JobError LostError = new(AttemptOutcome.WorkerLost,
        "Another worker took over the lease before this one recorded the attempt's outcome; this worker's result was discarded.");

    private static KeyValuePair<string, object?> TenantTag(JobExecution execution) => TenantTag(execution.Job);

    private static KeyValuePair<string, object?> TenantTag(Job job) => new(OrchestratorTags.Tenant, job.Tenant);

    private sealed class LeaseLostException : Exception;
}
