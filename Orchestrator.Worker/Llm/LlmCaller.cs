using System.Diagnostics;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.Options;
using OpenAI.Chat;
using Orchestrator.Jobs;
using Orchestrator.Llm;
using Orchestrator.Llm.Simulation;
using Orchestrator.Worker.Llm.FlowControl;
using Orchestrator.Worker.Resilience;
using Polly;
using Polly.CircuitBreaker;
using Polly.Registry;
using ChatMessage = Microsoft.Extensions.AI.ChatMessage;

namespace Orchestrator.Worker.Llm;

/// <summary>The answer of one call, with what it used and cost.</summary>
/// <param name="Text">The answer's text.</param>
/// <param name="ResponseModel">The model the provider said answered, else the model called.</param>
/// <param name="Model">The model called (maybe a fallback).</param>
/// <param name="FinishReason">Why the provider said the answer ended (<c>stop</c>, <c>length</c>, …).</param>
public sealed record LlmAnswer(string Text, string ResponseModel, ServedModel Model, long InputTokens, long OutputTokens, decimal Cost, string? FinishReason = null);

/// <summary>
/// One LLM call for a job's attempt: picks the model (the job's, else the next of its
/// <c>fallbackModels</c> whose circuit is closed and whose context window fits the prompt), takes
/// the deployment's flow control (cooldown, requests and tokens per minute, concurrency permit),
/// streams the answer through the deployment's circuit breaker, and settles with the real usage.
/// What must wait is a <see cref="CapacityWaitException"/>; provider errors are classified
/// <see cref="LlmException"/>s: thrown by <see cref="CallAsync"/>, answered as the outcome's exception
/// by <see cref="CallOutcomeAsync"/> (the worker's path: a failed call rethrown at every frame it
/// crosses cost S4's retry path a sixth of the worker's CPU).
/// </summary>
public sealed class LlmCaller(
    ModelCatalog catalog,
    ChatClientRegistry clients,
    DeploymentCircuits circuits,
    DeploymentFlowControl flow,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<WorkerOptions> workerOptions,
    IOptions<LlmOptions> llmOptions,
    IOptions<RetryOptions> retryOptions,
    TimeProvider timeProvider,
    StoreClock clock,
    ILogger<LlmCaller> logger)
{
    private readonly int _maxAnswerLength = llmOptions.Value.MaxAnswerLength;

    private readonly TimeSpan _idleTimeout = llmOptions.Value.StreamIdleTimeout;
    private readonly TimeSpan _attemptTimeout = retryOptions.Value.AttemptTimeout;
    private readonly TimeSpan _bookAhead = llmOptions.Value.BookAhead;

    /// <summary>
    /// The cooldown after a 429 that announced no wait, and the shortest after one that announced
    /// less (<c>Retry-After: 0</c>, a date past, <c>x-ratelimit-reset-requests: 0s</c>): a job's waits
    /// add up to <c>Llm:MaxRateLimitWait</c>, and waits of nothing never did, so a deployment that
    /// answered 429 with no wait was called again at once, without end.
    /// </summary>
    public static readonly TimeSpan DefaultCooldown = TimeSpan.FromSeconds(1);

    // Flow-control writes ride out a Redis that is slow or paused like every other Redis call (one
    // retry owner): re-sent, a reservation only counts stricter (the same permit id, tokens counted
    // twice) and a cooldown only extends to the same end.
    private readonly ResiliencePipeline _redis = pipelines.GetPipeline(RedisPipeline.Name);

    // Calls that start together reserve in one script call (this caller is the worker's one).
    private readonly ReserveCommit _reservations = new(flow);

    // A deployment without limits found clear by a reading still fresh needs no new one.
    private readonly ClearReadings _clear = new(timeProvider);

    /// <summary>The readings this caller's calls go on (tests watch a renewal land).</summary>
    internal ClearReadings Readings => _clear;

    /// <summary>Calls the LLM for <paramref name="request"/>'s attempt <paramref name="attempt"/>; its failure is thrown.</summary>
    /// <param name="jobId">The job the call is for: its log lines carry it.</param>
    /// <param name="deltas">Takes the text as the provider streams it (the job's <c>delta</c> events); null: not wanted.</param>
    /// <param name="jobCancellation">See <see cref="CallOutcomeAsync"/>.</param>
    public async Task<LlmAnswer> CallAsync(
        string jobId, JobRequest request, int attempt, CancellationToken cancellationToken, IDeltaSink? deltas = null, CancellationToken? jobCancellation = null,
        DeploymentBooking? booking = null)
    {
        var outcome = await CallOutcomeAsync(jobId, request, attempt, cancellationToken, deltas, jobCancellation, booking).ConfigureAwait(false);
        outcome.ThrowIfException();
        return outcome.Result!;
    }

    /// <summary>
    /// Calls the LLM for <paramref name="request"/>'s attempt <paramref name="attempt"/>; what the call
    /// met (a provider's error, a wait for the deployment, its cancellation) is the outcome's
    /// exception. It throws what came before the call: flow control's Redis unreachable, or a
    /// cancellation while it was asked.
    /// </summary>
    /// <param name="jobId">The job the call is for: its log lines carry it.</param>
    /// <param name="deltas">Takes the text as the provider streams it (the job's <c>delta</c> events); null: not wanted.</param>
    /// <param name="jobCancellation">
    /// The job's own cancellation (canceled, the worker shutting down, the lease lost), which the
    /// attempt's timeout wraps into <paramref name="cancellationToken"/>: the call cancelled while this
    /// is not is the attempt's timeout, a failure of the deployment (<see cref="CallTimeoutException"/>).
    /// Null: the call has no timeout of its own, and no cancellation counts against the deployment.
    /// </param>
    /// <param name="booking">The slot a wait of this call booked with its deployment (<see cref="CapacityWaitException.Booking"/>), or null.</param>
    public async Task<Outcome<LlmAnswer>> CallOutcomeAsync(
        string jobId, JobRequest request, int attempt, CancellationToken cancellationToken, IDeltaSink? deltas = null, CancellationToken? jobCancellation = null,
        DeploymentBooking? booking = null)
    {
        var promptTokens = TokenCounter.CountPrompt(request.Prompt);
        TimeSpan? circuitWait = null;
        string? waitedProvider = null;
        LlmException? tooLong = null;
        var candidates = Candidates(request).ToList();
        var hasFallbacks = candidates.Count > 1;
        for (var i = 0; i < candidates.Count; i++)
        {
            if (catalog.Find(candidates[i]) is not { } model)
            {
                continue;
            }

            if (ContextWindowCheck.TooLong(model.Name, model.Settings.ContextWindow, promptTokens, request.MaxTokens, hasFallbacks) is { } exceeded)
            {
                // Never call a model the prompt cannot fit: it would be a paid 400.
                tooLong ??= exceeded;
                continue;
            }

            if (circuits.OpenFor(model.ProviderName) is { } open && open > TimeSpan.Zero)
            {
                LlmLog.CircuitOpenSkipped(logger, jobId, attempt, model.Name, model.ProviderName, open);
                NoteCircuitWait(open, model.ProviderName);
                continue;
            }

            var outcome = await CallModelAsync(model, jobId, request, attempt, promptTokens, deltas, jobCancellation,
                booking?.Provider == model.ProviderName ? booking.Slot : null, cancellationToken).ConfigureAwait(false);
            switch (outcome.Exception)
            {
                case LlmException { Kind: LlmErrorKind.ContextLengthExceeded or LlmErrorKind.RequestTooLarge } e:
                    // Too big for this model or its deployment's limits: the next may take it.
                    tooLong = e;
                    break;
                case BrokenCircuitException e:
                    // Opened by another call since the check above: fall back like any open circuit.
                    NoteCircuitWait(e.RetryAfter ?? TimeSpan.FromMilliseconds(100), model.ProviderName);
                    break;
                case CapacityWaitException { Reason: CircuitOpen } e when i < candidates.Count - 1:
                    // This job's probe found the deployment still down: fall back as from any open
                    // circuit. It waits only when it has no candidate left (its own probe's two breaks).
                    if (cancellationToken.IsCancellationRequested)
                    {
                        // The probe took the attempt's time (it timed out): the next try, at once and
                        // unspent, skips the circuit it opened again and goes to the next candidate.
                        return Failed(new CapacityWaitException(TimeSpan.Zero, CircuitOpen, model.ProviderName, circuits.OpenedOn(model.ProviderName)));
                    }

                    NoteCircuitWait(e.Wait, model.ProviderName);
                    break;
                default:
                    return outcome;
            }
        }

        void NoteCircuitWait(TimeSpan wait, string provider)
        {
            if (circuitWait is null || wait < circuitWait)
            {
                (circuitWait, waitedProvider) = (wait, provider);
            }
        }

        if (circuitWait is { } circuit)
        {
            return Failed(new CapacityWaitException(circuit, CircuitOpen, waitedProvider!, circuits.OpenedOn(waitedProvider!)));
        }

        return Failed(tooLong ?? new LlmException(LlmErrorKind.ModelNotFound,
            $"None of the job's models ({string.Join(", ", candidates)}) is served by the Llm configuration."));
    }

    // A wait for an open circuit (CapacityWaitException.Reason). The one CallModelAsync answers is
    // its failed probe's; the others are decided here, from the circuits found open.
    internal const string CircuitOpen = "circuit-open";

    private static Outcome<LlmAnswer> Failed(Exception exception) => Outcome.FromException<LlmAnswer>(exception);

    private IEnumerable<string> Candidates(JobRequest request) =>
        new[] { request.Model ?? catalog.DefaultModel }.Concat(request.FallbackModels ?? []).Distinct(StringComparer.Ordinal);

    private async Task<Outcome<LlmAnswer>> CallModelAsync(
        ServedModel model, string jobId, JobRequest request, int attempt, int promptTokens, IDeltaSink? deltas, CancellationToken? jobCancellation,
        string? booking, CancellationToken cancellationToken)
    {
        var provider = model.ProviderName;
        var estimated = promptTokens + (request.MaxTokens ?? model.Provider.DefaultMaxTokens);
        var lease = workerOptions.Value.LeaseTimeout;
        var unlimited = ClearReadings.Applies(model.Provider);
        FlowWait wait;
        TimeSpan delay;
        FlowReservation? reservation;
        string? booked = null;
        // How old the reading the call goes on is: from when it was asked.
        long asked;
        if (unlimited && booking is null && _clear.Fresh(provider) is { } readAt)
        {
            if (_clear.TryStartRenewal(provider, readAt))
            {
                _ = RenewReadingAsync(provider);
            }

            (wait, delay, reservation, asked) = (FlowWait.None, TimeSpan.Zero, new FlowReservation(provider, model.Provider, estimated, PermitId: null, TokensCharged: false), readAt);
        }
        else
        {
            asked = timeProvider.GetTimestamp();
            (wait, delay, reservation, booked) = await _redis.ExecuteRedisAsync(
                "reserve capacity", ct => _reservations.ReserveAsync(new ReserveRequest(provider, model.Provider, estimated, lease, booking, _bookAhead), ct),
                cancellationToken).ConfigureAwait(false);
            if (unlimited && reservation is { Unconstrained: true })
            {
                _clear.Record(provider, asked);
            }
            else if (reservation is not null)
            {
                _clear.RecordWithoutCooldown(provider, asked);
            }
        }

        if (reservation is null)
        {
            return Failed(new CapacityWaitException(delay, wait switch
            {
                FlowWait.Cooldown => "rate-limited",
                FlowWait.Concurrency => "concurrency",
                _ => "capacity",
            }, provider) { Booking = booked });
        }

        // What the provider counted unless it says otherwise: a refused call counted nothing.
        long used = estimated;
        var probing = circuits.IsProbing(provider);
        // Only a permit is renewed while the call runs.
        using var renewal = reservation.PermitId is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var renewing = renewal is null ? Task.CompletedTask : RenewPermitAsync(reservation, lease, renewal.Token);
        try
        {
            if (await CooldownSinceAsync(provider, asked).ConfigureAwait(false) is { } cooling)
            {
                _clear.Forget(provider);
                used = 0;
                LlmLog.CooldownAtSend(logger, provider, cooling, jobId, attempt);
                return Failed(new CapacityWaitException(cooling, "rate-limited", provider));
            }

            var outcome = await circuits.ExecuteAsync(
                provider,
                static (s, ct) => s.Self.StreamAsync(s.Model, s.JobId, s.Request, s.Attempt, s.Deltas, s.JobCancellation, ct),
                (Self: this, Model: model, JobId: jobId, Request: request, Attempt: attempt, Deltas: deltas, JobCancellation: jobCancellation),
                cancellationToken).ConfigureAwait(false);
            switch (outcome.Exception)
            {
                case null:
                    var answer = outcome.Result!;
                    var text = answer.Text;
                    var input = answer.InputTokens ?? promptTokens;
                    var output = answer.OutputTokens ?? TokenCounter.Count(text);
                    used = model.Provider.ChargesRequestedTokens ? Math.Max(estimated, input + output) : input + output;
                    return Outcome.FromResult(new LlmAnswer(text, answer.ModelId ?? model.Name, model, input, output, model.CostOf(input, output), answer.FinishReason));
                case LlmException { Kind: LlmErrorKind.RateLimited } e:
                    _clear.Forget(provider);
                    used = 0;
                    var cooldown = e.RetryAfter is { } announced && announced > DefaultCooldown ? announced : DefaultCooldown;
                    // Without an announced wait the fleet's rounds of 429s back off (cooldown.lua): the job waits the cooldown in force.
                    var inForce = await _redis.ExecuteRedisAsync(
                        "extend cooldown", _ => flow.ExtendCooldownAsync(provider, model.Provider, cooldown, e.Limits, unannounced: e.RetryAfter is null),
                        cancellationToken).ConfigureAwait(false);
                    cooldown = inForce > cooldown ? inForce : cooldown;
                    LlmLog.RateLimited(logger, provider, model.Name, jobId, attempt, cooldown);
                    return Failed(new CapacityWaitException(cooldown, "rate-limited", provider, e.Message));
                case LlmException { Kind: not LlmErrorKind.Transient } e:
                    used = 0;
                    return Failed(e);
                case LlmException or CallTimeoutException when probing:
                    // The probe of an open circuit failed (a timeout too): the deployment is still down. The
                    // job goes to its next candidate (CallOutcomeAsync); with none, it waits for the
                    // next probe without spending its attempt on a known outage. It waits two
                    // breaks, so that another waiting job makes the next probe: one whose own call fails every
                    // time (its attempt never advances while probes are free) must not probe again and again
                    // while jobs that would succeed wait behind it. A chaos run measured a worker whose probes
                    // failed 18 times in a row, seven of them the same failing attempt, holding 9 jobs ~100 s.
                    LlmLog.ProbeFailed(logger, provider, AttemptFailure.BoundedMessage(outcome.Exception.Message), jobId, attempt);
                    return Failed(new CapacityWaitException(circuits.BreakDuration * 2, CircuitOpen, provider, outcome.Exception.Message));
                default:
                    return Failed(outcome.Exception);
            }
        }
        finally
        {
            if (renewal is not null)
            {
                await renewal.CancelAsync().ConfigureAwait(false);
                await renewing.ConfigureAwait(false);
            }

            if (reservation.NeedsSettling)
            {
                await SettleAsync(reservation, used).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Renews a clear reading off the calls' path (<see cref="ClearReadings.TryStartRenewal"/>). The
    /// answer counts as a reservation's would: clear is recorded, anything else ends the reading at
    /// once and the next call reserves. A failure leaves the reading to lapse: the next call then
    /// asks on its own path, through the redis pipeline. In S3's steady phase (500 calls a second to
    /// one deployment) a third of the calls waited 0.2-1 ms for a reading before this.
    /// </summary>
    private async Task RenewReadingAsync(string provider)
    {
        // Not part of the call that started it: its Redis span, parentless, is not kept.
        Activity.Current = null;
        var asked = timeProvider.GetTimestamp();
        DeploymentReading reading;
        try
        {
            reading = await flow.ReadAsync(provider).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            LlmLog.RenewalFailed(logger, provider, e);
            return;
        }
        finally
        {
            // Ended before the answer is taken: once a renewed reading shows, the next renewal may start.
            _clear.RenewalEnded(provider);
        }

        if (reading == DeploymentReading.Clear)
        {
            _clear.Record(provider, asked);
        }
        else
        {
            _clear.Forget(provider);
        }
    }

    /// <summary>
    /// Gives back what the call did not use, through the redis pipeline like every transition
    /// (settle.lua applies a settlement once), for up to one lease: the call's own token may be
    /// cancelled already (a timeout), and after a lease the permit has lapsed anyway.
    /// </summary>
    private async Task SettleAsync(FlowReservation reservation, long used)
    {
        // Unsettled, the tokens limit stays as reserved (stricter, never looser), the permit lapses with its lease.
        var lease = workerOptions.Value.LeaseTimeout;
        using var settling = new CancellationTokenSource(lease, timeProvider);
        try
        {
            await _redis.ExecuteRedisAsync("settle", _ => flow.SettleAsync(reservation, used), settling.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (settling.IsCancellationRequested)
        {
            // Redis away for a whole lease: an outage, its failures logged by the pipeline; no stack trace.
            LlmLog.SettleAbandoned(logger, reservation.Provider, lease);
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException or OperationCanceledException)
        {
            // Not a transient failure (the pipeline retries those): a permanent error, with its stack trace.
            LlmLog.SettleFailed(logger, reservation.Provider, e);
        }
    }

    /// <summary>
    /// The cooldown another worker's 429 started after <c>reserve.lua</c> looked, if any. Only asked
    /// when Redis's last answer (asked at <paramref name="asked"/>) reached this continuation later
    /// than <see cref="DeploymentFlowControl.FreshFor"/>: on a machine so busy that a continuation waits
    /// for a thread, a call could otherwise go out long after the fleet heard of a 429 (issue 15 1b).
    /// Asked again while the answers are stale, a few times at most; then the call goes on the last
    /// answer. A Redis error lets it go too: the reservation is the contract, this check narrows it.
    /// A newer answer that the deployment was not cooling down, asked by another call
    /// (<see cref="ClearReadings.LatestWithoutCooldown"/>), is as good an answer.
    /// </summary>
    private async Task<TimeSpan?> CooldownSinceAsync(string provider, long asked)
    {
        for (var check = 0; check < 3 && Stale(); check++)
        {
            asked = timeProvider.GetTimestamp();
            try
            {
                if (await flow.CooldownLeftAsync(provider).ConfigureAwait(false) is var left && left > TimeSpan.Zero)
                {
                    return left;
                }

                _clear.RecordWithoutCooldown(provider, asked);
            }
            catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
            {
                return null;
            }
        }

        return null;

        // Another call's answer, asked after this call's, serves as well: in a burst of calls most
        // would otherwise each ask cooldown-left.lua on their own.
        bool Stale()
        {
            if (_clear.LatestWithoutCooldown(provider) is { } newer && newer > asked)
            {
                asked = newer;
            }

            return timeProvider.GetElapsedTime(asked) > DeploymentFlowControl.FreshFor;
        }
    }

    private async ValueTask<Outcome<StreamedAnswer>> StreamAsync(
        ServedModel model, string jobId, JobRequest request, int attempt, IDeltaSink? deltas, CancellationToken? jobCancellation, CancellationToken cancellationToken)
    {
        // The SDK writes MaxOutputTokens as max_completion_tokens; a provider set to read max_tokens
        // (Ollama and LM Studio ignore the newer field) gets that field alone.
        var maxTokens = !model.Provider.IsSimulated
            && string.Equals(model.Provider.MaxTokensField, MaxTokensFields.MaxTokens, StringComparison.Ordinal) ? request.MaxTokens : null;
        var options = new ChatOptions
        {
            ModelId = model.Name,
            MaxOutputTokens = maxTokens is null ? request.MaxTokens : null,
            Temperature = request.Temperature is { } t ? (float)t : null,
            AdditionalProperties = new AdditionalPropertiesDictionary
            {
                [SimulatorHints.AttemptProperty] = attempt,
                [SimulatorHints.MetadataProperty] = request.Metadata,
            },
        };
        var hints = request.Metadata?.Keys.Any(k => k.StartsWith(SimulatorHints.Prefix, StringComparison.Ordinal)) == true;
        if (hints || maxTokens is not null)
        {
            // Over HTTP the simulator's hints ride in OpenAI's metadata field; a real provider never sees them
            // unless a job sets simulator.* keys.
            options.RawRepresentationFactory = _ => RawOptions(hints ? request.Metadata : null, attempt, maxTokens);
        }

        var answer = new StreamedAnswer();
        // A silence as long as the whole attempt is the attempt's timeout's to cut: no timer then.
        var idleLimit = model.Provider.StreamIdleTimeout ?? _idleTimeout;
        using var idle = idleLimit < _attemptTimeout ? new StreamIdleTimer(idleLimit, timeProvider, cancellationToken) : null;
        // For the provider's pipeline (StreamActivityPolicy); this method's flow alone sees it.
        StreamIdleTimer.Current = idle;
        try
        {
            await foreach (var update in clients.For(model)
                .GetStreamingResponseAsync([new ChatMessage(ChatRole.User, request.Prompt)], options, idle?.Token ?? cancellationToken).ConfigureAwait(false))
            {
                idle?.Touch();
                if (answer.AddUpTo(update, _maxAnswerLength) is { Length: > 0 } text)
                {
                    deltas?.Append(text);
                }

                if (answer.CutAtMaxLength)
                {
                    // Leaving the loop ends the response: the provider stops being read (and billed, once it notices).
                    LlmLog.AnswerCut(logger, model.Name, model.ProviderName, _maxAnswerLength, jobId, attempt);
                    break;
                }
            }

            // A stream that ends without a finish reason ([DONE] alone, or nothing at all: a body that
            // was no stream) was cut short: a partial answer is no answer, and another attempt may
            // get a whole one. An empty answer that finished is an answer.
            return answer.Finished
                ? Outcome.FromResult(answer)
                : Outcome.FromException<StreamedAnswer>(new LlmException(LlmErrorKind.Transient, idle?.NotAStream is { } type
                    ? $"The provider answered with a body of type '{type}', not an event stream: no answer in it."
                    : "The provider's stream ended before the answer did (no finish_reason): the answer was cut short, or the body was no stream."));
        }
        catch (Exception e) when (answer.Finished && LlmFailure.Classify(e, clock.UtcNow) is { Kind: LlmErrorKind.Transient })
        {
            // The provider said the answer ended (a finish_reason), then the connection broke before
            // its usage or [DONE] (a proxy dropping it at the very end): the answer is whole, and a
            // retry would buy it again. Usage not reported is counted here, as for a stream without it.
            return Outcome.FromResult(answer);
        }
        catch (OperationCanceledException e) when (idle is { Fired: true } && !cancellationToken.IsCancellationRequested)
        {
            // The provider went silent (before its first chunk or between two): a hung provider, cut
            // long before the attempt's timeout, which bounds the whole answer. A silence after the
            // finish_reason (waiting for usage or [DONE]) leaves the answer whole.
            return answer.Finished
                ? Outcome.FromResult(answer)
                : Outcome.FromException<StreamedAnswer>(CallTimeoutException.Idle(idleLimit, idle.Heard, idle.Responded, e, idle.Token));
        }
        catch (OperationCanceledException e) when (cancellationToken.IsCancellationRequested && jobCancellation is { IsCancellationRequested: false })
        {
            // Cancelled by the attempt's timeout alone: the provider hung, a failure the circuit counts.
            return Outcome.FromException<StreamedAnswer>(new CallTimeoutException(e, cancellationToken));
        }
        catch (Exception e)
        {
            // Answered, not thrown: the circuit counts it and the caller reads it without a rethrow. Redis's
            // clock for a Retry-After date without the response's Date: the cooldown is kept on it.
            return Outcome.FromException<StreamedAnswer>(LlmFailure.Classify(e, clock.UtcNow) ?? e);
        }
    }

    private static ChatCompletionOptions RawOptions(IReadOnlyDictionary<string, string>? simulatorHints, int attempt, int? maxTokens)
    {
        var options = new ChatCompletionOptions();
        if (simulatorHints is not null)
        {
            foreach (var (key, value) in simulatorHints)
            {
                if (key.StartsWith(SimulatorHints.Prefix, StringComparison.Ordinal))
                {
                    options.Metadata[key] = value;
                }
            }

            options.Metadata[SimulatorHints.Attempt] = attempt.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        if (maxTokens is { } max)
        {
            // The SDK models only max_completion_tokens; its JSON patch adds a field it does not model.
#pragma warning disable SCME0001 // JsonPatch is marked for evaluation; the SDK's version is pinned centrally and a test sends through it.
            options.Patch.Set("$.max_tokens"u8, max);
#pragma warning restore SCME0001
        }

        return options;
    }

    private async Task RenewPermitAsync(FlowReservation reservation, TimeSpan lease, CancellationToken cancellationToken)
    {
        // Renewed at a third of the lease, as job leases are: a worker that dies stops renewing and
        // its permit lapses within one lease.
        // The call's end disposes the timer (the tick answers false) rather than cancelling the wait,
        // which would throw: an exception per call is a cost a busy worker notices.
        using var timer = new PeriodicTimer(lease / 3, timeProvider);
        await using var ended = cancellationToken.Register(static t => ((PeriodicTimer)t!).Dispose(), timer).ConfigureAwait(false);
        try
        {
            while (await timer.WaitForNextTickAsync(CancellationToken.None).ConfigureAwait(false))
            {
                try
                {
                    // Naturally idempotent (ZADD with the new expiry): re-sent through the redis
                    // pipeline until it lands or the call ends.
                    await _redis.ExecuteRedisAsync("renew permit", _ => flow.RenewPermitAsync(reservation, lease), cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is StackExchange.Redis.RedisException or TimeoutException)
                {
                    LlmLog.SettleFailed(logger, reservation.Provider, e);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The call ended during a renewal.
        }
    }
}
